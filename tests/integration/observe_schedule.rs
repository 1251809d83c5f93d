//! Issue 4, scheduling: a run stopped by SIGKILL or Ctrl-C is finished by the next one with the
//! evidence of one clean run; `--since`/`--until` filter events and skip whole delivery days.
//! Also a smoke run of `bench`. All against the real binary on generated gzipped trails.

use crate::common::*;
use policy_miner::bench::generate::{generate, Generated, TrailSpec};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Files committed so far, read without disturbing the writer (0 before the schema exists).
fn committed_files(db: &Path) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    runtime().block_on(async {
        let Ok(mut conn) = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
        else {
            return 0;
        };
        let n = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM observed_files")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0);
        let _ = conn.close().await;
        n
    })
}

/// The evidence, as comparable rows ([`evidence_lines`]).
fn evidence(db: &Path) -> Vec<String> {
    runtime().block_on(evidence_lines(db))
}

fn observe_cmd(db: &Path, trail: &Generated) -> Command {
    let mut cmd = bin();
    cmd.arg("observe")
        .arg("--db")
        .arg(db)
        .arg("--task-definitions")
        .arg(&trail.task_definitions)
        .arg(&trail.trail)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn clean_run(dir: &Path, trail: &Generated) -> Vec<String> {
    let db = dir.join("clean.db");
    let out = observe_cmd(&db, trail).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(committed_files(&db), trail.files as i64);
    evidence(&db)
}

/// Starts observe and waits until its first batch of files is committed (and not all of them).
fn start_and_wait_for_a_commit(db: &Path, trail: &Generated) -> Child {
    let mut child = observe_cmd(db, trail).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if committed_files(db) > 0 {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("observe ended ({status}) before it was stopped: the trail is too small");
        }
        assert!(Instant::now() < deadline, "no commit in two minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn trail(dir: &Path, files: u64, per_file: u64) -> Generated {
    generate(
        dir,
        &TrailSpec {
            events: files * per_file,
            events_per_file: per_file,
            seed: 42,
        },
    )
    .unwrap()
}

#[test]
fn a_run_killed_with_sigkill_is_finished_by_the_next_with_the_evidence_of_one_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 400, 120);
    let want = clean_run(dir.path(), &trail);
    assert!(want.len() > 100);

    let db = dir.path().join("killed.db");
    let mut child = start_and_wait_for_a_commit(&db, &trail);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal, not finished");
    let partial = committed_files(&db);
    assert!(
        partial > 0 && partial < trail.files as i64,
        "{partial} of {} files committed when killed",
        trail.files
    );

    let out = observe_cmd(&db, &trail).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stderr(&out);
    assert!(
        summary.contains(&format!("{partial} already observed")),
        "{summary}"
    );
    assert_eq!(committed_files(&db), trail.files as i64);
    assert_eq!(evidence(&db), want);
}

#[test]
#[allow(unsafe_code)] // libc's kill: see the SAFETY below.
fn ctrl_c_stops_at_a_file_boundary_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 400, 120);
    let want = clean_run(dir.path(), &trail);

    let db = dir.path().join("interrupted.db");
    let child = start_and_wait_for_a_commit(&db, &trail);
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(text.contains("interrupted:"), "{text}");
    let committed = committed_files(&db);
    assert!(
        committed < trail.files as i64,
        "{committed} files: not interrupted"
    );
    // What the summary reports read is exactly what was committed.
    assert!(
        text.contains(&format!("{committed} read")),
        "summary does not match the {committed} committed files: {text}"
    );

    let out = observe_cmd(&db, &trail).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(evidence(&db), want);
}

