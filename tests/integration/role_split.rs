//! Issue 19: a role used as both task and execution role is proposed as two roles. On the
//! generated fleet (`legacy-sync` is both its family's task role and its execution role; the
//! generator writes the agent's calls with `invokedBy` `ecs-tasks.amazonaws.com` and the
//! application's with an SDK user agent): the two parts together allow every call the one role
//! made, each part allows strictly less than the union, and a call of the other side (the
//! application pulling an image, the agent receiving a queue message) is denied. On request, an
//! execution role several families share (the fleet's and the bundled example's
//! `ecsTaskExecutionRole`) is split into one per family the same way.

use crate::common::*;
use policy_miner::policy::escape::unescape_literal;
use policy_miner::policy::eval::{evaluate, Context, Decision, Request};
use policy_miner::policy::PolicyDocument;
use serde_json::Value;
use sqlx::Row;

const LEGACY: &str = "arn:aws:iam::111122223333:role/legacy-sync";

struct Call {
    action: String,
    resource: String,
    context: Context,
    /// The stored caller bit set: 1 the agent, 2 the application, 4 unknown.
    callers: i64,
}

fn allows(policy: &PolicyDocument, c: &Call) -> bool {
    evaluate(
        std::slice::from_ref(policy),
        &Request {
            action: &c.action,
            resource: &c.resource,
            context: &c.context,
        },
    ) == Decision::Allow
}

fn policy(v: &Value) -> PolicyDocument {
    serde_json::from_value(v["policy"].clone()).unwrap()
}

#[test]
fn a_role_of_both_kinds_is_split_into_an_execution_and_a_task_role_that_cover_its_calls() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_fleet_trail(dir.path(), "split", 12_000, 19);
    let db_text = db.as_str();

    let calls = calls_of(db_text, LEGACY);
    // The store tells the agent's image pulls (1) from the application's calls (2).
    let agent = |c: &&Call| c.callers == 1;
    let app = |c: &&Call| c.callers == 2;
    assert!(
        calls
            .iter()
            .filter(agent)
            .any(|c| c.action == "ecr:BatchGetImage"),
        "the agent's image pulls are recorded as the agent's"
    );
    assert!(
        calls.iter().any(|c| app(&c)),
        "the application's calls are recorded as its"
    );

    let proposal = proposal_json(db_text);
    let legacy = role(&proposal, LEGACY);
    let union = policy(legacy);
    let parts = legacy["split"]["parts"]
        .as_array()
        .expect("legacy-sync is split");
    let part = |kind: &str| {
        parts
            .iter()
            .find(|p| p["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} part: {}", legacy["split"]))
    };
    let (exec, task) = (part("execution"), part("task"));
    assert_eq!(exec["role_name"], "legacy-sync-execution");
    assert_eq!(task["role_name"], "legacy-sync-task");
    let (exec_policy, task_policy) = (policy(&exec["proposal"]), policy(&task["proposal"]));

    // Nothing observed is lost: every call is allowed by one part at least (as by the union).
    for c in &calls {
        assert!(allows(&union, c), "{} on {}", c.action, c.resource);
        assert!(
            allows(&exec_policy, c) || allows(&task_policy, c),
            "neither part allows {} on {}",
            c.action,
            c.resource
        );
    }
    // Each part is strictly smaller: some observed call of the other side is denied to it.
    let exec_denies: Vec<&Call> = calls.iter().filter(|c| !allows(&exec_policy, c)).collect();
    let task_denies: Vec<&Call> = calls.iter().filter(|c| !allows(&task_policy, c)).collect();
    assert!(!exec_denies.is_empty() && !task_denies.is_empty());
    // Near misses of the other side: the application may not pull an image, the agent may not
    // take the application's queue messages (or any other application call).
    for c in calls.iter().filter(agent) {
        assert!(
            !allows(&task_policy, c),
            "the task role may {} on {}",
            c.action,
            c.resource
        );
    }
    assert!(calls
        .iter()
        .filter(agent)
        .any(|c| c.action.starts_with("ecr:")));
    let app_only: Vec<&Call> = calls
        .iter()
        .filter(app)
        .filter(|c| !c.action.starts_with("logs:"))
        .collect();
    assert!(!app_only.is_empty());
    for c in app_only {
        assert!(
            !allows(&exec_policy, c),
            "the execution role may {} on {}",
            c.action,
            c.resource
        );
    }
    assert!(
        calls
            .iter()
            .filter(app)
            .any(|c| c.action == "sqs:ReceiveMessage"),
        "the application's queue reads are among the calls the execution role is denied"
    );
    // Deployable: ECS tasks of the account may assume each new role, and the task definition
    // is told to use them (both of its fields, each to its part).
    for p in [exec, task] {
        let st = &p["trust_policy"]["Statement"][0];
        assert_eq!(st["Principal"]["Service"], "ecs-tasks.amazonaws.com");
        assert_eq!(st["Action"], "sts:AssumeRole");
        assert_eq!(
            st["Condition"]["StringEquals"]["aws:SourceAccount"],
            "111122223333"
        );
    }
    let changes = legacy["split"]["task_definition_changes"]
        .as_array()
        .unwrap();
    let change = |field: &str| {
        changes
            .iter()
            .find(|c| c["family"] == "legacy-sync" && c["field"] == field)
            .unwrap_or_else(|| panic!("no {field} change: {changes:?}"))
    };
    assert_eq!(change("taskRoleArn")["to"], task["role_arn"]);
    assert_eq!(change("executionRoleArn")["to"], exec["role_arn"]);
    assert_eq!(change("taskRoleArn")["from"], LEGACY);
    let text = run(&["propose", "--db", db_text]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.contains("Proposed split (task-and-execution)"),
        "{text}"
    );
    assert!(text.contains("legacy-sync:7: taskRoleArn"), "{text}");

    deployable_in_every_format(db_text, dir.path(), &[exec, task]);

    // The part keeps what the task definition gives the agent, even unobserved.
    assert!(exec["proposal"]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["action"] == "ecr:BatchGetImage"));
}

