//! Checks a replacement must pass before it is written: IAM Access Analyzer when it answers
//! (ValidatePolicy: no ERROR or SECURITY_WARNING; CheckNoNewAccess: PASS against the current
//! policies), and always the built-in ones (every action in the catalog, every ARN accepted by its
//! action, nothing allowed that the current policies do not allow, by the IAM evaluator).

use super::aws::{describe, AwsError};
use super::compare::statement_actions;
use super::pattern;
use crate::catalog::Catalog;
use crate::policy::eval::{
    action_matches, evaluate, statement_matches, Context, Decision, Request,
};
use crate::policy::{Effect, PolicyDocument, Statement};
use aws_sdk_accessanalyzer::types::{
    AccessCheckPolicyType, CheckNoNewAccessResult, PolicyType, ValidatePolicyFindingType,
};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// `Access Analyzer and built-in checks`, or `built-in checks (Access Analyzer unavailable:
    /// <reason>)`.
    pub method: String,
    pub passed: bool,
    pub problems: Vec<String>,
    /// Findings that do not block (WARNING, SUGGESTION).
    pub notes: Vec<String>,
}

/// What Access Analyzer said about one replacement.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerVerdict {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// ValidatePolicy on the replacement, then CheckNoNewAccess of the replacement against the
/// current policies combined into one document. `Err` means Access Analyzer could not be asked
/// (unreachable, not implemented there, not permitted), not that the policy failed.
pub async fn access_analyzer(
    client: &aws_sdk_accessanalyzer::Client,
    replacement: &str,
    existing: &str,
) -> Result<AnalyzerVerdict, AwsError> {
    let mut verdict = AnalyzerVerdict::default();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .validate_policy()
            .policy_document(replacement)
            .policy_type(PolicyType::IdentityPolicy)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| describe(&e, "access-analyzer:ValidatePolicy", "the proposal"))?;
        for f in page.findings() {
            let line = format!(
                "ValidatePolicy {} {}: {}",
                f.finding_type().as_str(),
                f.issue_code(),
                f.finding_details()
            );
            match f.finding_type() {
                ValidatePolicyFindingType::Error | ValidatePolicyFindingType::SecurityWarning => {
                    verdict.problems.push(line)
                }
                _ => verdict.notes.push(line),
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let out = client
        .check_no_new_access()
        .new_policy_document(replacement)
        .existing_policy_document(existing)
        .policy_type(AccessCheckPolicyType::IdentityPolicy)
        .send()
        .await
        .map_err(|e| describe(&e, "access-analyzer:CheckNoNewAccess", "the proposal"))?;
    match out.result() {
        Some(CheckNoNewAccessResult::Pass) => {}
        other => {
            let reasons: Vec<String> = out
                .reasons()
                .iter()
                .map(|r| {
                    format!(
                        "{}{}",
                        r.description().unwrap_or("no description"),
                        r.statement_id()
                            .map(|s| format!(" (statement {s})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            verdict.problems.push(format!(
                "CheckNoNewAccess {}: {}{}",
                other.map(|r| r.as_str()).unwrap_or("no result"),
                out.message()
                    .unwrap_or("the proposal grants access the current policies do not"),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", reasons.join("; "))
                }
            ));
        }
    }
    Ok(verdict)
}

/// The current policies as one document, for CheckNoNewAccess's single `existingPolicyDocument`.
pub fn combined(current: &[&PolicyDocument]) -> PolicyDocument {
    PolicyDocument::new(
        current
            .iter()
            .flat_map(|d| d.statement.iter().cloned())
            .collect(),
    )
}

/// The built-in checks on the mined part of the replacement (carried statements come verbatim
/// from the current policies). Returns the problems found.
pub fn built_in(
    catalog: &Catalog,
    mined: &PolicyDocument,
    current: &[&PolicyDocument],
) -> Vec<String> {
    let mut problems = Vec::new();
    let current_owned: Vec<PolicyDocument> = current.iter().map(|d| (*d).clone()).collect();
    for (i, st) in mined.statement.iter().enumerate() {
        if st.effect != Effect::Allow {
            continue;
        }
        for a in st.action.iter().flatten() {
            if catalog.expand_actions(a).is_empty() {
                problems.push(format!(
                    "statement {i}: action {a} is not in the IAM catalog"
                ));
            }
        }
        let actions = statement_actions(catalog, st);
        for r in st.resource.iter().flatten() {
            if r == "*" {
                continue;
            }
            for a in &actions {
                let accepted = catalog.action(a).is_some_and(|act| {
                    act.accepts_arn(&pattern::as_text(r, &mined.version))
                        .is_some()
                        || !act.resource_types_matching(r).is_empty()
                });
                if !accepted {
                    problems.push(format!(
                        "statement {i}: {a} does not accept the resource {r} (no resource type of \
                         the action has that ARN format)"
                    ));
                }
            }
        }
        for context in contexts(st) {
            for a in &actions {
                for r in st.resource.iter().flatten() {
                    if let Some(why) = new_access(&current_owned, a, r, &mined.version, &context) {
                        problems.push(format!("statement {i}: new access: {why}"));
                    }
                }
            }
        }
    }
    problems
}

/// Why (action, resource pattern) under `context` is not allowed by the current documents, or
/// None when it is.
fn new_access(
    current: &[PolicyDocument],
    action: &str,
    resource: &str,
    version: &str,
    context: &Context,
) -> Option<String> {
    let text = pattern::as_text(resource, version);
    let req = Request {
        action,
        resource: &text,
        context,
    };
    if evaluate(current, &req) != Decision::Allow {
        return Some(format!(
            "{action} on {resource} is not allowed by the current policies"
        ));
    }
    if !pattern::has_wildcard(resource, version) {
        return None;
    }
    // One request cannot stand for a wildcard: some Allow statement must cover the whole pattern,
    // and no Deny may carve a part of it out.
    let covered = current.iter().any(|doc| {
        doc.statement.iter().any(|st| {
            st.effect == Effect::Allow
                && statement_matches(doc, st, &req)
                && st
                    .resource
                    .iter()
                    .flatten()
                    .any(|w| pattern::covers(w, &doc.version, resource, version))
        })
    });
    if !covered {
        return Some(format!(
            "{action} on {resource}: no current statement covers the whole pattern"
        ));
    }
    let deny = current.iter().any(|doc| {
        doc.statement.iter().any(|st| {
            st.effect == Effect::Deny
                && match (&st.action, &st.not_action) {
                    (Some(p), _) => p.iter().any(|p| action_matches(p, action)),
                    (None, Some(n)) => !n.iter().any(|p| action_matches(p, action)),
                    (None, None) => false,
                }
        })
    });
    deny.then(|| {
        format!(
            "{action} on {resource}: a current Deny statement names {action} and may exclude part \
             of the pattern"
        )
    })
}

/// Request contexts that satisfy a statement's conditions as the proposal writes them (one value
/// per key at a time), so that the current policies are asked about the same requests. At most
/// 64 combinations.
fn contexts(st: &Statement) -> Vec<Context> {
    let mut out = vec![Context::new()];
    for keys in st.condition.values() {
        for (key, values) in keys {
            let mut next = Vec::new();
            for ctx in &out {
                for v in values {
                    let mut c = ctx.clone();
                    c.insert(key.clone(), vec![v.clone()]);
                    next.push(c);
                }
            }
            if !next.is_empty() {
                next.truncate(64);
                out = next;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> PolicyDocument {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn narrower_proposals_pass_and_wider_ones_are_named() {
        let c = crate::catalog::embedded();
        let current = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b/in/*"}]}"#,
        );
        let ok = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/in/x/*"}]}"#,
        );
        assert_eq!(built_in(c, &ok, &[&current]), Vec::<String>::new());
        let wider = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        let problems = built_in(c, &wider, &[&current]);
        assert!(
            problems.iter().any(|p| p.contains("s3:PutObject")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("s3:GetObject on arn:aws:s3:::b/*")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_actions_and_wrong_arns_are_refused() {
        let c = crate::catalog::embedded();
        let current = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        let bad = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObjects"],"Resource":"*"},
               {"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":"arn:aws:s3:::b"}]}"#,
        );
        let problems = built_in(c, &bad, &[&current]);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("s3:GetObjects is not in the IAM catalog")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("sqs:SendMessage does not accept")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_deny_inside_a_wildcard_is_new_access() {
        let c = crate::catalog::embedded();
        let current = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
               {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"}]}"#,
        );
        let mined = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        let problems = built_in(c, &mined, &[&current]);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
