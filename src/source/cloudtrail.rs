//! CloudTrail records → [`ApiCall`]s.
//!
//! Accepts every shape seen in the wild: the delivery format `{"Records":[…]}`, a JSON array of
//! events, a single event, one event per line, and LookupEvents output (`{"Events":[{"CloudTrailEvent":
//! "<json>"}]}`). Each event is decoded on its own, so one damaged event costs only itself.

use super::SkipReason;
use crate::call::{ApiCall, Caller, EventResource, Principal, PrincipalKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

mod records;

/// What became of the events of one unit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeStats {
    /// Events handed to the sink.
    pub events: u64,
    /// Values that were JSON but not CloudTrail events (no eventSource/eventName).
    pub not_cloudtrail: u64,
    /// Events or lines that could not be decoded (invalid JSON, wrong field types).
    pub malformed: u64,
    /// The first problem met, for the message naming the file.
    pub first_problem: Option<String>,
}

impl DecodeStats {
    fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }

    /// The reason to report the whole unit as skipped, when nothing in it was usable.
    pub fn unit_failure(&self) -> Option<SkipReason> {
        if self.events > 0 {
            None
        } else if self.malformed > 0 {
            Some(SkipReason::InvalidJson)
        } else if self.not_cloudtrail > 0 {
            Some(SkipReason::NotCloudTrail)
        } else {
            None
        }
    }
}

/// Decodes `bytes` and calls `sink` once per CloudTrail event.
pub fn decode(bytes: &[u8], sink: &mut dyn FnMut(&ApiCall<'_>)) -> Result<DecodeStats, SkipReason> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SkipReason::Empty);
    }
    if let Some(stats) = decode_records_in_one_pass(bytes, sink) {
        return Ok(stats);
    }
    let mut stats = DecodeStats::default();
    match serde_json::from_slice::<&RawValue>(bytes) {
        Ok(doc) => decode_value(doc, sink, &mut stats),
        // Not one JSON document: one event per line, each line on its own.
        Err(whole) => {
            let mut lines_ok = 0u64;
            for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<&RawValue>(line) {
                    Ok(v) => {
                        lines_ok += 1;
                        decode_value(v, sink, &mut stats)
                    }
                    Err(e) => {
                        stats.malformed += 1;
                        stats.problem(|| format!("line {}: {e}", n + 1));
                    }
                }
            }
            if lines_ok == 0 {
                stats.first_problem = Some(whole.to_string());
            }
        }
    }
    Ok(stats)
}

/// The delivery format, parsed in a single pass straight into events: the common case, and the
/// hot path. Only a document that parses whole is taken this way; anything else (a damaged event,
/// another shape) returns `None` before a single event reaches the sink, and the caller falls back
/// to decoding event by event, which isolates damage. The envelope has the same fields as
/// [`Envelope`], so both paths accept and refuse the same documents.
fn decode_records_in_one_pass(
    bytes: &[u8],
    sink: &mut dyn FnMut(&ApiCall<'_>),
) -> Option<DecodeStats> {
    #[derive(Deserialize)]
    struct Delivery<'a> {
        #[serde(rename = "Records", borrow, default)]
        records: Option<Vec<RawEvent<'a>>>,
        #[serde(rename = "Events", borrow, default)]
        _events: Option<Vec<LookupEvent<'a>>>,
        #[serde(rename = "eventSource", borrow, default)]
        _event_source: Option<&'a RawValue>,
    }
    let text = bytes.trim_ascii_start();
    if !text.starts_with(b"{") {
        return None;
    }
    // Ignored fields are skipped without UTF-8 checks: check the whole text first, as the
    // event-by-event path (which borrows every event as text) does.
    let text = std::str::from_utf8(text).ok()?;
    let records = serde_json::from_str::<Delivery>(text).ok()?.records?;
    let mut stats = DecodeStats::default();
    for raw in &records {
        emit_raw(raw, sink, &mut stats);
    }
    Some(stats)
}

