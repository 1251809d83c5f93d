//! Splitting a role that does two jobs into roles that do one each.
//!
//! A role named as both `taskRoleArn` and `executionRoleArn` serves two callers: the ECS (or
//! Fargate) agent, which pulls images, creates log streams and reads container secrets while it
//! starts a task, and the application in the task's containers. AWS's guidance is two roles
//! ("Amazon ECS task execution IAM role" and "Amazon ECS task IAM role" in the ECS developer
//! guide: the execution role is for the agent, the task role for the containers). Each observed
//! call goes to the side that made it, as the trail tells (`call::caller`); where it does not
//! tell, to the side the task definitions' derivation rules give it (`derive`), else to both,
//! with a finding naming the call. On request, an execution role several families share is
//! split per family the same way, each call to the families whose task definitions' rules give
//! it. Every part is replayed against its calls, so the parts together cover every call the one
//! role made.

use super::{derive, propose_role, statements, verify, ByAction, Finding, Options, RoleProposal};
use crate::attribution::{taskdef::TaskDefinition, RoleDirectory, RoleKind};
use crate::call::Caller;
use crate::policy::eval::{Context, Decision, PreparedPolicies, Request};
use crate::policy::PolicyDocument;
use crate::role::RoleKey;
use crate::store::{EvidenceRow, UngrantedRow, UNKNOWN_RESOURCE};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The roles proposed in place of one.
#[derive(Debug, Clone, Serialize)]
pub struct RoleSplit {
    /// `task-and-execution` (one role of both kinds) or `shared-execution` (an execution role
    /// of several families, split per family with `propose --split-shared`).
    pub kind: &'static str,
    pub parts: Vec<SplitPart>,
    /// What to change in each task definition so that its tasks use the new roles.
    pub task_definition_changes: Vec<TaskDefinitionChange>,
}

/// One field of one task definition to point at a new role.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDefinitionChange {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// `taskRoleArn` or `executionRoleArn`.
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

/// One of the new roles.
#[derive(Debug, Clone, Serialize)]
pub struct SplitPart {
    /// The job it does: `execution` (the agent) or `task` (the application).
    pub kind: RoleKind,
    pub role_name: String,
    pub role_arn: String,
    pub families: Vec<String>,
    /// Who may assume the new role: ECS tasks of this account (see [`trust_policy`]).
    pub trust_policy: serde_json::Value,
    /// The proposal for the new role, built from its share of the evidence alone.
    pub proposal: RoleProposal,
    /// That share: the evidence rows (of the split role) the part's policy is replayed against.
    #[serde(skip)]
    pub rows: Vec<EvidenceRow>,
}

/// Which part an observed call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Execution,
    Task,
    Both,
}

/// How splits are made: whether a shared execution role is split per family, and the names
/// the new roles get instead of the derived ones.
#[derive(Debug, Clone, Default)]
pub struct SplitOptions {
    /// Split an execution role shared by several families into one per family.
    pub shared: bool,
    /// A derived role name → the name to use instead.
    pub names: BTreeMap<String, String>,
}

/// One part while it is made: its job, families, the task definitions it sees, its calls.
struct Share<'e> {
    kind: RoleKind,
    families: Vec<String>,
    definitions: Vec<TaskDefinition>,
    rows: Vec<&'e EvidenceRow>,
    ungranted: Vec<&'e UngrantedRow>,
    findings: Vec<Finding>,
}

