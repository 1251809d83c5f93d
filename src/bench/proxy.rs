//! `bench --proxy`: requests per second through `observe --proxy` and the latency it adds, against
//! a local upstream answering like SSM, compared in the same run with calling the upstream
//! directly. The proxy runs as a child process of this binary, as a sidecar would; afterwards its
//! database must hold exactly one recorded call per proxied request.

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub requests: u64,
    pub concurrency: u64,
    pub binary: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub requests: u64,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Phase {
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub concurrency: u64,
    pub direct: Phase,
    pub proxied: Phase,
    pub direct_one: Phase,
    pub proxied_one: Phase,
    pub proxy_cpu: Duration,
    pub proxy_peak_rss: u64,
    pub recorded: i64,
    pub sent_through_proxy: u64,
}

const ROLE: &str = "arn:aws:iam::123456789012:role/bench-task";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=ASIABENCH/20261201/us-east-1/ssm/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00";

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let upstream = start_upstream().await?;
    let dir = std::env::temp_dir().join(format!("policy-miner-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure(opts, upstream, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(opts: &Options, upstream: SocketAddr, dir: &Path) -> anyhow::Result<Report> {
    let proxy_addr = free_port()?;
    let db = dir.join("bench.db");
    let mut child = Command::new(&opts.binary)
        .args(["observe", "--quiet", "--db"])
        .arg(&db)
        .args([
            "--proxy",
            &proxy_addr.to_string(),
            "--role",
            ROLE,
            "--ca-dir",
        ])
        .arg(dir.join("ca"))
        .env_remove("POLICY_MINER_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} observe --proxy", opts.binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(proxy_addr).await.is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the proxy did not listen on {proxy_addr} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = opts.requests.max(1);
    let c = opts.concurrency.clamp(1, n);
    let one = (n / 10).clamp(1, 2000);
    let phases = async {
        // A short warm-up of both paths: connection pools and leaf caches are not what is measured.
        load(upstream, None, 200.min(n), 4).await?;
        load(upstream, Some(proxy_addr), 200.min(n), 4).await?;
        let direct = load(upstream, None, n, c).await?;
        let proxied = load(upstream, Some(proxy_addr), n, c).await?;
        let direct_one = load(upstream, None, one, 1).await?;
        let proxied_one = load(upstream, Some(proxy_addr), one, 1).await?;
        anyhow::Ok((direct, proxied, direct_one, proxied_one))
    }
    .await;
    // SAFETY: kill(2) on our own child's pid, not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait()?;
    let (direct, proxied, direct_one, proxied_one) = phases?;
    if !status.success() {
        bail!("the proxy exited with {status}");
    }
    let store = crate::store::Store::open(&db, false).await?;
    let recorded = store.evidence().await?.iter().map(|r| r.count).sum::<i64>();
    store.close().await;
    Ok(Report {
        concurrency: c,
        sent_through_proxy: proxied.requests + proxied_one.requests + 200.min(n),
        direct,
        proxied,
        direct_one,
        proxied_one,
        proxy_cpu: super::cpu_time(libc::RUSAGE_CHILDREN),
        proxy_peak_rss: super::children_peak_rss(),
        recorded,
    })
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// An HTTP/1.1 server answering every request as SSM answers GetParameter.
async fn start_upstream() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
                    let _ = req.into_body().collect().await;
                    let body = r#"{"Parameter":{"Name":"/bench/p","Type":"String","Value":"v","Version":1}}"#;
                    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    resp.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("application/x-amz-json-1.1"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// `n` requests over `c` keep-alive connections, to the upstream directly or through the proxy.
async fn load(
    upstream: SocketAddr,
    proxy: Option<SocketAddr>,
    n: u64,
    c: u64,
) -> anyhow::Result<Phase> {
    let clock = Instant::now();
    let mut workers = Vec::new();
    for w in 0..c {
        let count = n / c + u64::from(w < n % c);
        workers.push(tokio::spawn(worker(upstream, proxy, count, w)));
    }
    let mut latencies = Vec::with_capacity(n as usize);
    for w in workers {
        latencies.extend(w.await??);
    }
    let wall = clock.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(Phase {
        requests: n,
        wall,
        p50: at(0.50),
        p99: at(0.99),
    })
}

async fn worker(
    upstream: SocketAddr,
    proxy: Option<SocketAddr>,
    count: u64,
    id: u64,
) -> anyhow::Result<Vec<Duration>> {
    let stream = tokio::net::TcpStream::connect(proxy.unwrap_or(upstream)).await?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        // Through a proxy the request line is in absolute form, as HTTP_PROXY clients send it.
        let uri = match proxy {
            Some(_) => format!("http://{upstream}/"),
            None => "/".to_string(),
        };
        let body = format!(
            r#"{{"Name": "/bench/p{}", "WithDecryption": true}}"#,
            (id * 7 + i) % 50
        );
        let req = Request::post(uri)
            .header("host", upstream.to_string())
            .header("x-amz-target", "AmazonSSM.GetParameter")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-date", "20261201T000000Z")
            .header("authorization", AUTH)
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        send.ready().await?;
        let resp = send.send_request(req).await?;
        let status = resp.status();
        resp.into_body().collect().await?;
        out.push(started.elapsed());
        if !status.is_success() {
            bail!("the upstream answered {status}");
        }
    }
    Ok(out)
}

impl Report {
    pub fn render(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let row = |name: &str, p: &Phase| {
            format!(
                "{name:<28}{:>10.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms\n",
                p.per_sec(),
                ms(p.p50),
                ms(p.p99)
            )
        };
        let mut s = format!(
            "upstream: local HTTP/1.1 server answering SSM GetParameter; {} requests on {} \
             keep-alive connections, then {} on one\n",
            self.proxied.requests, self.concurrency, self.proxied_one.requests
        );
        s += &row(
            &format!("direct ({} conns)", self.concurrency),
            &self.direct,
        );
        s += &row(
            &format!("through proxy ({} conns)", self.concurrency),
            &self.proxied,
        );
        s += &row("direct (1 conn)", &self.direct_one);
        s += &row("through proxy (1 conn)", &self.proxied_one);
        s += &format!(
            "added by the proxy: p50 +{:.3} ms, p99 +{:.3} ms on one connection; throughput {:.0}% of direct with {}\n",
            ms(self.proxied_one.p50.saturating_sub(self.direct_one.p50)),
            ms(self.proxied_one.p99.saturating_sub(self.direct_one.p99)),
            100.0 * self.proxied.per_sec() / self.direct.per_sec().max(1e-9),
            self.concurrency
        );
        s += &format!(
            "proxy process: {:.2} s CPU, peak RSS {:.1} MB; {} of {} proxied calls recorded\n",
            self.proxy_cpu.as_secs_f64(),
            self.proxy_peak_rss as f64 / 1e6,
            self.recorded,
            self.sent_through_proxy
        );
        s
    }
}
