//! No panic on any input: property tests of the CloudTrail decoder and of the mapper behind it.
//!
//! Real CloudTrail events (every event of the fleet fixture trail, which covers the services the
//! mapper reads resources for) are mutated structurally: a field's value replaced by a value of
//! another type, a field removed, a garbage field added, odd strings (huge, unicode, wildcards,
//! ARN fragments) put where names and ARNs go, nested garbage in `requestParameters` and
//! `resources[]`. Each mutant goes through every document shape the decoder accepts, whole and
//! cut short, and every call decoded is mapped with the embedded catalog. Arbitrary bytes too.
//!
//! The delivery-format scanner (observe's hot path) is held to serde_json: whenever it gives an
//! answer, the events and counts must be exactly those of the serde_json decoder, on the same
//! mutants, on byte-level damage of real documents, and on arbitrary JSON; and it must give an
//! answer on real, undamaged deliveries, or observe would not be fast.
//!
//! `PROPTEST_CASES=100000 cargo test --test integration fuzz_decoder::` runs a longer campaign. Every crasher
//! or disagreement found is kept below as a named regression test.

use crate::common::{fixture, walk};
use policy_miner::catalog;
use policy_miner::mapping::map_call;
use policy_miner::source::cloudtrail::{decode, decode_delivery};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Decodes `bytes` and maps every call: the whole path a file takes before the store.
fn decode_and_map(bytes: &[u8]) {
    let catalog = catalog::embedded();
    let _ = decode(bytes, &mut |call| {
        let _ = map_call(call, catalog);
    });
}

/// Checks the scanner against the serde_json decoder on `bytes`: when it reads the document at
/// all, it must hand over the very calls, in order, with the very counts.
fn scanner_agrees(bytes: &[u8]) {
    let mut fast = Vec::new();
    let Some(stats) = decode_delivery(bytes, &mut |call| fast.push(format!("{call:?}"))) else {
        return;
    };
    let mut slow = Vec::new();
    let reference = decode(bytes, &mut |call| slow.push(format!("{call:?}")));
    assert_eq!(reference, Ok(stats), "counts differ on {}", preview(bytes));
    assert_eq!(fast, slow, "calls differ on {}", preview(bytes));
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(2000).collect()
}

fn real_events() -> &'static [Value] {
    static EVENTS: OnceLock<Vec<Value>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut events = Vec::new();
        for path in walk(&fixture("fleet/trail")) {
            let text = std::fs::read_to_string(&path).unwrap();
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(mut doc)) => {
                    if let Some(Value::Array(records)) = doc.remove("Records") {
                        events.extend(records);
                    }
                }
                Ok(Value::Array(records)) => events.extend(records),
                _ => events.extend(
                    text.lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
                ),
            }
        }
        assert!(
            events.len() > 50,
            "too few fixture events: {}",
            events.len()
        );
        events
    })
}

/// Strings that have broken parsers before: empty, huge, separators only, wildcards and policy
/// variables, ARN fragments, control and bidi characters, multi-byte characters at cut points.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("*".to_string()),
        Just("${aws:username}".to_string()),
        Just("arn:".to_string()),
        Just("arn:aws:s3:::".to_string()),
        Just("arn:aws:s3:::/".to_string()),
        Just("arn:aws:sqs:eu-west-1::".to_string()),
        Just("arn:aws:kms:eu-west-1:111122223333:alias/".to_string()),
        Just("https://sqs.eu-west-1.amazonaws.com/".to_string()),
        Just("https://".to_string()),
        Just(":::::::".to_string()),
        Just("//".to_string()),
        Just("/".to_string()),
        Just("?$*".to_string()),
        Just("é🙂\u{0}\u{202e}\u{feff}".to_string()),
        Just("a".repeat(70_000)),
        Just("/".repeat(5_000)),
        Just("arn:aws:ssm:eu-west-1:111122223333:parameter".to_string()),
        Just(".amazonaws.com".to_string()),
        "\\PC{0,40}",
        "[a-z:/*?$.-]{0,40}",
        // API-version suffixes (`Invoke20150331`, `…v2`, `…2020_05_31`) after any character.
        "\\PC{0,4}[0-9_v]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("ARN".to_string()),
                        Just("type".to_string()),
                        Just("name".to_string()),
                        Just("bucketName".to_string()),
                        Just("key".to_string()),
                        Just("queueUrl".to_string()),
                        Just("keyId".to_string()),
                        Just("tableName".to_string()),
                        Just("secretId".to_string()),
                        "[a-zA-Z]{1,12}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Bytes that matter to a JSON reader, and some that must never appear outside strings.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"{}[]\",:\\/ \n\t\r0123456789-+.eEtrufalsnbu".to_vec()),
        Just(0x00u8),
        Just(0x1fu8),
        Just(0x0cu8),
        Just(0x80u8),
        Just(0xc3u8),
        Just(0xffu8),
        any::<u8>(),
    ]
}

