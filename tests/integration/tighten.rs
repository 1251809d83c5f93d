//! Issue 6's acceptance: `tighten`, `rollback` and `history` against a moto server (real IAM and
//! STS wire protocol) holding over-broad versions of the fleet fixture's roles, and Access
//! Analyzer through the SDK's recorded-response replay (moto has no Access Analyzer).
//!
//! Each test starts its own `moto_server` on a free port (`.ci/run` installs it); a missing
//! moto_server fails the tests unless POLICY_MINER_SKIP_MOTO=1 is set explicitly.

use crate::common::moto::Moto;
use crate::common::*;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use policy_miner::catalog;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ACCOUNT: &str = "111122223333";
const ORDERS: &str = "arn:aws:iam::111122223333:role/orders-api-task";
const EXEC: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
const BILLING: &str = "arn:aws:iam::111122223333:role/service-role/billing-worker-task";
const EXEC_MANAGED: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
/// Evidence ends 2026-11-03 for orders-api-task and 2026-11-05 for the others: "now" for tests
/// that should not trip the stale-trail gate.
const FRESH_NOW: &str = "2026-11-06T00:00:00Z";

/// Written with odd spacing on purpose: rollback must restore these bytes, not a re-serialization.
const ORDERS_LEGACY: &str = "{\"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n    {\"Sid\": \"NOREPOAuditReads\", \"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\"], \"Resource\": \"arn:aws:s3:::audit-archive/*\"},\n    {\"Effect\": \"Allow\", \"Action\": \"iam:PassRole\", \"Resource\": \"arn:aws:iam::111122223333:role/orders-*\",\n     \"Condition\": {\"StringEquals\": {\"iam:PassedToService\": \"ecs-tasks.amazonaws.com\"}}}\n  ]\n}\n";
const ORDERS_APP: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:*","kms:*","secretsmanager:*","ssm:*","sqs:*"],"Resource":"*"}]}"#;
const EXEC_SECRETS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameters","secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}]}"#;
const BILLING_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A moto server of its own for one test (killed on drop), in the fleet's account, with the AWS
/// managed policies loaded.
fn start_moto(env: &[(&str, &str)]) -> Option<Moto> {
    let mut all = vec![
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"),
    ];
    all.extend_from_slice(env);
    Moto::start_with(&all)
}

/// IAM clients and CLI runs bound to one moto server.
trait MotoIam {
    fn iam(&self) -> aws_sdk_iam::Client;
    fn cli(&self, args: &[&str], now: &str) -> Output;
    fn cli_as(&self, keys: (&str, &str), args: &[&str], now: &str) -> Output;
    fn command(&self, args: &[&str], now: &str) -> Command;
}

impl MotoIam for Moto {
    fn iam(&self) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// The real binary, with credentials and endpoint for this moto only.
    fn cli(&self, args: &[&str], now: &str) -> Output {
        self.cli_as(("testing", "testing"), args, now)
    }

    fn cli_as(&self, keys: (&str, &str), args: &[&str], now: &str) -> Output {
        command_for(self, keys, args, now)
            .output()
            .expect("the binary runs")
    }

    /// The binary with the default credentials, to spawn (and stop) rather than run to the end.
    fn command(&self, args: &[&str], now: &str) -> Command {
        command_for(self, ("testing", "testing"), args, now)
    }
}

fn command_for(moto: &Moto, keys: (&str, &str), args: &[&str], now: &str) -> Command {
    let mut cmd = bin();
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent/policy-miner-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/policy-miner-test",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("POLICY_MINER_NOW", now);
    cmd
}

/// The fleet's roles, over-granted: inline policies (one with a NOREPO statement and a PassRole
/// grant), a customer-managed policy, and the AWS-managed execution role policy.
async fn create_fleet(iam: &aws_sdk_iam::Client) {
    for (name, path) in [
        ("orders-api-task", "/"),
        ("ecsTaskExecutionRole", "/"),
        ("billing-worker-task", "/service-role/"),
    ] {
        create_role(iam, name, path, ECS_TRUST).await;
    }
    orders_policies(iam).await;
    put(iam, "ecsTaskExecutionRole", "secrets", EXEC_SECRETS).await;
    attach(iam, "ecsTaskExecutionRole", EXEC_MANAGED).await;
    put(iam, "billing-worker-task", "everything", BILLING_ALL).await;
}

const ECS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// A trust policy that trusts nobody: for roles only read and written, never assumed.
const NO_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[]}"#;

async fn create_role(iam: &aws_sdk_iam::Client, name: &str, path: &str, trust: &str) {
    iam.create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
}

async fn attach(iam: &aws_sdk_iam::Client, role: &str, policy_arn: &str) {
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .unwrap();
}

/// orders-api-task's current policies: the inline `legacy` and the managed `orders-app`.
async fn orders_policies(iam: &aws_sdk_iam::Client) {
    put(iam, "orders-api-task", "legacy", ORDERS_LEGACY).await;
    let app = iam
        .create_policy()
        .policy_name("orders-app")
        .policy_document(ORDERS_APP)
        .send()
        .await
        .unwrap();
    attach(iam, "orders-api-task", app.policy().unwrap().arn().unwrap()).await;
}

/// Asserts the exit status, showing both streams when it differs.
fn assert_status(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

async fn put(iam: &aws_sdk_iam::Client, role: &str, name: &str, doc: &str) {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc)
        .send()
        .await
        .unwrap();
}

/// Inline policies of a role, decoded, by name.
async fn inline(iam: &aws_sdk_iam::Client, role: &str) -> Vec<(String, String)> {
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    let mut out = Vec::new();
    for n in names {
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&n)
            .send()
            .await
            .unwrap()
            .policy_document()
            .to_string();
        out.push((n, policy_miner::tighten::iam::url_decode(&doc).unwrap()));
    }
    out.sort();
    out
}

async fn attached(iam: &aws_sdk_iam::Client, role: &str) -> BTreeSet<String> {
    iam.list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

struct Db {
    _dir: tempfile::TempDir,
    path: String,
}

fn observed_fleet() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db").display().to_string();
    let out = run(&[
        "observe",
        "--db",
        &path,
        "--task-definitions",
        fixture("fleet/taskdefs").to_str().unwrap(),
        fixture("fleet/trail").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "observe: {}", stderr(&out));
    Db { _dir: dir, path }
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(out), stderr(out)))
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `service:*` in the catalog minus the actions the fixture README says the role used.
fn unused_expected(service: &str, used: &[&str]) -> BTreeSet<String> {
    catalog::embedded()
        .expand_actions(&format!("{service}:*"))
        .iter()
        .map(|a| a.full_name())
        .filter(|a| !used.contains(&a.as_str()))
        .collect()
}

