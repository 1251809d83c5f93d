//! AWS Secrets Manager.
//!
//! **What CloudTrail logs.** Secrets Manager calls, `GetSecretValue` included, are management
//! events. `requestParameters` names the secret in `secretId` (`SecretId` from the proxy), by
//! name or by ARN; `CreateSecret` names it by `name`. When CloudTrail resolved a name, the event's
//! `resources[]` carries the secret's full ARN. The ECS agent calls `GetSecretValue` for the
//! execution role, for a task's `secrets` and its `repositoryCredentials`. Reading a secret
//! encrypted with a customer managed key makes Secrets Manager call KMS for the role: that
//! `kms:Decrypt` shows `invokedBy: secretsmanager.amazonaws.com` and the secret's ARN in its
//! encryption context (see `kms.rs`).
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name on the secret.
//!
//! **ARNs.** `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>`, where
//! the suffix is six random characters Secrets Manager adds when it creates the secret. A call
//! by name is granted on the ARN of `resources[]` when the event shows it; else on
//! `secret:<name>-??????`: each `?` matches exactly one character, so the pattern matches the
//! secret and never a longer name (`<name>-old-AbC123`).

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

const SECRET_RULE: &str =
    "secret ARN; a secret named without its ARN gets the six-character suffix as `-??????`";

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(action, secret(ctx), action_rule, SECRET_RULE)
}

fn secret(ctx: &Ctx) -> Vec<String> {
    let Some(id) = ctx.any(&["secretId", "SecretId", "name"]) else {
        return Vec::new();
    };
    if id.starts_with("arn:") {
        return vec![lit(id)];
    }
    // resources[] carries the exact ARN when CloudTrail resolved the name.
    let exact = ctx.call.resources.iter().map(|r| r.arn).find(|arn| {
        arn.contains(":secret:")
            && arn
                .rsplit_once(":secret:")
                .and_then(|(_, n)| n.rsplit_once('-'))
                .is_some_and(|(name, suffix)| name == id && suffix.len() == 6)
    });
    match exact {
        Some(arn) => vec![lit(arn)],
        None => vec![format!(
            "{}{}",
            ctx.arn("secretsmanager", &format!("secret:{id}")),
            super::rule::SECRET_SUFFIX
        )],
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use crate::policy::eval::Decision;
    use serde_json::json;

    #[test]
    fn secrets_by_name_get_the_random_suffix_and_by_arn_are_exact() {
        let ev = event(
            "secretsmanager",
            "GetSecretValue",
            json!({"secretId": "prod/db"}),
        );
        assert_eq!(
            pairs(&ev),
            [p(
                "secretsmanager:GetSecretValue",
                &format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-??????")
            )]
        );
        let arn = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-AbC123");
        let ev = event("secretsmanager", "GetSecretValue", json!({"secretId": arn}));
        assert_eq!(pairs(&ev), [p("secretsmanager:GetSecretValue", &arn)]);

        // `-??????` matches exactly the six-character suffix, never a longer name.
        let pattern = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-??????");
        assert_eq!(
            allows(&pattern, "secretsmanager:GetSecretValue", &arn),
            Decision::Allow
        );
        let other = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-old-AbC123");
        assert_eq!(
            allows(&pattern, "secretsmanager:GetSecretValue", &other),
            Decision::ImplicitDeny
        );
    }
}
