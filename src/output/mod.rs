//! Proposals as people and programs read them: text, the JSON contract, policy files, and the
//! formats people deploy (IAM documents, Terraform, CloudFormation) or review (Markdown).

pub mod backtest;
pub mod bench;
pub mod cloudformation;
pub mod explain;
pub mod iam;
pub mod markdown;
pub mod observe;
mod split;
pub mod terraform;
pub mod tighten;
pub mod verify;

use crate::policy::PolicyDocument;
use crate::synth::{Proposal, RoleProposal};
use crate::text::printable;
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

/// One section per role. Every name is shown through [`printable`]: it comes from input.
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
            printable(&proposal.roles_without_evidence.join(", "))
        );
    }
    s
}

fn role_section(s: &mut String, role: &RoleProposal) {
    let usage: Vec<&str> = role.usage.iter().map(|k| k.as_str()).collect();
    let _ = writeln!(s, "== {}", printable(&role.role_arn));
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
            printable(&role.families.join(", ")).into_owned()
        }
    );
    for f in role.findings.iter().filter(|f| f.severity != "info") {
        let _ = writeln!(s, "   {}: {}", f.severity, printable(&f.message));
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
            printable(&names.join(", ")),
            role.policy_characters
        );
    }
    let _ = writeln!(s, "\n   Proposed policy:");
    let policy = serde_json::to_string_pretty(&role.policy).unwrap_or_default();
    for line in policy.lines() {
        let _ = writeln!(s, "     {}", printable(line));
    }
    if !role.grants.is_empty() {
        let _ = writeln!(s, "\n   Evidence (calls, last seen, families):");
        for g in &role.grants {
            let _ = writeln!(
                s,
                "     {} on {}  ×{}  {}  {}  [{}]",
                printable(&g.action),
                printable(&g.resource),
                g.count,
                if g.last_seen.is_empty() {
                    "-".into()
                } else {
                    printable(&g.last_seen)
                },
                printable(&g.families.join(",")),
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
                printable(&d.action),
                printable(&d.resource),
                printable(&d.error_code),
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
            let _ = writeln!(s, "     {}", printable(&f.message));
        }
    }
    if let Some(split) = &role.split {
        split_section(s, split);
    }
    s.push('\n');
}

/// What a split's new roles are, in a few words.
pub(crate) fn split_purpose(split: &crate::synth::split::RoleSplit) -> &'static str {
    if split.kind == "shared-execution" {
        "one execution role per family, each with only what its family's tasks needed"
    } else {
        "one role per job, each with only what its caller did"
    }
}

/// The roles proposed in place of one: each with its trust and permissions policies, then the
/// task definitions' changes.
fn split_section(s: &mut String, split: &crate::synth::split::RoleSplit) {
    let _ = writeln!(
        s,
        "\n   Proposed split ({}): {}",
        split.kind,
        split_purpose(split)
    );
    for part in &split.parts {
        let _ = writeln!(
            s,
            "\n   -- new {} role {} (families: {})",
            part.kind.as_str(),
            printable(&part.role_arn),
            printable(&part.families.join(", "))
        );
        let _ = writeln!(s, "      Trust policy:");
        let trust = serde_json::to_string_pretty(&part.trust_policy).unwrap_or_default();
        for line in trust.lines() {
            let _ = writeln!(s, "        {}", printable(line));
        }
        let _ = writeln!(
            s,
            "      Policy ({} characters):",
            part.proposal.policy_characters
        );
        let policy = serde_json::to_string_pretty(&part.proposal.policy).unwrap_or_default();
        for line in policy.lines() {
            let _ = writeln!(s, "        {}", printable(line));
        }
        for f in &part.proposal.findings {
            if f.kind.starts_with("split-call") || f.severity != "info" {
                let _ = writeln!(s, "      {}: {}", f.severity, printable(&f.message));
            }
        }
    }
    if !split.task_definition_changes.is_empty() {
        let _ = writeln!(s, "\n   Task definition changes:");
        for c in &split.task_definition_changes {
            let _ = writeln!(
                s,
                "     {}{}: {} {} -> {}",
                printable(&c.family),
                c.revision.map(|r| format!(":{r}")).unwrap_or_default(),
                c.field,
                printable(&c.from),
                printable(&c.to)
            );
        }
    }
}

