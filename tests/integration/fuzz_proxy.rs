//! Hostile requests to the proxy's recording path: property tests of what the proxy records from
//! a request (`server::recorded_head`, `decode::decode`) and of what that evidence grants
//! (`map_decoded`, the recorder's own mapping).
//!
//! Requests come with any host (AWS's, look-alikes, the loopback, garbage), any headers (a fake
//! SigV4 `Authorization` for any service, `X-Amz-Target`s, random ones) and any body (nested past
//! serde_json's recursion limit, cut short, random bytes, forms, real-looking JSON). Whatever
//! they hold:
//!
//! - a call is recorded only for a host that is AWS's or named with `--intercept`;
//! - a body that could not be read as JSON never yields a grant on `*` for an action that takes
//!   a resource: its resources are unknown (`?`), and neither do parameters left unread.
//!
//! `PROPTEST_CASES=100000 cargo test --test integration fuzz_proxy::` runs a longer campaign.

use policy_miner::catalog;
use policy_miner::mapping::{Mapped, ANY_RESOURCE};
use policy_miner::observe::live::proxy::map_decoded;
use policy_miner::source::proxy::decode::{self, Protocol, RequestView};
use policy_miner::source::proxy::reach::{Hosts, Tunnel};
use policy_miner::source::proxy::server::recorded_head;
use proptest::prelude::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/app-task";
const ACCOUNT: &str = "123456789012";
/// The user's `--intercept` names in every case.
const NAMED: [&str; 2] = ["localstack.test", ".corp.example"];

/// The oracle, written apart from the proxy's own matching: AWS's domains, and the named hosts.
fn may_be_recorded(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|s| host.ends_with(s))
        || host == "localstack.test"
        || host.ends_with(".corp.example")
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ssm.us-east-1.amazonaws.com",
            "iam.amazonaws.com",
            "bucket.s3.eu-west-1.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
            "sts.eu-west-1.api.aws",
            "localstack.test",
            "aws.corp.example",
            "127.0.0.1",
            "localhost",
            "::1",
            "169.254.169.254",
            "amazonaws.com",
            "evil-amazonaws.com",
            "amazonaws.com.evil.example",
            "ssm.us-east-1.amazonaws.com.evil.example",
            "api.aws.evil",
            "corp.example",
            "localstack.test.evil",
            "",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9.-]{0,40}",
        "[a-z0-9-]{1,12}\\.(amazonaws\\.com|api\\.aws|example\\.com)\\.?",
    ]
}

fn service() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ssm",
            "sqs",
            "dynamodb",
            "s3",
            "iam",
            "sts",
            "lambda",
            "kms",
            "secretsmanager",
            "monitoring",
        ])
        .prop_map(str::to_string),
        "[a-z0-9*_-]{0,16}",
    ]
}

fn authorization() -> impl Strategy<Value = String> {
    prop_oneof![
        (service(), "[a-z0-9-]{0,14}").prop_map(|(s, r)| format!(
            "AWS4-HMAC-SHA256 Credential=AKIDATTACKER/20261201/{r}/{s}/aws4_request, \
             SignedHeaders=host, Signature=00"
        )),
        service().prop_map(|s| format!(
            "AWS4-ECDSA-P256-SHA256 Credential=AKID/20261201/{s}/aws4_request, Signature=00"
        )),
        "AWS4-HMAC-SHA256 Credential=[ -~]{0,60}",
        "[ -~]{0,60}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "AmazonSSM.GetParameter",
            "AmazonSSM.PutParameter",
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.BatchWriteItem",
            "AmazonSQS.SendMessage",
            "secretsmanager.GetSecretValue",
            "TrentService.Decrypt",
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9_.]{0,30}",
    ]
}

