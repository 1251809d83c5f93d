use crate::tighten::rollback;
use std::path::PathBuf;

/// Restore a role's permissions to what they were before a change policy-miner made.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Inline policies are put back byte for byte, managed policies re-attached, \
    and what was not there before (the policy-miner inline policy) deleted. The rollback is itself \
    recorded (and can be rolled back). Before writing, the role is compared with what \
    policy-miner's latest change to it left: if a policy was added, deleted or edited since, \
    nothing is written and the differences are listed (--force restores anyway, undoing them). \
    Exit status: 0 restored; 1 error or refused."
)]
pub struct Args {
    /// The role (ARN as in the evidence, or name).
    #[arg(long, value_name = "ARN")]
    pub role: String,

    /// Restore the state from before this change (an id from `policy-miner history`); default:
    /// the role's latest apply, or, when a change to the role never finished (policy-miner was
    /// stopped between its IAM writes), the state from before that change.
    #[arg(long, value_name = "N")]
    pub to: Option<i64>,

    /// Override: restore even though the role was changed in IAM since policy-miner's latest change
    /// to it (policies added, deleted or edited by hand), undoing those changes too.
    #[arg(long)]
    pub force: bool,

    /// Tries per AWS call (throttling and transient errors are retried with backoff).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_attempts: u32,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let opts = rollback::Options {
        to: args.to,
        force: args.force,
        max_attempts: args.max_attempts,
    };
    let r = rollback::run(&db, &args.role, &opts).await?;
    println!(
        "role {}: restored the state from before change {} (recorded as change {}, by {})",
        r.role_name, r.restores, r.change_id, r.principal_arn
    );
    for (what, list) in [
        ("put back inline", &r.put_inline),
        ("deleted inline", &r.deleted_inline),
        ("re-attached", &r.attached),
        ("detached", &r.detached),
        ("undid changes made since (--force)", &r.undone_since),
    ] {
        if !list.is_empty() {
            println!("  {what}: {}", list.join(", "));
        }
    }
    Ok(0)
}
