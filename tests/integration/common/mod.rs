//! Shared helpers for the integration tests: run the real binary on real files.

#![allow(dead_code)]

pub mod live;
pub mod moto;

use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_policy-miner"));
    cmd.env_remove("POLICY_MINER_DB");
    // The user's cached catalog (`catalog update`) must not change what tests see.
    cmd.env(
        "XDG_CACHE_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-user-cache"),
    );
    cmd
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Copies a trail directory, gzipping every `.json` under `AWSLogs/` as CloudTrail delivers it.
pub fn copy_trail_gzipped(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let in_delivery_layout = rel.components().any(|c| c.as_os_str() == "AWSLogs");
        let data = std::fs::read(&entry).unwrap();
        let (target, data) = if in_delivery_layout && rel.extension().is_some_and(|e| e == "json") {
            (to.join(format!("{}.gz", rel.display())), gzip(&data))
        } else {
            (to.join(rel), data)
        };
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, data).unwrap();
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One CloudTrail event: role `role` of account 111122223333 reading SSM parameter `param`.
pub fn role_event(id: &str, time: &str, role: &str, param: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time,
        "eventSource": "ssm.amazonaws.com", "eventName": "GetParameter",
        "awsRegion": "eu-west-1", "sourceIPAddress": "10.0.0.1",
        "recipientAccountId": "111122223333",
        "userIdentity": {
            "type": "AssumedRole", "principalId": "AROAEXAMPLE:task-1",
            "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/task-1"),
            "sessionContext": {"sessionIssuer": {
                "type": "Role", "arn": format!("arn:aws:iam::111122223333:role/{role}"),
                "accountId": "111122223333"}}
        },
        "requestParameters": {"name": param}
    })
}

/// Writes `files` gzipped delivery files of `events` role events each under
/// `dir/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/`, all distinct; returns their paths.
pub fn write_trail(dir: &Path, files: usize, events: usize) -> Vec<PathBuf> {
    write_role_trail(dir, "orders-task", files, events)
}

/// [`write_trail`] for the role named `role` (other roles make files of other content).
pub fn write_role_trail(dir: &Path, role: &str, files: usize, events: usize) -> Vec<PathBuf> {
    let day = dir.join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    (0..files)
        .map(|f| {
            let records: Vec<_> = (0..events)
                .map(|e| {
                    role_event(
                        &format!("ev-{role}-{f}-{e}"),
                        &format!("2026-11-20T{:02}:{:02}:00Z", f % 24, e % 60),
                        role,
                        &format!("/orders/p{}", e % 5),
                    )
                })
                .collect();
            let body = serde_json::json!({ "Records": records }).to_string();
            let path = day.join(format!(
                "111122223333_CloudTrail_eu-west-1_20261120T{:04}Z_f{f}.json.gz",
                f % 2400
            ));
            std::fs::write(&path, gzip(body.as_bytes())).unwrap();
            path
        })
        .collect()
}

/// A database observed from the fleet fixture (gzipped delivery files plus the other shapes, the
/// trail under `<dir>/trail`), in its own temporary directory.
pub fn fleet_db() -> (tempfile::TempDir, String) {
    fleet_db_with(&[])
}

/// [`fleet_db`] with more task definitions (register-task-definition input) besides the fixture's.
pub fn fleet_db_with(taskdefs: &[serde_json::Value]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    copy_trail_gzipped(&fixture("fleet/trail"), &trail);
    let db = dir.path().join("fleet.db").display().to_string();
    let extra = dir.path().join("taskdefs");
    std::fs::create_dir_all(&extra).unwrap();
    for def in taskdefs {
        let file = extra.join(format!("{}.json", def["family"].as_str().unwrap()));
        std::fs::write(file, def.to_string()).unwrap();
    }
    let out = run(&[
        "observe",
        "--db",
        &db,
        "--task-definitions",
        fixture("fleet/taskdefs").to_str().unwrap(),
        "--task-definitions",
        extra.to_str().unwrap(),
        trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "observe: {}", stderr(&out));
    (dir, db)
}

/// `propose --format json` of a database, parsed.
pub fn proposal_json(db: &str) -> serde_json::Value {
    let out = run(&["propose", "--db", db, "--format", "json"]);
    assert!(out.status.success(), "propose: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("propose prints JSON")
}

/// The entry of role `arn` in the `roles` list of a JSON report (`propose`, `verify`, `tighten`).
pub fn role<'a>(report: &'a serde_json::Value, arn: &str) -> &'a serde_json::Value {
    report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role_arn"] == arn)
        .unwrap_or_else(|| panic!("{arn} not in {report}"))
}

