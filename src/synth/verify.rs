//! Replaying observed calls against policies: the check behind `propose` (which refuses to emit a
//! policy that would deny one) and `policy-miner verify` (which lists them).

use crate::policy::escape::unescape_literal;
use crate::policy::eval::{Context, Decision, PreparedPolicies, Request};
use crate::policy::PolicyDocument;
use crate::store::EvidenceRow;
use serde::Serialize;

/// An observed successful call the policies would not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncovered {
    pub role_arn: String,
    pub action: String,
    /// The request's resource, as the call named it (not escaped).
    pub resource: String,
    /// The condition context the call was replayed with (e.g. `kms:ViaService`).
    #[serde(skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    /// `implicit deny` (no statement allows it) or `explicit deny` (a Deny statement matches).
    pub decision: &'static str,
}

/// The request an evidence row stands for: its action, its resource as a literal (rows hold
/// policy syntax, with `*`, `?` and `$` escaped), and its condition context.
pub fn request_context(row: &EvidenceRow) -> (String, Context) {
    (unescape_literal(&row.resource), context(&row.condition))
}

/// The stored condition context (a JSON object of key → string or list of strings) as the
/// evaluator's context; an empty or unreadable one is empty.
pub fn context(condition: &str) -> Context {
    let mut out = Context::new();
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(condition) else {
        return out;
    };
    for (k, v) in map {
        let values = match v {
            serde_json::Value::Array(items) => items.iter().map(scalar).collect(),
            other => vec![scalar(&other)],
        };
        out.insert(k, values);
    }
    out
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every successful row of `rows` that `policies` (all attached to the same role) would deny.
pub fn replay(policies: &[PolicyDocument], rows: &[&EvidenceRow]) -> Vec<Uncovered> {
    let prepared = PreparedPolicies::new(policies);
    rows.iter()
        .filter(|r| r.error_code.is_empty())
        .filter_map(|r| {
            let (resource, context) = request_context(r);
            let req = Request {
                action: &r.action,
                resource: &resource,
                context: &context,
            };
            let decision = match prepared.evaluate(&req) {
                Decision::Allow => return None,
                Decision::ExplicitDeny => "explicit deny",
                Decision::ImplicitDeny => "implicit deny",
            };
            Some(Uncovered {
                role_arn: r.role_arn.clone(),
                action: r.action.clone(),
                resource,
                context,
                count: r.count,
                first_seen: r.first_seen.clone(),
                last_seen: r.last_seen.clone(),
                example_event_id: r.example_event_id.clone(),
                decision,
            })
        })
        .collect()
}

/// What replaying one role's successful calls against its policies found.
#[derive(Debug, Clone, Serialize)]
pub struct RoleReport {
    pub role_arn: String,
    /// Successful call records (role, action, resource, context) replayed, and the calls they
    /// count.
    pub records: usize,
    pub calls: i64,
    /// Set when the policies have none for the role: every call of it is uncovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub uncovered: Vec<Uncovered>,
}

/// `verify`'s answer: each role's calls replayed against `source` (the proposal, or a file).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub checked_against: String,
    pub roles: Vec<RoleReport>,
    pub uncovered_total: usize,
}

impl Verification {
    /// Replays each role's successful rows of `by_role` against its documents in `policies`.
    pub fn replay(
        source: String,
        policies: &PolicySet,
        by_role: &std::collections::BTreeMap<&str, Vec<&EvidenceRow>>,
    ) -> Verification {
        let mut roles = Vec::new();
        for (role, rows) in by_role {
            // A call recorded without its resource (SDK monitoring, an S3 DeleteObjects whose
            // keys CloudTrail leaves out) names nothing to replay, as in `propose`'s own check.
            let successful: Vec<&EvidenceRow> = rows
                .iter()
                .copied()
                .filter(|r| r.error_code.is_empty() && r.resource != crate::store::UNKNOWN_RESOURCE)
                .collect();
            let docs = match policies {
                PolicySet::Unnamed(docs) => Some(docs),
                PolicySet::PerRole(map) => policies_of(map, role),
            };
            let (uncovered, note) = match docs {
                Some(docs) => (replay(docs, &successful), None),
                None => (
                    replay(&[], &successful),
                    Some(format!("{source} has no policy for this role")),
                ),
            };
            roles.push(RoleReport {
                role_arn: role.to_string(),
                records: successful.len(),
                calls: successful.iter().map(|r| r.count).sum(),
                note,
                uncovered,
            });
        }
        Verification {
            checked_against: source,
            uncovered_total: roles.iter().map(|r| r.uncovered.len()).sum(),
            roles,
        }
    }
}