/// Bodies past serde_json's recursion limit (128), arrays or objects, around real resource
/// members: the parse fails as a whole.
fn deep_body() -> impl Strategy<Value = Vec<u8>> {
    (129usize..700, any::<bool>()).prop_map(|(depth, objects)| {
        let (open, close) = if objects {
            (r#"{"a":"#, "}")
        } else {
            ("[", "]")
        };
        format!(
            r#"{{"Name": "/app/flag", "TableName": "orders", "SecretId": "s", "X": {}1{}}}"#,
            open.repeat(depth),
            close.repeat(depth)
        )
        .into_bytes()
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let json = prop::sample::select(vec![
        r#"{"Name": "/app/flag"}"#,
        r#"{"TableName": "orders", "Key": {"id": {"S": "1"}}}"#,
        r#"{"RequestItems": {"orders": []}}"#,
        r#"{"SecretId": "app/token"}"#,
        r#"{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}"#,
        r#"{}"#,
        "",
        "Action=CreateUser&UserName=backdoor&Version=2010-05-08",
        "<Delete><Object><Key>a</Key></Object></Delete>",
    ]);
    prop_oneof![
        deep_body(),
        json.clone().prop_map(|b| b.as_bytes().to_vec()),
        // Cut short anywhere.
        (json, any::<prop::sample::Index>())
            .prop_map(|(b, i)| b.as_bytes()[..i.index(b.len() + 1)].to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
        "[\\[\\]{}\":, a-zA-Z0-9]{0,80}".prop_map(String::into_bytes),
    ]
}

/// One request as the proxy sees it.
#[derive(Debug, Clone)]
struct Hostile {
    method: http::Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Hostile> {
    let header = prop_oneof![
        authorization().prop_map(|v| ("authorization".to_string(), v)),
        target().prop_map(|v| ("x-amz-target".to_string(), v)),
        prop::sample::select(vec![
            "application/x-amz-json-1.0",
            "application/x-amz-json-1.1",
            "application/x-www-form-urlencoded",
            "application/cbor",
            "text/plain",
        ])
        .prop_map(|v| ("content-type".to_string(), v.to_string())),
        "[ -~]{0,20}".prop_map(|v| ("x-amz-region-set".to_string(), v)),
        ("[a-z-]{1,12}", "[ -~]{0,30}"),
    ];
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
        host(),
        prop::sample::select(vec![
            "/",
            "/b/k",
            "/2015-03-31/functions/f/invocations",
            "/service/S/operation/Op",
            "/123456789012/q",
        ]),
        prop::option::of(prop_oneof![
            Just("delete".to_string()),
            Just("Action=CreateUser&UserName=backdoor".to_string()),
            Just("X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fs3%2Faws4_request".to_string()),
            "[a-zA-Z0-9=&%.-]{0,40}",
        ]),
        // The authorization first so that most cases look signed; more headers after.
        (
            authorization(),
            prop::collection::vec(header, 0..5),
            any::<bool>(),
        ),
        body(),
    )
        .prop_map(
            |(method, host, path, query, (auth, mut headers, signed), body)| {
                if signed {
                    headers.insert(0, ("authorization".to_string(), auth));
                }
                Hostile {
                    method: method.parse().unwrap(),
                    host,
                    path: path.to_string(),
                    query,
                    headers,
                    body,
                }
            },
        )
}

fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) else {
            continue;
        };
        map.insert(k, v);
    }
    map
}

/// Whether the body is one the JSON protocol cannot read an object from.
fn unreadable_json(body: &[u8]) -> bool {
    !body.iter().all(u8::is_ascii_whitespace)
        && !matches!(
            serde_json::from_slice::<serde_json::Value>(body),
            Ok(serde_json::Value::Object(_))
        )
}

/// Runs one hostile request through what the proxy records and what the recorder maps.
fn check(req: &Hostile) -> Result<(), TestCaseError> {
    let hosts = Hosts::new(&NAMED.map(str::to_string));
    let headers = header_map(&req.headers);
    let view = RequestView {
        method: &req.method,
        host: &req.host,
        path: &req.path,
        query: req.query.as_deref(),
        headers: &headers,
    };
    let Some(head) = recorded_head(&hosts, &view) else {
        return Ok(());
    };
    prop_assert!(
        may_be_recorded(&req.host),
        "a call would be recorded for {:?}",
        req.host
    );
    let body = head.needs_body.then_some(req.body.as_slice());
    let Ok(call) = decode::decode(&head, &view, body) else {
        return Ok(());
    };
    if matches!(head.protocol, Protocol::Json { .. }) && unreadable_json(&req.body) {
        prop_assert!(
            call.params.is_none(),
            "parameters {:?} read from an unreadable body",
            call.params
        );
    }
    if call.params.is_some() {
        return Ok(());
    }
    let catalog = catalog::embedded();
    if let Mapped::Grants(grants) = map_decoded(&call, "", 0, ROLE, ACCOUNT, catalog) {
        for g in grants {
            let takes_resources = catalog
                .action(&g.action)
                .is_none_or(|a| a.takes_resources());
            prop_assert!(
                !(takes_resources && g.resource == ANY_RESOURCE),
                "{} granted on * from a request whose parameters were not read: {req:?}",
                g.action
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_requests_are_recorded_only_for_aws_hosts_and_never_as_star(req in request()) {
        check(&req)?;
    }

    /// Tunnels to hosts the user did not name go nowhere but port 443, and are never decrypted.
    #[test]
    fn tunnels_to_other_hosts_are_never_decrypted_nor_off_port_443(host in host(), port in any::<u16>()) {
        let hosts = Hosts::new(&NAMED.map(str::to_string));
        match hosts.tunnel(&host, port) {
            Tunnel::Decrypt => prop_assert!(may_be_recorded(&host), "{host} decrypted"),
            Tunnel::PassThrough => {
                prop_assert!(!may_be_recorded(&host));
                prop_assert_eq!(port, 443);
            }
            Tunnel::Refuse(_) => prop_assert!(!may_be_recorded(&host) && port != 443),
        }
    }
}

/// A body past the recursion limit to an AWS host: recorded, with resources unknown.
#[test]
fn a_deep_body_to_ssm_is_recorded_with_unknown_resources() {
    let body = format!(
        r#"{{"Name": "/app/flag", "X": {}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let req = Hostile {
        method: http::Method::POST,
        host: "ssm.us-east-1.amazonaws.com".to_string(),
        path: "/".to_string(),
        query: None,
        headers: vec![
            (
                "authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/ssm/aws4_request, \
                 SignedHeaders=host, Signature=00"
                    .to_string(),
            ),
            (
                "x-amz-target".to_string(),
                "AmazonSSM.GetParameter".to_string(),
            ),
        ],
        body: body.into_bytes(),
    };
    check(&req).unwrap();
    let hosts = Hosts::new(&[]);
    let headers = header_map(&req.headers);
    let view = RequestView {
        method: &req.method,
        host: &req.host,
        path: &req.path,
        query: None,
        headers: &headers,
    };
    let head = recorded_head(&hosts, &view).expect("an AWS call");
    let call = decode::decode(&head, &view, Some(req.body.as_slice())).unwrap();
    let Mapped::Grants(grants) = map_decoded(&call, "", 0, ROLE, ACCOUNT, catalog::embedded())
    else {
        panic!("GetParameter maps to a grant");
    };
    let found: Vec<(&str, &str)> = grants
        .iter()
        .map(|g| (g.action.as_str(), g.resource.as_str()))
        .collect();
    assert_eq!(found, [("ssm:GetParameter", "?")]);
}