/// The split proposed for `role`, if any: a role of both kinds into an execution part and a
/// task part; with `opts.split.shared`, an execution role of several families into one per
/// family.
pub(super) fn split(
    role: &str,
    evidence: &[&EvidenceRow],
    ungranted: &[&UngrantedRow],
    definitions: &[TaskDefinition],
    opts: &Options,
) -> Option<RoleSplit> {
    let key = RoleKey::parse(role)?;
    if !role.starts_with("arn:") {
        return None;
    }
    let named = |r: &Option<String>| {
        r.as_deref()
            .and_then(RoleKey::parse)
            .is_some_and(|k| k.matches(&key))
    };
    let task_families: BTreeSet<&str> = definitions
        .iter()
        .filter(|d| named(&d.task_role))
        .map(|d| d.family.as_str())
        .collect();
    let exec_families: BTreeSet<&str> = definitions
        .iter()
        .filter(|d| named(&d.execution_role))
        .map(|d| d.family.as_str())
        .collect();
    let (kind, shares) = if !task_families.is_empty() && !exec_families.is_empty() {
        let shares = task_and_execution(evidence, ungranted, definitions, &named, role);
        ("task-and-execution", shares)
    } else if opts.split.shared && exec_families.len() > 1 {
        let shares = per_family(
            evidence,
            ungranted,
            definitions,
            &named,
            role,
            &exec_families,
        );
        ("shared-execution", shares)
    } else {
        return None;
    };
    let taken: BTreeSet<String> = definitions
        .iter()
        .flat_map(|d| [&d.task_role, &d.execution_role])
        .filter_map(|r| r.as_deref().and_then(RoleKey::parse))
        .map(|k| k.name)
        .collect();
    let mut parts = Vec::new();
    for share in shares {
        let mut proposal = propose_role(
            role,
            &share.rows,
            &share.ungranted,
            &RoleDirectory::from_definitions(share.definitions.iter()),
            &share.definitions,
            opts,
        );
        let derived_name = new_name(&key.name, &share.families, share.kind, &taken);
        let role_name = opts
            .split
            .names
            .get(&derived_name)
            .cloned()
            .unwrap_or(derived_name);
        let role_arn = sibling_arn(role, &role_name);
        proposal.role_arn = role_arn.clone();
        proposal.findings.extend(share.findings);
        let trust_policy = trust_policy(role, share.kind, &share.definitions, &share.families);
        parts.push(SplitPart {
            kind: share.kind,
            role_name,
            role_arn,
            families: share.families,
            trust_policy,
            proposal,
            rows: share.rows.into_iter().cloned().collect(),
        });
    }
    let mut task_definition_changes = Vec::new();
    for d in definitions {
        for (field, slot, kind) in [
            ("taskRoleArn", &d.task_role, RoleKind::Task),
            ("executionRoleArn", &d.execution_role, RoleKind::Execution),
        ] {
            let part = parts
                .iter()
                .find(|p| p.kind == kind && p.families.contains(&d.family));
            if let (Some(part), true) = (part, named(slot)) {
                task_definition_changes.push(TaskDefinitionChange {
                    family: d.family.clone(),
                    revision: d.revision,
                    field,
                    from: slot.clone().unwrap_or_default(),
                    to: part.role_arn.clone(),
                });
            }
        }
    }
    Some(RoleSplit {
        kind,
        parts,
        task_definition_changes,
    })
}

