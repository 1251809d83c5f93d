//! Bad input, through the real binary on real files: each damaged file lies beside one good
//! gzipped CloudTrail file, and must be named on stderr with its reason, counted in the summary,
//! and cost nothing else: exit status 3, and the good file's evidence recorded all the same.

use crate::common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

const GOOD_PARAM: &str = "/orders/p0";
const ROLE: &str = "arn:aws:iam::111122223333:role/orders-task";

/// A trail directory holding one good delivery file; returns (dir, the day directory).
fn trail_with_good_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let good = write_trail(&dir.path().join("trail"), 1, 3);
    let day = good[0].parent().unwrap().to_path_buf();
    (dir, day)
}

fn observe(dir: &Path, inputs: &[&Path]) -> Output {
    let db = dir.join("evidence.db");
    let mut args = vec!["observe", "--db", db.to_str().unwrap()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    run(&args)
}

/// Resources granted to the test role for `ssm:GetParameter`, from `propose --format json`.
fn granted_parameters(dir: &Path) -> Vec<String> {
    let db = dir.join("evidence.db");
    // Without generalization, so that each parameter read shows as itself.
    let out = run(&[
        "propose",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "--wildcard-threshold",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "propose: {}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let role = json["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role_arn"] == ROLE)
        .unwrap_or_else(|| panic!("no evidence for {ROLE}: {json}"));
    let mut out = Vec::new();
    for st in role["policy"]["Statement"].as_array().unwrap() {
        let actions = match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        if !actions.iter().any(|a| a == "ssm:GetParameter") {
            continue;
        }
        match &st["Resource"] {
            Value::String(r) => out.push(r.clone()),
            Value::Array(rs) => out.extend(rs.iter().filter_map(|r| r.as_str().map(String::from))),
            _ => {}
        }
    }
    out
}

fn parameter_arn(name: &str) -> String {
    format!("arn:aws:ssm:eu-west-1:111122223333:parameter{name}")
}

/// Observes the trail (good file + `bad`) and checks the whole contract for one skipped file.
fn assert_skipped(dir: &Path, day: &Path, bad: &Path, reason: &str) -> String {
    let out = observe(dir, &[day.parent().unwrap()]);
    assert_skipped_in(out, dir, bad, reason)
}

fn assert_skipped_in(out: Output, dir: &Path, bad: &Path, reason: &str) -> String {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let warning = format!("warning: skipped {}: {reason} (", bad.display());
    assert!(err.contains(&warning), "no {warning:?} in:\n{err}");
    assert!(
        err.contains(&format!("  skipped, {reason}: 1\n")),
        "summary does not count it:\n{err}"
    );
    assert!(
        err.contains(" 1 read,"),
        "the good file was not read:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        granted_parameters(dir).contains(&parameter_arn(GOOD_PARAM)),
        "the good file's evidence is missing"
    );
    err
}

#[test]
fn truncated_gzip() {
    let (dir, day) = trail_with_good_file();
    let whole = gzip(
        &serde_json::to_vec(&serde_json::json!({"Records": [
            role_event("t1", "2026-11-20T10:00:00Z", "orders-task", "/orders/cut")
        ]}))
        .unwrap(),
    );
    let bad = day.join("cut_short.json.gz");
    std::fs::write(&bad, &whole[..whole.len() / 2]).unwrap();
    assert_skipped(dir.path(), &day, &bad, "corrupt or truncated gzip");
    assert!(!granted_parameters(dir.path()).contains(&parameter_arn("/orders/cut")));
}

#[test]
fn invalid_json() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("invalid.json");
    std::fs::write(
        &bad,
        b"{\"Records\":[{\"eventSource\":\"ssm.amazonaws.com\",",
    )
    .unwrap();
    assert_skipped(dir.path(), &day, &bad, "invalid JSON");
}

#[test]
fn json_that_is_not_cloudtrail() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("package.json");
    std::fs::write(
        &bad,
        br#"{"name":"left-pad","version":"1.3.0","dependencies":{}}"#,
    )
    .unwrap();
    assert_skipped(dir.path(), &day, &bad, "not CloudTrail");
}

#[test]
fn empty_file() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("empty.json.gz");
    std::fs::write(&bad, b"").unwrap();
    assert_skipped(dir.path(), &day, &bad, "empty");
}

#[test]
fn binary_garbage() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("garbage.json");
    let mut x: u32 = 0x2545_f491;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect();
    std::fs::write(&bad, noise).unwrap();
    assert_skipped(dir.path(), &day, &bad, "invalid JSON");
}

#[test]
fn a_bad_event_costs_only_itself() {
    let (dir, day) = trail_with_good_file();
    let mut wrong = role_event("w1", "2026-11-20T10:00:00Z", "orders-task", "/orders/wrong");
    wrong["eventName"] = serde_json::json!(["GetParameter"]);
    wrong["userIdentity"] = serde_json::json!("AssumedRole");
    let file = day.join("mixed.json");
    let doc = serde_json::json!({"Records": [
        role_event("m1", "2026-11-20T10:00:00Z", "orders-task", "/orders/kept-1"),
        wrong,
        role_event("m2", "2026-11-20T10:01:00Z", "orders-task", "/orders/kept-2"),
    ]});
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = observe(dir.path(), &[&dir.path().join("trail")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("{}: 1 damaged event(s) skipped", file.display())),
        "{err}"
    );
    assert!(
        err.contains("2 read,") && err.contains(", 1 damaged"),
        "{err}"
    );
    let granted = granted_parameters(dir.path());
    for kept in [GOOD_PARAM, "/orders/kept-1", "/orders/kept-2"] {
        assert!(
            granted.contains(&parameter_arn(kept)),
            "{kept} lost: {granted:?}"
        );
    }
    assert!(!granted.contains(&parameter_arn("/orders/wrong")));
}

