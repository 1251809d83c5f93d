//! Property tests of the inputs that reach a policy besides CloudTrail files (those are in
//! `fuzz_decoder`): exports given to `import`, and SDK-monitoring datagrams.
//!
//! Whatever an export holds (hostile actions and resources, counts and times of any kind, rows
//! that are not rows, keys in any order, the file cut anywhere), importing it never panics, never
//! stores an action the catalog does not name exactly nor a wildcard action, never a count below
//! 1 nor a time no call can have had, and the policy proposed from what it stored grants no
//! wildcard action. Whatever a datagram holds, reading it never panics, never maps it to a
//! wildcard action, and never dates the call far from its arrival.
//!
//! `PROPTEST_CASES=10000 cargo test --test integration fuzz_inputs::` runs a longer campaign.

use policy_miner::catalog;
use policy_miner::mapping;
use policy_miner::mapping::Mapped;
use policy_miner::source::csm::{self, Datagram};
use policy_miner::store::exchange::ImportError;
use policy_miner::store::{times, Store};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use std::path::Path;

const ROLE: &str = "arn:aws:iam::111122223333:role/app";

fn text(options: &'static [&'static str], free: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(options).prop_map(str::to_string),
        1 => free,
    ]
    .boxed()
}

fn action() -> BoxedStrategy<String> {
    text(
        &[
            "*",
            "iam:*",
            "s3:Get*",
            "*:*",
            "iam:PassRol?",
            "s3:GetObject",
            "S3:GETOBJECT",
            "ssm:GetParameter",
            "sqs:ListQueues",
            "kms:Decrypt",
            "iam:PassRole",
            "made:Up",
            "",
            ":",
            "s3:",
        ],
        "[a-zA-Z0-9:*?]{0,20}",
    )
}

fn resource() -> BoxedStrategy<String> {
    text(
        &[
            "*",
            "?",
            "",
            "arn:aws:s3:::*",
            "arn:aws:s3:::b/k",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/${aws:username}",
            "arn:aws:s3:::b/a${*}b",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/p",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/*",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:s-??????",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:-??????",
            "arn:aws:logs:eu-west-1:111122223333:log-group:g:*",
            "arn:aws:logs:eu-west-1:111122223333:log-group:*",
            "arn:aws:iam::111122223333:role/*",
        ],
        "[a-z0-9:/*?${}-]{0,40}",
    )
}

fn role() -> BoxedStrategy<String> {
    text(
        &[
            ROLE,
            ROLE,
            "*",
            "",
            "app",
            "arn:aws:iam::111122223333:user/u",
            "arn:aws:iam:::role/x",
        ],
        "\\PC{0,30}",
    )
}

fn count() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (1i64..5).prop_map(|n| json!(n)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => select(vec![
            json!(0),
            json!(-1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e30),
            json!(2.5),
            json!("7"),
            Value::Null,
        ]),
    ]
    .boxed()
}

fn time() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => select(vec!["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"]).prop_map(|t| json!(t)),
        1 => select(vec![
            "1970-01-01T00:00:00Z",
            "2005-12-31T23:59:59Z",
            "2099-01-01T00:00:00Z",
            "2026-11-20T10:00:00+02:00",
            "2026-11-20",
            "yesterday",
            "",
        ])
        .prop_map(|t| json!(t)),
        1 => (-(1i64 << 36)..(1i64 << 36)).prop_map(|s| {
            let t = chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0);
            json!(t.map(|t| t.to_rfc3339()))
        }),
    ]
    .boxed()
}

fn condition() -> BoxedStrategy<String> {
    select(vec![
        "",
        "",
        "{}",
        "[1]",
        "not json",
        r#"{"kms:ViaService":"ssm.eu-west-1.amazonaws.com"}"#,
        r#"{"kms:ViaService":1}"#,
        r#"{"aws:made:up":"x"}"#,
    ])
    .prop_map(str::to_string)
    .boxed()
}

fn source() -> BoxedStrategy<Value> {
    (
        select(vec!["csm", "proxy", "", "CSM !", "*"]),
        count(),
        time(),
        time(),
    )
        .prop_map(|(source, count, first, last)| {
            json!({"source": source, "count": count, "first_seen": first, "last_seen": last})
        })
        .boxed()
}

fn evidence_row() -> BoxedStrategy<Value> {
    let row = (
        (role(), action(), resource(), condition()),
        (count(), time(), time()),
        prop::collection::vec(source(), 0..3),
    )
        .prop_map(
            |((role, action, resource, condition), (count, first, last), sources)| {
                json!({
                    "role_arn": role, "action": action, "resource": resource,
                    "condition": condition, "error_code": "", "count": count,
                    "first_seen": first, "last_seen": last, "example_event_id": "e",
                    "event_source": "s3.amazonaws.com", "event_name": "GetObject", "rule": "r",
                    "sources": sources
                })
            },
        );
    prop_oneof![
        8 => row,
        1 => select(vec![json!("not a row"), json!(7), json!([]), json!({}), Value::Null]),
    ]
    .boxed()
}