/// The delivery format `{"Records":[…]}`, read in one pass by a scanner that borrows the fields
/// a call is made of and only checks the rest: the hot path of observe. Each event goes to the
/// sink as soon as it is read, with no list of events held. Returns `None` when the document is
/// not a whole, valid delivery document, or holds anything the scanner leaves to serde_json
/// (escapes in the fields it reads, other top-level keys, deep nesting); **the sink may then
/// already have seen some events**, so the caller must discard what it made of them and fall back
/// to [`decode`], which gives serde_json's answer. When it returns `Some`, it is exactly what
/// [`decode`] would have returned (`tests/integration/fuzz_decoder.rs` checks that they agree).
pub fn decode_delivery(bytes: &[u8], sink: &mut dyn FnMut(&ApiCall<'_>)) -> Option<DecodeStats> {
    records::scan(bytes, sink)
}

/// Decompressed text is read in pieces of this size: small enough to stay in the core's cache
/// between the decompressor writing it and the scanner reading it.
const PIECE: usize = 256 << 10;

/// [`decode_delivery`] of a gzipped document, read while it is decompressed, a piece at a time,
/// through `window` (kept by the caller from file to file): the whole text is never in memory.
/// `None` also when the gzip stream is damaged or too large; the caller falls back as for
/// [`decode_delivery`], decompressing the whole file to report what is wrong with it.
pub fn decode_delivery_gz(
    raw: &[u8],
    window: &mut Vec<u8>,
    sink: &mut dyn FnMut(&ApiCall<'_>),
) -> Option<DecodeStats> {
    decode_gz_in_pieces(raw, window, PIECE, sink)
}

fn decode_gz_in_pieces(
    raw: &[u8],
    window: &mut Vec<u8>,
    piece: usize,
    sink: &mut dyn FnMut(&ApiCall<'_>),
) -> Option<DecodeStats> {
    let mut gz = super::local::Gunzip::new(raw);
    let mut reader = records::Reader::new();
    // Bytes at the start of `window` given to the reader but not consumed: an unfinished unit.
    let mut held = 0;
    let mut want = piece;
    loop {
        if window.len() < held + want {
            window.resize(held + want, 0);
        }
        let got = gz.read(&mut window[held..held + want])?;
        let last = got < want;
        held += got;
        let text = match std::str::from_utf8(&window[..held]) {
            Ok(text) => text,
            // A character cut by the end of the piece: its end comes with the next one.
            Err(e) if e.error_len().is_none() && !last => {
                std::str::from_utf8(&window[..e.valid_up_to()]).ok()?
            }
            Err(_) => return None,
        };
        let used = reader.feed(text, last, sink).ok()?;
        if last {
            return reader.finish();
        }
        window.copy_within(used..held, 0);
        held -= used;
        // A unit longer than a piece is read again from its start with each new piece: reading
        // as much again as is held keeps that linear.
        want = piece.max(held);
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "Events", borrow, default)]
    events: Option<Vec<LookupEvent<'a>>>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LookupEvent<'a> {
    #[serde(rename = "CloudTrailEvent", borrow)]
    cloudtrail_event: Option<Cow<'a, str>>,
}

fn decode_value(v: &RawValue, sink: &mut dyn FnMut(&ApiCall<'_>), stats: &mut DecodeStats) {
    let text = v.get().trim_start();
    if text.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => items
                .into_iter()
                .for_each(|e| decode_event(e.get(), sink, stats)),
            Err(e) => {
                stats.malformed += 1;
                stats.problem(|| e.to_string());
            }
        }
        return;
    }
    match serde_json::from_str::<Envelope>(text) {
        Ok(Envelope {
            records: Some(records),
            ..
        }) => records
            .into_iter()
            .for_each(|e| decode_event(e.get(), sink, stats)),
        Ok(Envelope {
            events: Some(events),
            event_source: None,
            ..
        }) => {
            for e in events {
                match e.cloudtrail_event {
                    Some(inner) => decode_event(&inner, sink, stats),
                    None => stats.not_cloudtrail += 1,
                }
            }
        }
        Ok(_) => decode_event(text, sink, stats),
        Err(e) => {
            stats.malformed += 1;
            stats.problem(|| e.to_string());
        }
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    identity: Option<RawIdentity<'a>>,
    #[serde(rename = "requestParameters", borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resources: Option<Vec<RawResource<'a>>>,
}

#[derive(Deserialize)]
struct RawIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "principalId", borrow, default)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(rename = "sessionContext", borrow, default)]
    session_context: Option<RawSessionContext<'a>>,
}

#[derive(Deserialize)]
struct RawSessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow, default)]
    session_issuer: Option<RawIssuer<'a>>,
}

#[derive(Deserialize)]
struct RawIssuer<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "accountId", borrow, default)]
    account: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(rename = "ARN", borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
}

