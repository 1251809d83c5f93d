//! Whether a proposal survives next week: a fleet of eleven workloads — eight whose resource names
//! follow the clock and ids (Hive partitions, dated log streams, monthly and daily tables,
//! yesterday's export, epoch snapshots, upload ids, per-job queues) and three whose names never
//! change — over four weeks that cross a month boundary. The proposal is mined from the first three weeks and replayed
//! against the fourth week's calls, which must all be allowed, and against near misses —
//! another prefix, bucket, log group, table, queue, parameter — which must all be denied.
//!
//! `policy-miner bench --drift` prints the two shares; `tests/integration/drift.rs` requires both
//! to be whole. The trail is real CloudTrail JSON, observed and proposed by this binary.

use super::generate::Rng;
use super::BenchError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
/// Three weeks of history, then the week the proposal must survive: 2026-10-10 to 2026-10-30,
/// and 2026-10-31 to 2026-11-06, across the first of November.
pub const HISTORY_DAYS: i64 = 21;
pub const NEXT_DAYS: i64 = 7;

pub fn start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 10, 10)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// The three trails: what the proposal is mined from, the week after, and the near misses.
#[derive(Debug, Default)]
pub struct Trails {
    pub history: Vec<Value>,
    pub next_week: Vec<Value>,
    pub near_misses: Vec<Value>,
}

struct Gen {
    rng: Rng,
    out: Vec<Value>,
}

