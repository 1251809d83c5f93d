//! `policy-miner explain`: the real binary on the fleet fixture, checked against what `propose
//! --format json` reports for the same database.

use crate::common::*;
use serde_json::Value;

struct Observed {
    _dir: tempfile::TempDir,
    db: String,
    proposal: Value,
}

fn observe() -> Observed {
    let (dir, db) = fleet_db();
    let proposal = proposal_json(&db);
    Observed {
        _dir: dir,
        db,
        proposal,
    }
}

fn role<'a>(proposal: &'a Value, name: &str) -> &'a Value {
    proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["role_arn"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{name}"))
        })
        .unwrap_or_else(|| panic!("no role {name} in the proposal"))
}

fn explain(db: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["explain", "--db", db];
    all.extend_from_slice(args);
    run(&all)
}

/// The block `explain` prints for one grant: its header line up to the next blank line.
fn block<'a>(text: &'a str, grant: &Value) -> &'a str {
    let header = format!(
        "\n{} on {}\n",
        grant["action"].as_str().unwrap(),
        grant["resource"].as_str().unwrap()
    );
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("no block for {header:?} in\n{text}"));
    let rest = &text[start + 1..];
    &rest[..rest.find("\n\n").map_or(rest.len(), |e| e + 1)]
}

#[test]
fn every_grant_of_a_role_is_explained_with_its_evidence_and_rule() {
    let o = observe();
    let r = role(&o.proposal, "orders-api-task");
    let arn = r["role_arn"].as_str().unwrap();
    let out = explain(&o.db, &["--role", arn]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(arn), "{text}");
    let grants = r["grants"].as_array().unwrap();
    assert!(grants.len() > 5);
    for g in grants {
        let b = block(&text, g);
        let count = g["count"].as_i64().unwrap();
        if count > 0 {
            assert!(b.contains(&format!("{count} call")), "{b}");
            for key in ["first_seen", "last_seen", "example_event_id"] {
                assert!(b.contains(g[key].as_str().unwrap()), "{key} missing in {b}");
            }
        }
        assert!(
            b.contains(&format!("rule:       {}", g["rule"].as_str().unwrap())),
            "{b}"
        );
        for from in g["generalized_from"].as_array().into_iter().flatten() {
            assert!(b.contains(from.as_str().unwrap()), "{b}");
        }
    }
}

#[test]
fn an_action_selects_only_its_grants_case_insensitively() {
    let o = observe();
    let r = role(&o.proposal, "orders-api-task");
    let out = explain(
        &o.db,
        &["--role", r["role_arn"].as_str().unwrap(), "S3:getOBJECT"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let wanted: Vec<&Value> = r["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["action"] == "s3:GetObject")
        .collect();
    assert!(!wanted.is_empty());
    for g in &wanted {
        block(&text, g);
    }
    // Only s3:GetObject headers: every line naming a grant starts with it.
    let headers: Vec<&str> = text.lines().filter(|l| l.contains(" on arn:")).collect();
    assert_eq!(headers.len(), wanted.len(), "{text}");
    assert!(headers.iter().all(|h| h.starts_with("s3:GetObject on ")));
}

#[test]
fn a_role_name_alone_finds_a_role_with_a_path() {
    let o = observe();
    let r = role(&o.proposal, "billing-worker-task");
    assert!(r["role_arn"]
        .as_str()
        .unwrap()
        .contains("role/service-role/"));
    let out = explain(&o.db, &["--role", "billing-worker-task"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(r["role_arn"].as_str().unwrap()));
}

#[test]
fn calls_that_were_not_granted_are_listed() {
    let o = observe();
    let with_ungranted = o.proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| !r["ungranted_calls"].as_array().unwrap().is_empty())
        .expect("the fixture has a role with ungranted calls");
    let out = explain(
        &o.db,
        &["--role", with_ungranted["role_arn"].as_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let section = &text[text.find("\nNot granted:\n").expect("section")..];
    for u in with_ungranted["ungranted_calls"].as_array().unwrap() {
        assert!(
            section.contains(&format!(
                "{} {}",
                u["event_source"].as_str().unwrap(),
                u["event_name"].as_str().unwrap()
            )),
            "{section}"
        );
    }
}

#[test]
fn unknown_role_or_action_is_a_clear_error() {
    let o = observe();
    let out = explain(&o.db, &["--role", "arn:aws:iam::111122223333:role/nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no evidence for role arn:aws:iam::111122223333:role/nosuch"),
        "{err}"
    );
    for r in o.proposal["roles"].as_array().unwrap() {
        assert!(err.contains(r["role_arn"].as_str().unwrap()), "{err}");
    }

    let r = role(&o.proposal, "orders-api-task");
    let out = explain(
        &o.db,
        &["--role", r["role_arn"].as_str().unwrap(), "s3:DeleteBucket"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("has no grant of s3:DeleteBucket"), "{err}");
    assert!(err.contains("s3:GetObject"), "{err}");

    // An empty database says what to do.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db").display().to_string();
    let out = run(&["observe", "--db", &empty, dir.path().to_str().unwrap()]);
    assert!(out.status.code().is_some());
    let out = explain(&empty, &["--role", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("policy-miner observe"),
        "{}",
        stderr(&out)
    );
}

/// An action the role called but never successfully: the answer to "why is it not granted?"
/// names the failed calls.
#[test]
fn an_action_whose_calls_all_failed_is_explained_by_them() {
    let o = observe();
    let (r, denied) = o.proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| {
            r["denied_calls"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["granted_by_successful_calls"] == false)
                .map(|d| (r, d))
        })
        .expect("the fixture has a denied call that is not granted anyway");
    let action = denied["action"].as_str().unwrap();
    let out = explain(&o.db, &["--role", r["role_arn"].as_str().unwrap(), action]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for want in [
        format!("has no grant of {action}: "),
        format!("failed with {}", denied["error_code"].as_str().unwrap()),
        denied["example_event_id"].as_str().unwrap().to_string(),
        "failed calls are never granted".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} not in {err}");
    }
}
