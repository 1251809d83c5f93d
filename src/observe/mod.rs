//! `observe`: trace files → evidence in the store.
//!
//! Files are decoded and folded into evidence on every core, one file at a time per worker
//! (`feed.rs`: how units reach the workers, objects of a trail bucket fetched many at once ahead
//! of them); a bounded channel carries each file's evidence to one writer, which commits batches of
//! files together with their evidence, so a file is either wholly counted or not at all. Memory is
//! bounded by a few files per worker, the channel and one batch, whatever the size of the trail; a
//! trail bucket's objects are not even all listed at once, but come as they are (`feed.rs`).
//!
//! Ctrl-C and SIGTERM stop at a file boundary: workers start no new file, finished files are
//! committed, and the rest is left for the next run (a second signal exits at once; the
//! database is consistent at every commit, so even SIGKILL loses only the files in flight).

pub mod aggregate;
mod counted;
pub mod evidence;
mod feed;
mod hashing;
pub mod live;
mod priority;
mod progress;
mod shape;
mod summary;
pub mod window;

pub use summary::Summary;
pub use window::TimeWindow;

use crate::attribution::{taskdef, RoleDirectory};
use crate::catalog;
use crate::source::athena::{self, AthenaSource};
use crate::source::local::LocalFiles;
use crate::source::s3::TrailBucket;
use crate::source::{cloudtrail, local, FoldRequest, SkipReason, Skipped, Unit, UnitSource};
use crate::store::{ObservedFile, Store, StoreError};
use aggregate::Folder;
use counted::Counted;
use evidence::FileEvidence;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct Options {
    pub db: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub task_definitions: Vec<PathBuf>,
    /// Also read the task definitions from ECS, in `regions`.
    pub ecs: bool,
    pub window: TimeWindow,
    /// Draw a progress bar on stderr (only if it is a terminal).
    pub progress: bool,
    /// How long to wait for another process writing to the database.
    pub lock_timeout: std::time::Duration,
    /// Trail buckets (`s3://…` inputs): only these accounts and regions (empty: all).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Trail buckets: requests in flight at once, listing and fetching.
    pub s3_concurrency: usize,
    /// Athena tables (`athena://…` inputs): how their query runs.
    pub athena: AthenaOptions,
}

/// `athena://` inputs: see [`crate::source::athena::Settings`] (accounts and regions are the
/// options' own).
#[derive(Debug, Clone)]
pub struct AthenaOptions {
    pub timeout: std::time::Duration,
    pub output: Option<String>,
    pub account_region_partitions: bool,
}

/// Stores the task definitions of ECS the database lacks.
async fn ecs_definitions(
    store: &Store,
    opts: &Options,
    summary: &mut Summary,
) -> Result<(), StoreError> {
    let have: BTreeSet<String> = store
        .task_definitions()
        .await?
        .into_iter()
        .filter_map(|d| d.definition.arn)
        .collect();
    let read = crate::source::ecs::read(&opts.regions, opts.window.until(), &have).await;
    let rows: Vec<_> = read.definitions.iter().map(taskdef::Loaded::row).collect();
    store.save_task_definitions(&rows).await?;
    summary.task_definitions += read.definitions.len() as u64;
    summary.task_definition_errors.extend(read.errors);
    Ok(())
}

/// One unit to read, with the source that reads it.
type Work = (Arc<dyn UnitSource>, Unit);

/// What one worker made of one file.
enum FileOutcome {
    Done {
        file: ObservedFile,
        evidence: Box<FileEvidence>,
        stats: cloudtrail::DecodeStats,
        /// Bytes a query engine scanned for it (Athena); None for trace files.
        scanned: Option<u64>,
    },
    AlreadyObserved,
    Skipped(Skipped),
    /// Not started: the run was interrupted first. Not recorded, so the next run reads it.
    NotStarted,
}

