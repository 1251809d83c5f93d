//! One API call → the IAM grants it proves necessary.
//!
//! `actions` names the action(s), `resources` finds the ARNs, and this module checks both against
//! the catalog: an action the catalog does not know is reported as unmapped (never guessed), and
//! an ARN is kept only if the action accepts its resource type; otherwise the grant falls back to
//! the ARNs in the event's `resources[]`, and then to `*` with the reason recorded.

pub mod actions;
pub mod resources;

use crate::call::ApiCall;
use crate::catalog::Catalog;
use crate::policy::escape::escape_literal;
use resources::{Ctx, Step};
use serde_json::Value;

/// One action on one resource (policy syntax: literal names escaped) under one condition context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub action: String,
    /// An ARN, or `*` when the action takes no resource or the event shows none it accepts.
    pub resource: String,
    /// Condition context as a canonical JSON object (`{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}`),
    /// or empty when unconditional.
    pub condition: String,
    /// How the action and the resource were derived, for `explain`.
    pub rule: String,
}

/// What a call maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Grants(Vec<Grant>),
    /// The call needs no permission (e.g. sts:GetCallerIdentity).
    NoPermissionNeeded(&'static str),
    /// No action in the catalog fits; the reason says why.
    Unmapped(String),
}

/// Resource used when the event shows nothing the action accepts.
pub const ANY_RESOURCE: &str = "*";

pub fn map_call(call: &ApiCall, catalog: &Catalog) -> Mapped {
    let prefix = actions::iam_prefix(call.event_source);
    if let Some(reason) = actions::needs_no_permission(prefix, call.event_name) {
        return Mapped::NoPermissionNeeded(reason);
    }
    let explained = |reason: String| match actions::why_no_action(prefix, call.event_name) {
        Some(why) => format!("{reason}: {why}"),
        None => reason,
    };
    if !catalog.has_service(prefix) {
        return Mapped::Unmapped(explained(format!(
            "event source {} has no IAM service prefix `{prefix}` in the catalog",
            call.event_source
        )));
    }
    let req: Value = call
        .request_parameters
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or(Value::Null);
    let ctx = Ctx {
        call,
        req: &req,
        partition: partition(call),
        region: call.region,
        account: call.resource_account(),
    };
    let steps = resources::plan(prefix, &ctx);
    if steps.is_empty() {
        return Mapped::Unmapped(format!(
            "{}:{} names no resource this tool can read",
            prefix, call.event_name
        ));
    }
    let mut grants = Vec::new();
    for step in steps {
        let full = [prefix, ":", &step.action].concat();
        let Some(action) = catalog.action(&full) else {
            return Mapped::Unmapped(explained(format!(
                "event {} maps to {full}, which is not an IAM action in the catalog",
                call.event_name
            )));
        };
        let condition = condition_for(call, prefix, &req);
        for (resource, resource_rule) in place(&action, &step, call) {
            grants.push(Grant {
                action: action.full_name(),
                resource,
                condition: condition.clone(),
                // Once per distinct call (hundreds of thousands on a big trail): plain
                // concatenation costs a fraction of `format!`.
                rule: ["action: ", step.action_rule, "; resource: ", &resource_rule].concat(),
            });
        }
    }
    grants.sort_by(|a, b| (&a.action, &a.resource).cmp(&(&b.action, &b.resource)));
    grants.dedup_by(|a, b| a.action == b.action && a.resource == b.resource);
    Mapped::Grants(grants)
}

/// The catalog's spelling of `action` if [`map_call`] (or a live source) could have recorded
/// `action` on `resource`; otherwise why not, in words for the user.
///
/// Evidence written by another program (an imported export) goes through this before it is
/// stored: the same checks a mapped call passes, so a file cannot grant what no call could. The
/// action must be one of the catalog, by name (a wildcard such as `*` or `iam:*` names no
/// action). The resource must be `*` (what the mapping grants when the call shows no resource
/// the action accepts), the unknown resource of a live source, or an ARN the action accepts that
/// is literal but for the deliberate wildcards of the rules.
pub fn check_grant(catalog: &Catalog, action: &str, resource: &str) -> Result<String, String> {
    let Some(found) = catalog.action(action) else {
        return Err(format!(
            "action {action:?} is not an IAM action of the catalog (wildcards name no action); \
             if it is new, `policy-miner catalog update` fetches the latest"
        ));
    };
    let name = found.full_name();
    if resource == ANY_RESOURCE || resource == crate::store::UNKNOWN_RESOURCE {
        return Ok(name);
    }
    if !found.takes_resources() {
        return Err(format!(
            "{name} takes no resource, so only \"*\" can be granted, not {resource:?}"
        ));
    }
    let Some(body) = resources::literal_part(found.service(), resource) else {
        return Err(format!(
            "resource {resource:?} holds a wildcard or a policy variable: a called resource is \
             a literal name"
        ));
    };
    let whole_name = body == resource || catalog.classify_arn(found.service(), body).is_some();
    if !whole_name || !accepts(&found, resource) {
        return Err(format!(
            "resource {resource:?} is not an ARN of a resource type {name} accepts"
        ));
    }
    Ok(name)
}

