//! `observe --ecs` against moto's ECS: task definitions registered there (some deregistered, in
//! two regions) are read, stored and used to attribute the trail's roles, including a role only
//! a deregistered revision used and one passed at launch; `tighten` (moto's IAM) then takes
//! those roles by default.
//!
//! moto 5 implements RegisterTaskDefinition, DeregisterTaskDefinition (the revision turns
//! INACTIVE and stays listable and describable), ListTaskDefinitions with `status` (no
//! pagination: every ARN in one page) and DescribeTaskDefinition, but gives no `registeredAt`:
//! leaving out revisions registered after the window is tested beside the reader
//! (`source::ecs`'s unit tests).

use crate::common::moto::Moto;
use crate::common::*;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver, Secret};
use std::process::Output;

const ACCOUNT: &str = "111122223333";

fn ecs(moto: &Moto, region: &str) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(&moto.endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

const ECS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn iam(moto: &Moto) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(&moto.endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// Registers one revision of `family` with an awslogs container and an SSM secret; returns its
/// ARN.
async fn register(client: &aws_sdk_ecs::Client, family: &str, task_role: &str) -> String {
    let container = ContainerDefinition::builder()
        .name("app")
        .memory(512)
        .image(format!(
            "{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{family}:1"
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", format!("/ecs/{family}"))
                .options("awslogs-stream-prefix", "ecs")
                .build()
                .unwrap(),
        )
        .secrets(
            Secret::builder()
                .name("DB_URL")
                .value_from(format!(
                    "arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{family}/db-url"
                ))
                .build()
                .unwrap(),
        )
        .build();
    client
        .register_task_definition()
        .family(family)
        .task_role_arn(role(task_role))
        .execution_role_arn(role("ecsTaskExecutionRole"))
        .container_definitions(container)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

/// A RunTask by the CI role, as CloudTrail records it: the request's parameters as sent (ECS
/// API Reference, RunTask request syntax; `overrides` is a TaskOverride).
fn run_task(task_definition: &str, task_role: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09", "eventID": "3c0f5e1a-7d2b-4e5f-9a8b-1c2d3e4f5a6b",
        "eventTime": "2026-11-19T08:00:00Z", "eventSource": "ecs.amazonaws.com",
        "eventName": "RunTask", "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2.15.0", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLECI:deploy",
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/deploy"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role",
                "arn": role("ci-deployer"), "accountId": ACCOUNT}}},
        "requestParameters": {"cluster": "batch", "count": 1, "launchType": "FARGATE",
            "taskDefinition": task_definition,
            "overrides": {"containerOverrides": [{"name": "app", "command": ["--backfill"]}],
                "taskRoleArn": role(task_role)}}
    })
}

/// CreateService with ECS Exec enabled, naming the family only (CreateService request syntax,
/// ECS API Reference): the service runs the latest revision.
fn create_service() -> serde_json::Value {
    let mut event = run_task("orders-api", "unused");
    event["eventID"] = "8e1d2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f".into();
    event["eventName"] = "CreateService".into();
    event["requestParameters"] = serde_json::json!({"cluster": "web", "serviceName": "orders-api",
        "taskDefinition": "orders-api", "desiredCount": 2, "launchType": "FARGATE",
        "enableExecuteCommand": true});
    event
}

fn observe(moto: &Moto, args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg("observe").args(args);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/policy-miner-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/policy-miner-test",
        )
        .env_remove("AWS_PROFILE");
    cmd.output().unwrap()
}

