//! Issue 2's acceptance: observe a whole ECS fleet trail (gzipped delivery files plus the other
//! shapes), propose, and check the proposals with the IAM evaluator against hand-written probes:
//! every successful call allowed, every near miss and every failed call denied.

use crate::common::*;
use policy_miner::attribution::RoleKey;
use policy_miner::catalog;
use policy_miner::policy::eval::{evaluate, Decision, Request};
use policy_miner::policy::PolicyDocument;
use serde_json::Value;
use std::collections::BTreeMap;

struct Fleet {
    _dir: tempfile::TempDir,
    db: String,
    proposal: Value,
    trail: std::path::PathBuf,
    taskdefs: std::path::PathBuf,
}

fn observe_and_propose() -> Fleet {
    let (dir, db) = fleet_db();
    let trail = dir.path().join("trail");
    Fleet {
        proposal: proposal_json(&db),
        db,
        trail,
        taskdefs: fixture("fleet/taskdefs"),
        _dir: dir,
    }
}

fn role<'a>(proposal: &'a Value, arn: &str) -> Option<&'a Value> {
    let want = RoleKey::parse(arn).unwrap();
    proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| RoleKey::parse(r["role_arn"].as_str().unwrap()).as_ref() == Some(&want))
}

fn decide(proposal: &Value, probe: &Value) -> Decision {
    let Some(role) = role(proposal, probe["role"].as_str().unwrap()) else {
        return Decision::ImplicitDeny;
    };
    let policy: PolicyDocument = serde_json::from_value(role["policy"].clone()).unwrap();
    let context = context_from_json(&probe["context"]);
    evaluate(
        &[policy],
        &Request {
            action: probe["action"].as_str().unwrap(),
            resource: probe["resource"].as_str().unwrap(),
            context: &context,
        },
    )
}

fn probes() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("fleet/probes.json")).unwrap()).unwrap()
}

