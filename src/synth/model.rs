//! What a proposal is made of, as `propose --format json` and every other output show it.

use super::derive::DerivedFrom;
use super::size;
use crate::attribution::RoleKind;
use crate::policy::PolicyDocument;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub roles: Vec<RoleProposal>,
    /// Roles named by task definitions that made no call in the evidence.
    pub roles_without_evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleProposal {
    pub role_arn: String,
    pub usage: Vec<RoleKind>,
    pub families: Vec<String>,
    /// Every statement of the role, whether it is delivered inline or split (see `delivery`).
    pub policy: PolicyDocument,
    /// `inline` (one role policy) or `managed` (`managed_policies`: the policy was over the
    /// inline size limit, so it is split into managed policies to attach to the role).
    pub delivery: &'static str,
    /// The policy's size as IAM counts it (whitespace not counted).
    pub policy_characters: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_policies: Vec<size::ManagedPolicy>,
    pub denied_calls: Vec<DeniedCall>,
    pub findings: Vec<Finding>,
    pub grants: Vec<GrantEvidence>,
    pub ungranted_calls: Vec<UngrantedCall>,
    /// The roles proposed in place of this one (a role used as both task and execution role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<Box<super::split::RoleSplit>>,
}

/// Something the reader of a proposal should know. `kind`, `severity` and `message` are always
/// there; the other keys only where the finding is about one grant or call (`unscoped-grant`,
/// `no-resource-evidence`, the operation checks), for programs to act on without parsing the
/// message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub severity: &'static str,
    pub message: String,
    /// The API operation the finding is about (`s3:GetObject`), for the checks against AWS's
    /// list of the actions an operation authorizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The action the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The resource it is granted on (`*` for a grant that fell back to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Why, as a stable code (`crate::mapping::fallback::Fallback::code`,
    /// `crate::mapping::operations::Why::code`, `not-listed-for-operation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The earliest call of the action that shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example_event_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeniedCall {
    pub action: String,
    pub resource: String,
    pub error_code: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    /// True when the same action on the same resource also succeeded, so it is granted anyway.
    pub granted_by_successful_calls: bool,
}

/// One (action, resource) of the policy with the evidence behind it.
#[derive(Debug, Clone, Serialize)]
pub struct GrantEvidence {
    pub action: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<BTreeMap<String, BTreeSet<String>>>,
    /// The observed resources a wildcard stands for (empty when the resource was observed as is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generalized_from: Vec<String>,
    /// The template a wildcard was learned as (clock and id fields), where it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<super::template::Template>,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    pub families: Vec<String>,
    /// How `families` was decided: `only family`, `task definition`, or `shared role`.
    pub family_attribution: &'static str,
    pub rule: String,
    /// `observed` (CloudTrail shows the calls), `derived` (the task definitions imply it; no
    /// call seen) or `both`.
    pub origin: &'static str,
    /// The task-definition parts that imply the grant (for `derived` and `both`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<DerivedFrom>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UngrantedCall {
    pub event_source: String,
    pub event_name: String,
    pub error_code: String,
    pub kind: String,
    pub reason: String,
    pub count: i64,
    pub example_event_id: String,
}
