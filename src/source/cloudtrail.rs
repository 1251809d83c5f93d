//! CloudTrail records → [`ApiCall`]s.
//!
//! Accepts every shape seen in the wild: the delivery format `{"Records":[…]}`, a JSON array of
//! events, a single event, one event per line, and LookupEvents output (`{"Events":[{"CloudTrailEvent":
//! "<json>"}]}`). Each event is decoded on its own, so one damaged event costs only itself.

use super::SkipReason;
use crate::call::{ApiCall, EventResource, Principal, PrincipalKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

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
        emit(raw, sink, &mut stats);
    }
    Some(stats)
}

/// The delivery format `{"Records":[…]}`, streamed: each event goes to the sink as soon as it is
/// parsed, with no list of events held. Returns `None` when the document is not a whole, valid
/// delivery document; **the sink may then already have seen some events**, so the caller must
/// discard what it made of them and fall back to [`decode`]. For callers that fold per unit and
/// can drop a unit's result (observe), this is the fastest path.
pub fn decode_delivery(bytes: &[u8], sink: &mut dyn FnMut(&ApiCall<'_>)) -> Option<DecodeStats> {
    use serde::de::{
        DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };
    use std::fmt;

    struct Doc<'s, 'f> {
        sink: &'s mut (dyn FnMut(&ApiCall<'_>) + 'f),
        stats: DecodeStats,
        records: bool,
    }
    struct Records<'d, 's, 'f>(&'d mut Doc<'s, 'f>);

    impl<'de> Visitor<'de> for &mut Doc<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a CloudTrail delivery document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            // The same keys as `Envelope`, with the same types, so that the documents refused
            // here are exactly those the event-by-event path refuses or reads another way.
            let (mut events, mut source) = (false, false);
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                match key.as_ref() {
                    "Records" if self.records => return Err(A::Error::duplicate_field("Records")),
                    "Records" => {
                        self.records = true;
                        map.next_value_seed(Records(self))?;
                    }
                    "Events" if events => return Err(A::Error::duplicate_field("Events")),
                    "Events" => {
                        events = true;
                        map.next_value::<Option<Vec<LookupEvent<'de>>>>()?;
                    }
                    "eventSource" if source => {
                        return Err(A::Error::duplicate_field("eventSource"))
                    }
                    "eventSource" => {
                        source = true;
                        map.next_value::<Option<&'de RawValue>>()?;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Records<'_, '_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Records<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of CloudTrail events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<RawEvent<'de>>()? {
                emit(&raw, self.0.sink, &mut self.0.stats);
            }
            Ok(())
        }
    }

    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = bytes.trim_ascii_start();
    if !text.starts_with(b"{") {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let mut doc = Doc {
        sink,
        stats: DecodeStats::default(),
        records: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(&mut doc).ok()?;
    de.end().ok()?;
    doc.records.then_some(doc.stats)
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
    emit(&raw, sink, stats);
}

/// Hands one parsed event to the sink (or counts it as not CloudTrail).
fn emit(raw: &RawEvent<'_>, sink: &mut dyn FnMut(&ApiCall<'_>), stats: &mut DecodeStats) {
    let (Some(source), Some(name)) = (raw.event_source.as_deref(), raw.event_name.as_deref())
    else {
        stats.not_cloudtrail += 1;
        stats.problem(|| "a JSON object without eventSource/eventName".to_string());
        return;
    };
    let identity = raw.identity.as_ref();
    let issuer_account = identity
        .and_then(|i| i.session_context.as_ref())
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|s| s.account.as_deref());
    // A service acting for the role is named in invokedBy, or (older events) only in sourceIPAddress.
    let invoked_by = identity.and_then(|i| i.invoked_by.as_deref()).or_else(|| {
        raw.source_ip
            .as_deref()
            .filter(|ip| ip.ends_with(".amazonaws.com"))
    });
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
    let call = ApiCall {
        event_id: raw.event_id.as_deref().unwrap_or(""),
        event_time: raw.event_time.as_deref().unwrap_or(""),
        event_source: source,
        event_name: name,
        region: raw.region.as_deref().unwrap_or(""),
        principal: principal(identity),
        error_code: raw.error_code.as_deref().filter(|c| !c.is_empty()),
        invoked_by,
        recipient_account: raw.recipient_account.as_deref(),
        principal_account: issuer_account,
        request_parameters: raw.request_parameters.filter(|p| p.get() != "null"),
        resources,
    };
    stats.events += 1;
    sink(&call);
}

fn principal<'a>(identity: Option<&'a RawIdentity<'a>>) -> Principal<'a> {
    let Some(id) = identity else {
        return Principal::Other(PrincipalKind::Unknown);
    };
    let kind = match id.kind.as_deref().unwrap_or("") {
        "AssumedRole" => {
            let issuer = id
                .session_context
                .as_ref()
                .and_then(|c| c.session_issuer.as_ref())
                .filter(|s| s.kind.as_deref().unwrap_or("Role") == "Role");
            if let Some(role_arn) = issuer.and_then(|s| s.arn.as_deref()) {
                if role_arn.contains(":role/aws-service-role/") {
                    return Principal::Other(PrincipalKind::ServiceLinkedRole);
                }
                return Principal::Role {
                    role_arn,
                    session: session_name(id),
                };
            }
            PrincipalKind::AssumedRoleWithoutIssuer
        }
        "IAMUser" => PrincipalKind::IamUser,
        "AWSService" => PrincipalKind::AwsService,
        "Root" => PrincipalKind::Root,
        "FederatedUser" | "SAMLUser" | "WebIdentityUser" => PrincipalKind::Federated,
        "AWSAccount" => PrincipalKind::AwsAccount,
        _ => PrincipalKind::Unknown,
    };
    Principal::Other(kind)
}

/// `arn:aws:sts::1:assumed-role/<role>/<session>`, or the part of principalId after `:`.
fn session_name<'a>(id: &'a RawIdentity<'a>) -> &'a str {
    id.arn
        .as_deref()
        .and_then(|a| a.split_once(":assumed-role/"))
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, session)| session)
        .or_else(|| {
            id.principal_id
                .as_deref()
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
        let (seen, _) = collect(format!("[{user},{service},{no_issuer}]").as_bytes());
        assert_eq!(
            seen,
            vec![
                "s3.amazonaws.com:ListBuckets:IAM user",
                "kms.amazonaws.com:Decrypt:AWS service",
                "s3.amazonaws.com:ListBuckets:assumed role without issuer"
            ]
        );
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