fn ungranted_row() -> BoxedStrategy<Value> {
    (
        role(),
        select(vec!["unmapped", "no_permission", "admin", ""]),
        count(),
        time(),
        time(),
    )
        .prop_map(|(role, kind, count, first, last)| {
            json!({
                "role_arn": role, "event_source": "sts.amazonaws.com",
                "event_name": "GetCallerIdentity", "error_code": "", "kind": kind,
                "reason": "r", "count": count, "first_seen": first, "last_seen": last,
                "example_event_id": "e"
            })
        })
        .boxed()
}

/// An export as `policy-miner export` writes it, but with hostile rows, sometimes a hostile
/// header. serde_json writes keys sorted, so the rows come before the header, as after `jq -S`.
fn export() -> BoxedStrategy<Value> {
    (
        select(vec![
            "policy-miner-evidence",
            "policy-miner-evidence",
            "other",
        ]),
        select(vec![json!(1), json!(1), json!(2), json!(-1)]),
        select(vec!["0123456789abcdef", "0123456789abcdef", "", "a b"]),
        any::<i64>(),
        prop::collection::vec(evidence_row(), 0..6),
        prop::collection::vec(ungranted_row(), 0..3),
    )
        .prop_map(|(format, version, origin, sequence, evidence, ungranted)| {
            json!({
                "format": format, "version": version, "origin": origin, "sequence": sequence,
                "exported_at": "2026-11-21T00:00:00Z", "evidence": evidence,
                "ungranted": ungranted
            })
        })
        .boxed()
}

/// Imports `bytes` as an export file into a fresh database, then checks everything it stored
/// and the policy proposed from it.
fn import_and_check(dir: &Path, bytes: &[u8]) {
    let file = dir.join("export.json");
    std::fs::write(&file, bytes).unwrap();
    let db = dir.join("fleet.db");
    let _ = std::fs::remove_file(&db);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (evidence, ungranted) = runtime.block_on(async {
        let store = Store::open(&db, true).await.unwrap();
        match store.import(&file).await {
            Ok(done) => assert!(done.refusals.len() <= done.refused),
            Err(ImportError::Refused(why)) => assert!(why.contains("export.json"), "{why}"),
            Err(ImportError::Store(e)) => panic!("a file made the store fail: {e}"),
        }
        let stored = (
            store.evidence().await.unwrap(),
            store.ungranted().await.unwrap(),
        );
        store.close().await;
        stored
    });
    let catalog = catalog::active();
    let now = chrono::Utc::now();
    let plausible = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .is_ok_and(|t| times::plausible(t.with_timezone(&chrono::Utc), now))
    };
    for r in &evidence {
        let named = catalog.action(&r.action).map(|a| a.full_name());
        assert_eq!(named.as_deref(), Some(r.action.as_str()), "{r:?}");
        assert!(!r.action.contains(['*', '?']), "{r:?}");
        assert!(
            mapping::check_grant(catalog, &r.action, &r.resource).is_ok(),
            "{r:?}"
        );
        assert!(r.count >= 1, "{r:?}");
        assert!(plausible(&r.first_seen) && plausible(&r.last_seen), "{r:?}");
    }
    for u in &ungranted {
        assert!(u.count >= 1, "{u:?}");
        assert!(plausible(&u.first_seen) && plausible(&u.last_seen), "{u:?}");
    }
    // `build`, not `propose`: the policy as written, before propose checks it covers the calls.
    let proposal = policy_miner::synth::build(&evidence, &ungranted, &[], &Default::default());
    for role in &proposal.roles {
        for statement in &role.policy.statement {
            for action in statement.action.iter().flatten() {
                assert!(!action.contains(['*', '?']), "{action} granted");
                assert!(catalog.action(action).is_some(), "{action} granted");
            }
        }
    }
}