fn unused_of(role: &Value, service: &str) -> Option<BTreeSet<String>> {
    role["granted_but_never_observed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["service"] == service)
        .map(|u| strings(&u["unused"]))
}

fn selected(db: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "tighten",
        "--db",
        db,
        "--format",
        "json",
        "--no-access-analyzer",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for r in [ORDERS, EXEC, BILLING] {
        args.push("--role".into());
        args.push(r.into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn tighten_reports_the_unused_grants_applies_and_rolls_back_exactly() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_fleet(&iam).await;
    let db = observed_fleet();

    // Compare (dry run), asking Access Analyzer: moto has none, so the built-in checks are used
    // and say so.
    let out = moto.cli(
        &[
            "tighten", "--db", &db.path, "--role", ORDERS, "--format", "json",
        ],
        FRESH_NOW,
    );
    assert_eq!(out.status.code(), Some(10), "stderr: {}", stderr(&out));
    let report = json(&out);
    let orders = role(&report, ORDERS);
    assert_eq!(orders["outcome"], "dry run");
    let method = orders["validation"]["method"].as_str().unwrap();
    assert!(
        method.starts_with(
            "built-in checks (Access Analyzer unavailable: access-analyzer:ValidatePolicy"
        ),
        "{method}"
    );
    assert_eq!(
        orders["validation"]["passed"], true,
        "{}",
        orders["validation"]
    );
    assert_eq!(
        report["caller"]["arn"],
        "arn:aws:sts::111122223333:user/moto"
    );

    // Exactly the unused grants, by action: per service, everything granted less what the
    // fixture's README lists as used (iam:PassRole is carried over, so iam is not listed).
    let services: BTreeSet<String> = orders["granted_but_never_observed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        services,
        ["dynamodb", "kms", "s3", "secretsmanager", "sqs", "ssm"]
            .map(String::from)
            .into()
    );
    let used: [(&str, &[&str]); 6] = [
        ("s3", &["s3:ListBucket", "s3:GetObject", "s3:PutObject"]),
        (
            "dynamodb",
            &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        ),
        ("kms", &["kms:Decrypt", "kms:GenerateDataKey"]),
        ("secretsmanager", &["secretsmanager:GetSecretValue"]),
        ("ssm", &["ssm:GetParameter", "ssm:GetParametersByPath"]),
        (
            "sqs",
            &[
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueUrl",
            ],
        ),
    ];
    for (service, used) in used {
        assert_eq!(
            unused_of(orders, service),
            Some(unused_expected(service, used)),
            "unused {service} actions"
        );
    }
    // By resource: the used S3 actions are granted on "*" but were used on one bucket.
    let broader = orders["granted_more_broadly_than_observed"]
        .as_array()
        .unwrap();
    for action in ["s3:GetObject", "s3:PutObject", "s3:ListBucket"] {
        assert!(
            broader.iter().any(|b| b["action"] == action
                && b["granted"] == "*"
                && b["source"]
                    .as_str()
                    .unwrap()
                    .starts_with("inline policy legacy")),
            "{action} on * not reported: {broader:?}"
        );
    }
    let get = broader
        .iter()
        .find(|b| b["action"] == "s3:GetObject")
        .unwrap();
    // What the replacement grants it on: the evidence's prefix and the carried NOREPO statement's.
    assert_eq!(
        strings(&get["proposed"]),
        [
            "arn:aws:s3:::audit-archive/*",
            "arn:aws:s3:::orders-docs/uploads/*"
        ]
        .map(String::from)
        .into()
    );
    // Failing today: only the two calls that failed in the trail; everything else is granted.
    let failing: BTreeSet<String> = orders["observed_but_not_granted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["action"].as_str().unwrap(),
                f["why"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        failing,
        [
            "s3:DeleteObject failed in the trail: AccessDenied".to_string(),
            "sqs:PurgeQueue failed in the trail: AccessDenied".to_string()
        ]
        .into()
    );
    // A wholly unused service is summarized: billing-worker-task has "*" on "*".
    let out = moto.cli(&refs(&selected(&db.path, &[])), FRESH_NOW);
    assert_eq!(out.status.code(), Some(10), "stderr: {}", stderr(&out));
    let report = json(&out);
    // The execution role uses every action it is granted (logs:PutLogEvents is carried over):
    // nothing unused by action, but the AWS-managed policy grants them on "*".
    let exec = role(&report, EXEC);
    assert_eq!(exec["granted_but_never_observed"], serde_json::json!([]));
    let exec_broader = exec["granted_more_broadly_than_observed"]
        .as_array()
        .unwrap();
    assert!(exec_broader
        .iter()
        .any(|b| b["action"] == "ecr:BatchGetImage"
            && b["granted"] == "*"
            && b["source"]
                .as_str()
                .unwrap()
                .starts_with(&format!("managed policy {EXEC_MANAGED}"))));
    let billing = role(&report, BILLING);
    let ec2 = billing["granted_but_never_observed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["service"] == "ec2")
        .unwrap();
    assert_eq!(ec2["whole_service"], true);
    assert_eq!(strings(&ec2["unused"]), ["ec2:*".to_string()].into());
    // The evidence is 1 to 3 days long: a dry run says --apply would refuse.
    assert!(role(&report, ORDERS)["refusals"][0]
        .as_str()
        .unwrap()
        .contains("--allow-short-evidence"));

    // Apply, replacing everything.
    let before_orders = inline(&iam, "orders-api-task").await;
    assert_eq!(
        before_orders,
        vec![("legacy".to_string(), ORDERS_LEGACY.to_string())]
    );
    let before_exec = inline(&iam, "ecsTaskExecutionRole").await;
    let before_exec_managed = attached(&iam, "ecsTaskExecutionRole").await;
    let before_orders_managed = attached(&iam, "orders-api-task").await;
    let out = moto.cli(
        &refs(&selected(
            &db.path,
            &[
                "--apply",
                "--allow-short-evidence",
                "--allow-unstable-backtest",
                "--remove-inline",
                "--detach-managed",
            ],
        )),
        FRESH_NOW,
    );
    assert_status(&out, 0);
    let applied = json(&out);
    for (arn, name) in [
        (ORDERS, "orders-api-task"),
        (EXEC, "ecsTaskExecutionRole"),
        (BILLING, "billing-worker-task"),
    ] {
        let r = role(&applied, arn);
        assert_eq!(r["outcome"], "applied", "{r}");
        // Read back through IAM: only the policy-miner policy, equal to the proposal.
        let now = inline(&iam, name).await;
        assert_eq!(now.len(), 1, "{name}: {now:?}");
        assert_eq!(now[0].0, "policy-miner");
        let written: Value = serde_json::from_str(&now[0].1).unwrap();
        assert_eq!(written, r["replacement"], "{name}");
        assert!(
            attached(&iam, name).await.is_empty(),
            "{name} still has managed policies"
        );
    }
    // NOREPO statement verbatim, PassRole kept; logs:PutLogEvents (never in CloudTrail) kept for
    // the execution role.
    let orders_doc = &role(&applied, ORDERS)["replacement"]["Statement"];
    assert!(orders_doc
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["Sid"] == "NOREPOAuditReads"
            && s["Action"] == serde_json::json!(["s3:GetObject"])
            && s["Resource"] == serde_json::json!(["arn:aws:s3:::audit-archive/*"])));
    assert!(orders_doc
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["Action"] == serde_json::json!(["iam:PassRole"])
            && s["Condition"]["StringEquals"]["iam:PassedToService"]
                == serde_json::json!(["ecs-tasks.amazonaws.com"])));
    let exec_doc = role(&applied, EXEC)["replacement"].to_string();
    assert!(exec_doc.contains("logs:PutLogEvents"), "{exec_doc}");

    // Tight now: nothing left to tighten.
    let out = moto.cli(&refs(&selected(&db.path, &[])), FRESH_NOW);
    assert_eq!(out.status.code(), Some(0), "stdout: {}", stdout(&out));

    // Roll back: the original documents byte for byte, managed policies re-attached.
    for arn in [ORDERS, EXEC, BILLING] {
        let out = moto.cli(&["rollback", "--db", &db.path, "--role", arn], FRESH_NOW);
        assert_eq!(
            out.status.code(),
            Some(0),
            "rollback {arn}: {}",
            stderr(&out)
        );
    }
    assert_eq!(inline(&iam, "orders-api-task").await, before_orders);
    assert_eq!(
        attached(&iam, "orders-api-task").await,
        before_orders_managed
    );
    assert_eq!(inline(&iam, "ecsTaskExecutionRole").await, before_exec);
    assert_eq!(
        attached(&iam, "ecsTaskExecutionRole").await,
        before_exec_managed
    );
    assert!(before_exec_managed.contains(EXEC_MANAGED));
    assert_eq!(
        inline(&iam, "billing-worker-task").await,
        vec![("everything".to_string(), BILLING_ALL.to_string())]
    );

    // History: three applies and three rollbacks, by the moto caller.
    let out = moto.cli(
        &["history", "--db", &db.path, "--format", "json"],
        FRESH_NOW,
    );
    assert_eq!(out.status.code(), Some(0));
    let changes = json(&out);
    let changes = changes.as_array().unwrap();
    assert_eq!(changes.len(), 6);
    assert_eq!(changes.iter().filter(|c| c["kind"] == "apply").count(), 3);
    for c in changes {
        assert_eq!(c["status"], "done", "{c}");
        assert_eq!(c["principal_arn"], "arn:aws:sts::111122223333:user/moto");
    }
    let rollback = changes
        .iter()
        .find(|c| c["kind"] == "rollback" && c["role_name"] == "orders-api-task")
        .unwrap();
    let apply = changes
        .iter()
        .find(|c| c["kind"] == "apply" && c["role_name"] == "orders-api-task")
        .unwrap();
    assert_eq!(rollback["restores"], apply["id"]);
    let out = moto.cli(&["history", "--db", &db.path, "--role", ORDERS], FRESH_NOW);
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.contains("orders-api-task"))
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn each_gate_refuses_until_its_flag_overrides_it() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_fleet(&iam).await;
    let db = observed_fleet();
    let base = [
        "tighten",
        "--db",
        db.path.as_str(),
        "--role",
        ORDERS,
        "--format",
        "json",
        "--no-access-analyzer",
        "--apply",
        // The backtest gate is tried on its own below; the evidence of one day is all in the
        // hold-out week, so every other case passes its override.
        "--allow-unstable-backtest",
    ];
    let untouched = |out: &Output| {
        let r = json(out);
        assert_eq!(r["roles"][0]["outcome"], "refused", "{r}");
        r["roles"][0]["refusals"].clone()
    };
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };

    // Backtest: a proposal mined before the last week (nothing: the evidence is of one day)
    // would deny the week's calls. Refused with the calls named and the override flag.
    let without: Vec<&str> = base
        .iter()
        .copied()
        .filter(|a| *a != "--allow-unstable-backtest")
        .chain(["--allow-short-evidence"])
        .collect();
    let out = moto.cli(&without, FRESH_NOW);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let refusals = untouched(&out);
    assert_eq!(refusals.as_array().unwrap().len(), 1, "{refusals}");
    let backtest = refusals[0].as_str().unwrap();
    assert!(backtest.contains("--allow-unstable-backtest"), "{backtest}");
    assert!(
        backtest
            .contains("dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:111122223333:table/orders"),
        "{backtest}"
    );
    assert_eq!(inline(&iam, "orders-api-task").await.len(), 1);

    // Evidence spans one day: refused (exit 11), nothing written.
    let out = moto.cli(&base, FRESH_NOW);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let refusals = untouched(&out);
    assert_eq!(refusals.as_array().unwrap().len(), 1, "{refusals}");
    assert!(refusals[0]
        .as_str()
        .unwrap()
        .contains("fewer than 14 (--min-evidence-days)"));
    assert_eq!(inline(&iam, "orders-api-task").await.len(), 1);

    // Stale trail: the newest evidence is 27 days old.
    let out = moto.cli(
        &refs(&with(&["--allow-short-evidence"])),
        "2026-11-30T00:00:00Z",
    );
    assert_eq!(out.status.code(), Some(11));
    let refusals = untouched(&out);
    assert!(
        refusals[0]
            .as_str()
            .unwrap()
            .contains("--max-evidence-age-days"),
        "{refusals}"
    );

    // Size: another inline policy that stays makes the role's inline total too large.
    let big_statements: Vec<String> = (0..120)
        .map(|i| format!(r#"{{"Sid":"Pad{i}","Effect":"Deny","Action":"ec2:DeleteVpc","Resource":"arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-{i:017}"}}"#))
        .collect();
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        big_statements.join(",")
    );
    assert!(big.len() > 10_240);
    put(&iam, "orders-api-task", "zz-padding", &big).await;
    let out = moto.cli(&refs(&with(&["--allow-short-evidence"])), FRESH_NOW);
    assert_eq!(out.status.code(), Some(11));
    let refusals = untouched(&out);
    assert!(
        refusals[0]
            .as_str()
            .unwrap()
            .contains("over IAM's 10240 per role"),
        "{refusals}"
    );
    assert_eq!(inline(&iam, "orders-api-task").await.len(), 2);

    // NOREPO and PassRole overrides: the statements are no longer carried over.
    let out = moto.cli(
        &refs(&with(&[
            "--allow-short-evidence",
            "--touch-norepo",
            "--allow-passrole-removal",
            "--min-evidence-days",
            "0",
        ])),
        FRESH_NOW,
    );
    let r = json(&out);
    let carried = r["roles"][0]["carried_over"].as_array().unwrap().clone();
    assert!(carried.is_empty(), "{carried:?}");

    // No new access: without the customer-managed policy, the proposal would grant DynamoDB,
    // KMS, SSM… that the role does not have today. Refused by the built-in checks.
    let app = attached(&iam, "orders-api-task")
        .await
        .into_iter()
        .next()
        .unwrap();
    iam.detach_role_policy()
        .role_name("orders-api-task")
        .policy_arn(&app)
        .send()
        .await
        .unwrap();
    let out = moto.cli(
        &refs(&with(&["--allow-short-evidence", "--remove-inline"])),
        FRESH_NOW,
    );
    assert_eq!(out.status.code(), Some(11));
    let r = json(&out);
    assert_eq!(r["roles"][0]["validation"]["passed"], false);
    let problems = r["roles"][0]["validation"]["problems"].to_string();
    assert!(
        problems.contains(
            "new access: dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:111122223333:table/orders"
        ),
        "{problems}"
    );
    assert!(!problems.contains("s3:"), "S3 is granted today: {problems}");
    assert!(untouched(&out)[0]
        .as_str()
        .unwrap()
        .starts_with("validation failed"));
    attach(&iam, "orders-api-task", &app).await;

    // All gates passed (the padding removed with --remove-inline): applied.
    let out = moto.cli(
        &refs(&with(&["--allow-short-evidence", "--remove-inline"])),
        FRESH_NOW,
    );
    assert_status(&out, 0);
    let names: Vec<String> = inline(&iam, "orders-api-task")
        .await
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(names, vec!["policy-miner".to_string()]);
    // The managed policy was not asked to go: still attached.
    assert_eq!(attached(&iam, "orders-api-task").await.len(), 1);
}

/// A proposal over the inline size limit by itself: the refusal says so, and points at the
/// managed policies `propose --out` writes, not at --remove-inline (which cannot help).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_proposal_too_large_for_an_inline_policy_is_refused_with_what_to_do() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_role(&iam, "params-task", "/", ECS_TRUST).await;
    put(
        &iam,
        "params-task",
        "broad",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:*","Resource":"*"}]}"#,
    )
    .await;
    // 250 parameters read one by one, each granted on its own ARN (no generalization).
    let dir = tempfile::tempdir().unwrap();
    let day = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let records: Vec<Value> = (0..250)
        .map(|i| {
            role_event(
                &format!("p{i}"),
                &format!("2026-11-20T{:02}:{:02}:00Z", i / 60, i % 60),
                "params-task",
                &format!("/params/{i:04}/value"),
            )
        })
        .collect();
    std::fs::write(
        day.join("111122223333_CloudTrail_eu-west-1_20261120T0000Z_p.json"),
        serde_json::json!({ "Records": records }).to_string(),
    )
    .unwrap();
    let db = dir.path().join("e.db").display().to_string();
    let out = run(&["observe", "--db", &db, dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let role_arn = "arn:aws:iam::111122223333:role/params-task";
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db,
            "--role",
            role_arn,
            "--format",
            "json",
            "--no-access-analyzer",
            "--wildcard-threshold",
            "0",
            "--allow-short-evidence",
            "--allow-unstable-backtest",
            "--remove-inline",
            "--apply",
        ],
        "2026-11-21T00:00:00Z",
    );
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let report = json(&out);
    let r = role(&report, role_arn);
    assert_eq!(r["outcome"], "refused", "{r}");
    let refusals: Vec<&str> = r["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    let why = refusals[0];
    let size = r["replacement_size"].as_u64().unwrap();
    assert!(size > 10_240, "{size}");
    assert!(
        why.starts_with(&format!(
            "the proposal alone has {size} characters (without whitespace), {} over IAM's 10240 \
             for a role's inline policies",
            size - 10_240
        )),
        "{why}"
    );
    let command =
        format!("policy-miner propose --role {role_arn} --wildcard-threshold 0 --out DIR");
    assert!(
        why.contains(&format!("`{command}` writes it as 3 managed policies")),
        "{why}"
    );
    assert!(!why.contains("--remove-inline"), "{why}");
    assert_eq!(
        inline(&iam, "params-task").await.len(),
        1,
        "nothing written"
    );
    // The command it names does what it says.
    let out_dir = dir.path().join("policies");
    let mut args: Vec<&str> = command.split(' ').skip(1).collect();
    args.pop();
    args.extend([out_dir.to_str().unwrap(), "--db", &db]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(walk(&out_dir).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_role_gone_from_iam_is_reported_and_decides_no_exit_status() {
    let Some(moto) = start_moto(&[]) else { return };
    let db = observed_fleet();
    // No roles created: every lookup is NoSuchEntity. Nothing was done to the role, so nothing
    // failed: the status is that of the (no) other roles.
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db.path,
            "--role",
            ORDERS,
            "--no-access-analyzer",
        ],
        FRESH_NOW,
    );
    assert_status(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("role orders-api-task is not in IAM"), "{err}");
    assert!(err.contains("iam:GetRole"), "{err}");
    assert!(stdout(&out).contains(&format!("== {ORDERS} — not in IAM")));
    // --family selects the roles of one task-definition family: report-cron has only the
    // shared execution role.
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db.path,
            "--family",
            "report-cron",
            "--format",
            "json",
            "--no-access-analyzer",
        ],
        FRESH_NOW,
    );
    let report = json(&out);
    let arns: Vec<&str> = report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role_arn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, vec![EXEC]);
    // Rollback with nothing applied explains itself.
    let out = moto.cli(&["rollback", "--db", &db.path, "--role", ORDERS], FRESH_NOW);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("never applied a change to role orders-api-task"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn access_denied_names_the_permission_the_runner_needs() {
    // moto enforces IAM authorization after this many requests: exactly the set-up below.
    let Some(moto) = start_moto(&[("INITIAL_NO_AUTH_ACTION_COUNT", "5")]) else {
        return;
    };
    let iam = moto.iam();
    let keys = user_keys(
        &iam,
        "runner",
        r#"["iam:GetRole","iam:ListRolePolicies","iam:ListAttachedRolePolicies","sts:GetCallerIdentity"]"#,
    )
    .await;
    create_role(&iam, "orders-api-task", "/", NO_TRUST).await;
    put(&iam, "orders-api-task", "legacy", ORDERS_LEGACY).await;
    let db = observed_fleet();
    let out = moto.cli_as(
        (&keys.0, &keys.1),
        &[
            "tighten",
            "--db",
            &db.path,
            "--role",
            ORDERS,
            "--no-access-analyzer",
        ],
        FRESH_NOW,
    );
    assert_status(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "iam:GetRolePolicy on inline policy legacy of role orders-api-task: access denied"
        ) && err.contains("need the iam:GetRolePolicy permission"),
        "{err}"
    );
}

async fn user_keys(iam: &aws_sdk_iam::Client, name: &str, actions: &str) -> (String, String) {
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("runner")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_half_done_apply_is_recorded_as_failed_and_rolled_back() {
    // Authorization is enforced after the 10 set-up requests below.
    let Some(moto) = start_moto(&[("INITIAL_NO_AUTH_ACTION_COUNT", "10")]) else {
        return;
    };
    let iam = moto.iam();
    // The runner may read roles and put inline policies, but not delete them.
    let runner = user_keys(
        &iam,
        "runner",
        r#"["iam:Get*","iam:List*","iam:PutRolePolicy","sts:GetCallerIdentity"]"#,
    )
    .await;
    let admin = user_keys(&iam, "admin", r#""*""#).await;
    create_role(&iam, "orders-api-task", "/", NO_TRUST).await;
    orders_policies(&iam).await;
    let db = observed_fleet();

    let out = moto.cli_as(
        (&runner.0, &runner.1),
        &[
            "tighten",
            "--db",
            &db.path,
            "--role",
            ORDERS,
            "--no-access-analyzer",
            "--apply",
            "--allow-short-evidence",
            "--allow-unstable-backtest",
            "--remove-inline",
        ],
        FRESH_NOW,
    );
    assert_status(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("iam:DeleteRolePolicy on inline policy legacy"),
        "{err}"
    );
    assert!(err.contains("rollback --role"), "{err}");
    let history = json(&moto.cli(
        &["history", "--db", &db.path, "--format", "json"],
        FRESH_NOW,
    ));
    assert_eq!(history[0]["status"], "failed");
    assert_eq!(
        history[0]["principal_arn"],
        "arn:aws:iam::111122223333:user/runner"
    );
    let id = history[0]["id"].to_string();
    // Half done: the policy-miner policy is there beside the old one.
    let mut names: Vec<String> = Vec::new();
    for (n, _) in inline(&moto_admin(&moto, &admin), "orders-api-task").await {
        names.push(n);
    }
    assert_eq!(
        names,
        vec!["legacy".to_string(), "policy-miner".to_string()]
    );

    let out = moto.cli_as(
        (&admin.0, &admin.1),
        &["rollback", "--db", &db.path, "--role", ORDERS, "--to", &id],
        FRESH_NOW,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        inline(&moto_admin(&moto, &admin), "orders-api-task").await,
        vec![("legacy".to_string(), ORDERS_LEGACY.to_string())]
    );
}

/// A relay to moto that never forwards the first request carrying `needle` (an IAM action, as
/// `Action=DeleteRolePolicy` in the body of an IAM query request): the caller waits for an answer
/// that does not come, and can be killed while it waits. Everything else passes through.
struct Holding {
    endpoint: String,
    /// Receives once a request was held back.
    held: mpsc::Receiver<()>,
}

fn hold_requests(upstream: &str, needle: &'static str) -> Holding {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    let (held, receiver) = mpsc::channel();
    // Accepts for as long as the test binary runs: a thread idle in accept costs nothing.
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let (Ok(client), Ok(server)) = (client, TcpStream::connect(&upstream)) else {
                continue;
            };
            relay(client, server, needle, held.clone());
        }
    });
    Holding {
        endpoint,
        held: receiver,
    }
}

