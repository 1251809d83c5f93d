//! `observe`: trace files → evidence in the store.
//!
//! Files are decoded and folded into evidence on every core (rayon); one writer commits each batch
//! of files together with their evidence, so a file is either wholly counted or not at all.

pub mod aggregate;
mod summary;

pub use summary::Summary;

use crate::attribution::{taskdef, RoleDirectory};
use crate::catalog;
use crate::source::{cloudtrail, local, SkipReason, Skipped};
use crate::store::{ObservedFile, Store};
use aggregate::Aggregate;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

pub struct Options {
    pub db: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub task_definitions: Vec<PathBuf>,
}

/// What one worker made of one file.
enum FileOutcome {
    Done {
        file: ObservedFile,
        aggregate: Aggregate,
        stats: cloudtrail::DecodeStats,
    },
    AlreadyObserved,
    Skipped(Skipped),
}

/// Write after this many files or distinct evidence keys, whichever comes first.
const BATCH_FILES: usize = 256;
const BATCH_KEYS: usize = 200_000;

pub async fn run(opts: Options) -> anyhow::Result<Summary> {
    let clock = Instant::now();
    let started_at = crate::store::now();
    let store = Store::open(&opts.db, true).await?;
    let mut summary = Summary::default();

    let (defs, def_errors) = taskdef::load(&opts.task_definitions);
    store.save_task_definitions(&defs).await?;
    summary.task_definitions = defs.len() as u64;
    summary.task_definition_errors = def_errors.iter().map(ToString::to_string).collect();
    let stored_defs = store.task_definitions().await?;
    let directory = RoleDirectory::from_definitions(stored_defs.iter().map(|d| &d.definition));
    summary.families = directory.families().len() as u64;

    let found = local::discover(&opts.inputs);
    summary.files_found = found.files.len() as u64;
    summary.files_ignored = found.ignored;
    summary.skipped.extend(found.skipped);
    let known = store.observed_fingerprints().await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<(PathBuf, FileOutcome)>(64);
    let files = found.files;
    let workers = tokio::task::spawn_blocking(move || {
        let catalog = catalog::embedded();
        files.into_par_iter().for_each_with(tx, |tx, path| {
            let outcome = observe_file(&path, &known, catalog);
            let _ = tx.blocking_send((path, outcome));
        });
    });

    let mut batch = Aggregate::default();
    let mut batch_files = Vec::new();
    let mut roles = BTreeSet::new();
    while let Some((path, outcome)) = rx.recv().await {
        match outcome {
            FileOutcome::AlreadyObserved => summary.files_already_observed += 1,
            FileOutcome::Skipped(s) => summary.skipped.push(s),
            FileOutcome::Done {
                file,
                aggregate,
                stats,
            } => {
                summary.files_read += 1;
                summary.add_decode(&path, &stats);
                roles.extend(aggregate.roles().map(str::to_string));
                batch.merge(aggregate);
                batch_files.push(file);
                if batch_files.len() >= BATCH_FILES || batch.len() >= BATCH_KEYS {
                    flush(&store, &mut batch, &mut batch_files).await?;
                }
            }
        }
    }
    workers.await?;
    flush(&store, &mut batch, &mut batch_files).await?;

    summary.counts = batch.counts;
    summary.roles = roles.len() as u64;
    summary.roles_unattributed = roles
        .iter()
        .filter(|r| directory.usages(r).is_empty())
        .count() as u64;
    summary.wall = clock.elapsed();
    store
        .record_run("observe", &started_at, &summary.to_json())
        .await?;
    store.close().await;
    Ok(summary)
}

async fn flush(
    store: &Store,
    batch: &mut Aggregate,
    files: &mut Vec<ObservedFile>,
) -> anyhow::Result<()> {
    if files.is_empty() && batch.is_empty() {
        return Ok(());
    }
    let (evidence, ungranted) = batch.take_rows();
    store.write_batch(&evidence, &ungranted, files).await?;
    files.clear();
    Ok(())
}

fn observe_file(
    path: &std::path::Path,
    known: &std::collections::HashSet<String>,
    catalog: &catalog::Catalog,
) -> FileOutcome {
    let skipped = |reason: SkipReason, detail: String| {
        FileOutcome::Skipped(Skipped {
            unit: path.display().to_string(),
            reason,
            detail,
        })
    };
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(e) => return skipped(SkipReason::Unreadable, e.to_string()),
    };
    let fingerprint = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&raw));
    if known.contains(&fingerprint) {
        return FileOutcome::AlreadyObserved;
    }
    let bytes = match local::decompress(&raw) {
        Ok(b) => b,
        Err((reason, detail)) => return skipped(reason, detail),
    };
    let size = raw.len() as i64;
    drop(raw);
    let mut aggregate = Aggregate::default();
    let stats = match cloudtrail::decode(&bytes, &mut |call| aggregate.add(call, catalog)) {
        Ok(stats) => stats,
        Err(reason) => return skipped(reason, "no content".to_string()),
    };
    if let Some(reason) = stats.unit_failure() {
        let detail = stats
            .first_problem
            .clone()
            .unwrap_or_else(|| "no CloudTrail event found".to_string());
        return skipped(reason, detail);
    }
    FileOutcome::Done {
        file: ObservedFile {
            fingerprint,
            path: path.display().to_string(),
            size,
            events: stats.events as i64,
        },
        aggregate,
        stats,
    }
}
