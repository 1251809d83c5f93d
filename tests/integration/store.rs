//! The evidence database on real SQLite files, through the real binary: files that are not ours,
//! from a newer release, damaged or missing are refused with a message that says what to do and
//! are left byte for byte as they were; two observers on one database neither corrupt it nor
//! count a file twice; a held lock is waited for, boundedly.

use crate::common::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The file and any SQLite companion files beside it, to prove nothing was written or left behind.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    bytes: Vec<u8>,
    companions: Vec<String>,
}

fn snapshot(db: &Path) -> Snapshot {
    let companions = ["-wal", "-shm", "-journal"]
        .iter()
        .map(|s| format!("{}{s}", db.display()))
        .filter(|p| Path::new(p).exists())
        .collect();
    Snapshot {
        bytes: std::fs::read(db).unwrap(),
        companions,
    }
}

fn observe(db: &Path, trail: &Path) -> Output {
    run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        trail.to_str().unwrap(),
    ])
}

fn propose(db: &Path) -> Output {
    run(&["propose", "--db", db.to_str().unwrap(), "--format", "json"])
}

/// Asserts a refusal: exit 1 (not a panic's 101), the file named, and `needles` in the message.
fn assert_refused(out: &Output, db: &Path, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(&db.display().to_string()),
        "file not named: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

async fn connect(db: &Path, journal: SqliteJournalMode) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .journal_mode(journal)
        .connect()
        .await
        .unwrap()
}

/// Runs `statements` on the database at `db` (made if missing) as another program would, then
/// closes it; the rows they changed.
async fn edit(db: &Path, journal: SqliteJournalMode, statements: &[&str]) -> u64 {
    let mut conn = connect(db, journal).await;
    let mut changed = 0;
    for sql in statements {
        changed += sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected();
    }
    conn.close().await.unwrap();
    changed
}

/// A policy-miner database with the evidence of `files` trail files of 10 events.
fn observed_db(dir: &Path, files: usize) -> PathBuf {
    let trail = dir.join("trail");
    write_trail(&trail, files, 10);
    let db = dir.join("evidence.db");
    let out = observe(&db, &trail);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    db
}

/// The one value `sql` returns.
async fn scalar<T>(conn: &mut SqliteConnection, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

async fn evidence_total(db: &Path) -> (i64, i64, String) {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let count = scalar(&mut conn, "SELECT coalesce(sum(count), 0) FROM evidence").await;
    let files = scalar(&mut conn, "SELECT count(*) FROM observed_files").await;
    let check = scalar(&mut conn, "PRAGMA integrity_check").await;
    conn.close().await.unwrap();
    (count, files, check)
}

#[tokio::test]
async fn another_programs_sqlite_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    write_trail(&trail, 1, 3);
    // Both journal modes: a WAL database is the one a careless read-only open leaves -shm beside.
    for (name, journal) in [
        ("app.sqlite", SqliteJournalMode::Delete),
        ("app-wal.sqlite", SqliteJournalMode::Wal),
    ] {
        let db = dir.path().join(name);
        edit(
            &db,
            journal,
            &[
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
                "INSERT INTO customers (name) VALUES ('ada')",
            ],
        )
        .await;
        let before = snapshot(&db);
        assert!(before.companions.is_empty(), "{:?}", before.companions);

        assert_refused(
            &observe(&db, &trail),
            &db,
            &["not a policy-miner database", "left untouched"],
        );
        assert_refused(&propose(&db), &db, &["not a policy-miner database"]);
        assert_eq!(snapshot(&db), before, "{name} was changed");
    }
}

#[test]
fn random_bytes_as_db_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    write_trail(&trail, 1, 3);
    let db = dir.path().join("noise.db");
    // Deterministic noise (xorshift), so a failure can be replayed.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&db, &noise).unwrap();
    let before = snapshot(&db);
    assert_refused(
        &observe(&db, &trail),
        &db,
        &["not a policy-miner database", "not an SQLite database"],
    );
    assert_refused(&propose(&db), &db, &["not a policy-miner database"]);
    assert_eq!(snapshot(&db), before);
}

#[tokio::test]
async fn a_database_from_a_newer_schema_asks_for_an_upgrade_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 2);
    // What a later release would leave: one more applied migration than this binary knows.
    edit(
        &db,
        SqliteJournalMode::Wal,
        &[
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
           VALUES (29991231000000, 'from the future', TRUE, x'00', 1)",
        ],
    )
    .await;
    let before = snapshot(&db);
    assert!(before.companions.is_empty(), "{:?}", before.companions);

    for out in [observe(&db, &dir.path().join("trail")), propose(&db)] {
        assert_refused(
            &out,
            &db,
            &[
                "newer policy-miner",
                "29991231000000",
                "Upgrade policy-miner",
            ],
        );
    }
    assert_eq!(snapshot(&db), before);
}

#[test]
fn propose_without_a_database_says_to_observe_first_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never-observed.db");
    assert_refused(
        &propose(&db),
        &db,
        &["no such database", "policy-miner observe"],
    );
    assert!(!db.exists());
}

/// After observe, the database file holds all the evidence by itself: copied alone (a backup,
/// another machine), nothing is missing from it.
#[tokio::test]
async fn the_database_file_alone_holds_the_evidence_after_observe() {
    let dir = tempfile::tempdir().unwrap();
    // The log was left behind only now and then: several runs give it several chances.
    for run in 0..6 {
        let db = observed_db(&dir.path().join(format!("run-{run}")), 40);
        let wal = std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len());
        assert_eq!(
            wal, 0,
            "run {run}: the write-ahead log still holds {wal} bytes"
        );
        let copy = dir.path().join(format!("copy-{run}.db"));
        std::fs::copy(&db, &copy).unwrap();
        let (count, files, check) = evidence_total(&copy).await;
        assert_eq!((count, files, check.as_str()), (400, 40, "ok"), "run {run}");
    }
}

