//! Evidence carried from a sidecar's database to the central one: `observe … --export FILE` keeps
//! a snapshot after each write, `import` adds it, a newer snapshot of the same database adds what
//! it grew by, and importing the same or an older file again changes nothing.
//!
//! Issue 13: an export is text anyone may have written. Hostile rows are refused one by one, a
//! file never takes evidence out nor blocks later exports, a database never imports itself, a
//! copied database exports under an identity of its own, and a large file is read in constant
//! memory.

use crate::common::live::Running;
use crate::common::*;
use sqlx::Row;
use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

const SIDECAR_ROLE: &str = "arn:aws:iam::111122223333:role/orders-task";

/// (role, action, resource, count) of the evidence, and (action, source, count) of its sources.
type Rows = (
    Vec<(String, String, String, i64)>,
    Vec<(String, String, i64)>,
);

fn rows(db: &Path, role: &str) -> Rows {
    read_db(db, async |c| {
        let ev = sqlx::query(
            "SELECT role_arn, action, resource, count FROM evidence WHERE role_arn = ?
             ORDER BY action, resource",
        )
        .bind(role)
        .fetch_all(&mut *c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
        let src = sqlx::query(
            "SELECT action, source, count FROM evidence_sources WHERE role_arn = ?
             ORDER BY action, source",
        )
        .bind(role)
        .fetch_all(&mut *c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        (ev, src)
    })
}

/// Runs the SDK-monitoring listener with --export, sends `calls` GetParameter datagrams, stops it.
fn sidecar_run(db: &Path, export: &Path, calls: usize) {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let mut cmd = bin();
    cmd.args(["observe", "--db"])
        .arg(db)
        .args([
            "--listen-csm",
            &format!("127.0.0.1:{port}"),
            "--role",
            SIDECAR_ROLE,
        ])
        .arg("--export")
        .arg(export);
    let listener = Running::start(&mut cmd, "listening for SDK monitoring");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let d = br#"{"Version":1,"Type":"ApiCall","Service":"SQS","Api":"ListQueues","Timestamp":1763800000000,"FinalHttpStatusCode":200}"#;
    for _ in 0..calls {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(listener.terminate().0.success());
}

fn import(db: &Path, files: &[&Path]) -> (Option<i32>, String) {
    let mut cmd = bin();
    cmd.args(["import", "--db"]).arg(db).args(files);
    let out = cmd.output().unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn sidecar_evidence_reaches_the_central_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("sidecar.db");
    let central = dir.path().join("central.db");
    let export = dir.path().join("orders.evidence.json");
    // The sidecar's database has CloudTrail evidence too, to carry rows without a live source.
    let trail = dir.path().join("trail");
    write_trail(&trail, 1, 5);
    let out = run(&[
        "observe",
        "--db",
        sidecar.to_str().unwrap(),
        trail.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    sidecar_run(&sidecar, &export, 2);
    let first = dir.path().join("first-export.json");
    std::fs::copy(&export, &first).unwrap();

    let other = dir.path().join("other");
    write_role_trail(&other, "billing-task", 1, 3);
    let out = run(&[
        "observe",
        "--db",
        central.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, said) = import(&central, &[&export]);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));
    let (ev, src) = rows(&central, SIDECAR_ROLE);
    assert!(
        ev.iter().any(|r| r.1 == "sqs:ListQueues" && r.3 == 2),
        "{ev:?}"
    );
    assert_eq!(src, [("sqs:ListQueues".to_string(), "csm".to_string(), 2)]);

    // Again: nothing changes.
    let (code, said) = import(&central, &[&export]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("already in"), "{said}");
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));

    // The sidecar goes on; its newer snapshot replaces the older, an older copy changes nothing,
    // and a file that is not an export is named and skipped.
    sidecar_run(&sidecar, &export, 3);
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"Records\": []}").unwrap();
    let (code, said) = import(&central, &[&junk, &export, &first]);
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("junk.json: not evidence exported"), "{said}");
    assert!(said.contains("row(s) new or grown"), "{said}");
    assert!(said.contains("of it was imported before"), "{said}");
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));
    assert_eq!(rows(&central, SIDECAR_ROLE).1[0].2, 5);
    // The central database's own evidence is untouched, and propose sees both roles.
    assert_eq!(
        rows(&central, "arn:aws:iam::111122223333:role/billing-task")
            .0
            .len(),
        3
    );
    let p = proposal_json(central.to_str().unwrap());
    assert_eq!(p["roles"].as_array().unwrap().len(), 2);

    // `export` itself, to standard output, reads back as the same evidence.
    let out = run(&["export", "--db", sidecar.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snapshot: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(snapshot["format"], "policy-miner-evidence");
    // Each run exported at least once (a flush on a tick exports too).
    assert!(snapshot["sequence"].as_i64().unwrap() >= 3, "{snapshot}");
}
