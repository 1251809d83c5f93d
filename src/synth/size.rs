//! IAM's size limits, and splitting a role's policy into managed policies that respect them.
//!
//! IAM User Guide, "IAM and AWS STS quotas": the inline policies of one role may hold 10,240
//! characters together, a managed policy 6,144, and a role may have 10 managed policies attached
//! (20 with a quota increase). IAM does not count whitespace.

use super::{Finding, RoleProposal};
use crate::policy::{PolicyDocument, Statement};
use serde::Serialize;

pub const INLINE_LIMIT: usize = 10_240;
pub const MANAGED_LIMIT: usize = 6_144;
pub const MANAGED_PER_ROLE: usize = 10;

/// One managed policy of a split role policy.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedPolicy {
    /// A name IAM accepts (`[\w+=,.@-]`, at most 128 characters), unique per role.
    pub name: String,
    pub characters: usize,
    pub document: PolicyDocument,
}

/// The document's size as IAM counts it: its characters, whitespace excluded.
pub fn characters(doc: &PolicyDocument) -> usize {
    serde_json::to_string(doc)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// Turns an over-size inline proposal into managed policies of at most [`MANAGED_LIMIT`]
/// characters, and says so in a finding.
pub fn deliver(mut role: RoleProposal) -> RoleProposal {
    let parts = split(&role.policy, MANAGED_LIMIT);
    let base = role_name(&role.role_arn);
    role.managed_policies = parts
        .into_iter()
        .enumerate()
        .map(|(i, document)| ManagedPolicy {
            name: format!("{base}-policy-miner-{}", i + 1),
            characters: characters(&document),
            document,
        })
        .collect();
    role.delivery = "managed";
    role.findings.push(Finding {
        kind: "split-into-managed-policies",
        severity: "warning",
        message: format!(
            "the policy has {} characters, over the {INLINE_LIMIT} IAM allows for a role's \
             inline policies: it is split into {} managed policies of at most {MANAGED_LIMIT} \
             characters each, to create and attach to the role",
            role.policy_characters,
            role.managed_policies.len()
        ),
        ..Default::default()
    });
    role
}

/// A role name usable in managed-policy names: the last path segment of the role ARN, with any
/// character IAM refuses replaced; cut so that the suffix fits in 128 characters.
fn role_name(role_arn: &str) -> String {
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if clean.is_empty() {
        "role".to_string()
    } else {
        clean
    }
}

/// Packs the statements in order into documents of at most `limit` characters. A statement too
/// large for one document is first cut into statements over fewer resources (same actions and
/// condition), so nothing is lost and nothing is widened.
///
/// Sizes add up: a JSON list's size is its items' sizes plus one comma between each two, so the
/// packing is computed without serializing a document per step.
pub fn split(doc: &PolicyDocument, limit: usize) -> Vec<PolicyDocument> {
    let empty = characters(&PolicyDocument::new(Vec::new()));
    let mut docs: Vec<PolicyDocument> = Vec::new();
    let mut current: Vec<Statement> = Vec::new();
    let mut size = empty;
    for st in doc.statement.iter().flat_map(|st| cut(st, limit - empty)) {
        let add = json_chars(&st) + usize::from(!current.is_empty());
        if !current.is_empty() && size + add > limit {
            docs.push(PolicyDocument::new(std::mem::take(&mut current)));
            size = empty;
        }
        size += json_chars(&st) + usize::from(!current.is_empty());
        current.push(st);
    }
    if !current.is_empty() {
        docs.push(PolicyDocument::new(current));
    }
    docs
}

/// Characters of a value's JSON, whitespace not counted.
fn json_chars<T: Serialize>(v: &T) -> usize {
    serde_json::to_string(v)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// One statement as statements of at most `limit` characters each (when a single resource fits;
/// IAM would refuse a longer one anyway).
fn cut(st: &Statement, limit: usize) -> Vec<Statement> {
    let resources = match &st.resource {
        Some(r) if r.len() > 1 && json_chars(st) > limit => r.clone(),
        _ => return vec![st.clone()],
    };
    let sid = st.sid.clone().unwrap_or_default();
    // The statement without resources, with room for the longest part number in its Sid.
    let mut shell = st.clone();
    shell.resource = Some(Vec::new());
    shell.sid = Some(format!("{sid}Part{}", resources.len()));
    let base = json_chars(&shell);
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut size = base;
    for r in resources {
        let group = groups.last_mut().unwrap_or_else(|| unreachable!());
        let add = json_chars(&r) + usize::from(!group.is_empty());
        if !group.is_empty() && size + add > limit {
            groups.push(vec![r.clone()]);
            size = base + json_chars(&r);
        } else {
            size += add;
            group.push(r);
        }
    }
    let parts = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut part = st.clone();
            part.resource = Some(g);
            if parts > 1 {
                part.sid = Some(format!("{sid}Part{}", i + 1));
            }
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::eval::{evaluate, Context, Decision, Request};

    fn big(n: usize) -> PolicyDocument {
        let queues = (0..n)
            .map(|i| format!("arn:aws:sqs:eu-west-1:111122223333:orders-events-queue-{i:04}"))
            .collect();
        let mut st = Statement::allow(vec!["sqs:SendMessage".into()], queues);
        st.sid = Some("Sqs1".into());
        let mut other =
            Statement::allow(vec!["s3:GetObject".into()], vec!["arn:aws:s3:::b/k".into()]);
        other.sid = Some("S31".into());
        PolicyDocument::new(vec![st, other])
    }

    #[test]
    fn whitespace_is_not_counted() {
        let doc = big(1);
        let pretty = serde_json::to_string_pretty(&doc).unwrap();
        assert_eq!(
            characters(&doc),
            pretty.chars().filter(|c| !c.is_whitespace()).count()
        );
        assert!(characters(&doc) < serde_json::to_string(&doc).unwrap().len() + 1);
    }

    #[test]
    fn split_parts_fit_and_allow_exactly_the_same_requests() {
        let doc = big(400);
        assert!(characters(&doc) > INLINE_LIMIT);
        let parts = split(&doc, MANAGED_LIMIT);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(characters(p) <= MANAGED_LIMIT, "{}", characters(p));
        }
        let ctx = Context::new();
        for i in [0, 1, 199, 399] {
            let q = format!("arn:aws:sqs:eu-west-1:111122223333:orders-events-queue-{i:04}");
            let req = Request {
                action: "sqs:SendMessage",
                resource: &q,
                context: &ctx,
            };
            assert_eq!(evaluate(&parts, &req), Decision::Allow, "{q}");
        }
        let req = Request {
            action: "sqs:SendMessage",
            resource: "arn:aws:sqs:eu-west-1:111122223333:orders-events-queue-0400",
            context: &ctx,
        };
        assert_eq!(evaluate(&parts, &req), Decision::ImplicitDeny);
        let count = |docs: &[PolicyDocument]| -> usize {
            docs.iter()
                .flat_map(|d| &d.statement)
                .map(|s| s.resource.as_ref().map_or(0, Vec::len))
                .sum()
        };
        assert_eq!(count(&parts), count(std::slice::from_ref(&doc)));
        let sids: std::collections::BTreeSet<_> = parts
            .iter()
            .flat_map(|d| &d.statement)
            .map(|s| s.sid.clone())
            .collect();
        assert_eq!(
            sids.len(),
            parts.iter().map(|d| d.statement.len()).sum::<usize>()
        );
    }

    #[test]
    fn a_small_policy_stays_one_document() {
        let doc = big(3);
        assert_eq!(split(&doc, MANAGED_LIMIT), vec![doc]);
    }
}
