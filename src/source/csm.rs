//! AWS SDK client-side monitoring (CSM) datagrams → IAM actions.
//!
//! With `AWS_CSM_ENABLED=true` an SDK sends one JSON datagram per API call (`"Type":"ApiCall"`)
//! and one per HTTP attempt (`"Type":"ApiCallAttempt"`) to `AWS_CSM_HOST:AWS_CSM_PORT` over UDP.
//! Only `ApiCall` counts as a call: retries would otherwise count one call several times. A
//! datagram names the service (the SDK's service id, such as `Secrets Manager`) and the operation,
//! never the resource, so everything recorded from it has an unknown resource.

use crate::catalog::Catalog;
use crate::mapping::{prefixes, Mapped, UngrantedKind};
use crate::source::live::{CallSink, Handed, LiveSource, Seen};
use crate::source::setup::SetupError;
use crate::store::times;
use std::net::SocketAddr;

/// One call as the SDK reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsmCall {
    /// The SDK's service id (`SSM`, `Secrets Manager`, `DynamoDB`).
    pub service: String,
    /// The operation name (`GetParameter`).
    pub api: String,
    /// Milliseconds since the Unix epoch, when the SDK sent it.
    pub timestamp_ms: Option<i64>,
    /// `''` when the call succeeded; the service's error code otherwise (`AccessDenied`), or
    /// `HTTP <status>` when the SDK reported only a status.
    pub error_code: String,
}

/// What a datagram holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    Call(CsmCall),
    /// A per-attempt record, or a call that never got a response (a network error, a timeout):
    /// neither is evidence of what the role was allowed to do.
    NotACall,
    /// Not a CSM message; the reason is for the count shown to the user.
    Invalid(&'static str),
}

/// Parses one datagram. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Datagram {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Datagram::Invalid("not JSON");
    };
    let Some(obj) = v.as_object() else {
        return Datagram::Invalid("not a JSON object");
    };
    if obj.get("Version").and_then(|v| v.as_i64()) != Some(1) {
        return Datagram::Invalid("not CSM version 1");
    }
    match obj.get("Type").and_then(|t| t.as_str()) {
        Some("ApiCall") => {}
        Some("ApiCallAttempt") => return Datagram::NotACall,
        _ => return Datagram::Invalid("unknown Type"),
    }
    let text = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let (Some(service), Some(api)) = (text("Service"), text("Api")) else {
        return Datagram::Invalid("no Service or Api");
    };
    let status = obj.get("FinalHttpStatusCode").and_then(|v| v.as_i64());
    let error_code = match (text("FinalAwsException"), status) {
        (Some(code), _) => code.to_string(),
        (None, Some(s)) if (200..400).contains(&s) => String::new(),
        (None, Some(s)) => format!("HTTP {s}"),
        // No status: the request never got an answer (FinalSdkException says why).
        (None, None) => return Datagram::NotACall,
    };
    Datagram::Call(CsmCall {
        service: service.to_string(),
        api: api.to_string(),
        timestamp_ms: obj.get("Timestamp").and_then(|v| v.as_i64()),
        error_code,
    })
}

/// When the call happened, in milliseconds since the Unix epoch, and whether the datagram's own
/// `Timestamp` was refused for it.
///
/// An SDK sends the datagram as the call completes, to a listener beside it: it arrives within
/// milliseconds. Anyone who can reach the port can write any `Timestamp`, though, and one of 0
/// would make a day of evidence look like 57 years to the evidence-age gate. So the SDK's time is
/// kept only within [`times::MAX_SKEW`] of the arrival (its precision is all it adds); otherwise
/// the arrival time stands in, a time this process saw itself.
pub fn call_time(timestamp_ms: Option<i64>, received_ms: i64) -> (i64, bool) {
    let skew = times::MAX_SKEW.num_milliseconds();
    match timestamp_ms {
        Some(sent) if sent.abs_diff(received_ms) <= skew.unsigned_abs() => (sent, false),
        Some(_) => (received_ms, true),
        None => (received_ms, false),
    }
}

/// IAM service prefix for an SDK service id (`Secrets Manager` → `secretsmanager`), from the
/// mapper's one service table. Checked against the catalog by [`map`], so a wrong guess yields
/// "unmapped", never an invented action.
pub fn iam_prefix(service_id: &str) -> String {
    prefixes::sdk_iam_prefix(service_id)
}

