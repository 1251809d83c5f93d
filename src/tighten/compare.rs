//! Current permissions against evidence and replacement: what is granted and never used, what is
//! granted more broadly than it was used, and what was used but is not granted today.

use super::pattern;
use crate::catalog::Catalog;
use crate::policy::eval::{action_matches, evaluate, Context, Decision, Request};
use crate::policy::{Effect, PolicyDocument, Statement};
use crate::store::EvidenceRow;
use crate::synth::RoleProposal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Actions of one service granted today that the replacement does not grant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnusedActions {
    pub service: String,
    /// How many of the service's actions the current policies grant.
    pub granted: usize,
    /// Every action of the service is granted and none is kept: `unused` is just `<service>:*`.
    pub whole_service: bool,
    pub unused: Vec<String>,
}

/// A current grant wider than what the evidence needs for an action that was used.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BroaderGrant {
    pub action: String,
    /// The current Resource pattern (or `NotResource [...]`).
    pub granted: String,
    /// Which policy and statement grant it.
    pub source: String,
    /// What the replacement grants the action on.
    pub proposed: Vec<String>,
}

/// A call the role made that the current policies would deny.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailingCall {
    pub action: String,
    pub resource: String,
    pub count: i64,
    pub last_seen: String,
    /// `succeeded in the trail, denied by the current policies` or the CloudTrail error code.
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Comparison {
    pub unused_actions: Vec<UnusedActions>,
    pub broader_resources: Vec<BroaderGrant>,
    pub failing_today: Vec<FailingCall>,
}

impl Comparison {
    /// Whether the replacement would take anything away.
    pub fn can_tighten(&self) -> bool {
        !self.unused_actions.is_empty() || !self.broader_resources.is_empty()
    }
}

/// The catalog actions an Allow statement's Action / NotAction names (any resource).
pub fn statement_actions(catalog: &Catalog, st: &Statement) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(patterns) = &st.action {
        for p in patterns {
            out.extend(catalog.expand_actions(p).iter().map(|a| a.full_name()));
        }
    } else if let Some(excluded) = &st.not_action {
        for a in catalog.expand_actions("*") {
            let name = a.full_name();
            if !excluded.iter().any(|p| action_matches(p, &name)) {
                out.insert(name);
            }
        }
    }
    out
}

/// Actions the documents allow on some resource, less those denied everywhere unconditionally.
pub fn allowed_actions(catalog: &Catalog, docs: &[&PolicyDocument]) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for doc in docs {
        for st in &doc.statement {
            match st.effect {
                Effect::Allow => allowed.extend(statement_actions(catalog, st)),
                Effect::Deny => {
                    let everywhere = st.condition.is_empty()
                        && st.not_resource.is_none()
                        && st.resource.as_deref() == Some(&["*".to_string()][..]);
                    if everywhere {
                        denied.extend(statement_actions(catalog, st));
                    }
                }
            }
        }
    }
    allowed.retain(|a| !denied.contains(a));
    allowed
}

pub fn compare(
    catalog: &Catalog,
    current: &[(String, &PolicyDocument)],
    replacement: &PolicyDocument,
    proposal: &RoleProposal,
    evidence: &[&EvidenceRow],
) -> Comparison {
    let current_docs: Vec<&PolicyDocument> = current.iter().map(|(_, d)| *d).collect();
    let granted = allowed_actions(catalog, &current_docs);
    let kept = allowed_actions(catalog, &[replacement]);
    let unused_actions = unused_by_service(catalog, &granted, &kept);

    let mut broader_resources = Vec::new();
    let used: BTreeSet<String> = proposal
        .policy
        .statement
        .iter()
        .flat_map(|st| statement_actions(catalog, st))
        .collect();
    for action in &used {
        let proposed: Vec<String> = replacement
            .statement
            .iter()
            .filter(|st| st.effect == Effect::Allow && allows_action(st, action))
            .flat_map(|st| st.resource.clone().unwrap_or_default())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for (label, doc) in current {
            for (i, st) in doc.statement.iter().enumerate() {
                if st.effect != Effect::Allow || !allows_action(st, action) {
                    continue;
                }
                let source = format!("{label}, statement {}", statement_name(st, i));
                if let Some(nr) = &st.not_resource {
                    broader_resources.push(BroaderGrant {
                        action: action.clone(),
                        granted: format!("NotResource {}", nr.join(", ")),
                        source: source.clone(),
                        proposed: proposed.clone(),
                    });
                }
                for r in st.resource.iter().flatten() {
                    let covered = proposed
                        .iter()
                        .any(|p| pattern::covers(p, &replacement.version, r, &doc.version));
                    if !covered {
                        broader_resources.push(BroaderGrant {
                            action: action.clone(),
                            granted: r.clone(),
                            source: source.clone(),
                            proposed: proposed.clone(),
                        });
                    }
                }
            }
        }
    }

    let mut failing_today = Vec::new();
    let current_owned: Vec<PolicyDocument> = current_docs.iter().map(|d| (*d).clone()).collect();
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        let context = evidence_context(&r.condition);
        let resource = crate::policy::escape::unescape_literal(&r.resource);
        let req = Request {
            action: &r.action,
            resource: &resource,
            context: &context,
        };
        if evaluate(&current_owned, &req) != Decision::Allow {
            failing_today.push(FailingCall {
                action: r.action.clone(),
                resource: r.resource.clone(),
                count: r.count,
                last_seen: r.last_seen.clone(),
                why: "succeeded in the trail, denied by the current policies".to_string(),
            });
        }
    }
    for d in &proposal.denied_calls {
        if !d.granted_by_successful_calls {
            failing_today.push(FailingCall {
                action: d.action.clone(),
                resource: d.resource.clone(),
                count: d.count,
                last_seen: d.last_seen.clone(),
                why: format!("failed in the trail: {}", d.error_code),
            });
        }
    }
    Comparison {
        unused_actions,
        broader_resources,
        failing_today,
    }
}

