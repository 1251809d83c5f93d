//! AWS STS.
//!
//! **What CloudTrail logs.** STS calls are management events. `AssumeRole` names the target role in
//! `roleArn` (and the session in `roleSessionName`). `GetCallerIdentity`, which SDKs and tools
//! often call at start-up, is logged like any call.
//!
//! **How IAM authorizes the calls.** `sts:AssumeRole` is authorized on the role assumed (whose
//! trust policy must allow the caller as well). `GetCallerIdentity` needs no permission at all:
//! it is never granted, and a deny cannot stop it. Not derived here: the `sts:TagSession` and
//! `sts:SetSourceIdentity` an `AssumeRole` with session tags or a source identity also needs.
//!
//! **ARNs.** A role is `arn:<partition>:iam::<account>:role/<path><name>` (IAM ARNs have no
//! region); `roleArn` is taken as it is.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

/// STS calls that need no permission.
pub(super) fn needs_no_permission(event_name: &str) -> Option<&'static str> {
    match event_name {
        "GetCallerIdentity" => Some("sts:GetCallerIdentity needs no permission"),
        _ => None,
    }
}

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        ctx.s("roleArn").map(lit).into_iter().collect(),
        action_rule,
        "role ARN from the request",
    )
}

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