/// The grants a call needs, as the one mapper gives them ([`crate::mapping::map_call_unread`]):
/// the operation names the event of the service the SDK's id names, and a datagram never holds
/// the request's parameters, so every resource is unknown. `role` is the role the listener
/// records for.
pub fn map(call: &CsmCall, role: &str, catalog: &Catalog) -> Mapped {
    let prefix = iam_prefix(&call.service);
    if !catalog.has_service(&prefix) {
        return Mapped::Unmapped(format!(
            "SDK service {:?} has no IAM service prefix {prefix:?} in the catalog",
            call.service
        ));
    }
    let event_source = format!("{prefix}.amazonaws.com");
    let api_call = crate::call::ApiCall {
        event_id: "",
        event_time: "",
        event_source: &event_source,
        event_name: &call.api,
        region: "",
        principal: crate::call::Principal::Role {
            role_arn: role,
            session: "",
        },
        error_code: (!call.error_code.is_empty()).then_some(call.error_code.as_str()),
        invoked_by: None,
        // Client-side monitoring is sent by the SDK inside the application.
        caller: crate::call::Caller::App,
        recipient_account: None,
        principal_account: None,
        request_parameters: None,
        resources: Vec::new(),
    };
    crate::mapping::map_call_unread(&api_call, catalog)
}

/// The source recorded with every piece of evidence from here.
pub const SOURCE: &str = "csm";

/// Counts for the summary printed on exit.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    pub datagrams: u64,
    pub calls: u64,
    pub not_calls: u64,
    pub invalid: u64,
    pub unmapped: u64,
    pub no_permission: u64,
    /// Calls of a new key while the aggregate was full and could not be written.
    pub dropped: u64,
    pub flushes: u64,
    /// Calls whose `Timestamp` lay too far from their arrival to be true: recorded at the
    /// arrival instead.
    pub timestamps_refused: u64,
}

/// `observe --listen-csm`: the UDP socket the SDK sends its datagrams to, as a [`LiveSource`].
pub struct Listener {
    socket: tokio::net::UdpSocket,
    /// A CSM datagram is at most 8 KB; anything longer is cut and then fails to parse.
    buf: Vec<u8>,
    pub counts: Counts,
}