/// One structural change at one node of an event.
#[derive(Debug, Clone)]
enum Mutation {
    /// Any value of any type in place of the node.
    Replace(Index, Value),
    /// An odd string in place of a string node, keeping its type: reaches the resource parsers.
    OddString(Index, String),
    /// The node removed from its object or array.
    Remove(Index),
    /// A new field in an object node.
    Insert(Index, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (any::<Index>(), odd_string()).prop_map(|(i, s)| Mutation::OddString(i, s)),
        any::<Index>().prop_map(Mutation::Remove),
        (
            any::<Index>(),
            prop_oneof![
                Just("requestParameters".to_string()),
                Just("resources".to_string()),
                Just("sessionContext".to_string()),
                Just("errorCode".to_string()),
                Just("invokedBy".to_string()),
                "[a-zA-Z]{1,10}",
            ],
            json_value()
        )
            .prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

/// JSON pointers of every node under (and including) `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn apply(event: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    pointers(event, String::new(), &mut all);
    let pick = |i: &Index| all[i.index(all.len())].clone();
    match m {
        Mutation::Replace(i, v) => {
            if let Some(node) = event.pointer_mut(&pick(i)) {
                *node = v.clone();
            }
        }
        Mutation::OddString(i, s) => {
            if let Some(node @ Value::String(_)) = event.pointer_mut(&pick(i)) {
                *node = Value::String(s.clone());
            }
        }
        Mutation::Remove(i) => {
            let at = pick(i);
            let Some((parent, last)) = at.rsplit_once('/') else {
                return;
            };
            match event.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(n) = last.parse::<usize>() {
                        if n < a.len() {
                            a.remove(n);
                        }
                    }
                }
                _ => {}
            }
        }
        Mutation::Insert(i, k, v) => {
            if let Some(Value::Object(m)) = event.pointer_mut(&pick(i)) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The document shapes the decoder accepts, around the same events.
fn shapes(events: &[Value]) -> Vec<Vec<u8>> {
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let lookup: Vec<Value> = events
        .iter()
        .map(|e| json!({"EventId": "x", "CloudTrailEvent": e.to_string()}))
        .collect();
    vec![
        json!({ "Records": events }).to_string().into_bytes(),
        Value::Array(events.to_vec()).to_string().into_bytes(),
        events[0].to_string().into_bytes(),
        lines.join("\n").into_bytes(),
        json!({ "Events": lookup }).to_string().into_bytes(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // At least 512; more with PROPTEST_CASES, which `default()` reads.
        cases: ProptestConfig::default().cases.max(512),
        // Crashers are kept as named tests below, not in a regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_real_events_never_panic(
        picks in prop::collection::vec(any::<Index>(), 1..4),
        mutations in prop::collection::vec(mutation(), 1..5),
        cut in any::<Index>(),
    ) {
        let real = real_events();
        let mut events: Vec<Value> = picks.iter().map(|i| real[i.index(real.len())].clone()).collect();
        for (n, m) in mutations.iter().enumerate() {
            let target = n % events.len();
            apply(&mut events[target], m);
        }
        for doc in shapes(&events) {
            decode_and_map(&doc);
            scanner_agrees(&doc);
            // Cut short anywhere, even inside a multi-byte character.
            let short = &doc[..cut.index(doc.len() + 1)];
            decode_and_map(short);
            scanner_agrees(short);
        }
        let pretty = serde_json::to_vec_pretty(&json!({ "Records": events })).unwrap();
        scanner_agrees(&pretty);
    }

    /// Byte-level damage to a real delivery document: JSON punctuation, escapes, control and
    /// non-ASCII bytes put in, taken out or swapped anywhere, which the structural mutations
    /// above never produce.
    #[test]
    fn damaged_real_deliveries_read_as_serde_json_reads_them(
        picks in prop::collection::vec(any::<Index>(), 1..4),
        edits in prop::collection::vec((any::<Index>(), 0u8..3, byte()), 1..6),
        pretty in any::<bool>(),
    ) {
        let real = real_events();
        let events: Vec<Value> = picks.iter().map(|i| real[i.index(real.len())].clone()).collect();
        let doc = json!({ "Records": events });
        let mut bytes = if pretty {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            serde_json::to_vec(&doc).unwrap()
        };
        for (at, op, b) in &edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, *b),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = *b,
                _ => bytes.push(*b),
            }
        }
        scanner_agrees(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_and_map(&bytes);
        scanner_agrees(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        decode_and_map(value.to_string().as_bytes());
        let doc = json!({ "Records": [value] }).to_string();
        decode_and_map(doc.as_bytes());
        scanner_agrees(doc.as_bytes());
        let event = json!({ "Records": [{
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "userIdentity": value.clone(),
            "requestParameters": value.clone(),
            "resources": value,
        }] });
        scanner_agrees(event.to_string().as_bytes());
    }
}

/// The scanner reads every real delivery itself, compact or pretty-printed, with the same result
/// as serde_json: a trail of undamaged files never falls back to the slow path.
#[test]
fn the_scanner_reads_real_deliveries() {
    for path in walk(&fixture("fleet/trail")) {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if !doc.contains_key("Records") {
            continue;
        }
        let pretty = serde_json::to_vec_pretty(&doc).unwrap();
        for bytes in [bytes, pretty] {
            assert!(
                decode_delivery(&bytes, &mut |_| {}).is_some(),
                "{} fell back to serde_json",
                path.display()
            );
            scanner_agrees(&bytes);
        }
    }
}

/// Sanity: the mutation machinery reaches the decoder with real events intact when unmutated, so
/// a campaign that finds nothing is not one that tested nothing.
#[test]
fn unmutated_fixture_events_all_decode_and_map() {
    let events = real_events();
    let mut decoded = 0;
    let mut mapped = 0;
    let catalog = catalog::embedded();
    let doc = json!({ "Records": events }).to_string();
    decode(doc.as_bytes(), &mut |call| {
        decoded += 1;
        if matches!(
            map_call(call, catalog),
            policy_miner::mapping::Mapped::Grants(_)
        ) {
            mapped += 1;
        }
    })
    .unwrap();
    assert_eq!(decoded, events.len());
    assert!(
        mapped * 2 > decoded,
        "only {mapped} of {decoded} mapped to grants"
    );
}

/// Nesting deep enough to overflow a recursive parser's stack (test threads have 2 MB): refused
/// or read, never a crash. The mapper parses `requestParameters` again, so it is nested there too.
#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let deep = 200_000;
    let open_arrays = "[".repeat(deep);
    let params = format!(
        r#"{{"Records":[{{"eventSource":"ssm.amazonaws.com","eventName":"GetParameter","requestParameters":{}1{}}}]}}"#,
        r#"{"a":"#.repeat(deep),
        "}".repeat(deep)
    );
    let resources = format!(
        r#"{{"Records":[{{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","resources":[{}{}]}}]}}"#,
        "[".repeat(deep),
        "]".repeat(deep)
    );
    for doc in [open_arrays, params, resources] {
        decode_and_map(doc.as_bytes());
    }
}