fn unused_by_service(
    catalog: &Catalog,
    granted: &BTreeSet<String>,
    kept: &BTreeSet<String>,
) -> Vec<UnusedActions> {
    let mut by_service: BTreeMap<&str, (usize, Vec<String>, bool)> = BTreeMap::new();
    for a in granted {
        let service = a.split(':').next().unwrap_or_default();
        let entry = by_service.entry(service).or_default();
        entry.0 += 1;
        if kept.contains(a) {
            entry.2 = true;
        } else {
            entry.1.push(a.clone());
        }
    }
    by_service
        .into_iter()
        .filter(|(_, (_, unused, _))| !unused.is_empty())
        .map(|(service, (granted, unused, any_kept))| {
            let whole = !any_kept && granted == catalog.service_actions(service).len();
            UnusedActions {
                service: service.to_string(),
                granted,
                whole_service: whole,
                unused: if whole {
                    vec![format!("{service}:*")]
                } else {
                    unused
                },
            }
        })
        .collect()
}

fn allows_action(st: &Statement, action: &str) -> bool {
    match (&st.action, &st.not_action) {
        (Some(p), _) => p.iter().any(|p| action_matches(p, action)),
        (None, Some(n)) => !n.iter().any(|p| action_matches(p, action)),
        (None, None) => false,
    }
}

pub fn statement_name(st: &Statement, index: usize) -> String {
    match &st.sid {
        Some(sid) => format!("{index} ({sid})"),
        None => index.to_string(),
    }
}

/// The request context an evidence row was observed with: its condition column is a canonical
/// JSON object of condition keys (string or list values), '' when there were none.
pub fn evidence_context(condition: &str) -> Context {
    let mut ctx = Context::new();
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(condition)
    else {
        return ctx;
    };
    for (k, v) in map {
        let values = match v {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(items) => items
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            other => vec![other.to_string()],
        };
        ctx.insert(k, values);
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> PolicyDocument {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn denied_everywhere_actions_are_not_granted() {
        let c = crate::catalog::embedded();
        let d = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},
                {"Effect":"Deny","Action":"sqs:Delete*","Resource":"*"}]}"#,
        );
        let allowed = allowed_actions(c, &[&d]);
        assert!(allowed.contains("sqs:SendMessage"));
        assert!(!allowed.contains("sqs:DeleteMessage"));
        assert_eq!(
            allowed.len(),
            c.expand_actions("sqs:*").len() - c.expand_actions("sqs:Delete*").len()
        );
    }

    #[test]
    fn a_wholly_unused_service_is_summarized_and_a_partly_used_one_listed() {
        let c = crate::catalog::embedded();
        let granted: BTreeSet<String> = c
            .expand_actions("sqs:*")
            .iter()
            .chain(c.expand_actions("sns:*").iter())
            .map(|a| a.full_name())
            .collect();
        let kept = BTreeSet::from(["sns:Publish".to_string()]);
        let out = unused_by_service(c, &granted, &kept);
        assert_eq!(out.len(), 2);
        let sns = out.iter().find(|u| u.service == "sns").unwrap();
        assert!(!sns.whole_service);
        assert_eq!(sns.unused.len(), c.expand_actions("sns:*").len() - 1);
        assert!(!sns.unused.contains(&"sns:Publish".to_string()));
        let sqs = out.iter().find(|u| u.service == "sqs").unwrap();
        assert!(sqs.whole_service);
        assert_eq!(sqs.unused, vec!["sqs:*".to_string()]);
    }
}
