//! `--format markdown`: a review report per ECS family (its execution role and task role, the
//! grants with their evidence, the denied calls, the findings), then the roles in no task
//! definition, then every role's policy as a JSON block.

use super::role_documents;
use crate::attribution::RoleKind;
use crate::synth::{GrantEvidence, Proposal, RoleProposal};
use std::collections::BTreeSet;
use std::fmt::Write as _;

pub fn markdown(proposal: &Proposal) -> String {
    let mut s = String::from("# policy-miner report\n\n");
    let families: BTreeSet<&str> = proposal
        .roles
        .iter()
        .flat_map(|r| r.families.iter().map(String::as_str))
        .collect();
    let _ = writeln!(
        s,
        "{} role(s) with evidence, {} famil{}. Origins: `observed` (CloudTrail shows the calls), \
         `derived` (the task definition implies it; never in CloudTrail), `both`.\n",
        proposal.roles.len(),
        families.len(),
        if families.len() == 1 { "y" } else { "ies" }
    );
    for family in &families {
        let _ = writeln!(s, "## Family {}\n", code(family));
        for kind in [RoleKind::Execution, RoleKind::Task] {
            let roles: Vec<&RoleProposal> = proposal
                .roles
                .iter()
                .filter(|r| r.families.iter().any(|f| f == family) && r.usage.contains(&kind))
                .collect();
            for role in roles {
                let title = match kind {
                    RoleKind::Execution => "Execution role",
                    RoleKind::Task => "Task role",
                };
                let _ = writeln!(s, "### {title} {}\n", code(&role.role_arn));
                role_body(&mut s, role, Some(family));
            }
        }
        let without_task = !proposal
            .roles
            .iter()
            .any(|r| r.families.iter().any(|f| f == family) && r.usage.contains(&RoleKind::Task));
        if without_task {
            s.push_str(
                "No task role with evidence: the application made no AWS call as its own role.\n\n",
            );
        }
    }
    let unattributed: Vec<&RoleProposal> = proposal
        .roles
        .iter()
        .filter(|r| r.families.is_empty())
        .collect();
    if !unattributed.is_empty() {
        s.push_str("## Roles in no task definition\n\n");
        for role in unattributed {
            let _ = writeln!(s, "### Role {}\n", code(&role.role_arn));
            role_body(&mut s, role, None);
        }
    }
    if !proposal.roles_without_evidence.is_empty() {
        s.push_str("## Roles without evidence\n\n");
        for r in &proposal.roles_without_evidence {
            let _ = writeln!(s, "- {}", code(r));
        }
        s.push('\n');
    }
    s.push_str("## Policies\n\n");
    for role in &proposal.roles {
        let _ = writeln!(s, "### {}\n", code(&role.role_arn));
        let docs = role_documents(role);
        for (name, doc) in docs {
            if !role.managed_policies.is_empty() {
                let _ = writeln!(s, "Managed policy {}:\n", code(name));
            }
            let json = serde_json::to_string_pretty(doc).unwrap_or_default();
            let _ = writeln!(s, "```json\n{json}\n```\n");
        }
    }
    let splits: Vec<_> = proposal
        .roles
        .iter()
        .filter_map(|r| Some((r, r.split.as_ref()?)))
        .collect();
    if !splits.is_empty() {
        s.push_str("## Proposed splits\n\n");
        for (role, split) in splits {
            let _ = writeln!(s, "### Split of {}\n", code(&role.role_arn));
            super::split::markdown(&mut s, split, code);
        }
    }
    s
}

fn role_body(s: &mut String, role: &RoleProposal, family: Option<&str>) {
    if role.families.len() > 1 {
        let _ = writeln!(
            s,
            "Shared by {}; grants listed for this family.\n",
            cell(&role.families.join(", "))
        );
    }
    let grants: Vec<&GrantEvidence> = role
        .grants
        .iter()
        .filter(|g| family.is_none_or(|f| g.families.iter().any(|x| x == f)))
        .collect();
    s.push_str("#### Grants\n\n");
    if grants.is_empty() {
        s.push_str("None.\n\n");
    } else {
        s.push_str("| action | resource | condition | origin | calls | last seen | example event | rule |\n");
        s.push_str("|---|---|---|---|---|---|---|---|\n");
        for g in grants {
            let condition = g
                .condition
                .as_ref()
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| {
                            format!("{k} = {}", v.iter().cloned().collect::<Vec<_>>().join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            let rule = if g.derived_from.is_empty() {
                g.rule.clone()
            } else {
                g.derived_from
                    .iter()
                    .map(crate::synth::derive::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                code(&g.action),
                code(&g.resource),
                cell(&condition),
                g.origin,
                g.count,
                cell(&g.last_seen),
                cell(&g.example_event_id),
                cell(&rule)
            );
        }
        s.push('\n');
    }
    // A shared role's denied calls and findings belong to no one family: said once per family
    // section, marked as the whole role's.
    let whole_role = if family.is_some() && role.families.len() > 1 {
        " (whole role)"
    } else {
        ""
    };
    let _ = writeln!(s, "#### Denied calls{whole_role}\n");
    if role.denied_calls.is_empty() {
        s.push_str("None.\n\n");
    } else {
        s.push_str("| action | resource | error | calls | example event | granted anyway |\n");
        s.push_str("|---|---|---|---|---|---|\n");
        for d in &role.denied_calls {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                code(&d.action),
                code(&d.resource),
                cell(&d.error_code),
                d.count,
                cell(&d.example_event_id),
                if d.granted_by_successful_calls {
                    "yes (also succeeded)"
                } else {
                    "no"
                }
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "#### Findings{whole_role}\n");
    if role.findings.is_empty() {
        s.push_str("None.\n\n");
    } else {
        for f in &role.findings {
            let _ = writeln!(s, "- **{}** {}: {}", f.severity, f.kind, cell(&f.message));
        }
        s.push('\n');
    }
}

/// Text for a table cell or a list item: one line (line ends and other controls written
/// `\u{…}`, see [`crate::text::printable`]), pipes escaped.
fn cell(text: &str) -> String {
    crate::text::printable(text).replace('|', "\\|")
}

/// An inline code span that holds `text` whatever backticks it contains (CommonMark: a fence
/// longer than any run inside, padded with spaces when the text starts or ends with one).
fn code(text: &str) -> String {
    let text = cell(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}
