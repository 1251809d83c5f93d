//! Proposals as people and programs read them: text, the JSON contract, policy files, and the
//! formats people deploy (IAM documents, Terraform, CloudFormation) or review (Markdown).

pub mod cloudformation;
pub mod iam;
pub mod markdown;
pub mod terraform;

use crate::policy::PolicyDocument;
use crate::synth::{Proposal, RoleProposal};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `--format json` contract: `{"roles": [{"role_arn", "usage", "families", "policy",
/// "denied_calls", "findings", …}]}`. Keys may be added, never removed.
/// Written as it is serialized: on a large database the document is tens of megabytes.
pub fn write_json(proposal: &Proposal, out: impl std::io::Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, proposal)?;
    std::io::Write::write_all(&mut out, b"\n")?;
    std::io::Write::flush(&mut out)
}

/// The documents to deploy for a role, with their names: its inline policy (`policy-miner`), or
/// its managed policies when the policy was split for size.
pub fn role_documents(role: &RoleProposal) -> Vec<(&str, &PolicyDocument)> {
    if role.managed_policies.is_empty() {
        vec![(INLINE_POLICY_NAME, &role.policy)]
    } else {
        role.managed_policies
            .iter()
            .map(|m| (m.name.as_str(), &m.document))
            .collect()
    }
}

/// The name of the inline policy the deployable formats create on each role.
pub const INLINE_POLICY_NAME: &str = "policy-miner";

/// The role's name (last segment of its ARN), as IAM APIs and templates take it.
pub fn role_name(role_arn: &str) -> &str {
    role_arn
        .strip_prefix("arn:")
        .and_then(|_| role_arn.split_once(":role/"))
        .map(|(_, path)| path.rsplit('/').next().unwrap_or(path))
        .unwrap_or(role_arn)
}

/// Identifiers for the roles in templates (Terraform labels, CloudFormation logical ids): made
/// from the role name by `make`, with the account added where two roles share a name, and a
/// counter as the last resort, so each is unique and the same proposal always gives the same.
pub fn unique_ids(proposal: &Proposal, make: impl Fn(&str) -> String) -> Vec<String> {
    let base: Vec<String> = proposal
        .roles
        .iter()
        .map(|r| make(role_name(&r.role_arn)))
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (role, b) in proposal.roles.iter().zip(&base) {
        let mut id = b.clone();
        if base.iter().filter(|x| *x == b).count() > 1 {
            let account = role.role_arn.split(':').nth(4).unwrap_or_default();
            id = make(&format!("{}_{account}", role_name(&role.role_arn)));
        }
        let n = seen.entry(id.clone()).or_default();
        *n += 1;
        if *n > 1 {
            id = format!("{id}{n}");
        }
        out.push(id);
    }
    out
}

/// One section per role.
pub fn text(proposal: &Proposal) -> String {
    let mut s = String::new();
    if proposal.roles.is_empty() && proposal.roles_without_evidence.is_empty() {
        s.push_str(
            "No role evidence in the database. Run `policy-miner observe` on CloudTrail files first.\n",
        );
    } else if proposal.roles.is_empty() {
        s.push_str(
            "No policy to propose: no call of these roles is in the database. Run `policy-miner \
             observe` on CloudTrail files that cover them.\n",
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
    if !role.managed_policies.is_empty() {
        let names: Vec<&str> = role
            .managed_policies
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        let _ = writeln!(
            s,
            "   delivered as {} managed policies ({}): the policy has {} characters",
            names.len(),
            names.join(", "),
            role.policy_characters
        );
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
                "     {} on {}  ×{}  {}  {}  [{}]",
                g.action,
                g.resource,
                g.count,
                if g.last_seen.is_empty() {
                    "-"
                } else {
                    &g.last_seen
                },
                g.families.join(","),
                g.origin
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
/// (`<account>-<role-name>.json` where two accounts have a role of the same name); a role whose
/// policy was split for size gets one file per managed policy, `<role-name>-<n>.json`.
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
        let stem = if count[name.as_str()] > 1 {
            format!("{account}-{name}")
        } else {
            name.clone()
        };
        let docs = role_documents(role);
        for (i, (_, doc)) in docs.iter().enumerate() {
            let file = if docs.len() > 1 {
                format!("{stem}-{}.json", i + 1)
            } else {
                format!("{stem}.json")
            };
            let path = dir.join(file);
            let body = serde_json::to_string_pretty(doc)? + "\n";
            std::fs::write(&path, body)?;
            written.push(path);
        }
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
