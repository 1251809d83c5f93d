//! AWS KMS.
//!
//! **What CloudTrail logs.** KMS calls are management events. `requestParameters` names the key in
//! `keyId`: a key id, a key ARN, an alias name (`alias/app`) or an alias ARN; the event's
//! `resources[]` shows the key ARN the call resolved to. `Decrypt` names no key (the key is
//! inside the ciphertext): only `resources[]` shows it. `ReEncrypt` names its target in
//! `destinationKeyId` and its source in `sourceKeyId` only when the caller gave one; both keys
//! are in `resources[]`. A service calling KMS on the role's behalf (SSM for a `SecureString`,
//! Secrets Manager, S3 for SSE-KMS, SQS, SNS, Logs…) is logged as the role's call with
//! `invokedBy` (and `sourceIPAddress`) set to the service's name (`ssm.amazonaws.com`), and the
//! request's `encryptionContext` names the resource the service acted on (`PARAMETER_ARN`,
//! `SecretARN`, `aws:s3:arn`…).
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name on the key, except
//! `ReEncrypt`, which needs `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the
//! target. A call made through a service can be pinned to that service with the condition key
//! `kms:ViaService` (`<service>.<region>.amazonaws.com`), and to the resource with
//! `kms:EncryptionContext:<key>`; a call the application makes itself gets no condition.
//!
//! **ARNs.** A key is `arn:<partition>:kms:<region>:<account>:key/<key id>`; an alias
//! `…:alias/<name>` is a resource type of its own, which most key actions do not accept. An
//! alias is therefore granted on the key the event's `resources[]` shows it resolved to, the
//! alias ARN being kept only as a fallback.

use super::rule::{Ctx, Step};
use crate::call::ApiCall;
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let event_keys: Vec<&str> = ctx
        .call
        .resources
        .iter()
        .map(|r| r.arn)
        .filter(|a| a.contains(":key/"))
        .collect();
    let resolve = |key_id: Option<&str>| -> Vec<String> {
        match key_id {
            Some(id) if id.starts_with("arn:") && id.contains(":key/") => vec![lit(id)],
            Some(id) if id.starts_with("arn:") => {
                // An alias ARN: the event's resources[] shows the key it resolved to.
                event_keys.iter().map(|k| lit(k)).chain([lit(id)]).collect()
            }
            Some(id) if id.starts_with("alias/") => event_keys
                .iter()
                .map(|k| lit(k))
                .chain([ctx.arn("kms", id)])
                .collect(),
            Some(id) => {
                let by_id: Vec<String> = event_keys
                    .iter()
                    .filter(|k| k.ends_with(&format!("/{id}")))
                    .map(|k| lit(k))
                    .collect();
                if by_id.is_empty() {
                    vec![ctx.arn("kms", &format!("key/{id}"))]
                } else {
                    by_id
                }
            }
            None => event_keys.iter().map(|k| lit(k)).collect(),
        }
    };
    if ctx.call.event_name == "ReEncrypt" {
        let to = resolve(ctx.s("destinationKeyId"));
        let from = match ctx.s("sourceKeyId") {
            Some(id) => resolve(Some(id)),
            None => event_keys
                .iter()
                .map(|k| lit(k))
                .filter(|k| !to.contains(k))
                .collect(),
        };
        let rule = "ReEncrypt needs ReEncryptFrom on the source key and ReEncryptTo on the target";
        return [("ReEncryptFrom", from), ("ReEncryptTo", to)]
            .into_iter()
            .flat_map(|(action, keys)| {
                keys.into_iter().take(1).map(move |k| Step {
                    condition: None,
                    action: action.to_string(),
                    candidates: vec![k],
                    action_rule: rule,
                    resource_rule: "key from the request, resolved through resources[]",
                })
            })
            .collect();
    }
    Step::one(
        action,
        resolve(ctx.s("keyId")),
        action_rule,
        "key ARN (aliases resolved through resources[])",
    )
}

pub const VIA_SERVICE: &str = "kms:ViaService";
pub const ENCRYPTION_CONTEXT_PREFIX: &str = "kms:EncryptionContext:";

/// Encryption-context keys by which a service names the resource it used a KMS key for: the same
/// parameter, secret, object, queue… every time, so a grant can be pinned to them. Version ids
/// (`SecretVersionId`) and keys an application chooses itself are left out: nothing says they
/// stay the same.
const RESOURCE_CONTEXT_KEYS: &[&str] = &[
    "PARAMETER_ARN",
    "SecretARN",
    "aws:s3:arn",
    "aws:sqs:arn",
    "aws:sns:topicArn",
    "aws:logs:arn",
    "aws:dynamodb:tableName",
    "aws:lambda:FunctionArn",
];

