//! `observe --listen-csm` with real SDK traffic: boto3 with client-side monitoring enabled calls a
//! moto server while the real binary listens; SIGTERM flushes and exits; `propose` grants what has
//! no resource and lists the rest as lacking resource evidence, never inventing a resource.

use crate::common::live::{free_udp_port, start_csm, Running};
use crate::common::moto::Moto;
use crate::common::*;
use sqlx::Row;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ROLE: &str = "arn:aws:iam::123456789012:role/app-task";

/// Starts the listener and waits until it says it listens.
fn start_listener(db: &Path, port: u16) -> Running {
    start_csm(db, port, ROLE, &["--flush-every", "60"])
}

/// SIGTERM, then the exit status, which must come within a few seconds.
fn terminate(listener: Running) -> std::process::ExitStatus {
    listener.terminate().0
}

const APP: &str = r#"
import boto3
ssm = boto3.client("ssm")
ssm.put_parameter(Name="/app/flag", Value="on", Type="String")
ssm.get_parameter(Name="/app/flag")
sqs = boto3.client("sqs")
url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="hello")
sqs.list_queues()
s3 = boto3.client("s3")
s3.create_bucket(Bucket="app-bucket")
s3.put_object(Bucket="app-bucket", Key="a.txt", Body=b"a")
s3.list_objects_v2(Bucket="app-bucket")
ddb = boto3.client("dynamodb")
ddb.create_table(TableName="items", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST")
ddb.get_item(TableName="items", Key={"id": {"S": "1"}})
sm = boto3.client("secretsmanager")
sm.create_secret(Name="app/token", SecretString="s3cr3t")
sm.get_secret_value(SecretId="app/token")
boto3.client("sts").get_caller_identity()
"#;

/// (action, resource or source, count) rows.
type Rows = Vec<(String, String, i64)>;

/// (action, resource, count) of the evidence, and (action, source, count) of its sources.
fn stored(db: &Path) -> (Rows, Rows) {
    let rows = |sql: &str| {
        db_rows(db, &sql.replace("ROLE", ROLE))
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect::<Vec<_>>()
    };
    (
        rows(
            "SELECT action, resource, count FROM evidence WHERE role_arn = 'ROLE' ORDER BY action",
        ),
        rows(
            "SELECT action, source, count FROM evidence_sources WHERE role_arn = 'ROLE'
             ORDER BY action",
        ),
    )
}

#[test]
fn boto3_calls_become_action_evidence_without_invented_resources() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let port = free_udp_port();
    let listener = start_listener(&db, port);

    let out = Command::new("python3")
        .args(["-c", APP])
        .envs(moto.env())
        .env("AWS_CSM_ENABLED", "true")
        .env("AWS_CSM_HOST", "127.0.0.1")
        .env("AWS_CSM_PORT", port.to_string())
        .env("AWS_CSM_CLIENT_ID", "app")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the boto3 app failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Datagrams are sent before each call returns; give the listener a moment to read the last.
    std::thread::sleep(Duration::from_millis(300));
    // With a 60 s flush interval, the evidence can only be there if SIGTERM flushed it.
    assert!(terminate(listener).success());

    let (evidence, sources) = stored(&db);
    let want = [
        "dynamodb:CreateTable",
        "dynamodb:GetItem",
        "s3:CreateBucket",
        "s3:ListBucket",
        "s3:PutObject",
        "secretsmanager:CreateSecret",
        "secretsmanager:GetSecretValue",
        "sqs:CreateQueue",
        "sqs:ListQueues",
        "sqs:SendMessage",
        "ssm:GetParameter",
        "ssm:PutParameter",
    ];
    let actions: Vec<&str> = evidence.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, want, "{evidence:?}");
    // A datagram names no resource: unknown, except for the actions that take none
    // (sqs:ListQueues), which are on "*" as from any other source.
    let catalog = policy_miner::catalog::embedded();
    assert!(
        evidence.iter().all(|(a, r, n)| {
            let takes = catalog.action(a).is_none_or(|a| a.takes_resources());
            *n == 1 && r == if takes { "?" } else { "*" }
        }),
        "{evidence:?}"
    );
    assert_eq!(sources.len(), want.len());
    assert!(sources.iter().all(|(_, s, n)| s == "csm" && *n == 1));

    // A restart adds to the same rows; garbage on the port is counted, not fatal.
    let listener = start_listener(&db, port);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let call = br#"{"Version":1,"ClientId":"x","Type":"ApiCall","Service":"SSM","Api":"GetParameter","Timestamp":1763800000000,"FinalHttpStatusCode":200}"#;
    let attempt = br#"{"Version":1,"Type":"ApiCallAttempt","Service":"SSM","Api":"GetParameter","HttpStatusCode":200}"#;
    for d in [
        &call[..],
        b"\xff\x00garbage",
        b"{\"Version\":1",
        &attempt[..],
        &call[..],
    ] {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(terminate(listener).success());
    let (evidence, sources) = stored(&db);
    let get = |rows: &[(String, String, i64)]| {
        rows.iter()
            .find(|(a, _, _)| a == "ssm:GetParameter")
            .map(|r| r.2)
    };
    assert_eq!(get(&evidence), Some(3));
    assert_eq!(get(&sources), Some(3));

    let p = proposal_json(db.to_str().unwrap());
    let role = p["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role_arn"] == ROLE)
        .expect("the role is proposed");
    let text = role["policy"].to_string();
    // sqs:ListQueues takes no resource: granted on "*". Everything else needs a resource that
    // SDK monitoring cannot see, so it is not granted at all.
    let grants: Vec<(&str, &str)> = role["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["action"].as_str().unwrap(),
                g["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(grants, [("sqs:ListQueues", "*")], "{text}");
    assert!(!text.contains('?'), "{text}");
    let lacking: Vec<&str> = role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "no-resource-evidence")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    // Each message starts with "<action>: ".
    let mut named: Vec<&str> = lacking
        .iter()
        .filter_map(|m| m.split_once(": ").map(|(a, _)| a))
        .collect();
    named.push("sqs:ListQueues");
    named.sort();
    assert_eq!(named, want, "{lacking:#?}");
    // The same, for programs: the action and the reason as a code.
    for f in role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "no-resource-evidence")
    {
        let action = f["action"].as_str().unwrap();
        assert!(f["message"].as_str().unwrap().starts_with(action), "{f}");
        assert_eq!(f["reason"], "parameters-not-read", "{f}");
        assert!(f.get("resource").is_none(), "not granted: {f}");
    }
    // sts:GetCallerIdentity needs no permission: listed, not granted.
    assert!(role["ungranted_calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["event_name"] == "GetCallerIdentity" && u["kind"] == "no_permission"));
}

/// The exit status of `cmd` if it exits within 10 s; a listener still running then is killed.
fn exit_within_10s(cmd: &mut Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (status.code(), stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (None, stderr(&out))
}

#[test]
fn live_sources_refuse_a_role_that_is_not_an_arn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    for flag in ["--listen-csm", "--proxy"] {
        for role in ["app-task", "arn:aws:iam::123456789012:user/app"] {
            let (code, err) = exit_within_10s(bin().args(["observe", "--db"]).arg(&db).args([
                flag,
                "127.0.0.1:0",
                "--role",
                role,
            ]));
            assert_eq!(code, Some(2), "{flag} --role {role}: {err}");
            assert!(err.contains("not an IAM role ARN"), "{err}");
            assert!(err.contains(role), "{err}");
        }
    }
    assert!(!db.exists());
}

#[test]
fn live_sources_need_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    for flag in ["--listen-csm", "--proxy"] {
        let out = bin()
            .args(["observe", "--db"])
            .arg(&db)
            .args([flag, "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{flag} needs --role")),
            "{}",
            stderr(&out)
        );
        let out = bin()
            .args(["observe", "--db"])
            .arg(&db)
            .args([flag, "127.0.0.1:0", "--family", "web"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--family web: no task definition"),
            "{}",
            stderr(&out)
        );
    }
    // The proxy's flags alone are a usage error, not silently ignored.
    let out = bin()
        .args(["observe", "--db"])
        .arg(&db)
        .args(["--ca-dir", "x", "trail/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// ECS takes a bare role name in a task definition; a live source cannot record under it (the
/// evidence would never meet CloudTrail's, keyed by the ARN with its path), so it says what to give.
#[test]
fn a_family_whose_task_definition_names_its_role_without_an_arn_needs_role() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let defs = dir.path().join("web.json");
    std::fs::write(
        &defs,
        r#"{"family": "web", "taskRoleArn": "web-task",
            "containerDefinitions": [{"name": "app", "image": "nginx"}]}"#,
    )
    .unwrap();
    let out = bin()
        .args(["observe", "--quiet", "--db"])
        .arg(&db)
        .arg("--task-definitions")
        .arg(&defs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for flag in ["--listen-csm", "--proxy"] {
        let (code, err) = exit_within_10s(bin().args(["observe", "--db"]).arg(&db).args([
            flag,
            "127.0.0.1:0",
            "--family",
            "web",
        ]));
        assert_eq!(code, Some(1), "{flag}: {err}");
        assert!(err.contains("`web-task`"), "{err}");
        assert!(err.contains("give --role"), "{err}");
    }
}

/// One SDK monitoring datagram of a successful `ssm:GetParameter`.
fn get_parameter_datagram() -> String {
    r#"{"Version":1,"Type":"ApiCall","ClientId":"app","Service":"SSM","Api":"GetParameter",
        "Region":"us-east-1","Timestamp":1764400000000,"AttemptCount":1,"Latency":5,
        "FinalHttpStatusCode":200}"#
        .replace('\n', "")
}

/// A listener writing every second to a database another connection holds locked, and that
/// lock: what the live sources meet when another process writes the same file.
struct LockedDb {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    port: u16,
    listener: Running,
    runtime: tokio::runtime::Runtime,
    lock: Option<sqlx::SqliteConnection>,
}

impl LockedDb {
    fn start(extra: &[&str]) -> LockedDb {
        use sqlx::{ConnectOptions, Executor};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let port = free_udp_port();
        let mut flags = vec!["--flush-every", "1"];
        flags.extend_from_slice(extra);
        let listener = start_csm(&db, port, ROLE, &flags);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut lock = runtime
            .block_on(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&db)
                    .connect(),
            )
            .unwrap();
        runtime.block_on(lock.execute("BEGIN EXCLUSIVE")).unwrap();
        LockedDb {
            _dir: dir,
            db,
            port,
            listener,
            runtime,
            lock: Some(lock),
        }
    }

    fn unlock(&mut self) {
        use sqlx::Executor;
        if let Some(mut lock) = self.lock.take() {
            self.runtime.block_on(lock.execute("COMMIT")).unwrap();
        }
    }

    /// SIGTERM; then the (action, resource, count) evidence, which must be `calls` of
    /// ssm:GetParameter on an unknown resource.
    fn stop_and_expect(self, calls: i64) {
        let (status, rest) = self.listener.terminate();
        assert!(status.success(), "{rest}");
        let (evidence, _) = stored(&self.db);
        assert_eq!(
            evidence,
            [("ssm:GetParameter".to_string(), "?".to_string(), calls)],
            "{rest}"
        );
    }
}

