use crate::output;
use crate::policy::PolicyDocument;
use crate::store::EvidenceRow;
use crate::synth::Recorded;
use crate::synth::{self, verify::PolicySet, verify::Verification};
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::exit::UNCOVERED as EXIT_UNCOVERED;

/// Replay every recorded successful call against the proposal (or the policies in --policy) with
/// the built-in IAM evaluator, and list each call that would be denied. Exit status 4 when there
/// is one, 0 when every call is allowed.
#[derive(Debug, clap::Args)]
#[command(after_help = super::exit::help_for("verify"))]
pub struct Args {
    #[command(flatten)]
    pub roles: super::args::Roles,

    /// Check these policies instead of the proposal: one IAM policy document (e.g. the role's
    /// current one, or `aws iam get-role-policy` output), a JSON list of documents of one role,
    /// or the output of `propose --format json` or `--format iam` (policies per role). A file
    /// without role names needs --role unless the evidence has a single role.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub synthesis: super::args::Synthesis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let recorded = Recorded::load(&db).await?;
    let selection = recorded.select(&args.roles.roles, &db)?;
    // A named role without a successful call (e.g. an execution role known only from its task
    // definitions) is reported with nothing to replay, rather than left out as if unknown.
    let named: Vec<String> = if selection.is_all() {
        Vec::new()
    } else {
        recorded
            .roles()
            .into_iter()
            .filter(|r| selection.contains(r))
            .collect()
    };
    let Recorded {
        evidence,
        ungranted,
        definitions,
        ..
    } = recorded;
    let mut by_role: BTreeMap<&str, Vec<&EvidenceRow>> = BTreeMap::new();
    for r in evidence.iter().filter(|r| selection.contains(&r.role_arn)) {
        by_role.entry(&r.role_arn).or_default().push(r);
    }
    for role in &named {
        by_role.entry(role).or_default();
    }

    let (source, policies) = match &args.policy {
        None => {
            let opts = synth::Options {
                wildcard_threshold: args.synthesis.wildcard_threshold,
                roles: selection,
                split: Default::default(),
            };
            let proposal = synth::build(&evidence, &ungranted, &definitions, &opts);
            let map: BTreeMap<String, Vec<PolicyDocument>> = proposal
                .roles
                .into_iter()
                .map(|r| (r.role_arn, vec![r.policy]))
                .collect();
            ("the proposal".to_string(), PolicySet::PerRole(map))
        }
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", file.display()))?;
            let set = PolicySet::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}; give an IAM policy document, a list of them, or `propose --format \
                     json`/`--format iam` output",
                    file.display()
                )
            })?;
            if matches!(set, PolicySet::Unnamed(_)) && by_role.len() > 1 {
                eprintln!(
                    "error: {} holds policies without a role name and the evidence has {} roles; \
                     name the role they belong to with --role ARN",
                    file.display(),
                    by_role.len()
                );
                return Ok(super::EXIT_USAGE);
            }
            (file.display().to_string(), set)
        }
    };

    let report = Verification::replay(source, &policies, &by_role);
    match args.format {
        // Through a Value, whose keys are sorted: the contract's order since its first release.
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&report)?)?
        ),
        Format::Text => print!(
            "{}",
            crate::text::printable_lines(&output::verify::text(&report, EXIT_UNCOVERED))
        ),
    }
    Ok(if report.uncovered_total == 0 {
        0
    } else {
        EXIT_UNCOVERED
    })
}
