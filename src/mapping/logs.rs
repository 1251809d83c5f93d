//! Amazon CloudWatch Logs.
//!
//! **What CloudTrail logs.** Log group and stream management (`CreateLogGroup`,
//! `CreateLogStream`, `DescribeLogStreams`…) are management events; `PutLogEvents` is never in
//! CloudTrail (the execution role's log writes are known from the task definition's `awslogs`
//! options instead). `requestParameters` names the group in `logGroupName` and the stream in
//! `logStreamName`. The `awslogs` driver names its streams `<prefix>/<container>/<task id>`.
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name. Stream actions
//! (`logs:CreateLogStream`, `logs:PutLogEvents`) are authorized on the stream; group actions on
//! the group.
//!
//! **ARNs.** A group is `arn:<partition>:logs:<region>:<account>:log-group:<group>`, and IAM
//! evaluates group actions against `log-group:<group>:*`, so a grant on a group is written with
//! that `:*`; a stream is `…:log-group:<group>:log-stream:<stream>`. A call naming a stream tries
//! the stream ARN first, then the group's.

use super::rule::{Ctx, Step};

const LOGS_RULE: &str =
    "log stream ARN, or the log group ARN with `:*` as IAM evaluates group actions";

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(action, candidates(ctx), action_rule, LOGS_RULE)
}

fn candidates(ctx: &Ctx) -> Vec<String> {
    let Some(group) = ctx.s("logGroupName") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(stream) = ctx.s("logStreamName") {
        out.push(ctx.arn("logs", &format!("log-group:{group}:log-stream:{stream}")));
    }
    out.push(format!(
        "{}{}",
        ctx.arn("logs", &format!("log-group:{group}")),
        super::rule::LOG_GROUP_STREAMS
    ));
    out
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn streams_and_groups() {
        assert_pairs(
            "logs",
            &[
                (
                    "CreateLogStream",
                    json!({"logGroupName": "/ecs/api", "logStreamName": "api/web/0a1b"}),
                    &[(
                        "logs:CreateLogStream",
                        &format!(
                            "arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/api:log-stream:api/web/0a1b"
                        ),
                    )],
                ),
                (
                    "DescribeLogStreams",
                    json!({"logGroupName": "/ecs/api"}),
                    &[(
                        "logs:DescribeLogStreams",
                        &format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/api:*"),
                    )],
                ),
            ],
        );
    }
}
