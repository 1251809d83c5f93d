//! Issue 5's output formats, parsed back with real parsers (HCL, YAML, CommonMark) and compared
//! statement by statement with the JSON contract's policies; determinism across every format;
//! derived execution-role grants; escaped names end to end; the size limits.

use crate::common::*;
use policy_miner::policy::eval::{evaluate, Context, Decision, Request};
use policy_miner::policy::{Effect, PolicyDocument, Statement};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORMATS: [&str; 6] = [
    "json",
    "text",
    "iam",
    "terraform",
    "cloudformation",
    "markdown",
];

fn observe(db: &str, taskdefs: &[&str], trail: &Path) {
    let mut args = vec!["observe", "--db", db];
    for t in taskdefs {
        args.extend(["--task-definitions", t]);
    }
    args.push(trail.to_str().unwrap());
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "observe: {}", stderr(&out));
}

fn propose(db: &str, format: &str, extra: &[&str]) -> String {
    let mut args = vec!["propose", "--db", db, "--format", format];
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "propose {format}: {}", stderr(&out));
    stdout(&out)
}

/// Role ARN → the documents to deploy (the inline policy, or the managed policies when split),
/// from the JSON contract.
fn contract(db: &str, extra: &[&str]) -> (Value, BTreeMap<String, Vec<PolicyDocument>>) {
    let v: Value = serde_json::from_str(&propose(db, "json", extra)).unwrap();
    let mut out = BTreeMap::new();
    for r in v["roles"].as_array().unwrap() {
        let docs = match r.get("managed_policies") {
            Some(m) => m
                .as_array()
                .unwrap()
                .iter()
                .map(|p| serde_json::from_value(p["document"].clone()).unwrap())
                .collect(),
            None => vec![serde_json::from_value(r["policy"].clone()).unwrap()],
        };
        out.insert(r["role_arn"].as_str().unwrap().to_string(), docs);
    }
    (v, out)
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

// ---------------------------------------------------------------- parse-back per format

fn check_iam(db: &str, want: &BTreeMap<String, Vec<PolicyDocument>>) {
    let v: Value = serde_json::from_str(&propose(db, "iam", &[])).unwrap();
    let mut got = BTreeMap::new();
    for (role, doc) in v.as_object().unwrap() {
        let docs: Vec<PolicyDocument> = match doc {
            Value::Array(items) => items
                .iter()
                .map(|d| serde_json::from_value(d.clone()).unwrap())
                .collect(),
            d => vec![serde_json::from_value(d.clone()).unwrap()],
        };
        got.insert(role.clone(), docs);
    }
    assert_eq!(&got, want);
}

fn hcl_string(expr: &hcl::Expression) -> String {
    use hcl::eval::Evaluate;
    match expr.evaluate(&hcl::eval::Context::new()) {
        Ok(hcl::Value::String(s)) => s,
        other => panic!("not a string: {expr:?} → {other:?}"),
    }
}

fn hcl_strings(expr: &hcl::Expression) -> Vec<String> {
    match expr {
        hcl::Expression::Array(items) => items.iter().map(hcl_string).collect(),
        other => panic!("not a list: {other:?}"),
    }
}

fn attr<'a>(body: &'a hcl::Body, key: &str) -> Option<&'a hcl::Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn check_terraform(db: &str, want: &BTreeMap<String, Vec<PolicyDocument>>) {
    let text = propose(db, "terraform", &[]);
    let body: hcl::Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut documents: BTreeMap<String, PolicyDocument> = BTreeMap::new();
    let mut attached: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut managed: BTreeMap<String, String> = BTreeMap::new();
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        let b = block.body();
        match (block.identifier(), labels.as_slice()) {
            // The new roles of a split: checked in role_split.
            (_, [_, id]) if id.contains("_split_") => continue,
            ("data", ["aws_iam_policy_document", id]) => {
                let version = hcl_string(attr(b, "version").unwrap());
                let statements = b
                    .blocks()
                    .filter(|s| s.identifier() == "statement")
                    .map(|s| {
                        let sb = s.body();
                        let list = |k| attr(sb, k).map(hcl_strings);
                        let mut st = Statement {
                            sid: attr(sb, "sid").map(hcl_string),
                            effect: match hcl_string(attr(sb, "effect").unwrap()).as_str() {
                                "Allow" => Effect::Allow,
                                _ => Effect::Deny,
                            },
                            action: list("actions"),
                            not_action: list("not_actions"),
                            resource: list("resources"),
                            not_resource: list("not_resources"),
                            condition: BTreeMap::new(),
                        };
                        for c in sb.blocks().filter(|c| c.identifier() == "condition") {
                            let cb = c.body();
                            st.condition
                                .entry(hcl_string(attr(cb, "test").unwrap()))
                                .or_default()
                                .insert(
                                    hcl_string(attr(cb, "variable").unwrap()),
                                    hcl_strings(attr(cb, "values").unwrap()),
                                );
                        }
                        st
                    })
                    .collect();
                documents.insert(
                    id.to_string(),
                    PolicyDocument {
                        version,
                        statement: statements,
                    },
                );
            }
            ("resource", ["aws_iam_role_policy", id]) => {
                let role = hcl_string(attr(b, "role").unwrap());
                let policy = attr(b, "policy").unwrap().to_string();
                assert_eq!(policy, format!("data.aws_iam_policy_document.{id}.json"));
                attached.entry(role).or_default().push(id.to_string());
            }
            ("resource", ["aws_iam_policy", id]) => {
                let policy = attr(b, "policy").unwrap().to_string();
                assert_eq!(policy, format!("data.aws_iam_policy_document.{id}.json"));
                managed.insert(id.to_string(), hcl_string(attr(b, "name").unwrap()));
            }
            ("resource", ["aws_iam_role_policy_attachment", id]) => {
                let role = hcl_string(attr(b, "role").unwrap());
                assert_eq!(
                    attr(b, "policy_arn").unwrap().to_string(),
                    format!("aws_iam_policy.{id}.arn")
                );
                attached.entry(role).or_default().push(id.to_string());
            }
            other => panic!("unexpected block {other:?}"),
        }
    }
    for (role, docs) in want {
        let ids = &attached[role_name(role)];
        let got: Vec<&PolicyDocument> = ids.iter().map(|id| &documents[id]).collect();
        assert_eq!(got, docs.iter().collect::<Vec<_>>(), "{role}");
        if docs.len() > 1 {
            assert!(ids.iter().all(|id| managed.contains_key(id)));
        }
    }
    assert_eq!(
        attached.values().map(Vec::len).sum::<usize>(),
        documents.len()
    );
}

