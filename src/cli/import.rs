use crate::store::exchange::{ImportError, Imported};
use std::path::{Path, PathBuf};

/// Add evidence exported by `policy-miner export` (e.g. from proxy sidecars) to the database.
///
/// Each file adds what its database's calls grew by since its earlier exports were imported, so
/// a directory of exports can be imported on a schedule: a file seen before, or older than one
/// imported, adds nothing. Every row is checked as observed evidence is (an IAM action of the
/// catalog on a resource it accepts, a count of calls, times a call can have had); a row that
/// fails is named and skipped, the rest of its file imported.
#[derive(Debug, clap::Args)]
#[command(after_help = super::exit::help_for("import"))]
pub struct Args {
    /// Files written by `policy-miner export` (or `observe … --export FILE`).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What all the files brought, for the last line.
#[derive(Debug, Default)]
struct Tally {
    files: usize,
    added: usize,
    unchanged: usize,
    skipped_files: usize,
    refused_rows: usize,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&db, true).await?;
    let mut tally = Tally::default();
    for path in &args.files {
        tally.files += 1;
        match store.import(path).await {
            Ok(done) => {
                warn_refused(path, &done);
                if !args.quiet {
                    eprintln!("{}", said(path, &done));
                }
                tally.added += done.added;
                tally.unchanged += done.unchanged;
                tally.refused_rows += done.refused;
            }
            Err(ImportError::Refused(why)) => {
                eprintln!(
                    "warning: skipped {}",
                    crate::text::printable_lines(&why.to_string())
                );
                tally.skipped_files += 1;
            }
            Err(ImportError::Store(e)) => {
                store.close().await;
                return Err(e.into());
            }
        }
    }
    store.close().await;
    if tally.skipped_files > 0 || tally.refused_rows > 0 {
        eprintln!(
            "warning: {} of {} file(s) and {} row(s) were skipped (each named above); the rest \
             was imported: {} row(s) new or grown, {} already in",
            tally.skipped_files, tally.files, tally.refused_rows, tally.added, tally.unchanged
        );
        return Ok(super::exit::INPUT_SKIPPED);
    }
    if !args.quiet {
        eprintln!(
            "imported {} file(s): {} row(s) new or grown, {} already in",
            tally.files, tally.added, tally.unchanged
        );
    }
    Ok(0)
}

/// One warning per refused row named, and one for the rest.
fn warn_refused(path: &Path, done: &Imported) {
    for why in &done.refusals {
        // The reason quotes the row, which the file's author wrote.
        let line = format!("warning: {}: {why}; row skipped", path.display());
        eprintln!("{}", crate::text::printable_lines(&line));
    }
    let unnamed = done.refused.saturating_sub(done.refusals.len());
    if unnamed > 0 {
        eprintln!(
            "warning: {}: {unnamed} more row(s) skipped likewise",
            path.display()
        );
    }
}

/// What one file did, in a line.
fn said(path: &Path, done: &Imported) -> String {
    let before = done
        .previous
        .map(|p| format!("; export #{p} of it was imported before"))
        .unwrap_or_default();
    if done.added == 0 && done.unchanged == 0 {
        return format!(
            "{}: no row imported from export #{} of database {}{before}",
            path.display(),
            done.sequence,
            done.origin
        );
    }
    if done.added == 0 {
        return format!(
            "{}: already in (nothing new in export #{} of database {}{before})",
            path.display(),
            done.sequence,
            done.origin
        );
    }
    format!(
        "{}: {} row(s) new or grown, {} already in, from export #{} of database {}{before}",
        path.display(),
        done.added,
        done.unchanged,
        done.sequence,
        done.origin
    )
}
