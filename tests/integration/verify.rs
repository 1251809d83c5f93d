//! `policy-miner verify`: every stored successful call replayed against the proposal or a policy
//! file, with the real binary on a database observed from the fleet fixture.

use crate::common::*;
use serde_json::{json, Value};

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn the_proposal_covers_every_observed_call_of_every_role() {
    let (_dir, db) = fleet_db();
    let out = run(&["verify", "--db", &db, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["uncovered_total"], 0);
    let roles = report["roles"].as_array().unwrap();
    assert_eq!(
        roles.len(),
        proposal_json(&db)["roles"].as_array().unwrap().len()
    );
    assert!(roles.iter().all(|r| r["calls"].as_i64().unwrap() > 0));
    let text = stdout(&run(&["verify", "--db", &db]));
    assert!(text.contains("Every observed call is allowed."), "{text}");
}

#[test]
fn a_policy_missing_a_grant_is_reported_call_by_call_with_exit_4() {
    let (dir, db) = fleet_db();
    let mut p = proposal_json(&db);
    // Drop the task role's SQS statements: its observed queue calls lose their grant.
    let orders = p["roles"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["role_arn"] == "arn:aws:iam::111122223333:role/orders-api-task")
        .unwrap();
    let statements = orders["policy"]["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|s| {
        !s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("sqs:"))
    });
    assert!(statements.len() < before);
    let file = write(dir.path(), "edited.json", &p);
    let out = run(&["verify", "--db", &db, "--policy", &file, "--format", "json"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let uncovered: Vec<&Value> = report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["uncovered"].as_array().unwrap())
        .collect();
    assert!(!uncovered.is_empty());
    for u in &uncovered {
        assert_eq!(
            u["role_arn"],
            "arn:aws:iam::111122223333:role/orders-api-task"
        );
        assert!(u["action"].as_str().unwrap().starts_with("sqs:"), "{u}");
        assert!(u["count"].as_i64().unwrap() > 0);
        assert!(!u["example_event_id"].as_str().unwrap().is_empty());
        assert_eq!(u["decision"], "implicit deny");
    }
    assert!(uncovered.iter().any(|u| u["action"] == "sqs:SendMessage"
        && u["resource"] == "arn:aws:sqs:eu-west-1:444455556666:shared-audit"));
    // The text report names each call with its example event.
    let out = run(&["verify", "--db", &db, "--policy", &file]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("DENY  arn:aws:iam::111122223333:role/orders-api-task"),
        "{text}"
    );
    let first = uncovered[0];
    assert!(text.contains(&format!(
        "{} on {} ×{}",
        first["action"].as_str().unwrap(),
        first["resource"].as_str().unwrap(),
        first["count"]
    )));
    assert!(text.contains(first["example_event_id"].as_str().unwrap()));
}

#[test]
fn a_single_current_policy_is_checked_for_the_named_role() {
    let (dir, db) = fleet_db();
    let role = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
    // The role's current policy, as AWS's managed execution-role policy writes it.
    let current = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                   "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
                   "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]});
    let file = write(dir.path(), "current.json", &current);
    // Without --role, a document that names no role cannot be placed.
    let out = run(&["verify", "--db", &db, "--policy", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("--role"), "{}", stderr(&out));
    let out = run(&[
        "verify", "--db", &db, "--policy", &file, "--role", role, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let roles = report["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    let actions: std::collections::BTreeSet<&str> = roles[0]["uncovered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["action"].as_str().unwrap())
        .collect();
    // The managed policy lacks exactly the secret reads and their decryption.
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        [
            "kms:Decrypt",
            "secretsmanager:GetSecretValue",
            "ssm:GetParameters"
        ]
    );
    // An explicit Deny is reported as such.
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]});
    let file = write(dir.path(), "deny.json", &deny);
    let out = run(&[
        "verify", "--db", &db, "--policy", &file, "--role", role, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(report["roles"][0]["uncovered"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["decision"] == "explicit deny" && u["action"] == "kms:Decrypt"));
}

#[test]
fn the_iam_format_verifies_clean_and_a_role_missing_from_it_is_uncovered() {
    let (dir, db) = fleet_db();
    let out = run(&["propose", "--db", &db, "--format", "iam"]);
    let mut iam: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let file = write(dir.path(), "iam.json", &iam);
    let out = run(&["verify", "--db", &db, "--policy", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    iam.as_object_mut()
        .unwrap()
        .remove("arn:aws:iam::111122223333:role/legacy-sync");
    let file = write(dir.path(), "iam-partial.json", &iam);
    let out = run(&["verify", "--db", &db, "--policy", &file]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("DENY  arn:aws:iam::111122223333:role/legacy-sync")
            && text.contains("has no policy for this role"),
        "{text}"
    );
}

#[test]
fn unreadable_policy_files_are_named_with_what_to_do() {
    let (dir, db) = fleet_db();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"Statement\": [").unwrap();
    let out = run(&["verify", "--db", &db, "--policy", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("broken.json") && err.contains("IAM policy document"),
        "{err}"
    );
    let out = run(&["verify", "--db", &db, "--policy", "/nonexistent/p.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/p.json"));
}
