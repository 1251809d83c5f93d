//! Evidence → one least-privilege policy per role.
//!
//! Per role: successful calls become grants (failed ones are reported, never granted); names are
//! generalized only where the evidence supports it; resources covered by another are dropped;
//! grants with the same resources and condition share a statement. Before a proposal leaves this
//! module, every observed successful call is replayed against it with the IAM evaluator.

pub mod backtest;
pub mod derive;
pub mod derive_task;
mod families;
pub mod generalize;
mod kms;
pub mod launch;
mod model;
mod operations;
pub mod overrides;
mod recorded;
pub mod size;
pub mod split;
mod statements;
pub mod template;
mod unscoped;
pub mod verify;

pub use model::*;
pub use recorded::Recorded;

use crate::attribution::{taskdef::TaskDefinition, RoleDirectory, RoleKind, RoleSelection};
use crate::mapping::ANY_RESOURCE;
use crate::policy::escape::unescape_literal;
use crate::policy::eval::{Context, ResourcePattern, VARIABLES_VERSION};
use crate::store::UNKNOWN_RESOURCE;
use crate::store::{EvidenceRow, UngrantedRow};
use derive::{Derived, DerivedFrom};
use kms::KmsCondition;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct names in one directory needed before they become a prefix wildcard (0: never).
    pub wildcard_threshold: usize,
    /// The roles to propose a policy for (and to report as without evidence).
    pub roles: RoleSelection,
    /// How roles that do more than one job are split.
    pub split: split::SplitOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wildcard_threshold: 3,
            roles: RoleSelection::all(),
            split: split::SplitOptions::default(),
        }
    }
}

/// A grant's conditions while it is built: what a KMS grant used through services is limited to
/// (`None`: unconditional).
type Conditions = Option<KmsCondition>;

/// The proposal for every role in the evidence, checked: a proposal that would deny an observed
/// successful call is an error, never returned.
pub fn propose(
    evidence: &[EvidenceRow],
    ungranted: &[UngrantedRow],
    definitions: &[TaskDefinition],
    opts: &Options,
) -> Result<Proposal, crate::Error> {
    let proposal = build(evidence, ungranted, definitions, opts);
    for role in &proposal.roles {
        let rows: Vec<&EvidenceRow> = evidence
            .iter()
            // Evidence without a resource (SDK monitoring) is granted only where no resource
            // applies, or not at all: there is no call on a resource to replay.
            .filter(|r| r.role_arn == role.role_arn && r.resource != UNKNOWN_RESOURCE)
            .collect();
        let mut uncovered = verify::replay(std::slice::from_ref(&role.policy), &rows);
        // A split's parts each cover their share of the calls, so together all of them.
        for part in role.split.iter().flat_map(|s| &s.parts) {
            let rows: Vec<&EvidenceRow> = part
                .rows
                .iter()
                .filter(|r| r.resource != UNKNOWN_RESOURCE)
                .collect();
            uncovered.extend(verify::replay(
                std::slice::from_ref(&part.proposal.policy),
                &rows,
            ));
        }
        if let Some(u) = uncovered.first() {
            return Err(crate::Error::Uncovered {
                role_arn: role.role_arn.clone(),
                denied: uncovered.len(),
                action: u.action.clone(),
                resource: u.resource.clone(),
                example_event_id: u.example_event_id.clone(),
            });
        }
    }
    Ok(proposal)
}

/// The proposal without the coverage check, for `verify` to report on.
pub fn build(
    evidence: &[EvidenceRow],
    ungranted: &[UngrantedRow],
    definitions: &[TaskDefinition],
    opts: &Options,
) -> Proposal {
    let directory = RoleDirectory::from_definitions(definitions);
    let mut roles: BTreeMap<&str, (Vec<&EvidenceRow>, Vec<&UngrantedRow>)> = BTreeMap::new();
    for r in evidence {
        roles.entry(&r.role_arn).or_default().0.push(r);
    }
    for r in ungranted {
        roles.entry(&r.role_arn).or_default().1.push(r);
    }
    let mut out = Vec::new();
    for (role, (ev, ug)) in roles.iter().filter(|(r, _)| opts.roles.contains(r)) {
        let mut proposal = propose_role(role, ev, ug, &directory, definitions, opts);
        proposal.split = split::split(role, ev, ug, definitions, opts).map(Box::new);
        out.push(proposal);
    }
    // Which roles made no call is a fact of the whole evidence; only then is it narrowed to the
    // selection.
    let unseen: Vec<(&str, BTreeSet<RoleKind>)> = directory
        .without_evidence(roles.keys().copied())
        .into_iter()
        .filter(|(role, _)| opts.roles.contains(role))
        .collect();
    // An execution role whose tasks did not start within the trail still needs what its task
    // definitions imply; it gets a policy from them alone, and a finding that says so.
    for (arn, kinds) in &unseen {
        if !kinds.contains(&RoleKind::Execution) || !arn.starts_with("arn:") {
            continue;
        }
        let mut role = propose_role(arn, &[], &[], &directory, definitions, opts);
        if role.grants.is_empty() {
            continue;
        }
        role.findings.push(Finding {
            kind: "derived-only",
            severity: "warning",
            message: "no call of this role is in the evidence: its policy comes from the task \
                      definitions alone (image pulls, logs, secrets); observe a trail that covers \
                      a task start to confirm it (kms:Decrypt for secrets under a customer-managed \
                      key can only be seen there)"
                .to_string(),
            ..Default::default()
        });
        out.push(role);
    }
    out.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
    let roles_without_evidence = unseen
        .into_iter()
        .map(|(role, _)| role.to_string())
        .collect();
    Proposal {
        roles: out,
        roles_without_evidence,
    }
}

