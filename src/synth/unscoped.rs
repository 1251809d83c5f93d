//! The findings that say, for programs as well as people, which grants have no resource narrower
//! than `*` (or none known) and why: one per action and reason, with the earliest call that
//! shows it. The reason is the mapping's (`crate::mapping::fallback`), read back from the rule
//! text stored with the evidence.
//!
//! An action the Service Authorization Reference lists no resource type for only works on `*`:
//! that is no fallback and gets no finding.

use super::{ByAction, Finding};
use crate::catalog::Catalog;
use crate::mapping::fallback::Fallback;
use crate::mapping::ANY_RESOURCE;
use crate::store::{EvidenceRow, UNKNOWN_RESOURCE};
use std::collections::{BTreeMap, BTreeSet};

/// A finding `unscoped-grant` for each (action, reason) of the policy's grants on `*` of actions
/// that take resources.
pub(super) fn unscoped_grants(
    by_action: &ByAction,
    evidence: &[&EvidenceRow],
    catalog: &Catalog,
) -> Vec<Finding> {
    let actions: BTreeSet<&str> = by_action
        .iter()
        .filter(|(_, resources)| resources.contains(ANY_RESOURCE))
        .map(|((action, _), _)| action.as_str())
        .filter(|a| catalog.action(a).is_some_and(|a| a.takes_resources()))
        .collect();
    let mut out = Vec::new();
    for action in actions {
        let mut reasons = earliest_by_reason(evidence, action, ANY_RESOURCE);
        if reasons.is_empty() {
            // Granted on "*" without a call on "*" (nothing in this build does that): still said.
            reasons.insert(Fallback::Unrecorded, None);
        }
        for (reason, example) in reasons {
            out.push(Finding {
                kind: "unscoped-grant",
                severity: "warning",
                message: format!("{action} is granted on \"*\": {}", reason.remedy()),
                operation: None,
                action: Some(action.to_string()),
                resource: Some(ANY_RESOURCE.to_string()),
                reason: Some(reason.code()),
                example_event_id: example,
            });
        }
    }
    out
}

/// The finding `no-resource-evidence` for an action seen only without its resource (not granted).
pub(super) fn without_resource(action: &str, evidence: &[&EvidenceRow]) -> Finding {
    let example = earliest_by_reason(evidence, action, UNKNOWN_RESOURCE)
        .into_values()
        .flatten()
        .next();
    Finding {
        kind: "no-resource-evidence",
        severity: "warning",
        message: format!(
            "{action}: observed only without its resource (SDK monitoring, or an S3 \
             DeleteObjects whose keys CloudTrail leaves out); no resource evidence yet — \
             collect CloudTrail data events or run the proxy (not granted)"
        ),
        operation: None,
        action: Some(action.to_string()),
        resource: None,
        reason: Some(Fallback::ParametersNotRead.code()),
        example_event_id: example,
    }
}

/// The reasons the successful calls of `action` on `resource` record, each with its earliest
/// call (by first sighting, then event id, so the choice does not depend on row order).
fn earliest_by_reason(
    evidence: &[&EvidenceRow],
    action: &str,
    resource: &str,
) -> BTreeMap<Fallback, Option<String>> {
    let mut earliest: BTreeMap<Fallback, (&str, &str)> = BTreeMap::new();
    for r in evidence
        .iter()
        .filter(|r| r.error_code.is_empty() && r.action == action && r.resource == resource)
    {
        let key = (r.first_seen.as_str(), r.example_event_id.as_str());
        earliest
            .entry(Fallback::of_rule(&r.rule))
            .and_modify(|e| *e = (*e).min(key))
            .or_insert(key);
    }
    earliest
        .into_iter()
        .map(|(reason, (_, id))| (reason, Some(id.to_string()).filter(|id| !id.is_empty())))
        .collect()
}
