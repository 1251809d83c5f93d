//! One API call → the IAM grants it proves necessary.
//!
//! [`map_call`] is the one way in. It finds the call's IAM service prefix (`prefixes.rs`, the
//! one table of service names), names the action (`actions.rs`: `<prefix>:<eventName>` unless
//! the service's table renames it), and hands the call to its service's file for the resource
//! ARNs and the calls that need several actions: `s3.rs`, `ssm.rs`, `sqs.rs`, `sns.rs`,
//! `dynamodb.rs`, `secretsmanager.rs`, `kms.rs`, `logs.rs`, `ecr.rs`, `lambda.rs`, `sts.rs`,
//! `ecs.rs`, `bedrock.rs`; `other.rs` holds the services named by one parameter and the general
//! rule for the rest. Each service file says, in its module doc, what CloudTrail logs for its calls, how IAM
//! authorizes them and the ARN format, and keeps its rule cases beside it; `docs/mapping.md` has
//! them all in one table.
//!
//! Then both are checked against the catalog: an action the catalog does not know is reported as
//! unmapped (never guessed), and an ARN is kept only if the action accepts its resource type;
//! otherwise the grant falls back to the ARNs in the event's `resources[]`, and then to `*` with
//! the reason recorded.
//!
//! To add a service: a file `<prefix>.rs` with `steps(ctx, action, action_rule)`, its facts and
//! its cases, one arm in `plan`, and its line in `docs/mapping.md`.

pub mod actions;
pub mod fallback;
pub mod operations;
pub mod prefixes;
mod rule;

mod bedrock;
mod dynamodb;
mod ecr;
mod ecs;
mod kms;
mod lambda;
mod logs;
mod other;
mod s3;
mod secretsmanager;
mod sns;
mod sqs;
mod ssm;
mod sts;

#[cfg(test)]
mod test_support;

pub use kms::{ENCRYPTION_CONTEXT_PREFIX, VIA_SERVICE};

/// The former home of the resource rules, kept for the path its callers use.
pub mod resources {
    pub use super::rule::{literal_part, percent_decode, DELIBERATE_WILDCARDS};
}

use crate::call::ApiCall;
use crate::catalog::Catalog;
use crate::policy::escape::escape_literal;
use rule::{Ctx, Step};
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

/// Why a call proves no grant: the kind its row of calls without a grant is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UngrantedKind {
    /// No action in the catalog fits ([`Mapped::Unmapped`]).
    Unmapped,
    /// The call needs no permission ([`Mapped::NoPermissionNeeded`]).
    NoPermission,
}