impl Gen {
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.rng.below(16) as usize]))
            .collect()
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(4),
            self.hex(12)
        )
    }

    fn ulid(&mut self) -> String {
        const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut s = String::from("01J");
        for _ in 0..23 {
            s.push(char::from(CROCKFORD[self.rng.below(32) as usize]));
        }
        s
    }

    fn call(&mut self, t: DateTime<Utc>, role: &str, service: &str, name: &str, params: Value) {
        let id = self.uuid();
        let session = self.hex(32);
        self.out.push(json!({
            "eventVersion": "1.09",
            "eventID": id,
            "eventTime": t.to_rfc3339_opts(SecondsFormat::Secs, true),
            "eventSource": format!("{service}.amazonaws.com"),
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": "10.0.12.7",
            "userAgent": "aws-sdk-go-v2/1.30.0",
            "recipientAccountId": ACCOUNT,
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": format!("AROA{}:{session}", role.to_uppercase().replace('-', "")),
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
                "accountId": ACCOUNT,
                "sessionContext": {"sessionIssuer": {
                    "type": "Role", "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                    "accountId": ACCOUNT, "userName": role}}
            },
            "requestParameters": params,
        }));
    }

    fn put_object(&mut self, t: DateTime<Utc>, role: &str, bucket: &str, key: &str) {
        let params = json!({"bucketName": bucket, "key": key});
        self.call(t, role, "s3", "PutObject", params);
    }

    fn get_object(&mut self, t: DateTime<Utc>, role: &str, bucket: &str, key: &str) {
        let params = json!({"bucketName": bucket, "key": key});
        self.call(t, role, "s3", "GetObject", params);
    }

    fn log_stream(&mut self, t: DateTime<Utc>, role: &str, group: &str, stream: &str) {
        let params = json!({"logGroupName": group, "logStreamName": stream});
        self.call(t, role, "logs", "CreateLogStream", params);
    }

    fn put_item(&mut self, t: DateTime<Utc>, role: &str, table: &str) {
        let params = json!({"tableName": table, "key": {"id": {"S": "x"}}});
        self.call(t, role, "dynamodb", "PutItem", params);
    }

    fn queue(&mut self, t: DateTime<Utc>, role: &str, name: &str, queue: &str) {
        let url = format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}");
        self.call(t, role, "sqs", name, json!({"queueUrl": url}));
    }

    fn parameter(&mut self, t: DateTime<Utc>, role: &str, name: &str) {
        let params = json!({"name": name, "withDecryption": true});
        self.call(t, role, "ssm", "GetParameter", params);
    }

    /// Day `d`'s calls of every workload.
    fn day(&mut self, d: DateTime<Utc>) {
        let ymd = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        for h in [0, 6, 12, 18] {
            let t = d + Duration::hours(h) + Duration::minutes(3);
            let key = format!(
                "raw/events/year={}/month={:02}/day={:02}/hour={:02}/{}.json.gz",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                self.uuid()
            );
            self.put_object(t, "events-writer", "acme-lake", &key);
            let snapshot = format!("snapshots/{}/state.json", t.timestamp());
            self.put_object(t, "snapshotter", "acme-state", &snapshot);
        }
        for w in 0..2 {
            let t = d + Duration::minutes(5 + w);
            let stream = format!("{}/worker-{}", t.format("%Y/%m/%d"), self.hex(8));
            self.log_stream(t, "log-shipper", "/app/ingest", &stream);
        }
        for m in 0..3 {
            let t = d + Duration::hours(2 + 7 * m);
            self.put_item(
                t,
                "metrics-writer",
                &format!("metrics_{}", t.format("%Y_%m")),
            );
            self.put_item(
                t,
                "session-store",
                &format!("sessions_{}", t.format("%Y%m%d")),
            );
            let upload = format!("uploads/{}/original.jpg", self.uuid());
            self.put_object(t, "uploader", "acme-uploads", &upload);
        }
        let t = d + Duration::hours(1);
        let yesterday = ymd(d - Duration::days(1));
        let report = format!("exports/daily/{yesterday}/summary.csv");
        self.get_object(t, "daily-report", "acme-reports", &report);
        self.get_object(
            t,
            "config-reader",
            "acme-config",
            "config/2019-defaults.json",
        );
        self.queue(t, "job-worker", "ReceiveMessage", "jobs");
        self.queue(t, "job-worker", "DeleteMessage", "jobs");
        let batch = format!("batch-{}", self.ulid());
        self.queue(t, "batch-submitter", "SendMessage", &batch);
        self.parameter(t, "secrets-reader", "/svc/prod/db-password");
    }

    /// Calls one step away from what each workload does: each must be denied.
    fn near_misses(&mut self, t: DateTime<Utc>) {
        let hive = |prefix: &str| {
            format!(
                "{prefix}/year={}/month={:02}/day={:02}/hour=00/0b7c3c52-1b0e-4c4e-9d7e-3f1a2b3c4d5e.json.gz",
                t.year(),
                t.month(),
                t.day()
            )
        };
        self.put_object(t, "events-writer", "acme-lake", &hive("raw/audit"));
        self.put_object(t, "events-writer", "acme-lake-private", &hive("raw/events"));
        let stream = format!("{}/worker-0a1b2c3d", t.format("%Y/%m/%d"));
        self.log_stream(t, "log-shipper", "/app/billing", &stream);
        self.put_item(t, "metrics-writer", "metrics_users");
        self.put_item(t, "metrics-writer", &format!("audit_{}", t.format("%Y_%m")));
        self.put_item(t, "session-store", "sessions_archive");
        let private = "private/0b7c3c52-1b0e-4c4e-9d7e-3f1a2b3c4d5e/original.jpg";
        self.put_object(t, "uploader", "acme-uploads", private);
        let backup = format!("backups/{}/state.json", t.timestamp());
        self.put_object(t, "snapshotter", "acme-state", &backup);
        let weekly = format!("exports/weekly/{}/summary.csv", t.format("%Y-%m-%d"));
        self.get_object(t, "daily-report", "acme-reports", &weekly);
        self.get_object(
            t,
            "config-reader",
            "acme-config",
            "config/2020-defaults.json",
        );
        self.queue(t, "job-worker", "ReceiveMessage", "jobs-dlq");
        self.queue(
            t,
            "batch-submitter",
            "SendMessage",
            "billing-01J0000000000000000000000",
        );
        self.parameter(t, "secrets-reader", "/svc/prod/api-key");
    }
}

/// The fleet's three trails, the same for the same seed.
pub fn generate(seed: u64) -> Trails {
    let mut gen = Gen {
        rng: Rng::new(seed),
        out: Vec::new(),
    };
    for d in 0..HISTORY_DAYS {
        gen.day(start() + Duration::days(d));
    }
    let history = std::mem::take(&mut gen.out);
    for d in HISTORY_DAYS..HISTORY_DAYS + NEXT_DAYS {
        gen.day(start() + Duration::days(d));
    }
    let next_week = std::mem::take(&mut gen.out);
    gen.near_misses(start() + Duration::days(HISTORY_DAYS + 3) + Duration::hours(9));
    Trails {
        history,
        next_week,
        near_misses: gen.out,
    }
}

/// What the proposal mined from the history did with the next week and the near misses.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub history_events: usize,
    pub roles: usize,
    /// Successful calls of the next week, and how many the proposal allows.
    pub next_week_calls: i64,
    pub next_week_allowed: i64,
    /// Near-miss calls, and how many the proposal denies.
    pub near_misses: i64,
    pub near_misses_denied: i64,
    /// `action on resource` of each next-week call denied, and of each near miss allowed.
    pub denied_next_week: Vec<String>,
    pub allowed_near_misses: Vec<String>,
}