fn check_cloudformation(db: &str, want: &BTreeMap<String, Vec<PolicyDocument>>) {
    let text = propose(db, "cloudformation", &[]);
    let template: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    let mut got: BTreeMap<String, Vec<PolicyDocument>> = BTreeMap::new();
    let resources = template["Resources"].as_mapping().unwrap();
    for (id, res) in resources {
        let id = id.as_str().unwrap();
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        if id.contains("Split") {
            continue; // the new roles of a split: checked in role_split
        }
        let props = &res["Properties"];
        let doc: PolicyDocument = serde_yaml::from_value(props["PolicyDocument"].clone()).unwrap();
        let role = match res["Type"].as_str().unwrap() {
            "AWS::IAM::RolePolicy" => {
                assert_eq!(props["PolicyName"], "policy-miner");
                props["RoleName"].as_str().unwrap().to_string()
            }
            "AWS::IAM::ManagedPolicy" => {
                assert!(props["ManagedPolicyName"].as_str().is_some());
                props["Roles"][0].as_str().unwrap().to_string()
            }
            other => panic!("unexpected resource type {other}"),
        };
        got.entry(role).or_default().push(doc);
    }
    let want: BTreeMap<String, Vec<PolicyDocument>> = want
        .iter()
        .map(|(r, d)| (role_name(r).to_string(), d.clone()))
        .collect();
    assert_eq!(got, want);
}