impl UngrantedKind {
    /// As the store and the exchange format spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            UngrantedKind::Unmapped => "unmapped",
            UngrantedKind::NoPermission => "no_permission",
        }
    }

    /// From its stored spelling.
    pub fn parse(text: &str) -> Option<UngrantedKind> {
        [UngrantedKind::Unmapped, UngrantedKind::NoPermission]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// The condition key naming the service a role is passed to (`iam:PassRole`).
pub const PASSED_TO_SERVICE: &str = "iam:PassedToService";

/// Resource used when the event shows nothing the action accepts.
pub const ANY_RESOURCE: &str = "*";

/// [`map_call`] for a call whose request parameters the source did not read (SDK monitoring
/// never carries them; the proxy leaves a body too large or too broken to parse): a resource the
/// rules would have read from them is unknown ([`crate::store::UNKNOWN_RESOURCE`]), never `*`,
/// so `propose` lists the action as lacking resource evidence instead of granting it on
/// everything. Actions that take no resource keep `*`.
pub fn map_call_unread(call: &ApiCall, catalog: &Catalog) -> Mapped {
    let mut mapped = map_call(call, catalog);
    // A rule that finds its resources only in the parameters (DynamoDB's batches name their
    // tables nowhere else) plans nothing without them: the action the event names still stands,
    // on an unknown resource.
    if let Mapped::Unmapped(_) = mapped {
        let prefix = actions::iam_prefix(call.event_source);
        let event = actions::strip_version_suffix(call.event_name);
        let name = actions::renamed(prefix, event).unwrap_or(event);
        if let Some(action) = catalog.action(&format!("{prefix}:{name}")) {
            return Mapped::Grants(vec![Grant {
                action: action.full_name(),
                resource: crate::store::UNKNOWN_RESOURCE.to_string(),
                condition: String::new(),
                rule: format!(
                    "action: {}; resource: {}",
                    rule::DEFAULT,
                    fallback::PARAMETERS_NOT_READ
                ),
            }]);
        }
    }
    if let Mapped::Grants(grants) = &mut mapped {
        for g in grants.iter_mut() {
            let takes_resources = catalog
                .action(&g.action)
                .is_none_or(|a| a.takes_resources());
            if g.resource == ANY_RESOURCE && takes_resources {
                g.resource = crate::store::UNKNOWN_RESOURCE.to_string();
                let action_rule = g.rule.split("; resource:").next().unwrap_or_default();
                g.rule = format!("{action_rule}; resource: {}", fallback::PARAMETERS_NOT_READ);
            }
        }
    }
    mapped
}

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
    let steps = plan(prefix, &ctx);
    if steps.is_empty() {
        return Mapped::Unmapped(format!(
            "{}:{} names no resource this tool can read",
            prefix, call.event_name
        ));
    }
    let mut grants = Vec::new();
    for step in steps {
        // A step of another service (`iam:PassRole` for a launch) names its prefix itself.
        let full = if step.action.contains(':') {
            step.action.clone()
        } else {
            [prefix, ":", &step.action].concat()
        };
        let Some(action) = catalog.action(&full) else {
            return Mapped::Unmapped(explained(format!(
                "event {} maps to {full}, which is not an IAM action in the catalog",
                call.event_name
            )));
        };
        let condition = if let Some((key, value)) = &step.condition {
            serde_json::json!({ *key: value }).to_string()
        } else if prefix == "kms" {
            kms::condition(call, &req)
        } else {
            String::new()
        };
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
pub fn check_grant(catalog: &Catalog, action: &str, resource: &str) -> Result<String, Ungrantable> {
    let Some(found) = catalog.action(action) else {
        return Err(Ungrantable::NoAction {
            action: action.to_string(),
        });
    };
    let name = found.full_name();
    if resource == ANY_RESOURCE || resource == crate::store::UNKNOWN_RESOURCE {
        return Ok(name);
    }
    if !found.takes_resources() {
        return Err(Ungrantable::TakesNoResource {
            action: name,
            resource: resource.to_string(),
        });
    }
    let Some(body) = resources::literal_part(found.service(), resource) else {
        return Err(Ungrantable::NotLiteral {
            resource: resource.to_string(),
        });
    };
    let whole_name = body == resource || catalog.classify_arn(found.service(), body).is_some();
    if !whole_name || !accepts(&found, resource) {
        return Err(Ungrantable::NotAccepted {
            action: name,
            resource: resource.to_string(),
        });
    }
    Ok(name)
}

/// Why [`check_grant`] refuses a grant: no call could have been mapped to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ungrantable {
    #[error(
        "action {action:?} is not an IAM action of the catalog (wildcards name no action); if it \
         is new, `policy-miner catalog update` fetches the latest"
    )]
    NoAction { action: String },
    #[error("{action} takes no resource, so only \"*\" can be granted, not {resource:?}")]
    TakesNoResource { action: String, resource: String },
    #[error(
        "resource {resource:?} holds a wildcard or a policy variable: a called resource is a \
         literal name"
    )]
    NotLiteral { resource: String },
    #[error("resource {resource:?} is not an ARN of a resource type {action} accepts")]
    NotAccepted { action: String, resource: String },
}

