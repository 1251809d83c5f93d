//! The forward proxy: plain HTTP requests in absolute form, and `CONNECT` tunnels. Tunnels to AWS
//! hosts (and to `--intercept` hosts) are decrypted with a leaf certificate of the proxy's CA and
//! re-encrypted upstream; any other tunnel is passed through as bytes, so applications calling
//! non-AWS HTTPS services see their real certificates. Only intercepted hosts are recorded, and
//! traffic to other hosts goes only where [`reach`](super::reach) allows.
//!
//! Requests go upstream as they came (minus hop-by-hop headers): only the bodies decoding needs
//! (small JSON and form bodies) are read first, and nothing waits for the recorder.
//!
//! No client can hold more than its share: a connection takes one of `max_connections` slots
//! (excess ones get a 503 and are closed at once), must send complete request headers within
//! `header_timeout` of opening or of its previous response (so idle kept-alive connections close
//! too), and the same bound applies to the TLS handshake in a decrypted tunnel; a body read for
//! decoding must arrive within [`BODY_READ_TIMEOUT`]; and a connection or tunnel silent both
//! ways for [`STALLED`] is closed.

use super::body::{bump, read_up_to, InFlight, Observed, ProxyBody, Recording, Stats};
use super::decode::{self, Head, RequestView};
use super::limits::{Lease, Watched, STALLED};
use super::reach::{self, Hosts, Tunnel, Unreachable};
use super::tls::{leaf_name, Authority};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// How long a body read for decoding may take to arrive: the default `--max-body` (1 MiB) at
/// 17 KiB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest request head (and read buffer) of a client connection: AWS's requests need a few
/// KiB, and this bounds the memory a connection can make the proxy hold.
const MAX_HEAD: usize = 64 * 1024;

pub struct Config {
    pub authority: Arc<Authority>,
    /// Host names decrypted besides AWS's own (`name`, or `.suffix` for a domain).
    pub intercept: Vec<String>,
    pub upstream: rustls::ClientConfig,
    /// The largest request body read to decode it; larger ones stream through unread.
    pub body_cap: usize,
    /// Bytes of request bodies held at once across all connections.
    pub body_budget: usize,
    /// Client connections open at once (tunnels included); more are refused.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, from the connection's start or
    /// its previous response, and to finish a decrypted tunnel's TLS handshake.
    pub header_timeout: Duration,
}

type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

pub struct Proxy {
    authority: Arc<Authority>,
    hosts: Hosts,
    client: Upstream,
    body_cap: usize,
    /// Permits of 1 KiB: a body is read only if its size can be reserved, so memory stays
    /// bounded whatever the request rate.
    budget: Arc<Semaphore>,
    /// One permit per client connection.
    slots: Arc<Semaphore>,
    max_connections: usize,
    header_timeout: Duration,
    /// The answer to a connection over the limit, written as it is closed.
    busy: String,
    /// Whether the limit was hit already: said once on stderr, counted after.
    warned_full: AtomicBool,
    tx: mpsc::Sender<Observed>,
    pub stats: Arc<Stats>,
}

/// The AWS call a request is evidence of, if any: a SigV4-signed request to a host the proxy
/// intercepts (AWS's endpoints, `--intercept` hosts). Anyone can write a signature header and
/// only AWS checks it, so a request to any other host stands for nothing the role did.
pub fn recorded_head(hosts: &Hosts, req: &RequestView) -> Option<Head> {
    if !hosts.intercepts(req.host) {
        return None;
    }
    decode::head(req)
}

/// Where a plain HTTP request goes.
struct Target {
    /// `host[:port]`, as in the request line.
    authority: String,
    /// Without brackets.
    host: String,
    port: u16,
}

impl Target {
    fn of(uri: &Uri) -> Option<Target> {
        let authority = uri.authority()?;
        Some(Target {
            authority: authority.to_string(),
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: authority.port_u16().unwrap_or(80),
        })
    }
}