/// Copies one connection both ways, until the client sends `needle`.
fn relay(client: TcpStream, server: TcpStream, needle: &'static str, held: mpsc::Sender<()>) {
    let (mut answers, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || std::io::copy(&mut answers, &mut to_client));
    std::thread::spawn(move || {
        let (mut client, mut server) = (client, server);
        let mut seen = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                // Whatever part of the request went through, moto waits for the rest: not done.
                let _ = held.send(());
                while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
                return;
            }
            if server.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
}

/// The SIGKILL case of issue 13: `tighten --apply` killed between its IAM writes (the replacement
/// written, the old inline policy not yet deleted, the managed one not yet detached). Before, the
/// next `tighten --apply` wrote over the half-changed role without a word, storing the half-changed
/// state as the one to roll back to. Now it refuses, naming the rollback, which restores the state
/// from before the killed apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_apply_killed_between_its_iam_writes_is_reported_and_rolled_back_to_before_it() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_role(&iam, "orders-api-task", "/", NO_TRUST).await;
    orders_policies(&iam).await;
    let managed_before = attached(&iam, "orders-api-task").await;
    let db = observed_fleet();
    let apply = [
        "tighten",
        "--db",
        db.path.as_str(),
        "--role",
        ORDERS,
        "--format",
        "json",
        "--no-access-analyzer",
        "--apply",
        "--allow-short-evidence",
        "--allow-unstable-backtest",
        "--remove-inline",
        "--detach-managed",
    ];

    let relay = hold_requests(&moto.endpoint, "Action=DeleteRolePolicy");
    let mut child = moto
        .command(&apply, FRESH_NOW)
        .env("AWS_ENDPOINT_URL", &relay.endpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    relay
        .held
        .recv_timeout(Duration::from_secs(120))
        .expect("tighten --apply reaches iam:DeleteRolePolicy");
    child.kill().unwrap(); // SIGKILL: nothing of policy-miner runs after it
    child.wait().unwrap();
    let half = vec!["legacy".to_string(), "policy-miner".to_string()];
    let names = |policies: Vec<(String, String)>| -> Vec<String> {
        policies.into_iter().map(|(n, _)| n).collect()
    };
    assert_eq!(names(inline(&iam, "orders-api-task").await), half);
    assert_eq!(attached(&iam, "orders-api-task").await, managed_before);
    let history = json(&moto.cli(
        &["history", "--db", &db.path, "--format", "json"],
        FRESH_NOW,
    ));
    assert_eq!(history[0]["status"], "started", "{history}");
    let id = history[0]["id"].to_string();
    let rollback_command = format!("`policy-miner rollback --db {} --role {ORDERS}`", db.path);

    // A dry run reports it: --apply would refuse, naming the rollback.
    let out = moto.cli(&apply[..8], FRESH_NOW);
    assert_status(&out, 10);
    let report = json(&out);
    let why = role(&report, ORDERS)["refusals"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.starts_with(&format!("change {id} (apply, started "))
            && why.contains("never finished")
            && why.contains(&rollback_command),
        "{why}"
    );

    // --apply refuses (exit 11) and writes nothing.
    let out = moto.cli(&apply, FRESH_NOW);
    assert_status(&out, 11);
    let report = json(&out);
    assert_eq!(role(&report, ORDERS)["outcome"], "refused");
    assert_eq!(role(&report, ORDERS)["refusals"][0], why.as_str());
    assert_eq!(names(inline(&iam, "orders-api-task").await), half);
    assert_eq!(attached(&iam, "orders-api-task").await, managed_before);

    // The rollback it names restores the state from before the killed apply, byte for byte.
    let out = moto.cli(&["rollback", "--db", &db.path, "--role", ORDERS], FRESH_NOW);
    assert_status(&out, 0);
    assert!(
        stdout(&out).contains(&format!("restored the state from before change {id} ")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        inline(&iam, "orders-api-task").await,
        vec![("legacy".to_string(), ORDERS_LEGACY.to_string())]
    );
    assert_eq!(attached(&iam, "orders-api-task").await, managed_before);

    // Cleared: tighten applies again.
    let out = moto.cli(&apply, FRESH_NOW);
    assert_status(&out, 0);
    assert_eq!(
        names(inline(&iam, "orders-api-task").await),
        vec!["policy-miner".to_string()]
    );
}

/// Issue 13: before, `rollback` deleted an inline policy added since the apply and overwrote one
/// edited since, without a word. Now it compares the role with what the apply left, lists every
/// difference, writes nothing, and names --force; --force then restores as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn rollback_refuses_to_undo_changes_made_since_unless_forced() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_role(&iam, "orders-api-task", "/", NO_TRUST).await;
    orders_policies(&iam).await;
    let app = attached(&iam, "orders-api-task").await;
    let db = observed_fleet();
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db.path,
            "--role",
            ORDERS,
            "--no-access-analyzer",
            "--apply",
            "--allow-short-evidence",
            "--allow-unstable-backtest",
            "--remove-inline",
        ],
        FRESH_NOW,
    );
    assert_status(&out, 0);
    let id = json(&moto.cli(
        &["history", "--db", &db.path, "--format", "json"],
        FRESH_NOW,
    ))[0]["id"]
        .to_string();

    // Since the apply, someone added a policy, edited policy-miner's, and detached the managed one.
    put(&iam, "orders-api-task", "hotfix", BILLING_ALL).await;
    put(&iam, "orders-api-task", "policy-miner", EXEC_SECRETS).await;
    for arn in &app {
        iam.detach_role_policy()
            .role_name("orders-api-task")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let changed = vec![
        ("hotfix".to_string(), BILLING_ALL.to_string()),
        ("policy-miner".to_string(), EXEC_SECRETS.to_string()),
    ];
    assert_eq!(inline(&iam, "orders-api-task").await, changed);

    let out = moto.cli(&["rollback", "--db", &db.path, "--role", ORDERS], FRESH_NOW);
    assert_status(&out, 1);
    let err = stderr(&out);
    for line in [
        format!("role orders-api-task was changed in IAM since policy-miner's change {id} (apply"),
        "  inline policy hotfix was added".to_string(),
        "  inline policy policy-miner was edited".to_string(),
        format!(
            "  managed policy {} was detached",
            app.iter().next().unwrap()
        ),
        "nothing was written".to_string(),
        format!(
            "`policy-miner rollback --db {} --role {ORDERS} --to {id} --force`",
            db.path
        ),
    ] {
        assert!(err.contains(&line), "{line:?} missing from: {err}");
    }
    assert_eq!(inline(&iam, "orders-api-task").await, changed);
    assert!(attached(&iam, "orders-api-task").await.is_empty());
    // Nothing recorded either: the apply is still the role's latest change.
    let history = json(&moto.cli(
        &["history", "--db", &db.path, "--format", "json"],
        FRESH_NOW,
    ));
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");

    // Forced: the state from before the apply, the changes made since undone and listed.
    let out = moto.cli(
        &["rollback", "--db", &db.path, "--role", ORDERS, "--force"],
        FRESH_NOW,
    );
    assert_status(&out, 0);
    assert!(
        stdout(&out).contains("undid changes made since (--force): inline policy hotfix was added"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        inline(&iam, "orders-api-task").await,
        vec![("legacy".to_string(), ORDERS_LEGACY.to_string())]
    );
    assert_eq!(attached(&iam, "orders-api-task").await, app);
}

/// An IAM client for moto with a user's keys (once moto enforces authorization).
fn moto_admin(moto: &Moto, keys: &(String, String)) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(&keys.0, &keys.1, None, None, "test"))
        .endpoint_url(&moto.endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

/// IAM throttling through recorded responses: the SDK retries with tighten's retry settings.
mod throttling {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    use policy_miner::tighten::{aws, iam};

    const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

    fn xml(status: u16, body: String) -> ReplayEvent {
        ReplayEvent::new(
            http::Request::builder()
                .uri("https://iam.amazonaws.com/")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .body(SdkBody::from(body))
                .unwrap(),
        )
    }

    fn throttled() -> ReplayEvent {
        xml(
            400,
            format!(
                r#"<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#
            ),
        )
    }

    fn client(replay: &StaticReplayClient, attempts: u32) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(aws::retry_config(attempts))
            .http_client(replay.clone())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    #[tokio::test]
    async fn throttled_reads_are_retried_until_they_succeed() {
        let replay = StaticReplayClient::new(vec![
            throttled(),
            throttled(),
            xml(
                200,
                format!(
                    r#"<GetRoleResponse xmlns="{NS}"><GetRoleResult><Role><Path>/</Path><RoleName>r</RoleName><RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::111122223333:role/r</Arn><CreateDate>2026-11-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument></Role></GetRoleResult></GetRoleResponse>"#
                ),
            ),
            xml(
                200,
                format!(
                    r#"<ListRolePoliciesResponse xmlns="{NS}"><ListRolePoliciesResult><PolicyNames/><IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>"#
                ),
            ),
            xml(
                200,
                format!(
                    r#"<ListAttachedRolePoliciesResponse xmlns="{NS}"><ListAttachedRolePoliciesResult><AttachedPolicies/><IsTruncated>false</IsTruncated></ListAttachedRolePoliciesResult></ListAttachedRolePoliciesResponse>"#
                ),
            ),
        ]);
        let current = iam::read_role(&client(&replay, 5), "r").await.unwrap();
        assert_eq!(current.role_arn, "arn:aws:iam::111122223333:role/r");
        assert_eq!(replay.actual_requests().count(), 5);
    }

    #[tokio::test]
    async fn throttling_past_the_retries_is_a_clear_error() {
        let replay = StaticReplayClient::new(vec![throttled(), throttled()]);
        let err = iam::read_role(&client(&replay, 2), "r").await.unwrap_err();
        assert_eq!(err.kind, aws::ErrorKind::Throttling);
        assert!(
            err.message
                .contains("iam:GetRole on role r: still throttled"),
            "{}",
            err.message
        );
    }
}

/// Access Analyzer through recorded responses: the SDK's StaticReplayClient.
mod access_analyzer {
    use aws_sdk_accessanalyzer::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    use policy_miner::tighten::validate;

    fn event(path: &str, status: u16, body: &str) -> ReplayEvent {
        ReplayEvent::new(
            http::Request::builder()
                .method("POST")
                .uri(format!(
                    "https://access-analyzer.us-east-1.amazonaws.com{path}"
                ))
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(SdkBody::from(body.to_string()))
                .unwrap(),
        )
    }

    fn client(replay: &StaticReplayClient) -> aws_sdk_accessanalyzer::Client {
        let config = aws_sdk_accessanalyzer::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .http_client(replay.clone())
            .build();
        aws_sdk_accessanalyzer::Client::from_conf(config)
    }

    const PROPOSAL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}"#;
    const CURRENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const NO_FINDINGS: &str = r#"{"findings":[]}"#;

    #[tokio::test]
    async fn an_error_finding_refuses() {
        let replay = StaticReplayClient::new(vec![
            event(
                "/policy/validation",
                200,
                r#"{"findings":[{"findingDetails":"The action s3:GetObjekt does not exist.","findingType":"ERROR","issueCode":"INVALID_ACTION","learnMoreLink":"https://docs.aws.amazon.com/","locations":[]},
                   {"findingDetails":"Consider a condition.","findingType":"SUGGESTION","issueCode":"EMPTY_ARRAY_CONDITION","learnMoreLink":"https://docs.aws.amazon.com/","locations":[]}]}"#,
            ),
            event(
                "/policy/check-no-new-access",
                200,
                r#"{"result":"PASS","message":"no new access","reasons":[]}"#,
            ),
        ]);
        let verdict = validate::access_analyzer(&client(&replay), PROPOSAL, CURRENT)
            .await
            .unwrap();
        assert_eq!(verdict.problems.len(), 1, "{:?}", verdict.problems);
        assert!(verdict.problems[0].contains("ERROR INVALID_ACTION"));
        assert_eq!(verdict.notes.len(), 1);
        let sent = replay.actual_requests().collect::<Vec<_>>();
        assert_eq!(sent.len(), 2);
        let body = std::str::from_utf8(sent[0].body().bytes().unwrap()).unwrap();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["policyType"], "IDENTITY_POLICY");
        assert_eq!(body["policyDocument"], PROPOSAL);
    }

    #[tokio::test]
    async fn a_security_warning_refuses() {
        let replay = StaticReplayClient::new(vec![
            event(
                "/policy/validation",
                200,
                r#"{"findings":[{"findingDetails":"PassRole with a wildcard.","findingType":"SECURITY_WARNING","issueCode":"PASS_ROLE_WITH_STAR_IN_RESOURCE","learnMoreLink":"https://docs.aws.amazon.com/","locations":[]}]}"#,
            ),
            event(
                "/policy/check-no-new-access",
                200,
                r#"{"result":"PASS","message":"ok","reasons":[]}"#,
            ),
        ]);
        let verdict = validate::access_analyzer(&client(&replay), PROPOSAL, CURRENT)
            .await
            .unwrap();
        assert_eq!(verdict.problems.len(), 1);
        assert!(verdict.problems[0].contains("SECURITY_WARNING"));
    }

    #[tokio::test]
    async fn new_access_refuses_and_pass_allows() {
        let replay = StaticReplayClient::new(vec![
            event("/policy/validation", 200, NO_FINDINGS),
            event(
                "/policy/check-no-new-access",
                200,
                r#"{"result":"FAIL","message":"The modified permissions grant new access compared to your existing policy.","reasons":[{"description":"New access in the statement with index: 0.","statementIndex":0,"statementId":"S31","changeType":"ADDED"}]}"#,
            ),
        ]);
        let verdict = validate::access_analyzer(&client(&replay), PROPOSAL, CURRENT)
            .await
            .unwrap();
        assert_eq!(verdict.problems.len(), 1);
        assert!(
            verdict.problems[0].starts_with("CheckNoNewAccess FAIL"),
            "{}",
            verdict.problems[0]
        );
        assert!(verdict.problems[0].contains("statement S31"));
        let sent = replay.actual_requests().collect::<Vec<_>>();
        let body: serde_json::Value =
            serde_json::from_slice(sent[1].body().bytes().unwrap()).unwrap();
        assert_eq!(body["newPolicyDocument"], PROPOSAL);
        assert_eq!(body["existingPolicyDocument"], CURRENT);
        assert_eq!(body["policyType"], "IDENTITY_POLICY");

        let replay = StaticReplayClient::new(vec![
            event("/policy/validation", 200, NO_FINDINGS),
            event(
                "/policy/check-no-new-access",
                200,
                r#"{"result":"PASS","message":"ok","reasons":[]}"#,
            ),
        ]);
        let verdict = validate::access_analyzer(&client(&replay), PROPOSAL, CURRENT)
            .await
            .unwrap();
        assert!(verdict.problems.is_empty(), "{:?}", verdict.problems);
    }

    #[tokio::test]
    async fn an_access_denied_answer_means_unavailable_with_the_permission_named() {
        // REST-JSON services name the error in a header.
        let replay = StaticReplayClient::new(vec![ReplayEvent::new(
            http::Request::builder()
                .uri("https://access-analyzer.us-east-1.amazonaws.com/policy/validation")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(403)
                .header("content-type", "application/json")
                .header("x-amzn-errortype", "AccessDeniedException")
                .body(SdkBody::from(
                    r#"{"message":"User is not authorized to perform: access-analyzer:ValidatePolicy"}"#,
                ))
                .unwrap(),
        )]);
        let err = validate::access_analyzer(&client(&replay), PROPOSAL, CURRENT)
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("need the access-analyzer:ValidatePolicy permission"),
            "{}",
            err.message
        );
    }
}

