//! Evidence → one least-privilege policy per role.
//!
//! Per role: successful calls become grants (failed ones are reported, never granted); names are
//! generalized only where the evidence supports it; resources covered by another are dropped;
//! grants with the same resources and condition share a statement. Before a proposal leaves this
//! module, every observed successful call is replayed against it with the IAM evaluator.

mod families;
pub mod generalize;

use crate::attribution::{taskdef::TaskDefinition, RoleDirectory, RoleKind};
use crate::mapping::ANY_RESOURCE;
use crate::policy::escape::unescape_literal;
use crate::policy::eval::{evaluate, Context, Decision, Request};
use crate::policy::{PolicyDocument, Statement};
use crate::store::{EvidenceRow, UngrantedRow};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct names in one directory needed before they become a prefix wildcard (0: never).
    pub wildcard_threshold: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wildcard_threshold: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub roles: Vec<RoleProposal>,
    /// Roles named by task definitions that made no call in the evidence.
    pub roles_without_evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleProposal {
    pub role_arn: String,
    pub usage: Vec<RoleKind>,
    pub families: Vec<String>,
    pub policy: PolicyDocument,
    pub denied_calls: Vec<DeniedCall>,
    pub findings: Vec<Finding>,
    pub grants: Vec<GrantEvidence>,
    pub ungranted_calls: Vec<UngrantedCall>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub severity: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeniedCall {
    pub action: String,
    pub resource: String,
    pub error_code: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    /// True when the same action on the same resource also succeeded, so it is granted anyway.
    pub granted_by_successful_calls: bool,
}

/// One (action, resource) of the policy with the evidence behind it.
#[derive(Debug, Clone, Serialize)]
pub struct GrantEvidence {
    pub action: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<BTreeMap<String, BTreeSet<String>>>,
    /// The observed resources a wildcard stands for (empty when the resource was observed as is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generalized_from: Vec<String>,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    pub families: Vec<String>,
    /// How `families` was decided: `only family`, `task definition`, or `shared role`.
    pub family_attribution: &'static str,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UngrantedCall {
    pub event_source: String,
    pub event_name: String,
    pub error_code: String,
    pub kind: String,
    pub reason: String,
    pub count: i64,
    pub example_event_id: String,
}

/// A grant's key while it is built: action, resource, and the services a KMS grant is limited to
/// (`None`: unconditional).
type Conditions = Option<BTreeSet<String>>;

const VIA_SERVICE: &str = "kms:ViaService";

pub fn propose(
    evidence: &[EvidenceRow],
    ungranted: &[UngrantedRow],
    definitions: &[TaskDefinition],
    opts: &Options,
) -> Result<Proposal, String> {
    let directory = RoleDirectory::from_definitions(definitions);
    let mut roles: BTreeMap<&str, (Vec<&EvidenceRow>, Vec<&UngrantedRow>)> = BTreeMap::new();
    for r in evidence {
        roles.entry(&r.role_arn).or_default().0.push(r);
    }
    for r in ungranted {
        roles.entry(&r.role_arn).or_default().1.push(r);
    }
    let mut out = Vec::new();
    for (role, (ev, ug)) in &roles {
        out.push(propose_role(role, ev, ug, &directory, definitions, opts)?);
    }
    let seen: BTreeSet<crate::attribution::RoleKey> = roles
        .keys()
        .filter_map(|r| crate::attribution::RoleKey::parse(r))
        .collect();
    let roles_without_evidence = directory
        .declared()
        .into_keys()
        .filter(|k| {
            !seen
                .iter()
                .any(|s| s.name == k.name && (k.account.is_none() || s.account == k.account))
        })
        .map(|k| match &k.account {
            Some(a) => format!("arn:aws:iam::{a}:role/{}", k.name),
            None => k.name.clone(),
        })
        .collect();
    Ok(Proposal {
        roles: out,
        roles_without_evidence,
    })
}

fn propose_role(
    role: &str,
    evidence: &[&EvidenceRow],
    ungranted: &[&UngrantedRow],
    directory: &RoleDirectory,
    definitions: &[TaskDefinition],
    opts: &Options,
) -> Result<RoleProposal, String> {
    let usages = directory.usages(role);
    let usage: Vec<RoleKind> = usages
        .iter()
        .map(|u| u.kind)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let families: Vec<String> = usages
        .iter()
        .map(|u| u.family.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut findings = role_findings(role, &usages, &families);

    // (action, resource) → conditions and evidence of the successful calls.
    let mut granted: BTreeMap<(String, String), (Conditions, Tally)> = BTreeMap::new();
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        let entry = granted
            .entry((r.action.clone(), r.resource.clone()))
            .or_insert_with(|| (Some(BTreeSet::new()), Tally::new(r)));
        entry.1.add(r);
        match via_service(&r.condition) {
            Some(via) => {
                if let Some(set) = entry.0.as_mut() {
                    set.insert(via);
                }
            }
            // An unconditional use makes the grant unconditional.
            None => entry.0 = None,
        }
    }

    // (action, conditions) → resources, generalized and without covered ones.
    let mut by_action: BTreeMap<(String, Conditions), BTreeSet<String>> = BTreeMap::new();
    for ((action, resource), (cond, _)) in &granted {
        by_action
            .entry((action.clone(), cond.clone()))
            .or_default()
            .insert(resource.clone());
    }
    let mut generalized_from: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((action, _), resources) in by_action.iter_mut() {
        let (per_task, streams) = generalize::per_task_log_streams(resources);
        for (wildcard, names) in streams {
            findings.push(Finding {
                kind: "per-task-log-stream",
                severity: "info",
                message: format!(
                    "{action}: awslogs names one stream per task (<prefix>/<container>/<task-id>); \
                     {} observed stream(s) granted as {wildcard} so the next task can log",
                    names.len()
                ),
            });
            generalized_from.insert((action.clone(), wildcard), names);
        }
        let (set, replaced) = generalize::generalize(&per_task, opts.wildcard_threshold);
        for (wildcard, names) in replaced {
            findings.push(Finding {
                kind: "generalized",
                severity: "info",
                message: format!(
                    "{action}: {} distinct resources under one path granted as {wildcard}",
                    names.len()
                ),
            });
            generalized_from.insert((action.clone(), wildcard), names);
        }
        *resources = if set.contains(ANY_RESOURCE) {
            BTreeSet::from([ANY_RESOURCE.to_string()])
        } else {
            generalize::drop_covered(set)
        };
    }

    let catalog = crate::catalog::embedded();
    let policy = build_policy(&by_action, catalog, &mut findings);
    let grants = grant_evidence(
        &by_action,
        &granted,
        &generalized_from,
        &families,
        definitions,
        role,
    );
    self_check(role, &policy, evidence)?;

    let denied_calls = evidence
        .iter()
        .filter(|r| !r.error_code.is_empty())
        .map(|r| DeniedCall {
            action: r.action.clone(),
            resource: r.resource.clone(),
            error_code: r.error_code.clone(),
            count: r.count,
            first_seen: r.first_seen.clone(),
            last_seen: r.last_seen.clone(),
            example_event_id: r.example_event_id.clone(),
            granted_by_successful_calls: granted
                .contains_key(&(r.action.clone(), r.resource.clone())),
        })
        .collect();
    let ungranted_calls: Vec<UngrantedCall> = ungranted
        .iter()
        .map(|u| UngrantedCall {
            event_source: u.event_source.clone(),
            event_name: u.event_name.clone(),
            error_code: u.error_code.clone(),
            kind: u.kind.clone(),
            reason: u.reason.clone(),
            count: u.count,
            example_event_id: u.example_event_id.clone(),
        })
        .collect();
    for u in &ungranted_calls {
        findings.push(Finding {
            kind: if u.kind == "unmapped" {
                "unmapped-call"
            } else {
                "no-permission-needed"
            },
            severity: "info",
            message: format!(
                "{} {} ×{}: {}",
                u.event_source, u.event_name, u.count, u.reason
            ),
        });
    }
    Ok(RoleProposal {
        role_arn: role.to_string(),
        usage,
        families,
        policy,
        denied_calls,
        findings,
        grants,
        ungranted_calls,
    })
}

fn role_findings(
    role: &str,
    usages: &[crate::attribution::Usage],
    families: &[String],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let of_kind = |k: RoleKind| {
        usages
            .iter()
            .filter(|u| u.kind == k)
            .map(|u| u.family.as_str())
            .collect::<Vec<_>>()
    };
    let (task, exec) = (of_kind(RoleKind::Task), of_kind(RoleKind::Execution));
    if !task.is_empty() && !exec.is_empty() {
        findings.push(Finding {
            kind: "task-and-execution-role",
            severity: "warning",
            message: format!(
                "{role} is the task role of {} and the execution role of {}: the application and the \
                 ECS agent share one set of permissions; give each its own role",
                task.join(", "),
                exec.join(", ")
            ),
        });
    }
    if usages.is_empty() {
        findings.push(Finding {
            kind: "unattributed-role",
            severity: "info",
            message: format!(
                "{role} is in no loaded task definition; its policy comes from the trail alone \
                 (pass --task-definitions to attribute it)"
            ),
        });
    }
    if families.len() > 1 {
        findings.push(Finding {
            kind: "shared-role",
            severity: "info",
            message: format!(
                "shared by {} families ({}); the policy is their union",
                families.len(),
                families.join(", ")
            ),
        });
    }
    findings
}

fn via_service(condition: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(condition).ok()?;
    v.get(VIA_SERVICE)?.as_str().map(str::to_string)
}

fn build_policy(
    by_action: &BTreeMap<(String, Conditions), BTreeSet<String>>,
    catalog: &crate::catalog::Catalog,
    findings: &mut Vec<Finding>,
) -> PolicyDocument {
    // (class, resources, conditions) → actions. Class keeps actions that take no resource apart
    // from resource actions granted on "*" for lack of evidence.
    let mut statements: BTreeMap<(u8, BTreeSet<String>, Conditions), BTreeSet<String>> =
        BTreeMap::new();
    for ((action, cond), resources) in by_action {
        let takes_resources = catalog.action(action).is_some_and(|a| a.takes_resources());
        let class = match (resources.contains(ANY_RESOURCE), takes_resources) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => {
                findings.push(Finding {
                    kind: "unscoped-grant",
                    severity: "warning",
                    message: format!(
                        "{action} is granted on \"*\": some calls showed no resource it accepts \
                         (see `grants` for the rule); narrow it by hand or collect data events"
                    ),
                });
                2
            }
        };
        statements
            .entry((class, resources.clone(), cond.clone()))
            .or_default()
            .insert(action.clone());
    }
    let mut list: Vec<(u8, Statement)> = statements
        .into_iter()
        .map(|((class, resources, cond), actions)| {
            let mut st = Statement::allow(
                actions.into_iter().collect(),
                resources.into_iter().collect(),
            );
            if let Some(services) = cond {
                st.condition.insert(
                    "StringEquals".to_string(),
                    BTreeMap::from([(VIA_SERVICE.to_string(), services.into_iter().collect())]),
                );
            }
            (class, st)
        })
        .collect();
    list.sort_by(|a, b| (a.0, &a.1.action).cmp(&(b.0, &b.1.action)));
    let mut counters: BTreeMap<String, usize> = BTreeMap::new();
    let statements = list
        .into_iter()
        .map(|(class, mut st)| {
            let base = match class {
                1 => "NoResourceTypes".to_string(),
                2 => "UnscopedForLackOfEvidence".to_string(),
                _ => pascal(service_of(st.action.as_ref().and_then(|a| a.first()))),
            };
            let n = counters.entry(base.clone()).or_default();
            *n += 1;
            st.sid = Some(format!("{base}{n}"));
            st
        })
        .collect();
    PolicyDocument::new(statements)
}