/// observe rewrites most of the evidence table's pages at each commit: a new database is made
/// with SQLite's largest page, which makes that cheaper (see README, Performance).
#[tokio::test]
async fn a_new_database_has_large_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 3);
    let mut conn = connect(&db, SqliteJournalMode::Wal).await;
    let page: i64 = scalar(&mut conn, "PRAGMA page_size").await;
    assert_eq!(page, 65536);
}

#[tokio::test]
async fn a_damaged_database_says_to_restore_or_rebuild_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 40);
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 8192, "too small to damage meaningfully: {len} bytes");
    for cut in [len / 2, len / 4, 60] {
        let damaged = dir.path().join(format!("cut-{cut}.db"));
        std::fs::copy(&db, &damaged).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&damaged)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let before = snapshot(&damaged);
        for out in [
            observe(&damaged, &dir.path().join("trail")),
            propose(&damaged),
        ] {
            assert_refused(
                &out,
                &damaged,
                &["damaged", "restore it from a backup", "delete it"],
            );
        }
        assert_eq!(snapshot(&damaged), before, "cut at {cut}");
    }
}

/// A database edited by another tool may hold text that is not UTF-8: propose reads it with
/// the bad bytes replaced, as the rest of the row, and does not stop (sqlx refused such a row).
#[tokio::test]
async fn evidence_text_that_is_not_utf8_is_read_with_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 2);
    let edited = edit(
        &db,
        SqliteJournalMode::Wal,
        &["UPDATE evidence_origins SET rule = CAST(X'FF6564697465642062792068616E64' AS TEXT)"],
    )
    .await;
    assert!(edited > 0);
    let out = propose(&db);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let proposal: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rules: Vec<&str> = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["grants"].as_array().unwrap())
        .map(|g| g["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.is_empty());
    assert!(
        rules.iter().all(|r| *r == "\u{fffd}edited by hand"),
        "{rules:?}"
    );
}

/// Where sqlx reads a row, a value of another type than the schema's is a damaged database:
/// named, with what to do, never a panic.
#[tokio::test]
async fn a_value_of_the_wrong_type_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 2);
    edit(
        &db,
        SqliteJournalMode::Wal,
        &["UPDATE observed_files SET windows = CAST(X'FF' AS TEXT)"],
    )
    .await;
    let out = observe(&db, &dir.path().join("trail"));
    assert_refused(&out, &db, &["damaged", "restore it from a backup"]);
}

#[tokio::test]
async fn two_observers_at_once_neither_corrupt_nor_count_a_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let files = 300;
    write_trail(&trail, files, 10);

    let alone = dir.path().join("alone.db");
    assert_eq!(observe(&alone, &trail).status.code(), Some(0));
    let (alone_count, alone_files, _) = evidence_total(&alone).await;
    assert_eq!(
        (alone_count, alone_files),
        (files as i64 * 10, files as i64)
    );

    // Several rounds: the interleaving differs each time (both creating the file, both
    // decoding the same files, one committing while the other waits).
    for round in 0..3 {
        let db = dir.path().join(format!("shared-{round}.db"));
        let spawn = || {
            bin()
                .args([
                    "observe",
                    "--db",
                    db.to_str().unwrap(),
                    trail.to_str().unwrap(),
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut read = 0;
        for out in [&a, &b] {
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", stderr(out));
            read += files_read(&stderr(out));
        }
        assert_eq!(
            read, files,
            "round {round}: each file read by exactly one observer"
        );
        assert_eq!(
            evidence_total(&db).await,
            (alone_count, alone_files, "ok".to_string()),
            "round {round}"
        );
    }
}

/// `N` of the summary line `files: F found, N read, …`.
fn files_read(summary: &str) -> usize {
    let line = summary
        .lines()
        .find(|l| l.starts_with("files:"))
        .unwrap_or_else(|| panic!("no files line in {summary}"));
    let (_, rest) = line.split_once("found, ").unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_held_lock_is_waited_for_as_long_as_lock_timeout_then_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_db(dir.path(), 2);
    // Other content than the first trail's, so that observe has something to write.
    let more = dir.path().join("more");
    write_role_trail(&more, "billing-task", 3, 10);

    let mut holder = connect(&db, SqliteJournalMode::Wal).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let clock = Instant::now();
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        "--lock-timeout",
        "1",
        more.to_str().unwrap(),
    ]);
    let waited = clock.elapsed();
    assert_refused(&out, &db, &["locked", "--lock-timeout"]);
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(15),
        "waited {waited:?}"
    );
    // Reading does not wait for a writer.
    let out = propose(&db);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let out = observe(&db, &more);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (count, files, check) = evidence_total(&db).await;
    assert_eq!((count, files, check.as_str()), (50, 5, "ok"));
}

#[test]
fn a_db_path_that_cannot_be_created_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    write_trail(&trail, 1, 3);
    let db = dir.path().join("no-such-dir/evidence.db");
    assert_refused(
        &observe(&db, &trail),
        &db,
        &["cannot open or write the database", "directory exists"],
    );
    assert!(!db.parent().unwrap().exists());
    // A directory where the file should be.
    let db = dir.path().join("trail");
    assert_refused(&propose(&db), &db, &["cannot open or write the database"]);
}