/// A role of both kinds: the execution share (what the agent did, and what the rules give it)
/// and the task share (what the application did).
fn task_and_execution<'e>(
    evidence: &[&'e EvidenceRow],
    ungranted: &[&'e UngrantedRow],
    definitions: &[TaskDefinition],
    named: &dyn Fn(&Option<String>) -> bool,
    role: &str,
) -> Vec<Share<'e>> {
    // The task definitions each part sees: the other kind's use of the role taken out.
    let without = |kind: RoleKind| -> Vec<TaskDefinition> {
        definitions
            .iter()
            .cloned()
            .map(|mut d| {
                let slot = match kind {
                    RoleKind::Task => &mut d.task_role,
                    RoleKind::Execution => &mut d.execution_role,
                };
                if named(slot) {
                    *slot = None;
                }
                d
            })
            .collect()
    };
    let exec_defs = without(RoleKind::Task);
    let task_defs = without(RoleKind::Execution);
    let derived_doc = derived_policy(role, &exec_defs);
    let derived = PreparedPolicies::new(std::slice::from_ref(&derived_doc));
    let families = |defs: &[TaskDefinition], kind: RoleKind| -> Vec<String> {
        defs.iter()
            .filter(|d| match kind {
                RoleKind::Task => named(&d.task_role),
                RoleKind::Execution => named(&d.execution_role),
            })
            .map(|d| d.family.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut exec = Share {
        kind: RoleKind::Execution,
        families: families(&exec_defs, RoleKind::Execution),
        definitions: exec_defs,
        rows: Vec::new(),
        ungranted: Vec::new(),
        findings: Vec::new(),
    };
    let mut task = Share {
        kind: RoleKind::Task,
        families: families(&task_defs, RoleKind::Task),
        definitions: task_defs,
        rows: Vec::new(),
        // Calls that need no permission change nothing in either policy: listed with the task.
        ungranted: ungranted.to_vec(),
        findings: Vec::new(),
    };
    for r in evidence {
        let side = side_of(r, &derived);
        if side != Side::Task {
            exec.rows.push(*r);
        }
        if side != Side::Execution {
            task.rows.push(*r);
        }
        if side == Side::Both && r.error_code.is_empty() {
            exec.findings.push(unclear_finding(r));
            task.findings.push(unclear_finding(r));
        }
    }
    vec![exec, task]
}

/// An execution role of several families: one share per family, each with the calls that
/// family's task definitions give its agent (its images, log groups, secrets and their keys);
/// a call no family's rules claim goes to every family, with a finding naming it. (The evidence
/// keeps no session, so a task id cannot tell the family.)
fn per_family<'e>(
    evidence: &[&'e EvidenceRow],
    ungranted: &[&'e UngrantedRow],
    definitions: &[TaskDefinition],
    named: &dyn Fn(&Option<String>) -> bool,
    role: &str,
    families: &BTreeSet<&str>,
) -> Vec<Share<'e>> {
    let (mut shares, derived): (Vec<Share<'e>>, Vec<PolicyDocument>) = families
        .iter()
        .map(|f| {
            let defs: Vec<TaskDefinition> = definitions
                .iter()
                .filter(|d| d.family == *f && named(&d.execution_role))
                .cloned()
                .collect();
            let derived = derived_policy(role, &defs);
            let share = Share {
                kind: RoleKind::Execution,
                families: vec![f.to_string()],
                definitions: defs,
                rows: Vec::new(),
                ungranted: ungranted.to_vec(),
                findings: Vec::new(),
            };
            (share, derived)
        })
        .unzip();
    let derived: Vec<PreparedPolicies> = derived
        .iter()
        .map(|d| PreparedPolicies::new(std::slice::from_ref(d)))
        .collect();
    for r in evidence {
        let claimed: Vec<usize> = derived
            .iter()
            .enumerate()
            .filter(|(_, d)| needed_by_agent(r, d))
            .map(|(i, _)| i)
            .collect();
        if claimed.is_empty() {
            for share in &mut shares {
                share.rows.push(*r);
                if r.error_code.is_empty() {
                    share.findings.push(Finding {
                        kind: "split-call-in-all",
                        severity: "info",
                        message: format!(
                            "{} on {}: granted to every family's new role: no task definition's \
                             rules say whose agent needs it",
                            r.action, r.resource
                        ),
                        ..Default::default()
                    });
                }
            }
        }
        for i in claimed {
            shares[i].rows.push(*r);
        }
    }
    shares
}

/// The side a call goes to: by its callers where the trail tells them, else by the rules.
fn side_of(row: &EvidenceRow, derived: &PreparedPolicies) -> Side {
    let c = row.callers;
    let (agent, app) = (c.contains(Caller::Agent), c.contains(Caller::App));
    let agent_needs = || needed_by_agent(row, derived);
    match (agent, app) {
        (true, true) => Side::Both,
        (true, false) => Side::Execution,
        // The application made it, and the task definitions give it to the agent too (a
        // container secret the code also reads): both keep it.
        (false, true) if agent_needs() => Side::Both,
        (false, true) => Side::Task,
        (false, false) if agent_needs() => Side::Execution,
        (false, false) => Side::Both,
    }
}

/// Why a call went to both parts (see [`side_of`]).
fn unclear_finding(row: &EvidenceRow) -> Finding {
    let c = row.callers;
    let why = if c.contains(Caller::Agent) && c.contains(Caller::App) {
        "both the agent and the application made it"
    } else if c.contains(Caller::App) {
        "the application made it, and the task definitions give it to the agent too"
    } else {
        "the trail does not say who made it (no user agent, or a service acting for the role)"
    };
    Finding {
        kind: "split-call-in-both",
        severity: "info",
        message: format!(
            "{} on {}: granted to both new roles: {why}",
            row.action, row.resource
        ),
        ..Default::default()
    }
}

/// True when the task definitions' derivation rules give the call to the execution role.
fn needed_by_agent(row: &EvidenceRow, derived: &PreparedPolicies) -> bool {
    if row.resource == UNKNOWN_RESOURCE {
        return false;
    }
    let allows = |action: &str, resource: &str, context: &Context| {
        derived.evaluate(&Request {
            action,
            resource,
            context,
        }) == Decision::Allow
    };
    let (resource, context) = verify::request_context(row);
    if allows(&row.action, &resource, &context) {
        return true;
    }
    // KMS decrypting, through SSM or Secrets Manager, a secret the rules give the agent: the
    // encryption context names the parameter or secret (`PARAMETER_ARN`, `SecretARN`).
    let none = Context::new();
    row.action == "kms:Decrypt"
        && context
            .iter()
            .filter(|(k, _)| k.ends_with(":PARAMETER_ARN") || k.ends_with(":SecretARN"))
            .flat_map(|(_, values)| values)
            .any(|secret| {
                ["ssm:GetParameters", "secretsmanager:GetSecretValue"]
                    .iter()
                    .any(|action| allows(action, secret, &none))
            })
}

/// What the task definitions alone give the execution role, as a policy to replay calls on.
fn derived_policy(role: &str, definitions: &[TaskDefinition]) -> PolicyDocument {
    let catalog = crate::catalog::active();
    let (derived, _) = derive::execution_role_needs(role, definitions, catalog);
    let mut by_action = ByAction::new();
    for d in &derived {
        by_action
            .entry((d.action.clone(), None))
            .or_default()
            .insert(d.resource.clone());
    }
    statements::build_policy(&by_action, catalog)
}

/// `<family>-<kind>` for a role of one family, `<role>-<kind>` for several; `-split` added while
/// the name is one a task definition uses already.
fn new_name(
    role_name: &str,
    families: &[String],
    kind: RoleKind,
    taken: &BTreeSet<String>,
) -> String {
    let base = match families {
        [one] => one.as_str(),
        _ => role_name,
    };
    // Family names come from input: only what IAM allows in a role name is kept.
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("{base}-{}", kind.as_str());
    while taken.contains(&name) {
        name.push_str("-split");
    }
    // IAM role names are at most 64 characters.
    name.chars().take(64).collect()
}

/// The ARN of a new role `name` in the account (and partition) of `role`, at the root path.
fn sibling_arn(role: &str, name: &str) -> String {
    match role.split_once(":role/") {
        Some((prefix, _)) => format!("{prefix}:role/{name}"),
        None => name.to_string(),
    }
}

/// The trust policy of a new role: `ecs-tasks.amazonaws.com` may assume it for tasks of the
/// role's own account (`aws:SourceAccount`), and for a task role, of ECS in the region its task
/// definitions are registered in (`aws:SourceArn` `arn:…:ecs:<region>:<account>:*`, as the ECS
/// developer guide's "Task IAM role" trust policy shows) where their ARNs say which region. The
/// execution role gets the account condition only: no AWS page found says that ECS sets a
/// source ARN when the agent assumes it.
fn trust_policy(
    role: &str,
    kind: RoleKind,
    defs: &[TaskDefinition],
    families: &[String],
) -> serde_json::Value {
    let fields: Vec<&str> = role.split(':').collect();
    let partition = fields.get(1).copied().unwrap_or("aws");
    let account = fields.get(4).copied().unwrap_or_default();
    let mut condition = serde_json::json!({ "StringEquals": { "aws:SourceAccount": account } });
    let regions: BTreeSet<&str> = defs
        .iter()
        .filter(|d| families.contains(&d.family))
        .filter_map(|d| d.arn.as_deref())
        .filter_map(|arn| arn.split(':').nth(3))
        .filter(|r| !r.is_empty())
        .collect();
    if kind == RoleKind::Task && !regions.is_empty() {
        let arns: Vec<String> = regions
            .iter()
            .map(|r| format!("arn:{partition}:ecs:{r}:{account}:*"))
            .collect();
        condition["ArnLike"] = serde_json::json!({ "aws:SourceArn": arns });
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": crate::call::caller::ECS_TASKS },
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Callers;

    const ROLE: &str = "arn:aws:iam::111122223333:role/legacy-sync";
    const REPO: &str = "arn:aws:ecr:eu-west-1:111122223333:repository/legacy-sync";
    const QUEUE: &str = "arn:aws:sqs:eu-west-1:111122223333:jobs";

    fn derived() -> PolicyDocument {
        serde_json::from_value(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": REPO}]
        }))
        .unwrap()
    }

    fn row(action: &str, resource: &str, callers: &[Caller]) -> EvidenceRow {
        let mut r = EvidenceRow::call(ROLE, action, resource, "2026-11-02T10:00:00Z");
        for c in callers {
            r.callers.merge(Callers::of(*c));
        }
        r
    }

    #[test]
    fn a_call_goes_to_its_caller_and_else_to_the_rules_or_both() {
        let doc = derived();
        let d = PreparedPolicies::new(std::slice::from_ref(&doc));
        let side =
            |action, resource, callers: &[Caller]| side_of(&row(action, resource, callers), &d);
        assert_eq!(
            side("ecr:BatchGetImage", REPO, &[Caller::Agent]),
            Side::Execution
        );
        assert_eq!(
            side("sqs:ReceiveMessage", QUEUE, &[Caller::App]),
            Side::Task
        );
        // The agent made it, whatever the rules say.
        assert_eq!(
            side("sqs:ReceiveMessage", QUEUE, &[Caller::Agent]),
            Side::Execution
        );
        // Nothing placed it: the rules give the image pull to the agent; the queue to both.
        assert_eq!(
            side("ecr:BatchGetImage", REPO, &[Caller::Unknown]),
            Side::Execution
        );
        assert_eq!(side("ecr:BatchGetImage", REPO, &[]), Side::Execution);
        assert_eq!(
            side("sqs:ReceiveMessage", QUEUE, &[Caller::Unknown]),
            Side::Both
        );
        // Both made it, or the application made what the rules give the agent.
        assert_eq!(
            side("sqs:ReceiveMessage", QUEUE, &[Caller::Agent, Caller::App]),
            Side::Both
        );
        assert_eq!(side("ecr:BatchGetImage", REPO, &[Caller::App]), Side::Both);
    }

    #[test]
    fn new_names_keep_to_iam_and_avoid_names_in_use() {
        let taken = BTreeSet::from(["orders-task".to_string()]);
        let one = |f: &str| vec![f.to_string()];
        assert_eq!(
            new_name("r", &one("orders"), RoleKind::Execution, &taken),
            "orders-execution"
        );
        assert_eq!(
            new_name("r", &one("orders"), RoleKind::Task, &taken),
            "orders-task-split"
        );
        assert_eq!(
            new_name("r", &one("a b/c"), RoleKind::Task, &taken),
            "a-b-c-task"
        );
        let two = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            new_name("shared", &two, RoleKind::Task, &taken),
            "shared-task"
        );
        assert_eq!(
            new_name("r", &one(&"x".repeat(80)), RoleKind::Task, &taken).len(),
            64
        );
        assert_eq!(
            sibling_arn("arn:aws-cn:iam::1:role/path/r", "n"),
            "arn:aws-cn:iam::1:role/n"
        );
    }
}
