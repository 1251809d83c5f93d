//! The findings of the check of a role's calls against AWS's list of the actions each operation
//! authorizes (`crate::mapping::operations`, where the policy is): one per operation and action,
//! with the earliest call of the operation. Nothing here adds a grant.

use super::Finding;
use crate::catalog::Catalog;
use crate::mapping::operations::{check, Gap};
use crate::store::EvidenceRow;
use std::collections::{BTreeMap, BTreeSet};

/// The code of a granted action AWS does not list for its call's operation.
pub const NOT_LISTED: &str = "not-listed-for-operation";

/// The actions a call (event source, event name) was granted, and its earliest sighting
/// (first seen, event id).
type Calls<'e> = BTreeMap<(&'e str, &'e str), (BTreeSet<String>, (&'e str, &'e str))>;

pub(super) fn operation_findings(evidence: &[&EvidenceRow], catalog: &Catalog) -> Vec<Finding> {
    if !catalog.has_operations() {
        return Vec::new();
    }
    let mut calls = Calls::new();
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        let key = (r.first_seen.as_str(), r.example_event_id.as_str());
        let entry = calls
            .entry((r.event_source.as_str(), r.event_name.as_str()))
            .or_insert_with(|| (BTreeSet::new(), key));
        entry.0.insert(r.action.clone());
        entry.1 = entry.1.min(key);
    }
    let mut out = Vec::new();
    for ((source, name), (granted, (_, example))) in calls {
        let Some(checked) = check(catalog, source, name, &granted) else {
            continue;
        };
        let op = &checked.operation;
        for gap in checked.gaps {
            let (kind, severity, message, action, reason) = match gap {
                Gap::NotGranted { action, why } => (
                    "operation-action-not-granted",
                    "info",
                    format!(
                        "{op} may also authorize {action} (AWS's Service Reference); not granted: \
                         {}",
                        why.explain()
                    ),
                    action,
                    why.code(),
                ),
                Gap::NotListed { action } => (
                    "action-not-listed-for-operation",
                    "warning",
                    format!(
                        "{action} is granted for calls of {op}, which AWS's Service Reference does \
                         not list among the actions it authorizes; check the mapping rule \
                         (docs/mapping.md)"
                    ),
                    action,
                    NOT_LISTED,
                ),
            };
            out.push(Finding {
                kind,
                severity,
                message,
                operation: Some(op.clone()),
                action: Some(action),
                resource: None,
                reason: Some(reason),
                example_event_id: Some(example.to_string()).filter(|e| !e.is_empty()),
            });
        }
    }
    out
}