/// The role's proposal within IAM's size limits: split into managed policies when the inline
/// limit is exceeded, generalized further (a lower wildcard threshold) only when even
/// [`size::MANAGED_PER_ROLE`] managed policies cannot hold it.
fn propose_role(
    role: &str,
    evidence: &[&EvidenceRow],
    ungranted: &[&UngrantedRow],
    directory: &RoleDirectory,
    definitions: &[TaskDefinition],
    opts: &Options,
) -> RoleProposal {
    let first = build_role(
        role,
        evidence,
        ungranted,
        directory,
        definitions,
        opts.wildcard_threshold,
    );
    if first.policy_characters <= size::INLINE_LIMIT {
        return first;
    }
    let mut split = size::deliver(first);
    if split.managed_policies.len() <= size::MANAGED_PER_ROLE || opts.wildcard_threshold == 0 {
        return split;
    }
    // Wider wildcards are the last resort, tried from the least to the most general.
    for threshold in (2..opts.wildcard_threshold).rev() {
        let candidate = size::deliver(build_role(
            role,
            evidence,
            ungranted,
            directory,
            definitions,
            threshold,
        ));
        if candidate.managed_policies.len() <= size::MANAGED_PER_ROLE {
            let mut candidate = candidate;
            candidate.findings.push(Finding {
                kind: "generalized-for-size",
                severity: "warning",
                message: format!(
                    "even split into managed policies the policy needed more than {} of them; \
                     generalized further with a wildcard threshold of {threshold} (instead of {}) \
                     so that it fits",
                    size::MANAGED_PER_ROLE,
                    opts.wildcard_threshold
                ),
                ..Default::default()
            });
            return candidate;
        }
    }
    split.findings.push(Finding {
        kind: "over-size-limits",
        severity: "error",
        message: format!(
            "the policy needs {} managed policies of at most {} characters, over the default \
             quota of {} per role (20 with a quota increase); it cannot be generalized further \
             within the evidence: request the quota increase or narrow the role's use",
            split.managed_policies.len(),
            size::MANAGED_LIMIT,
            size::MANAGED_PER_ROLE
        ),
        ..Default::default()
    });
    split
}

fn build_role(
    role: &str,
    evidence: &[&EvidenceRow],
    ungranted: &[&UngrantedRow],
    directory: &RoleDirectory,
    definitions: &[TaskDefinition],
    wildcard_threshold: usize,
) -> RoleProposal {
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

    let (granted, no_resource_evidence) = successful_grants(evidence);
    for action in no_resource_evidence {
        if granted.keys().any(|(a, _)| a == action) {
            continue;
        }
        findings.push(unscoped::without_resource(action, evidence));
    }

    let refused = refused_resources(evidence, &granted);

    let (mut by_action, generalized_from) =
        generalize_grants(&granted, wildcard_threshold, &refused, &mut findings);

    let catalog = crate::catalog::active();
    let mut derived = Vec::new();
    for (kind, needs) in [
        (
            RoleKind::Execution,
            derive::execution_role_needs as fn(_, _, _) -> _,
        ),
        (RoleKind::Task, derive_task::task_role_needs),
    ] {
        if !usage.contains(&kind) {
            continue;
        }
        let (mut found, problems) = needs(role, definitions, catalog);
        findings.extend(problems.into_iter().map(|message| Finding {
            kind: "not-derived",
            severity: "warning",
            message,
            ..Default::default()
        }));
        derived.append(&mut found);
    }
    let (launched, problems) = launch::launch_needs(evidence, definitions, catalog);
    findings.extend(problems.into_iter().map(|message| Finding {
        kind: "not-derived",
        severity: "warning",
        message,
        ..Default::default()
    }));
    derived.extend(launched);
    derived.sort();
    derived.dedup();
    add_derived(&mut by_action, &derived);
    pin_context_to_grants(&mut by_action);
    let kms_sources = secret_keys(&by_action, &derived, &mut findings);
    let policy = statements::build_policy(&by_action, catalog);
    findings.extend(unscoped::unscoped_grants(&by_action, evidence, catalog));
    findings.extend(operations::operation_findings(evidence, catalog));
    let grants = grant_evidence(
        &by_action,
        &granted,
        &generalized_from,
        &Derivations {
            grants: &derived,
            keys: &kms_sources,
        },
        &families,
        definitions,
        role,
    );
    let policy_characters = size::characters(&policy);

    let denied_calls = denied_calls(evidence, &granted);
    let ungranted_calls = ungranted_calls(ungranted, &mut findings);
    RoleProposal {
        role_arn: role.to_string(),
        usage,
        families,
        policy,
        delivery: "inline",
        policy_characters,
        managed_policies: Vec::new(),
        denied_calls,
        findings,
        grants,
        ungranted_calls,
        split: None,
    }
}

