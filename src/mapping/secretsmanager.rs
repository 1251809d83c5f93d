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
//! secret and never a longer name (`<name>-old-AbC123`). An ARN may be partial, without the
//! suffix: Secrets Manager takes an ARN whose name ends in a hyphen and six characters as
//! complete and any other as partial (API reference, `SecretId`), and so does this rule (the
//! six being letters or digits, as the random ones are): a partial ARN is granted like a name,
//! in the ARN's region and account. A name that itself ends in `-` and six letters
//! (`db-backup`) given as a partial ARN is taken as complete, as Secrets Manager takes it.

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
    // A full ARN is exact; a partial ARN (no random suffix) stands for the secret of that name in
    // its own region and account, as a plain name does in the caller's.
    let (head, name) = match id.split_once(":secret:") {
        Some((_, name)) if id.starts_with("arn:") && has_random_suffix(name) => {
            return vec![lit(id)]
        }
        Some((head, name)) if id.starts_with("arn:") => (lit(head), name),
        _ if id.starts_with("arn:") => return vec![lit(id)],
        _ => (ctx.arn("secretsmanager", ""), id),
    };
    let head = head.trim_end_matches(':');
    let partial_arn = id.starts_with("arn:");
    // resources[] carries the exact ARN when CloudTrail resolved the name.
    let exact = ctx.call.resources.iter().map(|r| r.arn).find(|arn| {
        arn.rsplit_once(":secret:").is_some_and(|(h, n)| {
            (!partial_arn || lit(h) == head) && has_random_suffix(n) && n[..n.len() - 7] == *name
        })
    });
    match exact {
        Some(arn) => vec![lit(arn)],
        None => vec![format!(
            "{head}:secret:{}{}",
            lit(name),
            super::rule::SECRET_SUFFIX
        )],
    }
}

/// Whether a secret's name part of an ARN ends in the six random characters Secrets Manager
/// appends (`-` and six letters or digits). Secrets Manager itself takes an ARN ending in a
/// hyphen and six characters as complete (API reference, `SecretId`: "if your secret has a name
/// that ends in a hyphen followed by six characters … Secrets Manager … assume[s] that you're
/// specifying a complete ARN"), so a partial ARN is recognized the same way.
pub(crate) fn has_random_suffix(name: &str) -> bool {
    name.rsplit_once('-')
        .is_some_and(|(_, s)| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
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

        // A partial ARN (without the suffix) names no secret exactly: it gets the suffix
        // pattern, in the ARN's own region and account; a hyphen inside a name is not a suffix.
        for (partial, want) in [
            (
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/db",
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/db-??????",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:api-key-v2",
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:api-key-v2-??????",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:svc-token",
                "arn:aws:secretsmanager:us-east-1:444455556666:secret:svc-token-??????",
            ),
        ] {
            let ev = event(
                "secretsmanager",
                "GetSecretValue",
                json!({"secretId": partial}),
            );
            assert_eq!(
                pairs(&ev),
                [p("secretsmanager:GetSecretValue", want)],
                "{partial}"
            );
        }
        // …unless the event's resources[] shows the secret it resolved to.
        let full = "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/db-Xy9Zq1";
        let ev = with(
            event(
                "secretsmanager",
                "GetSecretValue",
                json!({"secretId": "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/db"}),
            ),
            "resources",
            json!([{"ARN": full, "type": "AWS::SecretsManager::Secret"}]),
        );
        assert_eq!(pairs(&ev), [p("secretsmanager:GetSecretValue", full)]);

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