fn service_of(action: Option<&String>) -> &str {
    action.and_then(|a| a.split(':').next()).unwrap_or("Grant")
}

fn pascal(service: &str) -> String {
    service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Aggregated evidence behind one grant.
#[derive(Debug, Clone)]
struct Tally {
    count: i64,
    first: String,
    last: String,
    example: String,
    rule: String,
}

impl Tally {
    fn new(r: &EvidenceRow) -> Self {
        Tally {
            count: 0,
            first: r.first_seen.clone(),
            last: r.last_seen.clone(),
            example: r.example_event_id.clone(),
            rule: r.rule.clone(),
        }
    }

    fn add(&mut self, r: &EvidenceRow) {
        self.count += r.count;
        if r.first_seen < self.first {
            self.first = r.first_seen.clone();
            self.example = r.example_event_id.clone();
        }
        if r.last_seen > self.last {
            self.last = r.last_seen.clone();
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        if other.first < self.first {
            self.first = other.first.clone();
            self.example = other.example.clone();
        }
        if other.last > self.last {
            self.last = other.last.clone();
        }
    }
}

fn grant_evidence(
    by_action: &BTreeMap<(String, Conditions), BTreeSet<String>>,
    granted: &BTreeMap<(String, String), (Conditions, Tally)>,
    generalized_from: &BTreeMap<(String, String), Vec<String>>,
    families: &[String],
    definitions: &[TaskDefinition],
    role: &str,
) -> Vec<GrantEvidence> {
    let mut out = Vec::new();
    for ((action, cond), resources) in by_action {
        for resource in resources {
            let observed: Vec<String> = generalized_from
                .get(&(action.clone(), resource.clone()))
                .cloned()
                .unwrap_or_default();
            // Evidence of this grant: the resource itself, what it generalizes, what it covers.
            let mut tally: Option<Tally> = None;
            for ((a, r), (_, t)) in granted {
                let belongs =
                    a == action && (r == resource || observed.contains(r) || covers(resource, r));
                if belongs {
                    match tally.as_mut() {
                        Some(mine) => mine.merge(t),
                        None => tally = Some(t.clone()),
                    }
                }
            }
            let Some(t) = tally else { continue };
            let (fams, how) = families::attribute(role, resource, families, definitions);
            out.push(GrantEvidence {
                action: action.clone(),
                resource: resource.clone(),
                condition: cond
                    .as_ref()
                    .map(|c| BTreeMap::from([(VIA_SERVICE.to_string(), c.clone())])),
                generalized_from: observed,
                count: t.count,
                first_seen: t.first,
                last_seen: t.last,
                example_event_id: t.example,
                families: fams,
                family_attribution: how,
                rule: t.rule,
            });
        }
    }
    out
}

fn covers(pattern: &str, resource: &str) -> bool {
    pattern == ANY_RESOURCE
        || crate::policy::eval::resource_matches(
            pattern,
            &unescape_literal(resource),
            crate::policy::eval::VARIABLES_VERSION,
            &Context::new(),
        )
}

/// Replays every successful observed call against the policy; any denial is a bug in synthesis.
fn self_check(
    role: &str,
    policy: &PolicyDocument,
    evidence: &[&EvidenceRow],
) -> Result<(), String> {
    let policies = std::slice::from_ref(policy);
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        let mut context = Context::new();
        if let Some(via) = via_service(&r.condition) {
            context.insert(VIA_SERVICE.to_string(), vec![via]);
        }
        let resource = unescape_literal(&r.resource);
        let req = Request {
            action: &r.action,
            resource: &resource,
            context: &context,
        };
        if evaluate(policies, &req) != Decision::Allow {
            return Err(format!(
                "internal error: the proposal for {role} would deny an observed call ({} on {}, \
                 example event {}); please report this with the evidence",
                r.action, r.resource, r.example_event_id
            ));
        }
    }
    Ok(())
}
