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
//! services touches each of them. Task actions (`ecs:DescribeTasks`, `ecs:StopTask`) are
//! authorized on each task (`tasks[]`, or `task`: ids in the request's cluster, or ARNs).
//! `ecs:RunTask` and `ecs:StartTask` are authorized on the task definition (`taskDefinition`:
//! `family:revision` or an ARN), not on the cluster, which IAM checks through the `ecs:cluster`
//! condition key instead (Service Authorization Reference, Amazon ECS; the catalog lists only
//! `task-definition` for them). A bare family names no revision: the grant then falls back to
//! the event's `resources[]`, else `"*"`, with the reason recorded. The cluster is written as the
//! grant's `ecs:cluster` condition (the cluster's ARN). Starting a task passes its roles to
//! ECS, which needs `iam:PassRole` on each, and so does registering a task definition that names
//! roles (the `AccessDeniedException … iam:PassRole` ECS answers `RunTask` and
//! `RegisterTaskDefinition` without it, as reported in aws/serverless-application-model#2247 and
//! wellcomecollection/platform#374): a role the request names (`overrides.taskRoleArn`,
//! `overrides.executionRoleArn`; `RegisterTaskDefinition`'s `taskRoleArn`, `executionRoleArn`;
//! `CreateService`'s load-balancer `role`) is granted here, with the condition
//! `iam:PassedToService` naming the service it is passed to; the task definition's own roles at
//! propose time (`synth/launch.rs`), from the task definitions loaded.
//!
//! **ARNs.** A cluster is `arn:<partition>:ecs:<region>:<account>:cluster/<cluster>`, a service
//! `…:service/<cluster>/<service>`, a task `…:task/<cluster>/<task id>`, a task definition
//! `…:task-definition/<family>:<revision>`. Every ARN built or named in the request is a
//! candidate, and the catalog keeps those the action accepts.

use super::rule::{request_arns, Ctx, Step, REQUEST_ARNS};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let mut steps = Step::one(action, candidates(ctx), action_rule, REQUEST_ARNS);
    // A launch is authorized on the task definition, and on the cluster through `ecs:cluster`
    // (its ARN; the request's `cluster`, by name or ARN, else `default`).
    if matches!(action, "RunTask" | "StartTask") {
        let cluster = ctx.s("cluster").unwrap_or("default");
        let arn = if cluster.starts_with("arn:") {
            cluster.to_string()
        } else {
            format!(
                "arn:{}:ecs:{}:{}:cluster/{cluster}",
                ctx.partition, ctx.region, ctx.account
            )
        };
        for step in &mut steps {
            step.condition = Some(("ecs:cluster", arn.clone()));
        }
    }
    // The roles a call hands to ECS: a task's `overrides`, a new task definition's own roles.
    const TASK_ROLES: &[&str] = &["taskRoleArn", "executionRoleArn"];
    // Task roles are passed to the tasks' principal, `ecs-tasks.amazonaws.com`; a service's
    // load-balancer role to ECS itself, `ecs.amazonaws.com` (the principals of those roles'
    // trust policies, ECS Developer Guide: "Task IAM role", "Amazon ECS task execution IAM role",
    // "Amazon ECS service-linked role" for the legacy service role).
    let passed = match action {
        "RunTask" | "StartTask" => ctx
            .req
            .get("overrides")
            .map(|o| (o, TASK_ROLES, "ecs-tasks.amazonaws.com")),
        "RegisterTaskDefinition" => Some((ctx.req, TASK_ROLES, "ecs-tasks.amazonaws.com")),
        // The role ECS uses for the service's load balancer (before service-linked roles).
        "CreateService" => Some((ctx.req, &["role"][..], "ecs.amazonaws.com")),
        _ => None,
    };
    if let Some((passed, keys, service)) = passed {
        let role = |key: &&str| passed.get(*key).and_then(Value::as_str);
        let roles: Vec<&str> = keys.iter().filter_map(role).collect();
        steps.extend(super::rule::pass_role(
            ctx,
            &roles,
            service,
            "a role a task or task definition names is passed to ECS (iam:PassRole, never logged)",
        ));
    }
    steps
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
    // Tasks by id or ARN (`DescribeTasks`: `tasks[]`; `StopTask`, `ExecuteCommand`: `task`).
    let tasks: Vec<&str> = match ctx.req.get("tasks") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => ctx.s("task").into_iter().collect(),
    };
    for task in tasks {
        out.push(if task.starts_with("arn:") {
            lit(task)
        } else {
            ctx.arn("ecs", &format!("task/{cluster_name}/{task}"))
        });
    }
    // `RunTask`/`StartTask` name the task definition as `family:revision` or an ARN; a bare
    // family runs its latest ACTIVE revision, which the request does not say.
    if let Some(def) = ctx
        .s("taskDefinition")
        .filter(|d| !d.starts_with("arn:"))
        .filter(|d| d.rsplit_once(':').is_some_and(|(_, rev)| is_revision(rev)))
    {
        out.push(ctx.arn("ecs", &format!("task-definition/{def}")));
    }
    for arn in request_arns(ctx) {
        if !out.contains(&arn) {
            out.push(arn);
        }
    }
    out
}