/// An IAM Identity Center session, as CloudTrail records one: the session issuer is the
/// permission set's role under `/aws-reserved/sso.amazonaws.com/<region>/` (IAM Identity Center
/// User Guide, "Logging IAM Identity Center API calls with AWS CloudTrail"; the role path from
/// "IAM roles created by IAM Identity Center").
const SSO_ROLE: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978";

fn sso_event() -> Value {
    serde_json::json!({
        "eventVersion": "1.08", "eventID": "5b8f3e2a-sso-0001", "eventTime": "2026-11-04T09:15:00Z",
        "eventSource": "ssm.amazonaws.com", "eventName": "GetParameter",
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.7",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLESSO:jane@example.com",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978/jane@example.com",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {
                "type": "Role", "principalId": "AROAEXAMPLESSO", "arn": SSO_ROLE,
                "accountId": ACCOUNT,
                "userName": "AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978"}}
        },
        "requestParameters": {"name": "/orders/db-url"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn by_default_only_task_definition_roles_are_tightened_and_reserved_roles_never() {
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    // legacy-sync is left out of IAM: reported, and the others still tightened.
    create_fleet(&iam).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db").display().to_string();
    let sso = dir.path().join("sso.json");
    std::fs::write(
        &sso,
        serde_json::json!({"Records": [sso_event()]}).to_string(),
    )
    .unwrap();
    let out = run(&[
        "observe",
        "--db",
        &db,
        "--task-definitions",
        fixture("fleet/taskdefs").to_str().unwrap(),
        fixture("fleet/trail").to_str().unwrap(),
        sso.to_str().unwrap(),
    ]);
    assert_status(&out, 0);

    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db,
            "--format",
            "json",
            "--no-access-analyzer",
        ],
        FRESH_NOW,
    );
    // Dry runs for the roles in IAM: "tightening possible", not an error.
    assert_status(&out, 10);
    let report = json(&out);
    let outcomes: BTreeSet<(String, String)> = report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role_arn"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let legacy = "arn:aws:iam::111122223333:role/legacy-sync";
    for (arn, outcome) in [
        (ORDERS, "dry run"),
        (EXEC, "dry run"),
        (BILLING, "dry run"),
        (legacy, "not in IAM"),
        (SSO_ROLE, "skipped"),
        ("arn:aws:iam::111122223333:role/ci-deployer", "skipped"),
    ] {
        assert!(
            outcomes.contains(&(arn.to_string(), outcome.to_string())),
            "{arn} {outcome}: {outcomes:?}"
        );
    }
    let sso_report = role(&report, SSO_ROLE);
    assert!(
        sso_report["skipped_because"]
            .as_str()
            .unwrap()
            .contains("IAM Identity Center"),
        "{sso_report}"
    );
    assert!(sso_report["replacement"].is_null());
    let ci = role(&report, "arn:aws:iam::111122223333:role/ci-deployer");
    assert!(ci["skipped_because"]
        .as_str()
        .unwrap()
        .contains("no task definition names it"));

    // Named explicitly, an Identity Center role is still skipped, with the reason, and so is
    // nothing written: the run succeeds with nothing done.
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db,
            "--role",
            SSO_ROLE,
            "--no-access-analyzer",
            "--apply",
        ],
        FRESH_NOW,
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains(&format!("== {SSO_ROLE} — skipped")), "{text}");
    assert!(
        text.contains("skipped: an IAM Identity Center role"),
        "{text}"
    );
    // A role without a task definition, named, is tightened.
    let out = moto.cli(
        &[
            "tighten",
            "--db",
            &db,
            "--role",
            "ci-deployer",
            "--no-access-analyzer",
        ],
        FRESH_NOW,
    );
    assert!(
        stdout(&out).contains("ci-deployer — not in IAM"),
        "{}",
        stdout(&out)
    );
}

