//! Command-line interface: one file per subcommand, each with its flags (documented where they are
//! defined) and a `run` that wires the library's stages into output and an exit status.

mod args;
mod backtest;
mod bench;
mod catalog;
pub mod exit;
mod explain;
mod export;
mod history;
mod import;
mod observe;
mod propose;
mod rollback;
mod tighten;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub use exit::USAGE as EXIT_USAGE;

#[derive(Debug, Parser)]
#[command(
    name = "policy-miner",
    version,
    about = "Least-privilege IAM policies for ECS task and execution roles, mined from CloudTrail",
    long_about = "Least-privilege IAM policies for ECS task and execution roles, mined from CloudTrail.\n\n\
        Run `policy-miner observe` on CloudTrail logs (with your task definitions), then \
        `policy-miner propose` to get one minimal policy per role.",
    after_help = exit::help()
)]
pub struct Cli {
    /// SQLite database holding the evidence (created by `observe`).
    #[arg(
        long,
        global = true,
        env = "POLICY_MINER_DB",
        default_value = "policy-miner.db"
    )]
    pub db: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Observe(Box<observe::Args>),
    Propose(propose::Args),
    Backtest(backtest::Args),
    Verify(verify::Args),
    Catalog(catalog::Args),
    Explain(explain::Args),
    Export(export::Args),
    Import(import::Args),
    Bench(bench::Args),
    Tighten(tighten::Args),
    Rollback(rollback::Args),
    History(history::Args),
}

impl Command {
    /// Whether the command only reads local files and prints: it may die quietly when its reader
    /// goes away (`propose | head`). Every other command holds sockets or unwritten evidence.
    pub fn is_stdout_filter(&self) -> bool {
        match self {
            Command::Propose(_)
            | Command::Backtest(_)
            | Command::Verify(_)
            | Command::Explain(_)
            | Command::Export(_)
            | Command::History(_) => true,
            Command::Catalog(args) => args.is_local(),
            Command::Observe(_)
            | Command::Import(_)
            | Command::Bench(_)
            | Command::Tighten(_)
            | Command::Rollback(_) => false,
        }
    }
}

/// Runs the parsed command; returns the process exit status.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Observe(args) => observe::run(cli.db, *args).await,
        Command::Propose(args) => propose::run(cli.db, args).await,
        Command::Backtest(args) => backtest::run(cli.db, args).await,
        Command::Verify(args) => verify::run(cli.db, args).await,
        Command::Catalog(args) => catalog::run(args),
        Command::Explain(args) => explain::run(cli.db, args).await,
        Command::Export(args) => export::run(cli.db, args).await,
        Command::Import(args) => import::run(cli.db, args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Tighten(args) => tighten::run(cli.db, args).await,
        Command::Rollback(args) => rollback::run(cli.db, args).await,
        Command::History(args) => history::run(cli.db, args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    })
}