fn check_markdown(db: &str, proposal: &Value, want: &BTreeMap<String, Vec<PolicyDocument>>) {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let text = propose(db, "markdown", &[]);
    let mut headings: Vec<(u32, String)> = Vec::new();
    let mut in_heading: Option<u32> = None;
    let mut in_json = false;
    let mut code = String::new();
    let mut docs: BTreeMap<String, Vec<PolicyDocument>> = BTreeMap::new();
    let mut table_headers: Vec<String> = Vec::new();
    let mut in_table_head = false;
    for event in Parser::new_ext(&text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                in_heading = Some(level as u32);
                headings.push((level as u32, String::new()));
            }
            Event::End(TagEnd::Heading(_)) => in_heading = None,
            Event::Text(t) | Event::Code(t) if in_heading.is_some() => {
                headings.last_mut().unwrap().1.push_str(&t)
            }
            Event::Start(Tag::TableHead) => {
                in_table_head = true;
                table_headers.push(String::new());
            }
            Event::End(TagEnd::TableHead) => in_table_head = false,
            Event::Text(t) if in_table_head => table_headers.last_mut().unwrap().push_str(&t),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if &*lang == "json" => {
                in_json = true;
                code.clear();
            }
            Event::Text(t) if in_json => code.push_str(&t),
            Event::End(TagEnd::CodeBlock) if in_json => {
                in_json = false;
                // Policies are the JSON blocks after the "Policies" heading, under their role.
                let role = headings.last().unwrap().1.clone();
                assert!(headings.iter().any(|h| h == &(2, "Policies".to_string())));
                if role.starts_with("Split of ") {
                    continue; // the new roles of a split: checked in role_split
                }
                docs.entry(role)
                    .or_default()
                    .push(serde_json::from_str(&code).unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(&docs, want);
    assert_eq!(headings[0], (1, "policy-miner report".to_string()));
    for r in proposal["roles"].as_array().unwrap() {
        let arn = r["role_arn"].as_str().unwrap();
        for f in r["families"].as_array().unwrap() {
            let family = (2, format!("Family {}", f.as_str().unwrap()));
            let at = headings
                .iter()
                .position(|h| h == &family)
                .unwrap_or_else(|| panic!("no heading {family:?}"));
            let next = headings[at + 1..]
                .iter()
                .position(|h| h.0 <= 2)
                .map_or(headings.len(), |p| at + 1 + p);
            for kind in r["usage"].as_array().unwrap() {
                let title = match kind.as_str().unwrap() {
                    "execution" => format!("Execution role {arn}"),
                    _ => format!("Task role {arn}"),
                };
                assert!(
                    headings[at..next].contains(&(3, title.clone())),
                    "{title} under {family:?}"
                );
            }
            // A shared role's findings are the whole role's, and say so in each family.
            let shared = r["families"].as_array().unwrap().len() > 1;
            let findings = if shared {
                "Findings (whole role)"
            } else {
                "Findings"
            };
            assert!(
                headings[at..next].contains(&(4, findings.to_string())),
                "{findings} under {family:?}"
            );
        }
    }
    assert!(table_headers
        .iter()
        .any(|h| h.starts_with("actionresourceconditionorigin")));
    let denied = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| !r["denied_calls"].as_array().unwrap().is_empty());
    assert_eq!(
        table_headers
            .iter()
            .any(|h| h.starts_with("actionresourceerror")),
        denied
    );
}

#[test]
fn every_format_parses_back_to_the_json_policies() {
    let (_dir, db) = fleet_db();
    let (proposal, want) = contract(&db, &[]);
    check_iam(&db, &want);
    check_terraform(&db, &want);
    check_cloudformation(&db, &want);
    check_markdown(&db, &proposal, &want);
}

#[test]
fn every_format_is_byte_identical_for_the_same_evidence() {
    let (_a, db_a) = fleet_db();
    let (_b, db_b) = fleet_db();
    for format in FORMATS {
        let a = propose(&db_a, format, &[]);
        let b = propose(&db_b, format, &[]);
        if let Some((x, y)) = a.lines().zip(b.lines()).find(|(x, y)| x != y) {
            panic!("--format {format} differs between two runs:\n{x}\n{y}");
        }
        assert_eq!(a.len(), b.len(), "--format {format}");
        assert!(!a.is_empty());
    }
}

#[test]
fn execution_roles_carry_the_derived_log_and_secret_grants() {
    let (_dir, db) = fleet_db();
    let (proposal, _) = contract(&db, &[]);
    let exec = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role_arn"] == "arn:aws:iam::111122223333:role/ecsTaskExecutionRole")
        .unwrap();
    let grant = |action: &str, resource: &str| {
        exec["grants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["action"] == action && g["resource"] == resource)
            .unwrap_or_else(|| panic!("no grant {action} {resource}"))
            .clone()
    };
    // CloudTrail never shows PutLogEvents: derived, per container, with the task definition named.
    let put = grant(
        "logs:PutLogEvents",
        "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/orders-api:log-stream:ecs/otel-collector/*",
    );
    assert_eq!(put["origin"], "derived");
    assert_eq!(put["count"], 0);
    assert_eq!(put["families"], json!(["orders-api"]));
    assert_eq!(
        put["derived_from"],
        json!([{"family": "orders-api", "revision": 15, "container": "otel-collector",
                "rule": "awslogs log driver"}])
    );
    // Seen in the trail and implied by the task definition.
    let create = grant(
        "logs:CreateLogStream",
        "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/report-cron:log-stream:cron/report/*",
    );
    assert_eq!(create["origin"], "both");
    assert!(create["count"].as_i64().unwrap() > 0);
    let secret = grant(
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:billing/db-Hn8Kp2",
    );
    assert_eq!(secret["origin"], "both");
    assert_eq!(secret["derived_from"][0]["family"], "billing-worker");
    let creds = grant(
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dockerhub/acmecorp-pull-Zx9Yw8",
    );
    assert_eq!(
        creds["derived_from"][0]["rule"],
        "repositoryCredentials.credentialsParameter"
    );
    let param = grant(
        "ssm:GetParameters",
        "arn:aws:ssm:eu-west-1:111122223333:parameter/billing/prod/api-key",
    );
    assert_eq!(param["origin"], "both");
    // Task roles get nothing derived.
    for r in proposal["roles"].as_array().unwrap() {
        if r["usage"] == json!(["task"]) {
            assert!(r["grants"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["origin"] == "observed"));
        }
    }
}

// ---------------------------------------------------------------- synthetic trails

const ACCOUNT: &str = "111122223333";

fn event(role: &str, source: &str, name: &str, params: Value, resources: Value, i: usize) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:0123456789abcdef0123456789abcdef",
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/0123456789abcdef0123456789abcdef"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "accountId": ACCOUNT,
                "userName": role}}
        },
        "eventTime": format!("2026-11-03T11:{:02}:{:02}Z", (i / 60) % 60, i % 60),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "test",
        "requestParameters": params,
        "responseElements": null,
        "requestID": format!("req-{i}"),
        "eventID": format!("ev-{name}-{i:05}"),
        "readOnly": false,
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data"
    })
}

