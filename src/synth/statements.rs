//! Grants → statements: one statement per (resources, condition), several actions each, in a
//! deterministic order with deterministic Sids, so the same evidence gives the same bytes.

use super::Conditions;
use crate::mapping::ANY_RESOURCE;
use crate::policy::{PolicyDocument, Statement};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn build_policy(
    by_action: &super::ByAction,
    catalog: &crate::catalog::Catalog,
) -> PolicyDocument {
    // (class, resources, conditions) → actions. Class keeps actions that take no resource apart
    // from resource actions granted on "*" for lack of evidence.
    let mut statements: BTreeMap<(u8, BTreeSet<String>, Conditions), BTreeSet<String>> =
        BTreeMap::new();
    for ((action, cond), resources) in by_action {
        let takes_resources = catalog.action(action).is_some_and(|a| a.takes_resources());
        let class = match (resources.contains(ANY_RESOURCE), takes_resources) {
            (false, _) => 0,
            (true, false) => 1,
            // Each has a finding saying why (`unscoped.rs`).
            (true, true) => 2,
        };
        statements
            .entry((class, resources.clone(), cond.clone()))
            .or_default()
            .insert(action.clone());
    }
    let mut list: Vec<(u8, Statement)> = statements
        .into_iter()
        .map(|((class, resources, cond), actions)| {
            let mut st = Statement::allow(
                actions.into_iter().collect(),
                resources.into_iter().collect(),
            );
            if let Some(c) = cond {
                st.condition = c.policy_condition();
            }
            (class, st)
        })
        .collect();
    list.sort_by(|a, b| (a.0, &a.1.action).cmp(&(b.0, &b.1.action)));
    let mut counters: BTreeMap<String, usize> = BTreeMap::new();
    let statements = list
        .into_iter()
        .map(|(class, mut st)| {
            let base = match class {
                1 => "NoResourceTypes".to_string(),
                2 => "UnscopedForLackOfEvidence".to_string(),
                _ => pascal(service_of(st.action.as_ref().and_then(|a| a.first()))),
            };
            let n = counters.entry(base.clone()).or_default();
            *n += 1;
            st.sid = Some(format!("{base}{n}"));
            st
        })
        .collect();
    PolicyDocument::new(statements)
}

fn service_of(action: Option<&String>) -> &str {
    action.and_then(|a| a.split(':').next()).unwrap_or("Grant")
}

fn pascal(service: &str) -> String {
    service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}