fn loaded(out: &Output) -> String {
    let err = stderr(out);
    err.lines()
        .find(|l| l.contains("task definitions loaded:"))
        .unwrap_or_else(|| panic!("no summary line: {err}"))
        .rsplit(':')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn every_revision_from_ecs_attributes_the_trail_and_a_later_run_reads_only_new_ones() {
    let Some(moto) = Moto::start_with(&[("MOTO_ACCOUNT_ID", ACCOUNT)]) else {
        return;
    };
    let eu = ecs(&moto, "eu-west-1");
    let us = ecs(&moto, "us-east-1");
    // orders-api ran with an older task role until revision 2 replaced it; revision 1 is
    // deregistered since, and only the trail still shows its role.
    let old = register(&eu, "orders-api", "orders-api-task-v1").await;
    register(&eu, "orders-api", "orders-api-task").await;
    eu.deregister_task_definition()
        .task_definition(&old)
        .send()
        .await
        .unwrap();
    register(&us, "report-cron", "report-cron-task").await;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ecs.db").display().to_string();
    let trail = dir.path().join("trail");
    write_role_trail(&trail.join("orders"), "orders-api-task-v1", 1, 3);
    write_role_trail(&trail.join("cron"), "report-cron-task", 1, 2);
    // CI ran the deregistered revision once with another task role (a backfill), which then
    // made its own calls.
    write_role_trail(&trail.join("backfill"), "orders-api-backfill", 1, 1);
    write_role_trail(&trail.join("current"), "orders-api-task", 1, 1);
    std::fs::write(
        trail.join("launch.json"),
        serde_json::json!({"Records": [run_task(&old, "orders-api-backfill"), create_service()]})
            .to_string(),
    )
    .unwrap();
    let out = observe(
        &moto,
        &[
            "--db",
            &db,
            "--ecs",
            "--region",
            "eu-west-1",
            "--region",
            "us-east-1",
            trail.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(loaded(&out), "3");
    // Only the CI role that launched is in no task definition; the backfill role was passed.
    assert!(
        stderr(&out).contains("roles: 5 seen (1 in no task definition)"),
        "{}",
        stderr(&out)
    );

    let report = proposal_json(&db);
    let v1 = crate::common::role(&report, &role("orders-api-task-v1"));
    assert_eq!(v1["families"], serde_json::json!(["orders-api"]), "{v1}");
    assert_eq!(v1["usage"], serde_json::json!(["task"]), "{v1}");
    let backfill = crate::common::role(&report, &role("orders-api-backfill"));
    assert_eq!(
        backfill["families"],
        serde_json::json!(["orders-api"]),
        "{backfill}"
    );
    let finding = backfill["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "role-from-override")
        .unwrap_or_else(|| panic!("{backfill}"));
    assert_eq!(
        finding["message"],
        "task role of family orders-api from an override at launch, not from its task \
         definition: 1 time(s) from 2026-11-19T08:00:00Z to 2026-11-19T08:00:00Z (RunTask in \
         eu-west-1 of 111122223333)"
    );
    // ECS Exec on the service: the task role of the latest revision opens the SSM channels.
    let task = crate::common::role(&report, &role("orders-api-task"));
    let exec_grants: Vec<&str> = task["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| {
            g["rule"]
                .as_str()
                .unwrap()
                .contains("ECS Exec enabled at launch")
        })
        .map(|g| g["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        exec_grants,
        [
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel"
        ],
        "{task}"
    );
    // The revision-1 role got no ECS Exec: the service runs the latest revision.
    assert!(!v1.to_string().contains("ssmmessages"), "{v1}");
    let cron = crate::common::role(&report, &role("report-cron-task"));
    assert_eq!(
        cron["families"],
        serde_json::json!(["report-cron"]),
        "{cron}"
    );
    // The execution role was never seen in the trail: its needs come from the definitions
    // (awslogs, the secret), as they do from files.
    let exec = crate::common::role(&report, &role("ecsTaskExecutionRole"));
    let policy = exec["policy"].to_string();
    assert!(policy.contains("/ecs/orders-api"), "{policy}");
    assert!(policy.contains("parameter/orders-api/db-url"), "{policy}");
    assert!(policy.contains("/ecs/report-cron"), "{policy}");

    // tighten, by default, takes the roles the definitions and launches attribute: the role
    // passed at launch is one of them, the CI role that launched is not.
    let iam = iam(&moto);
    iam.create_role()
        .role_name("orders-api-backfill")
        .assume_role_policy_document(ECS_TRUST)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("orders-api-backfill")
        .policy_name("broad")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let mut cmd = bin();
    cmd.args([
        "tighten",
        "--db",
        &db,
        "--format",
        "json",
        "--no-access-analyzer",
    ]);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let out = cmd
        .env("AWS_CONFIG_FILE", "/nonexistent/policy-miner-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/policy-miner-test",
        )
        .env("POLICY_MINER_NOW", "2026-11-21T00:00:00Z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let tightened: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let outcome = |name: &str| {
        crate::common::role(&tightened, &role(name))["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("orders-api-backfill"), "dry run");
    assert_eq!(outcome("orders-api-task-v1"), "not in IAM");
    assert_eq!(outcome("ci-deployer"), "skipped");

    // A scheduled run: only the revision registered since is described and stored.
    register(&eu, "orders-api", "orders-api-task").await;
    let out = observe(&moto, &["--db", &db, "--ecs", "--region", "eu-west-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(loaded(&out), "1");
    let out = observe(&moto, &["--db", &db, "--ecs", "--region", "eu-west-1"]);
    assert_eq!(loaded(&out), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_unreachable_ecs_is_named_with_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ecs.db").display().to_string();
    // Nothing listens at the endpoint: the failure names the region, the call and what to
    // check, and the run says input was skipped.
    let mut cmd = bin();
    cmd.args(["observe", "--db", &db, "--ecs", "--region", "eu-west-1"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent/policy-miner-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/policy-miner-test",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ECS in eu-west-1: ListTaskDefinitions (ACTIVE) failed: no answer")
            && err.contains("AWS_ENDPOINT_URL"),
        "{err}"
    );
}
