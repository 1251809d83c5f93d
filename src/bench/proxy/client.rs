//! The bench's client: signed-looking SSM GetParameter requests over keep-alive HTTP/1.1
//! connections, to the upstream directly or through the proxy, in plain HTTP or in TLS (through
//! the proxy: a CONNECT tunnel with TLS inside, as the SDKs do with HTTPS_PROXY).

use super::Phase;
use crate::bench::BenchError;
use crate::error::context::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=ASIABENCH/20261201/us-east-1/ssm/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00";

/// Where a phase's requests go and how.
#[derive(Clone)]
pub struct Route {
    pub upstream: SocketAddr,
    /// Through the proxy when set.
    pub proxy: Option<SocketAddr>,
    /// TLS to the upstream (inside a tunnel through the proxy) when set.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

/// A TLS client trusting only the CA in `ca_pem`: the proxy's through the proxy, the upstream's
/// directly, so a phase cannot pass by talking to the wrong server.
pub fn trusting(ca_pem: &Path) -> Result<tokio_rustls::TlsConnector, BenchError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .with_context(|| format!("reading the CA certificate {}", ca_pem.display()))?
    {
        let cert = cert.with_context(|| format!("{}: not a PEM certificate", ca_pem.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", ca_pem.display()))?;
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(crate::source::proxy::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `n` requests over `c` keep-alive connections.
pub async fn load(route: &Route, n: u64, c: u64) -> Result<Phase, BenchError> {
    let clock = Instant::now();
    let mut workers = Vec::new();
    for w in 0..c {
        let count = n / c + u64::from(w < n % c);
        workers.push(tokio::spawn(worker(route.clone(), count, w)));
    }
    let mut latencies = Vec::with_capacity(n as usize);
    let mut setups = Vec::with_capacity(c as usize);
    for w in workers {
        let (setup, l) = w.await??;
        setups.push(setup);
        latencies.extend(l);
    }
    let wall = clock.elapsed();
    Ok(Phase {
        requests: n,
        wall,
        p50: quantile(&mut latencies, 0.50),
        p99: quantile(&mut latencies, 0.99),
        setup: quantile(&mut setups, 0.50),
    })
}

fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let last = samples.len().saturating_sub(1);
    samples
        .get(((samples.len() as f64 * q) as usize).min(last))
        .copied()
        .unwrap_or_default()
}

/// One connection's requests: the time to set the connection up (TCP, CONNECT, TLS), then the
/// latency of each request.
async fn worker(
    route: Route,
    count: u64,
    id: u64,
) -> Result<(Duration, Vec<Duration>), BenchError> {
    let started = Instant::now();
    let tcp = TcpStream::connect(route.proxy.unwrap_or(route.upstream))
        .await
        .with_context(|| format!("connecting to {}", route.proxy.unwrap_or(route.upstream)))?;
    tcp.set_nodelay(true)?;
    let Some(tls) = &route.tls else {
        return requests(TokioIo::new(tcp), &route, count, id, started).await;
    };
    let name = ServerName::from(route.upstream.ip());
    match route.proxy {
        None => {
            let stream = tls
                .connect(name, tcp)
                .await
                .context("TLS to the upstream")?;
            requests(TokioIo::new(stream), &route, count, id, started).await
        }
        Some(proxy) => {
            let tunnel = TokioIo::new(tunnel(tcp, route.upstream).await?);
            let stream = tls
                .connect(name, tunnel)
                .await
                .with_context(|| format!("TLS through the proxy's tunnel at {proxy}"))?;
            requests(TokioIo::new(stream), &route, count, id, started).await
        }
    }
}

/// A CONNECT tunnel to `target` through the proxy on `tcp`, as HTTPS_PROXY clients open it.
async fn tunnel(
    tcp: TcpStream,
    target: SocketAddr,
) -> Result<hyper::upgrade::Upgraded, BenchError> {
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp)).await?;
    tokio::spawn(conn.with_upgrades());
    let req = Request::connect(target.to_string())
        .header("host", target.to_string())
        .body(Empty::new())?;
    let resp = send
        .send_request(req)
        .await
        .context("CONNECT to the proxy")?;
    if !resp.status().is_success() {
        bail!("the proxy answered CONNECT {target} with {}", resp.status());
    }
    hyper::upgrade::on(resp)
        .await
        .context("the proxy's CONNECT tunnel")
}

async fn requests<S>(
    io: S,
    route: &Route,
    count: u64,
    id: u64,
    started: Instant,
) -> Result<(Duration, Vec<Duration>), BenchError>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let setup = started.elapsed();
    // Through a plain HTTP proxy the request line is in absolute form, as HTTP_PROXY clients
    // send it; inside a tunnel it is in origin form, as to the server itself.
    let uri = match (route.proxy, &route.tls) {
        (Some(_), None) => format!("http://{}/", route.upstream),
        _ => "/".to_string(),
    };
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let body = format!(
            r#"{{"Name": "/bench/p{}", "WithDecryption": true}}"#,
            (id * 7 + i) % 50
        );
        let req = Request::post(uri.as_str())
            .header("host", route.upstream.to_string())
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
    Ok((setup, out))
}
