use std::path::PathBuf;

/// Write all the evidence of the database as one file, for `policy-miner import` elsewhere.
///
/// The file is a snapshot: it holds everything the database has observed, with the database's
/// identity and an export counter, so importing a newer export of the same database replaces the
/// older one and importing the same file twice changes nothing. Run it where the evidence is
/// collected (an `observe --proxy` or `--listen-csm` sidecar does it by itself with --export).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to FILE (atomically: replaced whole) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&db, false).await?;
    let snapshot = store.export().await;
    store.close().await;
    let snapshot = snapshot?;
    match args.out {
        Some(path) => snapshot.write_to(&path)?,
        None => println!("{}", serde_json::to_string(&snapshot)?),
    }
    Ok(0)
}