impl Listener {
    pub async fn bind(listen: SocketAddr) -> Result<Listener, SetupError> {
        let socket = tokio::net::UdpSocket::bind(listen).await.map_err(|e| {
            SetupError::Failed(format!(
                "--listen-csm {}: cannot listen for UDP datagrams ({e}); choose another address or port",
                listen
            ))
        })?;
        Ok(Listener {
            socket,
            buf: vec![0u8; 64 * 1024],
            counts: Counts::default(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

impl LiveSource for Listener {
    /// A datagram's length in the buffer, and when it arrived (ms since the epoch).
    type Received = (usize, i64);

    fn start(&mut self) {
        // The catalog is loaded (and a cached copy that cannot be read reported) now.
        crate::catalog::active();
    }

    async fn recv(&mut self) -> Option<(usize, i64)> {
        loop {
            // Errors here are per datagram (an ICMP report, a truncated read): keep listening.
            let Ok((n, _)) = self.socket.recv_from(&mut self.buf).await else {
                continue;
            };
            self.counts.datagrams += 1;
            return Some((n, chrono::Utc::now().timestamp_millis()));
        }
    }

    /// Counts a datagram and hands over its call, if it holds one.
    fn hand_over(&mut self, (n, received_ms): (usize, i64), sink: &mut dyn CallSink) {
        let counts = &mut self.counts;
        let call = match parse(&self.buf[..n]) {
            Datagram::Call(c) => c,
            Datagram::NotACall => {
                counts.not_calls += 1;
                return;
            }
            Datagram::Invalid(_) => {
                counts.invalid += 1;
                return;
            }
        };
        counts.calls += 1;
        let (ms, refused) = call_time(call.timestamp_ms, received_ms);
        if refused {
            counts.timestamps_refused += 1;
        }
        let seen = Seen {
            event_source: &call.service,
            event_name: &call.api,
            error_code: &call.error_code,
            ms,
        };
        let mapped = map(&call, sink.role(), crate::catalog::active());
        match sink.mapped(mapped, &seen) {
            Handed::Granted { .. } => {}
            Handed::Ungranted(UngrantedKind::NoPermission) => counts.no_permission += 1,
            Handed::Ungranted(UngrantedKind::Unmapped) => counts.unmapped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UNKNOWN_RESOURCE;

    fn call(service: &str, api: &str) -> CsmCall {
        CsmCall {
            service: service.into(),
            api: api.into(),
            timestamp_ms: None,
            error_code: String::new(),
        }
    }

    #[test]
    fn api_calls_are_calls_and_attempts_are_not() {
        let d = br#"{"Version":1,"ClientId":"","Type":"ApiCall","Service":"Secrets Manager","Api":"GetSecretValue","Timestamp":1763800000000,"AttemptCount":1,"Region":"us-east-1","FinalHttpStatusCode":200,"Latency":12,"MaxRetriesExceeded":0}"#;
        assert_eq!(
            parse(d),
            Datagram::Call(CsmCall {
                service: "Secrets Manager".into(),
                api: "GetSecretValue".into(),
                timestamp_ms: Some(1_763_800_000_000),
                error_code: String::new(),
            })
        );
        let attempt = br#"{"Version":1,"ClientId":"","Type":"ApiCallAttempt","Service":"SSM","Api":"GetParameter","Timestamp":1,"HttpStatusCode":200}"#;
        assert_eq!(parse(attempt), Datagram::NotACall);
    }

    #[test]
    fn failures_keep_their_error_code_and_unanswered_calls_are_not_calls() {
        let denied = br#"{"Version":1,"Type":"ApiCall","Service":"SSM","Api":"GetParameter","FinalHttpStatusCode":400,"FinalAwsException":"AccessDeniedException"}"#;
        match parse(denied) {
            Datagram::Call(c) => assert_eq!(c.error_code, "AccessDeniedException"),
            other => panic!("{other:?}"),
        }
        let status_only = br#"{"Version":1,"Type":"ApiCall","Service":"S3","Api":"GetObject","FinalHttpStatusCode":403}"#;
        match parse(status_only) {
            Datagram::Call(c) => assert_eq!(c.error_code, "HTTP 403"),
            other => panic!("{other:?}"),
        }
        let timeout = br#"{"Version":1,"Type":"ApiCall","Service":"S3","Api":"GetObject","FinalSdkException":"ReadTimeoutError"}"#;
        assert_eq!(parse(timeout), Datagram::NotACall);
    }

    #[test]
    fn garbage_is_counted_as_invalid_without_panicking() {
        let cases: &[&[u8]] = &[
            b"",
            b"\xff\xfe\x00",
            b"[1,2]",
            b"{\"Version\":2,\"Type\":\"ApiCall\",\"Service\":\"SSM\",\"Api\":\"X\"}",
            b"{\"Version\":1,\"Type\":\"Other\"}",
            b"{\"Version\":1,\"Type\":\"ApiCall\",\"Service\":\"\",\"Api\":\"X\"}",
            b"{\"Version\":1,\"Type\":\"ApiCall\",\"Service\":7,\"Api\":\"X\"}",
            b"{\"Version\":1,\"Type\":\"ApiCall\",\"Service\":\"SSM\"",
        ];
        for c in cases {
            assert!(
                matches!(parse(c), Datagram::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
        // Every prefix of a valid datagram, as a truncated read would give.
        let full = br#"{"Version":1,"Type":"ApiCall","Service":"SSM","Api":"GetParameter","FinalHttpStatusCode":200}"#;
        for n in 0..full.len() {
            assert!(matches!(parse(&full[..n]), Datagram::Invalid(_)));
        }
    }

    #[test]
    fn a_timestamp_far_from_the_arrival_gives_way_to_it() {
        let now = 1_764_400_000_000;
        assert_eq!(call_time(Some(now - 1500), now), (now - 1500, false));
        assert_eq!(call_time(None, now), (now, false));
        for forged in [0, -1, i64::MIN, i64::MAX, now - 3_600_000, now + 3_600_000] {
            assert_eq!(call_time(Some(forged), now), (now, true), "{forged}");
        }
    }

    #[test]
    fn services_map_to_catalog_actions() {
        let catalog = crate::catalog::embedded();
        let cases = [
            ("SSM", "GetParameter", "ssm:GetParameter"),
            ("SQS", "SendMessageBatch", "sqs:SendMessage"),
            ("S3", "ListObjectsV2", "s3:ListBucket"),
            ("DynamoDB", "GetItem", "dynamodb:GetItem"),
            (
                "Secrets Manager",
                "GetSecretValue",
                "secretsmanager:GetSecretValue",
            ),
            ("KMS", "Decrypt", "kms:Decrypt"),
            ("SNS", "Publish", "sns:Publish"),
            ("CloudWatch Logs", "PutLogEvents", "logs:PutLogEvents"),
            ("Lambda", "Invoke", "lambda:InvokeFunction"),
            // Its rule reads the tables from the parameters only: the action still stands.
            ("DynamoDB", "BatchGetItem", "dynamodb:BatchGetItem"),
        ];
        let role = "arn:aws:iam::111122223333:role/app";
        for (service, api, want) in cases {
            let Mapped::Grants(grants) = map(&call(service, api), role, catalog) else {
                panic!("{service} {api}: no grant");
            };
            let pairs: Vec<(&str, &str)> = grants
                .iter()
                .map(|g| (g.action.as_str(), g.resource.as_str()))
                .collect();
            assert_eq!(pairs, [(want, UNKNOWN_RESOURCE)], "{service} {api}");
            assert!(grants[0]
                .rule
                .ends_with("the request's parameters were not read"));
        }
        assert!(matches!(
            map(&call("STS", "GetCallerIdentity"), role, catalog),
            Mapped::NoPermissionNeeded(_)
        ));
        assert!(matches!(
            map(&call("SSM", "NoSuchOperation"), role, catalog),
            Mapped::Unmapped(_)
        ));
        assert!(matches!(
            map(&call("Made Up", "GetThing"), role, catalog),
            Mapped::Unmapped(_)
        ));
    }
}
