//! Amazon SNS.
//!
//! **What CloudTrail logs.** Topic management calls are management events; `Publish` and
//! `PublishBatch` are data events, logged only when the trail asks for them. `requestParameters`
//! names the topic by ARN in `topicArn` (or `targetArn` for a direct publish; the proxy writes
//! the wire names `TopicArn`, `TargetArn`); `CreateTopic` names it by `name`.
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name, on the topic;
//! `PublishBatch` needs `sns:Publish`.
//!
//! **ARNs.** `arn:<partition>:sns:<region>:<account>:<topic name>`.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

/// SNS actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    match event_name {
        "PublishBatch" => Some("Publish"),
        _ => None,
    }
}

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        topic(ctx).into_iter().collect(),
        action_rule,
        "topic ARN from the request",
    )
}

fn topic(ctx: &Ctx) -> Option<String> {
    if let Some(arn) = ctx.any(&["topicArn", "TopicArn", "targetArn", "TargetArn"]) {
        return Some(lit(arn));
    }
    ctx.s("name").map(|n| ctx.arn("sns", n))
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn publish_on_the_topic() {
        let topic = format!("arn:aws:sns:eu-west-1:{ACCOUNT}:order-events");
        assert_eq!(
            pairs(&event("sns", "Publish", json!({"topicArn": topic}))),
            [p("sns:Publish", &topic)]
        );
    }
}
