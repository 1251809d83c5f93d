//! Issue 5's acceptance on a generated fleet (the `bench` generator: 12 families, a shared
//! execution role, a role used as both, a family without a task role, data events, failures):
//! `verify` finds no uncovered call; near misses built from every observed call (another name,
//! another account, another action on the same resource, KMS without or through another service
//! or for another resource)
//! are denied; failed calls are not granted; every wildcard made of S3 keys or SSM names stands on
//! at least three observed names under its prefix; every execution role carries the log and secret
//! grants its task definitions imply.

use crate::common::*;
use policy_miner::bench::generate::{fleet, EXECUTION_ROLE};
use policy_miner::policy::escape::unescape_literal;
use policy_miner::policy::eval::{evaluate, Context, Decision, Request};
use policy_miner::policy::PolicyDocument;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ACCOUNT: &str = "111122223333";

/// One stored evidence row: (role, action, resource in policy syntax, condition JSON, error).
struct Evidence {
    role: String,
    action: String,
    resource: String,
    condition: String,
    error_code: String,
}

fn evidence(db: &Path) -> Vec<Evidence> {
    db_rows(
        db,
        "SELECT role_arn, action, resource, condition, error_code FROM evidence",
    )
    .iter()
    .map(|r| Evidence {
        role: r.get(0),
        action: r.get(1),
        resource: r.get(2),
        condition: r.get(3),
        error_code: r.get(4),
    })
    .collect()
}

fn context_of(condition: &str) -> Context {
    if condition.is_empty() {
        return Context::new();
    }
    context_from_json(&serde_json::from_str(condition).unwrap())
}

/// A name nobody observed where the ARN's resource part starts: `~` begins no generated name,
/// and a wildcard always keeps at least one observed character at the head.
fn another_name(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let resource = *parts.get(5)?;
    let at = resource
        .find(['/', ':'])
        .map_or(0, |i| i + 1)
        .min(resource.len());
    let changed = format!("{}~{}", &resource[..at], &resource[at..]);
    Some(format!("{}:{changed}", parts[..5].join(":")))
}

fn another_account(arn: &str) -> Option<String> {
    let mut parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[4].is_empty() {
        return None;
    }
    parts[4] = "999999999999";
    Some(parts.join(":"))
}

/// Actions that change or destroy what a role only used: never observed, so never granted.
const OTHER_ACTIONS: &[&str] = &[
    "s3:DeleteObject",
    "s3:PutObjectAcl",
    "s3:PutBucketPolicy",
    "sqs:DeleteQueue",
    "sqs:PurgeQueue",
    "ssm:DeleteParameter",
    "ssm:PutParameter",
    "dynamodb:DeleteTable",
    "dynamodb:DeleteItem",
    "secretsmanager:PutSecretValue",
    "secretsmanager:DeleteSecret",
    "kms:ScheduleKeyDeletion",
    "kms:Encrypt",
    "sns:DeleteTopic",
    "logs:DeleteLogGroup",
    "ecr:PutImage",
    "ecr:DeleteRepository",
];

struct Probe<'a> {
    role: &'a str,
    action: String,
    resource: String,
    context: Context,
    why: String,
}

