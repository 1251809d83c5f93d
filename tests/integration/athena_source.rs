//! `observe athena://…` against moto's Athena API, with the query itself executed: the SQL the
//! binary sends is run on the fixture trail's events by `tests/athena/run_query.py` (translated
//! to DuckDB's dialect by sqlglot), its rows are seeded into moto
//! (`/moto-api/static/athena/query-results`), and `propose` must then print byte for byte what it
//! prints after observing the same trail's files.

use crate::common::moto::Moto;
use crate::common::*;
use std::path::Path;
use std::process::Output;

const TABLE: &str = "athena://primary/trails.cloudtrail";
/// Cuts the fixture trail (2026-11-02 to 2026-11-04) on both sides.
const WINDOW: [&str; 4] = [
    "--since",
    "2026-11-02T10:00:00Z",
    "--until",
    "2026-11-04T11:00:00Z",
];

fn athena_client(moto: &Moto) -> aws_sdk_athena::Client {
    let conf = aws_sdk_athena::Config::builder()
        .behavior_version(aws_sdk_athena::config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_sdk_athena::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_athena::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_athena::Client::from_conf(conf)
}

fn observe(moto: &Moto, db: &Path, extra: &[&str]) -> Output {
    let taskdefs = fixture("fleet/taskdefs");
    let mut cmd = bin();
    cmd.args([
        "observe",
        "--db",
        db.to_str().unwrap(),
        "--task-definitions",
    ])
    .arg(&taskdefs)
    .args(extra);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Posts to one of moto's own endpoints.
fn moto_api(moto: &Moto, path: &str, body: &str) {
    ureq::post(format!("{}{path}", moto.endpoint))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// `sql` run on the trail under `trail` (an organization trail's table with `org`): moto's
/// seeding body.
fn executed(sql: &str, trail: &Path, org: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sql_file = dir.path().join("query.sql");
    std::fs::write(&sql_file, sql).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/athena/run_query.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&sql_file)
        .arg(trail)
        .arg("trails.cloudtrail")
        .args(org.then_some("org"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "tests/athena/run_query.py failed (it needs `python3 -m pip install duckdb sqlglot`, \
         which .ci/run does): {}",
        stderr(&out)
    );
    stdout(&out)
}

/// The queries moto was sent, oldest first.
fn queries_sent(moto: &Moto) -> Vec<String> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(queries_received(moto))
}

async fn queries_received(moto: &Moto) -> Vec<String> {
    let client = athena_client(moto);
    let ids = client.list_query_executions().send().await.unwrap();
    let mut out = Vec::new();
    for id in ids.query_execution_ids() {
        let e = client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        let e = e.query_execution().unwrap();
        let at = e.status().and_then(|s| s.submission_date_time()).cloned();
        out.push((at, e.query().unwrap_or("").to_string()));
    }
    out.sort_by(|a, b| {
        a.0.as_ref()
            .map(|t| t.as_nanos())
            .cmp(&b.0.as_ref().map(|t| t.as_nanos()))
    });
    out.into_iter().map(|(_, q)| q).collect()
}

fn propose(db: &Path, format: &str) -> String {
    let out = run(&["propose", "--db", db.to_str().unwrap(), "--format", format]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_executed_query_gives_the_evidence_of_the_trail_files() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (athena_db, files_db) = (dir.path().join("athena.db"), dir.path().join("files.db"));

    let printed = observe(
        &moto,
        &athena_db,
        &[&[TABLE, "--print-query"][..], &WINDOW].concat(),
    );
    assert!(printed.status.success(), "{}", stderr(&printed));
    let sql = stdout(&printed).trim_end().to_string();
    let seed = executed(&sql, &fixture("fleet/trail"), false);
    moto_api(&moto, "/moto-api/static/athena/query-results", &seed);

    let out = observe(&moto, &athena_db, &[&[TABLE][..], &WINDOW].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    // The query observe sent is the one executed above.
    assert_eq!(queries_sent(&moto), vec![sql]);
    let summary = stderr(&out);
    assert!(summary.contains("files: 1 found, 1 read"), "{summary}");
    // moto scans nothing, and says so.
    assert!(summary.contains("athena: 0 bytes scanned"), "{summary}");

    let trail = fixture("fleet/trail/AWSLogs");
    let files = observe(
        &moto,
        &files_db,
        &[&[trail.to_str().unwrap()][..], &WINDOW].concat(),
    );
    assert!(files.status.success(), "{}", stderr(&files));

    for format in ["text", "json"] {
        let (from_athena, from_files) = (propose(&athena_db, format), propose(&files_db, format));
        assert!(
            from_files.contains("arn:aws:iam::111122223333:role/"),
            "{from_files}"
        );
        assert_eq!(from_athena, from_files, "propose --format {format}");
    }
    // The same events were kept as role evidence: the summaries' event lines agree.
    let kept = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("events:"))
            .and_then(|l| l.split(", ").nth(1))
            .map(str::to_string)
    };
    assert_eq!(kept(&summary), kept(&stderr(&files)), "{summary}");
}

/// An organization trail (`AWSLogs/o-…/<account>/…`) in a table partitioned by account and
/// region too: --account and --region give the evidence of that account's and region's files.
#[test]
fn an_organization_trail_is_read_for_one_account_and_region() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("bucket/AWSLogs/o-a1b2c3d4e5");
    copy_trail_gzipped(&fixture("fleet/trail/AWSLogs"), &org);
    let (athena_db, files_db) = (dir.path().join("athena.db"), dir.path().join("files.db"));
    let args = [
        &[
            TABLE,
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--athena-account-region-partitions",
        ][..],
        &WINDOW,
    ]
    .concat();

    let printed = observe(&moto, &athena_db, &[&args[..], &["--print-query"]].concat());
    assert!(printed.status.success(), "{}", stderr(&printed));
    let sql = stdout(&printed).trim_end().to_string();
    assert!(sql.contains("AND account IN ('111122223333')"), "{sql}");
    let seed = executed(&sql, &dir.path().join("bucket"), true);
    moto_api(&moto, "/moto-api/static/athena/query-results", &seed);
    let out = observe(&moto, &athena_db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(queries_sent(&moto), vec![sql]);

    let one = org.join("111122223333/CloudTrail/eu-west-1");
    let files = observe(
        &moto,
        &files_db,
        &[&[one.to_str().unwrap()][..], &WINDOW].concat(),
    );
    assert!(files.status.success(), "{}", stderr(&files));
    let (from_athena, from_files) = (propose(&athena_db, "text"), propose(&files_db, "text"));
    assert!(
        from_files.contains("arn:aws:iam::111122223333:role/"),
        "{from_files}"
    );
    assert_eq!(from_athena, from_files);
}

#[test]
fn a_scheduled_run_queries_only_what_it_has_not_read() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let first = observe(&moto, &db, &[&[TABLE][..], &WINDOW].concat());
    assert!(first.status.success(), "{}", stderr(&first));
    // The same window again: counted already, no query at all.
    let again = observe(&moto, &db, &[&[TABLE][..], &WINDOW].concat());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("1 already observed"),
        "{}",
        stderr(&again)
    );
    assert_eq!(queries_sent(&moto).len(), 1);
    // A wider window: one query, leaving out what the first run counted.
    let wider = observe(
        &moto,
        &db,
        &[TABLE, "--since", "2026-11-01", "--until", "2026-11-05"],
    );
    assert!(wider.status.success(), "{}", stderr(&wider));
    let sent = queries_sent(&moto);
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].contains(
            "NOT (substr(eventtime, 1, 19) >= '2026-11-02T10:00:00' AND \
             substr(eventtime, 1, 19) < '2026-11-04T11:00:00')"
        ),
        "{}",
        sent[1]
    );
    // Both windows are recorded as one.
    let windows: Vec<String> = db_rows(&db, "SELECT windows FROM observed_files")
        .iter()
        .map(|r| sqlx::Row::get(r, 0))
        .collect();
    assert_eq!(
        windows,
        vec![r#"[["2026-11-01T00:00:00","2026-11-05T00:00:00"]]"#.to_string()]
    );
}

