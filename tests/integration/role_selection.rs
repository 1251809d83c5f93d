//! `--role` names one role the same way for `propose`, `explain` and `verify`: by its ARN, by its
//! ARN without the path, or by its name; a role known only from task definitions can be named
//! too, and a name that matches nothing is an error, never an empty success.

use crate::common::*;
use serde_json::{json, Value};

const BILLING: &str = "arn:aws:iam::111122223333:role/service-role/billing-worker-task";
/// A task role with a path that no trail event mentions.
const QUIET_TASK: &str = "arn:aws:iam::111122223333:role/team/quiet-batch-task";
/// An execution role that no trail event mentions: its policy comes from the task definition.
const QUIET_EXEC: &str = "arn:aws:iam::111122223333:role/quiet-batch-exec";

/// The fleet fixture observed with one more family, `quiet-batch`, whose roles made no call.
fn fleet_with_quiet_family() -> (tempfile::TempDir, String) {
    fleet_db_with(&[json!({
        "family": "quiet-batch",
        "taskRoleArn": QUIET_TASK,
        "executionRoleArn": QUIET_EXEC,
        "containerDefinitions": [{
            "name": "batch",
            "image": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/quiet-batch:1.0.0",
            "essential": true,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/quiet-batch",
                "awslogs-region": "eu-west-1",
                "awslogs-stream-prefix": "batch"}}
        }]
    })])
}

fn propose(db: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["propose", "--db", db];
    all.extend_from_slice(args);
    run(&all)
}

fn propose_json(db: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let out = propose(db, &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn role_arns(proposal: &Value) -> Vec<&str> {
    proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role_arn"].as_str().unwrap())
        .collect()
}

#[test]
fn propose_finds_a_role_by_name_or_by_arn_without_its_path() {
    let (_dir, db) = fleet_with_quiet_family();
    let whole = propose_json(&db, &[]);
    let billing = role(&whole, BILLING);
    for wanted in [
        BILLING,
        "billing-worker-task",
        "arn:aws:iam::111122223333:role/billing-worker-task",
    ] {
        let p = propose_json(&db, &["--role", wanted]);
        assert_eq!(role_arns(&p), [BILLING], "--role {wanted}");
        // The same section as in the whole proposal.
        assert_eq!(&p["roles"][0], billing, "--role {wanted}");
        let out = propose(&db, &["--role", wanted]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with(&format!("== {BILLING}\n")), "{text}");
        assert!(!text.contains("No role evidence"), "{text}");
    }
}

#[test]
fn a_role_that_matches_nothing_is_an_error_that_says_how_to_list_the_roles() {
    let (_dir, db) = fleet_with_quiet_family();
    for args in [
        vec!["--role", "no-such-role"],
        vec!["--role", "billing-worker-task", "--role", "no-such-role"],
        vec![
            "--role",
            "arn:aws:iam::999999999999:role/billing-worker-task",
        ],
    ] {
        let out = propose(&db, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(args.last().unwrap()), "{err}");
        assert!(!err.contains("role billing-worker-task,"), "{err}");
        assert!(err.contains("policy-miner propose --db"), "{err}");
        assert!(err.contains(BILLING), "{err}");
    }
}

#[test]
fn roles_without_evidence_come_from_the_whole_database() {
    let (_dir, db) = fleet_with_quiet_family();
    let whole = propose_json(&db, &[]);
    // Named as the task definition names it, path included.
    assert_eq!(
        whole["roles_without_evidence"],
        json!([QUIET_EXEC, QUIET_TASK])
    );

    let billing = propose_json(&db, &["--role", "billing-worker-task"]);
    assert_eq!(billing["roles_without_evidence"], json!([]));
    let text = stdout(&propose(&db, &["--role", "billing-worker-task"]));
    assert!(!text.contains("without any observed call"), "{text}");

    let quiet = propose_json(&db, &["--role", "quiet-batch-task"]);
    assert_eq!(quiet["roles"], json!([]));
    assert_eq!(quiet["roles_without_evidence"], json!([QUIET_TASK]));
    let out = propose(&db, &["--role", "quiet-batch-task"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("No role evidence in the database"), "{text}");
    assert!(
        text.contains(&format!(
            "Roles in task definitions without any observed call: {QUIET_TASK}\n"
        )),
        "{text}"
    );
}

#[test]
fn an_execution_role_with_only_derived_grants_can_be_named() {
    let (_dir, db) = fleet_with_quiet_family();
    let whole = propose_json(&db, &[]);
    let derived = role(&whole, QUIET_EXEC);
    assert!(derived["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "derived-only"));

    for wanted in [QUIET_EXEC, "quiet-batch-exec"] {
        let p = propose_json(&db, &["--role", wanted]);
        assert_eq!(&p["roles"], &json!([derived]), "--role {wanted}");
        assert_eq!(p["roles_without_evidence"], json!([QUIET_EXEC]));

        let out = run(&["explain", "--db", &db, "--role", wanted]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with(QUIET_EXEC), "{text}");
        assert!(text.contains("ecr:BatchGetImage on "), "{text}");
        assert!(
            text.contains("derived from task definition quiet-batch container batch"),
            "{text}"
        );

        let out = run(&["verify", "--db", &db, "--role", wanted, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["uncovered_total"], 0);
        assert_eq!(report["roles"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(report["roles"][0]["role_arn"], QUIET_EXEC);
        assert_eq!(report["roles"][0]["calls"], 0);
        let out = run(&["verify", "--db", &db, "--role", wanted]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("ok    {QUIET_EXEC}: no observed call to replay")),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn verify_and_explain_refuse_a_role_that_matches_nothing() {
    let (_dir, db) = fleet_with_quiet_family();
    for command in ["verify", "explain"] {
        let out = run(&[command, "--db", &db, "--role", "no-such-role"]);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("no-such-role"), "{err}");
        assert!(err.contains("policy-miner propose --db"), "{err}");
    }
}
