use std::path::PathBuf;

/// Read CloudTrail logs and record, per role, the API calls it made.
///
/// Reads `.json` and `.json.gz` files (directories recursively) in every CloudTrail shape:
/// `{"Records":[…]}`, a JSON array, a single event, one event per line, LookupEvents output.
/// Only calls by IAM role sessions become evidence; other principals are counted. Files already
/// observed (same content) are not counted again.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ECS task definitions (files or directories of `.json`), as `aws ecs
    /// describe-task-definition` prints them or as register-task-definition input. Maps each role
    /// to its families and to its kind (task or execution role). Repeatable.
    #[arg(long = "task-definitions", value_name = "PATH")]
    pub task_definitions: Vec<PathBuf>,

    /// CloudTrail files or directories.
    #[arg(value_name = "PATH", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Print only warnings and errors, no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let summary = crate::observe::run(crate::observe::Options {
        db,
        inputs: args.inputs,
        task_definitions: args.task_definitions,
    })
    .await?;
    for w in summary.warnings() {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        eprint!("{}", summary.render());
    }
    Ok(summary.exit_code())
}
