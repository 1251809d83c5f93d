//! Command-line interface: flags are documented where they are defined; each command wires the
//! library's stages and turns their results into output and an exit status.

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub use commands::run;

/// Exit status for usage errors (clap uses it too).
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "policy-miner",
    version,
    about = "Least-privilege IAM policies for ECS task and execution roles, mined from CloudTrail",
    long_about = "Least-privilege IAM policies for ECS task and execution roles, mined from CloudTrail.\n\n\
        Run `policy-miner observe` on CloudTrail logs (with your task definitions), then \
        `policy-miner propose` to get one minimal policy per role.",
    after_help = "Exit status: 0 success; 1 error; 2 usage error; 3 `observe` skipped some input \
        (each skipped file is named on stderr)."
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
    /// Read CloudTrail logs and record, per role, the API calls it made.
    ///
    /// Reads `.json` and `.json.gz` files (directories recursively) in every CloudTrail shape:
    /// `{"Records":[…]}`, a JSON array, a single event, one event per line, LookupEvents output.
    /// Only calls by IAM role sessions become evidence; other principals are counted. Files already
    /// observed (same content) are not counted again.
    Observe {
        /// ECS task definitions (files or directories of `.json`), as `aws ecs
        /// describe-task-definition` prints them or as register-task-definition input. Maps each
        /// role to its families and to its kind (task or execution role). Repeatable.
        #[arg(long = "task-definitions", value_name = "PATH")]
        task_definitions: Vec<PathBuf>,

        /// CloudTrail files or directories.
        #[arg(value_name = "PATH", required = true)]
        inputs: Vec<PathBuf>,

        /// Print only warnings and errors, no summary.
        #[arg(long, short)]
        quiet: bool,
    },

    /// Propose the minimal policy for each role from the recorded evidence.
    Propose {
        /// Output format: `text` (one section per role) or `json` (machine-readable contract).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,

        /// Also write one IAM policy document per role into this directory (`<role-name>.json`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,

        /// Only this role (its ARN); repeatable.
        #[arg(long = "role", value_name = "ARN")]
        roles: Vec<String>,

        /// Distinct S3 objects or SSM parameters in one directory before they are granted as a
        /// prefix wildcard (their longest common prefix); 0 never generalizes.
        #[arg(long, value_name = "N", default_value_t = 3)]
        wildcard_threshold: usize,
    },

    /// Look up the embedded IAM catalog (Service Authorization Reference data).
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// An action's access level, resource types (ARN formats) and condition keys.
    Show {
        /// e.g. `s3:GetObject` (case-insensitive).
        action: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
