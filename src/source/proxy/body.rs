//! Bodies passed through the proxy: streamed untouched, or replayed after the small prefix that
//! decoding read; a response body also reports the call once it has been passed on whole (or
//! dropped), with the error code of a failed call taken from the first bytes of its body.

use super::decode::{Call, Undecoded};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// What the proxy saw of one AWS call: never a credential, a signature or a body.
#[derive(Debug)]
pub struct Observed {
    pub call: Result<Call, Undecoded>,
    /// `''` when the call succeeded (status below 400).
    pub error_code: String,
    /// When the request was sent, in milliseconds since the Unix epoch.
    pub ms: i64,
}

/// Traffic counters, shared by every connection.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Signed requests: the calls that may become evidence.
    pub aws_calls: AtomicU64,
    /// Forwarded, never recorded: unsigned requests and tunnels to hosts not intercepted.
    pub not_aws: AtomicU64,
    pub tunnels: AtomicU64,
    /// Calls whose parameters were in a body too large to read: their resources are unknown.
    pub unread_bodies: AtomicU64,
    pub upstream_errors: AtomicU64,
    /// Client connections closed at once: `--max-connections` were open.
    pub refused_connections: AtomicU64,
    /// Requests and tunnels the proxy would not take where they asked (403).
    pub refused_destinations: AtomicU64,
    /// Calls not recorded because the recorder lagged behind (its queue was full).
    pub dropped: AtomicU64,
    in_flight: AtomicU64,
}

impl Stats {
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts a request as in flight until dropped.
pub struct InFlight(Arc<Stats>);

impl InFlight {
    pub fn new(stats: &Arc<Stats>) -> InFlight {
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How much of an error response is kept to find its error code.
const ERROR_PREFIX: usize = 8 * 1024;

/// Reports one call when its response has been passed on (or abandoned).
pub struct Recording {
    call: Option<Result<Call, Undecoded>>,
    status: u16,
    header_code: Option<String>,
    prefix: Vec<u8>,
    ms: i64,
    tx: mpsc::Sender<Observed>,
    stats: Arc<Stats>,
    _in_flight: InFlight,
}

impl Recording {
    pub fn new(
        call: Result<Call, Undecoded>,
        response: &http::response::Parts,
        ms: i64,
        tx: mpsc::Sender<Observed>,
        in_flight: InFlight,
    ) -> Recording {
        let header_code = response
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .and_then(clean_code);
        let stats = in_flight.0.clone();
        Recording {
            call: Some(call),
            status: response.status.as_u16(),
            header_code,
            prefix: Vec::new(),
            ms,
            tx,
            stats,
            _in_flight: in_flight,
        }
    }

    fn see(&mut self, data: &Bytes) {
        if self.status >= 400 && self.header_code.is_none() && self.prefix.len() < ERROR_PREFIX {
            let room = ERROR_PREFIX - self.prefix.len();
            self.prefix.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    fn finish(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let error_code = if self.status < 400 {
            String::new()
        } else {
            self.header_code
                .take()
                .or_else(|| body_code(&self.prefix))
                .unwrap_or_else(|| format!("HTTP {}", self.status))
        };
        self.prefix = Vec::new();
        let observed = Observed {
            call,
            error_code,
            ms: self.ms,
        };
        // Never wait for the recorder: the traffic must not slow down when it lags.
        if self.tx.try_send(observed).is_err() {
            bump(&self.stats.dropped);
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `ParameterNotFound:http://internal.amazon.com/…`, `com.amazonaws.ssm#ParameterNotFound`.
fn clean_code(raw: &str) -> Option<String> {
    let code = raw.split(':').next()?.rsplit('#').next()?.trim();
    (!code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'))
    .then(|| code.to_string())
}

/// The error code of a JSON (`__type`, `code`) or XML (`<Code>`) error body.
fn body_code(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return ["__type", "code", "Code"]
            .iter()
            .find_map(|k| v.get(k).and_then(|c| c.as_str()))
            .or_else(|| v.pointer("/Error/Code").and_then(|c| c.as_str()))
            .and_then(clean_code);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    clean_code(&text[start..end])
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Stream(Incoming),
    /// What decoding read, then the rest as it comes.
    Prefixed(Option<Bytes>, Incoming),
}

/// The one body type the proxy sends, upstream and back.
pub struct ProxyBody {
    kind: Kind,
    record: Option<Recording>,
    /// The share of the body budget this body holds until it is sent or dropped.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl ProxyBody {
    pub fn empty() -> ProxyBody {
        ProxyBody {
            kind: Kind::Empty,
            record: None,
            _permit: None,
        }
    }

    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(Some(bytes.into())),
            record: None,
            _permit: None,
        }
    }

    /// A body read whole, holding its share of the budget until sent.
    pub fn held(bytes: Bytes, permit: tokio::sync::OwnedSemaphorePermit) -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(Some(bytes)),
            record: None,
            _permit: Some(permit),
        }
    }

    pub fn stream(body: Incoming) -> ProxyBody {
        ProxyBody {
            kind: Kind::Stream(body),
            record: None,
            _permit: None,
        }
    }

    pub fn recorded(body: Incoming, record: Recording) -> ProxyBody {
        ProxyBody {
            kind: Kind::Stream(body),
            record: Some(record),
            _permit: None,
        }
    }
}

/// The body read up to `cap` bytes: `Ok(bytes)` when it all fit, `Err(body)` (replaying what was
/// read) when it did not.
pub async fn read_up_to(
    mut body: Incoming,
    cap: usize,
) -> Result<Result<Bytes, ProxyBody>, hyper::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        // Trailers of a request body are rare (aws-chunked uploads, never read here) and dropped.
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > cap {
                return Ok(Err(ProxyBody {
                    kind: Kind::Prefixed(Some(buf.freeze()), body),
                    record: None,
                    _permit: None,
                }));
            }
        }
    }
    Ok(Ok(buf.freeze()))
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(inner) => Pin::new(inner).poll_frame(cx),
            Kind::Prefixed(prefix, inner) => match prefix.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Pin::new(inner).poll_frame(cx),
            },
        };
        if let Some(rec) = &mut this.record {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        rec.see(data);
                    }
                }
                Poll::Ready(_) => rec.finish(),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::Stream(inner) => inner.is_end_stream(),
            Kind::Prefixed(prefix, inner) => prefix.is_none() && inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(inner) => inner.size_hint(),
            Kind::Prefixed(prefix, inner) => {
                let extra = prefix.as_ref().map_or(0, |b| b.len() as u64);
                let inner = inner.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + extra);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + extra);
                }
                hint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_from_headers_and_bodies() {
        assert_eq!(
            clean_code("ParameterNotFound:http://internal.amazon.com/coral/com.amazonaws.ssm/"),
            Some("ParameterNotFound".into())
        );
        assert_eq!(
            body_code(br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","message":"x"}"#),
            Some("ResourceNotFoundException".into())
        );
        assert_eq!(
            body_code(b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key</Message></Error>"),
            Some("NoSuchKey".into())
        );
        assert_eq!(
            body_code(b"<ErrorResponse><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code></Error></ErrorResponse>"),
            Some("AWS.SimpleQueueService.NonExistentQueue".into())
        );
        assert_eq!(body_code(b"<html>Internal Server Error</html>"), None);
        assert_eq!(body_code(br#"{"__type":"has spaces <script>"}"#), None);
    }
}
