use crate::store::exchange::{Imported, Snapshot};
use std::path::PathBuf;

/// Add evidence exported by `policy-miner export` (e.g. from proxy sidecars) to the database.
///
/// Each file replaces the previous export of the same database, so a directory of exports can be
/// imported on a schedule: a file seen before, or older than one imported, changes nothing.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 every file was imported or already in; 3 some file \
    could not be read (each is named on stderr, the others were imported); 1 error."
)]
pub struct Args {
    /// Files written by `policy-miner export` (or `observe … --export FILE`).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&db, true).await?;
    let mut status = 0;
    for path in &args.files {
        let snapshot = match Snapshot::read_from(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "warning: skipped {}",
                    crate::text::printable_lines(&format!("{e:#}"))
                );
                status = crate::observe::EXIT_INPUT_SKIPPED;
                continue;
            }
        };
        let done = store.import(&snapshot, &path.display().to_string()).await;
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                store.close().await;
                return Err(e.into());
            }
        };
        if args.quiet {
            continue;
        }
        match done {
            Imported::Added { rows, replaced } => eprintln!(
                "{}: {rows} row(s) of database {} (export #{}){}",
                path.display(),
                snapshot.origin,
                snapshot.sequence,
                replaced
                    .map(|r| format!(", replacing its export #{r}"))
                    .unwrap_or_default()
            ),
            Imported::AlreadyIn { imported } => eprintln!(
                "{}: already in (export #{imported} of database {} was imported)",
                path.display(),
                snapshot.origin
            ),
        }
    }
    store.close().await;
    Ok(status)
}
