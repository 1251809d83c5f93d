//! `observe s3://…` against a real S3 wire protocol (moto server): both trail layouts, filters by
//! account, region and date, checkpoints by key + ETag, and the same evidence as local files.

use crate::common::moto::Moto;
use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn s3_client(moto: &Moto) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Uploads every gzipped delivery file of the fleet fixture, keys rewritten by `key_of`.
async fn upload_fleet(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key_of: impl Fn(&str) -> String,
) -> usize {
    client.create_bucket().bucket(bucket).send().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    copy_trail_gzipped(&fixture("fleet/trail"), local.path());
    let mut n = 0;
    for file in walk(local.path()) {
        let rel = file
            .strip_prefix(local.path())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if !rel.starts_with("AWSLogs/") {
            continue;
        }
        client
            .put_object()
            .bucket(bucket)
            .key(key_of(&rel))
            .body(std::fs::read(&file).unwrap().into())
            .send()
            .await
            .unwrap();
        n += 1;
    }
    n
}

fn observe(moto: &Moto, db: &Path, extra: &[&str]) -> std::process::Output {
    let taskdefs = fixture("fleet/taskdefs");
    let mut cmd = bin();
    cmd.args([
        "observe",
        "--db",
        db.to_str().unwrap(),
        "--task-definitions",
        taskdefs.to_str().unwrap(),
    ])
    .args(extra);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn policies(db: &Path) -> Value {
    let out = run(&["propose", "--db", db.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role_arn"].as_str().unwrap().to_string(),
                r["policy"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trail_bucket_gives_the_same_evidence_as_its_files_and_is_read_once() {
    let Some(moto) = Moto::start() else { return };
    let client = s3_client(&moto);
    let uploaded = upload_fleet(&client, "trail", |k| k.to_string()).await;
    let dir = tempfile::tempdir().unwrap();

    let from_s3 = dir.path().join("s3.db");
    let out = observe(&moto, &from_s3, &["s3://trail/AWSLogs/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{uploaded} read")),
        "{}",
        stderr(&out)
    );

    let local_trail = dir.path().join("local");
    copy_trail_gzipped(
        &fixture("fleet/trail/AWSLogs"),
        &local_trail.join("AWSLogs"),
    );
    let from_files = dir.path().join("files.db");
    let taskdefs = fixture("fleet/taskdefs");
    let out = run(&[
        "observe",
        "--db",
        from_files.to_str().unwrap(),
        "--task-definitions",
        taskdefs.to_str().unwrap(),
        local_trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(policies(&from_s3), policies(&from_files));

    // Checkpointed by key + ETag: nothing is read or counted again.
    let out = observe(&moto, &from_s3, &["s3://trail/AWSLogs/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{uploaded} already observed")),
        "{}",
        stderr(&out)
    );
    assert_eq!(policies(&from_s3), policies(&from_files));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organization_trail_is_filtered_by_account_region_and_date() {
    let Some(moto) = Moto::start() else { return };
    let client = s3_client(&moto);
    upload_fleet(&client, "org-trail", |k| {
        k.replacen("AWSLogs/", "AWSLogs/o-abc123def4/", 1)
    })
    .await;
    // Noise the walk must not descend into.
    client
        .put_object()
        .bucket("org-trail")
        .key("AWSLogs/o-abc123def4/111122223333/CloudTrail-Digest/eu-west-1/2026/11/03/d.json.gz")
        .body(b"not a trail file".to_vec().into())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("org.db");
    let out = observe(
        &moto,
        &db,
        &[
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-03T23:59:59Z",
            "s3://org-trail/",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The day of the window, and the day after it: CloudTrail may deliver records up to a day
    // late, so those files are read and their events outside the window dropped.
    let day = |d: &str| {
        walk(&fixture(&format!(
            "fleet/trail/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/{d}"
        )))
        .len()
    };
    let want = day("03") + day("04");
    assert!(
        stderr(&out).contains(&format!("{want} read")),
        "want {want} files read: {}",
        stderr(&out)
    );
    let roles = policies(&db);
    // The other account's copy of the shared queue events is not in this selection.
    assert!(
        roles
            .as_object()
            .unwrap()
            .keys()
            .all(|r| r.contains("111122223333")),
        "{roles}"
    );
}

/// The warnings of an observe run that failed on `url`: exit status 3, and each warning names it.
fn warnings_for(out: &std::process::Output, url: &str) -> Vec<String> {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let warnings: Vec<String> = err
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(str::to_string)
        .collect();
    let prefix = format!("warning: skipped {url}: ");
    assert!(warnings.iter().all(|w| w.starts_with(&prefix)), "{err}");
    warnings
}

/// A failed request is one line: the operation and the bucket, S3's own error code and message,
/// and the one hint that fits that error.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_named_with_what_to_do() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = "s3://no-such-trail-bucket/AWSLogs/";
    let out = observe(&moto, &dir.path().join("x.db"), &[url]);
    let warnings = warnings_for(&out, url);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let line = &warnings[0];
    assert!(
        line.contains(
            ": ListObjectsV2 on bucket no-such-trail-bucket under \"AWSLogs/\" failed: \
             NoSuchBucket: The specified bucket does not exist; "
        ),
        "{line}"
    );
    assert!(line.ends_with("; check the bucket name"), "{line}");
}

/// No answer at all: the causes without the SDK's dump of its structures, and the hint is about
/// the endpoint, not the bucket.
#[test]
fn an_endpoint_that_does_not_answer_is_named_with_what_to_do() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let url = "s3://trail/AWSLogs/";
    let out = bin()
        .args(["observe", "--db", db.to_str().unwrap(), url])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    let warnings = warnings_for(&out, url);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let line = &warnings[0];
    assert!(line.contains("ListObjectsV2 on bucket trail"), "{line}");
    assert!(line.contains("Connection refused"), "{line}");
    assert!(
        line.ends_with(
            "; check the endpoint and network access (AWS_ENDPOINT_URL, proxy settings)"
        ),
        "{line}"
    );
    for noise in ["DispatchFailure", "ConnectorError", "{", "check the path"] {
        assert!(!line.contains(noise), "{noise} in {line}");
    }
}

/// observe on `url` with AWS_ENDPOINT_URL set to `endpoint` (a relay in front of moto), run on a
/// blocking thread so that the relay goes on serving on this test's runtime.
async fn observe_via(endpoint: String, db: &Path, extra: &[&str]) -> std::process::Output {
    observe_via_with(endpoint, db, extra, &[]).await
}

async fn observe_via_with(
    endpoint: String,
    db: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = bin();
    cmd.envs(env.iter().copied());
    cmd.args(["observe", "--db", db.to_str().unwrap()])
        .args(extra)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// The evidence of the fleet's trail read from local files: what every bucket read must give.
fn local_evidence_db(dir: &Path) -> std::path::PathBuf {
    let local_trail = dir.join("local");
    copy_trail_gzipped(
        &fixture("fleet/trail/AWSLogs"),
        &local_trail.join("AWSLogs"),
    );
    let db = dir.join("files.db");
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        local_trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    db
}

fn moto_addr(moto: &Moto) -> std::net::SocketAddr {
    moto.endpoint.trim_start_matches("http://").parse().unwrap()
}

/// With a round trip of 20 ms added to every request, `--s3-concurrency 1` keeps one request in
/// flight and the default many more than this machine has cores; both read the same evidence as
/// the local files, row for row.
#[tokio::test(flavor = "multi_thread")]
async fn objects_are_fetched_many_at_once_and_give_the_same_evidence_as_one_at_a_time() {
    use policy_miner::bench::s3::relay::Relay;
    let Some(moto) = Moto::start() else { return };
    let uploaded = upload_fleet(&s3_client(&moto), "trail", |k| k.to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let want = evidence_lines(&local_evidence_db(dir.path())).await;
    assert!(want.len() > 20, "{want:?}");

    let delay = std::time::Duration::from_millis(20);
    let one = Relay::start(moto_addr(&moto), delay, None).await.unwrap();
    let sequential = dir.path().join("one.db");
    let out = observe_via(
        one.endpoint(),
        &sequential,
        &["--s3-concurrency", "1", "s3://trail/AWSLogs/"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{uploaded} read")),
        "{}",
        stderr(&out)
    );
    assert_eq!(one.counts().max_in_flight, 1, "{:?}", one.counts());

    let many = Relay::start(moto_addr(&moto), delay, None).await.unwrap();
    let concurrent = dir.path().join("many.db");
    let out = observe_via(many.endpoint(), &concurrent, &["s3://trail/AWSLogs/"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(
        many.counts().max_in_flight > cores,
        "{:?} with {cores} cores",
        many.counts()
    );
    // Listing and fetching each object once: as many requests as one at a time made.
    assert_eq!(many.counts().requests, one.counts().requests);

    assert_eq!(evidence_lines(&sequential).await, want);
    assert_eq!(evidence_lines(&concurrent).await, want);
}

/// S3 under load answers `503 SlowDown` or drops connections; the relay does either to the first
/// request for each listing page and object. Every one is retried with backoff and the run
/// reads the whole trail, as without the faults.
#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_dropped_connections_are_retried() {
    use policy_miner::bench::s3::relay::{Fault, Relay};
    let Some(moto) = Moto::start() else { return };
    let uploaded = upload_fleet(&s3_client(&moto), "trail", |k| k.to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let want = evidence_lines(&local_evidence_db(dir.path())).await;
    for fault in [Fault::SlowDown, Fault::Drop] {
        let relay = Relay::start(moto_addr(&moto), std::time::Duration::ZERO, Some(fault))
            .await
            .unwrap();
        let db = dir.path().join(format!("{fault:?}.db"));
        let out = observe_via(relay.endpoint(), &db, &["s3://trail/AWSLogs/"]).await;
        assert_eq!(out.status.code(), Some(0), "{fault:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{uploaded} read")),
            "{fault:?}: {}",
            stderr(&out)
        );
        // Each object's GetObject failed once, and so did each listing.
        let counts = relay.counts();
        assert!(counts.faults > uploaded as u64, "{fault:?}: {counts:?}");
        assert_eq!(evidence_lines(&db).await, want, "{fault:?}");
    }
    // Without retries the same fault is a failure, named with what S3 said.
    let relay = Relay::start(
        moto_addr(&moto),
        std::time::Duration::ZERO,
        Some(Fault::SlowDown),
    )
    .await
    .unwrap();
    let db = dir.path().join("no-retries.db");
    let out = observe_via_with(
        relay.endpoint(),
        &db,
        &["s3://trail/AWSLogs/"],
        &[("AWS_MAX_ATTEMPTS", "1")],
    )
    .await;
    let warnings = warnings_for(&out, "s3://trail/AWSLogs/");
    assert!(
        warnings.iter().any(|w| w.contains(
            "ListObjectsV2 on bucket trail under \"AWSLogs/\" failed: SlowDown: Please reduce \
             your request rate"
        )),
        "{warnings:?}"
    );
}

/// `bench --s3` in one run: a generated trail uploaded to moto, read through the relay without
/// and with a delay, every object both times, with the most requests in flight counted.
#[test]
fn bench_s3_reports_both_runs_in_one() {
    if std::env::var("POLICY_MINER_SKIP_MOTO").as_deref() == Ok("1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "--s3",
        "--events",
        "1200",
        "--events-per-file",
        "40",
        "--delay-ms",
        "10",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["objects"], 30, "{r}");
    assert_eq!(r["s3_concurrency"], 64, "{r}");
    for run in ["without_delay", "with_delay"] {
        assert_eq!(r[run]["objects"], 30, "{r}");
        assert!(r[run]["seconds"].as_f64().unwrap() > 0.0, "{r}");
        // A listing per level of the layout, and a GetObject per object.
        assert!(r[run]["requests"].as_u64().unwrap() > 30, "{r}");
    }
    assert_eq!(r["with_delay"]["delay_ms"], 10, "{r}");
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(
        r["with_delay"]["max_requests_in_flight"].as_u64().unwrap() > cores,
        "{r}"
    );
    assert!(r["delayed_to_direct_ratio"].as_f64().unwrap() > 0.0, "{r}");
}

/// 60 distinct delivery files of 3 events each, 3 under each of the days 2026/11/01 to 20.
async fn upload_days(client: &aws_sdk_s3::Client, bucket: &str) {
    client.create_bucket().bucket(bucket).send().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    for (f, file) in write_trail(local.path(), 60, 3).iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let key = format!(
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/{:02}/{name}",
            f % 20 + 1
        );
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(std::fs::read(file).unwrap().into())
            .send()
            .await
            .unwrap();
    }
}

/// The objects of a bucket are fetched while it is still being listed, not after: with one
/// request at a time the listing hands over at most its channel (one unit per request) and the
/// fetchers hold at most their slots (one request, two per worker) plus the unit waiting for one,
/// so the listing can go on only as objects are fetched. 60 objects under 20 day prefixes,
/// listed one prefix at a time: the last prefix is listed after 57 objects were handed over, far
/// more than the 8 that fit before a GetObject must have ended. Collecting the listing before
/// fetching would send every GetObject after the last ListObjectsV2.
#[tokio::test(flavor = "multi_thread")]
async fn objects_are_fetched_while_the_bucket_is_still_listed() {
    use policy_miner::bench::s3::relay::Relay;
    let Some(moto) = Moto::start() else { return };
    upload_days(&s3_client(&moto), "trail").await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stream.db");
    let args = ["--s3-concurrency", "1", "s3://trail/AWSLogs/"];
    let workers = [("RAYON_NUM_THREADS", "2")];

    let relay = Relay::start(moto_addr(&moto), std::time::Duration::ZERO, None)
        .await
        .unwrap();
    let out = observe_via_with(relay.endpoint(), &db, &args, &workers).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("60 read"), "{}", stderr(&out));
    let counts = relay.counts();
    assert_eq!(counts.max_in_flight, 1, "{counts:?}");
    let (Some(first_get), Some(last_list)) = (counts.first_get_object, counts.last_list) else {
        panic!("no GetObject or no listing: {counts:?}");
    };
    assert!(first_get < last_list, "{counts:?}");

    // Streamed units are checkpointed as listed ones were: none is fetched again.
    let relay = Relay::start(moto_addr(&moto), std::time::Duration::ZERO, None)
        .await
        .unwrap();
    let out = observe_via_with(relay.endpoint(), &db, &args, &workers).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("60 already observed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        relay.counts().first_get_object,
        None,
        "{:?}",
        relay.counts()
    );
}

/// A prefix that cannot be listed ends the listing midway: it is named with S3's error and what
/// to do, and the objects listed before it are read and counted, found and read alike. One
/// prefix listed at a time, the last found first: the days after the fifth come before it.
#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_fails_midway_is_named_and_what_it_listed_is_read() {
    use policy_miner::bench::s3::relay::{Fault, Relay};
    let Some(moto) = Moto::start() else { return };
    upload_days(&s3_client(&moto), "trail").await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("midway.db");
    // The listing of the fifth day (the prefix percent-encoded in ListObjectsV2's query).
    let fifth = Fault::SlowDownAlways("%2F2026%2F11%2F05%2F");
    let relay = Relay::start(moto_addr(&moto), std::time::Duration::ZERO, Some(fifth))
        .await
        .unwrap();
    let url = "s3://trail/AWSLogs/";
    let out = observe_via_with(
        relay.endpoint(),
        &db,
        &["--s3-concurrency", "1", url],
        &[("AWS_MAX_ATTEMPTS", "2")],
    )
    .await;
    let warnings = warnings_for(&out, url);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(
            "ListObjectsV2 on bucket trail under \"AWSLogs/111122223333/CloudTrail/eu-west-1/\
             2026/11/05/\" failed: SlowDown: Please reduce your request rate"
        ),
        "{warnings:?}"
    );
    assert!(relay.counts().faults >= 2, "{:?}", relay.counts());
    let err = stderr(&out);
    let count = summary_counts(&err);
    let read = count(" read");
    assert!(read > 0 && read < 60, "{err}");
    assert_eq!(count(" found"), read, "{err}");
    assert_eq!(count(" skipped"), 1, "{err}");
    let recorded = tokio::task::spawn_blocking(move || {
        db_rows(&db, "SELECT path FROM observed_files").len() as u64
    })
    .await
    .unwrap();
    assert_eq!(recorded, read);
}

/// Ctrl-C while the bucket is still listed stops the listing too: the run ends long before the
/// listing would have (20 day prefixes left at 100 ms a request, one at a time), what was
/// listed and not read is counted as not started, and the next run reads the rest.
#[tokio::test(flavor = "multi_thread")]
#[allow(unsafe_code)] // libc's kill: see the SAFETY below.
async fn ctrl_c_stops_the_listing_and_the_next_run_reads_the_rest() {
    use policy_miner::bench::s3::relay::Relay;
    let Some(moto) = Moto::start() else { return };
    upload_days(&s3_client(&moto), "trail").await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stopped.db");
    let url = "s3://trail/AWSLogs/";
    let slow = Relay::start(
        moto_addr(&moto),
        std::time::Duration::from_millis(100),
        None,
    )
    .await
    .unwrap();
    let mut cmd = bin();
    cmd.args(["observe", "--db", db.to_str().unwrap()])
        .args(["--s3-concurrency", "1", url])
        .env("AWS_ENDPOINT_URL", slow.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let waited = std::time::Instant::now();
    while slow.counts().first_get_object.is_none() {
        assert!(waited.elapsed().as_secs() < 60, "{:?}", slow.counts());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{text}");
    // The layout's six levels and the twenty days.
    let lists = slow.counts().last_list.unwrap();
    assert!(slow.counts().requests < 26 + 60, "{:?}", slow.counts());
    let files = summary_counts(&text);
    let not_started: u64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("interrupted: ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        files(" found") < 60,
        "listing not stopped ({lists}): {text}"
    );
    assert_eq!(files(" read") + not_started, files(" found"), "{text}");
    // What was never listed is in no count, and the summary says so.
    assert!(
        text.contains(&format!(
            "interrupted while listing {url}: objects not listed yet are not counted above"
        )),
        "{text}"
    );

    let relay = Relay::start(moto_addr(&moto), std::time::Duration::ZERO, None)
        .await
        .unwrap();
    let out = observe_via(relay.endpoint(), &db, &[url]).await;
    let text2 = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text2}");
    let again = summary_counts(&text2);
    assert_eq!(
        again(" already observed"),
        files(" read"),
        "{text}\n{text2}"
    );
    assert_eq!(again(" read"), 60 - files(" read"), "{text}\n{text2}");
    assert!(!text2.contains("interrupted"), "{text2}");
}

/// The counts of the summary's `files:` line, by what follows each (" read", " found"…).
fn summary_counts(stderr: &str) -> impl Fn(&str) -> u64 {
    let files = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("files: "))
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string();
    move |what: &str| {
        files
            .split(", ")
            .find_map(|part| part.strip_suffix(what)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{what}: {files}"))
    }
}
