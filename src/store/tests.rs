//! Batches as observe writes them.
//!
//! A full disk, simulated on the pool's one connection with `PRAGMA max_page_count` (a write that
//! needs one more page fails with SQLITE_FULL, as when the disk is full): the failed write is named
//! for what it is, leaves nothing behind, and the next write, in the same process or the next run,
//! goes through once there is space. Files are claimed once: a file another batch counted is left
//! out with its evidence, and one counted in part only by the windows this run saw.

use super::*;

/// Rows enough to need new pages (each about 300 bytes; a page holds 64 KiB).
fn evidence(n: usize) -> Vec<EvidenceRow> {
    (0..n)
        .map(|i| EvidenceRow {
            role_arn: "arn:aws:iam::111122223333:role/orders-api-task".to_string(),
            action: "s3:GetObject".to_string(),
            resource: format!("arn:aws:s3:::orders-docs/{}/{i:06}", "x".repeat(200)),
            condition: String::new(),
            error_code: String::new(),
            count: 1,
            first_seen: "2026-11-01T00:00:00Z".to_string(),
            last_seen: "2026-11-01T00:00:00Z".to_string(),
            example_event_id: format!("event-{i:06}"),
            event_source: "s3.amazonaws.com".to_string(),
            event_name: "GetObject".to_string(),
            rule: "test".to_string(),
            callers: Default::default(),
        })
        .collect()
}

/// One batch of observe's, for `write_batch`.
struct Batch<'r>(&'r [EvidenceRow]);

impl BatchRows for Batch<'_> {
    fn evidence(&self) -> impl Iterator<Item = EvidenceRef<'_>> {
        self.0.iter().map(|r| EvidenceRef {
            role_arn: &r.role_arn,
            action: &r.action,
            resource: &r.resource,
            condition: &r.condition,
            error_code: &r.error_code,
            count: r.count,
            first_seen: &r.first_seen,
            last_seen: &r.last_seen,
            example_event_id: &r.example_event_id,
            event_source: &r.event_source,
            event_name: &r.event_name,
            rule: &r.rule,
            callers: r.callers,
        })
    }

    fn ungranted(&self) -> impl Iterator<Item = UngrantedRef<'_>> {
        std::iter::empty()
    }
}

/// No room for one more page on the connection the store writes with (its pool has one).
async fn fill_disk(store: &Store) {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(store.pool())
        .await
        .unwrap();
}

/// Room again.
async fn free_disk(store: &Store) {
    sqlx::query("PRAGMA max_page_count = 1073741823")
        .execute(store.pool())
        .await
        .unwrap();
}

