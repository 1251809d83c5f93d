//! `bench`: how fast `observe` reads a large trail, against the floor of merely decompressing it.
//!
//! One run: generate (or reuse) a trail, time decompressing every file on every core, then time
//! `observe` run as a child process of this same binary, so that its peak RSS is its own and can be
//! read from the kernel (`getrusage(RUSAGE_CHILDREN)` after the child is reaped). Figures are
//! reported, never judged: a slow machine is not a failure.
//!
//! The floors and observe are timed in rounds (three by default), each round timing them one
//! after the other, and the figures are each one's median: a machine shared with other work
//! slows a run by 10 to 20% from one second to the next, and one slow moment in a single timing
//! moved the ratio by as much. Every round's ratio to the skeleton parse is reported too.
//!
//! Between the two, the same files are read by observe's own stages in-process, each stage
//! adding to the one before: decompress + read every event (the JSON scan), then + map and fold
//! them into evidence (no store). What observe adds beyond the last is the store (SQLite). These
//! floors say where observe's time goes, and how fast it could be with a stage made free. One more
//! floor, gunzip plus a skeleton JSON parse (every token checked, nothing kept), is what a trail
//! of many small files is held to: there, what observe pays per file shows.

/// Fails with [`BenchError::Failed`] and the formatted message.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::bench::BenchError::Failed(format!($($arg)*)))
    };
}

/// Fails with [`BenchError::Failed`] and the formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            bail!($($arg)*);
        }
    };
}

pub mod drift;
pub mod generate;
pub mod proxy;
pub mod s3;

use crate::error::context::Context as _;
/// What a bench run failed at, and why.
pub use crate::error::context::ContextError as BenchError;
use flate2::read::MultiGzDecoder;
use generate::{Generated, TrailSpec};
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub spec: TrailSpec,
    /// Where the trail, task definitions and database go; a temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// Keep the directory (a temporary one is removed otherwise).
    pub keep: bool,
    /// The `policy-miner` binary to run `observe` with.
    pub binary: PathBuf,
    /// Times the floors and observe are timed, one after the other; at least 1.
    pub rounds: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub trail: Generated,
    /// None when an existing trail was reused.
    pub generation: Option<Duration>,
    pub threads: usize,
    /// Merely decompressing every file on every core: the floor (median of the rounds).
    pub decompress: Stage,
    /// Decompressing and parsing every file's JSON without keeping anything (serde's
    /// `IgnoredAny`): the floor a trail of many small files is held to (median of the rounds).
    pub skeleton: Stage,
    /// Decompressing and reading every event, in-process: what any observe must do.
    pub decode: Stage,
    /// The same, with every event mapped and folded into evidence: all but the store.
    pub fold: Stage,
    /// observe's wall time (median of the rounds).
    pub observe: Duration,
    /// CPU time (user + system, all threads) of the observe process (median of the rounds).
    pub observe_cpu: Duration,
    /// Each round's figures, in the order they were timed.
    pub rounds: Vec<Round>,
    /// Peak resident set of the observe process, in bytes, the largest of the rounds (0 when
    /// the kernel does not say).
    pub observe_peak_rss: u64,
    /// Wall time of `propose` on the database observe made (the whole fleet, JSON output):
    /// the step that reads all the evidence back, generalizes it and replays every call.
    pub propose: Duration,
    /// Roles it proposed a policy for.
    pub proposed_roles: usize,
    pub dir: PathBuf,
    pub kept: bool,
}

/// One round: the two floors and observe, timed one after the other.
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    pub decompress: Stage,
    pub skeleton: Stage,
    pub observe: Duration,
    pub observe_cpu: Duration,
}

impl Round {
    /// observe's wall time against gunzip + skeleton parse, in this round.
    pub fn skeleton_ratio(&self) -> f64 {
        self.observe.as_secs_f64() / self.skeleton.wall.as_secs_f64().max(1e-9)
    }

