//! Policies that survive tomorrow: a fleet whose names follow the clock and ids, observed for
//! three weeks (`bench --drift`, which observes, proposes and verifies with this binary); the
//! proposal must allow every call of the week after, across the first of the month, and deny
//! every near miss.

use crate::common::{run, stderr, stdout};

#[test]
fn a_proposal_from_three_weeks_allows_the_next_week_and_denies_every_near_miss() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "--drift",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["roles"], 11, "{report:#}");
    let calls = report["next_week_calls"].as_i64().unwrap();
    assert!(calls > 100, "{report:#}");
    assert_eq!(report["next_week_allowed"], calls, "{report:#}");
    assert_eq!(
        report["denied_next_week"],
        serde_json::json!([]),
        "{report:#}"
    );
    let near = report["near_misses"].as_i64().unwrap();
    assert_eq!(near, 13, "{report:#}");
    assert_eq!(report["near_misses_denied"], near, "{report:#}");
    assert_eq!(
        report["allowed_near_misses"],
        serde_json::json!([]),
        "{report:#}"
    );

    // The grants are templates, not the names seen: the Hive writer's is the partition layout.
    let policies: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("policies.json")).unwrap())
            .unwrap();
    let hive = policies["arn:aws:iam::111122223333:role/events-writer"].to_string();
    assert!(
        hive.contains(
            "arn:aws:s3:::acme-lake/raw/events/year=????/month=??/day=??/hour=??/*.json.gz"
        ),
        "{hive}"
    );
    let config = policies["arn:aws:iam::111122223333:role/config-reader"].to_string();
    assert!(
        config.contains("arn:aws:s3:::acme-config/config/2019-defaults.json"),
        "a date that does not follow the calls stays: {config}"
    );
}