/// Writes one IAM policy document per role into `dir` as `<role-name>.json`
/// (`<account>-<role-name>.json` where two accounts have a role of the same name); a role whose
/// policy was split for size gets one file per managed policy, `<role-name>-<n>.json`.
///
/// Role names come from trails other people write, so a name is data, never a path: file names
/// are made of `[A-Za-z0-9+=,.@_-]` only, bounded in length, and unique (see [`policy_file_names`]).
/// Each file is written beside its target and renamed over it, so a symlink planted in `dir` is
/// replaced, never followed.
pub fn write_policy_files(proposal: &Proposal, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    for (role, files) in proposal.roles.iter().zip(policy_file_names(proposal)) {
        for ((_, doc), file) in role_documents(role).into_iter().zip(files) {
            // Two ARNs whose hashes meet: refuse rather than let one role's file replace another's.
            if !taken.insert(file.to_ascii_lowercase()) {
                return Err(std::io::Error::other(format!(
                    "two roles would both be written to {file}; write them one at a time with --role"
                )));
            }
            let path = dir.join(file);
            let body = serde_json::to_string_pretty(doc)? + "\n";
            replace_file(&path, body.as_bytes())?;
            written.push(path);
        }
    }
    // A split's new roles: `<new-role-name>.json` (its policy; `-<n>` per managed policy when
    // split for size) and `<new-role-name>.trust.json` (its trust policy).
    for part in proposal
        .roles
        .iter()
        .flat_map(|r| r.split.iter().flat_map(|s| &s.parts))
    {
        let docs = role_documents(&part.proposal);
        let stem = &part.role_name;
        let mut files: Vec<(String, String)> = Vec::new();
        for (i, (_, doc)) in docs.iter().enumerate() {
            let file = if docs.len() > 1 {
                format!("{stem}-{}.json", i + 1)
            } else {
                format!("{stem}.json")
            };
            files.push((file, serde_json::to_string_pretty(doc)? + "\n"));
        }
        files.push((
            format!("{stem}.trust.json"),
            serde_json::to_string_pretty(&part.trust_policy)? + "\n",
        ));
        for (file, body) in files {
            if !taken.insert(file.to_ascii_lowercase()) {
                return Err(std::io::Error::other(format!(
                    "a new role of a split would be written to {file}, which another role's file \
                     takes; name the new role with --split-role-name"
                )));
            }
            let path = dir.join(file);
            replace_file(&path, body.as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The longest file stem made from a role name: IAM names have at most 64 characters, so only a
/// name no IAM role can have is cut (and then told apart by its hash).
const MAX_STEM: usize = 100;

/// Each role's file names, one per document. The stem is the cleaned role name; the account is
/// put before it where two roles share that stem, and a hash of the role ARN after it where the
/// name had to be cleaned or cut, or where its files would still meet another role's (`big`
/// split in parts against a role `big-1`). Names are compared without case, as on file systems
/// that ignore it.
pub fn policy_file_names(proposal: &Proposal) -> Vec<Vec<String>> {
    let roles: Vec<(String, String, bool)> = proposal
        .roles
        .iter()
        .map(|r| {
            let key = crate::attribution::RoleKey::parse(&r.role_arn);
            let name = key
                .as_ref()
                .map_or(r.role_arn.as_str(), |k| k.name.as_str());
            let account = key
                .as_ref()
                .and_then(|k| k.account.as_deref())
                .unwrap_or("");
            let (stem, altered) = clean_stem(name);
            (stem, sanitize(account), altered)
        })
        .collect();
    let mut shared: BTreeMap<String, usize> = BTreeMap::new();
    for (stem, _, _) in &roles {
        *shared.entry(stem.to_ascii_lowercase()).or_default() += 1;
    }
    let stems: Vec<(String, bool)> = roles
        .iter()
        .map(|(stem, account, altered)| {
            if shared[&stem.to_ascii_lowercase()] > 1 && !account.is_empty() {
                (clean_stem(&format!("{account}-{stem}")).0, *altered)
            } else {
                (stem.clone(), *altered)
            }
        })
        .collect();
    let files = |stem: &str, role: &RoleProposal| -> Vec<String> {
        let n = role_documents(role).len();
        if n > 1 {
            (1..=n).map(|i| format!("{stem}-{i}.json")).collect()
        } else {
            vec![format!("{stem}.json")]
        }
    };
    let hashed = |stem: &str, role: &RoleProposal| -> Vec<String> {
        let hash = xxhash_rust::xxh3::xxh3_64(role.role_arn.as_bytes());
        files(&format!("{stem}-{:012x}", hash >> 16), role)
    };
    // A cleaned or cut name is told apart by its hash at once; a name kept as it was only where
    // its files would meet another role's.
    let first: Vec<Vec<String>> = stems
        .iter()
        .zip(&proposal.roles)
        .map(|((stem, altered), role)| {
            if *altered {
                hashed(stem, role)
            } else {
                files(stem, role)
            }
        })
        .collect();
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for f in first.iter().flatten() {
        *owners.entry(f.to_ascii_lowercase()).or_default() += 1;
    }
    first
        .into_iter()
        .zip(stems.iter().zip(&proposal.roles))
        .map(|(names, ((stem, altered), role))| {
            let meets_another = names.iter().any(|f| owners[&f.to_ascii_lowercase()] > 1);
            if meets_another && !altered {
                hashed(stem, role)
            } else {
                names
            }
        })
        .collect()
}

/// `name` with every character a file name should not hold replaced by `_`, cut at
/// [`MAX_STEM`] bytes; and whether anything was replaced or cut.
fn clean_stem(name: &str) -> (String, bool) {
    let mut stem = sanitize(name);
    stem.truncate(MAX_STEM);
    // `.` and `..` alone are directory names, not files.
    if stem.is_empty() || stem.chars().all(|c| c == '.') {
        stem = "role".to_string();
    }
    let altered = stem != name;
    (stem, altered)
}

/// Writes `body` to `path` through a new file beside it, renamed over `path`: whatever `path` was
/// (a file, a symlink to anywhere), it becomes this file and nothing else is written.
fn replace_file(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // A leftover of a run that died: remove it (a symlink is removed, not followed).
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let written = file.write_all(body).and_then(|()| file.sync_all());
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Keeps `[A-Za-z0-9+=,.@_-]` (IAM's own name characters), replacing anything else by `_`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::size::ManagedPolicy;

    fn row(role_arn: &str, param: &str) -> crate::store::EvidenceRow {
        crate::store::EvidenceRow::call(
            role_arn,
            "ssm:GetParameter",
            &format!("arn:aws:ssm:eu-west-1:111122223333:parameter/{param}"),
            "2026-11-02T00:00:00Z",
        )
    }

    /// Roles named by a trail, each reading its own parameter (so every policy differs).
    fn proposal(roles: &[&str]) -> Proposal {
        let rows: Vec<_> = roles.iter().map(|r| row(r, &r.replace('/', "_"))).collect();
        crate::synth::propose(&rows, &[], &[], &crate::synth::Options::default()).unwrap()
    }

    /// Every file `write_policy_files` said it wrote: inside `dir`, distinct, and holding the
    /// document of the role it was written for.
    fn assert_each_role_has_its_own_files(p: &Proposal, dir: &Path, written: &[PathBuf]) {
        let distinct: std::collections::BTreeSet<String> = written
            .iter()
            .map(|w| w.to_string_lossy().to_lowercase())
            .collect();
        assert_eq!(distinct.len(), written.len(), "{written:?}");
        let mut files = written.iter();
        for role in &p.roles {
            for (_, doc) in role_documents(role) {
                let file = files.next().expect("a file per document");
                assert_eq!(file.parent(), Some(dir), "{file:?}");
                let on_disk: PolicyDocument =
                    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
                assert_eq!(&on_disk, doc, "{file:?} holds another role's policy");
            }
        }
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), written.len());
    }

    #[test]
    fn names_that_clean_to_the_same_file_each_keep_their_own() {
        // `aé` and `a_` both clean to `a_`; `big`, split in two managed policies, would write
        // `big-1.json`, the file of the role `big-1`. Each used to overwrite the other.
        let mut p = proposal(&[
            "arn:aws:iam::111122223333:role/aé",
            "arn:aws:iam::111122223333:role/a_",
            "arn:aws:iam::111122223333:role/big",
            "arn:aws:iam::111122223333:role/big-1",
            "arn:aws:iam::111122223333:role/App",
            "arn:aws:iam::444455556666:role/app",
        ]);
        let big = p
            .roles
            .iter_mut()
            .find(|r| r.role_arn.ends_with("/big"))
            .unwrap();
        big.managed_policies = (1..=2)
            .map(|i| ManagedPolicy {
                name: format!("policy-miner-{i}"),
                characters: 0,
                document: big.policy.clone(),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let written = write_policy_files(&p, dir.path()).unwrap();
        assert_eq!(written.len(), 7);
        assert_each_role_has_its_own_files(&p, dir.path(), &written);
        // A name nothing had to change keeps its plain file name.
        assert!(
            written.iter().any(|w| w.ends_with("111122223333-a_.json")),
            "{written:?}"
        );
    }

    #[test]
    fn a_name_is_never_a_path_and_never_too_long_for_one() {
        let outside = tempfile::tempdir().unwrap();
        let escape = format!("/../../../../../../..{}/x", outside.path().display());
        let p = proposal(&[
            &format!("arn:aws:iam::{escape}:role/r"),
            "arn:aws:iam::111122223333:role/r",
            "arn:aws:iam::111122223333:role/..",
            &format!("arn:aws:iam::111122223333:role/{}", "n".repeat(300)),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let written = write_policy_files(&p, dir.path()).unwrap();
        assert_each_role_has_its_own_files(&p, dir.path(), &written);
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        for w in &written {
            assert!(w.file_name().unwrap().len() <= 120, "{w:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_in_the_directory_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("app.json")).unwrap();
        let p = proposal(&["arn:aws:iam::111122223333:role/app"]);
        let written = write_policy_files(&p, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&written[0]).unwrap().is_symlink());
        assert_each_role_has_its_own_files(&p, &out, &written);
    }
}
