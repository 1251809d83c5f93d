//! AWS Systems Manager Parameter Store (and the rest of SSM).
//!
//! **What CloudTrail logs.** Parameter reads and writes are management events.
//! `requestParameters` names one parameter in `name` (`GetParameter`, `PutParameter`), several in
//! `names` (`GetParameters`, which the ECS agent calls for a task's `secrets`), or a path in `path`
//! (`GetParametersByPath`). A name may carry a version or label selector (`/app/db:3`,
//! `/app/db:prod`), and may be given as a full ARN. Reading a `SecureString` with decryption
//! also makes SSM call KMS for the role: that `kms:Decrypt` event shows `invokedBy:
//! ssm.amazonaws.com` (see `kms.rs`).
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name
//! (`ssm:GetParameter`, `ssm:GetParameters`…), on every parameter it names; the selector is not
//! part of the resource. `GetParametersByPath` is authorized on the ARN of the path itself, as if
//! the path were a parameter. Some calls take no resource (`ssm:DescribeParameters`): they need
//! `"*"`.
//!
//! **ARNs.** `arn:<partition>:ssm:<region>:<account>:parameter/<name without its leading slash>`:
//! `/a/b` → `parameter/a/b`, a bare `x` → `parameter/x`, never `parameter//a/b`.

use super::rule::{Ctx, Step, FROM_RESOURCES};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let names: Vec<&str> = match ctx.req.get("names") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => ctx
            .any(&["name", "path", "parameterName"])
            .into_iter()
            .collect(),
    };
    let resource_rule = if ctx.s("path").is_some() {
        "GetParametersByPath is authorized on the path's parameter ARN"
    } else {
        "parameter ARN from the name (leading slash dropped, selector removed)"
    };
    if names.is_empty() {
        return Step::one(action, Vec::new(), action_rule, FROM_RESOURCES);
    }
    names
        .into_iter()
        .map(|n| Step {
            condition: None,
            action: action.to_string(),
            candidates: vec![ssm_parameter_arn(ctx, n)],
            action_rule,
            resource_rule,
        })
        .collect()
}

/// `/a/b` → `…:parameter/a/b`, `x` → `…:parameter/x`; an ARN stays as it is. A version or label
/// selector (`name:3`, `name:prod`) is not part of the resource.
fn ssm_parameter_arn(ctx: &Ctx, name: &str) -> String {
    if let Some(rest) = name.strip_prefix("arn:") {
        // arn:<p>:ssm:<r>:<a>:parameter/<name>[:<selector>]
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() == 5 {
            let resource = parts[4].split(':').next().unwrap_or(parts[4]);
            return lit(&format!(
                "arn:{}:{}:{}:{}:{resource}",
                parts[0], parts[1], parts[2], parts[3]
            ));
        }
        return lit(name);
    }
    let name = name.split(':').next().unwrap_or(name);
    ctx.arn(
        "ssm",
        &format!("parameter/{}", name.trim_start_matches('/')),
    )
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    fn param(name: &str) -> String {
        format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{name}")
    }

    #[test]
    fn parameter_names_with_and_without_slash() {
        assert_pairs(
            "ssm",
            &[
                (
                    "GetParameter",
                    json!({"name": "/app/prod/db", "withDecryption": true}),
                    &[("ssm:GetParameter", &param("app/prod/db"))],
                ),
                (
                    "GetParameter",
                    json!({"name": "flag"}),
                    &[("ssm:GetParameter", &param("flag"))],
                ),
            ],
        );
        // Never `parameter//…`.
        let g = grants(&event(
            "ssm",
            "PutParameter",
            json!({"name": "/a/b", "type": "String"}),
        ));
        assert!(
            g.iter().all(|g| !g.resource.contains("parameter//")),
            "{g:?}"
        );
    }

    #[test]
    fn get_parameters_grants_each_name_without_selectors() {
        let ev = event(
            "ssm",
            "GetParameters",
            json!({"names": ["/app/db", "flag:3", "/app/key:prod",
                             format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/app/x:2")],
                   "withDecryption": true}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("ssm:GetParameters", &param("app/db")),
                p("ssm:GetParameters", &param("app/key")),
                p("ssm:GetParameters", &param("app/x")),
                p("ssm:GetParameters", &param("flag")),
            ]
        );
    }

    #[test]
    fn get_parameters_by_path_is_granted_on_the_path() {
        let ev = event(
            "ssm",
            "GetParametersByPath",
            json!({"path": "/app/prod", "recursive": true, "withDecryption": true}),
        );
        assert_eq!(
            pairs(&ev),
            [p("ssm:GetParametersByPath", &param("app/prod"))]
        );
    }
}