/// While the database cannot be written, calls stay in memory (and go on being read); once it
/// can, they are all written: none is lost, none counted twice.
#[test]
fn calls_received_while_the_database_is_locked_are_written_once_it_is_free() {
    let mut locked = LockedDb::start(&["--lock-timeout", "0"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |n: usize| {
        for _ in 0..n {
            socket
                .send_to(
                    get_parameter_datagram().as_bytes(),
                    ("127.0.0.1", locked.port),
                )
                .unwrap();
            // UDP on loopback still drops what a full socket buffer cannot hold.
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    send(40);
    // Several flushes fail meanwhile.
    std::thread::sleep(Duration::from_millis(2500));
    send(25);
    let warned = locked
        .listener
        .stderr
        .try_iter()
        .any(|line| line.contains("kept in memory and written later"));
    assert!(warned, "no write failed while the database was locked");
    locked.unlock();
    std::thread::sleep(Duration::from_millis(1500));
    locked.stop_and_expect(65);
}

/// A write that waits for the database (another process holds it) must not stop the listener
/// from reading datagrams: the socket's buffer would overflow and calls would be lost.
#[test]
fn calls_keep_being_read_while_a_write_waits_for_the_database() {
    let mut locked = LockedDb::start(&[]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = get_parameter_datagram();
    // Spread over ~3 s, so that writes start (and wait) meanwhile; far more than a socket
    // buffer holds.
    let sent = 3000;
    for i in 0..sent {
        socket
            .send_to(datagram.as_bytes(), ("127.0.0.1", locked.port))
            .unwrap();
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    locked.unlock();
    locked.stop_and_expect(sent);
}

/// Issue 13: whoever can reach the port can send `"Timestamp": 0` (1970) or a time years ahead;
/// either would open the evidence-age gate of `tighten`. The call is recorded, at its arrival
/// time; the summary says how many timestamps were refused.
#[test]
fn a_forged_timestamp_gives_way_to_the_arrival_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let port = free_udp_port();
    let listener = start_listener(&db, port);
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let honest = get_parameter_datagram();
    for ts in ["0", "4102444800000"] {
        let forged = honest.replace("1764400000000", ts);
        socket
            .send_to(forged.as_bytes(), ("127.0.0.1", port))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, said) = listener.terminate();
    assert!(status.success(), "{said}");
    let after = chrono::Utc::now() + chrono::TimeDelta::seconds(5);
    assert!(said.contains("2 call(s) carried a Timestamp"), "{said}");

    let rows = db_rows(
        &db,
        "SELECT count, first_seen, last_seen FROM evidence WHERE action = 'ssm:GetParameter'",
    );
    assert_eq!(rows.len(), 1);
    let count: i64 = rows[0].get(0);
    assert_eq!(count, 2, "the calls are still counted");
    for col in [1, 2] {
        let text: String = rows[0].get(col);
        let t = chrono::DateTime::parse_from_rfc3339(&text).unwrap();
        assert!(before <= t && t <= after, "{text} is not the arrival time");
    }
}
