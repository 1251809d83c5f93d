//! `observe --proxy` with real SDK traffic: boto3 calls a moto server through the real binary,
//! over plain HTTP and over HTTPS (CONNECT, decrypted with the proxy's CA and re-encrypted to a
//! moto serving TLS). The evidence must be exactly the calls made, with their resources; the
//! responses must reach boto3 unchanged; nothing secret may reach the database; SIGTERM flushes;
//! a restart adds to the same rows; and propose merges proxy, SDK-monitoring and CloudTrail
//! evidence into one policy per role.

use crate::common::live::{free_udp_port, start_csm, Running};
use crate::common::moto::Moto;
use crate::common::*;
use sqlx::Row;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/app-task";

/// Credentials and payloads the database must never contain.
const SECRETS: &[&str] = &[
    "AKIDPROXYTEST",
    "SECRETPROXYTEST",
    "PROXYBODY",
    "Signature=",
    "AWS4-HMAC-SHA256",
];

const APP: &str = r#"
import boto3, os, sys, urllib.request
from botocore.config import Config
proxy = os.environ["PROXY"]
kw = dict(config=Config(proxies={"http": proxy, "https": proxy}), region_name="us-east-1")
if os.environ.get("VERIFY"):
    kw["verify"] = os.environ["VERIFY"]
ssm = boto3.client("ssm", **kw)
ssm.put_parameter(Name="/app/flag", Value="value-PROXYBODY", Type="String")
assert ssm.get_parameter(Name="/app/flag")["Parameter"]["Value"] == "value-PROXYBODY"
try:
    ssm.get_parameter(Name="/app/missing")
    sys.exit("GetParameter of a missing parameter succeeded")
except ssm.exceptions.ParameterNotFound:
    pass
sqs = boto3.client("sqs", **kw)
url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="msg-PROXYBODY")
assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "msg-PROXYBODY"
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="app-bucket")
s3.put_object(Bucket="app-bucket", Key="dir/a.txt", Body=b"object-PROXYBODY")
assert s3.get_object(Bucket="app-bucket", Key="dir/a.txt")["Body"].read() == b"object-PROXYBODY"
assert s3.head_object(Bucket="app-bucket", Key="dir/a.txt")["ContentLength"] == 16
s3.copy_object(Bucket="app-bucket", Key="dir/b.txt",
    CopySource={"Bucket": "app-bucket", "Key": "dir/a.txt"})
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="app-bucket")["Contents"]]
assert keys == ["dir/a.txt", "dir/b.txt"], keys
s3.delete_objects(Bucket="app-bucket", Delete={"Objects": [{"Key": "dir/b.txt"}]})
ddb = boto3.client("dynamodb", **kw)
ddb.create_table(TableName="items", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST")
ddb.put_item(TableName="items", Item={"id": {"S": "1"}, "v": {"S": "item-PROXYBODY"}})
assert ddb.get_item(TableName="items", Key={"id": {"S": "1"}})["Item"]["v"]["S"] == "item-PROXYBODY"
sm = boto3.client("secretsmanager", **kw)
sm.create_secret(Name="app/token", SecretString="secret-PROXYBODY")
assert sm.get_secret_value(SecretId="app/token")["SecretString"] == "secret-PROXYBODY"
boto3.client("sts", **kw).get_caller_identity()
if not os.environ.get("VERIFY"):
    # Not an AWS call (unsigned): forwarded, never recorded.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    assert opener.open(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json").status == 200
print("calls made")
"#;

/// (action, resource, error code, count) the app's calls must leave, nothing more.
fn expected() -> Vec<(String, String, String, i64)> {
    let rows: &[(&str, &str, &str, i64)] = &[
        (
            "dynamodb:CreateTable",
            "arn:aws:dynamodb:us-east-1:123456789012:table/items",
            "",
            1,
        ),
        (
            "dynamodb:GetItem",
            "arn:aws:dynamodb:us-east-1:123456789012:table/items",
            "",
            1,
        ),
        (
            "dynamodb:PutItem",
            "arn:aws:dynamodb:us-east-1:123456789012:table/items",
            "",
            1,
        ),
        ("s3:CreateBucket", "arn:aws:s3:::app-bucket", "", 1),
        (
            "s3:DeleteObject",
            "arn:aws:s3:::app-bucket/dir/b.txt",
            "",
            1,
        ),
        // GetObject, HeadObject, and CopyObject's source.
        ("s3:GetObject", "arn:aws:s3:::app-bucket/dir/a.txt", "", 3),
        ("s3:ListBucket", "arn:aws:s3:::app-bucket", "", 1),
        ("s3:PutObject", "arn:aws:s3:::app-bucket/dir/a.txt", "", 1),
        ("s3:PutObject", "arn:aws:s3:::app-bucket/dir/b.txt", "", 1),
        (
            "secretsmanager:CreateSecret",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/token-??????",
            "",
            1,
        ),
        (
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/token-??????",
            "",
            1,
        ),
        (
            "sqs:CreateQueue",
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            "",
            1,
        ),
        (
            "sqs:ReceiveMessage",
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            "",
            1,
        ),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            "",
            1,
        ),
        (
            "ssm:GetParameter",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/flag",
            "",
            1,
        ),
        (
            "ssm:GetParameter",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/missing",
            "ParameterNotFound",
            1,
        ),
        (
            "ssm:PutParameter",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/flag",
            "",
            1,
        ),
    ];
    rows.iter()
        .map(|(a, r, e, n)| (a.to_string(), r.to_string(), e.to_string(), *n))
        .collect()
}