    /// Each figure's median over `rounds`, apart from the others: the figures a report gives.
    fn medians(rounds: &[Round]) -> Round {
        let stage = |of: fn(&Round) -> Stage| Stage {
            wall: median(rounds.iter().map(|r| of(r).wall).collect()),
            cpu: median(rounds.iter().map(|r| of(r).cpu).collect()),
        };
        Round {
            decompress: stage(|r| r.decompress),
            skeleton: stage(|r| r.skeleton),
            observe: median(rounds.iter().map(|r| r.observe).collect()),
            observe_cpu: median(rounds.iter().map(|r| r.observe_cpu).collect()),
        }
    }
}

/// The median of `values` (the lower middle one of an even count); zero when there are none.
fn median<T: Copy + Ord + Default>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// Wall and CPU time (user + system, all threads) of one in-process stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stage {
    pub wall: Duration,
    pub cpu: Duration,
}

impl Stage {
    /// Times `f` on this process's clock and CPU counters.
    fn time(f: impl FnOnce() -> Result<(), BenchError>) -> Result<Stage, BenchError> {
        let cpu_before = cpu_time(libc::RUSAGE_SELF);
        let clock = Instant::now();
        f()?;
        Ok(Stage {
            wall: clock.elapsed(),
            cpu: cpu_time(libc::RUSAGE_SELF).saturating_sub(cpu_before),
        })
    }
}

const MANIFEST: &str = "bench-trail.json";

pub fn run(opts: &Options) -> Result<Report, BenchError> {
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("policy-miner-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure(opts, &dir);
    // A directory given with --dir keeps its trail for the next run; a temporary one goes.
    let kept = opts.keep || opts.dir.is_some();
    if !opts.keep {
        if opts.dir.is_some() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", dir.join("bench.db").display()));
            }
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mut report = result?;
    report.kept = kept;
    Ok(report)
}

fn measure(opts: &Options, dir: &Path) -> Result<Report, BenchError> {
    let dir = dir.to_path_buf();
    let (trail, generation) = match reuse(&dir, &opts.spec) {
        Some(t) => (t, None),
        None => {
            let clock = Instant::now();
            let _ = std::fs::remove_dir_all(dir.join("trail"));
            let t = generate::generate(&dir, &opts.spec)?;
            write_manifest(&dir, &opts.spec, &t)?;
            (t, Some(clock.elapsed()))
        }
    };
    let decode = Stage::time(|| read_events(&trail.trail, false))?;
    let fold = Stage::time(|| read_events(&trail.trail, true))?;
    let mut rounds = Vec::new();
    for _ in 0..opts.rounds.max(1) {
        let decompress = Stage::time(|| decompress_all(&trail.trail))?;
        let skeleton = Stage::time(|| skeleton_parse_all(&trail.trail))?;
        // The children's CPU time grows by each child reaped: the difference is this one's.
        let cpu_before = cpu_time(libc::RUSAGE_CHILDREN);
        let observe = observe_child(&opts.binary, &dir, &trail)?;
        rounds.push(Round {
            decompress,
            skeleton,
            observe,
            observe_cpu: cpu_time(libc::RUSAGE_CHILDREN).saturating_sub(cpu_before),
        });
    }
    // Read before propose runs: the largest peak of the children so far, all of them observe.
    let observe_peak_rss = children_peak_rss();
    let (propose, proposed_roles) = propose_child(&opts.binary, &dir)?;
    let medians = Round::medians(&rounds);
    Ok(Report {
        trail,
        generation,
        threads: rayon::current_num_threads(),
        decompress: medians.decompress,
        skeleton: medians.skeleton,
        decode,
        fold,
        observe: medians.observe,
        observe_cpu: medians.observe_cpu,
        rounds,
        observe_peak_rss,
        propose,
        proposed_roles,
        dir,
        kept: false,
    })
}

/// An earlier trail in `dir` made from the same spec is reused (generation is slow and not measured).
fn reuse(dir: &Path, spec: &TrailSpec) -> Option<Generated> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let m: serde_json::Value = serde_json::from_str(&text).ok()?;
    let same = m["events"] == spec.events
        && m["events_per_file"] == spec.events_per_file
        && m["seed"] == spec.seed
        && m["generator"] == GENERATOR_VERSION;
    if !same {
        return None;
    }
    let g = Generated {
        trail: dir.join("trail"),
        task_definitions: dir.join("taskdefs"),
        files: m["files"].as_u64()?,
        events: m["events"].as_u64()?,
        compressed_bytes: m["compressed_bytes"].as_u64()?,
        uncompressed_bytes: m["uncompressed_bytes"].as_u64()?,
        days: serde_json::from_value(m["days"].clone()).ok()?,
    };
    let found = crate::source::local::discover(std::slice::from_ref(&g.trail));
    (found.files.len() as u64 == g.files).then_some(g)
}