/// A CSM datagram: the fields the parser reads, each sometimes absent, of the wrong type, or
/// hostile.
fn datagram() -> BoxedStrategy<Vec<u8>> {
    let field = |strategy: BoxedStrategy<Value>| prop::option::weighted(0.85, strategy);
    (
        field(select(vec![json!(1), json!(2), json!("1")]).boxed()),
        field(select(vec![json!("ApiCall"), json!("ApiCallAttempt"), json!("X")]).boxed()),
        field(
            text(
                &[
                    "SSM",
                    "S3",
                    "IAM",
                    "STS",
                    "Secrets Manager",
                    "CloudWatch Logs",
                    "*",
                    "",
                    " ",
                    "Made Up",
                ],
                "[a-zA-Z *?]{0,16}",
            )
            .prop_map(Value::String)
            .boxed(),
        ),
        field(
            text(
                &[
                    "GetParameter",
                    "GetObject",
                    "ListObjectsV2",
                    "PassRole",
                    "*",
                    "Get*",
                    "",
                    "GetObject20200101",
                ],
                "[a-zA-Z0-9*?]{0,20}",
            )
            .prop_map(Value::String)
            .boxed(),
        ),
        field(
            prop_oneof![
                any::<i64>().prop_map(|n| json!(n)),
                select(vec![json!(0), json!(-1), json!(1.5e300), json!("0")]),
            ]
            .boxed(),
        ),
        field(select(vec![json!(200), json!(403), json!(500), json!("200")]).boxed()),
        field(select(vec![json!("AccessDenied"), json!(""), json!(3)]).boxed()),
    )
        .prop_map(
            |(version, kind, service, api, timestamp, status, exception)| {
                let fields = [
                    ("Version", version),
                    ("Type", kind),
                    ("Service", service),
                    ("Api", api),
                    ("Timestamp", timestamp),
                    ("FinalHttpStatusCode", status),
                    ("FinalAwsException", exception),
                ];
                let object: Map<String, Value> = fields
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v?)))
                    .collect();
                Value::Object(object).to_string().into_bytes()
            },
        )
        .boxed()
}

/// Reads one datagram arriving at `received_ms` as the listener does, and checks what it yields.
fn read_datagram(bytes: &[u8], received_ms: i64) {
    let Datagram::Call(call) = csm::parse(bytes) else {
        return;
    };
    if let Mapped::Grants(grants) = csm::map(
        &call,
        "arn:aws:iam::111122223333:role/app",
        catalog::active(),
    ) {
        for grant in grants {
            let action = grant.action;
            assert!(!action.contains(['*', '?']), "{action} from {call:?}");
            let named = catalog::active().action(&action).map(|a| a.full_name());
            assert_eq!(named.as_deref(), Some(action.as_str()));
        }
    }
    let (ms, _) = csm::call_time(call.timestamp_ms, received_ms);
    let skew = times::MAX_SKEW.num_milliseconds();
    assert!(ms.abs_diff(received_ms) <= skew.unsigned_abs(), "{call:?}");
}

/// Arrival times from 2006 to 2100: a clock this machine can have.
fn arrival() -> impl Strategy<Value = i64> {
    1_136_073_600_000i64..4_102_444_800_000
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case opens a database: fewer than the decoder's, more with PROPTEST_CASES.
        cases: cases(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_exports_store_only_what_a_call_could_prove(
        file in export(),
        cut in any::<prop::sample::Index>(),
        whole in prop::bool::weighted(0.8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = file.to_string().into_bytes();
        let bytes = if whole { &bytes[..] } else { &bytes[..cut.index(bytes.len() + 1)] };
        import_and_check(dir.path(), bytes);
    }

    #[test]
    fn arbitrary_bytes_as_an_export_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let dir = tempfile::tempdir().unwrap();
        import_and_check(dir.path(), &bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(2048),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn datagrams_never_yield_a_wildcard_or_an_implausible_time(
        bytes in datagram(),
        received in arrival(),
        cut in any::<prop::sample::Index>(),
    ) {
        read_datagram(&bytes, received);
        read_datagram(&bytes[..cut.index(bytes.len() + 1)], received);
    }

    #[test]
    fn arbitrary_bytes_as_a_datagram_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        received in arrival(),
    ) {
        read_datagram(&bytes, received);
    }
}

/// The strategies reach the happy path too: an honest export of the shape above is imported.
#[test]
fn an_honest_export_of_the_generated_shape_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let export = json!({
        "format": "policy-miner-evidence", "version": 1, "origin": "0123456789abcdef",
        "sequence": 1, "exported_at": "2026-11-21T00:00:00Z", "ungranted": [],
        "evidence": [{
            "role_arn": ROLE, "action": "S3:GETOBJECT", "resource": "arn:aws:s3:::b/k",
            "condition": "", "error_code": "", "count": 2, "first_seen": "2026-11-20T10:00:00Z",
            "last_seen": "2026-11-21T10:00:00Z", "example_event_id": "e",
            "event_source": "s3.amazonaws.com", "event_name": "GetObject", "rule": "r",
            "sources": [{"source": "csm", "count": 1, "first_seen": "2026-11-20T10:00:00Z",
                         "last_seen": "2026-11-20T10:00:00Z"}]
        }]
    });
    import_and_check(dir.path(), export.to_string().as_bytes());
    let stored = crate::common::db_rows(
        &dir.path().join("fleet.db"),
        "SELECT action, count FROM evidence",
    );
    use sqlx::Row;
    let action: String = stored[0].get(0);
    let count: i64 = stored[0].get(1);
    assert_eq!((action.as_str(), count), ("s3:GetObject", 2));
}
