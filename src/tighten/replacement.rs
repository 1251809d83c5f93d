//! The document tighten would write: the mined proposal plus what must survive any tightening,
//! carried over from the current policies, and the IAM size limits it must fit.

use super::compare::statement_name;
use crate::policy::eval::action_matches;
use crate::policy::{Effect, PolicyDocument, Statement};
use serde::Serialize;

/// Statements whose Sid starts with this are opted out of tightening: kept verbatim.
pub const NOREPO_PREFIX: &str = "NOREPO";

/// Actions CloudTrail never records: absence of evidence says nothing about them. `iam:PassRole`
/// is an authorization checked inside another call; `logs:PutLogEvents` is the awslogs driver's
/// data plane. Removing either would break tasks that work today.
const NEVER_IN_CLOUDTRAIL: &[&str] = &["iam:PassRole", "logs:PutLogEvents"];

/// IAM's limit for the inline policies of one role together, in characters other than whitespace.
/// (The 6,144 limit of a managed policy never applies: tighten writes no managed policy.)
pub const INLINE_LIMIT: usize = 10_240;

#[derive(Debug, Clone, Copy)]
pub struct CarryOptions {
    /// Keep NOREPO statements (false only with `--touch-norepo`).
    pub norepo: bool,
    /// Keep `iam:PassRole` (false only with `--allow-passrole-removal`).
    pub pass_role: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Carried {
    pub why: String,
    pub source: String,
    pub statement: Statement,
}

/// Builds the replacement document: the proposal's statements, then the carried-over ones.
pub fn build(
    proposal: &PolicyDocument,
    current: &[(String, &PolicyDocument)],
    opts: CarryOptions,
) -> (PolicyDocument, Vec<Carried>) {
    let mut carried: Vec<Carried> = Vec::new();
    let push = |c: Carried, list: &mut Vec<Carried>| {
        if !list.iter().any(|x| x.statement == c.statement) {
            list.push(c);
        }
    };
    for (label, doc) in current {
        for (i, st) in doc.statement.iter().enumerate() {
            let source = format!("{label}, statement {}", statement_name(st, i));
            let norepo = st
                .sid
                .as_deref()
                .is_some_and(|s| s.starts_with(NOREPO_PREFIX));
            if norepo && opts.norepo {
                push(
                    Carried {
                        why: format!("Sid starts with {NOREPO_PREFIX}: never touched"),
                        source,
                        statement: st.clone(),
                    },
                    &mut carried,
                );
                continue;
            }
            if st.effect != Effect::Allow {
                continue;
            }
            for action in NEVER_IN_CLOUDTRAIL {
                if *action == "iam:PassRole" && !opts.pass_role {
                    continue;
                }
                let granted = match (&st.action, &st.not_action) {
                    (Some(p), _) => p.iter().any(|p| action_matches(p, action)),
                    (None, Some(n)) => !n.iter().any(|p| action_matches(p, action)),
                    (None, None) => false,
                };
                let proposed = proposal
                    .statement
                    .iter()
                    .any(|p| p.action.iter().flatten().any(|a| action_matches(a, action)));
                if !granted || proposed {
                    continue;
                }
                let why = if *action == "iam:PassRole" {
                    "iam:PassRole is never removed (CloudTrail does not record it)".to_string()
                } else {
                    format!("{action} is never in CloudTrail: kept as granted today")
                };
                push(
                    Carried {
                        why,
                        source: source.clone(),
                        statement: Statement {
                            sid: None,
                            effect: Effect::Allow,
                            action: Some(vec![action.to_string()]),
                            not_action: None,
                            resource: st.resource.clone(),
                            not_resource: st.not_resource.clone(),
                            condition: st.condition.clone(),
                        },
                    },
                    &mut carried,
                );
            }
        }
    }
    let mut statements = proposal.statement.clone();
    let mut sids: std::collections::BTreeSet<String> =
        statements.iter().filter_map(|s| s.sid.clone()).collect();
    let mut n = 0;
    for c in &mut carried {
        let st = &mut c.statement;
        match &st.sid {
            // A Sid must be unique in a document; a clash between two policies gets a suffix
            // that keeps the NOREPO prefix.
            Some(sid) if sids.contains(sid) => {
                let mut k = 2;
                while sids.contains(&format!("{sid}{k}")) {
                    k += 1;
                }
                st.sid = Some(format!("{sid}{k}"));
            }
            Some(_) => {}
            None => loop {
                n += 1;
                let sid = format!("CarriedOver{n}");
                if !sids.contains(&sid) {
                    st.sid = Some(sid);
                    break;
                }
            },
        }
        if let Some(sid) = &st.sid {
            sids.insert(sid.clone());
        }
        statements.push(st.clone());
    }
    let mut doc = PolicyDocument::new(statements);
    doc.version = proposal.version.clone();
    (doc, carried)
}

/// IAM's size measure: characters other than whitespace.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The replacement as written: compact JSON.
pub fn to_text(doc: &PolicyDocument) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> PolicyDocument {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn norepo_statements_and_passrole_survive_and_nothing_else_is_added() {
        let proposal = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"S31","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}"#,
        );
        let current = doc(r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:*","Resource":"*"},
                {"Sid":"NOREPOKeepQueue","Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:eu-west-1:1:q"},
                {"Effect":"Allow","Action":["iam:PassRole","ec2:*"],"Resource":"arn:aws:iam::1:role/app",
                 "Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}"#);
        let opts = CarryOptions {
            norepo: true,
            pass_role: true,
        };
        let (out, carried) = build(&proposal, &[("inline policy broad".into(), &current)], opts);
        assert_eq!(carried.len(), 2);
        assert_eq!(out.statement.len(), 3);
        assert_eq!(out.statement[1], current.statement[1]);
        let pass = &out.statement[2];
        assert_eq!(pass.action, Some(vec!["iam:PassRole".to_string()]));
        assert_eq!(pass.resource, current.statement[2].resource);
        assert_eq!(pass.condition, current.statement[2].condition);

        let off = CarryOptions {
            norepo: false,
            pass_role: false,
        };
        let (out, carried) = build(&proposal, &[("x".into(), &current)], off);
        assert!(carried.is_empty());
        assert_eq!(out, proposal);
    }

    #[test]
    fn size_counts_everything_but_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n\t\"b c\" }"), 10);
    }
}
