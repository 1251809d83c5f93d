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
use serde_json::{json, Value};
use sqlx::Row;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// `observe` of `trail` into `db`.
fn observe_trail(db: &Path, trail: &Path) {
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        trail.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `export --out file` of `db`, parsed.
fn export_to(db: &Path, file: &Path) -> Value {
    let out = run(&[
        "export",
        "--db",
        db.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// A sidecar's database in `dir`: `files` trail files of 5 GetParameter calls each of
/// orders-task (one row per parameter), observed.
fn sidecar_db(dir: &Path, files: usize) -> PathBuf {
    let db = dir.join("sidecar.db");
    let trail = dir.join("trail");
    write_trail(&trail, files, 5);
    observe_trail(&db, &trail);
    db
}

/// Issue 13: an export whose rows say `action: "*"` or `iam:*` on `*` became
/// `"Action": ["*", "iam:*"], "Resource": "*"` in the proposal. Every hostile row is now named
/// with its place and reason and skipped; the honest rows of the same file are imported.
#[test]
fn hostile_rows_are_refused_by_name_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let file = dir.path().join("hostile.json");
    let mut export = export_to(&sidecar, &file);
    let honest = export["evidence"][0].clone();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut row = honest.clone();
        edit(&mut row);
        row
    };
    let hostile = [
        (
            edited(&|r| {
                r["action"] = json!("*");
                r["resource"] = json!("*");
            }),
            "not an IAM action",
        ),
        (
            edited(&|r| {
                r["action"] = json!("iam:*");
                r["resource"] = json!("*");
            }),
            "not an IAM action",
        ),
        (
            edited(&|r| r["resource"] = json!("arn:aws:ssm:eu-west-1:111122223333:parameter/*")),
            "wildcard",
        ),
        (edited(&|r| r["count"] = json!(-5)), "count -5"),
        (edited(&|r| r["count"] = json!(0)), "count 0"),
        (edited(&|r| r["count"] = json!(1e30)), "not an evidence row"),
        (
            edited(&|r| r["count"] = json!(u64::MAX)),
            "not an evidence row",
        ),
        (
            edited(&|r| r["first_seen"] = json!("1970-01-01T00:00:00Z")),
            "before 2006",
        ),
        (
            edited(&|r| r["last_seen"] = json!("2099-01-01T00:00:00Z")),
            "in the future",
        ),
        (
            edited(&|r| r["role_arn"] = json!("*")),
            "not an IAM role ARN",
        ),
        (json!("not a row"), "not an evidence row"),
    ];
    let honest_rows = export["evidence"].as_array().unwrap().len();
    let list = export["evidence"].as_array_mut().unwrap();
    list.extend(hostile.iter().map(|(row, _)| row.clone()));
    export["ungranted"] = json!([{
        "role_arn": SIDECAR_ROLE, "event_source": "sts.amazonaws.com",
        "event_name": "GetCallerIdentity", "error_code": "", "kind": "admin", "reason": "r",
        "count": 1, "first_seen": "2026-11-20T00:00:00Z", "last_seen": "2026-11-20T00:00:00Z",
        "example_event_id": "e"
    }]);
    std::fs::write(&file, export.to_string()).unwrap();

    let central = dir.path().join("central.db");
    let (code, said) = import(&central, &[&file]);
    assert_eq!(code, Some(3), "{said}");
    for (i, (_, why)) in hostile.iter().enumerate() {
        let place = format!("{}: evidence[{}]: ", file.display(), honest_rows + i);
        assert!(
            said.lines().any(|l| l.contains(&place) && l.contains(why)),
            "no {place}…{why} in {said}"
        );
    }
    assert!(said.contains("ungranted[0]: kind \"admin\""), "{said}");
    assert!(
        said.contains(&format!("{} row(s) were skipped", hostile.len() + 1)),
        "{said}"
    );
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));
    let p = proposal_json(central.to_str().unwrap());
    for statement in role(&p, SIDECAR_ROLE)["policy"]["Statement"]
        .as_array()
        .unwrap()
    {
        for action in statement["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            assert!(!action.contains(['*', '?']), "{action} granted: {p}");
        }
    }
}

