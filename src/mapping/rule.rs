//! What every service's rules work with: the facts of one call ([`Ctx`]) and what a rule makes of
//! them ([`Step`]: an action and the ARNs to try for it, each with the words `explain` shows).
//!
//! Every name taken from a request is escaped before it enters an ARN ([`Ctx::arn`] does it, and
//! the service files escape with `lit` whatever they build themselves), so `*`, `?` or `$` in a
//! resource name can never widen a grant; the only wildcards the rules write are deliberate ones
//! ([`DELIBERATE_WILDCARDS`]: the six-character suffix of a secret named without it, the `:*` of
//! a log group).

use crate::call::ApiCall;
use crate::policy::escape::escape_literal as lit;
use crate::policy::escape::unescape_literal;
use serde_json::Value;

/// The only wildcards the rules write into a resource, each at the end of an ARN of one service
/// (every name taken from a request is escaped): a secret named without its ARN, and a log
/// group's streams.
pub const DELIBERATE_WILDCARDS: &[(&str, &str)] = &[
    ("secretsmanager", SECRET_SUFFIX),
    ("logs", LOG_GROUP_STREAMS),
];

/// The six random characters Secrets Manager appends to a secret's name in its ARN.
pub(super) const SECRET_SUFFIX: &str = "-??????";

/// A log group's ARN as IAM evaluates the actions on its streams.
pub(super) const LOG_GROUP_STREAMS: &str = ":*";

/// `resource` (policy syntax) of an action of `service` without its deliberate wildcard, if it
/// is a name these rules could have written: literal text (`*`, `?` and `$` escaped) but for the
/// deliberate wildcard of its service. None for a policy variable or a wildcard anywhere else,
/// which would widen a grant beyond what was called.
pub fn literal_part<'r>(service: &str, resource: &'r str) -> Option<&'r str> {
    let body = DELIBERATE_WILDCARDS
        .iter()
        .filter(|(s, _)| *s == service)
        .find_map(|(_, suffix)| resource.strip_suffix(suffix))
        .unwrap_or(resource);
    let literal = lit(&unescape_literal(body)) == body;
    literal.then_some(body)
}

/// What a call needs: one action on one target. `candidates` are alternative ARNs for the target,
/// most specific first; the caller keeps the first one the action accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: String,
    pub candidates: Vec<String>,
    pub action_rule: &'static str,
    pub resource_rule: &'static str,
    /// A condition key and the value the request gives it, written as the grant's condition
    /// (`StringEquals`): `iam:PassedToService` on an `iam:PassRole` (the service the role is
    /// passed to), `ecs:cluster` on a task launch.
    pub condition: Option<(&'static str, String)>,
}

impl Step {
    /// The usual shape: the call needs the one action its event names, on one target.
    pub fn one(
        action: &str,
        candidates: Vec<String>,
        action_rule: &'static str,
        resource_rule: &'static str,
    ) -> Vec<Step> {
        vec![Step {
            condition: None,
            action: action.to_string(),
            candidates,
            action_rule,
            resource_rule,
        }]
    }
}

/// The facts a rule may use.
pub struct Ctx<'c, 'a> {
    pub call: &'c ApiCall<'a>,
    pub req: &'c Value,
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

impl Ctx<'_, '_> {
    /// A non-empty string parameter of the request.
    pub fn s(&self, key: &str) -> Option<&str> {
        self.req
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// First string among several spellings CloudTrail uses for the same parameter.
    pub fn any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.s(k))
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`, escaped.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        lit(&format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        ))
    }
}

/// The action rule of a call whose IAM action has the event's name.
pub const DEFAULT: &str = "IAM action named after the event";
/// The action rule of a call whose IAM action has another name than the event (`actions::renamed`).
pub const RENAMED: &str = "event name differs from the IAM action";
/// The action rule of a call whose event name carries an API version (`CreateFunction20150331`).
pub const VERSION_SUFFIX: &str = "API version suffix removed from the event name";

/// The resource rule of a step whose request names no resource: the caller then takes the ARNs
/// of the event's `resources[]` the action accepts, else `*`.
pub const FROM_RESOURCES: &str = "resources[] of the event";

/// The resource rule of a step whose resource the event does not record at all (the keys of an
/// S3 `DeleteObjects`): the ARNs of the event's `resources[]` the action accepts, else the
/// resource is unknown ([`crate::store::UNKNOWN_RESOURCE`]), never `*`: propose then grants the
/// action only where other calls show its resources, and says so otherwise.
pub const NOT_LOGGED: &str = "resources[] of the event; the request's resources are not logged";

/// The rule of steps whose candidates are every ARN the request names: each one the action
/// accepts is a resource the call touches, not an alternative spelling of one target.
pub const REQUEST_ARNS: &str = "ARN named in the request";

/// ARNs the request names in its top-level parameters (`targetGroupArn`, `resourceArns`, ...),
/// for services without a rule of their own; the catalog then keeps only those the action is
/// authorized on.
pub fn request_arns(ctx: &Ctx) -> Vec<String> {
    let Some(params) = ctx.req.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for value in params.values() {
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for s in strings.into_iter().filter(|s| s.starts_with("arn:")) {
            let arn = lit(s);
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
    }
    out
}

/// `iam:PassRole` on each role a request hands to a service (a Lambda function's `role`, an ECS
/// task's `overrides.taskRoleArn`): CloudTrail never logs it, as it is a permission and no call,
/// yet the call is refused without it. A role given by name is the role of that name in the
/// request's account. `service` is the service principal it is passed to (`iam:PassedToService`).
pub fn pass_role(
    ctx: &Ctx,
    roles: &[&str],
    service: &'static str,
    action_rule: &'static str,
) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for role in roles.iter().filter(|r| !r.is_empty()) {
        let arn = if role.starts_with("arn:") {
            lit(role)
        } else {
            lit(&format!(
                "arn:{}:iam::{}:role/{}",
                ctx.partition,
                ctx.account,
                role.trim_start_matches('/')
            ))
        };
        if out.iter().all(|s| s.candidates != [arn.clone()]) {
            out.push(Step {
                condition: Some((super::PASSED_TO_SERVICE, service.to_string())),
                action: "iam:PassRole".to_string(),
                candidates: vec![arn],
                action_rule,
                resource_rule: "role the request passes",
            });
        }
    }
    out
}

/// `%XX` escapes decoded; invalid ones are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
