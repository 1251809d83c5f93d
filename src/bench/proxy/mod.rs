//! `bench --proxy`: requests per second through `observe --proxy` and the latency it adds, against
//! a local upstream answering like SSM, compared in the same run with calling the upstream
//! directly. The proxy runs as a child process of this binary, as a sidecar would; afterwards its
//! database must hold exactly one recorded call per proxied request.
//!
//! In TLS mode the traffic is what an SDK sends through HTTPS_PROXY: the upstream serves HTTPS
//! (a CA made for the run, given to the proxy with --upstream-ca), and the client opens a CONNECT
//! tunnel, does TLS in it trusting the proxy's CA, and sends its requests over that.

mod client;
mod report;
mod upstream;

use super::BenchError;
use crate::error::context::{chain, Context as _};
use client::Route;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub requests: u64,
    pub concurrency: u64,
    pub binary: PathBuf,
    /// HTTPS through CONNECT tunnels instead of plain HTTP.
    pub tls: bool,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub requests: u64,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Median time to set a connection up (TCP, and CONNECT and TLS handshakes in TLS mode);
    /// counted in `wall`, not in the request latencies.
    pub setup: Duration,
}

impl Phase {
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub tls: bool,
    pub concurrency: u64,
    pub direct: Phase,
    pub proxied: Phase,
    pub direct_one: Phase,
    pub proxied_one: Phase,
    pub proxy_cpu: Duration,
    pub proxy_peak_rss: u64,
    pub recorded: i64,
    pub sent_through_proxy: u64,
    /// The proxy's stderr (warnings only, as it runs with --quiet).
    pub proxy_said: String,
}

const ROLE: &str = "arn:aws:iam::123456789012:role/bench-task";

pub async fn run(opts: &Options) -> Result<Report, BenchError> {
    let dir = std::env::temp_dir().join(format!("policy-miner-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure(opts, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(opts: &Options, dir: &Path) -> Result<Report, BenchError> {
    let upstream_ca_dir = dir.join("upstream-ca");
    let upstream = upstream::start(opts.tls.then_some(upstream_ca_dir.as_path())).await?;
    let proxy_addr = free_port()?;
    let db = dir.join("bench.db");
    let proxy_ca_dir = dir.join("ca");
    let mut child = spawn_proxy(opts, proxy_addr, &db, &proxy_ca_dir, upstream.ca.as_deref())?;
    if let Err(e) = wait_listening(&mut child, proxy_addr).await {
        let _ = child.kill();
        let said = stop(child).map(|(_, said)| said).unwrap_or_default();
        bail!("{}; the proxy said: {said}", chain(&e));
    }
    let routes = routes(&upstream, proxy_addr, &proxy_ca_dir);
    let phases = match routes {
        Ok((direct, proxied)) => phases(opts, &direct, &proxied).await,
        Err(e) => Err(e),
    };
    terminate(&child);
    let (status, said) = stop(child)?;
    let mut report = phases?;
    if !status.success() {
        bail!("the proxy exited with {status}: {said}");
    }
    report.proxy_said = said;
    let store = crate::store::Store::open(&db, false).await?;
    report.recorded = store.evidence().await?.iter().map(|r| r.count).sum::<i64>();
    store.close().await;
    report.proxy_cpu = super::cpu_time(libc::RUSAGE_CHILDREN);
    report.proxy_peak_rss = super::children_peak_rss();
    Ok(report)
}

fn spawn_proxy(
    opts: &Options,
    addr: SocketAddr,
    db: &Path,
    ca_dir: &Path,
    upstream_ca: Option<&Path>,
) -> Result<Child, BenchError> {
    let mut cmd = Command::new(&opts.binary);
    cmd.args(["observe", "--quiet", "--db"])
        .arg(db)
        .args(["--proxy", &addr.to_string(), "--role", ROLE, "--ca-dir"])
        .arg(ca_dir)
        // The upstream is not an AWS host name: it is decrypted and recorded only when named.
        .args(["--intercept", "127.0.0.1"])
        // Every client connection of a phase at once, and those of the last still closing.
        .arg("--max-connections")
        .arg(
            opts.concurrency
                .saturating_mul(2)
                .saturating_add(64)
                .clamp(256, u32::MAX as u64)
                .to_string(),
        );
    if let Some(ca) = upstream_ca {
        cmd.arg("--upstream-ca").arg(ca);
    }
    cmd.env_remove("POLICY_MINER_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} observe --proxy", opts.binary.display()))
}

async fn wait_listening(child: &mut Child, addr: SocketAddr) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            bail!("the proxy did not listen on {addr} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The direct route and the route through the proxy; in TLS mode each trusts only the CA of the
/// server it does TLS with (the proxy wrote its CA before listening).
fn routes(
    upstream: &upstream::Upstream,
    proxy: SocketAddr,
    proxy_ca_dir: &Path,
) -> Result<(Route, Route), BenchError> {
    let (direct_tls, proxied_tls) = match &upstream.ca {
        Some(upstream_ca) => {
            let proxy_ca = proxy_ca_dir.join(crate::source::proxy::tls::CA_CERT_FILE);
            (
                Some(client::trusting(upstream_ca)?),
                Some(client::trusting(&proxy_ca)?),
            )
        }
        None => (None, None),
    };
    let direct = Route {
        upstream: upstream.addr,
        proxy: None,
        tls: direct_tls,
    };
    let proxied = Route {
        upstream: upstream.addr,
        proxy: Some(proxy),
        tls: proxied_tls,
    };
    Ok((direct, proxied))
}

/// Every phase; the proxy's figures and the recorded count are filled in once it has stopped.
async fn phases(opts: &Options, direct: &Route, proxied: &Route) -> Result<Report, BenchError> {
    let n = opts.requests.max(1);
    let c = opts.concurrency.clamp(1, n);
    let one = (n / 10).clamp(1, 2000);
    let warm_up = 200.min(n);
    // A short warm-up of both paths: connection pools and leaf caches are not what is measured.
    client::load(direct, warm_up, 4).await?;
    client::load(proxied, warm_up, 4).await?;
    let direct_many = client::load(direct, n, c).await?;
    let proxied_many = client::load(proxied, n, c).await?;
    let direct_one = client::load(direct, one, 1).await?;
    let proxied_one = client::load(proxied, one, 1).await?;
    Ok(Report {
        tls: opts.tls,
        concurrency: c,
        sent_through_proxy: proxied_many.requests + proxied_one.requests + warm_up,
        direct: direct_many,
        proxied: proxied_many,
        direct_one,
        proxied_one,
        proxy_cpu: Duration::ZERO,
        proxy_peak_rss: 0,
        recorded: 0,
        proxy_said: String::new(),
    })
}

/// Asks the proxy to stop (SIGTERM), as a sidecar is stopped.
#[allow(unsafe_code)] // libc's kill: see the SAFETY below.
fn terminate(child: &Child) {
    // SAFETY: kill(2) on our own child's pid, not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// Waits for the proxy to exit; what it wrote to stderr comes back with its status: with --quiet,
/// only its warnings (calls it could not record among them), which explain a short recorded count.
fn stop(child: Child) -> Result<(std::process::ExitStatus, String), BenchError> {
    let out = child
        .wait_with_output()
        .context("waiting for the proxy to stop")?;
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

fn free_port() -> Result<SocketAddr, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}