/// Issue 13: a file that claims another database's origin, with a huge export number and no
/// evidence, erased that database's evidence, and its real next export was then refused as
/// "already in". An import now only adds, and the export number decides nothing.
#[test]
fn a_file_claiming_another_databases_origin_neither_erases_nor_blocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let central = dir.path().join("central.db");
    let first = dir.path().join("first.json");
    let e1 = export_to(&sidecar, &first);
    let (code, said) = import(&central, &[&first]);
    assert_eq!(code, Some(0), "{said}");
    let before = rows(&central, SIDECAR_ROLE);
    assert_eq!(before, rows(&sidecar, SIDECAR_ROLE));

    let forged = dir.path().join("forged.json");
    let claim = json!({
        "format": e1["format"], "version": e1["version"], "origin": e1["origin"],
        "sequence": i64::MAX, "exported_at": e1["exported_at"], "evidence": [], "ungranted": []
    });
    std::fs::write(&forged, claim.to_string()).unwrap();
    let (code, said) = import(&central, &[&forged]);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        rows(&central, SIDECAR_ROLE),
        before,
        "evidence was taken out"
    );

    // The sidecar goes on (a second trail file), and its next export goes in.
    let trail = dir.path().join("trail");
    write_trail(&trail, 2, 5);
    observe_trail(&sidecar, &trail);
    let second = dir.path().join("second.json");
    export_to(&sidecar, &second);
    let (code, said) = import(&central, &[&second, &first]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("row(s) new or grown"), "{said}");
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));
    let (evidence, _) = rows(&central, SIDECAR_ROLE);
    assert!(evidence.iter().all(|r| r.3 == 2), "{evidence:?}");
}

/// Issue 13: importing a database's own export doubled every count.
#[test]
fn a_database_never_imports_its_own_export() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let file = dir.path().join("own.json");
    export_to(&sidecar, &file);
    let before = rows(&sidecar, SIDECAR_ROLE);
    let (code, said) = import(&sidecar, &[&file]);
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains("own.json: an export of this very database"),
        "{said}"
    );
    assert_eq!(rows(&sidecar, SIDECAR_ROLE), before);
}

/// Issue 13: a copied database kept its origin, so the copy's exports and the original's
/// claimed to be one stream. A copy now exports under an origin of its own; the original keeps
/// its own, and a central database counts both.
#[test]
fn a_copied_database_exports_under_an_origin_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let original = export_to(&sidecar, &dir.path().join("original.json"));
    let copy = dir.path().join("copy.db");
    std::fs::copy(&sidecar, &copy).unwrap();
    let of_copy = dir.path().join("copy.json");
    let copied = export_to(&copy, &of_copy);
    assert_ne!(copied["origin"], original["origin"]);
    assert_eq!(copied["sequence"], 1);
    let again = dir.path().join("again.json");
    assert_eq!(export_to(&sidecar, &again)["origin"], original["origin"]);
    assert_eq!(export_to(&copy, &of_copy)["origin"], copied["origin"]);

    let central = dir.path().join("central.db");
    let (code, said) = import(&central, &[&again, &of_copy]);
    assert_eq!(code, Some(0), "{said}");
    let (evidence, _) = rows(&central, SIDECAR_ROLE);
    assert_eq!(evidence.len(), 5);
    assert!(evidence.iter().all(|r| r.3 == 2), "{evidence:?}");
}

/// Issue 13: a count near i64::MAX added to a row overflowed into a REAL; it now stops there.
#[test]
fn counts_saturate_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let central = dir.path().join("central.db");
    observe_trail(&central, &dir.path().join("trail"));
    let file = dir.path().join("huge.json");
    let mut export = export_to(&sidecar, &file);
    export["evidence"][0]["count"] = json!(i64::MAX);
    let resource = export["evidence"][0]["resource"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&file, export.to_string()).unwrap();
    let (code, said) = import(&central, &[&file]);
    assert_eq!(code, Some(0), "{said}");
    let stored = db_rows(
        &central,
        &format!("SELECT typeof(count), count FROM evidence WHERE resource = '{resource}'"),
    );
    let kind: String = stored[0].get(0);
    let count: i64 = stored[0].get(1);
    assert_eq!((kind.as_str(), count), ("integer", i64::MAX));
}