/// Bumped when the generator's output changes, so that old trails are not reused.
const GENERATOR_VERSION: u64 = 1;

fn write_manifest(dir: &Path, spec: &TrailSpec, g: &Generated) -> Result<(), BenchError> {
    let m = serde_json::json!({
        "generator": GENERATOR_VERSION,
        "events": spec.events,
        "events_per_file": spec.events_per_file,
        "seed": spec.seed,
        "files": g.files,
        "compressed_bytes": g.compressed_bytes,
        "uncompressed_bytes": g.uncompressed_bytes,
        "days": g.days,
    });
    let path = dir.join(MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&m)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads and gunzips every file of the trail on every core, discarding the output: the floor.
pub fn decompress_all(trail: &Path) -> Result<(), BenchError> {
    let found = crate::source::local::discover(&[trail.to_path_buf()]);
    found
        .files
        .par_iter()
        .try_for_each(|path| -> Result<(), BenchError> {
            let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut dec = MultiGzDecoder::new(&raw[..]);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match dec.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => bail!("{}: {e}", path.display()),
                }
            }
        })
}

/// Reads, gunzips and parses every file of the trail on every core, keeping nothing: the JSON's
/// skeleton (every token checked, no value built).
pub fn skeleton_parse_all(trail: &Path) -> Result<(), BenchError> {
    let found = crate::source::local::discover(&[trail.to_path_buf()]);
    found
        .files
        .par_iter()
        .try_for_each_init(Vec::new, |text, path| -> Result<(), BenchError> {
            let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            text.clear();
            MultiGzDecoder::new(&raw[..])
                .read_to_end(text)
                .with_context(|| format!("gunzipping {}", path.display()))?;
            serde_json::from_slice::<serde::de::IgnoredAny>(text)
                .with_context(|| format!("parsing {}", path.display()))?;
            Ok(())
        })
}

/// Reads every file of the trail on every core as observe's workers do (decompressing while
/// reading events); with `fold`, also maps and folds every event into evidence, which is then
/// dropped instead of stored.
fn read_events(trail: &Path, fold: bool) -> Result<(), BenchError> {
    use crate::observe::aggregate::Folder;
    let files = crate::source::local::discover(&[trail.to_path_buf()]).files;
    let catalog = crate::catalog::active();
    files.par_iter().try_for_each_init(
        || (Folder::new(catalog), Vec::new(), 0u64),
        |(folder, window, events), path| -> Result<(), BenchError> {
            let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let read = crate::source::cloudtrail::decode_delivery_gz(&raw, window, &mut |call| {
                if fold {
                    folder.add(call);
                } else {
                    // Something of each event must be used, or reading it could be skipped.
                    *events += std::hint::black_box(call.event_name.len() as u64);
                }
            });
            if read.is_none() {
                bail!(
                    "{}: not a delivery file observe reads in one pass",
                    path.display()
                );
            }
            std::hint::black_box(folder.finish());
            Ok(())
        },
    )
}

/// Runs `observe` on the trail, into a new database, as a child process; its wall time.
fn observe_child(binary: &Path, dir: &Path, trail: &Generated) -> Result<Duration, BenchError> {
    let db = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut observe = Command::new(binary);
    observe
        .arg("observe")
        .arg("--db")
        .arg(&db)
        .arg("--quiet")
        .arg("--task-definitions")
        .arg(&trail.task_definitions)
        .arg(&trail.trail)
        .stdout(Stdio::null());
    let (wall, _) = timed_child(observe, "observe")?;
    Ok(wall)
}

