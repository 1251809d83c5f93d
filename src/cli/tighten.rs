use crate::tighten::{self, gates, replacement};
use std::path::PathBuf;

/// The rest of `tighten --help`, after its exit statuses.
const AFTER_HELP: &str = "\
    AWS access: the usual credential chain (environment, profile, ECS task role, instance \
    profile) and AWS_REGION. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_IAM, _STS, _ACCESSANALYZER) \
    sends the calls elsewhere, e.g. a local moto server. Roles are matched by NAME in the \
    account of the credentials; a role whose ARN names another account is an error. \
    POLICY_MINER_NOW (an RFC 3339 time; for tests only) replaces the clock for the evidence-age \
    gate.\n\n\
    Permissions needed: iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, \
    iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion; with --apply also \
    iam:PutRolePolicy, and iam:DeleteRolePolicy / iam:DetachRolePolicy for --remove-inline / \
    --detach-managed; optionally access-analyzer:ValidatePolicy and \
    access-analyzer:CheckNoNewAccess.";

/// Compare each role's current IAM permissions with its evidence, validate the mined replacement,
/// and with --apply write it (dry run by default).
#[derive(Debug, clap::Args)]
#[command(after_help = format!("{}\n\n{AFTER_HELP}", super::exit::help_for("tighten")))]
pub struct Args {
    #[command(flatten)]
    pub roles: super::args::Roles,

    /// Only roles used by this task-definition family; repeatable. Without --role or --family,
    /// every role a task definition names; other roles of the evidence
    /// (people, CI) are listed as skipped. IAM Identity Center (/aws-reserved/) and
    /// service-linked (/aws-service-role/) roles are always skipped.
    #[arg(long = "family", value_name = "NAME")]
    pub families: Vec<String>,

    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Also recommend splitting an execution role several families share into one per family
    /// (as `propose --split-shared`). A split is only ever shown, with the commands that make
    /// it: tighten creates no role.
    #[arg(long)]
    pub split_shared: bool,

    /// Write the replacement to IAM (after the previous documents are stored in the database).
    /// Refused for a role while a change policy-miner made to it never finished (it was stopped
    /// between its IAM writes): `policy-miner rollback --role ARN` restores the state from before
    /// that change first.
    #[arg(long)]
    pub apply: bool,

    /// Name of the inline policy the replacement is written as.
    #[arg(long, value_name = "NAME", default_value = tighten::DEFAULT_POLICY_NAME)]
    pub policy_name: String,

    /// With --apply: delete the role's other inline policies (NOREPO statements and iam:PassRole
    /// are carried into the replacement first).
    #[arg(long)]
    pub remove_inline: bool,

    /// With --apply: detach the role's managed policies (customer and AWS managed).
    #[arg(long)]
    pub detach_managed: bool,

    /// Refuse to apply when a role's evidence spans fewer days than this.
    #[arg(long, value_name = "DAYS", default_value_t = 14.0)]
    pub min_evidence_days: f64,

    /// Override: apply even when the evidence spans fewer than --min-evidence-days.
    #[arg(long)]
    pub allow_short_evidence: bool,

    /// Refuse to apply when a role's newest evidence is older than this (a stale trail).
    #[arg(long, value_name = "DAYS", default_value_t = 7.0)]
    pub max_evidence_age_days: f64,

    /// Override: apply even when the newest evidence is older than --max-evidence-age-days.
    #[arg(long)]
    pub allow_stale_evidence: bool,

    /// Override: apply even when the backtest is not clean: the role's proposal mined from the
    /// evidence before the last 7 days would have denied calls first seen since (the workload
    /// still grows; `policy-miner backtest` lists them).
    #[arg(long)]
    pub allow_unstable_backtest: bool,

    /// Override: treat statements whose Sid starts with NOREPO like any other (by default they are
    /// carried into the replacement verbatim).
    #[arg(long)]
    pub touch_norepo: bool,

    /// Override: let the replacement drop iam:PassRole (by default it is carried over).
    #[arg(long)]
    pub allow_passrole_removal: bool,

    /// Do not ask IAM Access Analyzer; validate with the built-in checks only.
    #[arg(long)]
    pub no_access_analyzer: bool,

    #[command(flatten)]
    pub synthesis: super::args::Synthesis,

    /// Tries per AWS call (throttling and transient errors are retried with backoff).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let opts = tighten::Options {
        roles: args.roles.roles,
        families: args.families,
        apply: args.apply,
        policy_name: args.policy_name,
        remove_inline: args.remove_inline,
        detach_managed: args.detach_managed,
        thresholds: gates::Thresholds {
            min_evidence_days: args.min_evidence_days,
            allow_short_evidence: args.allow_short_evidence,
            max_evidence_age_days: args.max_evidence_age_days,
            allow_stale_evidence: args.allow_stale_evidence,
            allow_unstable_backtest: args.allow_unstable_backtest,
        },
        carry: replacement::CarryOptions {
            norepo: !args.touch_norepo,
            pass_role: !args.allow_passrole_removal,
        },
        access_analyzer: !args.no_access_analyzer,
        wildcard_threshold: args.synthesis.wildcard_threshold,
        max_attempts: args.max_attempts,
        split_shared: args.split_shared,
    };
    let report = tighten::run(&db, &opts).await?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Text => print!(
            "{}",
            crate::text::printable_lines(&crate::output::tighten::text(&report))
        ),
    }
    for r in report.roles.iter().filter(|r| r.error.is_some()) {
        eprintln!(
            "error: {}: {}",
            r.role_arn,
            r.error.as_deref().unwrap_or_default()
        );
    }
    for r in report.roles.iter().filter(|r| r.outcome == "not in IAM") {
        for note in &r.notes {
            eprintln!("warning: {}: {note}", r.role_arn);
        }
    }
    Ok(exit_status(&report))
}

/// The worst outcome of any role decides: an error, then a refusal, then a dry run. Roles skipped
/// or gone from IAM had nothing done to them and decide nothing.
fn exit_status(report: &tighten::Report) -> i32 {
    let any = |o: &str| report.roles.iter().any(|r| r.outcome == o);
    if any("error") {
        super::exit::ERROR
    } else if any("refused") {
        super::exit::REFUSED
    } else if any("dry run") {
        super::exit::TIGHTENING_POSSIBLE
    } else {
        super::exit::SUCCESS
    }
}
