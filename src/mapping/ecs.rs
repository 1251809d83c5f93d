//! Amazon ECS.
//!
//! **What CloudTrail logs.** ECS calls are management events. `requestParameters` names the
//! cluster in `cluster` (a name or an ARN; absent means the cluster `default`) and services in
//! `service` or `services[]` (names or ARNs); other parameters name tasks, task definitions,
//! container instances… by ARN.
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name. Service actions
//! (`ecs:UpdateService`, `ecs:DescribeServices`) are authorized on each service the call names,
//! cluster actions on the cluster; some take both kinds of resource, and a call naming several
//! services touches each of them.
//!
//! **ARNs.** A cluster is `arn:<partition>:ecs:<region>:<account>:cluster/<cluster>`, a service
//! `…:service/<cluster>/<service>`. Every ARN built or named in the request is a candidate, and
//! the catalog keeps those the action accepts.

use super::rule::{request_arns, Ctx, Step, REQUEST_ARNS};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(action, candidates(ctx), action_rule, REQUEST_ARNS)
}

/// ECS names clusters and services by name or ARN: the cluster (default `default`) and every
/// service named become ARNs, next to any other ARN of the request; the catalog keeps those the
/// action is authorized on (a service action its services, a cluster action its cluster).
fn candidates(ctx: &Ctx) -> Vec<String> {
    let cluster = ctx.s("cluster").unwrap_or("default");
    let cluster_name = cluster.rsplit_once(":cluster/").map_or(cluster, |(_, n)| n);
    let mut out = vec![if cluster.starts_with("arn:") {
        lit(cluster)
    } else {
        ctx.arn("ecs", &format!("cluster/{cluster}"))
    }];
    let services: Vec<&str> = match ctx.req.get("services") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => ctx.s("service").into_iter().collect(),
    };
    for svc in services {
        out.push(if svc.starts_with("arn:") {
            lit(svc)
        } else {
            ctx.arn("ecs", &format!("service/{cluster_name}/{svc}"))
        });
    }
    for arn in request_arns(ctx) {
        if !out.contains(&arn) {
            out.push(arn);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn services_by_name_in_their_cluster() {
        assert_pairs(
            "ecs",
            &[
                (
                    "UpdateService",
                    json!({"cluster": "main", "service": "api", "desiredCount": 2}),
                    &[(
                        "ecs:UpdateService",
                        &format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/main/api"),
                    )],
                ),
                (
                    "DescribeServices",
                    json!({"services": ["api"]}),
                    &[(
                        "ecs:DescribeServices",
                        &format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/default/api"),
                    )],
                ),
            ],
        );
    }

    #[test]
    fn every_service_of_a_list_is_granted() {
        // Every ARN of a list is a resource the call touches; one the action does not take is
        // left.
        let svc = |n: &str| format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/main/{n}");
        let ev = event(
            "ecs",
            "DescribeServices",
            json!({"cluster": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/main"),
                   "services": [svc("api"), svc("worker")]}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("ecs:DescribeServices", &svc("api")),
                p("ecs:DescribeServices", &svc("worker"))
            ]
        );
    }
}
