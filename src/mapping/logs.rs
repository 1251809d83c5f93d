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
//! the group. A Logs Insights query (`StartQuery`) is authorized on each group it searches, which
//! the request lists in `logGroupNames[]` or `logGroupIdentifiers[]` (names, or ARNs for groups
//! of other accounts; CloudWatch Logs API reference, `StartQuery`); `StartLiveTail` lists its
//! groups in `logGroupIdentifiers[]` too.
//!
//! **ARNs.** A group is `arn:<partition>:logs:<region>:<account>:log-group:<group>`, and IAM
//! evaluates group actions against `log-group:<group>:*`, so a grant on a group is written with
//! that `:*`; a stream is `…:log-group:<group>:log-stream:<stream>`. A call naming a stream tries
//! the stream ARN first, then the group's.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

const LOGS_RULE: &str =
    "log stream ARN, or the log group ARN with `:*` as IAM evaluates group actions";

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let groups = listed_groups(ctx);
    if ctx.s("logGroupName").is_none() && !groups.is_empty() {
        return groups
            .into_iter()
            .map(|group| Step {
                condition: None,
                action: action.to_string(),
                candidates: vec![group],
                action_rule,
                resource_rule: "each log group the request lists, with `:*` as IAM evaluates \
                                group actions",
            })
            .collect();
    }
    Step::one(action, candidates(ctx), action_rule, LOGS_RULE)
}

/// observe maps `CreateLogStream` once per shape (`observe/shape.rs`), relying on this: a plain
/// stream name is placed as it is at the end of the stream's ARN, and nowhere else. Its tests
/// fail if that changes.
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

/// The groups a query or a live tail names in a list (`StartQuery`: `logGroupNames[]`, or
/// `logGroupIdentifiers[]` of names or ARNs, an ARN naming a group of another account), each as
/// the group's ARN with `:*`.
fn listed_groups(ctx: &Ctx) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["logGroupNames", "logGroupIdentifiers"] {
        let names = ctx.req.get(key).and_then(Value::as_array);
        for name in names.into_iter().flatten().filter_map(Value::as_str) {
            let group = match name.strip_prefix("arn:") {
                // `arn:…:log-group:<name>` or `…:log-group:<name>:*`.
                Some(_) => lit(name.strip_suffix(":*").unwrap_or(name)),
                None if !name.is_empty() => ctx.arn("logs", &format!("log-group:{name}")),
                None => continue,
            };
            let arn = format!("{group}{}", super::rule::LOG_GROUP_STREAMS);
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn a_query_is_granted_on_each_group_it_searches() {
        // StartQuery's request as the CloudWatch Logs API reference gives it (CloudTrail writes
        // the members in lower camel case): names in `logGroupNames`, or names and ARNs in
        // `logGroupIdentifiers`; the query string is data.
        let group = |name: &str| format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{name}:*");
        let other = "arn:aws:logs:eu-west-1:444455556666:log-group:/shared/audit";
        assert_pairs(
            "logs",
            &[
                (
                    "StartQuery",
                    json!({"logGroupNames": ["/ecs/api", "/ecs/worker"],
                           "startTime": 1_762_000_000, "endTime": 1_762_003_600,
                           "queryString": "fields @timestamp, @message | limit 20"}),
                    &[
                        ("logs:StartQuery", &group("/ecs/api")),
                        ("logs:StartQuery", &group("/ecs/worker")),
                    ],
                ),
                (
                    "StartQuery",
                    json!({"logGroupIdentifiers": ["/ecs/api", format!("{other}:*")],
                           "startTime": 1_762_000_000, "endTime": 1_762_003_600,
                           "queryString": "stats count(*) by bin(5m)"}),
                    &[
                        ("logs:StartQuery", &group("/ecs/api")),
                        ("logs:StartQuery", &format!("{other}:*")),
                    ],
                ),
            ],
        );
    }

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