/// Runs `f` on a read-only connection to the database (as a user's other tools would read it
/// while policy-miner is not running).
pub fn read_db<T>(db: &Path, f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T) -> T {
    on_db(db, true, f)
}

/// Runs `sql` with `binds` on the database at `db`, as another program would.
pub fn execute(db: &Path, sql: &str, binds: &[&str]) {
    on_db(db, false, async |conn| {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        query.execute(conn).await.unwrap();
    })
}

fn on_db<T>(
    db: &Path,
    read_only: bool,
    f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T,
) -> T {
    use sqlx::ConnectOptions;
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db)
                .read_only(read_only)
                .connect()
                .await
                .unwrap();
            f(&mut conn).await
        })
}

/// Every row `sql` returns from the database at `db`.
pub fn db_rows(db: &Path, sql: &str) -> Vec<sqlx::sqlite::SqliteRow> {
    read_db(db, async |c| sqlx::query(sql).fetch_all(c).await.unwrap())
}

/// A JSON object of condition keys (each a string or a list of strings) as the evaluator's
/// request context.
pub fn context_from_json(v: &serde_json::Value) -> policy_miner::policy::eval::Context {
    let Some(map) = v.as_object() else {
        return Default::default();
    };
    map.iter()
        .map(|(k, v)| {
            let values = match v {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
                other => vec![other.as_str().unwrap().to_string()],
            };
            (k.clone(), values)
        })
        .collect()
}

/// `bench`'s generated fleet of `events` events (400 a file) from `seed`, observed into
/// `dir/<name>.db` with its task definitions; returns the database's path.
pub fn observed_fleet_trail(dir: &Path, name: &str, events: u64, seed: u64) -> String {
    use policy_miner::bench::generate::{generate, TrailSpec};
    let trail = generate(
        dir,
        &TrailSpec {
            events,
            events_per_file: 400,
            seed,
        },
    )
    .unwrap();
    let db = dir.join(format!("{name}.db")).display().to_string();
    let out = run(&[
        "observe",
        "--quiet",
        "--db",
        &db,
        "--task-definitions",
        trail.task_definitions.to_str().unwrap(),
        trail.trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    db
}

/// Every evidence row, whole (counts, times, example event, rule), and every call kept without a
/// grant, one line each, sorted: two databases observed from the same trail hold the same lines.
pub async fn evidence_lines(db: &Path) -> Vec<String> {
    let store = policy_miner::store::Store::open(db, false).await.unwrap();
    let rows = store.evidence().await.unwrap();
    let ungranted = store.ungranted().await.unwrap();
    store.close().await;
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                r.role_arn,
                r.action,
                r.resource,
                r.condition,
                r.error_code,
                r.count,
                r.first_seen,
                r.last_seen,
                r.example_event_id,
                r.event_source,
                r.event_name,
                r.rule
            )
        })
        .collect();
    out.extend(ungranted.iter().map(|r| {
        format!(
            "ungranted|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            r.role_arn,
            r.event_source,
            r.event_name,
            r.error_code,
            r.count,
            r.first_seen,
            r.last_seen,
            r.example_event_id,
            r.kind,
            r.reason
        )
    }));
    out.sort();
    out
}
