//! `bench --s3`: how fast `observe s3://` reads a trail bucket when every request costs a round
//! trip. The generated trail is uploaded to a moto server (started for the run), and observe
//! reads it twice as a child process of this binary, through a relay (`relay.rs`, part of the
//! bench) that adds nothing the first time and a set delay to every request the second: the
//! ratio of the two times says how much of the latency observe hides. The relay counts the most
//! requests in flight at once. Figures only: nothing fails on a slow machine.

pub mod relay;

use super::generate::{Generated, TrailSpec};
use super::BenchError;
use crate::error::context::Context as _;
use relay::Relay;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub spec: TrailSpec,
    /// Where the trail goes (reused by a later run of the same spec); a temporary directory
    /// when `None`.
    pub dir: Option<PathBuf>,
    pub binary: PathBuf,
    /// Added to every request in the second run.
    pub delay: Duration,
    /// observe's `--s3-concurrency`.
    pub concurrency: u16,
}

/// One observe run through the relay.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub delay: Duration,
    pub wall: Duration,
    /// Objects observe recorded as read (all of them, or the run is an error).
    pub objects: u64,
    pub relay: relay::Counts,
}

impl Run {
    pub fn objects_per_sec(&self) -> f64 {
        self.objects as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub trail: Generated,
    pub concurrency: u16,
    pub cores: usize,
    /// Uploading the trail to moto (not part of the figures).
    pub upload: Duration,
    pub direct: Run,
    pub delayed: Run,
}

impl Report {
    /// The delayed run's time against the other's.
    pub fn ratio(&self) -> f64 {
        self.delayed.wall.as_secs_f64() / self.direct.wall.as_secs_f64().max(1e-9)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let run = |r: &Run| {
            serde_json::json!({
                "delay_ms": r.delay.as_millis() as u64,
                "seconds": r.wall.as_secs_f64(),
                "objects": r.objects,
                "objects_per_second": r.objects_per_sec(),
                "requests": r.relay.requests,
                "max_requests_in_flight": r.relay.max_in_flight,
            })
        };
        serde_json::json!({
            "objects": self.trail.files,
            "events": self.trail.events,
            "compressed_bytes": self.trail.compressed_bytes,
            "s3_concurrency": self.concurrency,
            "cores": self.cores,
            "upload_seconds": self.upload.as_secs_f64(),
            "without_delay": run(&self.direct),
            "with_delay": run(&self.delayed),
            "delayed_to_direct_ratio": self.ratio(),
        })
    }
}

const BUCKET: &str = "bench-trail";

pub async fn run(opts: &Options) -> Result<Report, BenchError> {
    let (dir, temporary) = match &opts.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("policy-miner-bench-s3-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure(opts, &dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(opts: &Options, dir: &Path) -> Result<Report, BenchError> {
    let trail = match super::reuse(dir, &opts.spec) {
        Some(t) => t,
        None => {
            let _ = std::fs::remove_dir_all(dir.join("trail"));
            let t = super::generate::generate(dir, &opts.spec)?;
            super::write_manifest(dir, &opts.spec, &t)?;
            t
        }
    };
    let moto = Moto::start()?;
    let clock = Instant::now();
    upload(&moto, &trail.trail).await?;
    let upload = clock.elapsed();
    let direct = observe_through(opts, &moto, dir, Duration::ZERO, &trail).await?;
    let delayed = observe_through(opts, &moto, dir, opts.delay, &trail).await?;
    Ok(Report {
        trail,
        concurrency: opts.concurrency,
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        upload,
        direct,
        delayed,
    })
}

/// Runs observe on the bucket through a relay adding `delay` to each request, into a fresh
/// database; every object must be read.
async fn observe_through(
    opts: &Options,
    moto: &Moto,
    dir: &Path,
    delay: Duration,
    trail: &Generated,
) -> Result<Run, BenchError> {
    let relay = Relay::start(moto.addr, delay, None).await?;
    let db = dir.join("bench-s3.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut observe = Command::new(&opts.binary);
    observe
        .arg("observe")
        .arg("--db")
        .arg(&db)
        .arg("--quiet")
        .arg("--s3-concurrency")
        .arg(opts.concurrency.to_string())
        .arg(format!("s3://{BUCKET}/AWSLogs/"))
        .env("AWS_ENDPOINT_URL", relay.endpoint())
        .envs(CREDENTIALS)
        .stdout(Stdio::null());
    // The child is waited for on a blocking thread: the relay runs on this runtime meanwhile.
    let (wall, _) =
        tokio::task::spawn_blocking(move || super::timed_child(observe, "observe")).await??;
    let store = crate::store::Store::open(&db, false).await?;
    let objects = store.observed_files().await?.len() as u64;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    ensure!(
        objects == trail.files,
        "observe through the relay ({} ms) recorded {objects} of {} objects",
        delay.as_millis(),
        trail.files
    );
    Ok(Run {
        delay,
        wall,
        objects,
        relay: relay.counts(),
    })
}

/// What observe and the uploader are given: moto accepts any credentials.
const CREDENTIALS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Puts every file under the trail directory into the bucket, keyed by its path there.
async fn upload(moto: &Moto, trail: &Path) -> Result<(), BenchError> {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{}", moto.addr))
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| BenchError::Failed(format!("creating the bucket in moto: {e}")))?;
    let files = crate::source::local::discover(&[trail.to_path_buf()]).files;
    let mut puts = tokio::task::JoinSet::new();
    for file in files {
        if puts.len() >= 16 {
            if let Some(done) = puts.join_next().await {
                done??;
            }
        }
        let key = file
            .strip_prefix(trail)
            .map_err(|_| BenchError::Failed(format!("{} is outside the trail", file.display())))?
            .to_string_lossy()
            .replace('\\', "/");
        let client = client.clone();
        puts.spawn(async move {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            client
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .map_err(|e| BenchError::Failed(format!("uploading {key} to moto: {e}")))?;
            Ok::<(), BenchError>(())
        });
    }
    while let Some(done) = puts.join_next().await {
        done??;
    }
    Ok(())
}

/// A moto server for the run, stopped when dropped.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    fn start() -> Result<Moto, BenchError> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "running moto_server (install it with `python3 -m pip install \"moto[server]\"`)",
            )?;
        let mut moto = Moto { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline || moto.child.try_wait()?.is_some() {
                bail!("moto_server did not listen on {addr} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
