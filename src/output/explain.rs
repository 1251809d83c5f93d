//! `explain`'s report: why each grant of a role's proposal is there — its evidence, the rule
//! behind its action and resource, the template it was learned as, what it was generalized from
//! or derived from, and the families it serves.

use crate::store::EvidenceRow;
use crate::synth::{GrantEvidence, RoleProposal};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The grants `grants` of `role`, with the evidence rows of the role (for the events behind each
/// action); with `with_ungranted`, the calls that gave no grant too.
pub fn explain(
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
        if let Some(t) = &g.template {
            let _ = writeln!(out, "  template:   {}", t.template);
            for f in &t.fields {
                let _ = writeln!(
                    out,
                    "    {{{}}}: {} ({} call{})",
                    f.field,
                    f.recognised_as,
                    f.calls,
                    if f.calls == 1 { "" } else { "s" }
                );
            }
            let _ = writeln!(out, "  pattern:    {}", t.pattern);
        }
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