/// Commit after this many files or evidence keys (counted per file), whichever comes first: few
/// enough that an interrupted run loses little and a batch stays small in memory, many enough
/// that commits are few: each rewrites every page of the evidence table its keys touch, and keys
/// are spread all over it, so a commit costs more the fewer rows it carries per page. The keys
/// bound memory; the files, only what a SIGKILL loses: a trail of small files (75 events each)
/// made 64-file commits rewrite the whole table 63 times for 4,000 files. See also `COMMIT_EVERY`.
const BATCH_FILES: usize = 1024;
const BATCH_KEYS: usize = 64_000;
/// A batch is committed at least this often, whatever it holds, so that what a stopped run has
/// read is soon in the database whatever the size of its files.
const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Once fewer files than this are left to come, what has come is committed whenever the
/// committer is free, and the workers yield to it (see `priority.rs`): a batch's worth, so that
/// the last full batch is not committed after the last file.
const TAIL_FILES: usize = BATCH_FILES;
/// ... but not fewer than this many files at a time, but for the last: each commit rewrites
/// in the log most pages of the evidence table, however few its rows (a few hundred pages of
/// 64 KiB), so a commit of a few files costs nearly as much as one of a hundred.
const TAIL_MIN_FILES: usize = 128;
/// Groups of outcomes (a few files each, see `feed.rs`) in flight between the workers and the
/// writer.
const CHANNEL_GROUPS: usize = 4;