impl Report {}

/// Writes the trails into `dir`, observes and proposes with `binary` (this program), and replays
/// the next week and the near misses against the proposal with `verify --policy`.
pub fn run(binary: &Path, dir: &Path, seed: u64) -> Result<Report, BenchError> {
    let trails = generate(seed);
    let write = |name: &str, events: &[Value]| -> Result<std::path::PathBuf, BenchError> {
        let path = dir.join(name);
        std::fs::write(&path, json!({ "Records": events }).to_string())?;
        Ok(path)
    };
    let observe = |trail: &Path, db: &Path| -> Result<(), BenchError> {
        let _ = std::fs::remove_file(db);
        let out = Command::new(binary)
            .arg("--db")
            .arg(db)
            .args(["observe", "--quiet"])
            .arg(trail)
            .output()?;
        ensure!(
            out.status.success(),
            "observe {} failed: {}",
            trail.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let history_db = dir.join("history.db");
    observe(&write("history.json", &trails.history)?, &history_db)?;
    let proposal = Command::new(binary)
        .arg("--db")
        .arg(&history_db)
        .args(["propose", "--format", "iam"])
        .output()?;
    ensure!(
        proposal.status.success(),
        "propose failed: {}",
        String::from_utf8_lossy(&proposal.stderr)
    );
    let policies = dir.join("policies.json");
    std::fs::write(&policies, &proposal.stdout)?;
    let roles = serde_json::from_slice::<serde_json::Map<String, Value>>(&proposal.stdout)?.len();

    let replay = |name: &str, events: &[Value]| -> Result<(i64, Vec<(String, i64)>), BenchError> {
        let db = dir.join(format!("{name}.db"));
        observe(&write(&format!("{name}.json"), events)?, &db)?;
        let out = Command::new(binary)
            .arg("--db")
            .arg(&db)
            .args(["verify", "--format", "json", "--policy"])
            .arg(&policies)
            .output()?;
        let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            BenchError::Failed(format!(
                "verify printed no report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
        let roles = report["roles"].as_array().cloned().unwrap_or_default();
        let calls = roles.iter().filter_map(|r| r["calls"].as_i64()).sum();
        let uncovered = roles
            .iter()
            .flat_map(|r| r["uncovered"].as_array().cloned().unwrap_or_default())
            .map(|u| {
                let what = format!(
                    "{} on {}",
                    u["action"].as_str().unwrap_or_default(),
                    u["resource"].as_str().unwrap_or_default()
                );
                (what, u["count"].as_i64().unwrap_or(0))
            })
            .collect();
        Ok((calls, uncovered))
    };
    let (next_week_calls, denied) = replay("next-week", &trails.next_week)?;
    let (near_misses, near_denied) = replay("near-misses", &trails.near_misses)?;
    let denied_count: i64 = denied.iter().map(|(_, n)| n).sum();
    let near_denied_count: i64 = near_denied.iter().map(|(_, n)| n).sum();
    // Every near miss is its own call record: those verify did not list were allowed.
    let denied_names: std::collections::BTreeSet<&str> =
        near_denied.iter().map(|(w, _)| w.as_str()).collect();
    let allowed_near_misses = near_miss_names(&trails.near_misses)
        .into_iter()
        .filter(|n| !denied_names.iter().any(|d| d.ends_with(n.as_str())))
        .collect();
    Ok(Report {
        history_events: trails.history.len(),
        roles,
        next_week_calls,
        next_week_allowed: next_week_calls - denied_count,
        near_misses,
        near_misses_denied: near_denied_count,
        denied_next_week: denied.into_iter().map(|(w, _)| w).collect(),
        allowed_near_misses,
    })
}

/// How each near miss ends its resource ARN (`bucket/key`, or the stream, table, queue or
/// parameter name), to tell which ones a proposal let through.
fn near_miss_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let p = &e["requestParameters"];
            if let (Some(bucket), Some(key)) = (p["bucketName"].as_str(), p["key"].as_str()) {
                return format!("{bucket}/{key}");
            }
            ["logStreamName", "tableName", "queueUrl", "name"]
                .iter()
                .find_map(|k| p[*k].as_str())
                .map(|v| match v.strip_prefix("https://") {
                    Some(url) => url.rsplit('/').next().unwrap_or(url).to_string(),
                    None => v.to_string(),
                })
                .unwrap_or_default()
        })
        .collect()
}