#[test]
fn verify_is_clean_near_misses_are_denied_and_execution_roles_carry_derived_grants() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_fleet_trail(dir.path(), "generated", 16_000, 5);
    let db_text = db.as_str();

    // verify: every stored successful call of every role is allowed by its proposal.
    let out = run(&["verify", "--db", db_text, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["uncovered_total"], 0, "{report}");

    let proposal = proposal_json(db_text);
    let policies: BTreeMap<&str, PolicyDocument> = proposal["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role_arn"].as_str().unwrap(),
                serde_json::from_value(r["policy"].clone()).unwrap(),
            )
        })
        .collect();
    let rows = evidence(Path::new(&db));
    let succeeded: BTreeSet<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r.error_code.is_empty())
        .map(|r| (r.role.as_str(), r.action.as_str(), r.resource.as_str()))
        .collect();
    let actions_of = |role: &str| -> BTreeSet<&str> {
        succeeded
            .iter()
            .filter(|(r, _, _)| *r == role)
            .map(|(_, a, _)| *a)
            .collect()
    };
    let roles_with_calls: BTreeSet<&str> = succeeded.iter().map(|(r, _, _)| *r).collect();
    // Every role that made a successful call has a proposal; the fleet has a dozen of them.
    for role in &roles_with_calls {
        assert!(policies.contains_key(role), "no proposal for {role}");
    }
    assert!(roles_with_calls.len() >= 12, "{roles_with_calls:?}");

    let mut allow: Vec<Probe> = Vec::new();
    let mut deny: Vec<Probe> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| policies.contains_key(r.role.as_str()))
    {
        let resource = unescape_literal(&r.resource);
        let context = context_of(&r.condition);
        let probe = |action: &str, resource: String, context: Context, why: &str| Probe {
            role: &r.role,
            action: action.to_string(),
            resource,
            context,
            why: format!("{why} (from {} on {})", r.action, r.resource),
        };
        if !r.error_code.is_empty() {
            // A throttled call was authorized and may fall under a wildcard its siblings
            // justify; a call the role was refused must never be granted.
            let refused = r.error_code.contains("AccessDenied");
            if refused
                && !succeeded.contains(&(r.role.as_str(), r.action.as_str(), r.resource.as_str()))
            {
                deny.push(probe(&r.action, resource, context, "a failed call"));
            }
            continue;
        }
        allow.push(probe(
            &r.action,
            resource.clone(),
            context.clone(),
            "observed",
        ));
        if resource == "*" {
            continue;
        }
        if let Some(other) = another_name(&resource) {
            deny.push(probe(&r.action, other, context.clone(), "another name"));
        }
        if let Some(other) = another_account(&resource) {
            deny.push(probe(&r.action, other, context.clone(), "another account"));
        }
        let service = r.action.split(':').next().unwrap();
        let used = actions_of(&r.role);
        for other in OTHER_ACTIONS
            .iter()
            .filter(|a| a.starts_with(&format!("{service}:")) && !used.contains(**a))
        {
            deny.push(probe(
                other,
                resource.clone(),
                context.clone(),
                "another action",
            ));
        }
        if context.contains_key("kms:ViaService") {
            deny.push(probe(
                &r.action,
                resource.clone(),
                Context::new(),
                "KMS called directly",
            ));
            let mut elsewhere = context.clone();
            elsewhere.insert(
                "kms:ViaService".into(),
                vec!["sqs.eu-west-1.amazonaws.com".into()],
            );
            deny.push(probe(
                &r.action,
                resource.clone(),
                elsewhere,
                "KMS through another service",
            ));
            for (key, values) in &context {
                if !key.starts_with("kms:EncryptionContext:") {
                    continue;
                }
                let mut other = context.clone();
                other.insert(
                    key.clone(),
                    values.iter().filter_map(|v| another_name(v)).collect(),
                );
                deny.push(probe(
                    &r.action,
                    resource.clone(),
                    other,
                    "KMS for another resource",
                ));
            }
        }
    }

    // What the task definitions imply for the execution roles, which CloudTrail never shows
    // (PutLogEvents) or shows only at task start.
    for fam in fleet() {
        let (name, path) = fam.execution_role;
        let role = format!("arn:aws:iam::{ACCOUNT}:role{path}{name}");
        let role = policies
            .keys()
            .find(|r| **r == role)
            .unwrap_or_else(|| panic!("no proposal for execution role {role}"));
        let f = fam.name;
        let stream = format!(
            "arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/{f}:log-stream:ecs/{f}/0123456789abcdef0123456789abcdef"
        );
        let derived = [
            ("logs:PutLogEvents", stream.clone()),
            ("logs:CreateLogStream", stream),
            (
                "ssm:GetParameters",
                format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{f}/prod/db-password"),
            ),
            (
                "secretsmanager:GetSecretValue",
                format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{f}/api-key-Ab12Cd"),
            ),
            (
                "ecr:BatchGetImage",
                format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{f}"),
            ),
            ("ecr:GetAuthorizationToken", "*".to_string()),
        ];
        for (action, resource) in derived {
            allow.push(Probe {
                role,
                action: action.to_string(),
                resource,
                context: Context::new(),
                why: format!("derived from the {f} task definition"),
            });
        }
        // Another family's log group is not this execution role's unless it serves that family.
        deny.push(Probe {
            role,
            action: "logs:PutLogEvents".into(),
            resource: format!(
                "arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/~{f}:log-stream:ecs/{f}/x"
            ),
            context: Context::new(),
            why: "a log group no task definition names".into(),
        });
    }
    assert!(
        policies.contains_key(
            format!(
                "arn:aws:iam::{ACCOUNT}:role{}{}",
                EXECUTION_ROLE.1, EXECUTION_ROLE.0
            )
            .as_str()
        ),
        "the shared execution role is proposed"
    );

    // Every wildcard made from S3 keys or SSM parameter names stands on evidence: at least the
    // default threshold (3) of distinct names observed under its prefix, which keeps the bucket.
    let mut wildcards = 0;
    for (role, doc) in &policies {
        let resources = doc
            .statement
            .iter()
            .filter(|s| s.effect == policy_miner::policy::document::Effect::Allow)
            .flat_map(|s| s.resource.iter().flatten());
        for res in resources {
            let path_like = res.starts_with("arn:aws:s3:::") || res.contains(":parameter/");
            let Some(prefix) = res.strip_suffix('*').filter(|_| path_like) else {
                continue;
            };
            if let Some(key) = prefix.strip_prefix("arn:aws:s3:::") {
                assert!(key.contains('/'), "{res} reaches across a bucket");
            }
            let under: BTreeSet<&str> = succeeded
                .iter()
                .filter(|(r, _, name)| r == role && name.starts_with(prefix) && !name.contains('*'))
                .map(|(_, _, name)| *name)
                .collect();
            assert!(
                under.len() >= 3,
                "{role}: {res} stands on {} observed name(s): {under:?}",
                under.len()
            );
            wildcards += 1;
        }
    }
    assert!(wildcards > 0, "the fleet's proposals generalize some names");

    let decide = |p: &Probe| {
        evaluate(
            std::slice::from_ref(&policies[p.role]),
            &Request {
                action: &p.action,
                resource: &p.resource,
                context: &p.context,
            },
        )
    };
    let mut failures = Vec::new();
    for p in &allow {
        if decide(p) != Decision::Allow {
            failures.push(format!(
                "NOT ALLOWED {} {} {} {:?}: {}",
                p.role, p.action, p.resource, p.context, p.why
            ));
        }
    }
    for p in &deny {
        if decide(p) == Decision::Allow {
            failures.push(format!(
                "NOT DENIED {} {} {} {:?}: {}",
                p.role, p.action, p.resource, p.context, p.why
            ));
        }
    }
    let kinds: BTreeSet<&str> = deny
        .iter()
        .map(|p| p.why.split(" (").next().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} probes failed:\n{}",
        failures.len(),
        allow.len() + deny.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    // The probes exercised every kind of near miss, not a handful.
    for kind in [
        "a failed call",
        "another name",
        "another account",
        "another action",
        "KMS called directly",
        "KMS through another service",
        "KMS for another resource",
        "a log group no task definition names",
    ] {
        assert!(kinds.contains(kind), "no probe of kind {kind:?}: {kinds:?}");
    }
    assert!(deny.len() > 1000, "only {} near misses", deny.len());
}