pub async fn run(opts: Options) -> Result<Summary, crate::Error> {
    bound_allocator();
    let clock = Instant::now();
    let started_at = crate::store::now();
    // What the workers need first, made ready side by side: the store opened (a new one
    // migrated), the catalog decoded, the task definitions read and the units listed. Each
    // takes 10 to 20 ms; one after the other, they kept every core but one idle for the first
    // 37 ms of a run (4,000 small files: the whole run takes under a second).
    let opening = tokio::spawn({
        let (db, timeout) = (opts.db.clone(), opts.lock_timeout);
        async move { Store::open_replayable(&db, timeout).await }
    });
    drop(tokio::task::spawn_blocking(catalog::active));
    let mut summary = Summary::default();
    let (defs, def_errors) = taskdef::load(&opts.task_definitions);
    let (units, streams) = units(&opts, &mut summary).await;
    let store = opening.await??;

    let rows: Vec<_> = defs.iter().map(taskdef::Loaded::row).collect();
    store.save_task_definitions(&rows).await?;
    summary.task_definitions = defs.len() as u64;
    summary.task_definition_errors = def_errors.iter().map(ToString::to_string).collect();
    if opts.ecs {
        ecs_definitions(&store, &opts, &mut summary).await?;
    }
    let stored_defs = store.task_definitions().await?;
    let directory = RoleDirectory::from_definitions(stored_defs.iter().map(|d| &d.definition));
    summary.families = directory.families().len() as u64;

    let known = known(&store).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let signals = watch_signals(stop.clone());
    let bar = progress::Progress::new(opts.progress, units.len() as u64);
    // Units listed so far (a trail bucket's as they are listed), and outcomes received.
    let listed = Arc::new(feed::Listed::new(units.len(), streams.len()));
    let threads = Arc::new(priority::WorkerThreads::default());
    let mut received = 0;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(String, FileOutcome)>>(CHANNEL_GROUPS);
    let workers = feed::start(
        units,
        streams,
        known,
        opts.window.clone(),
        tx,
        feed::Control {
            stop: stop.clone(),
            listed: listed.clone(),
            threads: threads.clone(),
        },
    );

    // Per file until committed: a file another observe commits meanwhile must be left out whole.
    let mut batch: Vec<(ObservedFile, FileEvidence)> = Vec::new();
    let mut batch_keys = 0;
    let mut last_commit = Instant::now();
    let mut roles = BTreeSet::new();
    // Commits run beside the receiving loop: the workers go on while SQLite writes a batch. One
    // batch at a time is the committer's (the permit), so at most two are held: that one and
    // the one being filled, which waits when full.
    let store = Arc::new(store);
    let (commit_tx, commit_rx) = tokio::sync::mpsc::channel(1);
    let committer_free = Arc::new(tokio::sync::Semaphore::new(1));
    let committer = tokio::spawn(commit_batches(store.clone(), commit_rx));
    'receiving: while let Some(group) = rx.recv().await {
        bar.total(listed.units() as u64);
        for (path, outcome) in group {
            received += 1;
            match outcome {
                FileOutcome::AlreadyObserved => summary.files_already_observed += 1,
                FileOutcome::Skipped(s) => summary.skipped.push(s),
                FileOutcome::NotStarted => summary.files_not_started += 1,
                FileOutcome::Done {
                    file,
                    evidence,
                    stats,
                    scanned,
                } => {
                    summary.files_read += 1;
                    if let Some(bytes) = scanned {
                        *summary.bytes_scanned.get_or_insert(0) += bytes;
                    }
                    summary.add_decode(&path, &stats);
                    bar.events(stats.events);
                    for role in evidence.roles() {
                        if !roles.contains(role) {
                            roles.insert(role.to_string());
                        }
                    }
                    batch_keys += evidence.len();
                    batch.push((file, *evidence));
                }
            }
            bar.file_done();
            let full = batch.len() >= BATCH_FILES
                || batch_keys >= BATCH_KEYS
                || (!batch.is_empty() && last_commit.elapsed() >= COMMIT_EVERY);
            // Near the end, what has come is committed whenever the committer is free: once the
            // last file is read, only what came during the last commit is left to wait for. Not
            // while a listing goes on: more files may come.
            let unreceived = listed.unreceived(received);
            let near_end = unreceived.is_some_and(|n| n < TAIL_FILES);
            if near_end {
                threads.yield_to_committer();
            }
            let tail = near_end
                && (batch.len() >= TAIL_MIN_FILES || unreceived == Some(0))
                && !batch.is_empty()
                && committer_free.available_permits() > 0;
            let last = unreceived == Some(0);
            if full || tail {
                let Ok(free) = committer_free.clone().acquire_owned().await else {
                    break 'receiving;
                };
                if commit_tx
                    .send((std::mem::take(&mut batch), free, last))
                    .await
                    .is_err()
                {
                    break 'receiving; // the committer failed: its error is returned below
                }
                batch_keys = 0;
                last_commit = Instant::now();
            }
        }
    }
    let interrupted = stop.load(Ordering::Relaxed);
    if !batch.is_empty() {
        if let Ok(free) = committer_free.clone().acquire_owned().await {
            let _ = commit_tx.send((batch, free, true)).await;
        }
    }
    drop(commit_tx);
    let committed = committer.await?;
    // Whatever happened to the commits, let the workers wind down before returning.
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    for listing in workers.await? {
        count_listing(&mut summary, &listing);
    }
    let committed = committed?;
    summary.files_read -= committed.left_out_files;
    summary.files_already_observed += committed.left_out_files;
    summary.events_read -= committed.left_out_events;
    let counts = committed.counts;
    let store = Arc::try_unwrap(store).map_err(|_| crate::Error::StoreInUse)?;
    bar.finish();
    signals.abort();

    summary.interrupted = interrupted;
    summary.counts = counts;
    summary.roles = roles.len() as u64;
    // Roles passed at launch are attributed too, by the launches stored so far.
    let defs: Vec<taskdef::TaskDefinition> =
        stored_defs.into_iter().map(|d| d.definition).collect();
    let passed = crate::attribution::launch::definitions(&store.launches().await?, &defs);
    let passed = RoleDirectory::from_definitions(&passed);
    summary.roles_unattributed = roles
        .iter()
        .filter(|r| directory.usages(r).is_empty() && passed.usages(r).is_empty())
        .count() as u64;
    summary.wall = clock.elapsed();
    store
        .record_run("observe", &started_at, &summary.to_json())
        .await?;
    store.close().await;
    Ok(summary)
}

