//! Why a grant of an action that takes resources ended up on `*` (or on no known resource), as a
//! stable code `propose --format json` reports beside the words.
//!
//! IAM scopes an action to the resource types the Service Authorization Reference lists for it;
//! an action with none listed only works on `"*"` and needs no reason. For the others `place` (in
//! `mod.rs`) grants `*` only when the call shows nothing better, and writes why into the grant's
//! `rule` text, which the store keeps as it is. The texts are built here and read back here, so
//! the code is recovered from stored evidence without a schema change; evidence whose text says
//! none of these (imported from another program, or from an older build) gets
//! [`Fallback::Unrecorded`].

/// The rule text of a grant on `*` whose call named no resource the action accepts.
pub(super) const NO_RESOURCE_IN_EVENT: &str =
    "the event names no resource this action accepts; granted on \"*\"";

/// How the rule text of a grant on `*` ends when the call named resources of other types.
const NOT_ACCEPTED_END: &str = " accepts; granted on \"*\"";

/// The resource part of the rule of a call whose request parameters the source did not read.
pub(super) const PARAMETERS_NOT_READ: &str = "unknown, the request's parameters were not read";

/// The rule text of a grant on `*` whose call named `candidates`, none of a type `action` accepts.
pub(super) fn not_accepted(candidates: &[String], action: &str) -> String {
    match candidates {
        [one] => format!("{one} is not a resource type {action}{NOT_ACCEPTED_END}"),
        many => format!(
            "none of {} is a resource type {action}{NOT_ACCEPTED_END}",
            many.join(", ")
        ),
    }
}

/// Why a grant has no resource narrower than `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fallback {
    /// The call named no resource at all that the action accepts (nor did `resources[]`).
    NoResourceInEvent,
    /// The call named resources, but none of a type the action can be scoped to.
    ResourceTypeNotAccepted,
    /// The source did not read the request's parameters (SDK monitoring, an unparsed body).
    ParametersNotRead,
    /// The evidence does not say (written by another program or an older build).
    Unrecorded,
}

impl Fallback {
    /// The stable code JSON carries: keep these spellings, consumers match on them.
    pub fn code(self) -> &'static str {
        match self {
            Fallback::NoResourceInEvent => "no-resource-in-event",
            Fallback::ResourceTypeNotAccepted => "resource-type-not-accepted",
            Fallback::ParametersNotRead => "parameters-not-read",
            Fallback::Unrecorded => "unrecorded",
        }
    }

    /// What to do about it, in words.
    pub fn remedy(self) -> &'static str {
        match self {
            Fallback::NoResourceInEvent => {
                "the calls named no resource it accepts; narrow it by hand or collect data events"
            }
            Fallback::ResourceTypeNotAccepted => {
                "the calls named resources of types it cannot be scoped to (see `grants` for the \
                 rule); narrow it by hand"
            }
            Fallback::ParametersNotRead => {
                "the source did not read the request's parameters; collect CloudTrail data events \
                 or run the proxy"
            }
            Fallback::Unrecorded => {
                "the evidence does not say why (see `grants` for the rule); narrow it by hand or \
                 collect data events"
            }
        }
    }

    /// The reason a grant's stored `rule` text records ("action: …; resource: …").
    pub fn of_rule(rule: &str) -> Fallback {
        let resource = rule
            .split_once("; resource: ")
            .map_or(rule, |(_, resource)| resource);
        if resource == NO_RESOURCE_IN_EVENT {
            Fallback::NoResourceInEvent
        } else if resource == PARAMETERS_NOT_READ {
            Fallback::ParametersNotRead
        } else if resource.ends_with(NOT_ACCEPTED_END)
            && (resource.starts_with("none of ") || resource.contains(" is not a resource type "))
        {
            Fallback::ResourceTypeNotAccepted
        } else {
            Fallback::Unrecorded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{event, grants};
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mapper_records_a_reason_that_reads_back() {
        // ECS `ListTasks` is authorized on container instances only (Service Authorization
        // Reference); the call names its cluster, which the rule turns into an ARN.
        let listed = grants(&event(
            "ecs",
            "ListTasks",
            json!({"cluster": "prod", "family": "orders"}),
        ));
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].resource, "*");
        assert_eq!(
            Fallback::of_rule(&listed[0].rule),
            Fallback::ResourceTypeNotAccepted,
            "{}",
            listed[0].rule
        );
        // CloudFormation names stacks by name, no ARN: nothing for the general rule.
        let described = grants(&event(
            "cloudformation",
            "DescribeStacks",
            json!({"stackName": "orders-web"}),
        ));
        assert_eq!(
            Fallback::of_rule(&described[0].rule),
            Fallback::NoResourceInEvent,
            "{}",
            described[0].rule
        );
    }

    #[test]
    fn every_text_written_reads_back_as_its_code() {
        let rule = |resource: &str| {
            format!("action: IAM action named after the event; resource: {resource}")
        };
        assert_eq!(
            Fallback::of_rule(&rule(NO_RESOURCE_IN_EVENT)),
            Fallback::NoResourceInEvent
        );
        let one = not_accepted(&["arn:aws:s3:::b".into()], "s3:GetObject");
        assert_eq!(
            Fallback::of_rule(&rule(&one)),
            Fallback::ResourceTypeNotAccepted
        );
        let many = not_accepted(&["arn:a".into(), "arn:b".into()], "sqs:SendMessage");
        assert!(many.starts_with("none of arn:a, arn:b"), "{many}");
        assert_eq!(
            Fallback::of_rule(&rule(&many)),
            Fallback::ResourceTypeNotAccepted
        );
        assert_eq!(
            Fallback::of_rule(&rule(PARAMETERS_NOT_READ)),
            Fallback::ParametersNotRead
        );
        for other in [
            "test",
            "",
            "ARN listed in the event's resources[]",
            "x; resource: y",
        ] {
            assert_eq!(Fallback::of_rule(other), Fallback::Unrecorded, "{other}");
        }
        let codes = [
            Fallback::NoResourceInEvent,
            Fallback::ResourceTypeNotAccepted,
            Fallback::ParametersNotRead,
            Fallback::Unrecorded,
        ]
        .map(Fallback::code);
        assert_eq!(
            codes,
            [
                "no-resource-in-event",
                "resource-type-not-accepted",
                "parameters-not-read",
                "unrecorded"
            ]
        );
    }
}
