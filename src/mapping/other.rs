//! Services named by one parameter (Kinesis Data Streams, Data Firehose, Step Functions), and the
//! general rule for every service without a file of its own.
//!
//! **The general rule.** The IAM action is named after the event (`<prefix>:<eventName>`, see
//! `actions.rs` for the exceptions), and the resources are every ARN the request names in its
//! top-level parameters, as a string or in a list of strings (`targetGroupArn`, `resourceArns`…).
//! The catalog then keeps each one the action accepts: each is a resource the call touches. When
//! the request names none the action accepts, the ARNs of the event's `resources[]` are used, and
//! then `"*"`, with the reason recorded (see `place` in `mod.rs`).
//!
//! **Kinesis Data Streams.** Stream calls name the stream in `streamName` or `streamARN`
//! (`PutRecord`, `PutRecords`, `GetRecords` are data events). A stream is
//! `arn:<partition>:kinesis:<region>:<account>:stream/<name>`.
//!
//! **Amazon Data Firehose.** Calls name the delivery stream in `deliveryStreamName` (`PutRecord`,
//! `PutRecordBatch`). A delivery stream is
//! `arn:<partition>:firehose:<region>:<account>:deliverystream/<name>`.
//!
//! **AWS Step Functions** (IAM prefix `states`). Calls name their state machine, execution or
//! activity by ARN (`stateMachineArn`, `executionArn`, `activityArn`), taken as they are.

use super::rule::{request_arns, Ctx, Step, REQUEST_ARNS};
use crate::policy::escape::escape_literal as lit;

/// Any service without a rule of its own: every ARN the request names.
pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(action, request_arns(ctx), action_rule, REQUEST_ARNS)
}

pub(super) fn kinesis(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        named(ctx, &["streamARN"], &["streamName"], "kinesis", "stream/"),
        action_rule,
        "stream from the request",
    )
}

pub(super) fn firehose(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        named(
            ctx,
            &[],
            &["deliveryStreamName"],
            "firehose",
            "deliverystream/",
        ),
        action_rule,
        "delivery stream from the request",
    )
}

pub(super) fn states(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        ["stateMachineArn", "executionArn", "activityArn"]
            .iter()
            .filter_map(|k| ctx.s(k))
            .map(lit)
            .collect(),
        action_rule,
        "state machine ARN from the request",
    )
}

/// The ARN the request names under one of `arn_keys`, else the ARN of `<kind><name>` for the name
/// under one of `name_keys`.
fn named(
    ctx: &Ctx,
    arn_keys: &[&str],
    name_keys: &[&str],
    service: &str,
    kind: &str,
) -> Vec<String> {
    if let Some(arn) = ctx.any(arn_keys) {
        return vec![lit(arn)];
    }
    ctx.any(name_keys)
        .map(|n| ctx.arn(service, &format!("{kind}{n}")))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn services_without_a_rule_use_the_arns_the_request_names() {
        let tg = format!(
            "arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/api/0123456789abcdef"
        );
        let ev = event(
            "elasticloadbalancing",
            "RegisterTargets",
            json!({"targetGroupArn": tg, "targets": [{"id": "10.0.1.17", "port": 8080}]}),
        );
        assert_eq!(pairs(&ev), [p("elasticloadbalancing:RegisterTargets", &tg)]);
    }
}