fn decode_event(text: &str, sink: &mut dyn FnMut(&ApiCall<'_>), stats: &mut DecodeStats) {
    let raw: RawEvent = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            stats.malformed += 1;
            stats.problem(|| format!("event: {e}"));
            return;
        }
    };
    emit_raw(&raw, sink, stats);
}

/// The fields of one event that a call is made of, borrowed: from the text by the scanner, or
/// from a serde-decoded [`RawEvent`]. Absent and `null` alike are `None`.
#[derive(Debug, Default)]
struct Fields<'a> {
    event_id: Option<&'a str>,
    event_time: Option<&'a str>,
    event_source: Option<&'a str>,
    event_name: Option<&'a str>,
    region: Option<&'a str>,
    error_code: Option<&'a str>,
    source_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    recipient_account: Option<&'a str>,
    identity: Option<Identity<'a>>,
    request_parameters: Option<&'a str>,
}

#[derive(Debug, Default)]
struct Identity<'a> {
    kind: Option<&'a str>,
    arn: Option<&'a str>,
    principal_id: Option<&'a str>,
    invoked_by: Option<&'a str>,
    /// `sessionContext.sessionIssuer`: a context without an issuer counts as none.
    issuer: Option<Issuer<'a>>,
}

#[derive(Debug, Default)]
struct Issuer<'a> {
    kind: Option<&'a str>,
    arn: Option<&'a str>,
    account: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn of(raw: &'a RawEvent<'_>) -> Self {
        Fields {
            event_id: raw.event_id.as_deref(),
            event_time: raw.event_time.as_deref(),
            event_source: raw.event_source.as_deref(),
            event_name: raw.event_name.as_deref(),
            region: raw.region.as_deref(),
            error_code: raw.error_code.as_deref(),
            source_ip: raw.source_ip.as_deref(),
            user_agent: raw.user_agent.as_deref(),
            recipient_account: raw.recipient_account.as_deref(),
            identity: raw.identity.as_ref().map(|i| Identity {
                kind: i.kind.as_deref(),
                arn: i.arn.as_deref(),
                principal_id: i.principal_id.as_deref(),
                invoked_by: i.invoked_by.as_deref(),
                issuer: i
                    .session_context
                    .as_ref()
                    .and_then(|c| c.session_issuer.as_ref())
                    .map(|s| Issuer {
                        kind: s.kind.as_deref(),
                        arn: s.arn.as_deref(),
                        account: s.account.as_deref(),
                    }),
            }),
            request_parameters: raw.request_parameters.map(RawValue::get),
        }
    }
}

/// Hands one serde-decoded event to the sink (or counts it as not CloudTrail).
fn emit_raw(raw: &RawEvent<'_>, sink: &mut dyn FnMut(&ApiCall<'_>), stats: &mut DecodeStats) {
    let resources = raw
        .resources
        .iter()
        .flatten()
        .filter_map(|r| {
            r.arn.as_deref().map(|arn| EventResource {
                arn,
                resource_type: r.kind.as_deref(),
            })
        })
        .collect();
    emit(&Fields::of(raw), resources, sink, stats);
}

/// Hands one event to the sink (or counts it as not CloudTrail). `resources` are the entries of
/// its `resources[]` that have an ARN; the vector comes back emptied, for the next event.
fn emit<'a>(
    f: &Fields<'a>,
    resources: Vec<EventResource<'a>>,
    sink: &mut dyn FnMut(&ApiCall<'_>),
    stats: &mut DecodeStats,
) -> Vec<EventResource<'a>> {
    let (Some(source), Some(name)) = (f.event_source, f.event_name) else {
        stats.not_cloudtrail += 1;
        stats.problem(|| "a JSON object without eventSource/eventName".to_string());
        let mut resources = resources;
        resources.clear();
        return resources;
    };
    let identity = f.identity.as_ref();
    let issuer_account = identity
        .and_then(|i| i.issuer.as_ref())
        .and_then(|s| s.account);
    // A service acting for the role is named in invokedBy, or (older events) only in sourceIPAddress.
    let invoked_by = identity
        .and_then(|i| i.invoked_by)
        .or_else(|| f.source_ip.filter(|ip| ip.ends_with(".amazonaws.com")));
    let call = ApiCall {
        event_id: f.event_id.unwrap_or(""),
        event_time: f.event_time.unwrap_or(""),
        event_source: source,
        event_name: name,
        region: f.region.unwrap_or(""),
        principal: principal(identity),
        error_code: f.error_code.filter(|c| !c.is_empty()),
        invoked_by,
        caller: Caller::of_event(invoked_by, f.user_agent),
        recipient_account: f.recipient_account,
        principal_account: issuer_account,
        request_parameters: f.request_parameters.filter(|p| *p != "null"),
        resources,
    };
    stats.events += 1;
    sink(&call);
    let mut resources = call.resources;
    resources.clear();
    resources
}