/// (action, resource) → conditions and evidence of the successful calls.
type Granted = BTreeMap<(String, String), (Conditions, Tally)>;

/// The successful calls by (action, resource), and the actions SDK monitoring saw without a
/// resource: those are granted on "*" only for actions that take no resource; for the others
/// they are never widened to "*" nor given an invented resource, only listed as lacking
/// resource evidence.
fn successful_grants<'e>(evidence: &[&'e EvidenceRow]) -> (Granted, BTreeSet<&'e str>) {
    let mut granted = Granted::new();
    let mut no_resource_evidence: BTreeSet<&str> = BTreeSet::new();
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        let resource = if r.resource == UNKNOWN_RESOURCE {
            let takes_resources = crate::catalog::active()
                .action(&r.action)
                .is_none_or(|a| a.takes_resources());
            if takes_resources {
                no_resource_evidence.insert(&r.action);
                continue;
            }
            ANY_RESOURCE
        } else {
            &r.resource
        };
        let condition = KmsCondition::from_stored(&r.condition);
        let entry = granted
            .entry((r.action.clone(), resource.to_string()))
            .or_insert_with(|| (condition.clone(), Tally::new(r)));
        entry.1.add(r);
        match (entry.0.as_mut(), &condition) {
            (Some(mine), Some(c)) => mine.merge(c),
            // An unconditional use makes the grant unconditional.
            (_, None) => entry.0 = None,
            (None, Some(_)) => {}
        }
    }
    (granted, no_resource_evidence)
}

/// action → resources it was refused on (and never succeeded on): no wildcard may reach them.
fn refused_resources<'e>(
    evidence: &[&'e EvidenceRow],
    granted: &Granted,
) -> BTreeMap<&'e str, BTreeSet<String>> {
    let mut refused: BTreeMap<&'e str, BTreeSet<String>> = BTreeMap::new();
    for r in evidence
        .iter()
        .filter(|r| is_authorization_failure(&r.error_code))
    {
        if !granted.contains_key(&(r.action.clone(), r.resource.clone())) {
            refused
                .entry(r.action.as_str())
                .or_default()
                .insert(r.resource.clone());
        }
    }
    refused
}

/// (action, wildcard) → the observed resources it stands for, and the template it was learned as
/// (none for the longest-common-prefix and per-task wildcards).
type GeneralizedFrom = BTreeMap<(String, String), (Vec<String>, Option<template::Template>)>;

/// (action, conditions) → resources.
pub(crate) type ByAction = BTreeMap<(String, Conditions), BTreeSet<String>>;