/// The documents of `role` in a per-role set: by exact ARN, else by account and role name (a
/// policy file may name the role without its path).
fn policies_of<'a>(
    map: &'a std::collections::BTreeMap<String, Vec<PolicyDocument>>,
    role: &str,
) -> Option<&'a Vec<PolicyDocument>> {
    use crate::attribution::RoleKey;
    map.get(role).or_else(|| {
        let key = RoleKey::parse(role)?;
        map.iter()
            .find(|(k, _)| RoleKey::parse(k).as_ref() == Some(&key))
            .map(|(_, v)| v)
    })
}

/// Policies read from a file for `verify --policy`.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySet {
    /// Documents of one role, which the file does not name.
    Unnamed(Vec<PolicyDocument>),
    /// Documents per role ARN.
    PerRole(std::collections::BTreeMap<String, Vec<PolicyDocument>>),
}

impl PolicySet {
    /// Reads every shape the tool writes or AWS prints: one policy document; a JSON list of them
    /// (the policies of one role); `aws iam get-role-policy` or `get-policy-version` output;
    /// `propose --format json` output (each role's `policy`); `propose --format iam` output
    /// (role ARN → document or list of documents).
    pub fn parse(text: &str) -> Result<PolicySet, PolicyFileError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(PolicyFileError::NotJson)?;
        if let Some(roles) = value.get("roles").and_then(|r| r.as_array()) {
            let mut out = std::collections::BTreeMap::new();
            for (i, r) in roles.iter().enumerate() {
                let arn = r
                    .get("role_arn")
                    .and_then(|a| a.as_str())
                    .ok_or(PolicyFileError::NoRoleArn(i))?;
                let policy = r.get("policy").ok_or_else(|| PolicyFileError::NoPolicy {
                    index: i,
                    role_arn: arn.to_string(),
                })?;
                out.insert(
                    arn.to_string(),
                    vec![document(policy, &format!("roles[{i}].policy"))?],
                );
            }
            return Ok(PolicySet::PerRole(out));
        }
        if let Some(docs) = documents(&value, "the file")? {
            return Ok(PolicySet::Unnamed(docs));
        }
        let serde_json::Value::Object(map) = &value else {
            return Err(not_a_policy("the file"));
        };
        let mut out = std::collections::BTreeMap::new();
        for (role, v) in map {
            let docs = documents(v, role)?.ok_or_else(|| not_a_policy(role))?;
            out.insert(role.clone(), docs);
        }
        Ok(PolicySet::PerRole(out))
    }
}

/// Why a file is not policies [`PolicySet::parse`] reads; `what` names the part of the file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("roles[{0}] has no role_arn")]
    NoRoleArn(usize),
    #[error("roles[{index}] ({role_arn}) has no policy")]
    NoPolicy { index: usize, role_arn: String },
    #[error(
        "{what} is not an IAM policy document (no \"Statement\"), a list of them, \
         `propose --format json` or `--format iam` output"
    )]
    NotAPolicy { what: String },
    #[error("{what}: PolicyDocument is not JSON: {error}")]
    EmbeddedNotJson {
        what: String,
        error: serde_json::Error,
    },
    #[error("{what}: not a valid policy document: {error}")]
    NotAValidPolicy {
        what: String,
        error: serde_json::Error,
    },
}

fn not_a_policy(what: &str) -> PolicyFileError {
    PolicyFileError::NotAPolicy {
        what: what.to_string(),
    }
}

