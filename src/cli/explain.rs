use super::catalog::write_stdout;
use crate::attribution::RoleKey;
use crate::store::{EvidenceRow, Recorded};
use crate::synth::{self, GrantEvidence, RoleProposal};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::PathBuf;

/// Why each grant of a role's proposal is there: the evidence (count, first and last seen, an
/// example event id) and the rule that produced the action and the resource.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The role (its ARN, as `propose` prints it; the role name alone also works).
    #[arg(long, value_name = "ARN")]
    pub role: String,

    /// Only this action's grants, e.g. `s3:GetObject` (case-insensitive).
    pub action: Option<String>,

    /// As for `propose`: distinct names under one path before they become a prefix wildcard.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub wildcard_threshold: usize,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let Recorded {
        evidence,
        ungranted,
        definitions,
    } = Recorded::load(&db).await?;

    let known: BTreeSet<&str> = evidence
        .iter()
        .map(|r| r.role_arn.as_str())
        .chain(ungranted.iter().map(|r| r.role_arn.as_str()))
        .collect();
    let Some(role_arn) = find_role(&known, &args.role) else {
        let list = if known.is_empty() {
            "the database holds no evidence yet; run `policy-miner observe` first".to_string()
        } else {
            format!(
                "roles with evidence:\n  {}",
                known.iter().copied().collect::<Vec<_>>().join("\n  ")
            )
        };
        anyhow::bail!(
            "no evidence for role {} in {}; {list}",
            args.role,
            db.display()
        );
    };
    let role_arn = role_arn.to_string();
    let evidence: Vec<EvidenceRow> = evidence
        .into_iter()
        .filter(|r| r.role_arn == role_arn)
        .collect();
    let ungranted: Vec<_> = ungranted
        .into_iter()
        .filter(|r| r.role_arn == role_arn)
        .collect();
    let opts = synth::Options {
        wildcard_threshold: args.wildcard_threshold,
    };
    let proposal =
        synth::propose(&evidence, &ungranted, &definitions, &opts).map_err(anyhow::Error::msg)?;
    let Some(role) = proposal.roles.iter().find(|r| r.role_arn == role_arn) else {
        anyhow::bail!("the proposal for {role_arn} is empty: none of its calls succeeded");
    };
    let grants: Vec<&GrantEvidence> = role
        .grants
        .iter()
        .filter(|g| {
            args.action
                .as_deref()
                .is_none_or(|a| g.action.eq_ignore_ascii_case(a))
        })
        .collect();
    if grants.is_empty() {
        if let Some(action) = &args.action {
            let actions: BTreeSet<&str> = role.grants.iter().map(|g| g.action.as_str()).collect();
            anyhow::bail!(
                "{role_arn} has no grant of {action}; its actions: {}",
                actions.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    write_stdout(&render(role, &grants, &evidence, args.action.is_none()))?;
    Ok(0)
}

/// The role as stored: the exact ARN, else the one with the same account and name (paths and
/// bare names differ between task definitions and CloudTrail).
fn find_role<'a>(known: &BTreeSet<&'a str>, wanted: &str) -> Option<&'a str> {
    if let Some(exact) = known.get(wanted) {
        return Some(exact);
    }
    let want = RoleKey::parse(wanted)?;
    let mut matches = known.iter().copied().filter(|k| {
        RoleKey::parse(k).is_some_and(|k| {
            k.name == want.name && (want.account.is_none() || k.account == want.account)
        })
    });
    let first = matches.next()?;
    // A bare name that fits roles of several accounts is ambiguous: ask for the ARN.
    matches.next().is_none().then_some(first)
}

fn render(
    role: &RoleProposal,
    grants: &[&GrantEvidence],
    evidence: &[EvidenceRow],
    with_ungranted: bool,
) -> String {
    let mut out = String::new();
    let usage: Vec<&str> = role.usage.iter().map(|k| k.as_str()).collect();
    let _ = writeln!(out, "{}", role.role_arn);
    if !usage.is_empty() || !role.families.is_empty() {
        let _ = writeln!(
            out,
            "  used as: {}; families: {}",
            if usage.is_empty() {
                "unattributed".to_string()
            } else {
                usage.join(" and ")
            },
            if role.families.is_empty() {
                "none known".to_string()
            } else {
                role.families.join(", ")
            }
        );
    }
    for g in grants {
        let _ = writeln!(out, "\n{} on {}", g.action, g.resource);
        if let Some(condition) = &g.condition {
            for (key, values) in condition {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                let _ = writeln!(out, "  condition:  {key} = {}", values.join(" | "));
            }
        }
        if g.count > 0 {
            let _ = writeln!(
                out,
                "  evidence:   {} call{}, first seen {}, last seen {}, example event {}",
                g.count,
                if g.count == 1 { "" } else { "s" },
                g.first_seen,
                g.last_seen,
                g.example_event_id
            );
        } else {
            let _ = writeln!(out, "  evidence:   no call observed ({})", g.origin);
        }
        let events: BTreeSet<String> = evidence
            .iter()
            .filter(|r| r.error_code.is_empty() && r.action.eq_ignore_ascii_case(&g.action))
            .map(|r| format!("{} {}", r.event_source, r.event_name))
            .collect();
        if !events.is_empty() {
            let events: Vec<String> = events.into_iter().collect();
            let _ = writeln!(out, "  events:     {}", events.join(", "));
        }
        let _ = writeln!(out, "  rule:       {}", g.rule);
        if !g.generalized_from.is_empty() {
            let _ = writeln!(
                out,
                "  generalized from {} observed resources:",
                g.generalized_from.len()
            );
            for r in &g.generalized_from {
                let _ = writeln!(out, "    {r}");
            }
        }
        for d in &g.derived_from {
            let _ = writeln!(
                out,
                "  derived from task definition {} container {}: {}",
                d.family, d.container, d.rule
            );
        }
        if !g.families.is_empty() {
            let _ = writeln!(
                out,
                "  families:   {} ({})",
                g.families.join(", "),
                g.family_attribution
            );
        }
    }
    if with_ungranted && !role.ungranted_calls.is_empty() {
        let _ = writeln!(out, "\nNot granted:");
        for u in &role.ungranted_calls {
            let _ = writeln!(
                out,
                "  {} {} ({} call{}, example event {}): {}",
                u.event_source,
                u.event_name,
                u.count,
                if u.count == 1 { "" } else { "s" },
                u.example_event_id,
                u.reason
            );
        }
    }
    out
}