/// (action, conditions) → resources, generalized and without covered ones; and each wildcard
/// made with the names it stands for.
fn generalize_grants(
    granted: &Granted,
    wildcard_threshold: usize,
    refused: &BTreeMap<&str, BTreeSet<String>>,
    findings: &mut Vec<Finding>,
) -> (ByAction, GeneralizedFrom) {
    let mut by_action = ByAction::new();
    for ((action, resource), (cond, _)) in granted {
        let cond = cond.clone().map(|c| c.generalized(wildcard_threshold));
        by_action
            .entry((action.clone(), cond))
            .or_default()
            .insert(resource.clone());
    }
    let mut generalized_from = GeneralizedFrom::new();
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
                ..Default::default()
            });
            generalized_from.insert((action.clone(), wildcard), (names, None));
        }
        let refused_here = refused.get(action.as_str()).cloned().unwrap_or_default();
        let templated = if wildcard_threshold > 0 {
            learn_templates(
                action,
                &per_task,
                granted,
                (wildcard_threshold, &refused_here),
                findings,
            )
        } else {
            template::Templated {
                resources: per_task,
                ..Default::default()
            }
        };
        for (pattern, (template, names)) in templated.templates {
            generalized_from.insert((action.clone(), pattern), (names, Some(template)));
        }
        let generalize::Generalized {
            resources: set,
            replaced,
            narrowed,
        } = generalize::generalize(&templated.resources, wildcard_threshold, &refused_here);
        for wildcard in narrowed {
            findings.push(Finding {
                kind: "narrowed-by-denied-call",
                severity: "info",
                message: format!(
                    "{action}: not generalized to {wildcard}, which would also allow a call \
                     that was denied; the names under it are granted more narrowly"
                ),
                ..Default::default()
            });
        }
        for (wildcard, members) in replaced {
            // A member may be a template's pattern: the wildcard stands for the names it did.
            let names: Vec<String> = members
                .into_iter()
                .flat_map(
                    |m| match generalized_from.get(&(action.clone(), m.clone())) {
                        Some((names, Some(_))) => names.clone(),
                        _ => vec![m],
                    },
                )
                .collect();
            findings.push(Finding {
                kind: "generalized",
                severity: "info",
                message: format!(
                    "{action}: {} distinct resources under one path granted as {wildcard}",
                    names.len()
                ),
                ..Default::default()
            });
            generalized_from.insert((action.clone(), wildcard), (names, None));
        }
        *resources = if set.contains(ANY_RESOURCE) {
            BTreeSet::from([ANY_RESOURCE.to_string()])
        } else {
            generalize::drop_covered(set)
        };
    }
    (by_action, generalized_from)
}

/// Templates learned over the resources of `action` (see [`template`]), each also a finding.
fn learn_templates(
    action: &str,
    resources: &BTreeSet<String>,
    granted: &Granted,
    (threshold, refused): (usize, &BTreeSet<String>),
    findings: &mut Vec<Finding>,
) -> template::Templated {
    let time = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let mut observed = Vec::new();
    let mut passed = BTreeSet::new();
    for r in resources {
        let calls = granted
            .get(&(action.to_string(), r.clone()))
            .map(|(_, t)| t);
        match calls.and_then(|t| Some((time(&t.first)?, time(&t.last)?, t.count))) {
            Some((first, last, calls)) => observed.push(template::Observed {
                resource: r,
                first,
                last,
                calls,
            }),
            // A wildcard made already, or a resource whose times are unreadable.
            None => {
                passed.insert(r.clone());
            }
        }
    }
    let mut templated = template::learn(&observed, threshold, refused);
    templated.resources.extend(passed);
    for pattern in &templated.narrowed {
        findings.push(Finding {
            kind: "narrowed-by-denied-call",
            severity: "info",
            message: format!(
                "{action}: not generalized to {pattern}, which would also allow a call that was \
                 denied; the names it stands for are granted as observed"
            ),
            ..Default::default()
        });
    }
    for (t, names) in templated.templates.values() {
        // Fields recognised alike in a row (`{year} {month} {day}`) are described once.
        let mut fields: Vec<(String, &str)> = Vec::new();
        for f in &t.fields {
            match fields.last_mut() {
                Some((names, how)) if *how == f.recognised_as => {
                    names.push_str(&format!(" {{{}}}", f.field))
                }
                _ => fields.push((format!("{{{}}}", f.field), &f.recognised_as)),
            }
        }
        let fields: Vec<String> = fields
            .iter()
            .map(|(names, how)| format!("{names}: {how}"))
            .collect();
        findings.push(Finding {
            kind: "templated",
            severity: "info",
            message: format!(
                "{action}: {} resource(s) read as the template {} ({}), granted as {}",
                names.len(),
                t.template,
                fields.join("; "),
                t.pattern
            ),
            ..Default::default()
        });
    }
    templated
}

/// The failed calls, each marked when successful calls grant it anyway.
fn denied_calls(evidence: &[&EvidenceRow], granted: &Granted) -> Vec<DeniedCall> {
    evidence
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
        .collect()
}

/// The calls that produce no grant, each also a finding.
fn ungranted_calls(ungranted: &[&UngrantedRow], findings: &mut Vec<Finding>) -> Vec<UngrantedCall> {
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
            kind: if u.kind == crate::mapping::UngrantedKind::Unmapped.as_str() {
                "unmapped-call"
            } else {
                "no-permission-needed"
            },
            severity: "info",
            message: format!(
                "{} {} ×{}: {}",
                u.event_source, u.event_name, u.count, u.reason
            ),
            ..Default::default()
        });
    }
    ungranted_calls
}

