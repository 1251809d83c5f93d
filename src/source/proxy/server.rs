//! The forward proxy: plain HTTP requests in absolute form, and `CONNECT` tunnels. Tunnels to AWS
//! hosts (and to `--intercept` hosts) are decrypted with a leaf certificate of the proxy's CA and
//! re-encrypted upstream; any other tunnel is passed through as bytes, so applications calling
//! non-AWS HTTPS services see their real certificates.
//!
//! Requests go upstream as they came (minus hop-by-hop headers): only the bodies decoding needs
//! (small JSON and form bodies) are read first, and nothing waits for the recorder.

use super::body::{bump, read_up_to, InFlight, Observed, ProxyBody, Recording, Stats};
use super::decode::{self, RequestView};
use super::tls::Authority;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

pub struct Config {
    pub authority: Arc<Authority>,
    /// Host names decrypted besides AWS's own (`name`, or `.suffix` for a domain).
    pub intercept: Vec<String>,
    pub upstream: rustls::ClientConfig,
    /// The largest request body read to decode it; larger ones stream through unread.
    pub body_cap: usize,
    /// Bytes of request bodies held at once across all connections.
    pub body_budget: usize,
}

type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

pub struct Proxy {
    authority: Arc<Authority>,
    intercept: Vec<String>,
    client: Upstream,
    body_cap: usize,
    /// Permits of 1 KiB: a body is read only if its size can be reserved, so memory stays
    /// bounded whatever the request rate.
    budget: Arc<Semaphore>,
    tx: mpsc::Sender<Observed>,
    pub stats: Arc<Stats>,
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
        Proxy {
            authority: cfg.authority,
            intercept: cfg
                .intercept
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            client,
            body_cap: cfg.body_cap,
            budget: Arc::new(Semaphore::new((cfg.body_budget / 1024).max(1))),
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
            let _ = stream.set_nodelay(true);
            let proxy = self.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .preserve_header_case(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        if req.method() == Method::CONNECT {
            return self.connect(req).await;
        }
        let authority = match (req.uri().scheme_str(), req.uri().authority()) {
            (Some("http"), Some(a)) => a.to_string(),
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "policy-miner is an HTTP proxy: send requests in absolute form \
                     (http://host/path) or CONNECT host:port, e.g. with HTTP_PROXY/HTTPS_PROXY \
                     set to this address\n",
                )
            }
        };
        self.forward(req, "http", authority).await
    }

    fn intercepts(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
            .iter()
            .any(|s| host.ends_with(s))
            || self
                .intercept
                .iter()
                .any(|h| *h == host || (h.starts_with('.') && host.ends_with(h.as_str())))
    }

    async fn connect(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let Some(target) = req.uri().authority().cloned() else {
            return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port\n");
        };
        let host = target.host().to_string();
        let port = target.port_u16().unwrap_or(443);
        if self.intercepts(&host) {
            tokio::spawn(async move {
                if let Ok(upgraded) = hyper::upgrade::on(req).await {
                    self.serve_tls(TokioIo::new(upgraded), host, port).await;
                }
            });
            return Response::new(ProxyBody::empty());
        }
        bump(&self.stats.tunnels);
        bump(&self.stats.not_aws);
        let upstream = match tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.bad_gateway(target.as_ref(), &e.to_string()),
            Err(_) => return self.bad_gateway(target.as_ref(), "timed out"),
        };
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
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
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
        let Ok(start) = acceptor.await else { return };
        // Clients send no SNI for an IP address: the CONNECT target names the certificate then.
        let name = start
            .client_hello()
            .server_name()
            .map(str::to_string)
            .unwrap_or_else(|| host.clone());
        let config = match self.authority.server_config(&name) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("warning: no certificate for {name}: {e:#}");
                return;
            }
        };
        let Ok(tls) = start.into_stream(config).await else {
            return;
        };
        let authority = if port == 443 {
            host
        } else {
            format!("{host}:{port}")
        };
        let svc = service_fn(move |req| {
            let proxy = self.clone();
            let authority = authority.clone();
            async move { Ok::<_, Infallible>(proxy.forward(req, "https", authority).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .preserve_header_case(true)
            .serve_connection(TokioIo::new(tls), svc)
            .await;
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
        let head = decode::head(&view);
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
            Err(e) => {
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                self.bad_gateway(&authority, &why)
            }
        }
    }

    /// A small body, read whole (returned as bytes and replayed upstream); any other streams
    /// through unread.
    async fn read_body(
        &self,
        body: Incoming,
        headers: &HeaderMap,
    ) -> Result<(ProxyBody, Option<Bytes>), hyper::Error> {
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
        match read_up_to(body, self.body_cap).await? {
            Ok(bytes) => Ok((ProxyBody::held(bytes.clone(), permit), Some(bytes))),
            Err(replay) => Ok((replay, None)),
        }
    }

    fn bad_gateway(&self, target: &str, why: &str) -> Response<ProxyBody> {
        bump(&self.stats.upstream_errors);
        text(
            StatusCode::BAD_GATEWAY,
            &format!("policy-miner proxy: cannot reach {target}: {why}\n"),
        )
    }
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