/// The trace units to read: local files (found under the inputs, less those whose delivery
/// date lies outside the window) and the Athena tables named, counted in the summary as found,
/// outside the window or skipped; and the trail buckets named, whose objects come as they are
/// listed (counted when their listing ends, see `feed.rs`).
async fn units(opts: &Options, summary: &mut Summary) -> (Vec<Work>, Vec<feed::Stream>) {
    let scheme = |p: &PathBuf, s: &str| p.to_str().is_some_and(|p| p.starts_with(s));
    let (tables, inputs): (Vec<&PathBuf>, Vec<&PathBuf>) =
        opts.inputs.iter().partition(|p| scheme(p, "athena://"));
    let (buckets, paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        inputs.into_iter().partition(|p| scheme(p, "s3://"));
    let mut sources: Vec<Box<dyn UnitSource>> = vec![Box::new(LocalFiles::new(
        paths.into_iter().cloned().collect(),
    ))];
    for url in buckets {
        sources.push(Box::new(TrailBucket::new(
            url.to_string_lossy().into_owned(),
            opts.accounts.clone(),
            opts.regions.clone(),
            opts.s3_concurrency,
        )));
    }
    for url in tables {
        sources.push(Box::new(AthenaSource::new(
            url.to_string_lossy().into_owned(),
            athena::Settings {
                timeout: opts.athena.timeout,
                output: opts.athena.output.clone(),
                accounts: opts.accounts.clone(),
                regions: opts.regions.clone(),
                account_region_partitions: opts.athena.account_region_partitions,
            },
        )));
    }
    let (mut units, mut streams) = (Vec::new(), Vec::new());
    for mut source in sources {
        let mut listing = source.list(&opts.window).await;
        count_listing(summary, &listing);
        let source: Arc<dyn UnitSource> = Arc::from(source);
        if let Some(more) = listing.more.take() {
            streams.push((source.clone(), more));
        }
        units.extend(listing.units.into_iter().map(|unit| (source.clone(), unit)));
    }
    (units, streams)
}

/// Counts what a listing found, left out and could not list in the summary.
fn count_listing(summary: &mut Summary, listing: &crate::source::Listing) {
    summary.files_found += listing.found;
    summary.files_ignored += listing.ignored;
    summary.files_outside_window += listing.outside_window;
    summary.skipped.extend(listing.skipped.iter().cloned());
    summary
        .listings_stopped
        .extend(listing.stopped.iter().cloned());
}

/// The units observed so far, by fingerprint.
async fn known(store: &Store) -> Result<Known, StoreError> {
    let known = store
        .observed_files_as(|fingerprint, windows| {
            let fingerprint = u128::from_str_radix(fingerprint, 16).ok()?;
            // Unreadable windows (edited by hand?) count as the whole file: never twice.
            Some((fingerprint, windows.and_then(Counted::parse)))
        })
        .await?;
    Ok(known.into_iter().collect())
}

/// glibc gives every thread that allocates its own arena and keeps freed memory in each: with
/// files decoded on one thread and their evidence freed on another, that held ~25% more peak
/// memory than used. Two arenas and an earlier trim keep the peak near what is live.
#[allow(unsafe_code)] // libc's mallopt: see the SAFETY below.
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; both parameters are valid for glibc.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// On the first Ctrl-C or SIGTERM, asks the workers to stop at the next file; on a second one,
/// exits at once (every commit is atomic: nothing half-written is left).
fn watch_signals(stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting now; committed files are kept");
                std::process::exit(crate::cli::exit::INTERRUPTED);
            }
            eprintln!(
                "\ninterrupted: finishing the files in progress (interrupt again to quit now)"
            );
        }
    })
}