fn is_revision(rev: &str) -> bool {
    !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit())
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
    fn tasks_by_id_in_their_cluster() {
        // DescribeTasks and StopTask as the ECS API reference gives their requests (`cluster`,
        // `tasks[]` / `task`, ids or ARNs), in CloudTrail's lower camel case.
        let task = |c: &str, id: &str| format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task/{c}/{id}");
        assert_pairs(
            "ecs",
            &[
                (
                    "DescribeTasks",
                    json!({"cluster": "main", "tasks": [
                        "0cc43cdb3c0e4c4f8ccb0d1f7e1a2b3c",
                        task("main", "9f2a6f4d8e7b4c1a8d3e2f1a0b9c8d7e")
                    ], "include": ["TAGS"]}),
                    &[
                        (
                            "ecs:DescribeTasks",
                            &task("main", "0cc43cdb3c0e4c4f8ccb0d1f7e1a2b3c"),
                        ),
                        (
                            "ecs:DescribeTasks",
                            &task("main", "9f2a6f4d8e7b4c1a8d3e2f1a0b9c8d7e"),
                        ),
                    ],
                ),
                (
                    "StopTask",
                    json!({"task": "0cc43cdb3c0e4c4f8ccb0d1f7e1a2b3c", "reason": "deploy"}),
                    &[(
                        "ecs:StopTask",
                        &task("default", "0cc43cdb3c0e4c4f8ccb0d1f7e1a2b3c"),
                    )],
                ),
            ],
        );
    }

    #[test]
    fn run_task_is_authorized_on_the_task_definition() {
        let def = |d: &str| format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/{d}");
        let run = |td: String| {
            json!({"cluster": "batch", "count": 1, "launchType": "FARGATE",
                   "taskDefinition": td,
                   "networkConfiguration": {"awsvpcConfiguration": {
                       "subnets": ["subnet-0a1b2c3d"], "assignPublicIp": "DISABLED"}}})
        };
        assert_pairs(
            "ecs",
            &[
                (
                    "RunTask",
                    run("report:7".into()),
                    &[("ecs:RunTask", &def("report:7"))],
                ),
                (
                    "RunTask",
                    run(def("report:8")),
                    &[("ecs:RunTask", &def("report:8"))],
                ),
                (
                    "StartTask",
                    json!({"cluster": "batch", "taskDefinition": "report:7",
                           "containerInstances": ["4c543eed"]}),
                    &[("ecs:StartTask", &def("report:7"))],
                ),
            ],
        );
        // Roles in the overrides are passed (iam:PassRole), as the request names them.
        let mut req = run("report:7".into());
        req["overrides"] = json!({"taskRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/report-adhoc"),
                                  "executionRoleArn": "report-exec",
                                  "containerOverrides": [{"name": "app", "command": ["--full"]}]});
        assert_eq!(
            pairs(&event("ecs", "RunTask", req)),
            [
                p("ecs:RunTask", &def("report:7")),
                p(
                    "iam:PassRole",
                    &format!("arn:aws:iam::{ACCOUNT}:role/report-adhoc")
                ),
                p(
                    "iam:PassRole",
                    &format!("arn:aws:iam::{ACCOUNT}:role/report-exec")
                ),
            ]
        );
        // Registering a task definition that names roles passes them (the request as the fleet
        // fixture's deploy pipeline sends it, after the ECS API reference).
        let reg = json!({"family": "report",
                         "taskRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/report-task"),
                         "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/report-exec"),
                         "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                         "containerDefinitions": [{"name": "app", "image": "nginx"}]});
        let g = pairs(&event("ecs", "RegisterTaskDefinition", reg));
        for role in ["report-task", "report-exec"] {
            let want = p(
                "iam:PassRole",
                &format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            );
            assert!(g.contains(&want), "{g:?}");
        }
        // CreateService's `role` (the load balancer role of services without the service-linked
        // role) is passed too.
        let svc = json!({"cluster": "batch", "serviceName": "report", "taskDefinition": "report:7",
                         "desiredCount": 1, "role": "ecsServiceRole",
                         "loadBalancers": [{"targetGroupArn": format!(
                             "arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/r/0123456789abcdef"),
                             "containerName": "app", "containerPort": 8080}]});
        assert!(pairs(&event("ecs", "CreateService", svc)).contains(&p(
            "iam:PassRole",
            &format!("arn:aws:iam::{ACCOUNT}:role/ecsServiceRole")
        )));
        // A bare family names no revision: never the cluster, `*` with the reason.
        let g = grants(&event("ecs", "RunTask", run("report".into())));
        assert_eq!(g.len(), 1);
        assert_eq!(
            (g[0].action.as_str(), g[0].resource.as_str()),
            ("ecs:RunTask", "*")
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