/// Every successful call of `role`, as a request to evaluate.
fn calls_of(db: &str, role: &str) -> Vec<Call> {
    db_rows(
        db.as_ref(),
        &format!(
            "SELECT action, resource, condition, callers FROM evidence
             WHERE role_arn = '{role}' AND error_code = ''"
        ),
    )
    .iter()
    .map(|r| {
        let condition: String = r.get(2);
        Call {
            action: r.get(0),
            resource: unescape_literal(&r.get::<String, _>(1)),
            context: if condition.is_empty() {
                Context::new()
            } else {
                context_from_json(&serde_json::from_str(&condition).unwrap())
            },
            callers: r.get(3),
        }
    })
    .collect()
}

/// `propose --split-shared` splits the shared execution role `role` into one role per family:
/// together they allow every call it made; each allows strictly less than it; one family's
/// role may not pull another family's image nor read its secrets in the task definitions'
/// `region`; a call elsewhere, which no task definition gives any family, is granted to every
/// family's role, and each says so.
fn assert_split_per_family(db: &str, role_arn: &str, region: &str, min_families: usize) {
    let out = run(&["propose", "--db", db, "--format", "json", "--split-shared"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let proposal: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let shared = role(&proposal, role_arn);
    assert_eq!(
        shared["split"]["kind"], "shared-execution",
        "{}",
        shared["split"]
    );
    let parts = shared["split"]["parts"].as_array().unwrap();
    assert!(parts.len() >= min_families, "{} parts", parts.len());
    let calls = calls_of(db, role_arn);
    let union = policy(shared);
    let notes: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            p["proposal"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["kind"] == "split-call-in-all")
                .map(|f| f["message"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let policies: Vec<(String, PolicyDocument)> = parts
        .iter()
        .map(|p| {
            assert_eq!(p["kind"], "execution");
            let family = p["families"][0].as_str().unwrap().to_string();
            assert_eq!(p["role_name"], format!("{family}-execution"));
            (family, policy(&p["proposal"]))
        })
        .collect();
    for c in &calls {
        assert!(allows(&union, c));
        assert!(
            policies.iter().any(|(_, p)| allows(p, c)),
            "no family's role allows {} on {}",
            c.action,
            c.resource
        );
    }
    for (family, p) in &policies {
        assert!(
            calls.iter().any(|c| !allows(p, c)),
            "{family}'s role allows every call of the shared role"
        );
        // Another family's image and secrets, as observed, are denied to this family's role.
        for c in &calls {
            let names_other = policies
                .iter()
                .map(|(f, _)| f)
                .filter(|f| *f != family)
                .any(|f| {
                    c.resource.ends_with(&format!("repository/{f}"))
                        || c.resource.contains(&format!(":secret:{f}/"))
                        || c.resource.contains(&format!(":parameter/{f}/"))
                });
            if names_other && !c.resource.contains(&format!(":{region}:")) {
                let named = format!("{} on {}", c.action, c.resource);
                assert!(
                    notes
                        .iter()
                        .all(|n| n.iter().any(|m| m.starts_with(&named))),
                    "{named} is in every role without a finding that says so"
                );
            } else if names_other {
                assert!(
                    !allows(p, c),
                    "{family}'s role may {} on {}",
                    c.action,
                    c.resource
                );
            }
        }
    }
    let changes = shared["split"]["task_definition_changes"]
        .as_array()
        .unwrap();
    assert_eq!(changes.len(), parts.len(), "{changes:?}");
    assert!(changes
        .iter()
        .all(|c| c["field"] == "executionRoleArn" && c["from"] == role_arn));
    // Without the flag the shared role is proposed as one.
    assert!(role(&proposal_json(db), role_arn).get("split").is_none());
}

#[test]
fn the_bundled_example_s_shared_execution_role_splits_per_family_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let db = dir.path().join("example.db");
    let db = db.to_str().unwrap();
    let out = run(&[
        "observe",
        "--quiet",
        "--db",
        db,
        "--task-definitions",
        examples.join("taskdefs").to_str().unwrap(),
        examples.join("AWSLogs").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_split_per_family(
        db,
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "us-east-1",
        3,
    );
}

#[test]
fn the_generated_fleet_s_shared_execution_role_splits_per_family_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = observed_fleet_trail(dir.path(), "fleet", 12_000, 23);
    let db = db.as_str();
    assert_split_per_family(
        db,
        "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
        "eu-west-1",
        8,
    );
}

fn hcl_string(expr: &hcl::Expression) -> String {
    use hcl::eval::Evaluate;
    match expr.evaluate(&hcl::eval::Context::new()) {
        Ok(hcl::Value::String(s)) => s,
        other => panic!("not a string: {expr:?} → {other:?}"),
    }
}

fn attr<'a>(body: &'a hcl::Body, key: &str) -> Option<&'a hcl::Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// Each new role, as Terraform, CloudFormation, markdown and `--out` files give it: its name,
/// its trust policy and its policy exactly as the JSON proposal has them.
fn deployable_in_every_format(db: &str, dir: &std::path::Path, parts: &[&Value]) {
    let text = |format: &str| {
        let out = run(&["propose", "--db", db, "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Terraform: aws_iam_role (name, assume_role_policy) + aws_iam_role_policy on it.
    let tf = text("terraform");
    let body: hcl::Body = hcl::parse(&tf).unwrap_or_else(|e| panic!("{e}\n{tf}"));
    for part in parts {
        let name = part["role_name"].as_str().unwrap();
        let role = body
            .blocks()
            .find(|b| {
                b.identifier() == "resource"
                    && b.labels()[0].as_str() == "aws_iam_role"
                    && attr(b.body(), "name").map(hcl_string).as_deref() == Some(name)
            })
            .unwrap_or_else(|| panic!("no aws_iam_role {name}\n{tf}"));
        let id = role.labels()[1].as_str();
        let trust: Value = serde_json::from_str(&hcl_string(
            attr(role.body(), "assume_role_policy").unwrap(),
        ))
        .unwrap();
        assert_eq!(trust, part["trust_policy"]);
        let policy = body
            .blocks()
            .find(|b| {
                b.labels()[0].as_str() == "aws_iam_role_policy"
                    && attr(b.body(), "role").unwrap().to_string()
                        == format!("aws_iam_role.{id}.name")
            })
            .unwrap_or_else(|| panic!("no policy on {id}\n{tf}"));
        let doc: PolicyDocument =
            serde_json::from_str(&hcl_string(attr(policy.body(), "policy").unwrap())).unwrap();
        assert_eq!(doc, policy_of(part));
    }
    // CloudFormation: AWS::IAM::Role with the trust policy and the policy inline.
    let cfn = text("cloudformation");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&cfn).unwrap_or_else(|e| panic!("{e}\n{cfn}"));
    for part in parts {
        let name = part["role_name"].as_str().unwrap();
        let (_, res) = template["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .find(|(_, r)| r["Type"] == "AWS::IAM::Role" && r["Properties"]["RoleName"] == name)
            .unwrap_or_else(|| panic!("no AWS::IAM::Role {name}\n{cfn}"));
        let props = &res["Properties"];
        let trust: Value =
            serde_yaml::from_value(props["AssumeRolePolicyDocument"].clone()).unwrap();
        assert_eq!(trust, part["trust_policy"]);
        let doc: PolicyDocument =
            serde_yaml::from_value(props["Policies"][0]["PolicyDocument"].clone()).unwrap();
        assert_eq!(doc, policy_of(part));
    }
    let md = text("markdown");
    assert!(md.contains("Proposed split"), "{md}");
    // --out: `<new-role>.json` and `<new-role>.trust.json`.
    let out_dir = dir.join("policies");
    let out = run(&["propose", "--db", db, "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for part in parts {
        let name = part["role_name"].as_str().unwrap();
        let read = |file: String| -> Value {
            serde_json::from_str(&std::fs::read_to_string(out_dir.join(&file)).unwrap()).unwrap()
        };
        let doc: PolicyDocument = serde_json::from_value(read(format!("{name}.json"))).unwrap();
        assert_eq!(doc, policy_of(part));
        assert_eq!(read(format!("{name}.trust.json")), part["trust_policy"]);
    }
}

fn policy_of(part: &Value) -> PolicyDocument {
    policy(&part["proposal"])
}