/// What the commits did: the events they counted, and the files another observe on the same
/// database committed first (left out: never counted twice).
#[derive(Default)]
struct Committed {
    counts: aggregate::EventCounts,
    left_out_files: u64,
    left_out_events: u64,
}

/// A batch to commit, with the permit that makes it the committer's only one, and whether it
/// is the run's last.
type Handed = (
    Vec<(ObservedFile, FileEvidence)>,
    tokio::sync::OwnedSemaphorePermit,
    bool,
);

/// Commits batches as they come; each one's permit is given back once it is written. The log
/// is moved into the database when due (see `store/log.rs`), but not after the last batch:
/// `Store::close` does that anyway.
async fn commit_batches(
    store: Arc<Store>,
    mut batches: tokio::sync::mpsc::Receiver<Handed>,
) -> Result<Committed, StoreError> {
    let mut done = Committed::default();
    let mut log = crate::store::LogGrowth::default();
    while let Some((mut batch, free, last)) = batches.recv().await {
        let flushed = flush(&store, &mut batch, &mut done).await;
        drop(batch);
        drop(free);
        flushed?;
        store.after_commit(&mut log, !last).await?;
    }
    Ok(done)
}

/// Commits the batch's files with their evidence. A file that another observe on the same
/// database committed meanwhile is left out and counted as already observed: never twice.
async fn flush(
    store: &Store,
    batch: &mut Vec<(ObservedFile, FileEvidence)>,
    done: &mut Committed,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let files: Vec<ObservedFile> = batch.iter().map(|(f, _)| f.clone()).collect();
    // Before the files are recorded: a run stopped in between reads them again, and a launch
    // stored twice is one row.
    let launches: Vec<_> = batch
        .iter()
        .flat_map(|(_, e)| e.launches.iter().cloned())
        .collect();
    store.save_launches(&launches).await?;
    let mut counts = aggregate::EventCounts::default();
    let left_out = store
        .write_batch(&files, |fresh| {
            let merged = evidence::merge(
                batch
                    .iter()
                    .zip(fresh)
                    .filter(|(_, new)| **new)
                    .map(|((_, evidence), _)| evidence),
            );
            counts = merged.counts.clone();
            merged
        })
        .await?;
    batch.clear();
    for i in left_out {
        done.left_out_files += 1;
        done.left_out_events += files[i].events as u64;
    }
    // Counted only once committed, so an interrupted run's summary matches its database.
    done.counts.merge(&counts);
    Ok(())
}

/// The units observed so far, by fingerprint: None when wholly counted, else the windows counted.
type Known = HashMap<u128, Option<Counted>>;

/// One worker's state, kept from file to file: the folding caches and the I/O buffers.
struct Worker<'c> {
    folder: Folder<'c>,
    raw: Vec<u8>,
    /// Decompressed text, a piece at a time (the hot path).
    piece: Vec<u8>,
    /// A whole decompressed file, when it must be read by the slow path.
    text: Vec<u8>,
}

impl<'c> Worker<'c> {
    fn new(catalog: &'c catalog::Catalog) -> Self {
        Worker {
            folder: Folder::new(catalog),
            raw: Vec::new(),
            piece: Vec::new(),
            text: Vec::new(),
        }
    }

    /// Reads one unit into the worker's buffer and observes it. A unit is identified by its
    /// checkpoint when it has one (an object's key and ETag: an object already observed is not
    /// fetched), else by its content (a local file).
    fn observe_unit(
        &mut self,
        source: &dyn UnitSource,
        unit: &Unit,
        known: &Known,
        window: &TimeWindow,
        runtime: &tokio::runtime::Handle,
        stop: &AtomicBool,
    ) -> FileOutcome {
        let name = &unit.name;
        let skipped = |reason: SkipReason, detail: String| {
            FileOutcome::Skipped(Skipped {
                unit: name.clone(),
                reason,
                detail,
            })
        };
        if source.folds() {
            return self.observe_folded(source, unit, known, window, runtime, stop);
        }
        if let Some(checkpoint) = &unit.checkpoint {
            if counted_already(known, fingerprint_of(checkpoint.as_bytes()), window) {
                return FileOutcome::AlreadyObserved;
            }
        }
        self.raw.clear();
        if let Err(e) = source.fetch(unit, &mut self.raw, runtime) {
            return skipped(SkipReason::Unreadable, e);
        }
        self.observe_raw(unit, known, window)
    }