fn assert_full(err: &StoreError) {
    assert!(matches!(err, StoreError::Full { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("the disk holding the database is full")
            && message.contains("Free some space on that disk, then run again"),
        "{message}"
    );
}

async fn total_count(store: &Store) -> i64 {
    store
        .evidence()
        .await
        .unwrap()
        .iter()
        .map(|r| r.count)
        .sum()
}

async fn integrity(store: &Store) -> String {
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Live evidence (`observe --listen-csm`, `--proxy`) is written flush after flush by one long
/// process: before, the first flush that met a full disk left sqlx counting a transaction SQLite
/// had already rolled back, and every later flush failed with "begin_with at non-zero
/// transaction depth", even once there was space again.
#[tokio::test]
async fn live_evidence_on_a_full_disk_is_written_whole_by_a_later_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.db");
    let store = Store::open(&path, true).await.unwrap();
    let rows = evidence(1000);

    fill_disk(&store).await;
    let err = store.write_live("csm", &rows, &[]).await.unwrap_err();
    assert_full(&err);
    assert_eq!(total_count(&store).await, 0, "nothing of the failed flush");

    free_disk(&store).await;
    store.write_live("csm", &rows, &[]).await.unwrap();
    assert_eq!(total_count(&store).await, 1000);
    store.close().await;

    // The next run on the same file.
    let store = Store::open(&path, false).await.unwrap();
    store.write_live("csm", &rows[..1], &[]).await.unwrap();
    assert_eq!(total_count(&store).await, 1001);
    assert_eq!(integrity(&store).await, "ok");
    store.close().await;
}

/// observe's batches go through SQLite's own API inside sqlx's transaction: a full disk there
/// claims no file (the next run reads it again) and leaves the connection fit for the next batch.
#[tokio::test]
async fn a_batch_on_a_full_disk_claims_no_file_and_the_next_one_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.db");
    let store = Store::open(&path, true).await.unwrap();
    let rows = evidence(1000);
    let file = ObservedFile {
        fingerprint: "f".repeat(32),
        path: "trail/111122223333_CloudTrail_eu-west-1_20261101T0000Z_a.json.gz".to_string(),
        size: 4096,
        events: 1000,
        windows: None,
        windows_before: None,
    };

    fill_disk(&store).await;
    let err = store
        .write_batch(std::slice::from_ref(&file), |_| Batch(&rows))
        .await
        .unwrap_err();
    assert_full(&err);
    assert!(store.observed_files().await.unwrap().is_empty());

    free_disk(&store).await;
    let left_out = store
        .write_batch(std::slice::from_ref(&file), |fresh| {
            assert_eq!(fresh.to_vec(), vec![true], "the file is new again");
            Batch(&rows)
        })
        .await
        .unwrap();
    assert!(left_out.is_empty());
    assert_eq!(total_count(&store).await, 1000);
    assert_eq!(integrity(&store).await, "ok");
    store.close().await;
}

fn trace_file(fingerprint: char, windows: Option<&str>, before: Option<&str>) -> ObservedFile {
    ObservedFile {
        fingerprint: fingerprint.to_string().repeat(32),
        path: format!("trail/{fingerprint}.json.gz"),
        size: 100,
        events: 1,
        windows: windows.map(str::to_string),
        windows_before: before.map(str::to_string),
    }
}

#[tokio::test]
async fn a_file_is_claimed_by_one_batch_only_and_a_partly_counted_one_by_its_windows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("evidence.db"), true)
        .await
        .unwrap();
    let rows = evidence(2);
    let first = [
        trace_file('a', None, None),
        trace_file('b', Some("w1"), None),
    ];
    let left_out = store
        .write_batch(&first, |fresh| {
            assert_eq!(fresh, [true, true]);
            Batch(&rows[..1])
        })
        .await
        .unwrap();
    assert!(left_out.is_empty());

    // `a` again; `b` as a run that saw windows `w1` sees it; `c` as one that saw other windows.
    let second = [
        trace_file('a', None, None),
        trace_file('b', Some("w1,w2"), Some("w1")),
        trace_file('c', Some("w3"), Some("w0")),
    ];
    let left_out = store
        .write_batch(&second, |fresh| {
            assert_eq!(fresh, [false, true, false]);
            Batch(&rows[1..])
        })
        .await
        .unwrap();
    assert_eq!(left_out, [0, 2]);
    // As observe reads them back (SQLite's own API, NULL windows as None).
    let mut files = store
        .observed_files_as(|f, w| Some((f.to_string(), w.map(str::to_string))))
        .await
        .unwrap();
    files.sort();
    assert_eq!(
        files,
        [
            ("a".repeat(32), None),
            ("b".repeat(32), Some("w1,w2".to_string()))
        ]
    );
    assert_eq!(total_count(&store).await, 2);
    store.close().await;
}

#[tokio::test]
async fn only_observe_commits_without_waiting_for_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.db");
    let synchronous = |store: Store| async move {
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        store.close().await;
        level
    };
    // 1: NORMAL (no flush per commit in WAL mode), 2: FULL.
    let replayable = Store::open_replayable(&path, DEFAULT_LOCK_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(synchronous(replayable).await, 1);
    assert_eq!(
        synchronous(Store::open(&path, false).await.unwrap()).await,
        2
    );
}

/// What the database file alone holds (as a copy of it without its log would): the evidence
/// rows SQLite has moved there from the log.
async fn rows_in_file_alone(path: &Path) -> usize {
    let copy = path.with_extension("alone.db");
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(path, &copy).unwrap();
    let store = Store::open(&copy, true).await.unwrap();
    let rows = store.evidence().await.unwrap().len();
    store.close().await;
    rows
}