/// The principal of an `AssumedRole` identity whose session issuer has this type, ARN and
/// account, judged as an event's (for sources that read those fields elsewhere: Athena's rows).
/// The session is not known.
pub(crate) fn assumed_role<'a>(
    issuer_type: Option<&'a str>,
    issuer_arn: Option<&'a str>,
    issuer_account: Option<&'a str>,
) -> Principal<'a> {
    let issuer = (issuer_type.is_some() || issuer_arn.is_some() || issuer_account.is_some())
        .then_some(Issuer {
            kind: issuer_type,
            arn: issuer_arn,
            account: issuer_account,
        });
    principal(Some(&Identity {
        kind: Some("AssumedRole"),
        issuer,
        ..Identity::default()
    }))
}

fn principal<'a>(identity: Option<&Identity<'a>>) -> Principal<'a> {
    let Some(id) = identity else {
        return Principal::Other(PrincipalKind::Unknown);
    };
    let kind = match id.kind {
        // AWS's own events (`AwsServiceEvent`: a KMS key rotation, say) name no type, only the
        // service, in invokedBy.
        None if id.invoked_by.is_some() => PrincipalKind::AwsService,
        Some("AssumedRole") => {
            let issuer = id
                .issuer
                .as_ref()
                .filter(|s| s.kind.unwrap_or("Role") == "Role");
            match issuer.and_then(|s| s.arn) {
                // Evidence is keyed by this ARN: anything else would become a role of that name.
                Some(role_arn) if !is_role_arn(role_arn) => PrincipalKind::IssuerNotRole,
                Some(role_arn) if role_arn.contains(":role/aws-service-role/") => {
                    PrincipalKind::ServiceLinkedRole
                }
                Some(role_arn) => {
                    return Principal::Role {
                        role_arn,
                        session: session_name(id),
                    }
                }
                None => PrincipalKind::AssumedRoleWithoutIssuer,
            }
        }
        Some("IAMUser") => PrincipalKind::IamUser,
        Some("AWSService") => PrincipalKind::AwsService,
        Some("Root") => PrincipalKind::Root,
        Some("FederatedUser" | "SAMLUser" | "WebIdentityUser") => PrincipalKind::Federated,
        Some("AWSAccount") => PrincipalKind::AwsAccount,
        _ => PrincipalKind::Unknown,
    };
    Principal::Other(kind)
}

/// `arn:<partition>:iam::<account>:role/<path><name>`, checked by shape only. Byte searches
/// rather than `splitn`: this runs for every role event, and costs a quarter as much this way.
fn is_role_arn(arn: &str) -> bool {
    role_path_and_name(arn.as_bytes()).is_some_and(|name| !name.is_empty() && !name.ends_with(b"/"))
}

/// What follows `role/` in an ARN of that shape with a partition and an account.
fn role_path_and_name(arn: &[u8]) -> Option<&[u8]> {
    let field_end = |s: &[u8]| s.iter().position(|&c| c == b':').filter(|&i| i > 0);
    let rest = arn.strip_prefix(b"arn:")?;
    let rest = rest[field_end(rest)? + 1..].strip_prefix(b"iam::")?;
    rest[field_end(rest)? + 1..].strip_prefix(b"role/")
}