#[test]
fn every_observed_call_is_allowed_and_every_near_miss_denied() {
    let fleet = observe_and_propose();
    let probes = probes();
    let mut failures = Vec::new();
    for p in probes["allow"].as_array().unwrap() {
        if decide(&fleet.proposal, p) != Decision::Allow {
            failures.push(format!("NOT ALLOWED: {p}"));
        }
    }
    for p in probes["deny"].as_array().unwrap() {
        if decide(&fleet.proposal, p) == Decision::Allow {
            failures.push(format!("NOT DENIED: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} probe(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn roles_families_and_kinds_are_attributed() {
    let fleet = observe_and_propose();
    let p = &fleet.proposal;
    let exec = role(p, "arn:aws:iam::111122223333:role/ecsTaskExecutionRole").unwrap();
    assert_eq!(exec["usage"], serde_json::json!(["execution"]));
    assert_eq!(
        exec["families"],
        serde_json::json!(["billing-worker", "orders-api", "report-cron"])
    );
    let legacy = role(p, "arn:aws:iam::111122223333:role/legacy-sync").unwrap();
    assert_eq!(legacy["usage"], serde_json::json!(["task", "execution"]));
    assert!(
        legacy["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "task-and-execution-role"),
        "{legacy}"
    );
    // A role with a path keeps it, and is matched to its task definition.
    let billing = role(
        p,
        "arn:aws:iam::111122223333:role/service-role/billing-worker-task",
    )
    .unwrap();
    assert_eq!(
        billing["role_arn"],
        "arn:aws:iam::111122223333:role/service-role/billing-worker-task"
    );
    assert_eq!(billing["usage"], serde_json::json!(["task"]));
    // In no task definition: kept, marked unattributed.
    let ci = role(p, "arn:aws:iam::111122223333:role/ci-deployer").unwrap();
    assert_eq!(ci["usage"], serde_json::json!([]));
    assert!(ci["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "unattributed-role"));
    // The service-linked role is AWS's, never mined.
    assert!(role(
        p,
        "arn:aws:iam::111122223333:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    )
    .is_none());
    // On the shared execution role, each family's repository is attributed to that family alone.
    let grants = exec["grants"].as_array().unwrap();
    let repo = grants
        .iter()
        .find(|g| {
            g["action"] == "ecr:BatchGetImage"
                && g["resource"]
                    .as_str()
                    .unwrap()
                    .ends_with("repository/report-cron")
        })
        .expect("report-cron's image pull is granted");
    assert_eq!(repo["families"], serde_json::json!(["report-cron"]));
}

#[test]
fn failed_calls_are_listed_not_granted() {
    let fleet = observe_and_propose();
    let orders = role(
        &fleet.proposal,
        "arn:aws:iam::111122223333:role/orders-api-task",
    )
    .unwrap();
    let denied: Vec<(String, String)> = orders["denied_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().to_string(),
                d["error_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        denied.contains(&("s3:DeleteObject".into(), "AccessDenied".into())),
        "{denied:?}"
    );
    assert!(
        denied.contains(&("sqs:PurgeQueue".into(), "AccessDenied".into())),
        "{denied:?}"
    );
    let actions: Vec<&str> = orders["policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
        })
        .collect();
    assert!(!actions.contains(&"s3:DeleteObject") && !actions.contains(&"sqs:PurgeQueue"));
    // The unmapped event is listed with its count and reason, not guessed.
    let ungranted = orders["ungranted_calls"].as_array().unwrap();
    assert!(
        ungranted
            .iter()
            .any(|u| u["event_name"] == "GetObjectAttributesV2" && u["kind"] == "unmapped"),
        "{ungranted:?}"
    );
    assert!(ungranted
        .iter()
        .any(|u| u["event_name"] == "GetCallerIdentity" && u["kind"] == "no_permission"));
}

#[test]
fn every_emitted_action_and_arn_is_valid_in_the_catalog() {
    let fleet = observe_and_propose();
    let cat = catalog::embedded();
    let mut problems = Vec::new();
    for r in fleet.proposal["roles"].as_array().unwrap() {
        for st in r["policy"]["Statement"].as_array().unwrap() {
            for a in st["Action"].as_array().unwrap() {
                let a = a.as_str().unwrap();
                let Some(action) = cat.action(a) else {
                    problems.push(format!("{a} is not in the catalog"));
                    continue;
                };
                for res in st["Resource"].as_array().unwrap() {
                    let res = res.as_str().unwrap();
                    let ok = if res == "*" {
                        true
                    } else {
                        action.accepts_arn(res).is_some()
                    };
                    if !ok {
                        problems.push(format!("{a} does not accept {res}"));
                    }
                    if res == "*" && action.takes_resources() {
                        let flagged = r["findings"].as_array().unwrap().iter().any(|f| {
                            f["kind"] == "unscoped-grant"
                                && f["message"].as_str().unwrap().contains(a)
                        });
                        if !flagged {
                            problems.push(format!("{a} on * without a finding saying why"));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn observing_the_same_files_again_counts_nothing_twice() {
    let fleet = observe_and_propose();
    let out = run(&[
        "observe",
        "--db",
        &fleet.db,
        "--task-definitions",
        fleet.taskdefs.to_str().unwrap(),
        fleet.trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 read"), "{}", stderr(&out));
    let again: Value = serde_json::from_str(&stdout(&run(&[
        "propose", "--db", &fleet.db, "--format", "json",
    ])))
    .unwrap();
    let counts = |v: &Value| -> BTreeMap<String, i64> {
        v["roles"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["grants"].as_array().unwrap().iter().map(move |g| {
                    (
                        format!("{} {} {}", r["role_arn"], g["action"], g["resource"]),
                        g["count"].as_i64().unwrap(),
                    )
                })
            })
            .collect()
    };
    assert_eq!(counts(&fleet.proposal), counts(&again));
    let files = walk(&fleet.trail).len();
    assert!(
        stderr(&out).contains(&format!("{files} already observed"))
            && stderr(&out).contains("roles:"),
        "summary names the files already observed: {}",
        stderr(&out)
    );
}

/// The fleet's noise, by who made it: the KMS key rotation AWS makes itself (`AwsServiceEvent`,
/// a userIdentity with only `accountId` and `invokedBy`) is an AWS service's, not an unknown's.
#[test]
fn calls_aws_makes_itself_are_counted_as_aws_services() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        fixture("fleet/trail").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // 21 AWSService AssumeRole calls by ECS, and the rotation.
    assert!(
        err.contains("  not role evidence, AWS service: 22\n"),
        "{err}"
    );
    assert!(!err.contains("unknown identity type"), "{err}");
}

#[test]
fn policy_files_parse_back_as_the_proposed_documents() {
    let fleet = observe_and_propose();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "propose",
        "--db",
        &fleet.db,
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for r in fleet.proposal["roles"].as_array().unwrap() {
        let name = RoleKey::parse(r["role_arn"].as_str().unwrap())
            .unwrap()
            .name;
        let text = std::fs::read_to_string(out_dir.path().join(format!("{name}.json"))).unwrap();
        let doc: PolicyDocument = serde_json::from_str(&text).unwrap();
        let want: PolicyDocument = serde_json::from_value(r["policy"].clone()).unwrap();
        assert_eq!(doc, want);
    }
}

#[test]
fn the_same_evidence_gives_byte_identical_output() {
    let a = observe_and_propose();
    let b = observe_and_propose();
    assert_eq!(a.proposal, b.proposal);
}
