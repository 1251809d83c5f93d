//! Building events and checking grants, for the rule cases beside each service's rules.
//!
//! Every case drives the real CloudTrail decoder and the real mapper on a small event written
//! inline. Every grant a case sees is also checked against the embedded catalog: the action
//! exists, and the ARN is one of its resource types (or the action takes none and the resource
//! is `*`).

use super::{accepts, map_call, Grant, Mapped};
use crate::catalog;
use crate::policy::eval::{evaluate, Context, Decision, Request};
use crate::policy::{PolicyDocument, Statement};
use crate::source::cloudtrail::decode;
use serde_json::{json, Value};

pub const ACCOUNT: &str = "111122223333";

/// A successful call by an ECS task role session in eu-west-1.
pub fn event(source: &str, name: &str, req: Value) -> Value {
    in_partition("aws", "eu-west-1", source, name, req)
}

pub fn in_partition(partition: &str, region: &str, source: &str, name: &str, req: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "eventID": "0f1e2d3c-0000-4000-8000-000000000001",
        "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "10.0.1.17",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:task-1",
            "arn": format!("arn:{partition}:sts::{ACCOUNT}:assumed-role/app/task-1"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": format!("arn:{partition}:iam::{ACCOUNT}:role/app"),
                "accountId": ACCOUNT,
                "userName": "app"
            }}
        },
        "requestParameters": req
    })
}

pub fn with(mut ev: Value, key: &str, value: Value) -> Value {
    ev[key] = value;
    ev
}

pub fn map(ev: &Value) -> Mapped {
    let bytes = serde_json::to_vec(ev).unwrap();
    let mut out = None;
    decode(&bytes, &mut |call| {
        out = Some(map_call(call, catalog::embedded()))
    })
    .unwrap();
    out.expect("the decoder yields the event")
}

/// The grants of a call, each checked against the catalog.
pub fn grants(ev: &Value) -> Vec<Grant> {
    match map(ev) {
        Mapped::Grants(g) => {
            assert!(!g.is_empty(), "no grants for {ev}");
            g.iter().for_each(assert_valid);
            g
        }
        other => panic!("expected grants for {}, got {other:?}", ev["eventName"]),
    }
}

pub fn assert_valid(g: &Grant) {
    let action = catalog::embedded()
        .action(&g.action)
        .unwrap_or_else(|| panic!("{} is not in the catalog", g.action));
    assert_eq!(action.full_name(), g.action, "canonical case");
    if g.resource == "*" {
        return;
    }
    assert!(
        accepts(&action, &g.resource),
        "{} does not accept {}",
        g.action,
        g.resource
    );
}

/// (action, resource) pairs, sorted.
pub fn pairs(ev: &Value) -> Vec<(String, String)> {
    let mut out: Vec<_> = grants(ev)
        .into_iter()
        .map(|g| (g.action, g.resource))
        .collect();
    out.sort();
    out
}

pub fn p(action: &str, resource: &str) -> (String, String) {
    (action.to_string(), resource.to_string())
}

/// A policy allowing `action` on `resource`, evaluated for a request on `target`.
pub fn allows(resource: &str, action: &str, target: &str) -> Decision {
    let doc = PolicyDocument::new(vec![Statement::allow(
        vec![action.to_string()],
        vec![resource.to_string()],
    )]);
    evaluate(
        &[doc],
        &Request {
            action,
            resource: target,
            context: &Context::new(),
        },
    )
}

/// One case of [`assert_pairs`]: an event name, its request parameters, and the (action,
/// resource) pairs it must map to.
pub type PairCase<'a> = (&'a str, Value, &'a [(&'a str, &'a str)]);

/// Table-driven cases of one shape: an event of `source` with a request, and the (action,
/// resource) pairs it must grant.
pub fn assert_pairs(source: &str, cases: &[PairCase]) {
    for (name, req, want) in cases {
        let want: Vec<(String, String)> = want.iter().map(|(a, r)| p(a, r)).collect();
        assert_eq!(
            pairs(&event(source, name, req.clone())),
            want,
            "{source} {name} {req}"
        );
    }
}