/// The role's own grants that a service's encryption-context key names: KMS used through SSM for
/// a parameter the role may read, through S3 for an object it may read or write… Widening an
/// observed context value to those grants (a parameter path, an object prefix, a secret a task
/// definition names) never reaches a resource the role could not use anyway, and keeps the next
/// parameter under the path, or the next object under the prefix, decryptable.
fn context_grants(context_key: &str) -> &'static [&'static str] {
    match context_key.strip_prefix(crate::mapping::ENCRYPTION_CONTEXT_PREFIX) {
        Some("PARAMETER_ARN") => &[
            "ssm:GetParameter",
            "ssm:GetParameters",
            "ssm:GetParametersByPath",
            "ssm:GetParameterHistory",
        ],
        Some("SecretARN") => &["secretsmanager:GetSecretValue"],
        Some("aws:s3:arn") => &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
        Some("aws:sqs:arn") => &["sqs:SendMessage", "sqs:ReceiveMessage"],
        Some("aws:sns:topicArn") => &["sns:Publish"],
        _ => &[],
    }
}

/// Widens each pinned encryption-context key of the KMS grants to the role's grants it names
/// (see [`context_grants`]).
fn pin_context_to_grants(by_action: &mut ByAction) {
    let granted_on = |actions: &[&str]| -> Vec<String> {
        by_action
            .iter()
            .filter(|((a, _), _)| actions.contains(&a.as_str()))
            .flat_map(|((a, _), resources)| {
                resources
                    .iter()
                    .filter(|r| *r != ANY_RESOURCE)
                    .map(move |r| match a.as_str() {
                        // The path's ARN authorizes reading every parameter below it.
                        "ssm:GetParametersByPath" if !r.ends_with('*') => format!("{r}/*"),
                        _ => r.clone(),
                    })
            })
            .collect()
    };
    let widened: Vec<((String, Conditions), KmsCondition)> = by_action
        .keys()
        .filter_map(|key| {
            let mut c = key.1.clone().filter(|c| !c.context.is_empty())?;
            let keys: Vec<String> = c.context.keys().cloned().collect();
            for k in keys {
                c.extend_context(&k, granted_on(context_grants(&k)));
            }
            Some((key.clone(), c))
        })
        .collect();
    for (key, cond) in widened {
        let resources = by_action.remove(&key).unwrap_or_default();
        by_action
            .entry((key.0, Some(cond)))
            .or_default()
            .extend(resources);
    }
}

/// Adds the derived grants (unconditional, but for the condition a derivation names: the service
/// an `iam:PassRole` passes a role to, the access point of an EFS mount) and drops what the
/// unconditional ones cover.
fn add_derived(by_action: &mut ByAction, derived: &[Derived]) {
    for d in derived {
        let condition = d.condition.as_ref().map(|(key, value)| {
            KmsCondition::equals(BTreeMap::from([(
                key.to_string(),
                BTreeSet::from([value.clone()]),
            )]))
        });
        by_action
            .entry((d.action.clone(), condition))
            .or_default()
            .insert(d.resource.clone());
    }
    for ((_, cond), resources) in by_action.iter_mut() {
        if cond.is_some() {
            continue;
        }
        let set = std::mem::take(resources);
        *resources = if set.contains(ANY_RESOURCE) {
            BTreeSet::from([ANY_RESOURCE.to_string()])
        } else {
            generalize::drop_covered(set)
        };
    }
}

/// The task definitions' secrets need `kms:Decrypt` on a customer-managed key, which they do not
/// name: only keys observed being used through SSM or Secrets Manager for the role are known.
/// Returns the (via service, source) pairs whose key was observed; says so for the others.
fn secret_keys(
    by_action: &ByAction,
    derived: &[Derived],
    findings: &mut Vec<Finding>,
) -> Vec<(String, DerivedFrom)> {
    let observed_via: BTreeSet<&String> = by_action
        .keys()
        .filter(|(a, _)| a == "kms:Decrypt")
        .filter_map(|(_, c)| c.as_ref())
        .flat_map(|c| c.via.iter())
        .collect();
    let mut known = Vec::new();
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (via, from) in derive::secret_services(derived) {
        if observed_via.contains(&via) {
            known.push((via, from));
        } else {
            missing.entry(via).or_default().insert(from.family.clone());
        }
    }
    for (via, families) in missing {
        findings.push(Finding {
            kind: "secret-key-not-observed",
            severity: "warning",
            message: format!(
                "secrets of {} are read through {via}, but no kms:Decrypt through it was observed \
                 for this role, so no key is granted: that is right for the AWS managed key; a \
                 customer-managed key needs kms:Decrypt on that key with kms:ViaService {via}",
                families.into_iter().collect::<Vec<_>>().join(", ")
            ),
            ..Default::default()
        });
    }
    known.sort();
    known.dedup();
    known
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
            ..Default::default()
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
            ..Default::default()
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
            ..Default::default()
        });
    }
    findings
}