impl Proxy {
    pub fn new(cfg: Config, tx: mpsc::Sender<Observed>) -> Proxy {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg.upstream)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_preserve_header_case(true)
            .build(https);
        let max_connections = cfg.max_connections.max(1);
        Proxy {
            authority: cfg.authority,
            hosts: Hosts::new(&cfg.intercept),
            client,
            body_cap: cfg.body_cap,
            budget: Arc::new(Semaphore::new((cfg.body_budget / 1024).max(1))),
            slots: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            header_timeout: cfg.header_timeout,
            busy: busy_response(max_connections),
            warned_full: AtomicBool::new(false),
            tx,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Accepts connections until the task is aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                // Out of file descriptors and the like: wait for connections to close.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.refuse_connection(&stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.clone().serve_client(stream, Lease::new(slot)));
        }
    }

    /// Answers a connection over the limit without waiting for it: a client that does not read
    /// the 503 only misses it. Closing it at once is what keeps the descriptors bounded.
    fn refuse_connection(&self, stream: &TcpStream) {
        bump(&self.stats.refused_connections);
        if !self.warned_full.swap(true, Ordering::Relaxed) {
            eprintln!(
                "warning: {} client connections are open, the most --max-connections allows; \
                 new ones are refused until some close",
                self.max_connections
            );
        }
        let _ = stream.try_write(self.busy.as_bytes());
    }

    async fn serve_client(self: Arc<Self>, stream: TcpStream, lease: Arc<Lease>) {
        let io = TokioIo::new(Watched::new(stream, lease.clone()));
        let builder = http1_server(self.header_timeout);
        let svc = {
            let lease = lease.clone();
            service_fn(move |req| {
                let proxy = self.clone();
                let lease = lease.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req, lease).await) }
            })
        };
        let conn = builder.serve_connection(io, svc).with_upgrades();
        lease.until_stalled(STALLED, conn).await;
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        lease: Arc<Lease>,
    ) -> Response<ProxyBody> {
        if req.method() == Method::CONNECT {
            return self.connect(req, lease).await;
        }
        let target = match (req.uri().scheme_str(), Target::of(req.uri())) {
            (Some("http"), Some(t)) => t,
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "policy-miner is an HTTP proxy: send requests in absolute form \
                     (http://host/path) or CONNECT host:port, e.g. with HTTP_PROXY/HTTPS_PROXY \
                     set to this address\n",
                )
            }
        };
        if self.hosts.intercepts(&target.host) {
            self.forward(req, "http", target.authority).await
        } else {
            self.pass(req, &target).await
        }
    }

    async fn connect(
        self: Arc<Self>,
        req: Request<Incoming>,
        lease: Arc<Lease>,
    ) -> Response<ProxyBody> {
        let Some(target) = req.uri().authority().cloned() else {
            return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port\n");
        };
        let host = target
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = target.port_u16().unwrap_or(443);
        match self.hosts.tunnel(&host, port) {
            Tunnel::Decrypt => {
                tokio::spawn(async move {
                    if let Ok(upgraded) = hyper::upgrade::on(req).await {
                        let tunnel = self.serve_tls(TokioIo::new(upgraded), host, port);
                        lease.until_stalled(STALLED, tunnel).await;
                    }
                });
                Response::new(ProxyBody::empty())
            }
            Tunnel::Refuse(why) => self.refused(&format!("CONNECT {target}"), &why),
            Tunnel::PassThrough => self.pass_through(req, &host, port, lease).await,
        }
    }

    /// A tunnel to a host not intercepted: bytes both ways, never read, never recorded.
    async fn pass_through(
        &self,
        req: Request<Incoming>,
        host: &str,
        port: u16,
        lease: Arc<Lease>,
    ) -> Response<ProxyBody> {
        bump(&self.stats.tunnels);
        bump(&self.stats.not_aws);
        let target = format!("{host}:{port}");
        let mut upstream = match reach::connect(host, port).await {
            Ok(s) => s,
            Err(Unreachable::Refused(why)) => {
                return self.refused(&format!("CONNECT {target}"), &why)
            }
            Err(Unreachable::Failed(why)) => return self.bad_gateway(&target, &why),
        };
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client = TokioIo::new(upgraded);
                let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
                lease.until_stalled(STALLED, relay).await;
            }
        });
        Response::new(ProxyBody::empty())
    }

    /// Decrypts one tunnel and serves the requests in it, each forwarded to the tunnel's target.
    async fn serve_tls(
        self: Arc<Self>,
        io: TokioIo<hyper::upgrade::Upgraded>,
        host: String,
        port: u16,
    ) {
        let handshake = self.accept_tls(io, &host);
        let Ok(Some(tls)) = tokio::time::timeout(self.header_timeout, handshake).await else {
            return;
        };
        let authority = if port == 443 {
            host
        } else {
            format!("{host}:{port}")
        };
        let builder = http1_server(self.header_timeout);
        let svc = service_fn(move |req| {
            let proxy = self.clone();
            let authority = authority.clone();
            async move { Ok::<_, Infallible>(proxy.forward(req, "https", authority).await) }
        });
        let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
    }

    /// The TLS handshake of a decrypted tunnel to `host`. Only the tunnel's own host gets a
    /// certificate: a client hello naming another is refused, whatever name it asks for.
    async fn accept_tls(
        &self,
        io: TokioIo<hyper::upgrade::Upgraded>,
        host: &str,
    ) -> Option<tokio_rustls::server::TlsStream<TokioIo<hyper::upgrade::Upgraded>>> {
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
        let start = acceptor.await.ok()?;
        let name = leaf_name(host, start.client_hello().server_name())?;
        let config = match self.authority.server_config(name) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("warning: no certificate for {name}: {e:#}");
                return None;
            }
        };
        start.into_stream(config).await.ok()
    }

    /// A plain HTTP request to a host not intercepted: sent on a connection of its own to an
    /// address [`reach::connect`] vetted, never recorded. The connection closes with the
    /// response, so traffic that is not AWS's holds no descriptor beyond its request.
    async fn pass(&self, req: Request<Incoming>, target: &Target) -> Response<ProxyBody> {
        bump(&self.stats.not_aws);
        let stream = match reach::connect(&target.host, target.port).await {
            Ok(s) => s,
            Err(Unreachable::Refused(why)) => return self.refused(&target.authority, &why),
            Err(Unreachable::Failed(why)) => return self.bad_gateway(&target.authority, &why),
        };
        bump(&self.stats.requests);
        let _ = stream.set_nodelay(true);
        let handshake = hyper::client::conn::http1::Builder::new()
            .preserve_header_case(true)
            .handshake::<_, ProxyBody>(TokioIo::new(stream))
            .await;
        let (mut send, conn) = match handshake {
            Ok(pair) => pair,
            Err(e) => return self.bad_gateway(&target.authority, &causes(&e)),
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let (mut parts, body) = req.into_parts();
        // To the server itself the request line is in origin form.
        let origin = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = match origin.parse::<Uri>() {
            Ok(u) => u,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("bad request URI: {e}\n")),
        };
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        if !parts.headers.contains_key(header::HOST) {
            if let Ok(v) = http::HeaderValue::from_str(&target.authority) {
                parts.headers.insert(header::HOST, v);
            }
        }
        let upstream = Request::from_parts(parts, ProxyBody::stream(body));
        match send.send_request(upstream).await {
            Ok(resp) => {
                let (mut rparts, rbody) = resp.into_parts();
                strip_hop_by_hop(&mut rparts.headers);
                Response::from_parts(rparts, ProxyBody::stream(rbody))
            }
            Err(e) => self.bad_gateway(&target.authority, &causes(&e)),
        }
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        scheme: &str,
        authority: String,
    ) -> Response<ProxyBody> {
        bump(&self.stats.requests);
        let in_flight = InFlight::new(&self.stats);
        let ms = chrono::Utc::now().timestamp_millis();
        let (mut parts, body) = req.into_parts();
        let host = authority
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(authority.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let view = RequestView {
            method: &parts.method,
            host: &host,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
        };
        let head = recorded_head(&self.hosts, &view);
        let mut read: Option<Bytes> = None;
        let body = match &head {
            Some(h) if h.needs_body => match self.read_body(body, &parts.headers).await {
                Ok((b, bytes)) => {
                    read = bytes;
                    b
                }
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("policy-miner proxy: the request body could not be read: {e}\n"),
                    )
                }
            },
            _ => ProxyBody::stream(body),
        };
        let call = head.as_ref().map(|h| {
            bump(&self.stats.aws_calls);
            if h.needs_body && read.is_none() {
                bump(&self.stats.unread_bodies);
            }
            decode::decode(h, &view, read.as_deref())
        });
        if head.is_none() {
            bump(&self.stats.not_aws);
        }
        drop(read);
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = match format!("{scheme}://{authority}{path_and_query}").parse::<Uri>() {
            Ok(u) => u,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("bad request URI: {e}\n")),
        };
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        let upstream = Request::from_parts(parts, body);
        match self.client.request(upstream).await {
            Ok(resp) => {
                let (mut rparts, rbody) = resp.into_parts();
                strip_hop_by_hop(&mut rparts.headers);
                let body = match call {
                    Some(call) => ProxyBody::recorded(
                        rbody,
                        Recording::new(call, &rparts, ms, self.tx.clone(), in_flight),
                    ),
                    None => ProxyBody::stream(rbody),
                };
                Response::from_parts(rparts, body)
            }
            Err(e) => self.bad_gateway(&authority, &causes(&e)),
        }
    }

    /// A small body, read whole (returned as bytes and replayed upstream); any other streams
    /// through unread. A body that does not arrive within [`BODY_READ_TIMEOUT`] fails the request:
    /// a client trickling it must not hold its share of the budget for ever.
    async fn read_body(
        &self,
        body: Incoming,
        headers: &HeaderMap,
    ) -> Result<(ProxyBody, Option<Bytes>), String> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.body_cap) {
            return Ok((ProxyBody::stream(body), None));
        }
        let kib = (declared.unwrap_or(self.body_cap) / 1024 + 1) as u32;
        let Ok(permit) = self.budget.clone().try_acquire_many_owned(kib) else {
            return Ok((ProxyBody::stream(body), None));
        };
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, read_up_to(body, self.body_cap))
            .await
            .map_err(|_| format!("it did not arrive within {} s", BODY_READ_TIMEOUT.as_secs()))?
            .map_err(|e| causes(&e))?;
        match read {
            Ok(bytes) => Ok((ProxyBody::held(bytes.clone(), permit), Some(bytes))),
            Err(replay) => Ok((replay, None)),
        }
    }

    fn refused(&self, target: &str, why: &str) -> Response<ProxyBody> {
        bump(&self.stats.refused_destinations);
        text(
            StatusCode::FORBIDDEN,
            &format!("policy-miner proxy: refused to reach {target}: {why}\n"),
        )
    }

    fn bad_gateway(&self, target: &str, why: &str) -> Response<ProxyBody> {
        bump(&self.stats.upstream_errors);
        text(
            StatusCode::BAD_GATEWAY,
            &format!("policy-miner proxy: cannot reach {target}: {why}\n"),
        )
    }
}

/// The server side of one client connection (or decrypted tunnel): headers within `timeout`
/// (hyper starts the clock again when a kept-alive connection goes idle, so it is also the idle
/// timeout), and a bounded head.
fn http1_server(timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEAD)
        .preserve_header_case(true);
    builder
}

/// The 503 a connection over the limit gets, in full (it is written without hyper).
fn busy_response(max: usize) -> String {
    let body = format!(
        "policy-miner proxy: {max} connections are open, the most it accepts \
         (--max-connections); try again later\n"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; \
         charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An error with its causes, for the client's 502: hyper's own message rarely says which.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    why
}

/// Headers that describe one connection, not the request: never forwarded (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(message.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