/// Starts the proxy on a free port; returns it running and its address.
pub(crate) fn start_proxy(db: &Path, ca_dir: &Path, extra: &[&str]) -> (Running, String) {
    let mut cmd = bin();
    cmd.args(["observe", "--db"])
        .arg(db)
        .args([
            "--proxy",
            "127.0.0.1:0",
            "--role",
            ROLE,
            "--flush-every",
            "60",
        ])
        .arg("--ca-dir")
        .arg(ca_dir)
        .args(extra);
    let running = Running::start(&mut cmd, "proxy listening on ");
    let addr = running
        .ready
        .split_whitespace()
        .nth(3)
        .expect("the address in the ready line")
        .to_string();
    (running, format!("http://{addr}"))
}

fn run_app(moto: &Moto, proxy: &str, verify: Option<&Path>, script: &str) {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .envs(moto.env())
        .env("AWS_ACCESS_KEY_ID", "AKIDPROXYTEST")
        .env("AWS_SECRET_ACCESS_KEY", "SECRETPROXYTEST")
        .env("PROXY", proxy)
        // The proxies are given to boto3 alone: urllib would otherwise route moto's own traffic.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY");
    if let Some(ca) = verify {
        cmd.env("VERIFY", ca);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "the boto3 app failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (action, resource, error code, count) of the evidence whose source is `source`.
pub(crate) fn evidence_from(db: &Path, source: &str) -> Vec<(String, String, String, i64)> {
    read_db(db, async |conn| {
        sqlx::query(
            "SELECT action, resource, error_code, count FROM evidence_sources
             WHERE role_arn = ? AND source = ? ORDER BY action, resource, error_code",
        )
        .bind(ROLE)
        .bind(source)
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
    })
}

/// Every file of the database (the main file, and the log and index beside it).
fn database_files(db: &Path) -> Vec<PathBuf> {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        .collect()
}

fn assert_nothing_secret(db: &Path) {
    for file in database_files(db) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in SECRETS {
            assert!(!text.contains(s), "{} contains {s:?}", file.display());
        }
    }
}

/// A CloudTrail event of the same role, on a parameter the proxy never sees.
fn write_cloudtrail(dir: &Path) -> PathBuf {
    let event = role_event("ct-1", "2026-11-20T10:00:00Z", "app-task", "/ct/param")
        .to_string()
        .replace("111122223333", "123456789012");
    let path = dir.join("trail.json");
    std::fs::write(&path, format!("{{\"Records\":[{event}]}}")).unwrap();
    path
}

/// SDK monitoring saw two actions: one the proxy will give a resource, one it will not.
fn record_csm(db: &Path) {
    let port = free_udp_port();
    let listener = start_csm(db, port, ROLE, &[]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (service, api) in [("SSM", "GetParameter"), ("DynamoDB", "DescribeTable")] {
        let d = format!(
            r#"{{"Version":1,"Type":"ApiCall","Service":"{service}","Api":"{api}","Timestamp":1763800000000,"FinalHttpStatusCode":200}}"#
        );
        sock.send_to(d.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(listener.terminate().0.success());
}

#[test]
fn boto3_through_the_plain_http_proxy_leaves_exactly_its_calls_with_resources() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let ca = dir.path().join("ca");
    let out = run(&[
        "observe",
        "--db",
        db.to_str().unwrap(),
        write_cloudtrail(dir.path()).to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    record_csm(&db);

    // moto is not an AWS host name: its calls are recorded only once the user names it.
    let (proxy, url) = start_proxy(&db, &ca, &["--intercept", "127.0.0.1"]);
    run_app(&moto, &url, None, APP);
    // With a 60 s flush interval, the evidence can only be there if SIGTERM flushed it.
    let (status, summary) = proxy.terminate();
    assert!(status.success(), "{summary}");
    assert!(summary.contains("1 not AWS calls"), "{summary}");
    assert_eq!(evidence_from(&db, "proxy"), expected());
    assert_nothing_secret(&db);
    let no_permission: i64 = read_db(&db, async |c| {
        sqlx::query_scalar(
            "SELECT count FROM ungranted_calls WHERE event_name = 'GetCallerIdentity'",
        )
        .fetch_one(c)
        .await
        .unwrap()
    });
    assert_eq!(no_permission, 1);

    // A restart adds to the same rows.
    let (proxy, url) = start_proxy(&db, &ca, &["--intercept", "127.0.0.1"]);
    run_app(
        &moto,
        &url,
        None,
        r#"
import boto3, os
from botocore.config import Config
c = boto3.client("ssm", region_name="us-east-1",
    config=Config(proxies={"http": os.environ["PROXY"]}))
assert c.get_parameter(Name="/app/flag")["Parameter"]["Value"] == "value-PROXYBODY"
"#,
    );
    assert!(proxy.terminate().0.success());
    let flag = |rows: Vec<(String, String, String, i64)>| {
        rows.into_iter()
            .find(|r| r.0 == "ssm:GetParameter" && r.1.ends_with("/app/flag"))
            .map(|r| r.3)
    };
    assert_eq!(flag(evidence_from(&db, "proxy")), Some(2));

    // One policy for the role, from CloudTrail, SDK monitoring and the proxy together.
    let p = proposal_json(db.to_str().unwrap());
    let roles: Vec<&serde_json::Value> = p["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role_arn"] == ROLE)
        .collect();
    assert_eq!(roles.len(), 1);
    let role = roles[0];
    let grants: Vec<(String, String)> = role["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["action"].as_str().unwrap().to_string(),
                g["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (action, resource, error, _) in expected() {
        let granted = grants.contains(&(action.clone(), resource.clone()));
        assert_eq!(
            granted,
            error.is_empty(),
            "{action} on {resource}: {grants:#?}"
        );
    }
    assert!(grants.contains(&(
        "ssm:GetParameter".into(),
        "arn:aws:ssm:eu-west-1:123456789012:parameter/ct/param".into()
    )));
    let policy = role["policy"].to_string();
    assert!(!policy.contains("app/missing"), "{policy}");
    // SDK monitoring's GetParameter now has resources; its DescribeTable still has none.
    let lacking: Vec<&str> = role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "no-resource-evidence")
        .filter_map(|f| f["message"].as_str()?.split_once(": ").map(|(a, _)| a))
        .collect();
    assert_eq!(lacking, ["dynamodb:DescribeTable"]);
    assert!(role["denied_calls"]
        .to_string()
        .contains("ParameterNotFound"));
}

/// A test CA and a certificate it issued for 127.0.0.1, for moto's HTTPS.
fn moto_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("test-ca.pem"),
        dir.join("moto.pem"),
        dir.join("moto-key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn boto3_through_an_https_tunnel_trusting_the_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (test_ca, cert, key) = moto_certificates(dir.path());
    let Some(moto) = Moto::start_tls(&cert, &key) else {
        return;
    };
    let db = dir.path().join("live.db");
    let ca = dir.path().join("ca");
    let (proxy, url) = start_proxy(
        &db,
        &ca,
        &[
            "--upstream-ca",
            test_ca.to_str().unwrap(),
            "--intercept",
            "127.0.0.1",
        ],
    );
    assert!(
        proxy.ready.contains(ca.join("ca.pem").to_str().unwrap()),
        "the CA path is printed: {}",
        proxy.ready
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca.join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // boto3 trusts only policy-miner's CA: every call went through the decrypting tunnel.
    run_app(&moto, &url, Some(&ca.join("ca.pem")), APP);
    let (status, summary) = proxy.terminate();
    assert!(status.success(), "{summary}");
    assert_eq!(evidence_from(&db, "proxy"), expected());
    assert_nothing_secret(&db);
}

#[test]
fn bench_proxy_reports_every_figure_and_records_each_request_in_both_modes() {
    for (mode, extra) in [("https", &["--tls"][..]), ("http", &[][..])] {
        let mut args = vec![
            "bench",
            "--proxy",
            "--requests",
            "300",
            "--concurrency",
            "3",
            "--json",
        ];
        args.extend(extra);
        let out = run(&args);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(r["mode"], mode, "{r}");
        assert_eq!(r["concurrency"], 3, "{r}");
        for phase in [
            "direct",
            "through_proxy",
            "direct_one_connection",
            "through_proxy_one_connection",
        ] {
            let p = &r[phase];
            assert!(p["requests"].as_u64().unwrap() > 0, "{mode} {phase}: {r}");
            for key in [
                "seconds",
                "requests_per_second",
                "p50_ms",
                "p99_ms",
                "connection_setup_ms",
            ] {
                assert!(p[key].as_f64().unwrap() > 0.0, "{mode} {phase}.{key}: {r}");
            }
        }
        assert_eq!(r["through_proxy"]["requests"], 300, "{r}");
        for key in ["added_p50_ms", "added_p99_ms"] {
            assert!(r[key].as_f64().unwrap() >= 0.0, "{mode} {key}: {r}");
        }
        for key in ["throughput_ratio", "proxy_cpu_seconds"] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{mode} {key}: {r}");
        }
        assert!(
            r["proxy_peak_rss_bytes"].as_u64().unwrap() > 1_000_000,
            "{r}"
        );
        // Warm-up (200), the measured 300, then 30 on one connection: each recorded once.
        assert_eq!(r["proxied_requests"], 530, "{r}");
        assert_eq!(r["recorded_calls"], r["proxied_requests"], "{mode}: {r}");
        assert_eq!(r["proxy_stderr"], "", "no warning from the proxy: {r}");
    }
}

#[test]
fn bench_proxy_prints_the_tls_figures_as_text() {
    let out = run(&[
        "bench",
        "--proxy",
        "--tls",
        "--requests",
        "50",
        "--concurrency",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "upstream: local HTTPS server",
        "direct (2 conns)",
        "through proxy (2 conns)",
        "direct (1 conn)",
        "through proxy (1 conn)",
        "added by the proxy: p50 +",
        "proxy process: ",
        // Warm-up (50), the measured 50, then 5 on one connection.
        "105 of 105 proxied calls recorded",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let tls_alone = run(&["bench", "--tls"]);
    assert_eq!(tls_alone.status.code(), Some(2), "--tls goes with --proxy");
}
