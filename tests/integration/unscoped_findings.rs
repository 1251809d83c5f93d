//! Issue 16, item 3: a grant that fell back to `*` carries, in `propose --format json`, a finding
//! with the action, the resource, a stable reason code and the earliest call behind it; an action
//! that takes no resource is on `*` by right and gets none. Text output keeps the words.
//!
//! The events are CloudTrail management events as AWS documents them ("CloudTrail record
//! contents": `requestParameters` carries the API's parameters in camelCase). CloudFormation's
//! `DescribeStacks` names its stack by name (`stackName`), which is no ARN, and the general rule
//! only takes ARNs; `ecr:GetAuthorizationToken` takes no resource (Service Authorization
//! Reference, Amazon ECR: no resource type).

use crate::common::*;
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:iam::111122223333:role/orders-task";

fn event(id: &str, time: &str, source: &str, name: &str, params: Value) -> Value {
    let mut e = role_event(id, time, "orders-task", "/unused");
    e["eventSource"] = json!(source);
    e["eventName"] = json!(name);
    e["requestParameters"] = params;
    e
}

/// A database observed from one delivery file of `events`.
fn observed(events: Vec<Value>) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let day = dir
        .path()
        .join("trail/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let body = json!({ "Records": events }).to_string();
    std::fs::write(
        day.join("111122223333_CloudTrail_eu-west-1_20261120T0900Z_a.json.gz"),
        gzip(body.as_bytes()),
    )
    .unwrap();
    let db = dir.path().join("e.db").display().to_string();
    let trail = dir.path().join("trail");
    let out = run(&["observe", "--db", &db, trail.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "observe: {}", stderr(&out));
    (dir, db)
}

#[test]
fn a_call_without_a_resource_gives_a_structured_finding_and_a_resourceless_action_none() {
    let (_dir, db) = observed(vec![
        event(
            "ev-stacks-late",
            "2026-11-20T09:30:00Z",
            "cloudformation.amazonaws.com",
            "DescribeStacks",
            json!({"stackName": "orders-web"}),
        ),
        event(
            "ev-stacks-early",
            "2026-11-20T09:05:00Z",
            "cloudformation.amazonaws.com",
            "DescribeStacks",
            json!({"stackName": "orders-worker"}),
        ),
        event(
            "ev-token",
            "2026-11-20T09:10:00Z",
            "ecr.amazonaws.com",
            "GetAuthorizationToken",
            json!({"registryIds": ["111122223333"]}),
        ),
        event(
            "ev-param",
            "2026-11-20T09:20:00Z",
            "ssm.amazonaws.com",
            "GetParameter",
            json!({"name": "/orders/db-host"}),
        ),
    ]);
    let report = proposal_json(&db);
    let role = role(&report, ROLE);
    let statements = role["policy"]["Statement"].as_array().unwrap();
    let on_star: Vec<&str> = statements
        .iter()
        .filter(|s| s["Resource"] == json!(["*"]) || s["Resource"] == "*")
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        on_star.contains(&"cloudformation:DescribeStacks")
            && on_star.contains(&"ecr:GetAuthorizationToken"),
        "{on_star:?}"
    );

    let unscoped: Vec<&Value> = role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unscoped-grant")
        .collect();
    assert_eq!(unscoped.len(), 1, "{unscoped:?}");
    let f = unscoped[0];
    assert_eq!(f["action"], "cloudformation:DescribeStacks");
    assert_eq!(f["resource"], "*");
    assert_eq!(f["reason"], "no-resource-in-event");
    assert_eq!(
        f["example_event_id"], "ev-stacks-early",
        "the earliest call"
    );
    assert_eq!(f["severity"], "warning");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("cloudformation:DescribeStacks is granted on \"*\""),
        "{f}"
    );
    // Findings about no one grant keep their three keys only.
    for other in role["findings"].as_array().unwrap() {
        if other["kind"] != "unscoped-grant" {
            assert!(other.get("reason").is_none(), "{other}");
        }
    }

    let text = stdout(&run(&["propose", "--db", &db, "--format", "text"]));
    assert!(
        text.contains("cloudformation:DescribeStacks is granted on \"*\""),
        "{text}"
    );
    assert!(!text.contains("no-resource-in-event"), "{text}");
}