#[tokio::test]
async fn observes_log_is_moved_into_the_database_when_it_outgrows_it_never_after_the_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.db");
    let store = Store::open_replayable(&path, DEFAULT_LOCK_TIMEOUT)
        .await
        .unwrap();
    let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        auto, 0,
        "SQLite must not checkpoint in whichever commit it likes"
    );
    let rows = evidence(300);
    store
        .write_batch(&[trace_file('a', None, None)], |_| Batch(&rows))
        .await
        .unwrap();
    let mut log = LogGrowth::default();
    assert!(!store.after_commit(&mut log, true).await.unwrap());
    assert!(
        log.pages >= 2,
        "300 rows of 300 bytes fill two pages: {}",
        log.pages
    );
    assert_eq!(rows_in_file_alone(&path).await, 0, "still in the log");

    // As if the log held more than the database (and than the least SQLite waits for).
    log.pages = 1_000_000;
    assert!(!store.after_commit(&mut log, false).await.unwrap());
    assert_eq!(
        rows_in_file_alone(&path).await,
        0,
        "not after the last commit"
    );
    assert!(store.after_commit(&mut log, true).await.unwrap());
    assert_eq!(log.pages, 0);
    assert_eq!(rows_in_file_alone(&path).await, 300);
    assert_eq!(integrity(&store).await, "ok");
    store.close().await;
}

/// Version of the migration that gave origins a table of their own.
const ORIGINS_MIGRATION: i64 = 20261205000000;

/// An evidence row as the table held it before origins had a table: (row, its values for the
/// columns then).
fn row_before_origins(i: usize, source: &str, name: &str, rule: &str) -> EvidenceRow {
    EvidenceRow {
        role_arn: "arn:aws:iam::111122223333:role/orders-api-task".to_string(),
        action: format!("s3:{name}"),
        resource: format!("arn:aws:s3:::orders-docs/{i:03}"),
        condition: String::new(),
        error_code: if i.is_multiple_of(3) {
            "AccessDenied".to_string()
        } else {
            String::new()
        },
        count: 1 + i as i64,
        first_seen: format!("2026-11-0{}T00:00:00Z", 1 + i % 5),
        last_seen: "2026-11-09T00:00:00Z".to_string(),
        example_event_id: format!("event-{i:03}"),
        event_source: source.to_string(),
        event_name: name.to_string(),
        rule: rule.to_string(),
        callers: crate::call::Callers::from_stored((i % 8) as i64),
    }
}