/// Issue 19: `legacy-sync` (the fixture fleet's task role and execution role at once) is
/// proposed split; tighten's dry run shows the split as a recommendation with the commands that
/// make it, and creates no role.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_split_is_recommended_with_its_commands_and_no_role_is_created() {
    const LEGACY: &str = "arn:aws:iam::111122223333:role/legacy-sync";
    let Some(moto) = start_moto(&[]) else { return };
    let iam = moto.iam();
    create_role(&iam, "legacy-sync", "/", ECS_TRUST).await;
    let db = observed_fleet();
    let args = [
        "tighten",
        "--db",
        &db.path,
        "--role",
        LEGACY,
        "--no-access-analyzer",
    ];
    let out = moto.cli(&[&args[..], &["--format", "json"]].concat(), FRESH_NOW);
    let report = json(&out);
    let split = &report["roles"][0]["split"];
    assert_eq!(split["kind"], "task-and-execution", "{report}");
    let new_roles = strings(&split["new_roles"]);
    let want: BTreeSet<String> = ["legacy-sync-execution", "legacy-sync-task"]
        .iter()
        .map(|n| format!("arn:aws:iam::{ACCOUNT}:role/{n}"))
        .collect();
    assert_eq!(new_roles, want);
    let commands: Vec<&str> = split["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for name in ["legacy-sync-execution", "legacy-sync-task"] {
        assert!(
            commands.iter().any(|c| c.starts_with(&format!(
                "aws iam create-role --role-name {name} --assume-role-policy-document file://{name}.trust.json"
            ))),
            "{commands:#?}"
        );
        assert!(
            commands.iter().any(|c| c.starts_with(&format!(
                "aws iam put-role-policy --role-name {name} --policy-name policy-miner"
            ))),
            "{commands:#?}"
        );
    }
    for field in ["taskRoleArn", "executionRoleArn"] {
        assert!(
            commands.iter().any(|c| c
                .contains("describe-task-definition --task-definition legacy-sync")
                && c.contains(&format!(".{field} = "))),
            "{commands:#?}"
        );
    }
    assert!(commands
        .iter()
        .any(|c| c.starts_with("aws ecs register-task-definition")));
    // The text report shows it too.
    let out = moto.cli(&args, FRESH_NOW);
    assert!(
        stdout(&out).contains("recommended split (task-and-execution)"),
        "{}",
        stdout(&out)
    );
    // A shared execution role is recommended split per family only when asked.
    create_role(&iam, "ecsTaskExecutionRole", "/", ECS_TRUST).await;
    let shared = |extra: &[&str]| {
        let base = [
            "tighten",
            "--db",
            &db.path,
            "--role",
            EXEC,
            "--no-access-analyzer",
            "--format",
            "json",
        ];
        json(&moto.cli(&[&base[..], extra].concat(), FRESH_NOW))
    };
    assert!(shared(&[])["roles"][0].get("split").is_none());
    let report = shared(&["--split-shared"]);
    let split = &report["roles"][0]["split"];
    assert_eq!(split["kind"], "shared-execution", "{report}");
    assert!(split["commands"][0]
        .as_str()
        .unwrap()
        .contains("propose --db DB --split-shared --out"));
    let new_roles = strings(&split["new_roles"]);
    assert!(new_roles.contains(&format!("arn:aws:iam::{ACCOUNT}:role/orders-api-execution")));
    // Nothing was created.
    for name in [
        "legacy-sync-execution",
        "legacy-sync-task",
        "orders-api-execution",
    ] {
        assert!(iam.get_role().role_name(name).send().await.is_err());
    }
}