/// The resources to grant `step` on, with the rule that chose them.
fn place(action: &crate::catalog::Action, step: &Step, call: &ApiCall) -> Vec<(String, String)> {
    if !action.takes_resources() {
        return vec![(
            ANY_RESOURCE.to_string(),
            "the action takes no resource, so only \"*\" works".to_string(),
        )];
    }
    let mut accepted = step.candidates.iter().filter(|c| accepts(action, c));
    if step.resource_rule == resources::REQUEST_ARNS {
        let all: Vec<(String, String)> = accepted
            .map(|arn| (arn.clone(), step.resource_rule.to_string()))
            .collect();
        if !all.is_empty() {
            return all;
        }
    } else if let Some(arn) = accepted.next() {
        return vec![(arn.clone(), step.resource_rule.to_string())];
    }
    let listed: Vec<(String, String)> = call
        .resources
        .iter()
        .map(|r| escape_literal(r.arn))
        .filter(|arn| accepts(action, arn))
        .map(|arn| (arn, "ARN listed in the event's resources[]".to_string()))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    let why = if step.candidates.is_empty() {
        "the event names no resource this action accepts; granted on \"*\"".to_string()
    } else {
        match step.candidates.as_slice() {
            [one] => format!(
                "{one} is not a resource type {} accepts; granted on \"*\"",
                action.full_name()
            ),
            many => format!(
                "none of {} is a resource type {} accepts; granted on \"*\"",
                many.join(", "),
                action.full_name()
            ),
        }
    };
    vec![(ANY_RESOURCE.to_string(), why)]
}

/// The partition of the call's ARNs: the role's own (a role session's resources live in its
/// partition); for other principals the first ARN in `resources[]`, else the region's partition.
fn partition<'a>(call: &ApiCall<'a>) -> &'a str {
    if let crate::call::Principal::Role { .. } = call.principal {
        return call.partition();
    }
    if let Some(p) = call
        .resources
        .iter()
        .find_map(|r| r.arn.strip_prefix("arn:")?.split(':').next())
        .filter(|p| !p.is_empty())
    {
        return p;
    }
    if call.region.starts_with("cn-") {
        "aws-cn"
    } else if call.region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Whether `action` can be scoped to `arn`. The catalog's strict classification calls a
/// qualified Lambda ARN (`function:f:live`, `function:f:3`) a `function alias`/`function version`,
/// types the reference does not list for `lambda:InvokeFunction` and friends, yet Lambda authorizes
/// those actions on qualified ARNs; only for Lambda functions is the looser match taken.
pub fn accepts(action: &crate::catalog::Action, arn: &str) -> bool {
    action.accepts_arn(arn).is_some()
        || (action.service() == "lambda"
            && arn.contains(":function:")
            && action.resource_types_matching(arn).contains(&"function"))
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

/// When a service called KMS on the principal's behalf: `kms:ViaService`, and the encryption
/// context keys that name the resource the service acted on (literal values, as the request
/// carried them).
fn condition_for(call: &ApiCall, prefix: &str, req: &Value) -> String {
    if prefix != "kms" {
        return String::new();
    }
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
    use super::*;

    #[test]
    fn check_grant_takes_what_a_call_can_prove_and_nothing_wider() {
        let catalog = crate::catalog::embedded();
        let ok = |action: &str, resource: &str| check_grant(catalog, action, resource);
        assert_eq!(
            ok("S3:getobject", "arn:aws:s3:::b/k"),
            Ok("s3:GetObject".to_string())
        );
        assert!(ok("s3:GetObject", "arn:aws:s3:::b/a${*}b").is_ok());
        assert!(ok("s3:GetObject", "*").is_ok());
        assert!(ok("s3:GetObject", "?").is_ok());
        assert!(ok("sqs:ListQueues", "*").is_ok());
        assert!(ok(
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/token-??????"
        )
        .is_ok());
        assert!(ok(
            "logs:DescribeLogStreams",
            "arn:aws:logs:eu-west-1:111122223333:log-group:app:*"
        )
        .is_ok());
        for (action, resource) in [
            ("*", "*"),
            ("iam:*", "*"),
            ("s3:Get*", "*"),
            ("iam:PassRol?", "*"),
            ("", "*"),
            ("s3:GetObject", "arn:aws:s3:::*"),
            ("s3:GetObject", "arn:aws:s3:::b/*"),
            ("s3:GetObject", "arn:aws:s3:::b/${aws:username}"),
            ("s3:GetObject", "arn:aws:sqs:eu-west-1:111122223333:q"),
            ("s3:GetObject", ""),
            ("sqs:ListQueues", "arn:aws:sqs:eu-west-1:111122223333:q"),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:-??????",
            ),
            (
                "logs:DescribeLogStreams",
                "arn:aws:logs:eu-west-1:111122223333:log-group:*",
            ),
            ("s3:GetObject", "arn:aws:s3:::b/k-??????"),
        ] {
            assert!(ok(action, resource).is_err(), "{action} on {resource}");
        }
    }
}