#[test]
fn a_query_past_the_timeout_is_stopped_and_nothing_recorded() {
    let Some(moto) = Moto::start() else { return };
    // The query never leaves QUEUED unless asked.
    moto_api(
        &moto,
        "/moto-api/state-manager/set-transition",
        r#"{"model_name":"athena::execution","transition":{"progression":"manual","times":1000000}}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let out = observe(
        &moto,
        &db,
        &[&[TABLE, "--athena-timeout", "1"][..], &WINDOW].concat(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "was still running after --athena-timeout 1s: stopped it (StopQueryExecution)"
        ),
        "{err}"
    );
    let client = athena_client(&moto);
    let e = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ids = client.list_query_executions().send().await.unwrap();
        let id = &ids.query_execution_ids()[0];
        client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
    });
    assert_eq!(
        e.query_execution()
            .and_then(|e| e.status())
            .and_then(|s| s.state()),
        Some(&aws_sdk_athena::types::QueryExecutionState::Cancelled)
    );
    assert!(db_rows(&db, "SELECT fingerprint FROM observed_files").is_empty());
    assert!(db_rows(&db, "SELECT role_arn FROM evidence").is_empty());
}

/// SIGTERM while the query runs: it is stopped, nothing is recorded, and the exit status is the
/// interrupted one, as for files.
#[test]
#[allow(unsafe_code)] // libc's kill: see the SAFETY below.
fn an_interrupted_run_stops_its_query() {
    let Some(moto) = Moto::start() else { return };
    moto_api(
        &moto,
        "/moto-api/state-manager/set-transition",
        r#"{"model_name":"athena::execution","transition":{"progression":"manual","times":1000000}}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let mut cmd = bin();
    cmd.args(["observe", "--db", db.to_str().unwrap(), TABLE])
        .args(WINDOW)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let waited = std::time::Instant::now();
    while queries_sent(&moto).is_empty() {
        assert!(waited.elapsed().as_secs() < 60, "no query was sent");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let client = athena_client(&moto);
    let state = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ids = client.list_query_executions().send().await.unwrap();
        let e = client
            .get_query_execution()
            .query_execution_id(&ids.query_execution_ids()[0])
            .send()
            .await
            .unwrap();
        e.query_execution()
            .and_then(|e| e.status())
            .and_then(|s| s.state())
            .cloned()
    });
    assert_eq!(
        state,
        Some(aws_sdk_athena::types::QueryExecutionState::Cancelled)
    );
    assert!(db_rows(&db, "SELECT fingerprint FROM observed_files").is_empty());
}

#[test]
fn a_table_named_wrong_is_named_with_the_form_expected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        "athena://primary/no-table",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("athena://primary/no-table: expected athena://WORKGROUP/DATABASE.TABLE"),
        "{}",
        stderr(&out)
    );
}