fn write_trail(dir: &Path, events: &[Value]) -> PathBuf {
    let trail = dir.join("trail");
    std::fs::create_dir_all(&trail).unwrap();
    std::fs::write(
        trail.join("events.json"),
        serde_json::to_vec(&json!({ "Records": events })).unwrap(),
    )
    .unwrap();
    trail
}

fn get_object(role: &str, bucket: &str, key: &str, i: usize) -> Value {
    event(
        role,
        "s3.amazonaws.com",
        "GetObject",
        json!({"bucketName": bucket, "key": key}),
        json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
               {"type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
        i,
    )
}

fn allows(docs: &[PolicyDocument], action: &str, resource: &str) -> bool {
    decide(docs, action, resource, &[])
}

#[test]
fn names_with_wildcard_characters_never_widen_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    // Two names per directory: under the wildcard threshold, so each must stay exact.
    let keys = [
        "data/*",
        "data/what?",
        "cost/cost$",
        "logs/${aws:username}",
        "logs/a",
    ];
    let events: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| get_object("odd-names-task", "odd-bucket", k, i))
        .collect();
    let trail = write_trail(dir.path(), &events);
    let db = dir.path().join("odd.db").display().to_string();
    observe(&db, &[], &trail);
    let (_, policies) = contract(&db, &[]);
    let docs = &policies[&format!("arn:aws:iam::{ACCOUNT}:role/odd-names-task")];
    let text = serde_json::to_string(docs).unwrap();
    for escaped in [
        "odd-bucket/data/${*}",
        "odd-bucket/data/what${?}",
        "odd-bucket/cost/cost${$}",
        "odd-bucket/logs/${$}{aws:username}",
    ] {
        assert!(text.contains(escaped), "{escaped} not in {text}");
    }
    for k in keys {
        assert!(allows(
            docs,
            "s3:GetObject",
            &format!("arn:aws:s3:::odd-bucket/{k}")
        ));
    }
    for other in ["data/x", "data/whatX", "cost/cost", "logs/alice", "data/"] {
        assert!(
            !allows(
                docs,
                "s3:GetObject",
                &format!("arn:aws:s3:::odd-bucket/{other}")
            ),
            "{other} must not be allowed"
        );
    }
    // The formats that carry the escapes through their own syntax keep them intact.
    check_terraform(&db, &policies);
    check_cloudformation(&db, &policies);
    check_iam(&db, &policies);
    let out = run(&["verify", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn hundreds_of_resources_are_split_into_managed_policies_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let role = "fanout-task";
    let events: Vec<Value> = (0..400)
        .map(|i| {
            let url = format!("https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/tenant-{i:04}-outbound-notifications");
            event(
                role,
                "sqs.amazonaws.com",
                "SendMessage",
                json!({"queueUrl": url, "messageBody": "x"}),
                json!(null),
                i,
            )
        })
        .collect();
    let trail = write_trail(dir.path(), &events);
    let db = dir.path().join("fanout.db").display().to_string();
    observe(&db, &[], &trail);
    let (proposal, policies) = contract(&db, &[]);
    let r = &proposal["roles"][0];
    assert_eq!(r["delivery"], "managed");
    assert!(r["policy_characters"].as_u64().unwrap() > 10_240);
    let docs = &policies[&format!("arn:aws:iam::{ACCOUNT}:role/{role}")];
    assert!(docs.len() > 1 && docs.len() <= 10, "{} parts", docs.len());
    for d in docs {
        let chars = serde_json::to_string(d)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count();
        assert!(chars <= 6_144, "{chars}");
    }
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "split-into-managed-policies"));
    for i in [0, 217, 399] {
        let q = format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:tenant-{i:04}-outbound-notifications");
        assert!(allows(docs, "sqs:SendMessage", &q));
    }
    assert!(!allows(
        docs,
        "sqs:SendMessage",
        &format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:tenant-0400-outbound-notifications")
    ));
    check_iam(&db, &policies);
    check_terraform(&db, &policies);
    check_cloudformation(&db, &policies);
    check_markdown(&db, &proposal, &policies);
    // The policy files are the managed parts, one file each.
    let out_dir = dir.path().join("policies");
    propose(&db, "text", &["--out", out_dir.to_str().unwrap()]);
    let files = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(files, docs.len());
    // The managed parts together allow every observed call.
    let iam = dir.path().join("iam.json");
    std::fs::write(&iam, propose(&db, "iam", &[])).unwrap();
    let out = run(&["verify", "--db", &db, "--policy", iam.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

fn decide(docs: &[PolicyDocument], action: &str, resource: &str, keys: &[(&str, &str)]) -> bool {
    let ctx: Context = keys
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect();
    evaluate(
        docs,
        &Request {
            action,
            resource,
            context: &ctx,
        },
    ) == Decision::Allow
}

const PASSED: &str = "iam:PassedToService";

/// Issue 16: a role that launches tasks or creates functions may pass the roles it passed, to
/// the service it passed them to and no other. `RunTask` as CloudTrail logs it (ECS API
/// Reference, RunTask request syntax: `taskDefinition`, `cluster`, `overrides.taskRoleArn`);
/// Lambda's `CreateFunction` with its `role` (Lambda Developer Guide, "Logging Lambda API calls
/// using AWS CloudTrail").
#[test]
fn roles_passed_at_launch_are_passable_to_that_service_only() {
    let dir = tempfile::tempdir().unwrap();
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let run_task = event(
        "scheduler",
        "ecs.amazonaws.com",
        "RunTask",
        json!({"cluster": "batch", "taskDefinition": "report:7", "count": 1,
               "launchType": "FARGATE",
               "overrides": {"taskRoleArn": role("report-adhoc"),
                             "containerOverrides": [{"name": "app", "command": ["--full"]}]}}),
        json!(null),
        1,
    );
    let create_function = event(
        "deployer",
        "lambda.amazonaws.com",
        "CreateFunction20150331",
        json!({"functionName": "thumbnail", "runtime": "python3.12",
               "role": role("thumbnail-lambda"), "handler": "app.handler"}),
        json!(null),
        2,
    );
    let trail = write_trail(dir.path(), &[run_task, create_function]);
    let taskdefs = dir.path().join("taskdefs");
    std::fs::create_dir_all(&taskdefs).unwrap();
    std::fs::write(
        taskdefs.join("report.json"),
        json!({"family": "report", "revision": 7,
               "taskDefinitionArn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/report:7"),
               "taskRoleArn": role("report-task"), "executionRoleArn": role("report-exec"),
               "containerDefinitions": [{"name": "app", "image": "public.ecr.aws/docker/library/busybox:1.36"}]})
        .to_string(),
    )
    .unwrap();
    let db = dir.path().join("p.db").display().to_string();
    observe(&db, &[taskdefs.to_str().unwrap()], &trail);
    let (proposal, docs) = contract(&db, &[]);

    let scheduler = &docs[&role("scheduler")];
    // The task definition's roles (derived) and the override's (observed).
    for passed in ["report-task", "report-exec", "report-adhoc"] {
        let arn = role(passed);
        assert!(
            decide(
                scheduler,
                "iam:PassRole",
                &arn,
                &[(PASSED, "ecs-tasks.amazonaws.com")]
            ),
            "{passed}: {proposal:#}"
        );
        // Near misses: to another service, or with no service named.
        assert!(!decide(
            scheduler,
            "iam:PassRole",
            &arn,
            &[(PASSED, "lambda.amazonaws.com")]
        ));
        assert!(!decide(scheduler, "iam:PassRole", &arn, &[]));
    }
    assert!(!decide(
        scheduler,
        "iam:PassRole",
        &role("thumbnail-lambda"),
        &[(PASSED, "ecs-tasks.amazonaws.com")]
    ));
    // RunTask itself is authorized on the task definition, and on the cluster through
    // `ecs:cluster`: the revision and the cluster observed only.
    let task_definition = format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/report:7");
    let batch = format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/batch");
    let other = format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod");
    assert!(decide(
        scheduler,
        "ecs:RunTask",
        &task_definition,
        &[("ecs:cluster", &batch)]
    ));
    assert!(!decide(
        scheduler,
        "ecs:RunTask",
        &task_definition,
        &[("ecs:cluster", &other)]
    ));
    assert!(!decide(
        scheduler,
        "ecs:RunTask",
        &format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/report:8"),
        &[("ecs:cluster", &batch)]
    ));
    let derived = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role_arn"] == role("scheduler"))
        .unwrap()["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["action"] == "iam:PassRole" && g["resource"] == role("report-task"))
        .cloned()
        .unwrap();
    assert_eq!(derived["origin"], "derived", "{derived:#}");

    let deployer = &docs[&role("deployer")];
    let lambda_role = role("thumbnail-lambda");
    assert!(decide(
        deployer,
        "iam:PassRole",
        &lambda_role,
        &[(PASSED, "lambda.amazonaws.com")]
    ));
    assert!(!decide(
        deployer,
        "iam:PassRole",
        &lambda_role,
        &[(PASSED, "ecs-tasks.amazonaws.com")]
    ));
}
