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