/// A database made before evidence origins had a table of their own reads the same once
/// migrated: every row, each with its event source, event name and rule; each distinct origin
/// stored once; and a later write that brings an earlier event moves the row's origin to it.
#[tokio::test]
async fn evidence_stored_before_origins_had_a_table_reads_the_same_once_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < ORIGINS_MIGRATION)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    assert!(MIGRATOR.iter().any(|m| m.version == ORIGINS_MIGRATION));
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    before.run(&pool).await.unwrap();
    sqlx::query(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .execute(&pool)
        .await
        .unwrap();
    let origins = [
        ("s3.amazonaws.com", "GetObject", "rule: object ARN"),
        ("s3.amazonaws.com", "PutObject", "rule: object ARN"),
        ("s3.amazonaws.com", "GetObject", "rule: another"),
    ];
    let mut rows: Vec<EvidenceRow> = (0..12)
        .map(|i| {
            let (source, name, rule) = origins[i % origins.len()];
            row_before_origins(i, source, name, rule)
        })
        .collect();
    for r in &rows {
        sqlx::query(
            "INSERT INTO evidence (role_arn, action, resource, condition, error_code, count,
                first_seen, last_seen, example_event_id, event_source, event_name, rule, callers)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.role_arn)
        .bind(&r.action)
        .bind(&r.resource)
        .bind(&r.condition)
        .bind(&r.error_code)
        .bind(r.count)
        .bind(&r.first_seen)
        .bind(&r.last_seen)
        .bind(&r.example_event_id)
        .bind(&r.event_source)
        .bind(&r.event_name)
        .bind(&r.rule)
        .bind(r.callers.stored())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&path, false).await.unwrap();
    rows.sort_by(|a, b| {
        (
            &a.role_arn,
            &a.action,
            &a.resource,
            &a.condition,
            &a.error_code,
        )
            .cmp(&(
                &b.role_arn,
                &b.action,
                &b.resource,
                &b.condition,
                &b.error_code,
            ))
    });
    assert_eq!(store.evidence().await.unwrap(), rows);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM evidence_origins")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, origins.len() as i64);

    // An earlier call of the first row's key, by a new origin, and a later one by a known one.
    let mut earlier = rows[0].clone();
    (earlier.first_seen, earlier.last_seen) =
        ("2026-10-01T00:00:00Z".into(), "2026-10-01T00:00:00Z".into());
    (earlier.example_event_id, earlier.rule) = ("event-earlier".into(), "rule: new".into());
    let mut later = rows[1].clone();
    (later.first_seen, later.last_seen) =
        ("2026-12-01T00:00:00Z".into(), "2026-12-01T00:00:00Z".into());
    (later.example_event_id, later.rule) = ("event-later".into(), origins[0].2.into());
    let batch = [earlier.clone(), later];
    store
        .write_batch(&[trace_file('a', None, None)], |_| Batch(&batch))
        .await
        .unwrap();
    let read = store.evidence().await.unwrap();
    assert_eq!(read[0].rule, "rule: new", "the earliest event's origin");
    assert_eq!(read[0].example_event_id, "event-earlier");
    assert_eq!(read[0].count, rows[0].count + 1);
    assert_eq!(
        read[1].rule, rows[1].rule,
        "a later event leaves the origin"
    );
    assert_eq!(read[1].last_seen, "2026-12-01T00:00:00Z");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM evidence_origins")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        stored,
        origins.len() as i64 + 1,
        "only the new origin is added"
    );
    assert_eq!(integrity(&store).await, "ok");
    store.close().await;
}

/// Rows whose origins differ only in where one field ends and the next begins keep their own
/// origin each, in one batch and across batches: origins are told apart whole, never by their
/// fields run together.
#[tokio::test]
async fn each_row_keeps_its_own_origin_however_alike_origins_are() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("evidence.db"), true)
        .await
        .unwrap();
    let alike = [
        ("s3.amazonaws.com", "Get:Object", "r"),
        ("s3.amazonaws.com:Get", "Object", "r"),
        ("s3.amazonaws.com", "Get", "Object:r"),
        ("s3.amazonaws.com", "Get\0Object", "r"),
        ("s3.amazonaws.com\0Get", "Object", "r"),
    ];
    let rows: Vec<EvidenceRow> = alike
        .iter()
        .enumerate()
        .map(|(i, (source, name, rule))| row_before_origins(i + 1, source, name, rule))
        .collect();
    let (first, second) = rows.split_at(2);
    for (i, batch) in [first, second].into_iter().enumerate() {
        let file = trace_file(char::from(b'a' + i as u8), None, None);
        store.write_batch(&[file], |_| Batch(batch)).await.unwrap();
    }
    let read = store.evidence().await.unwrap();
    let origin = |r: &EvidenceRow| (r.event_source.clone(), r.event_name.clone(), r.rule.clone());
    let mut want: Vec<_> = rows.iter().map(origin).collect();
    let mut got: Vec<_> = read.iter().map(origin).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM evidence_origins")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, alike.len() as i64);

    // Origins deleted by hand leave their rows in, read without an origin.
    sqlx::query("DELETE FROM evidence_origins")
        .execute(store.pool())
        .await
        .unwrap();
    let read = store.evidence().await.unwrap();
    assert_eq!(read.len(), rows.len());
    assert!(
        read.iter().all(|r| origin(r) == Default::default()),
        "{read:?}"
    );
    store.close().await;
}
