//! A relay in front of an S3 endpoint (moto) that holds each request for a set delay before
//! forwarding it, as the round trip to a distant region would, and counts the most requests in
//! flight at once. With a fault it also answers the first request for each distinct method and
//! URI as S3 does under load, with `503 SlowDown` ("Please reduce your request rate", S3's error
//! responses), or by closing the connection without an answer: each request then succeeds only
//! if the client retries it; or it answers `SlowDown` to every request for one part of the
//! bucket, which then cannot be read at all.

use crate::bench::BenchError;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the relay does to the first request for each distinct method and URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers `503 SlowDown`, S3's throttling error.
    SlowDown,
    /// Closes the connection without answering.
    Drop,
    /// Answers `503 SlowDown` to every request whose URI (path and query, as sent) holds this
    /// text, however often it is retried: one part of the bucket that cannot be read.
    SlowDownAlways(&'static str),
}

/// What went through the relay so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// The most requests in the relay at once (from arrival to the end of the answer).
    pub max_in_flight: usize,
    /// Requests answered with the fault instead of being forwarded.
    pub faults: u64,
    /// Where in the order of arrival (1 the first request) the first GetObject came, and the
    /// last ListObjectsV2: whether objects were fetched while the bucket was still listed.
    pub first_get_object: Option<u64>,
    pub last_list: Option<u64>,
}

pub struct Relay {
    pub addr: SocketAddr,
    state: Arc<State>,
    accepting: tokio::task::JoinHandle<()>,
}

struct State {
    upstream: SocketAddr,
    delay: Duration,
    fault: Option<Fault>,
    faulted: Mutex<HashSet<String>>,
    client: Client<HttpConnector, Full<Bytes>>,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    faults: AtomicU64,
    /// Arrival numbers (0: none yet).
    first_get_object: AtomicU64,
    last_list: AtomicU64,
}

impl Relay {
    /// Listens on a free loopback port, forwarding to `upstream` (plain HTTP).
    pub async fn start(
        upstream: SocketAddr,
        delay: Duration,
        fault: Option<Fault>,
    ) -> Result<Relay, BenchError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream,
            delay,
            fault,
            faulted: Mutex::new(HashSet::new()),
            client: Client::builder(TokioExecutor::new()).build_http(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            faults: AtomicU64::new(0),
            first_get_object: AtomicU64::new(0),
            last_list: AtomicU64::new(0),
        });
        let accepting = tokio::spawn(accept(listener, state.clone()));
        Ok(Relay {
            addr,
            state,
            accepting,
        })
    }

    /// The URL to give a client as its endpoint (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.state.requests.load(Ordering::SeqCst),
            max_in_flight: self.state.max_in_flight.load(Ordering::SeqCst),
            faults: self.state.faults.load(Ordering::SeqCst),
            first_get_object: nonzero(self.state.first_get_object.load(Ordering::SeqCst)),
            last_list: nonzero(self.state.last_list.load(Ordering::SeqCst)),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: tokio::net::TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| relay(req, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A request in the relay: counted in flight until dropped.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a connection was closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the relay's fault")]
struct Dropped;

async fn relay(
    req: Request<hyper::body::Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let _in_flight = InFlight::enter(&state);
    let arrival = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    match operation(req.method(), &target) {
        Some(Operation::List) => {
            state.last_list.fetch_max(arrival, Ordering::SeqCst);
        }
        Some(Operation::GetObject) => {
            let _ = state.first_get_object.compare_exchange(
                0,
                arrival,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        None => {}
    }
    if let Some(fault) = state.fault {
        let faulted = match fault {
            Fault::SlowDownAlways(text) => target.contains(text),
            Fault::SlowDown | Fault::Drop => state
                .faulted
                .lock()
                .is_ok_and(|mut seen| seen.insert(format!("{} {target}", req.method()))),
        };
        if faulted {
            state.faults.fetch_add(1, Ordering::SeqCst);
            return match fault {
                Fault::Drop => Err(Dropped),
                Fault::SlowDown | Fault::SlowDownAlways(_) => Ok(answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                     <Message>Please reduce your request rate.</Message>\
                     <RequestId>RELAY</RequestId></Error>",
                )),
            };
        }
    }
    tokio::time::sleep(state.delay).await;
    Ok(forward(req, &state, &target)
        .await
        .unwrap_or_else(|e| answer(StatusCode::BAD_GATEWAY, &e)))
}

/// The S3 operations the relay tells apart.
#[derive(Debug, PartialEq, Eq)]
enum Operation {
    List,
    GetObject,
}

/// Which operation a path-style request is: ListObjectsV2 is a GET on the bucket with
/// `list-type=2` in its query, GetObject a GET on `/bucket/key` (S3 API reference, both
/// operations' request syntax).
fn operation(method: &http::Method, target: &str) -> Option<Operation> {
    if method != http::Method::GET {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if query.split('&').any(|p| p == "list-type=2") {
        return Some(Operation::List);
    }
    let (_bucket, key) = path.trim_start_matches('/').split_once('/')?;
    (!key.is_empty()).then_some(Operation::GetObject)
}

fn nonzero(n: u64) -> Option<u64> {
    (n != 0).then_some(n)
}

/// The request as it came (its Host header too: the signature covers it), sent to the upstream.
async fn forward(
    req: Request<hyper::body::Incoming>,
    state: &State,
    target: &str,
) -> Result<Response<Full<Bytes>>, String> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    parts.uri = format!("http://{}{target}", state.upstream)
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let resp = state
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| format!("upstream {}: {e}", state.upstream))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn answer(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_told_apart_by_path_and_query() {
        let get = http::Method::GET;
        assert_eq!(
            operation(&get, "/trail?list-type=2&delimiter=%2F&prefix=AWSLogs%2F"),
            Some(Operation::List)
        );
        assert_eq!(
            operation(
                &get,
                "/trail/AWSLogs/1/CloudTrail/r/2026/11/02/a.json.gz?x-id=GetObject"
            ),
            Some(Operation::GetObject)
        );
        assert_eq!(
            operation(&get, "/trail/AWSLogs/a.json.gz"),
            Some(Operation::GetObject)
        );
        assert_eq!(operation(&get, "/trail"), None);
        assert_eq!(operation(&get, "/trail/"), None);
        assert_eq!(operation(&http::Method::PUT, "/trail/a.json.gz"), None);
    }
}
