use crate::bench::{self, generate::TrailSpec};
use std::path::PathBuf;

/// Benchmark `observe` on a generated CloudTrail trail of an ECS fleet.
///
/// Generates a realistic trail (gzipped 5-minute files in the S3 delivery layout, task
/// definitions; generation is not timed), then reports in one run: the wall time of merely
/// decompressing every file on every core, and of decompressing and parsing their JSON skeleton
/// (every token checked, nothing kept: the floor for many small files); observe's stages
/// in-process on the same files (reading every event, then also mapping and folding them, with
/// no store), each against decompression; observe's wall time (run as a child process),
/// events/s, uncompressed MB/s, the ratio observe/decompress and its peak RSS; and the wall time
/// of `propose` on the database observe made. The floors and observe are timed --rounds times,
/// one after the other, and their medians reported. Figures only: nothing fails on a slow
/// machine. The `--db` flag is not used.
///
/// With --proxy, measures `observe --proxy` instead: requests per second and latency (p50, p99)
/// through the proxy against a local upstream, compared in the same run with calling it directly;
/// with --proxy --tls, over HTTPS through CONNECT tunnels, as the SDKs send it.
///
/// With --s3, measures `observe s3://` instead: the trail is uploaded to a moto server started for
/// the run and read twice through a relay that adds nothing, then --delay-ms, to every request;
/// reports both times, objects/s, the ratio and the most requests in flight.
///
/// With --drift, measures whether proposals survive tomorrow instead: a fleet whose names follow
/// the clock and ids, observed for three weeks; the share of the next week's calls its proposal
/// allows, and the share of near misses (another prefix, bucket, table, queue…) it denies.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events in the trail.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,

    /// Events per delivery file (CloudTrail writes one file per region and 5 minutes).
    #[arg(long, value_name = "N", default_value_t = 2_500)]
    pub events_per_file: u64,

    /// Seed of the generator: the same seed and size give the same trail.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,

    /// Work in DIR (trail in DIR/trail, task definitions in DIR/taskdefs) and keep the trail
    /// there: a later run with the same size and seed reuses it. Default: a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Keep everything (trail, task definitions, the observe database) after the run.
    #[arg(long)]
    pub keep: bool,

    /// Measure the HTTP(S) proxy (`observe --proxy`) instead of reading a trail.
    #[arg(long)]
    pub proxy: bool,

    /// --proxy: requests sent through the proxy (and as many directly).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub requests: u64,

    /// --proxy: keep-alive connections sending requests at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: u64,

    /// --proxy: HTTPS as the SDKs send it, instead of plain HTTP. The local upstream serves TLS
    /// with a certificate of a CA made for the run (given to the proxy with --upstream-ca); each
    /// client connection opens a CONNECT tunnel through the proxy and does TLS in it, trusting
    /// the proxy's CA, so the proxy decrypts, records and re-encrypts every request. The direct
    /// phases use TLS to the upstream too. One mode per run, so that the proxy's CPU time and
    /// peak RSS are those of that mode alone: run once without and once with --tls to compare.
    #[arg(long, requires = "proxy")]
    pub tls: bool,

    /// Measure how proposals hold up over time (next week's calls allowed, near misses denied)
    /// instead of reading a trail. Works in --dir (default: a temporary directory).
    #[arg(long, conflicts_with = "proxy")]
    pub drift: bool,

    /// Measure `observe s3://` on the trail uploaded to moto (`moto_server` must be installed),
    /// with and without a delay added to every request, instead of reading local files.
    #[arg(long, conflicts_with_all = ["proxy", "drift"])]
    pub s3: bool,

    /// --s3: milliseconds added to every request in the second run.
    #[arg(long, value_name = "MS", default_value_t = 30, requires = "s3")]
    pub delay_ms: u64,

    /// --s3: observe's --s3-concurrency.
    #[arg(long, value_name = "N", default_value_t = 64, requires = "s3",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub s3_concurrency: u16,

    /// Time the two floors and observe this many times, one after the other, and report each
    /// one's median (and every round's ratio to the skeleton parse): one slow moment of a shared
    /// machine then moves no figure. Only for the trail (not --proxy, --s3 or --drift).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..=50),
          conflicts_with_all = ["proxy", "s3", "drift"])]
    pub rounds: u16,

    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let binary = std::env::current_exe().map_err(|e| {
        anyhow::anyhow!("cannot find this program's own binary to run observe: {e}")
    })?;
    if args.drift {
        let (dir, temporary) = match &args.dir {
            Some(d) => (d.clone(), false),
            None => (
                std::env::temp_dir().join(format!("policy-miner-drift-{}", std::process::id())),
                !args.keep,
            ),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let report = bench::drift::run(&binary, &dir, args.seed);
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let report = report?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", crate::output::bench::drift(&report));
        }
        return Ok(0);
    }
    if args.proxy {
        let report = bench::proxy::run(&bench::proxy::Options {
            requests: args.requests,
            concurrency: args.concurrency,
            binary,
            tls: args.tls,
        })
        .await?;
        if args.json {
            println!("{}", report.to_json());
        } else {
            print!("{}", crate::output::bench::proxy(&report));
        }
        return Ok(0);
    }
    let spec = TrailSpec {
        events: args.events,
        events_per_file: args.events_per_file,
        seed: args.seed,
    };
    if args.s3 {
        let report = bench::s3::run(&bench::s3::Options {
            spec,
            dir: args.dir,
            binary,
            delay: std::time::Duration::from_millis(args.delay_ms),
            concurrency: args.s3_concurrency,
        })
        .await?;
        if args.json {
            println!("{}", report.to_json());
        } else {
            print!("{}", crate::output::bench::s3(&report));
        }
        return Ok(0);
    }
    let report = bench::run(&bench::Options {
        spec,
        dir: args.dir,
        keep: args.keep,
        binary,
        rounds: usize::from(args.rounds),
    })?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", crate::output::bench::observe(&report));
    }
    Ok(0)
}