    /// Observes a unit fetched ahead (its bytes, or why it could not be fetched).
    fn observe_fetched(
        &mut self,
        unit: &Unit,
        fetched: Result<Vec<u8>, String>,
        known: &Known,
        window: &TimeWindow,
    ) -> FileOutcome {
        match fetched {
            Ok(bytes) => self.raw = bytes,
            Err(detail) => {
                return FileOutcome::Skipped(Skipped {
                    unit: unit.name.clone(),
                    reason: SkipReason::Unreadable,
                    detail,
                })
            }
        }
        self.observe_raw(unit, known, window)
    }

    /// Observes the unit now in `self.raw`, unless it was counted already.
    fn observe_raw(&mut self, unit: &Unit, known: &Known, window: &TimeWindow) -> FileOutcome {
        let name = &unit.name;
        let fingerprint = fingerprint_of(match &unit.checkpoint {
            Some(checkpoint) => checkpoint.as_bytes(),
            None => &self.raw,
        });
        if counted_already(known, fingerprint, window) {
            return FileOutcome::AlreadyObserved;
        }
        let before = known.get(&fingerprint).and_then(Option::as_ref);
        self.observe_buffer(name, fingerprint, &Counting { window, before })
    }

    /// Reads a unit of a folding source (an Athena query): its calls come with their counts,
    /// leaving out the windows earlier runs counted; the window it covered is recorded with its
    /// evidence, in the same commit.
    fn observe_folded(
        &mut self,
        source: &dyn UnitSource,
        unit: &Unit,
        known: &Known,
        window: &TimeWindow,
        runtime: &tokio::runtime::Handle,
        stop: &AtomicBool,
    ) -> FileOutcome {
        let checkpoint = unit.checkpoint.as_deref().unwrap_or(&unit.name);
        let fingerprint = fingerprint_of(checkpoint.as_bytes());
        if counted_already(known, fingerprint, window) {
            return FileOutcome::AlreadyObserved;
        }
        let before = known.get(&fingerprint).and_then(Option::as_ref);
        let counted = before.map(Counted::merged).unwrap_or_default();
        let folder = &mut self.folder;
        let read = source.read_folded(
            unit,
            &FoldRequest {
                window,
                counted: counted.windows(),
                stop,
            },
            &mut |call, events, last| folder.add_many(call, events, last),
            runtime,
        );
        let read = match read {
            Ok(read) => read,
            Err(detail) => {
                self.folder.discard();
                // Stopped by the interruption: left, whole, for the next run.
                if stop.load(Ordering::Relaxed) {
                    return FileOutcome::NotStarted;
                }
                return FileOutcome::Skipped(Skipped {
                    unit: unit.name.clone(),
                    reason: SkipReason::Unreadable,
                    detail,
                });
            }
        };
        let evidence = self.folder.finish();
        let windows = counted.with(&read.covered).merged().to_json();
        FileOutcome::Done {
            file: ObservedFile {
                fingerprint: format!("{fingerprint:032x}"),
                path: unit.name.clone(),
                size: 0,
                events: i64::try_from(read.events).unwrap_or(i64::MAX),
                windows: Some(windows),
                windows_before: before.map(Counted::to_json),
            },
            evidence: Box::new(evidence),
            stats: cloudtrail::DecodeStats {
                events: read.events,
                not_cloudtrail: read.not_cloudtrail,
                ..Default::default()
            },
            scanned: Some(read.bytes_scanned),
        }
    }