/// The documents a value holds, if it is a document, a wrapper of one, or a list of those.
fn documents(
    v: &serde_json::Value,
    what: &str,
) -> Result<Option<Vec<PolicyDocument>>, PolicyFileError> {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                documents(item, &format!("{what}[{i}]"))?
                    .ok_or_else(|| not_a_policy(&format!("{what}[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|d| Some(d.into_iter().flatten().collect())),
        serde_json::Value::Object(map) => {
            if map.contains_key("Statement") {
                return document(v, what).map(|d| Some(vec![d]));
            }
            // get-role-policy: {"PolicyDocument": …}; get-policy-version: {"PolicyVersion": {"Document": …}}.
            let inner = map
                .get("PolicyDocument")
                .or_else(|| map.get("PolicyVersion").and_then(|p| p.get("Document")));
            match inner {
                Some(serde_json::Value::String(text)) => {
                    let parsed: serde_json::Value =
                        serde_json::from_str(text).map_err(|error| {
                            PolicyFileError::EmbeddedNotJson {
                                what: what.to_string(),
                                error,
                            }
                        })?;
                    document(&parsed, what).map(|d| Some(vec![d]))
                }
                Some(doc) => document(doc, what).map(|d| Some(vec![d])),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn document(v: &serde_json::Value, what: &str) -> Result<PolicyDocument, PolicyFileError> {
    serde_json::from_value(v.clone()).map_err(|error| PolicyFileError::NotAValidPolicy {
        what: what.to_string(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Statement;

    fn row(action: &str, resource: &str, condition: &str, error: &str) -> EvidenceRow {
        EvidenceRow {
            role_arn: "arn:aws:iam::1:role/r".into(),
            action: action.into(),
            resource: resource.into(),
            condition: condition.into(),
            error_code: error.into(),
            count: 2,
            first_seen: "2026-11-02T00:00:00Z".into(),
            last_seen: "2026-11-03T00:00:00Z".into(),
            example_event_id: "ev-1".into(),
            event_source: String::new(),
            event_name: String::new(),
            rule: String::new(),
            callers: Default::default(),
        }
    }

    #[test]
    fn policy_files_in_every_shape() {
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
        let one = PolicySet::parse(doc).unwrap();
        assert!(matches!(&one, PolicySet::Unnamed(d) if d.len() == 1));
        let list = PolicySet::parse(&format!("[{doc},{doc}]")).unwrap();
        assert!(matches!(&list, PolicySet::Unnamed(d) if d.len() == 2));
        let aws = PolicySet::parse(&format!(
            r#"{{"RoleName":"r","PolicyName":"p","PolicyDocument":{}}}"#,
            serde_json::to_string(doc).unwrap()
        ))
        .unwrap();
        assert_eq!(aws, one);
        let iam = PolicySet::parse(&format!(
            r#"{{"arn:aws:iam::1:role/a":{doc},"arn:aws:iam::1:role/b":[{doc},{doc}]}}"#
        ))
        .unwrap();
        let PolicySet::PerRole(map) = iam else {
            panic!()
        };
        assert_eq!(
            (
                map["arn:aws:iam::1:role/a"].len(),
                map["arn:aws:iam::1:role/b"].len()
            ),
            (1, 2)
        );
        let proposal = PolicySet::parse(&format!(
            r#"{{"roles":[{{"role_arn":"arn:aws:iam::1:role/a","policy":{doc}}}]}}"#
        ))
        .unwrap();
        assert!(matches!(proposal, PolicySet::PerRole(m) if m.len() == 1));
        for bad in [
            "{",
            "[1]",
            r#"{"a":{"b":1}}"#,
            r#"{"Statement":[{"Effect":"Maybe"}]}"#,
        ] {
            assert!(PolicySet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn denies_are_listed_with_their_context_and_failures_are_not_replayed() {
        let mut kms = Statement::allow(
            vec!["kms:Decrypt".into()],
            vec!["arn:aws:kms:r:1:key/k".into()],
        );
        kms.condition.insert(
            "StringEquals".into(),
            [(
                "kms:ViaService".to_string(),
                vec!["ssm.r.amazonaws.com".to_string()],
            )]
            .into(),
        );
        let star = Statement::allow(
            vec!["s3:GetObject".into()],
            vec!["arn:aws:s3:::b/${*}".into()],
        );
        let doc = PolicyDocument::new(vec![kms, star]);
        let rows = [
            row(
                "kms:Decrypt",
                "arn:aws:kms:r:1:key/k",
                r#"{"kms:ViaService":"ssm.r.amazonaws.com"}"#,
                "",
            ),
            row(
                "kms:Decrypt",
                "arn:aws:kms:r:1:key/k",
                r#"{"kms:ViaService":"s3.r.amazonaws.com"}"#,
                "",
            ),
            // The stored resource is escaped: this row is the object literally named `*`.
            row("s3:GetObject", "arn:aws:s3:::b/${*}", "", ""),
            row("s3:GetObject", "arn:aws:s3:::b/x", "", ""),
            row("s3:PutObject", "arn:aws:s3:::b/x", "", "AccessDenied"),
        ];
        let refs: Vec<&EvidenceRow> = rows.iter().collect();
        let out = replay(&[doc], &refs);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|u| (u.action.as_str(), u.resource.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("kms:Decrypt", "arn:aws:kms:r:1:key/k"),
                ("s3:GetObject", "arn:aws:s3:::b/x")
            ]
        );
        assert_eq!(out[0].context["kms:ViaService"], ["s3.r.amazonaws.com"]);
        assert_eq!(out[1].decision, "implicit deny");
    }

    #[test]
    fn a_call_recorded_without_its_resource_is_not_replayed() {
        let doc = PolicyDocument::new(vec![Statement::allow(
            vec!["s3:DeleteObject".into()],
            vec!["arn:aws:s3:::b/in/a.csv".into()],
        )]);
        let rows = [
            row("s3:DeleteObject", "arn:aws:s3:::b/in/a.csv", "", ""),
            // An S3 DeleteObjects as CloudTrail logs it: its keys left out.
            row("s3:DeleteObject", crate::store::UNKNOWN_RESOURCE, "", ""),
        ];
        let by_role: std::collections::BTreeMap<&str, Vec<&EvidenceRow>> =
            [(rows[0].role_arn.as_str(), rows.iter().collect())].into();
        let v = Verification::replay("p".into(), &PolicySet::Unnamed(vec![doc]), &by_role);
        assert_eq!(v.uncovered_total, 0, "{v:?}");
        assert_eq!(v.roles[0].records, 1);
    }
}
