//! A generator of realistic CloudTrail trails for an ECS fleet, for benchmarks and large-input tests.
//!
//! The shapes follow real deliveries (and `tests/fixtures/fleet`): gzipped `{"Records":[…]}` files,
//! one per region and five-minute window, under
//! `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<rand>.json.gz`,
//! events of 1–2 KB with the fields CloudTrail writes (userAgent, tlsDetails, requestID,
//! additionalEventData…). The fleet: many families with task roles, a shared execution role, one
//! family-specific execution role, a role used as both task and execution role, a family without a
//! task role; S3 object, SQS, DynamoDB, SNS, SSM, Secrets Manager and KMS (called by services for
//! the role) calls; failures; noise from IAM users, AWS services, a service-linked role and a CI role.
//!
//! Everything derives from the seed: the same seed and size give the same bytes, whatever the
//! number of threads (each file has its own random stream).

use super::BenchError;
use crate::error::context::Context as _;
use flate2::{write::GzEncoder, Compression};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub const ACCOUNT: &str = "111122223333";
/// Owner of the cross-account audit queue.
pub const OTHER_ACCOUNT: &str = "444455556666";
pub const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
/// First delivery window: 2026-11-02T00:00Z.
const START_EPOCH: i64 = 1_793_577_600;
const WINDOW_SECS: i64 = 300;

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrailSpec {
    pub events: u64,
    pub events_per_file: u64,
    pub seed: u64,
}

impl Default for TrailSpec {
    fn default() -> Self {
        TrailSpec {
            events: 10_000,
            events_per_file: 2_500,
            seed: 2026,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// The `AWSLogs` directory's parent: pass it to `observe`.
    pub trail: PathBuf,
    pub task_definitions: PathBuf,
    pub files: u64,
    pub events: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// Days (`YYYY/MM/DD`) covered by the delivery paths, in order.
    pub days: Vec<String>,
}

/// SplitMix64: tiny, fast, and good enough for test data; no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chars(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(alphabet[self.below(alphabet.len() as u64) as usize] as char);
        }
    }

    fn uuid(&mut self, out: &mut String) {
        let (a, b) = (self.next_u64(), self.next_u64());
        let _ = write!(
            out,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        );
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const UA_NODE: &str = "aws-sdk-js/3.682.0 ua/2.1 os/linux#5.10.227-219.884.amzn2.x86_64 lang/js md/nodejs#20.18.0 api/{api}#3.682.0 m/E,e";
const UA_PY: &str = "Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE cfg/retry-mode#standard Botocore/1.35.54";
const UA_JAVA: &str = "aws-sdk-java/1.12.765 Linux/5.10.227-219.884.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/11.0.25+9-LTS java/11.0.25 vendor/Amazon.com_Inc. cfg/retry-mode/standard exec-env/AWS_ECS_EC2";
const UA_GO: &str = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64)";
const UA_BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const UA_CLI: &str = "aws-cli/2.18.12 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/GitHubActions cfg/retry-mode#standard";

/// One ECS family and what its task role touches.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    /// (role name, path) of the task role; `None` for a family without one.
    pub task_role: Option<(&'static str, &'static str)>,
    pub execution_role: (&'static str, &'static str),
    pub user_agent: &'static str,
    /// Relative weight of this family's traffic.
    pub weight: u64,
}

pub const EXECUTION_ROLE: (&str, &str) = ("ecsTaskExecutionRole", "/");

/// The fleet: a shared execution role, one of its own for payments, `legacy-sync` as both roles,
/// `report-cron` without a task role, a task role under a path.
pub fn fleet() -> Vec<Family> {
    let f = |name, task_role, execution_role, user_agent, weight| Family {
        name,
        task_role,
        execution_role,
        user_agent,
        weight,
    };
    vec![
        f(
            "orders-api",
            Some(("orders-api-task", "/")),
            EXECUTION_ROLE,
            UA_NODE,
            20,
        ),
        f(
            "billing-worker",
            Some(("billing-worker-task", "/service-role/")),
            EXECUTION_ROLE,
            UA_PY,
            12,
        ),
        f(
            "payments-api",
            Some(("payments-api-task", "/")),
            ("payments-execution", "/"),
            UA_JAVA,
            10,
        ),
        f(
            "search-indexer",
            Some(("search-indexer-task", "/")),
            EXECUTION_ROLE,
            UA_PY,
            10,
        ),
        f(
            "notifications",
            Some(("notifications-task", "/")),
            EXECUTION_ROLE,
            UA_NODE,
            8,
        ),
        f(
            "image-resizer",
            Some(("image-resizer-task", "/")),
            EXECUTION_ROLE,
            UA_GO,
            8,
        ),
        f(
            "audit-shipper",
            Some(("audit-shipper-task", "/")),
            EXECUTION_ROLE,
            UA_GO,
            6,
        ),
        f(
            "inventory-sync",
            Some(("inventory-sync-task", "/")),
            EXECUTION_ROLE,
            UA_JAVA,
            6,
        ),
        f(
            "checkout-web",
            Some(("checkout-web-task", "/")),
            EXECUTION_ROLE,
            UA_NODE,
            8,
        ),
        f(
            "fraud-scorer",
            Some(("fraud-scorer-task", "/")),
            ("payments-execution", "/"),
            UA_PY,
            5,
        ),
        f(
            "legacy-sync",
            Some(("legacy-sync", "/")),
            ("legacy-sync", "/"),
            UA_JAVA,
            4,
        ),
        f("report-cron", None, EXECUTION_ROLE, UA_PY, 3),
    ]
}