    /// Decompresses and decodes the unit now in `self.raw`.
    fn observe_buffer(
        &mut self,
        name: &str,
        fingerprint: u128,
        counting: &Counting,
    ) -> FileOutcome {
        let skipped = |reason: SkipReason, detail: String| {
            FileOutcome::Skipped(Skipped {
                unit: name.to_string(),
                reason,
                detail,
            })
        };
        let size = self.raw.len() as i64;
        let gzipped = self.raw.starts_with(&[0x1f, 0x8b]);
        let folder = &mut self.folder;
        let fast = if gzipped {
            cloudtrail::decode_delivery_gz(&self.raw, &mut self.piece, &mut |c| {
                fold(folder, counting, c)
            })
        } else {
            cloudtrail::decode_delivery(&self.raw, &mut |c| fold(folder, counting, c))
        };
        let decoded = match fast {
            Some(stats) => Ok(stats),
            None => {
                // Not a whole delivery document the scanner reads: what it folded is dropped and
                // the file is read again by the serde_json decoder, event by event where need
                // be, which isolates damaged events (and names what is wrong with the file).
                folder.discard();
                let bytes: &[u8] = if gzipped {
                    if let Err((reason, detail)) = local::decompress_into(&self.raw, &mut self.text)
                    {
                        return skipped(reason, detail);
                    }
                    &self.text
                } else {
                    &self.raw
                };
                cloudtrail::decode(bytes, &mut |c| fold(folder, counting, c))
            }
        };
        // Big files leave big buffers: do not keep more than a typical file's worth per worker.
        for b in [&mut self.raw, &mut self.text, &mut self.piece] {
            if b.capacity() > KEEP_BUFFER {
                *b = Vec::new();
            }
        }
        let stats = match decoded {
            Ok(stats) => stats,
            Err(reason) => {
                self.folder.discard();
                return skipped(reason, "no content".to_string());
            }
        };
        if let Some(reason) = stats.unit_failure() {
            self.folder.discard();
            let detail = stats
                .first_problem
                .clone()
                .unwrap_or_else(|| "no CloudTrail event found".to_string());
            return skipped(reason, detail);
        }
        let evidence = self.folder.finish();
        // Events left outside the window stay countable by a later run with another window.
        let windows = (evidence.counts.outside_window > 0).then(|| {
            counting
                .before
                .cloned()
                .unwrap_or_default()
                .with(counting.window)
                .to_json()
        });
        FileOutcome::Done {
            file: ObservedFile {
                fingerprint: format!("{fingerprint:032x}"),
                path: name.to_string(),
                size,
                events: stats.events as i64,
                windows,
                windows_before: counting.before.map(Counted::to_json),
            },
            evidence: Box::new(evidence),
            stats,
            scanned: None,
        }
    }
}

/// What of a file to count: the events in the window, but none an earlier run counted.
struct Counting<'a> {
    window: &'a TimeWindow,
    before: Option<&'a Counted>,
}

/// A unit's identity: of its checkpoint when it has one, else of its content.
fn fingerprint_of(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// True when reading the unit again would count nothing.
fn counted_already(known: &Known, fingerprint: u128, window: &TimeWindow) -> bool {
    match known.get(&fingerprint) {
        None => false,
        Some(None) => true,
        Some(Some(counted)) => counted.covers(window),
    }
}

/// Folds one call, or counts it as outside the time window or as counted before.
fn fold(folder: &mut Folder, counting: &Counting, call: &crate::call::ApiCall) {
    if counting.before.is_some_and(|c| c.contains(call.event_time)) {
        folder.counted_before()
    } else if counting.window.contains(call.event_time) {
        folder.add(call)
    } else {
        folder.outside_window()
    }
}

/// Buffers larger than this are freed after their file rather than kept for the next.
const KEEP_BUFFER: usize = 32 << 20;