/// Error codes that say the caller lacked a permission (as opposed to throttling, a missing
/// resource or a bad request, where the call itself was authorized).
fn is_authorization_failure(code: &str) -> bool {
    [
        "AccessDenied",
        "Unauthorized",
        "AuthorizationError",
        "Forbidden",
    ]
    .iter()
    .any(|k| code.contains(k))
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
        if (&r.first_seen, &r.example_event_id) < (&self.first, &self.example) {
            self.first = r.first_seen.clone();
            self.example = r.example_event_id.clone();
        }
        if r.last_seen > self.last {
            self.last = r.last_seen.clone();
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        if (&other.first, &other.example) < (&self.first, &self.example) {
            self.first = other.first.clone();
            self.example = other.example.clone();
        }
        if other.last > self.last {
            self.last = other.last.clone();
        }
    }
}

/// What the task definitions imply for the role: the grants, and the KMS keys (by via service)
/// of their secrets that were observed.
struct Derivations<'a> {
    grants: &'a [Derived],
    keys: &'a [(String, DerivedFrom)],
}

impl Derivations<'_> {
    /// The task-definition parts behind the policy's (action, resource, condition).
    fn behind(&self, action: &str, resource: &str, cond: &Conditions) -> Vec<DerivedFrom> {
        let derived_on = |d: &&Derived| {
            d.action == action && (d.resource == resource || covers(resource, &d.resource))
        };
        let mut out: Vec<DerivedFrom> = match cond {
            None => self
                .grants
                .iter()
                .filter(|d| d.condition.is_none())
                .filter(derived_on)
                .map(|d| d.from.clone())
                .collect(),
            Some(c) if !c.equals.is_empty() => self
                .grants
                .iter()
                .filter(|d| {
                    d.condition.as_ref().is_some_and(|(key, value)| {
                        c.equals.get(*key).is_some_and(|vals| vals.contains(value))
                    })
                })
                .filter(derived_on)
                .map(|d| d.from.clone())
                .collect(),
            Some(c) if action == "kms:Decrypt" => self
                .keys
                .iter()
                .filter(|(via, _)| c.via.contains(via))
                .map(|(_, from)| from.clone())
                .collect(),
            Some(_) => Vec::new(),
        };
        out.sort();
        out.dedup();
        out
    }
}

fn grant_evidence(
    by_action: &ByAction,
    granted: &Granted,
    generalized_from: &GeneralizedFrom,
    derivations: &Derivations,
    families: &[String],
    definitions: &[TaskDefinition],
    role: &str,
) -> Vec<GrantEvidence> {
    let mut out = Vec::new();
    for ((action, cond), resources) in by_action {
        for resource in resources {
            let (observed, template) = generalized_from
                .get(&(action.clone(), resource.clone()))
                .cloned()
                .unwrap_or_default();
            // Evidence of this grant: the resource itself, what it generalizes, what it covers.
            let same_via =
                |c: &Conditions| c.as_ref().map(|c| &c.via) == cond.as_ref().map(|c| &c.via);
            let mut tally: Option<Tally> = None;
            let mut add = |t: &Tally| match tally.as_mut() {
                Some(mine) => mine.merge(t),
                None => tally = Some(t.clone()),
            };
            // The grant's conditions were generalized from the calls': one key has one set of
            // calls, so the services alone tell which grant a call belongs to.
            for (c, t) in covered_calls(granted, action, resource, &observed) {
                if same_via(c) {
                    add(t);
                }
            }
            let derived_from = derivations.behind(action, resource, cond);
            let origin = match (tally.is_some(), derived_from.is_empty()) {
                (true, true) => "observed",
                (true, false) => "both",
                (false, false) => "derived",
                (false, true) => continue,
            };
            let (fams, how) = if tally.is_none() {
                let fams: BTreeSet<String> =
                    derived_from.iter().map(|d| d.family.clone()).collect();
                (fams.into_iter().collect(), "task definition")
            } else {
                match families::attribute(role, resource, families, definitions) {
                    // A resource no task definition names (a KMS key) still belongs to the
                    // families whose task-definition parts imply the grant.
                    (_, "shared role") if !derived_from.is_empty() => {
                        let fams: BTreeSet<String> =
                            derived_from.iter().map(|d| d.family.clone()).collect();
                        (fams.into_iter().collect(), "task definition")
                    }
                    other => other,
                }
            };
            let t = tally.unwrap_or_else(|| Tally {
                count: 0,
                first: String::new(),
                last: String::new(),
                example: String::new(),
                rule: derived_from
                    .first()
                    .map(derive::describe)
                    .unwrap_or_default(),
            });
            out.push(GrantEvidence {
                action: action.clone(),
                resource: resource.clone(),
                condition: cond.as_ref().map(KmsCondition::as_evidence),
                generalized_from: observed,
                template,
                count: t.count,
                first_seen: t.first,
                last_seen: t.last,
                example_event_id: t.example,
                families: fams,
                family_attribution: how,
                rule: t.rule,
                origin,
                derived_from,
            });
        }
    }
    out
}

