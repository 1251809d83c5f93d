//! Proposals as people and programs read them: text, the JSON contract, and policy files.

use crate::synth::{Proposal, RoleProposal};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `--format json` contract: `{"roles": [{"role_arn", "usage", "families", "policy",
/// "denied_calls", "findings", …}]}`. Keys may be added, never removed.
pub fn json(proposal: &Proposal) -> String {
    serde_json::to_string_pretty(proposal).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// One section per role.
pub fn text(proposal: &Proposal) -> String {
    let mut s = String::new();
    if proposal.roles.is_empty() {
        s.push_str(
            "No role evidence in the database. Run `policy-miner observe` on CloudTrail files first.\n",
        );
    }
    for role in &proposal.roles {
        role_section(&mut s, role);
    }
    if !proposal.roles_without_evidence.is_empty() {
        let _ = writeln!(
            s,
            "Roles in task definitions without any observed call: {}",
            proposal.roles_without_evidence.join(", ")
        );
    }
    s
}

fn role_section(s: &mut String, role: &RoleProposal) {
    let usage: Vec<&str> = role.usage.iter().map(|k| k.as_str()).collect();
    let _ = writeln!(s, "== {}", role.role_arn);
    let _ = writeln!(
        s,
        "   used as: {}   families: {}",
        if usage.is_empty() {
            "unknown (in no task definition)".to_string()
        } else {
            usage.join(" + ")
        },
        if role.families.is_empty() {
            "-".to_string()
        } else {
            role.families.join(", ")
        }
    );
    for f in role.findings.iter().filter(|f| f.severity != "info") {
        let _ = writeln!(s, "   {}: {}", f.severity, f.message);
    }
    let _ = writeln!(s, "\n   Proposed policy:");
    let policy = serde_json::to_string_pretty(&role.policy).unwrap_or_default();
    for line in policy.lines() {
        let _ = writeln!(s, "     {line}");
    }
    if !role.grants.is_empty() {
        let _ = writeln!(s, "\n   Evidence (calls, last seen, families):");
        for g in &role.grants {
            let _ = writeln!(
                s,
                "     {} on {}  ×{}  {}  {}",
                g.action,
                g.resource,
                g.count,
                g.last_seen,
                g.families.join(",")
            );
        }
    }
    if !role.denied_calls.is_empty() {
        let _ = writeln!(s, "\n   Denied calls (not granted):");
        for d in &role.denied_calls {
            let _ = writeln!(
                s,
                "     {} on {}  {} ×{}{}",
                d.action,
                d.resource,
                d.error_code,
                d.count,
                if d.granted_by_successful_calls {
                    "  (also succeeded: granted)"
                } else {
                    ""
                }
            );
        }
    }
    let info: Vec<_> = role
        .findings
        .iter()
        .filter(|f| f.severity == "info")
        .collect();
    if !info.is_empty() {
        let _ = writeln!(s, "\n   Notes:");
        for f in info {
            let _ = writeln!(s, "     {}", f.message);
        }
    }
    s.push('\n');
}

/// Writes one IAM policy document per role into `dir` as `<role-name>.json`
/// (`<account>-<role-name>.json` where two accounts have a role of the same name).
pub fn write_policy_files(proposal: &Proposal, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let names: Vec<(String, String)> = proposal
        .roles
        .iter()
        .map(|r| {
            let key = crate::attribution::RoleKey::parse(&r.role_arn);
            let name = key
                .as_ref()
                .map(|k| k.name.clone())
                .unwrap_or_else(|| sanitize(&r.role_arn));
            let account = key.and_then(|k| k.account).unwrap_or_default();
            (account, sanitize(&name))
        })
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, n) in &names {
        *count.entry(n).or_default() += 1;
    }
    let mut written = Vec::new();
    for (role, (account, name)) in proposal.roles.iter().zip(&names) {
        let file = if count[name.as_str()] > 1 {
            format!("{account}-{name}.json")
        } else {
            format!("{name}.json")
        };
        let path = dir.join(file);
        let body = serde_json::to_string_pretty(&role.policy)? + "\n";
        std::fs::write(&path, body)?;
        written.push(path);
    }
    Ok(written)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
