//! AWS STS.
//!
//! **What CloudTrail logs.** STS calls are management events. `AssumeRole` names the target role in
//! `roleArn` (and the session in `roleSessionName`). `GetCallerIdentity`, which SDKs and tools
//! often call at start-up, is logged like any call.
//!
//! **How IAM authorizes the calls.** `sts:AssumeRole` is authorized on the role assumed (whose
//! trust policy must allow the caller as well). An `AssumeRole` that passes session tags (`tags`)
//! or marks tags transitive (`transitiveTagKeys`) also needs `sts:TagSession` on that role, and
//! one that sets `sourceIdentity` needs `sts:SetSourceIdentity` on it (IAM User Guide, "Passing
//! session tags in AWS STS": "Permissions required to add session tags"; "Monitor and control
//! actions taken with assumed roles": "Permissions required to set source identity"). CloudTrail
//! logs all three in `requestParameters` (the IAM User Guide's role-chaining example:
//! `tags[]` of `{key, value}`, `transitiveTagKeys[]`, `sourceIdentity`). Tags a session only
//! inherits (`incomingTransitiveSessionTags`) need nothing more. `AssumeRoleWithSAML` and
//! `AssumeRoleWithWebIdentity` are not signed by an IAM principal: their tags and source
//! identity come from the assertion or token and only the role's trust policy decides, so no
//! caller needs a grant for them beyond what the general rule writes. `GetCallerIdentity`
//! needs no permission at all: it is never granted, and a deny cannot stop it.
//!
//! **ARNs.** A role is `arn:<partition>:iam::<account>:role/<path><name>` (IAM ARNs have no
//! region); `roleArn` is taken as it is.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

/// STS calls that need no permission.
pub(super) fn needs_no_permission(event_name: &str) -> Option<&'static str> {
    match event_name {
        "GetCallerIdentity" => Some("sts:GetCallerIdentity needs no permission"),
        _ => None,
    }
}

/// Never reads `roleSessionName`: observe maps `AssumeRole` once for every session name
/// (`observe/shape.rs`, whose tests fail if that changes).
pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let role: Vec<String> = ctx.s("roleArn").map(lit).into_iter().collect();
    let mut steps = Step::one(action, role.clone(), action_rule, ROLE_RULE);
    if ctx.call.event_name != "AssumeRole" {
        return steps;
    }
    let non_empty = |key: &str| {
        ctx.req
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if non_empty("tags") || non_empty("transitiveTagKeys") {
        steps.extend(Step::one(
            "TagSession",
            role.clone(),
            "an AssumeRole passing session tags needs sts:TagSession on the role",
            ROLE_RULE,
        ));
    }
    if ctx.s("sourceIdentity").is_some() {
        steps.extend(Step::one(
            "SetSourceIdentity",
            role,
            "an AssumeRole setting a source identity needs sts:SetSourceIdentity on the role",
            ROLE_RULE,
        ));
    }
    steps
}

const ROLE_RULE: &str = "role ARN from the request";

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use crate::mapping::Mapped;
    use serde_json::{json, Value};

    #[test]
    fn get_caller_identity_needs_no_permission() {
        assert!(matches!(
            map(&event("sts", "GetCallerIdentity", Value::Null)),
            Mapped::NoPermissionNeeded(_)
        ));
    }

    #[test]
    fn session_tags_and_source_identity_need_their_own_actions() {
        // The request of the IAM User Guide's role-chaining CloudTrail example ("Logging IAM
        // and AWS STS API calls with AWS CloudTrail"), role renamed.
        let target = "arn:aws:iam::444455556666:role/reporting";
        let ev = event(
            "sts",
            "AssumeRole",
            json!({
                "incomingTransitiveSessionTags": {"Department": "Engineering"},
                "tags": [{"value": "johndoe@example.com", "key": "Email"},
                         {"value": "12345", "key": "CostCenter"}],
                "roleArn": target,
                "roleSessionName": "Role2WithTags",
                "sourceIdentity": "JohnDoe",
                "transitiveTagKeys": ["Email", "CostCenter"],
                "durationSeconds": 3600
            }),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("sts:AssumeRole", target),
                p("sts:SetSourceIdentity", target),
                p("sts:TagSession", target),
            ]
        );
        // Only inherited transitive tags: nothing more than AssumeRole.
        let ev = event(
            "sts",
            "AssumeRole",
            json!({"roleArn": target, "roleSessionName": "s",
                   "incomingTransitiveSessionTags": {"Department": "Engineering"}}),
        );
        assert_eq!(pairs(&ev), [p("sts:AssumeRole", target)]);
        // Transitive keys alone still tag the session.
        let ev = event(
            "sts",
            "AssumeRole",
            json!({"roleArn": target, "roleSessionName": "s", "transitiveTagKeys": ["Project"]}),
        );
        assert_eq!(
            pairs(&ev),
            [p("sts:AssumeRole", target), p("sts:TagSession", target)]
        );
    }

    #[test]
    fn assume_role_on_the_role() {
        let target = "arn:aws:iam::444455556666:role/reader";
        assert_eq!(
            pairs(&event(
                "sts",
                "AssumeRole",
                json!({"roleArn": target, "roleSessionName": "s"})
            )),
            [p("sts:AssumeRole", target)]
        );
    }
}