/// `arn:aws:sts::1:assumed-role/<role>/<session>`, or the part of principalId after `:`.
fn session_name<'a>(id: &Identity<'a>) -> &'a str {
    const MARK: &str = ":assumed-role/";
    id.arn
        .and_then(|a| Some(&a[crate::text::find(a, MARK)? + MARK.len()..]))
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, session)| session)
        .or_else(|| {
            id.principal_id
                .and_then(|p| p.split_once(':'))
                .map(|(_, s)| s)
        })
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE_EVENT: &str = r#"{"eventVersion":"1.08","eventID":"e1","eventTime":"2026-11-20T12:00:00Z",
        "eventSource":"ssm.amazonaws.com","eventName":"GetParameter","awsRegion":"eu-west-1",
        "sourceIPAddress":"10.0.0.1","recipientAccountId":"111122223333",
        "userIdentity":{"type":"AssumedRole","principalId":"AROAX:abc123",
          "arn":"arn:aws:sts::111122223333:assumed-role/orders-task/abc123",
          "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/orders-task","accountId":"111122223333"}}},
        "requestParameters":{"name":"/orders/db"}}"#;

    fn collect(bytes: &[u8]) -> (Vec<String>, Result<DecodeStats, SkipReason>) {
        let mut seen = Vec::new();
        let stats = decode(bytes, &mut |c| {
            let who = match &c.principal {
                Principal::Role { role_arn, session } => format!("{role_arn}#{session}"),
                Principal::Other(k) => k.label().to_string(),
            };
            seen.push(format!("{}:{}:{who}", c.event_source, c.event_name));
        });
        (seen, stats)
    }

    #[test]
    fn every_shape_yields_the_same_event() {
        let want =
            "ssm.amazonaws.com:GetParameter:arn:aws:iam::111122223333:role/orders-task#abc123";
        let one_line = ROLE_EVENT.replace('\n', " ");
        let lookup = serde_json::json!({"Events":[{"EventId":"e1","CloudTrailEvent": ROLE_EVENT}]});
        for doc in [
            format!("{{\"Records\":[{ROLE_EVENT}]}}"),
            format!("[{ROLE_EVENT}]"),
            ROLE_EVENT.to_string(),
            format!("{one_line}\n{one_line}\n"),
            lookup.to_string(),
        ] {
            let (seen, stats) = collect(doc.as_bytes());
            assert!(!seen.is_empty(), "no event from {doc}");
            assert!(seen.iter().all(|s| s == want), "{seen:?}");
            assert_eq!(stats.unwrap().malformed, 0);
        }
    }

    /// The calls a reading hands over, as text, with its counts.
    fn calls(
        read: impl FnOnce(&mut dyn FnMut(&ApiCall<'_>)) -> Option<DecodeStats>,
    ) -> Option<(Vec<String>, DecodeStats)> {
        let mut seen = Vec::new();
        let stats = read(&mut |c| seen.push(format!("{c:?}")));
        stats.map(|s| (seen, s))
    }

    /// A gzipped delivery read a few bytes at a time (pieces cut inside keys, numbers, escapes
    /// and multi-byte characters) gives what the whole text gives, and a damaged one nothing.
    #[test]
    fn pieces_read_as_the_whole_text() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let odd = ROLE_EVENT.replace(
            "\"eventVersion\":\"1.08\"",
            "\"eventVersion\":\"1.08 é🙂 \\\"q\\\" \\u00e9\",\"n\":[-12.5e+3,0,true,null,{}]",
        );
        let other = odd
            .replace("\"e1\"", "\"e2\"")
            .replace("orders/db", "orders/é");
        let whole =
            format!("\u{feff} \n{{\"x\":1, \"Records\" : [ {odd} ,\n{other} ] , \"y\":[]}}\n");
        let want = calls(|sink| decode_delivery(whole.as_bytes(), sink)).unwrap();
        assert_eq!(want.1.events, 2);
        for (doc, ok) in [(whole.as_str(), true), (&whole[..whole.len() - 9], false)] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(doc.as_bytes()).unwrap();
            let gz = gz.finish().unwrap();
            for piece in [1, 2, 3, 5, 8, 13, 64, 4096] {
                let mut window = Vec::new();
                let got = calls(|sink| decode_gz_in_pieces(&gz, &mut window, piece, sink));
                if ok {
                    assert_eq!(got.as_ref(), Some(&want), "pieces of {piece}");
                } else {
                    assert!(got.is_none(), "pieces of {piece}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn a_bad_line_costs_only_itself() {
        let one_line = ROLE_EVENT.replace('\n', " ");
        let doc = format!("{one_line}\n{{\"eventName\": 12\n{one_line}\n");
        let (seen, stats) = collect(doc.as_bytes());
        let stats = stats.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(stats.malformed, 1);
        assert!(stats.first_problem.unwrap().starts_with("line 2"));
    }

    #[test]
    fn wrong_field_types_are_malformed_events_not_a_lost_file() {
        let bad = ROLE_EVENT.replace("\"eventName\":\"GetParameter\"", "\"eventName\":[1]");
        let doc = format!("{{\"Records\":[{bad},{ROLE_EVENT}]}}");
        let (seen, stats) = collect(doc.as_bytes());
        assert_eq!(seen.len(), 1);
        assert_eq!(stats.unwrap().malformed, 1);
    }

    #[test]
    fn json_that_is_not_cloudtrail_is_named() {
        let (seen, stats) = collect(br#"{"hello":"world"}"#);
        assert!(seen.is_empty());
        assert_eq!(
            stats.unwrap().unit_failure(),
            Some(SkipReason::NotCloudTrail)
        );
        let (_, stats) = collect(b"{\"Records\":[{\"eventSource\":");
        assert_eq!(stats.unwrap().unit_failure(), Some(SkipReason::InvalidJson));
        assert_eq!(collect(b"  \n").1.unwrap_err(), SkipReason::Empty);
    }

    #[test]
    fn principals_are_classified() {
        let user = r#"{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/bob"}}"#;
        let service = r#"{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","userIdentity":{"type":"AWSService","invokedBy":"ecs.amazonaws.com"}}"#;
        let no_issuer = r#"{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s"}}"#;
        // The shape of AWS service events in CloudTrail's documentation: no type at all.
        let rotation = r#"{"eventSource":"kms.amazonaws.com","eventName":"RotateKey","eventType":"AwsServiceEvent","userIdentity":{"accountId":"1","invokedBy":"AWS Internal"}}"#;
        let nothing = r#"{"eventSource":"kms.amazonaws.com","eventName":"RotateKey","userIdentity":{"accountId":"1"}}"#;
        let (seen, _) =
            collect(format!("[{user},{service},{no_issuer},{rotation},{nothing}]").as_bytes());
        assert_eq!(
            seen,
            vec![
                "s3.amazonaws.com:ListBuckets:IAM user",
                "kms.amazonaws.com:Decrypt:AWS service",
                "s3.amazonaws.com:ListBuckets:assumed role without issuer",
                "kms.amazonaws.com:RotateKey:AWS service",
                "kms.amazonaws.com:RotateKey:unknown identity type",
            ]
        );
    }

    /// Evidence is keyed by the issuer ARN: one that names no role must not become a role, and
    /// the scanner and the serde path must say so alike.
    #[test]
    fn an_issuer_that_is_not_a_role_arn_is_no_role() {
        const ISSUER: &str = "arn:aws:iam::111122223333:role/orders-task";
        let not_roles = [
            "",
            "not-an-arn",
            "arn:aws:iam::111122223333:user/bob",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/path/",
            "arn:aws:sts::111122223333:role/orders-task",
            "arn:aws:iam:eu-west-1:111122223333:role/orders-task",
            "arn::iam::111122223333:role/orders-task",
            "arn:aws:iam:::role/orders-task",
        ];
        let roles = [
            ISSUER,
            "arn:aws-cn:iam::111122223333:role/service-role/orders-task",
        ];
        for (issuer, want) in not_roles
            .iter()
            .map(|a| (a, "assumed role whose issuer is not a role ARN".to_string()))
            .chain(roles.iter().map(|a| (a, format!("{a}#abc123"))))
        {
            let doc = format!("{{\"Records\":[{}]}}", ROLE_EVENT.replace(ISSUER, issuer));
            let (seen, _) = collect(doc.as_bytes());
            assert_eq!(
                seen,
                [format!("ssm.amazonaws.com:GetParameter:{want}")],
                "{issuer:?}"
            );
            let fast = calls(|sink| decode_delivery(doc.as_bytes(), sink));
            let slow = calls(|sink| decode(doc.as_bytes(), sink).ok());
            assert!(fast.is_some(), "{issuer:?} left to serde_json");
            assert_eq!(fast, slow, "{issuer:?}");
        }
    }

    #[test]
    fn service_acting_for_the_role_is_recorded() {
        let via = ROLE_EVENT.replace(
            "\"sourceIPAddress\":\"10.0.0.1\"",
            "\"sourceIPAddress\":\"ssm.amazonaws.com\"",
        );
        let mut invoked = None;
        decode(via.as_bytes(), &mut |c| {
            invoked = c.invoked_by.map(str::to_string)
        })
        .unwrap();
        assert_eq!(invoked.as_deref(), Some("ssm.amazonaws.com"));
    }
}