/// An export of `rows` GetObject rows, each with a rule text of `padding` bytes.
fn big_export(path: &Path, rows: usize, padding: usize) {
    let rule = "r".repeat(padding);
    let mut text = String::from(
        r#"{"format":"policy-miner-evidence","version":1,"origin":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f","sequence":1,"exported_at":"2026-11-20T00:00:00Z","ungranted":[],"evidence":["#,
    );
    for i in 0..rows {
        if i > 0 {
            text.push(',');
        }
        let row = json!({
            "role_arn": SIDECAR_ROLE, "action": "s3:GetObject",
            "resource": format!("arn:aws:s3:::bucket/key-{i}"), "condition": "",
            "error_code": "", "count": 1, "first_seen": "2026-11-20T00:00:00Z",
            "last_seen": "2026-11-20T00:00:00Z", "example_event_id": format!("e{i}"),
            "event_source": "s3.amazonaws.com", "event_name": "GetObject", "rule": rule
        });
        text.push_str(&row.to_string());
    }
    text.push_str("]}");
    std::fs::write(path, text).unwrap();
}

/// Runs `cmd` to its end: its exit code and its peak resident memory, in KiB.
// wait4 reaps the child in place of `Child::wait`, to read its resource usage.
#[allow(clippy::zombie_processes)]
#[allow(unsafe_code)] // libc's wait4: see the SAFETY below.
fn exit_and_peak_kib(cmd: &mut Command) -> (Option<i32>, i64) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 reaps our own child, not waited for
    // before (std's `Child` is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss)
}

/// Issue 13: a 100 MB export peaked at 474 MB (read whole, parsed whole, kept whole) and was
/// stored again in the database. Now it is read a row at a time and only its counts are kept.
#[test]
fn a_large_export_is_imported_in_constant_memory_and_not_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.json");
    let large = dir.path().join("large.json");
    big_export(&small, 1, 2500);
    big_export(&large, 24_000, 2500);
    let size_kib = (std::fs::metadata(&large).unwrap().len() / 1024) as i64;
    let peak = |file: &Path, db: &str| {
        let db = dir.path().join(db);
        let (code, kib) =
            exit_and_peak_kib(bin().args(["import", "-q", "--db"]).arg(&db).arg(file));
        assert_eq!(code, Some(0), "import of {}", file.display());
        (db, kib)
    };
    let (_, baseline) = peak(&small, "small.db");
    let (db, peak_kib) = peak(&large, "large.db");
    assert!(
        peak_kib - baseline < size_kib / 2,
        "importing {size_kib} KiB took {peak_kib} KiB at its peak, {baseline} KiB for one row"
    );
    let stored = db_rows(&db, "SELECT count(*) FROM evidence");
    let evidence: i64 = stored[0].get(0);
    assert_eq!(evidence, 24_000);
    let kept = db_rows(&db, "SELECT coalesce(sum(length(body)), 0) FROM imports");
    let kept: i64 = kept[0].get(0);
    assert_eq!(kept, 0, "the file was stored again");
}

/// A database imported into by an older release kept each snapshot whole to take it back out;
/// the next import turns it into counts, so the newer export adds only what it grew by.
#[test]
fn snapshots_kept_by_an_older_release_become_counts() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar_db(dir.path(), 1);
    let first = dir.path().join("first.json");
    export_to(&sidecar, &first);
    let central = dir.path().join("central.db");
    let (code, said) = import(&central, &[&first]);
    assert_eq!(code, Some(0), "{said}");
    // What the older release left: the rows added, the snapshot kept, no counts per stream.
    execute(&central, "DELETE FROM imported_counts", &[]);
    let body = std::fs::read_to_string(&first).unwrap();
    execute(&central, "UPDATE imports SET body = ?", &[&body]);

    let trail = dir.path().join("trail");
    write_trail(&trail, 2, 5);
    observe_trail(&sidecar, &trail);
    let second = dir.path().join("second.json");
    export_to(&sidecar, &second);
    let (code, said) = import(&central, &[&second]);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(rows(&central, SIDECAR_ROLE), rows(&sidecar, SIDECAR_ROLE));
    let kept = db_rows(&central, "SELECT length(body) FROM imports");
    let kept: i64 = kept[0].get(0);
    assert_eq!(kept, 0);
}