/// The successful calls of `action` that `resource` accounts for, in key order: the call on
/// the resource itself and, for a wildcard, those it was generalized from and those it matches.
///
/// Roles with tens of thousands of S3 objects have thousands of wildcards: a literal is looked
/// up, and a wildcard is parsed once and compared only with the calls that start with its
/// literal prefix (the text before its first `*`, `?` or `$`, which escaping leaves alone, so
/// the stored, escaped names start with it too).
fn covered_calls<'g>(
    granted: &'g Granted,
    action: &str,
    resource: &str,
    generalized_from: &[String],
) -> Vec<&'g (Conditions, Tally)> {
    let key = (action.to_string(), resource.to_string());
    if !generalize::has_wildcard(resource) {
        return granted.get(&key).into_iter().collect();
    }
    let pattern = ResourcePattern::new(resource, VARIABLES_VERSION, &Context::new());
    let prefix = &resource[..resource.find(['*', '?', '$']).unwrap_or(resource.len())];
    let members: std::collections::HashSet<&str> =
        generalized_from.iter().map(String::as_str).collect();
    let mut out: Vec<_> = granted
        .range((action.to_string(), prefix.to_string())..)
        .take_while(|((a, r), _)| a == action && r.starts_with(prefix))
        .filter(|((_, r), _)| {
            r == resource
                || members.contains(r.as_str())
                || pattern.matches_chars(&ResourcePattern::chars(&unescape_literal(r)))
        })
        .map(|(_, calls)| calls)
        .collect();
    // Names it was generalized from always count, even one the prefix would not reach.
    for m in generalized_from.iter().filter(|m| !m.starts_with(prefix)) {
        out.extend(granted.get(&(action.to_string(), m.clone())));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_row(role: &str, action: &str, resource: &str, i: usize) -> EvidenceRow {
        EvidenceRow {
            role_arn: role.into(),
            action: action.into(),
            resource: resource.into(),
            condition: String::new(),
            error_code: String::new(),
            count: 1,
            first_seen: "2026-11-02T00:00:00Z".into(),
            last_seen: "2026-11-02T00:00:00Z".into(),
            example_event_id: format!("ev-{i}"),
            event_source: "s3.amazonaws.com".into(),
            event_name: "GetObject".into(),
            rule: "test".into(),
            callers: Default::default(),
        }
    }

    #[test]
    fn over_ten_managed_policies_generalizes_further_and_says_so() {
        // Two objects in one (long) directory of each of 150 buckets: under the default
        // threshold of 3 every object stays exact (about 13 managed policies); with 2 each pair
        // becomes one directory wildcard, which fits.
        let role = "arn:aws:iam::111122223333:role/exporter";
        let dir = "exports/".repeat(28);
        let rows: Vec<EvidenceRow> = (0..150)
            .flat_map(|b| {
                ["report-a.csv", "report-b.csv"].map(|k| {
                    ok_row(
                        role,
                        "s3:GetObject",
                        &format!("arn:aws:s3:::tenant-bucket-{b:04}/{dir}{k}"),
                        b,
                    )
                })
            })
            .collect();
        let p = propose(&rows, &[], &[], &Options::default()).unwrap();
        let r = &p.roles[0];
        assert_eq!(r.delivery, "managed");
        assert!(r.managed_policies.len() <= size::MANAGED_PER_ROLE);
        assert!(r
            .managed_policies
            .iter()
            .all(|m| m.characters <= size::MANAGED_LIMIT));
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == "generalized-for-size" && f.message.contains("threshold of 2")));
        let resources: Vec<&String> = r
            .policy
            .statement
            .iter()
            .flat_map(|s| s.resource.iter().flatten())
            .collect();
        assert!(resources.contains(&&format!("arn:aws:s3:::tenant-bucket-0007/{dir}report-*")));
        // The exact threshold a user asked for is kept when splitting is enough.
        let few: Vec<EvidenceRow> = rows[..60].to_vec();
        let p = propose(&few, &[], &[], &Options::default()).unwrap();
        let r = &p.roles[0];
        assert_eq!(r.delivery, "managed");
        assert!(r.findings.iter().all(|f| f.kind != "generalized-for-size"));
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == "split-into-managed-policies"));
    }

    #[test]
    fn derived_secret_reads_without_an_observed_key_say_so() {
        let role = "arn:aws:iam::111122223333:role/exec";
        let defs = crate::attribution::taskdef::parse(
            r#"{"family":"web","revision":2,"executionRoleArn":"arn:aws:iam::111122223333:role/exec",
                "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/web:2",
                "containerDefinitions":[{"name":"app","image":"nginx",
                  "secrets":[{"name":"A","valueFrom":"/web/a"}]}]}"#,
        )
        .unwrap();
        let rows = vec![ok_row(
            role,
            "ssm:GetParameters",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/other",
            1,
        )];
        let p = propose(&rows, &[], &defs, &Options::default()).unwrap();
        let r = &p.roles[0];
        let g = r
            .grants
            .iter()
            .find(|g| g.resource == "arn:aws:ssm:eu-west-1:111122223333:parameter/web/a")
            .unwrap();
        assert_eq!(
            (g.origin, g.count, g.families.clone()),
            ("derived", 0, vec!["web".to_string()])
        );
        assert_eq!(g.derived_from[0].revision, Some(2));
        let observed = r
            .grants
            .iter()
            .find(|g| g.resource.ends_with("parameter/other"))
            .unwrap();
        assert_eq!(observed.origin, "observed");
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == "secret-key-not-observed"
                && f.message.contains("ssm.eu-west-1.amazonaws.com")));
        assert!(r.policy.statement.iter().all(|s| s
            .action
            .iter()
            .flatten()
            .all(|a| a != "kms:Decrypt")));
    }

    #[test]
    fn an_execution_role_without_evidence_gets_its_derived_policy() {
        let defs = crate::attribution::taskdef::parse(
            r#"[{"family":"quiet","executionRoleArn":"arn:aws:iam::111122223333:role/svc/quiet-exec",
                 "taskRoleArn":"arn:aws:iam::111122223333:role/quiet-task",
                 "containerDefinitions":[{"name":"app",
                   "image":"111122223333.dkr.ecr.eu-west-1.amazonaws.com/quiet:1"}]}]"#,
        )
        .unwrap();
        let rows = vec![ok_row(
            "arn:aws:iam::111122223333:role/other",
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            1,
        )];
        let p = propose(&rows, &[], &defs, &Options::default()).unwrap();
        let arns: Vec<&str> = p.roles.iter().map(|r| r.role_arn.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:iam::111122223333:role/other",
                "arn:aws:iam::111122223333:role/svc/quiet-exec"
            ]
        );
        let quiet = &p.roles[1];
        assert!(quiet.grants.iter().all(|g| g.origin == "derived"));
        assert!(quiet
            .grants
            .iter()
            .any(|g| g.resource == "arn:aws:ecr:eu-west-1:111122223333:repository/quiet"));
        assert!(quiet.findings.iter().any(|f| f.kind == "derived-only"));
        // Both stay listed as without evidence; the task role gets no policy at all.
        assert_eq!(p.roles_without_evidence.len(), 2);
    }

    #[test]
    fn a_proposal_that_would_deny_an_observed_call_is_refused_but_can_be_verified() {
        // A row whose stored resource is an unescaped policy variable: the policy made from it
        // cannot match the call it records (the variable is unresolved), as with any synthesis bug.
        let role = "arn:aws:iam::111122223333:role/app";
        let rows = vec![
            ok_row(role, "s3:GetObject", "arn:aws:s3:::b/ok.txt", 1),
            ok_row(role, "s3:GetObject", "arn:aws:s3:::b/${aws:username}", 2),
        ];
        let err = propose(&rows, &[], &[], &Options::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("would deny 1 observed call") && err.contains("ev-2"),
            "{err}"
        );
        let p = build(&rows, &[], &[], &Options::default());
        let refs: Vec<&EvidenceRow> = rows.iter().collect();
        let uncovered = verify::replay(std::slice::from_ref(&p.roles[0].policy), &refs);
        assert_eq!(uncovered.len(), 1);
        assert_eq!(uncovered[0].example_event_id, "ev-2");
    }

    #[test]
    fn a_role_too_large_even_generalized_is_flagged_as_an_error() {
        // Distinct buckets with one object each cannot be generalized within the evidence.
        let role = "arn:aws:iam::111122223333:role/crawler";
        let page = "index/".repeat(60);
        let rows: Vec<EvidenceRow> = (0..200)
            .map(|b| {
                ok_row(
                    role,
                    "s3:GetObject",
                    &format!("arn:aws:s3:::crawl-target-bucket-{b:05}/{page}index.html"),
                    b,
                )
            })
            .collect();
        let p = propose(&rows, &[], &[], &Options::default()).unwrap();
        let r = &p.roles[0];
        assert!(r.managed_policies.len() > size::MANAGED_PER_ROLE);
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == "over-size-limits" && f.severity == "error"));
    }
}