fn role_arn(out: &mut String, account: &str, (name, path): (&str, &str)) {
    let _ = write!(out, "arn:aws:iam::{account}:role{path}{name}");
}

/// `AROA…` id of a role, stable per name.
fn role_id(name: &str) -> String {
    let mut rng = Rng::new(xxhash_rust::xxh3::xxh3_64(name.as_bytes()));
    let mut s = String::from("AROA");
    rng.chars(&mut s, UPPER, 17);
    s
}

/// Writes the fleet's task definitions (as `aws ecs describe-task-definition` prints them).
fn write_task_definitions(dir: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for fam in fleet() {
        let exec = {
            let mut s = String::new();
            role_arn(&mut s, ACCOUNT, fam.execution_role);
            s
        };
        let mut def = serde_json::json!({
            "family": fam.name,
            "revision": 7,
            "executionRoleArn": exec,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "512",
            "memory": "1024",
            "containerDefinitions": [{
                "name": fam.name,
                "image": format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{}:1.4.2", fam.name),
                "essential": true,
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{}/prod/db-password", fam.name)},
                    {"name": "API_KEY", "valueFrom": format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{}/api-key-Ab12Cd", fam.name)}
                ],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": format!("/ecs/{}", fam.name),
                    "awslogs-region": "eu-west-1",
                    "awslogs-stream-prefix": "ecs"}}
            }]
        });
        if let Some(task) = fam.task_role {
            let mut s = String::new();
            role_arn(&mut s, ACCOUNT, task);
            def["taskRoleArn"] = serde_json::Value::String(s);
        }
        let body = serde_json::json!({ "taskDefinition": def });
        let path = dir.join(format!("{}.json", fam.name));
        std::fs::write(&path, serde_json::to_vec_pretty(&body)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ`.
fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Where file `index` goes and its delivery time: the end of its five-minute window (a file
/// holds records written before its delivery, as AWS documents).
fn file_place(index: u64) -> (&'static str, i64) {
    let region = REGIONS[(index % REGIONS.len() as u64) as usize];
    let window = (index / REGIONS.len() as u64) as i64;
    (region, START_EPOCH + (window + 1) * WINDOW_SECS)
}

/// Generates the trail and the task definitions under `dir` (`dir/trail`, `dir/taskdefs`).
pub fn generate(dir: &Path, spec: &TrailSpec) -> Result<Generated, BenchError> {
    let per_file = spec.events_per_file.max(1);
    let files = spec.events.div_ceil(per_file).max(1);
    let trail = dir.join("trail");
    let taskdefs = dir.join("taskdefs");
    write_task_definitions(&taskdefs)?;
    let results: Vec<Result<(u64, u64, u64, String), BenchError>> = (0..files)
        .into_par_iter()
        .map(|i| {
            let events = per_file.min(spec.events - (i * per_file).min(spec.events));
            write_file(&trail, spec.seed, i, events)
        })
        .collect();
    let mut out = Generated {
        trail,
        task_definitions: taskdefs,
        ..Default::default()
    };
    for r in results {
        let (events, gz, raw, day) = r?;
        out.files += 1;
        out.events += events;
        out.compressed_bytes += gz;
        out.uncompressed_bytes += raw;
        if out.days.last() != Some(&day) && !out.days.contains(&day) {
            out.days.push(day);
        }
    }
    out.days.sort();
    Ok(out)
}

/// The delivery path of file `index` (relative to the trail root).
pub fn delivery_path(seed: u64, index: u64) -> PathBuf {
    let (region, start) = file_place(index);
    let stamp = chrono::DateTime::from_timestamp(start, 0).unwrap_or_default();
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xD1CE);
    let mut rand = String::new();
    rng.chars(&mut rand, MIXED, 16);
    PathBuf::from(format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{region}/{}/{ACCOUNT}_CloudTrail_{region}_{}_{rand}.json.gz",
        stamp.format("%Y/%m/%d"),
        stamp.format("%Y%m%dT%H%MZ"),
    ))
}

fn write_file(
    trail: &Path,
    seed: u64,
    index: u64,
    events: u64,
) -> Result<(u64, u64, u64, String), BenchError> {
    let rel = delivery_path(seed, index);
    let path = trail.join(&rel);
    let (region, start) = file_place(index);
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let fleet = fleet();
    let mut json = String::with_capacity(events as usize * 1700 + 16);
    json.push_str("{\"Records\":[");
    for n in 0..events {
        if n > 0 {
            json.push(',');
        }
        let t = start - 1 - rng.below(WINDOW_SECS as u64) as i64;
        // Tasks live about an hour: the session (task id) changes with the hour.
        let hour = t / 3600;
        let mut ev = Event::new(&mut json, &mut rng, region, t, hour);
        ev.any(&fleet);
    }
    json.push_str("]}");
    let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::default());
    enc.write_all(json.as_bytes())?;
    let gz = enc.finish()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, &gz).with_context(|| format!("writing {}", path.display()))?;
    let day = chrono::DateTime::from_timestamp(start, 0)
        .unwrap_or_default()
        .format("%Y/%m/%d")
        .to_string();
    Ok((events, gz.len() as u64, json.len() as u64, day))
}

/// Writes one event into the file's buffer.
struct Event<'a> {
    out: &'a mut String,
    rng: &'a mut Rng,
    region: &'static str,
    time: String,
    hour: i64,
}

/// Who makes a call.
enum Who<'a> {
    Role {
        role: (&'a str, &'a str),
        session: String,
        invoked_by: Option<&'a str>,
    },
    User(&'a str),
    Service(&'a str),
}

impl<'a> Event<'a> {
    fn new(out: &'a mut String, rng: &'a mut Rng, region: &'static str, t: i64, hour: i64) -> Self {
        Event {
            out,
            rng,
            region,
            time: timestamp(t),
            hour,
        }
    }

    /// A task id stable within the hour for a family (a few tasks per family).
    fn task_id(&mut self, family: &str) -> String {
        let slot = self.rng.below(3);
        let mut r = Rng::new(
            xxhash_rust::xxh3::xxh3_64(family.as_bytes()) ^ (self.hour as u64) << 8 ^ slot,
        );
        let mut s = String::new();
        r.chars(&mut s, HEX, 32);
        s
    }

    fn any(&mut self, fleet: &[Family]) {
        let roll = self.rng.below(1000);
        if roll < 40 {
            return self.iam_user();
        }
        if roll < 70 {
            return self.aws_service();
        }
        if roll < 95 {
            return self.service_linked_role();
        }
        if roll < 105 {
            return self.ci_role();
        }
        let total: u64 = fleet.iter().map(|f| f.weight).sum();
        let mut w = self.rng.below(total);
        let fam = fleet
            .iter()
            .find(|f| {
                if w < f.weight {
                    true
                } else {
                    w -= f.weight;
                    false
                }
            })
            .unwrap_or(&fleet[0]);
        if roll < 230 || fam.task_role.is_none() {
            self.execution_call(fam)
        } else {
            self.task_call(fam)
        }
    }

    // --- the common envelope ---

    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        who: &Who,
        source: &str,
        name: &str,
        source_ip: &str,
        user_agent: &str,
        version: &str,
    ) {
        let o = &mut *self.out;
        let _ = write!(o, "{{\"eventVersion\":\"{version}\",\"userIdentity\":");
        match who {
            Who::Role {
                role,
                session,
                invoked_by,
            } => {
                let id = role_id(role.0);
                let _ = write!(
                    o,
                    "{{\"type\":\"AssumedRole\",\"principalId\":\"{id}:{session}\",\"arn\":\"arn:aws:sts::{ACCOUNT}:assumed-role/{}/{session}\",\"accountId\":\"{ACCOUNT}\",\"accessKeyId\":\"ASIA",
                    role.0
                );
                self.rng.chars(o, UPPER, 16);
                let _ = write!(
                    o,
                    "\",\"sessionContext\":{{\"sessionIssuer\":{{\"type\":\"Role\",\"principalId\":\"{id}\",\"arn\":\""
                );
                role_arn(o, ACCOUNT, *role);
                let _ = write!(
                    o,
                    "\",\"accountId\":\"{ACCOUNT}\",\"userName\":\"{}\"}},\"attributes\":{{\"creationDate\":\"{}\",\"mfaAuthenticated\":\"false\"}}}}",
                    role.0,
                    timestamp(self.hour * 3600 + 17)
                );
                if let Some(by) = invoked_by {
                    let _ = write!(o, ",\"invokedBy\":\"{by}\"");
                }
                o.push('}');
            }
            Who::User(name) => {
                let _ = write!(
                    o,
                    "{{\"type\":\"IAMUser\",\"principalId\":\"AIDAOOPJQYBXSUG3FO7XW\",\"arn\":\"arn:aws:iam::{ACCOUNT}:user/{name}\",\"accountId\":\"{ACCOUNT}\",\"accessKeyId\":\"ASIA"
                );
                self.rng.chars(o, UPPER, 16);
                let _ = write!(o, "\",\"userName\":\"{name}\",\"sessionContext\":{{\"sessionIssuer\":{{}},\"webIdFederationData\":{{}},\"attributes\":{{\"creationDate\":\"{}\",\"mfaAuthenticated\":\"true\"}}}}}}", timestamp(self.hour * 3600));
            }
            Who::Service(by) => {
                let _ = write!(o, "{{\"type\":\"AWSService\",\"invokedBy\":\"{by}\"}}");
            }
        }
        let _ = write!(
            o,
            ",\"eventTime\":\"{}\",\"eventSource\":\"{source}\",\"eventName\":\"{name}\",\"awsRegion\":\"{}\",\"sourceIPAddress\":\"{source_ip}\",\"userAgent\":\"{}\"",
            self.time,
            self.region,
            user_agent.replace("{api}", source.split('.').next().unwrap_or(""))
        );
    }

    /// Closes the event: request id, event id, resources, category, TLS details.
    fn end(&mut self, resources: &[(&str, &str)], data: bool, host: Option<&str>) {
        let o = &mut *self.out;
        o.push_str(",\"requestID\":\"");
        self.rng.uuid(o);
        o.push_str("\",\"eventID\":\"");
        self.rng.uuid(o);
        let _ = write!(o, "\",\"readOnly\":{}", !data || self.rng.chance(600));
        if !resources.is_empty() {
            o.push_str(",\"resources\":[");
            for (i, (kind, arn)) in resources.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"accountId\":\"{ACCOUNT}\",\"type\":\"{kind}\",\"ARN\":\"{arn}\"}}"
                );
            }
            o.push(']');
        }
        let _ = write!(
            o,
            ",\"eventType\":\"AwsApiCall\",\"managementEvent\":{},\"recipientAccountId\":\"{ACCOUNT}\",\"eventCategory\":\"{}\"",
            !data,
            if data { "Data" } else { "Management" }
        );
        if let Some(host) = host {
            let _ = write!(o, ",\"tlsDetails\":{{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"{host}\"}}");
        }
        o.push('}');
    }

    /// About 1% of application calls fail.
    fn maybe_error(&mut self) -> bool {
        let r = self.rng.below(1000);
        if r < 8 {
            self.out.push_str(",\"errorCode\":\"AccessDenied\",\"errorMessage\":\"User is not authorized to perform this action\"");
            true
        } else if r < 11 {
            self.out.push_str(
                ",\"errorCode\":\"ThrottlingException\",\"errorMessage\":\"Rate exceeded\"",
            );
            true
        } else {
            false
        }
    }

    // --- the task role: the application's calls ---

    fn task_call(&mut self, fam: &Family) {
        let Some(task_role) = fam.task_role else {
            return;
        };
        let session = self.task_id(fam.name);
        let who = Who::Role {
            role: task_role,
            session: session.clone(),
            invoked_by: None,
        };
        let ip = format!("10.40.{}.{}", self.rng.below(16), 2 + self.rng.below(250));
        match self.rng.below(100) {
            0..=29 => self.s3_object(fam, &who, &ip),
            30..=34 => self.s3_list(fam, &who, &ip),
            35..=54 => self.sqs(fam, &who, &ip),
            55..=69 => self.dynamodb(fam, &who, &ip),
            70..=77 => self.kms_via_s3(fam, task_role, session),
            78..=84 => self.ssm_get(fam, &who, &ip),
            85..=89 => self.secret(fam, &who, &ip),
            90..=95 => self.sns(fam, &who, &ip),
            _ => self.caller_identity(fam, &who, &ip),
        }
    }

    fn s3_object(&mut self, fam: &Family, who: &Who, ip: &str) {
        let bucket = format!("acme-{}-data", fam.name);
        let name = *self.rng.pick(&[
            "GetObject",
            "GetObject",
            "PutObject",
            "HeadObject",
            "DeleteObject",
        ]);
        // Mostly a working set of customer objects; a tenth unique keys (uploads).
        let key = if self.rng.chance(100) {
            let mut k = format!("uploads/{}/", &self.time[..10]);
            self.rng.uuid(&mut k);
            k.push_str(".json");
            k
        } else {
            let prefix = *self.rng.pick(&["customers", "exports", "thumbnails"]);
            format!(
                "{prefix}/c-{:04}/object-{}.bin",
                self.rng.below(400),
                self.rng.below(5)
            )
        };
        let host = format!("{bucket}.s3.{}.amazonaws.com", self.region);
        self.begin(
            who,
            "s3.amazonaws.com",
            name,
            ip,
            &format!("[{}]", fam.user_agent),
            "1.09",
        );
        let failed = self.maybe_error();
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"bucketName\":\"{bucket}\",\"Host\":\"{host}\",\"key\":\"{key}\"}},\"responseElements\":null,\"additionalEventData\":{{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":{},\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"",
            if name == "PutObject" { self.rng.below(500_000) } else { 0 }
        );
        self.rng.chars(self.out, B64, 76);
        let _ = write!(
            self.out,
            "=\",\"bytesTransferredOut\":{}}}",
            if failed || name != "GetObject" {
                0
            } else {
                self.rng.below(900_000)
            }
        );
        let obj = format!("arn:aws:s3:::{bucket}/{key}");
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        self.end(
            &[("AWS::S3::Object", &obj), ("AWS::S3::Bucket", &bucket_arn)],
            true,
            Some(&host),
        );
    }

    fn s3_list(&mut self, fam: &Family, who: &Who, ip: &str) {
        let bucket = format!("acme-{}-data", fam.name);
        let host = format!("{bucket}.s3.{}.amazonaws.com", self.region);
        let prefix = *self.rng.pick(&["customers/", "exports/", "uploads/"]);
        self.begin(
            who,
            "s3.amazonaws.com",
            "ListObjects",
            ip,
            &format!("[{}]", fam.user_agent),
            "1.09",
        );
        self.maybe_error();
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"list-type\":\"2\",\"bucketName\":\"{bucket}\",\"encoding-type\":\"url\",\"max-keys\":\"1000\",\"prefix\":\"{prefix}\",\"Host\":\"{host}\"}},\"responseElements\":null,\"additionalEventData\":{{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":0,\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\""
        );
        self.rng.chars(self.out, B64, 76);
        let _ = write!(
            self.out,
            "=\",\"bytesTransferredOut\":{}}}",
            self.rng.below(9000)
        );
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        self.end(&[("AWS::S3::Bucket", &bucket_arn)], true, Some(&host));
    }

    fn sqs(&mut self, fam: &Family, who: &Who, ip: &str) {
        let (account, queue) = if fam.name == "audit-shipper" && self.rng.chance(500) {
            (OTHER_ACCOUNT, "shared-audit".to_string())
        } else {
            (ACCOUNT, format!("{}-jobs", fam.name))
        };
        let url = format!(
            "https://sqs.{}.amazonaws.com/{account}/{queue}",
            self.region
        );
        let name = *self.rng.pick(&[
            "ReceiveMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "SendMessage",
            "ChangeMessageVisibility",
        ]);
        self.begin(who, "sqs.amazonaws.com", name, ip, fam.user_agent, "1.09");
        self.maybe_error();
        let _ = match name {
            "ReceiveMessage" => write!(self.out, ",\"requestParameters\":{{\"queueUrl\":\"{url}\",\"maxNumberOfMessages\":10,\"waitTimeSeconds\":20,\"attributeNames\":[\"All\"],\"messageAttributeNames\":[\"All\"]}},\"responseElements\":null"),
            "SendMessage" => write!(self.out, ",\"requestParameters\":{{\"queueUrl\":\"{url}\",\"messageBody\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"responseElements\":{{\"mD5OfMessageBody\":\"{:032x}\",\"messageId\":\"{:016x}\"}}", self.rng.next_u64() as u128 * 3, self.rng.next_u64()),
            "ChangeMessageVisibility" => write!(self.out, ",\"requestParameters\":{{\"queueUrl\":\"{url}\",\"receiptHandle\":\"HIDDEN_DUE_TO_SECURITY_REASONS\",\"visibilityTimeout\":120}},\"responseElements\":null"),
            _ => write!(self.out, ",\"requestParameters\":{{\"queueUrl\":\"{url}\",\"receiptHandle\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"responseElements\":null"),
        };
        let arn = format!("arn:aws:sqs:{}:{account}:{queue}", self.region);
        let host = format!("sqs.{}.amazonaws.com", self.region);
        self.end(&[("AWS::SQS::Queue", &arn)], true, Some(&host));
    }

    fn dynamodb(&mut self, fam: &Family, who: &Who, ip: &str) {
        let table = fam.name;
        let name = *self.rng.pick(&[
            "GetItem",
            "GetItem",
            "PutItem",
            "Query",
            "UpdateItem",
            "BatchWriteItem",
        ]);
        self.begin(
            who,
            "dynamodb.amazonaws.com",
            name,
            ip,
            fam.user_agent,
            "1.09",
        );
        self.maybe_error();
        let _ = match name {
            "Query" if self.rng.chance(400) => write!(self.out, ",\"requestParameters\":{{\"tableName\":\"{table}\",\"indexName\":\"by-customer\",\"keyConditionExpression\":\"customerId = :c\",\"expressionAttributeValues\":\"HIDDEN_DUE_TO_SECURITY_REASONS\",\"limit\":50}},\"responseElements\":null"),
            "Query" => write!(self.out, ",\"requestParameters\":{{\"tableName\":\"{table}\",\"keyConditionExpression\":\"pk = :p\",\"expressionAttributeValues\":\"HIDDEN_DUE_TO_SECURITY_REASONS\",\"limit\":50}},\"responseElements\":null"),
            "BatchWriteItem" => write!(self.out, ",\"requestParameters\":{{\"requestItems\":[{{\"tableName\":\"{table}\",\"requests\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}}]}},\"responseElements\":null"),
            _ => write!(self.out, ",\"requestParameters\":{{\"tableName\":\"{table}\",\"key\":{{\"pk\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"consistentRead\":true}},\"responseElements\":null"),
        };
        let arn = format!("arn:aws:dynamodb:{}:{ACCOUNT}:table/{table}", self.region);
        let host = format!("dynamodb.{}.amazonaws.com", self.region);
        self.end(&[("AWS::DynamoDB::Table", &arn)], true, Some(&host));
    }

    /// SSE-KMS objects: S3 calls KMS for the task role.
    fn kms_via_s3(&mut self, fam: &Family, role: (&str, &str), session: String) {
        let who = Who::Role {
            role,
            session,
            invoked_by: Some("s3.amazonaws.com"),
        };
        let key = format!(
            "arn:aws:kms:{}:{ACCOUNT}:key/{:08x}-1f3a-4c6b-9e0f-{:012x}",
            self.region,
            xxhash_rust::xxh3::xxh3_64(fam.name.as_bytes()) as u32,
            xxhash_rust::xxh3::xxh3_64(self.region.as_bytes()) & 0xffff_ffff_ffff
        );
        let name = *self.rng.pick(&["Decrypt", "GenerateDataKey"]);
        self.begin(
            &who,
            "kms.amazonaws.com",
            name,
            "s3.amazonaws.com",
            "s3.amazonaws.com",
            "1.09",
        );
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"keyId\":\"{key}\",\"encryptionContext\":{{\"aws:s3:arn\":\"arn:aws:s3:::acme-{}-data/customers/c-{:04}/object-0.bin\"}},\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}},\"responseElements\":null",
            fam.name,
            self.rng.below(400)
        );
        self.end(&[("AWS::KMS::Key", &key)], false, None);
    }

    fn ssm_get(&mut self, fam: &Family, who: &Who, ip: &str) {
        let param = *self
            .rng
            .pick(&["db-host", "feature-flags", "endpoint", "tuning/batch-size"]);
        self.begin(
            who,
            "ssm.amazonaws.com",
            "GetParameter",
            ip,
            fam.user_agent,
            "1.08",
        );
        self.maybe_error();
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"name\":\"/{}/prod/{param}\",\"withDecryption\":false}},\"responseElements\":null",
            fam.name
        );
        let host = format!("ssm.{}.amazonaws.com", self.region);
        self.end(&[], false, Some(&host));
    }

    fn secret(&mut self, fam: &Family, who: &Who, ip: &str) {
        self.begin(
            who,
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            ip,
            fam.user_agent,
            "1.08",
        );
        self.maybe_error();
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"secretId\":\"{}/stripe-key\"}},\"responseElements\":null",
            fam.name
        );
        let host = format!("secretsmanager.{}.amazonaws.com", self.region);
        self.end(&[], false, Some(&host));
    }

    fn sns(&mut self, fam: &Family, who: &Who, ip: &str) {
        let topic = format!("arn:aws:sns:{}:{ACCOUNT}:{}-events", self.region, fam.name);
        self.begin(
            who,
            "sns.amazonaws.com",
            "Publish",
            ip,
            fam.user_agent,
            "1.09",
        );
        self.maybe_error();
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"topicArn\":\"{topic}\",\"message\":\"HIDDEN_DUE_TO_SECURITY_REASONS\",\"messageAttributes\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"responseElements\":{{\"messageId\":\""
        );
        self.rng.uuid(self.out);
        self.out.push_str("\"}");
        let host = format!("sns.{}.amazonaws.com", self.region);
        self.end(&[("AWS::SNS::Topic", &topic)], true, Some(&host));
    }

    fn caller_identity(&mut self, fam: &Family, who: &Who, ip: &str) {
        self.begin(
            who,
            "sts.amazonaws.com",
            "GetCallerIdentity",
            ip,
            fam.user_agent,
            "1.08",
        );
        self.out
            .push_str(",\"requestParameters\":null,\"responseElements\":null");
        let host = format!("sts.{}.amazonaws.com", self.region);
        self.end(&[], false, Some(&host));
    }

    // --- the execution role: the ECS agent starting tasks ---

    fn execution_call(&mut self, fam: &Family) {
        let session = self.task_id(fam.name);
        let agent = Who::Role {
            role: fam.execution_role,
            session: session.clone(),
            invoked_by: Some("ecs-tasks.amazonaws.com"),
        };
        let repo = fam.name;
        let repo_arn = format!("arn:aws:ecr:{}:{ACCOUNT}:repository/{repo}", self.region);
        match self.rng.below(100) {
            0..=9 => {
                self.begin(
                    &agent,
                    "ecr.amazonaws.com",
                    "GetAuthorizationToken",
                    "ecs-tasks.amazonaws.com",
                    "ecs-tasks.amazonaws.com",
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"registryIds\":[\"{ACCOUNT}\"]}},\"responseElements\":null");
                self.end(&[], false, None);
            }
            10..=29 => {
                self.begin(
                    &agent,
                    "ecr.amazonaws.com",
                    "BatchGetImage",
                    "AWS Internal",
                    "AWS Internal",
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"imageIds\":[{{\"imageTag\":\"1.4.2\"}}],\"acceptedMediaTypes\":[\"application/vnd.docker.distribution.manifest.v2+json\",\"application/vnd.oci.image.manifest.v1+json\"],\"repositoryName\":\"{repo}\",\"registryId\":\"{ACCOUNT}\"}},\"responseElements\":null");
                self.end(&[("AWS::ECR::Repository", &repo_arn)], false, None);
            }
            30..=59 => {
                self.begin(
                    &agent,
                    "ecr.amazonaws.com",
                    "GetDownloadUrlForLayer",
                    "AWS Internal",
                    "AWS Internal",
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"repositoryName\":\"{repo}\",\"registryId\":\"{ACCOUNT}\",\"layerDigest\":\"sha256:");
                self.rng.chars(self.out, HEX, 64);
                self.out.push_str("\"},\"responseElements\":null");
                self.end(&[("AWS::ECR::Repository", &repo_arn)], false, None);
            }
            60..=69 => {
                self.begin(
                    &agent,
                    "ecr.amazonaws.com",
                    "BatchCheckLayerAvailability",
                    "AWS Internal",
                    "AWS Internal",
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"repositoryName\":\"{repo}\",\"registryId\":\"{ACCOUNT}\",\"layerDigests\":[\"sha256:");
                self.rng.chars(self.out, HEX, 64);
                self.out.push_str("\"]},\"responseElements\":null");
                self.end(&[("AWS::ECR::Repository", &repo_arn)], false, None);
            }
            70..=81 => {
                // The awslogs driver has no invokedBy: it calls from the task's network.
                let logs = Who::Role {
                    role: fam.execution_role,
                    session: session.clone(),
                    invoked_by: None,
                };
                let ip = format!("34.246.18.{}", self.rng.below(250));
                self.begin(
                    &logs,
                    "logs.amazonaws.com",
                    "CreateLogStream",
                    &ip,
                    UA_GO,
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"logGroupName\":\"/ecs/{}\",\"logStreamName\":\"ecs/{}/{session}\"}},\"responseElements\":null", fam.name, fam.name);
                let host = format!("logs.{}.amazonaws.com", self.region);
                self.end(&[], false, Some(&host));
            }
            82..=89 => {
                self.begin(
                    &agent,
                    "ssm.amazonaws.com",
                    "GetParameters",
                    "ecs-tasks.amazonaws.com",
                    "ecs-tasks.amazonaws.com",
                    "1.08",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"names\":[\"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{}/prod/db-password\"],\"withDecryption\":true}},\"responseElements\":null", fam.name);
                self.end(&[], false, None);
            }
            90..=95 => {
                self.begin(
                    &agent,
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    "ecs-tasks.amazonaws.com",
                    "ecs-tasks.amazonaws.com",
                    "1.09",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"secretId\":\"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{}/api-key-Ab12Cd\"}},\"responseElements\":null", fam.name);
                self.end(&[], false, None);
            }
            _ => {
                // SecureString parameters: SSM decrypts with KMS for the execution role.
                let via_ssm = Who::Role {
                    role: fam.execution_role,
                    session,
                    invoked_by: Some("ssm.amazonaws.com"),
                };
                let key = format!(
                    "arn:aws:kms:{}:{ACCOUNT}:key/f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b",
                    self.region
                );
                self.begin(
                    &via_ssm,
                    "kms.amazonaws.com",
                    "Decrypt",
                    "ssm.amazonaws.com",
                    "ssm.amazonaws.com",
                    "1.09",
                );
                let _ = write!(self.out, ",\"requestParameters\":{{\"encryptionContext\":{{\"PARAMETER_ARN\":\"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{}/prod/db-password\"}},\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}},\"responseElements\":null", fam.name);
                self.end(&[("AWS::KMS::Key", &key)], false, None);
            }
        }
    }

    // --- noise: never role evidence, or evidence of roles in no task definition ---

    fn iam_user(&mut self) {
        let user = *self.rng.pick(&["alice", "bob", "ops-automation"]);
        let (source, name, req) = *self.rng.pick(&[
            ("ec2.amazonaws.com", "DescribeInstances", "{\"instancesSet\":{},\"filterSet\":{}}"),
            ("ecs.amazonaws.com", "DescribeServices", "{\"cluster\":\"prod\",\"services\":[\"orders-api\"]}"),
            ("monitoring.amazonaws.com", "GetMetricData", "{\"startTime\":\"Nov 2, 2026, 9:00:00 AM\",\"endTime\":\"Nov 2, 2026, 10:00:00 AM\"}"),
            ("iam.amazonaws.com", "GetRole", "{\"roleName\":\"orders-api-task\"}"),
        ]);
        let ip = format!("198.51.100.{}", self.rng.below(250));
        let ua = if self.rng.chance(500) {
            UA_BROWSER
        } else {
            UA_CLI
        };
        self.begin(&Who::User(user), source, name, &ip, ua, "1.08");
        let _ = write!(
            self.out,
            ",\"requestParameters\":{req},\"responseElements\":null"
        );
        let host = format!(
            "{}.{}.amazonaws.com",
            source.split('.').next().unwrap_or(""),
            self.region
        );
        self.end(&[], false, Some(&host));
    }

    fn aws_service(&mut self) {
        let role = format!("arn:aws:iam::{ACCOUNT}:role/orders-api-task");
        self.begin(
            &Who::Service("ecs-tasks.amazonaws.com"),
            "sts.amazonaws.com",
            "AssumeRole",
            "ecs-tasks.amazonaws.com",
            "ecs-tasks.amazonaws.com",
            "1.08",
        );
        let _ = write!(
            self.out,
            ",\"requestParameters\":{{\"roleArn\":\"{role}\",\"roleSessionName\":\""
        );
        self.rng.chars(self.out, HEX, 32);
        self.out
            .push_str("\"},\"responseElements\":{\"credentials\":{\"accessKeyId\":\"ASIA");
        self.rng.chars(self.out, UPPER, 16);
        self.out.push_str("\",\"sessionToken\":\"");
        self.rng.chars(self.out, MIXED, 120);
        self.out
            .push_str("\",\"expiration\":\"Nov 2, 2026, 11:57:30 AM\"}}");
        self.end(&[("AWS::IAM::Role", &role)], false, None);
    }

    fn service_linked_role(&mut self) {
        let who = Who::Role {
            role: (
                "AWSServiceRoleForECS",
                "/aws-service-role/ecs.amazonaws.com/",
            ),
            session: "ecs-service-scheduler".to_string(),
            invoked_by: Some("ecs.amazonaws.com"),
        };
        self.begin(
            &who,
            "ec2.amazonaws.com",
            "CreateNetworkInterface",
            "ecs.amazonaws.com",
            "ecs.amazonaws.com",
            "1.08",
        );
        self.out.push_str(",\"requestParameters\":{\"subnetId\":\"subnet-0a1b2c3d4e5f60718\",\"description\":\"arn:aws:ecs:eu-west-1:111122223333:attachment/");
        self.rng.uuid(self.out);
        self.out.push_str("\",\"groupSet\":{\"items\":[{\"groupId\":\"sg-0123456789abcdef0\"}]},\"privateIpAddressesSet\":{},\"ipv6AddressCount\":0},\"responseElements\":{\"requestId\":\"");
        self.rng.uuid(self.out);
        self.out
            .push_str("\",\"networkInterface\":{\"networkInterfaceId\":\"eni-");
        self.rng.chars(self.out, HEX, 17);
        self.out.push_str("\",\"subnetId\":\"subnet-0a1b2c3d4e5f60718\",\"status\":\"pending\",\"requesterManaged\":true}}");
        self.end(&[], false, None);
    }

    /// A deploy pipeline's role: role evidence, but in no task definition.
    fn ci_role(&mut self) {
        let who = Who::Role {
            role: ("ci-deployer", "/"),
            session: "GitHubActions".to_string(),
            invoked_by: None,
        };
        let ip = format!("20.57.44.{}", self.rng.below(250));
        let (name, req) = *self.rng.pick(&[
            (
                "DescribeServices",
                "{\"cluster\":\"prod\",\"services\":[\"orders-api\"]}",
            ),
            (
                "UpdateService",
                "{\"cluster\":\"prod\",\"service\":\"orders-api\",\"forceNewDeployment\":false}",
            ),
            (
                "DescribeTaskDefinition",
                "{\"taskDefinition\":\"orders-api\"}",
            ),
        ]);
        self.begin(&who, "ecs.amazonaws.com", name, &ip, UA_CLI, "1.08");
        let _ = write!(
            self.out,
            ",\"requestParameters\":{req},\"responseElements\":null"
        );
        let host = format!("ecs.{}.amazonaws.com", self.region);
        self.end(&[], false, Some(&host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_valid_cloudtrail() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let spec = TrailSpec {
            events: 700,
            events_per_file: 300,
            seed: 7,
        };
        let ga = generate(a.path(), &spec).unwrap();
        let gb = generate(b.path(), &spec).unwrap();
        assert_eq!((ga.files, ga.events), (3, 700));
        let rel = delivery_path(7, 2);
        let fa = std::fs::read(ga.trail.join(&rel)).unwrap();
        assert_eq!(fa, std::fs::read(gb.trail.join(&rel)).unwrap());
        let json = crate::source::local::decompress(&fa).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let records = doc["Records"].as_array().unwrap();
        assert_eq!(records.len(), 100);
        let avg = json.len() / records.len();
        assert!((900..2200).contains(&avg), "average event size {avg}");
        for r in records {
            assert!(
                r["eventSource"].is_string() && r["eventTime"].is_string(),
                "{r}"
            );
        }
    }

    #[test]
    fn delivery_paths_follow_the_s3_layout() {
        let p = delivery_path(1, 3).display().to_string();
        let re = p.split('/').collect::<Vec<_>>();
        assert_eq!(&re[..4], &["AWSLogs", ACCOUNT, "CloudTrail", "us-east-1"]);
        assert_eq!(&re[4..7], &["2026", "11", "02"]);
        assert!(
            re[7].starts_with("111122223333_CloudTrail_us-east-1_20261102T0010Z_"),
            "{p}"
        );
        assert!(re[7].ends_with(".json.gz"));
    }
}