/// The steps for one call: the action named after the event (or as its service's table renames
/// it), then the resources its service's rule finds.
fn plan(prefix: &str, ctx: &Ctx) -> Vec<Step> {
    let event = ctx.call.event_name;
    let (action, action_rule) = match actions::renamed(prefix, event) {
        Some(a) => (a, rule::RENAMED),
        None => {
            let stripped = actions::strip_version_suffix(event);
            if stripped.len() != event.len() {
                (stripped, rule::VERSION_SUFFIX)
            } else {
                (stripped, rule::DEFAULT)
            }
        }
    };
    match prefix {
        "s3" => s3::steps(ctx, action, action_rule),
        "ssm" => ssm::steps(ctx, action, action_rule),
        "sqs" => sqs::steps(ctx, action, action_rule),
        "sns" => sns::steps(ctx, action, action_rule),
        "dynamodb" => dynamodb::steps(ctx, action, action_rule),
        "secretsmanager" => secretsmanager::steps(ctx, action, action_rule),
        "kms" => kms::steps(ctx, action, action_rule),
        "logs" => logs::steps(ctx, action, action_rule),
        "ecr" => ecr::steps(ctx, action, action_rule),
        "sts" => sts::steps(ctx, action, action_rule),
        "lambda" => lambda::steps(ctx, action, action_rule),
        "kinesis" => other::kinesis(ctx, action, action_rule),
        "firehose" => other::firehose(ctx, action, action_rule),
        "states" => other::states(ctx, action, action_rule),
        "ecs" => ecs::steps(ctx, action, action_rule),
        "bedrock" => bedrock::steps(ctx, action, action_rule),
        _ => other::steps(ctx, action, action_rule),
    }
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
    if step.resource_rule == rule::REQUEST_ARNS {
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
    if step.resource_rule == rule::NOT_LOGGED {
        return vec![(
            crate::store::UNKNOWN_RESOURCE.to_string(),
            "resource unknown: the event does not log it".to_string(),
        )];
    }
    let why = if step.candidates.is_empty() {
        fallback::NO_RESOURCE_IN_EVENT.to_string()
    } else {
        fallback::not_accepted(&step.candidates, &action.full_name())
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

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::catalog;
    use crate::policy::eval::Decision;
    use serde_json::json;

    #[test]
    fn actions_that_take_no_resource_get_star() {
        for (source, name, req, action) in [
            (
                "ecr",
                "GetAuthorizationToken",
                json!({}),
                "ecr:GetAuthorizationToken",
            ),
            (
                "sqs",
                "ListQueues",
                json!({"queueNamePrefix": "orders"}),
                "sqs:ListQueues",
            ),
            (
                "ssm",
                "DescribeParameters",
                json!({"maxResults": 50}),
                "ssm:DescribeParameters",
            ),
            (
                "s3",
                "ListBuckets",
                json!({"Host": "s3.amazonaws.com"}),
                "s3:ListAllMyBuckets",
            ),
        ] {
            let g = grants(&event(source, name, req));
            assert_eq!(
                g.iter()
                    .map(|g| (g.action.as_str(), g.resource.as_str()))
                    .collect::<Vec<_>>(),
                [(action, "*")],
                "{name}"
            );
            assert!(!catalog::embedded()
                .action(action)
                .unwrap()
                .takes_resources());
        }
    }

    #[test]
    fn an_event_that_fits_no_action_is_unmapped_not_guessed() {
        let Mapped::Unmapped(reason) =
            map(&event("s3", "NoSuchOperation", json!({"bucketName": "b"})))
        else {
            panic!("a made-up event name must not map");
        };
        assert!(reason.contains("s3:NoSuchOperation"), "{reason}");
        assert!(matches!(
            map(&event("nosuchservice", "Describe", json!({}))),
            Mapped::Unmapped(_)
        ));
    }

    #[test]
    fn partitions_come_from_the_event() {
        let ev = in_partition(
            "aws-cn",
            "cn-north-1",
            "s3",
            "GetObject",
            json!({"bucketName": "b", "key": "k"}),
        );
        assert_eq!(pairs(&ev), [p("s3:GetObject", "arn:aws-cn:s3:::b/k")]);
        let ev = in_partition(
            "aws-us-gov",
            "us-gov-west-1",
            "ssm",
            "GetParameter",
            json!({"name": "/a/b"}),
        );
        assert_eq!(
            pairs(&ev),
            [p(
                "ssm:GetParameter",
                &format!("arn:aws-us-gov:ssm:us-gov-west-1:{ACCOUNT}:parameter/a/b")
            )]
        );
        let mut ev = in_partition(
            "aws-cn",
            "cn-northwest-1",
            "sqs",
            "ReceiveMessage",
            json!({"queueUrl": "https://sqs.cn-northwest-1.amazonaws.com.cn/444455556666/q"}),
        );
        assert_eq!(
            pairs(&ev),
            [p(
                "sqs:ReceiveMessage",
                "arn:aws-cn:sqs:cn-northwest-1:444455556666:q"
            )]
        );
        let secret =
            format!("arn:aws-us-gov:secretsmanager:us-gov-east-1:{ACCOUNT}:secret:x-AbC123");
        ev = in_partition(
            "aws-us-gov",
            "us-gov-east-1",
            "secretsmanager",
            "GetSecretValue",
            json!({"secretId": "x"}),
        );
        ev["resources"] = json!([{"ARN": secret, "type": "AWS::SecretsManager::Secret"}]);
        assert_eq!(pairs(&ev), [p("secretsmanager:GetSecretValue", &secret)]);
    }

    #[test]
    fn wildcard_characters_in_names_never_widen_a_grant() {
        let cases = [
            (
                event("s3", "GetObject", json!({"bucketName": "b", "key": "in/*"})),
                "s3:GetObject",
                "arn:aws:s3:::b/in/*",
                "arn:aws:s3:::b/in/secret.csv",
            ),
            (
                event("ssm", "GetParameter", json!({"name": "/app/?"})),
                "ssm:GetParameter",
                "arn:aws:ssm:eu-west-1:111122223333:parameter/app/?",
                "arn:aws:ssm:eu-west-1:111122223333:parameter/app/x",
            ),
            (
                event(
                    "s3",
                    "PutObject",
                    json!({"bucketName": "b", "key": "${aws:username}"}),
                ),
                "s3:PutObject",
                "arn:aws:s3:::b/${aws:username}",
                "arn:aws:s3:::b/alice",
            ),
            (
                event(
                    "secretsmanager",
                    "GetSecretValue",
                    json!({"secretId": "a*"}),
                ),
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:a*-AbC123",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ab-AbC123",
            ),
        ];
        for (ev, action, literal, other) in cases {
            let g = grants(&ev);
            assert_eq!(g.len(), 1, "{g:?}");
            assert_eq!(g[0].action, action);
            let r = &g[0].resource;
            assert!(r.contains("${"), "{r} is not escaped");
            assert_eq!(
                allows(r, action, literal),
                Decision::Allow,
                "{r} vs {literal}"
            );
            assert_eq!(
                allows(r, action, other),
                Decision::ImplicitDeny,
                "{r} widened to {other}"
            );
        }
    }

    #[test]
    fn every_grant_names_its_rule() {
        let g = grants(&event(
            "s3",
            "CopyObject",
            json!({"bucketName": "a", "key": "k", "x-amz-copy-source": "b/k"}),
        ));
        for grant in g {
            assert!(
                grant.rule.contains("action:") && grant.rule.contains("resource:"),
                "{grant:?}"
            );
        }
    }

    #[test]
    fn the_loose_lambda_match_is_for_lambda_functions_only() {
        let c = catalog::embedded();
        let invoke = c.action("lambda:InvokeFunction").unwrap();
        let live = "arn:aws:lambda:eu-west-1:111122223333:function:f:live";
        assert!(
            invoke.accepts_arn(live).is_none(),
            "the strict rule rejects it"
        );
        assert!(accepts(&invoke, live));
        // Elsewhere a looser format match must not count: a log-group action on a stream ARN.
        let group = c.action("logs:DeleteLogGroup").unwrap();
        let stream = "arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:s";
        assert!(!group.resource_types_matching(stream).is_empty());
        assert!(!accepts(&group, stream));
    }
}

#[cfg(test)]
mod check_grant_tests {
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
