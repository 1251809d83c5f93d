//! AWS Lambda.
//!
//! **What CloudTrail logs.** Function management calls are management events, and their event
//! names carry the API version they belong to (`CreateFunction20150331`,
//! `GetFunctionConfiguration20150331v2`): the mapper strips it (`actions::strip_version_suffix`).
//! `Invoke` is a data event, logged only when the trail asks for it. `requestParameters` names the
//! function in `functionName`: a name, a name with a qualifier (`resize:live`), a partial ARN
//! (`<account>:function:resize`) or a full ARN; a separate `qualifier` names a version or alias.
//!
//! **How IAM authorizes the calls.** `Invoke` needs `lambda:InvokeFunction`; other calls the action
//! of their name without the version suffix. A call on a version or alias is authorized on the
//! qualified function ARN (`function:resize:live`), which Lambda accepts for `InvokeFunction` and
//! its like although the catalog's strict classification calls it a `function alias` or
//! `function version` (see `accepts` in `mod.rs`). `$LATEST` is the unqualified function.
//!
//! `CreateFunction` and an `UpdateFunctionConfiguration` that sets `role` hand the function's
//! execution role to Lambda, which needs `iam:PassRole` on that role (AWS Lambda Developer
//! Guide, "Lambda execution role": the user creating or updating the function needs
//! `iam:PassRole`; CloudTrail logs the role in `requestParameters.role`, never the PassRole):
//! it is granted on the role with the condition `iam:PassedToService` `lambda.amazonaws.com`, the
//! principal of an execution role's trust policy, so the role can be passed to Lambda only.
//!
//! **ARNs.** `arn:<partition>:lambda:<region>:<account>:function:<name>[:<version or alias>]`.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

/// Lambda actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    match event_name {
        "Invoke" => Some("InvokeFunction"),
        _ => None,
    }
}

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let mut steps = Step::one(
        action,
        function(ctx).into_iter().collect(),
        action_rule,
        "function from functionName",
    );
    if matches!(action, "CreateFunction" | "UpdateFunctionConfiguration") {
        steps.extend(super::rule::pass_role(
            ctx,
            &ctx.s("role").into_iter().collect::<Vec<_>>(),
            "lambda.amazonaws.com",
            "a function's execution role is passed to Lambda (iam:PassRole, never logged)",
        ));
    }
    steps
}

/// The function ARN, qualified (`function:f:live`) when the call names a version or alias, either
/// in the name (`f:live`, a full or partial ARN) or in the separate `qualifier` parameter.
fn function(ctx: &Ctx) -> Option<String> {
    let f = ctx.s("functionName")?;
    let base = if f.starts_with("arn:") {
        f.to_string()
    } else if let Some((account, name)) = f.split_once(":function:") {
        // A partial ARN `<account>:function:<name>`.
        format!(
            "arn:{}:lambda:{}:{account}:function:{name}",
            ctx.partition, ctx.region
        )
    } else {
        format!(
            "arn:{}:lambda:{}:{}:function:{f}",
            ctx.partition, ctx.region, ctx.account
        )
    };
    let qualified = base
        .split_once(":function:")
        .is_some_and(|(_, name)| name.contains(':'));
    match ctx.s("qualifier") {
        Some(q) if !qualified && q != "$LATEST" => Some(lit(&format!("{base}:{q}"))),
        _ => Some(lit(&base)),
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn invoke_and_date_suffixed_names() {
        let f = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize");
        assert_pairs(
            "lambda",
            &[
                (
                    "Invoke",
                    json!({"functionName": "resize"}),
                    &[("lambda:InvokeFunction", &f)],
                ),
                (
                    "CreateFunction20150331",
                    json!({"functionName": "resize"}),
                    &[("lambda:CreateFunction", &f)],
                ),
                (
                    "GetFunctionConfiguration20150331v2",
                    json!({"functionName": f}),
                    &[("lambda:GetFunctionConfiguration", &f)],
                ),
            ],
        );
    }

    #[test]
    fn qualified_function_arns_are_kept() {
        // Lambda authorizes InvokeFunction on a version or alias ARN (`function:f:live`), although
        // the reference lists only the unqualified `function` type for the action.
        let live = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize:live");
        let invoke: &[(&str, &str)] = &[("lambda:InvokeFunction", &live)];
        assert_pairs(
            "lambda",
            &[
                ("Invoke", json!({"functionName": live}), invoke),
                // `name:qualifier` as a function name, and a separate `qualifier` parameter.
                ("Invoke", json!({"functionName": "resize:live"}), invoke),
                (
                    "Invoke",
                    json!({"functionName": "resize", "qualifier": "live"}),
                    invoke,
                ),
            ],
        );
    }

    #[test]
    fn creating_a_function_passes_its_role() {
        // CreateFunction20150331's request as CloudTrail logs it (the Lambda Developer Guide's
        // CloudTrail examples): `functionName`, `runtime`, `role`, `handler`…
        let role = format!("arn:aws:iam::{ACCOUNT}:role/service-role/resize-exec");
        let f = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize");
        let ev = event(
            "lambda",
            "CreateFunction20150331",
            json!({"functionName": "resize", "runtime": "python3.12", "role": role,
                   "handler": "app.handler", "code": {}, "timeout": 30, "publish": false}),
        );
        assert_eq!(
            pairs(&ev),
            [p("iam:PassRole", &role), p("lambda:CreateFunction", &f)]
        );
        // An update that leaves the role alone passes none.
        let ev = event(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            json!({"functionName": "resize", "timeout": 60}),
        );
        assert_eq!(pairs(&ev), [p("lambda:UpdateFunctionConfiguration", &f)]);
        let ev = event(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            json!({"functionName": "resize", "role": "resize-exec-v2"}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p(
                    "iam:PassRole",
                    &format!("arn:aws:iam::{ACCOUNT}:role/resize-exec-v2")
                ),
                p("lambda:UpdateFunctionConfiguration", &f)
            ]
        );
    }
}
