//! Amazon SQS.
//!
//! **What CloudTrail logs.** Queue management calls (`CreateQueue`, `GetQueueUrl`,
//! `GetQueueAttributes`, `PurgeQueue`…) are management events; `SendMessage`, `ReceiveMessage`,
//! `DeleteMessage`, `ChangeMessageVisibility` and their batch forms are data events, logged only
//! when the trail asks for them. `requestParameters` names the queue by its URL in `queueUrl`
//! (`QueueUrl` from the proxy, which sees the wire name); `GetQueueUrl` names it by `queueName`
//! and, for a queue of another account, `queueOwnerAWSAccountId`.
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name, except the batch
//! calls, which need the action of a single one (`SendMessageBatch` → `sqs:SendMessage`,
//! `DeleteMessageBatch` → `sqs:DeleteMessage`, `ChangeMessageVisibilityBatch` →
//! `sqs:ChangeMessageVisibility`). `sqs:ListQueues` takes no resource: it needs `"*"`.
//!
//! **ARNs.** `arn:<partition>:sqs:<region>:<account>:<queue name>`. The queue URL
//! (`https://sqs.<region>.amazonaws.com/<account>/<name>`, the legacy
//! `https://<region>.queue.amazonaws.com/…` and `https://queue.amazonaws.com/…` (us-east-1), and
//! VPC endpoint hosts) carries the queue's own region and account, which are taken from it:
//! queues of other accounts are common.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

/// SQS actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    Some(match event_name {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        _ => return None,
    })
}

const SQS_RULE: &str = "queue ARN from the queue URL's region, account and name";

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        queue(ctx).into_iter().collect(),
        action_rule,
        SQS_RULE,
    )
}

fn queue(ctx: &Ctx) -> Option<String> {
    if let Some(url) = ctx.any(&["queueUrl", "QueueUrl"]) {
        return queue_arn_from_url(url, ctx.partition, ctx.region);
    }
    let name = ctx.any(&["queueName", "QueueName"])?;
    let owner = ctx
        .any(&["queueOwnerAWSAccountId", "QueueOwnerAWSAccountId"])
        .unwrap_or(ctx.account);
    Some(lit(&format!(
        "arn:{}:sqs:{}:{owner}:{name}",
        ctx.partition, ctx.region
    )))
}

/// `https://sqs.<region>.amazonaws.com/<account>/<name>` and the legacy and VPC-endpoint forms.
fn queue_arn_from_url(url: &str, partition: &str, default_region: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/')?;
    let mut segments = path.trim_end_matches('/').split('/');
    let (account, name) = (segments.next()?, segments.next()?);
    if segments.next().is_some() || account.is_empty() || name.is_empty() {
        return None;
    }
    let region = host
        .split('.')
        .find(|label| looks_like_region(label))
        .unwrap_or(if host == "queue.amazonaws.com" {
            "us-east-1"
        } else {
            default_region
        });
    Some(lit(&format!(
        "arn:{partition}:sqs:{region}:{account}:{name}"
    )))
}

fn looks_like_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts.last().is_some_and(|n| n.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn queue_urls() {
        let arn = |u| queue_arn_from_url(u, "aws", "eu-west-1");
        assert_eq!(
            arn("https://sqs.eu-west-1.amazonaws.com/444455556666/shared-audit").as_deref(),
            Some("arn:aws:sqs:eu-west-1:444455556666:shared-audit")
        );
        assert_eq!(
            arn("https://queue.amazonaws.com/1/q").as_deref(),
            Some("arn:aws:sqs:us-east-1:1:q")
        );
        assert_eq!(
            arn("https://ap-southeast-2.queue.amazonaws.com/1/q.fifo").as_deref(),
            Some("arn:aws:sqs:ap-southeast-2:1:q.fifo")
        );
        assert_eq!(
            arn("https://vpce-0a.sqs.us-gov-west-1.vpce.amazonaws.com/1/q").as_deref(),
            Some("arn:aws:sqs:us-gov-west-1:1:q")
        );
        assert_eq!(arn("https://sqs.eu-west-1.amazonaws.com/1"), None);
    }

    #[test]
    fn queue_urls_carry_region_and_account() {
        assert_pairs(
            "sqs",
            &[
                (
                    "SendMessage",
                    json!({"queueUrl": "https://sqs.us-east-2.amazonaws.com/444455556666/shared-audit"}),
                    &[(
                        "sqs:SendMessage",
                        "arn:aws:sqs:us-east-2:444455556666:shared-audit",
                    )],
                ),
                (
                    "GetQueueUrl",
                    json!({"queueName": "shared-audit", "queueOwnerAWSAccountId": "444455556666"}),
                    &[(
                        "sqs:GetQueueUrl",
                        "arn:aws:sqs:eu-west-1:444455556666:shared-audit",
                    )],
                ),
                (
                    "GetQueueUrl",
                    json!({"queueName": "jobs"}),
                    &[(
                        "sqs:GetQueueUrl",
                        &format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs"),
                    )],
                ),
            ],
        );
    }
}