/// (delivery path, event time) of every event of a generated trail, read independently of the tool.
fn event_times(trail: &Generated) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in walk(&trail.trail) {
        let gz = std::fs::read(&path).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for e in doc["Records"].as_array().unwrap() {
            out.push((
                path.display().to_string(),
                e["eventTime"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn last_run_summary(db: &Path) -> serde_json::Value {
    use sqlx::Row;
    let rows = db_rows(db, "SELECT summary FROM runs ORDER BY id DESC LIMIT 1");
    serde_json::from_str(&rows[0].get::<String, _>(0)).unwrap()
}

#[test]
fn since_and_until_filter_events_and_skip_delivery_days() {
    let dir = tempfile::tempdir().unwrap();
    // 700 files of 5 minutes, two regions: from 2026-11-02T00:00Z to past 2026-11-03T05:00Z.
    let trail = trail(dir.path(), 700, 6);
    assert_eq!(trail.days, ["2026/11/02", "2026/11/03"]);
    let times = event_times(&trail);
    let files_on_02 = walk(&trail.trail)
        .iter()
        .filter(|p| p.to_string_lossy().contains("/2026/11/02/"))
        .count() as u64;
    assert!(files_on_02 > 0 && files_on_02 < trail.files);

    // --since on the second day: the first day's files are skipped unread.
    let since = "2026-11-03T01:00:00Z";
    let db = dir.path().join("since.db");
    let out = observe_cmd(&db, &trail)
        .args(["--since", since])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = last_run_summary(&db);
    assert_eq!(s["files"]["outside_window"], files_on_02);
    assert_eq!(s["files"]["read"], trail.files - files_on_02);
    let read_events = (trail.files - files_on_02) * 6;
    // Files delivered on the 3rd hold records of the 2nd's last minutes too.
    let outside = times
        .iter()
        .filter(|(path, t)| path.contains("/2026/11/03/") && t.as_str() < since)
        .count() as u64;
    assert_eq!(s["events"]["read"], read_events);
    assert_eq!(s["events"]["outside_window"], outside);
    assert!(stderr(&out).contains(&format!("not read: {files_on_02}")));
    for row in evidence(&db) {
        // Evidence and ungranted rows alike: first and last seen are the 7th and 8th fields.
        let first_seen = row.split('|').nth(6).unwrap();
        assert!(first_seen >= since, "{row}");
    }

    // --until (relative forms are parsed too, but a fixed time keeps the test exact).
    let until = "2026-11-02T06:00:00Z";
    let db = dir.path().join("until.db");
    let out = observe_cmd(&db, &trail)
        .args(["--until", until])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = last_run_summary(&db);
    // Files delivered the next day may hold late records: read, never skipped.
    assert_eq!(s["files"]["outside_window"], 0);
    let inside = times.iter().filter(|(_, t)| t.as_str() < until).count() as u64;
    assert_eq!(s["events"]["outside_window"], times.len() as u64 - inside);
    for row in evidence(&db) {
        let last_seen = row.split('|').nth(7).unwrap();
        assert!(last_seen < until, "{row}");
    }

    let bad = observe_cmd(&db, &trail)
        .args(["--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--since"), "{}", stderr(&bad));
    let relative = observe_cmd(&dir.path().join("rel.db"), &trail)
        .args(["--since", "1d", "--quiet"])
        .output()
        .unwrap();
    // The trail is from 2026-11-02: with "since one day ago" every day is before the window
    // (unless this test runs then), and nothing is read.
    assert_eq!(relative.status.code(), Some(0), "{}", stderr(&relative));
}

#[test]
fn bench_reports_every_figure_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "--events",
        "3000",
        "--events-per-file",
        "1000",
        "--rounds",
        "2",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["events"], 3000);
    assert_eq!(r["files"], 3);
    // The floors and observe were timed twice: each round's ratio is there.
    assert_eq!(r["rounds"], 2, "{r}");
    let by_round = r["observe_to_skeleton_parse_ratio_by_round"]
        .as_array()
        .unwrap();
    assert_eq!(by_round.len(), 2, "{r}");
    assert!(by_round.iter().all(|x| x.as_f64().unwrap() > 0.0), "{r}");
    for key in [
        "decompress_seconds",
        "skeleton_parse_seconds",
        "observe_to_skeleton_parse_ratio",
        "read_events_seconds",
        "fold_seconds",
        "observe_seconds",
        "observe_events_per_second",
        "observe_uncompressed_mb_per_second",
        "observe_to_decompress_ratio",
        "propose_seconds",
    ] {
        assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r}");
    }
    // The generated fleet's task and execution roles all get a proposal.
    assert!(r["proposed_roles"].as_u64().unwrap() >= 10, "{r}");
    assert!(
        r["observe_peak_rss_bytes"].as_u64().unwrap() > 1_000_000,
        "{r}"
    );
    // The trail stays in --dir and is reused by the next run.
    assert!(dir.path().join("trail/AWSLogs").is_dir());
    let again = run(&[
        "bench",
        "--events",
        "3000",
        "--events-per-file",
        "1000",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert!(r["generation_seconds"].is_null(), "{r}");
    assert_eq!(r["rounds"], 3, "three rounds unless told: {r}");

    let none = run(&["bench", "--rounds", "0"]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    assert!(stderr(&none).contains("--rounds"), "{}", stderr(&none));
    // The other benches time once: asking them for rounds is refused, not ignored.
    let elsewhere = run(&["bench", "--drift", "--rounds", "2"]);
    assert_eq!(elsewhere.status.code(), Some(2), "{}", stderr(&elsewhere));
    assert!(
        stderr(&elsewhere).contains("--rounds"),
        "{}",
        stderr(&elsewhere)
    );
}

#[test]
fn the_evidence_does_not_depend_on_the_order_files_are_read_in() {
    // Every column, example event and rule included: one thread reading the files in order, and
    // two threads reading them named one by one in reverse, meet the events in other orders.
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 160, 150);
    let sequential = dir.path().join("sequential.db");
    let out = observe_cmd(&sequential, &trail)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let reversed = dir.path().join("reversed.db");
    let mut files = walk(&trail.trail);
    files.reverse();
    let out = bin()
        .arg("observe")
        .arg("--quiet")
        .arg("--db")
        .arg(&reversed)
        .arg("--task-definitions")
        .arg(&trail.task_definitions)
        .args(&files)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (a, b) = (evidence(&sequential), evidence(&reversed));
    assert!(a.len() > 1000, "{} rows", a.len());
    assert_eq!(a, b);
}

/// A schedule that reads the same files under several windows (catching up, widening
/// `--until`) counts every event exactly once: the files partly counted keep what they counted,
/// and the end result is the evidence of one plain run.
#[test]
fn windows_read_one_after_another_count_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 60, 20);
    let clean = clean_run(dir.path(), &trail);
    let events: Vec<(String, String)> = event_times(&trail)
        .into_iter()
        .map(|(path, t)| (path, format!("{}Z", &t[..19])))
        .collect();
    let mut by_time: Vec<&(String, String)> = events.iter().collect();
    by_time.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    // A bound from about `fraction` twelfths into the trail that cuts a file in two.
    let at = |fraction: usize| {
        (by_time.len() * fraction / 12..by_time.len())
            .find(|&k| by_time[k - 1].0 == by_time[k].0 && by_time[k - 1].1 < by_time[k].1)
            .map(|k| by_time[k].1.clone())
            .unwrap()
    };
    let (t3, t4, t8) = (at(3), at(4), at(8));
    let db = dir.path().join("windows.db");
    let observe = |args: &[&str]| {
        let out = observe_cmd(&db, &trail).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        last_run_summary(&db)
    };
    // Events a run skips as counted before: those in `counted` of the files it reads again,
    // the files that held events outside every window counted so far.
    let counted_before = |windows: &[(&str, &str)], read: (&str, &str)| {
        let inside = |t: &str, w: &[(&str, &str)]| w.iter().any(|(a, b)| t >= *a && t < *b);
        let partly: std::collections::BTreeSet<&String> = events
            .iter()
            .filter(|(_, t)| !inside(t, windows))
            .map(|(path, _)| path)
            .collect();
        events
            .iter()
            .filter(|(path, t)| partly.contains(path) && inside(t, windows) && inside(t, &[read]))
            .count() as u64
    };
    let counted_again = |s: &serde_json::Value| {
        s["events"]["counted_before"]
            .as_u64()
            .unwrap_or_else(|| panic!("{s}"))
    };
    const START: &str = "0000";
    const END: &str = "9999";

    let first = observe(&["--until", &t4]);
    assert!(first["events"]["outside_window"].as_u64().unwrap() > 0);
    // Overlapping the first window: what the first run counted is not counted again.
    let second = observe(&["--since", &t3, "--until", &t8]);
    let want = counted_before(&[(START, &t4)], (&t3, &t8));
    assert!(want > 0, "the windows overlap in some file");
    assert_eq!(counted_again(&second), want);
    // A window already counted whole: nothing to read.
    let again = observe(&["--since", &t3, "--until", &t4]);
    assert_eq!(again["files"]["read"], 0, "{again}");
    let last = observe(&[]);
    assert_eq!(
        counted_again(&last),
        counted_before(&[(START, &t4), (&t3, &t8)], (START, END))
    );
    assert_eq!(evidence(&db), clean);
    // Now every file is counted whole.
    let after = observe(&[]);
    assert_eq!(after["files"]["read"], 0, "{after}");
    assert_eq!(after["files"]["already_observed"], trail.files);
    assert_eq!(evidence(&db), clean);
}