/// Runs `propose` on the database observe made; its wall time and the number of roles proposed.
fn propose_child(binary: &Path, dir: &Path) -> Result<(Duration, usize), BenchError> {
    let mut propose = Command::new(binary);
    propose
        .arg("propose")
        .arg("--db")
        .arg(dir.join("bench.db"))
        .args(["--format", "json"]);
    let (wall, stdout) = timed_child(propose, "propose")?;
    let proposal: serde_json::Value =
        serde_json::from_slice(&stdout).context("reading propose's JSON")?;
    let roles = proposal["roles"].as_array().map_or(0, Vec::len);
    Ok((wall, roles))
}

/// Runs one subcommand to its end: its wall time and standard output, or an error with what it
/// printed on standard error.
fn timed_child(mut command: Command, what: &str) -> Result<(Duration, Vec<u8>), BenchError> {
    let clock = Instant::now();
    let out = command
        .env_remove("POLICY_MINER_DB")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {what}"))?;
    let wall = clock.elapsed();
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((wall, out.stdout))
}

#[allow(unsafe_code)] // libc's getrusage: see the SAFETY below.
fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes into the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    (unsafe { libc::getrusage(who, &mut usage) } == 0).then_some(usage)
}

/// User + system CPU time of this process (`RUSAGE_SELF`) or of its reaped children.
pub(crate) fn cpu_time(who: libc::c_int) -> Duration {
    let Some(u) = rusage(who) else {
        return Duration::ZERO;
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The largest peak RSS of the reaped children of this process (only observe is ever one).
pub(crate) fn children_peak_rss() -> u64 {
    let Some(usage) = rusage(libc::RUSAGE_CHILDREN) else {
        return 0;
    };
    // Linux reports kilobytes (macOS bytes).
    let maxrss = usage.ru_maxrss.max(0) as u64;
    if cfg!(target_os = "macos") {
        maxrss
    } else {
        maxrss * 1024
    }
}

impl Report {
    pub fn events_per_sec(&self) -> f64 {
        self.trail.events as f64 / self.observe.as_secs_f64().max(1e-9)
    }

    pub fn observe_mb_per_sec(&self) -> f64 {
        mb(self.trail.uncompressed_bytes) / self.observe.as_secs_f64().max(1e-9)
    }

    pub fn decompress_mb_per_sec(&self) -> f64 {
        mb(self.trail.uncompressed_bytes) / self.decompress.wall.as_secs_f64().max(1e-9)
    }

    /// A stage's wall time against decompression alone.
    pub fn stage_ratio(&self, stage: &Stage) -> f64 {
        stage.wall.as_secs_f64() / self.decompress.wall.as_secs_f64().max(1e-9)
    }

    /// observe's wall time against gunzip + skeleton parse (their medians).
    pub fn skeleton_ratio(&self) -> f64 {
        self.observe.as_secs_f64() / self.skeleton.wall.as_secs_f64().max(1e-9)
    }

    /// Each round's [`Round::skeleton_ratio`], in the order they were timed.
    pub fn skeleton_ratios(&self) -> Vec<f64> {
        self.rounds.iter().map(Round::skeleton_ratio).collect()
    }

    pub fn ratio(&self) -> f64 {
        self.observe.as_secs_f64() / self.decompress.wall.as_secs_f64().max(1e-9)
    }

    /// The ratio in CPU time: steadier than wall time on a machine shared with other work.
    pub fn cpu_ratio(&self) -> f64 {
        self.observe_cpu.as_secs_f64() / self.decompress.cpu.as_secs_f64().max(1e-9)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "events": self.trail.events,
            "files": self.trail.files,
            "uncompressed_bytes": self.trail.uncompressed_bytes,
            "compressed_bytes": self.trail.compressed_bytes,
            "threads": self.threads,
            "generation_seconds": self.generation.map(|d| d.as_secs_f64()),
            "decompress_seconds": self.decompress.wall.as_secs_f64(),
            "skeleton_parse_seconds": self.skeleton.wall.as_secs_f64(),
            "skeleton_parse_cpu_seconds": self.skeleton.cpu.as_secs_f64(),
            "observe_to_skeleton_parse_ratio": self.skeleton_ratio(),
            "rounds": self.rounds.len(),
            "observe_to_skeleton_parse_ratio_by_round": self.skeleton_ratios(),
            "read_events_seconds": self.decode.wall.as_secs_f64(),
            "read_events_cpu_seconds": self.decode.cpu.as_secs_f64(),
            "fold_seconds": self.fold.wall.as_secs_f64(),
            "fold_cpu_seconds": self.fold.cpu.as_secs_f64(),
            "observe_seconds": self.observe.as_secs_f64(),
            "observe_events_per_second": self.events_per_sec(),
            "observe_uncompressed_mb_per_second": self.observe_mb_per_sec(),
            "observe_to_decompress_ratio": self.ratio(),
            "decompress_cpu_seconds": self.decompress.cpu.as_secs_f64(),
            "observe_cpu_seconds": self.observe_cpu.as_secs_f64(),
            "observe_to_decompress_cpu_ratio": self.cpu_ratio(),
            "observe_peak_rss_bytes": self.observe_peak_rss,
            "propose_seconds": self.propose.as_secs_f64(),
            "proposed_roles": self.proposed_roles,
        })
    }
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_median_is_the_middle_value_whatever_the_order_and_the_lower_one_of_an_even_count() {
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(median(vec![9, 1, 5, 7, 3]), 5);
        assert_eq!(median(vec![4, 1]), 1);
        assert_eq!(median(vec![8]), 8);
        assert_eq!(median(Vec::<u32>::new()), 0);
    }

    #[test]
    fn one_slow_round_moves_no_figure_and_every_round_s_ratio_is_kept() {
        let round = |skeleton: f64, observe: f64, cpu: f64| Round {
            decompress: Stage {
                wall: secs(skeleton / 2.0),
                cpu: secs(skeleton),
            },
            skeleton: Stage {
                wall: secs(skeleton),
                cpu: secs(skeleton * 2.0),
            },
            observe: secs(observe),
            observe_cpu: secs(cpu),
        };
        // The middle round was timed at a slow moment of the machine: observe twice as slow.
        let rounds = vec![
            round(0.30, 0.69, 1.2),
            round(0.31, 1.40, 2.5),
            round(0.32, 0.72, 1.3),
        ];
        let medians = Round::medians(&rounds);
        let report = Report {
            trail: Generated {
                trail: PathBuf::new(),
                task_definitions: PathBuf::new(),
                files: 1,
                events: 1,
                compressed_bytes: 1,
                uncompressed_bytes: 1,
                days: Vec::new(),
            },
            generation: None,
            threads: 2,
            decompress: medians.decompress,
            skeleton: medians.skeleton,
            decode: Stage::default(),
            fold: Stage::default(),
            observe: medians.observe,
            observe_cpu: medians.observe_cpu,
            rounds,
            observe_peak_rss: 0,
            propose: Duration::ZERO,
            proposed_roles: 0,
            dir: PathBuf::new(),
            kept: false,
        };
        assert_eq!(report.observe, secs(0.72));
        assert_eq!(report.observe_cpu, secs(1.3));
        assert_eq!(report.skeleton.wall, secs(0.31));
        assert_eq!(report.skeleton.cpu, secs(0.62));
        assert_eq!(report.decompress.wall, secs(0.155));
        assert!((report.skeleton_ratio() - 0.72 / 0.31).abs() < 1e-9);
        let by_round = report.skeleton_ratios();
        assert_eq!(by_round.len(), 3);
        assert!((by_round[1] - 1.40 / 0.31).abs() < 1e-9, "{by_round:?}");
        let json = report.to_json();
        assert_eq!(json["rounds"], 3);
        assert_eq!(
            json["observe_to_skeleton_parse_ratio_by_round"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let text = crate::output::bench::observe(&report);
        assert!(
            text.contains("medians of 3 rounds") && text.contains("4.52x"),
            "{text}"
        );
    }
}