/// The condition of a KMS call a service made on the principal's behalf: `kms:ViaService`, and
/// the encryption context keys that name the resource the service acted on (literal values, as
/// the request carried them), as a canonical JSON object; empty when the principal called KMS
/// itself. observe maps the calls S3 makes once per shape (`observe/shape.rs`), relying on this:
/// the object's ARN (`aws:s3:arn`) is one value of the condition, as it is, and nowhere else.
/// Its tests fail if that changes.
pub(super) fn condition(call: &ApiCall, req: &Value) -> String {
    let Some(service) = call
        .invoked_by
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .filter(|s| !s.is_empty() && !s.contains(' '))
    else {
        return String::new();
    };
    let mut condition = serde_json::Map::new();
    condition.insert(
        VIA_SERVICE.to_string(),
        Value::String(format!("{service}.{}.amazonaws.com", call.region)),
    );
    if let Some(context) = req.get("encryptionContext").and_then(Value::as_object) {
        for key in RESOURCE_CONTEXT_KEYS {
            if let Some(value) = context.get(*key).and_then(Value::as_str) {
                condition.insert(
                    format!("{ENCRYPTION_CONTEXT_PREFIX}{key}"),
                    Value::String(value.to_string()),
                );
            }
        }
    }
    Value::Object(condition).to_string()
}

#[cfg(test)]
mod tests {
    use crate::catalog;
    use crate::mapping::test_support::*;
    use serde_json::{json, Value};

    fn key(id: &str) -> String {
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}")
    }

    #[test]
    fn reencrypt_needs_from_and_to() {
        let (from, to) = (
            key("1111aaaa-0000-4000-8000-000000000001"),
            key("2222bbbb-0000-4000-8000-000000000002"),
        );
        // As CloudTrail logs it: the source key only in resources[] (it is inside the ciphertext).
        let ev = with(
            event(
                "kms",
                "ReEncrypt",
                json!({"destinationKeyId": to,
                       "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                       "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
            ),
            "resources",
            json!([{"ARN": from, "type": "AWS::KMS::Key"}, {"ARN": to, "type": "AWS::KMS::Key"}]),
        );
        assert_eq!(
            pairs(&ev),
            [p("kms:ReEncryptFrom", &from), p("kms:ReEncryptTo", &to)]
        );
    }

    #[test]
    fn via_service_when_a_service_called_for_the_role() {
        let k = key("1111aaaa-0000-4000-8000-000000000001");
        let mut ev = with(
            event(
                "kms",
                "Decrypt",
                json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
            ),
            "resources",
            json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
        );
        ev["userIdentity"]["invokedBy"] = json!("ssm.amazonaws.com");
        ev["sourceIPAddress"] = json!("ssm.amazonaws.com");
        let g = grants(&ev);
        assert_eq!(g.len(), 1);
        assert_eq!(
            (g[0].action.as_str(), g[0].resource.as_str()),
            ("kms:Decrypt", k.as_str())
        );
        let cond: Value = serde_json::from_str(&g[0].condition).unwrap();
        assert_eq!(
            cond,
            json!({"kms:ViaService": "ssm.eu-west-1.amazonaws.com"})
        );
        assert!(catalog::embedded().condition_key_exists("kms", "kms:ViaService"));

        // The application calling KMS itself gets no condition.
        let direct = with(
            event("kms", "Decrypt", json!({})),
            "resources",
            json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
        );
        assert_eq!(grants(&direct)[0].condition, "");
    }

    #[test]
    fn alias_is_resolved_through_resources() {
        let k = key("1111aaaa-0000-4000-8000-000000000001");
        for key_id in [
            "alias/app".to_string(),
            format!("arn:aws:kms:eu-west-1:{ACCOUNT}:alias/app"),
        ] {
            let ev = with(
                event(
                    "kms",
                    "GenerateDataKey",
                    json!({"keyId": key_id, "keySpec": "AES_256"}),
                ),
                "resources",
                json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
            );
            assert_eq!(pairs(&ev), [p("kms:GenerateDataKey", &k)], "{key_id}");
        }
        // A bare key id becomes the key's ARN.
        let ev = event(
            "kms",
            "Encrypt",
            json!({"keyId": "1111aaaa-0000-4000-8000-000000000001"}),
        );
        assert_eq!(pairs(&ev), [p("kms:Encrypt", &k)]);
    }
}