/// A 200 MB single line: an event whose parameter is a 200 MB string, cut short (a file truncated
/// while copying). A line of 200 MB of whole events is read the same way but takes ~20 s to decode
/// in a debug build, too long for a test; this one takes a few seconds.
#[test]
fn a_single_line_of_hundreds_of_megabytes() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("huge_line.json");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&bad).unwrap());
    w.write_all(
        br#"{"Records":[{"eventSource":"ssm.amazonaws.com","eventName":"GetParameter","requestParameters":{"name":""#,
    )
    .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..200 {
        w.write_all(&chunk).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let clock = std::time::Instant::now();
    assert_skipped(dir.path(), &day, &bad, "invalid JSON");
    eprintln!(
        "200 MB line: observed and proposed in {:?}",
        clock.elapsed()
    );
}

#[test]
fn unreadable_file() {
    let (dir, day) = trail_with_good_file();
    let bad = day.join("locked.json");
    std::fs::write(&bad, b"{}").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&bad).is_err() {
        assert_skipped(dir.path(), &day, &bad, "unreadable");
        return;
    }
    // Root (as in many CI containers) reads a file whatever its mode: run the binary as
    // `nobody` instead, when setpriv is there to drop the privileges.
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        eprintln!("skipped: running as root, which reads mode-000 files, and no setpriv");
        return;
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = dir.path().join("evidence.db");
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_policy-miner"))
        .args(["observe", "--db", db.to_str().unwrap()])
        .arg(day.parent().unwrap())
        .env_remove("POLICY_MINER_DB")
        .output()
        .unwrap();
    assert_skipped_in(out, dir.path(), &bad, "unreadable");
}

#[test]
fn symlink_loops() {
    let (dir, day) = trail_with_good_file();
    // A directory link back to an ancestor, and a file link to itself.
    let up = day.join("back-up");
    std::os::unix::fs::symlink(day.parent().unwrap(), &up).unwrap();
    let selfish = day.join("self.json");
    std::os::unix::fs::symlink(&selfish, &selfish).unwrap();
    let out = observe(dir.path(), &[&dir.path().join("trail")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for link in [&up, &selfish] {
        assert!(
            err.contains(&format!(
                "warning: skipped {}: unreadable (",
                link.display()
            )),
            "{} not named:\n{err}",
            link.display()
        );
    }
    assert!(err.contains("symlink loop"), "{err}");
    assert!(err.contains("  skipped, unreadable: 2\n"), "{err}");
    assert!(granted_parameters(dir.path()).contains(&parameter_arn(GOOD_PARAM)));
}

#[test]
fn a_missing_path_argument() {
    let (dir, day) = trail_with_good_file();
    let missing = dir.path().join("no-such-dir");
    let out = observe(dir.path(), &[day.parent().unwrap(), &missing]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "warning: skipped {}: unreadable (",
            missing.display()
        )),
        "{err}"
    );
    assert!(err.contains("  skipped, unreadable: 1\n"), "{err}");
    assert!(granted_parameters(dir.path()).contains(&parameter_arn(GOOD_PARAM)));
}

#[test]
fn a_directory_walk_ignores_other_names_and_a_clean_run_exits_0() {
    let (dir, day) = trail_with_good_file();
    // CloudTrail digest-like and stray files: not trace files by name, not read, not warned about.
    std::fs::write(day.join("README.txt"), b"\x00\x01 not json").unwrap();
    std::fs::write(day.join("copy.json.gz.part"), b"\x1f\x8b half").unwrap();
    let out = observe(dir.path(), &[&dir.path().join("trail")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("(2 other files ignored by name)"), "{err}");
    // Named explicitly, a file is read whatever its name: here it is garbage, so skipped.
    let stray = day.join("README.txt");
    let out = observe(dir.path(), &[&stray]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("skipped {}: invalid JSON", stray.display())));
}

#[test]
fn task_definitions_alone_are_loaded_for_the_live_sources() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let taskdefs = fixture("fleet/taskdefs");
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        "--task-definitions",
        taskdefs.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("task definitions loaded: 4"), "{err}");
    let families = db_rows(&db, "SELECT DISTINCT family FROM task_definitions");
    assert_eq!(families.len(), 4);
}

#[test]
fn usage_errors_exit_2_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let out = run(&["observe", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("<PATH>"), "{}", stderr(&out));
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        "--lock-timeout",
        "soon",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!db.exists());
}

/// A session whose issuer ARN is empty or no role ARN is counted, never made a role of that name.
#[test]
fn an_issuer_that_is_not_a_role_is_counted_not_kept() {
    let (dir, day) = trail_with_good_file();
    let bogus: Vec<_> = ["", "not-an-arn"]
        .iter()
        .enumerate()
        .map(|(n, issuer)| {
            let mut e = role_event(
                &format!("b{n}"),
                "2026-11-20T10:00:00Z",
                "orders-task",
                "/orders/bogus",
            );
            e["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (*issuer).into();
            e
        })
        .collect();
    let file = day.join("bogus-issuers.json");
    std::fs::write(&file, serde_json::json!({ "Records": bogus }).to_string()).unwrap();
    let out = observe(dir.path(), &[&dir.path().join("trail")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("  not role evidence, assumed role whose issuer is not a role ARN: 2\n"),
        "{err}"
    );
    let proposal = proposal_json(dir.path().join("evidence.db").to_str().unwrap());
    let roles: Vec<_> = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["role_arn"])
        .collect();
    assert_eq!(roles, [ROLE]);
    assert!(!granted_parameters(dir.path()).contains(&parameter_arn("/orders/bogus")));
}
