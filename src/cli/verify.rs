use crate::attribution::RoleKey;
use crate::policy::PolicyDocument;
use crate::store::{EvidenceRow, Recorded};
use crate::synth::{self, verify::PolicySet, verify::Uncovered};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Exit status when some observed call would be denied.
pub const EXIT_UNCOVERED: i32 = 4;

/// Replay every recorded successful call against the proposal (or the policies in --policy) with
/// the built-in IAM evaluator, and list each call that would be denied. Exit status 4 when there
/// is one, 0 when every call is allowed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this role: its ARN (with or without its path) or its name; repeatable.
    #[arg(long = "role", value_name = "ARN")]
    pub roles: Vec<String>,

    /// Check these policies instead of the proposal: one IAM policy document (e.g. the role's
    /// current one, or `aws iam get-role-policy` output), a JSON list of documents of one role,
    /// or the output of `propose --format json` or `--format iam` (policies per role). A file
    /// without role names needs --role unless the evidence has a single role.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Wildcard threshold of the proposal checked when no --policy is given (as for `propose`: 0
    /// never generalizes, else at least 2).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = super::propose::wildcard_threshold)]
    pub wildcard_threshold: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(serde::Serialize)]
struct RoleReport {
    role_arn: String,
    /// Successful call records (role, action, resource, context) replayed, and the calls they count.
    records: usize,
    calls: i64,
    /// Set when --policy has no policy for the role: every call of it is uncovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    uncovered: Vec<Uncovered>,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let recorded = Recorded::load(&db).await?;
    let selection = recorded.select(&args.roles, &db)?;
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
                wildcard_threshold: args.wildcard_threshold,
                roles: selection,
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

    let mut reports = Vec::new();
    for (role, rows) in &by_role {
        let successful: Vec<&EvidenceRow> = rows
            .iter()
            .copied()
            .filter(|r| r.error_code.is_empty())
            .collect();
        let docs = match &policies {
            PolicySet::Unnamed(docs) => Some(docs),
            PolicySet::PerRole(map) => lookup(map, role),
        };
        let (uncovered, note) = match docs {
            Some(docs) => (synth::verify::replay(docs, &successful), None),
            None => (
                synth::verify::replay(&[], &successful),
                Some(format!("{source} has no policy for this role")),
            ),
        };
        reports.push(RoleReport {
            role_arn: role.to_string(),
            records: successful.len(),
            calls: successful.iter().map(|r| r.count).sum(),
            note,
            uncovered,
        });
    }
    let total: usize = reports.iter().map(|r| r.uncovered.len()).sum();
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "checked_against": source,
                "uncovered_total": total,
                "roles": reports,
            }))?
        ),
        Format::Text => print!(
            "{}",
            crate::text::printable_lines(&text(&source, &reports, total))
        ),
    }
    Ok(if total == 0 { 0 } else { EXIT_UNCOVERED })
}

/// The documents of `role` in a per-role set: by exact ARN, else by account and role name (a
/// policy file may name the role without its path).
fn lookup<'a>(
    map: &'a BTreeMap<String, Vec<PolicyDocument>>,
    role: &str,
) -> Option<&'a Vec<PolicyDocument>> {
    map.get(role).or_else(|| {
        let key = RoleKey::parse(role)?;
        map.iter()
            .find(|(k, _)| RoleKey::parse(k).as_ref() == Some(&key))
            .map(|(_, v)| v)
    })
}

fn text(source: &str, reports: &[RoleReport], total: usize) -> String {
    let mut s = String::new();
    let calls: i64 = reports.iter().map(|r| r.calls).sum();
    let _ = writeln!(
        s,
        "Replayed {calls} observed successful call(s) of {} role(s) against {source}.",
        reports.len()
    );
    for r in reports {
        if r.records == 0 {
            let _ = writeln!(s, "ok    {}: no observed call to replay", r.role_arn);
            continue;
        }
        if r.uncovered.is_empty() {
            let _ = writeln!(s, "ok    {}: all {} call(s) allowed", r.role_arn, r.calls);
            continue;
        }
        let denied: i64 = r.uncovered.iter().map(|u| u.count).sum();
        let _ = writeln!(
            s,
            "DENY  {}: {denied} of {} call(s) would be denied{}",
            r.role_arn,
            r.calls,
            r.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        for u in &r.uncovered {
            let context: Vec<String> = u
                .context
                .iter()
                .map(|(k, v)| format!("{k}={}", v.join(",")))
                .collect();
            let _ = writeln!(
                s,
                "      {} on {} ×{}  {}  example event {}{}",
                u.action,
                u.resource,
                u.count,
                u.decision,
                u.example_event_id,
                if context.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", context.join(" "))
                }
            );
        }
    }
    if total == 0 {
        s.push_str("Every observed call is allowed.\n");
    } else {
        let _ = writeln!(
            s,
            "{total} call record(s) would be denied (exit status {EXIT_UNCOVERED})."
        );
    }
    s
}
