//! The periodic tightening job: compare each role's current IAM permissions with what the evidence
//! shows it uses, validate the mined replacement, and (only when asked, and only past every gate)
//! write it, keeping the previous documents so that `rollback` can restore them exactly.
//!
//! Roles are matched to IAM by NAME: the evidence's ARN gives the name, and the account must be
//! the one the credentials belong to (a mismatch is an error for that role, not a guess).

pub mod aws;
pub mod compare;
pub mod drift;
pub mod gates;
pub mod history;
pub mod iam;
pub mod pattern;
pub mod replacement;
pub mod rollback;
pub mod scope;
pub mod split;
pub mod validate;

use crate::attribution::RoleKey;
use crate::policy::PolicyDocument;
use crate::store::{EvidenceRow, Store};
use crate::synth::Recorded;
use crate::synth::{self, RoleProposal};
use serde::Serialize;
use std::path::Path;

/// Default name of the inline policy tighten writes.
pub const DEFAULT_POLICY_NAME: &str = "policy-miner";

#[derive(Debug, Clone)]
pub struct Options {
    pub roles: Vec<String>,
    pub families: Vec<String>,
    pub apply: bool,
    pub policy_name: String,
    pub remove_inline: bool,
    pub detach_managed: bool,
    pub thresholds: gates::Thresholds,
    pub carry: replacement::CarryOptions,
    pub access_analyzer: bool,
    pub wildcard_threshold: usize,
    pub max_attempts: u32,
    /// Recommend splitting shared execution roles per family (see `synth::split`).
    pub split_shared: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicySummary {
    pub kind: &'static str,
    /// Inline: the policy name; managed: the policy ARN.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub size: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleReport {
    pub role_arn: String,
    pub role_name: String,
    /// The role as IAM names it (its path may differ from the evidence's ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_role_arn: Option<String>,
    /// `dry run`, `applied`, `refused`, `nothing to tighten`, `error`, `skipped` (a role tighten
    /// must not change, or one no task definition names when none was asked for) or `not in IAM`.
    pub outcome: &'static str,
    /// Why the role was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub current_policies: Vec<PolicySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<gates::Window>,
    /// The proposal mined before the last week of evidence, replayed against that week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest: Option<crate::synth::backtest::RoleBacktest>,
    pub granted_but_never_observed: Vec<compare::UnusedActions>,
    pub granted_more_broadly_than_observed: Vec<compare::BroaderGrant>,
    pub observed_but_not_granted: Vec<compare::FailingCall>,
    pub carried_over: Vec<replacement::Carried>,
    /// The document `--apply` writes (or wrote) as the inline policy `policy_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<PolicyDocument>,
    pub policy_name: String,
    /// Non-whitespace characters: of the replacement, and of all inline policies after an apply.
    pub replacement_size: usize,
    pub inline_size_after: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<validate::Validation>,
    /// Why `--apply` was (or would be) refused; each names its override flag, or the command that
    /// clears it.
    pub refusals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<i64>,
    pub notes: Vec<String>,
    /// The roles `propose` recommends in place of this one, and the commands that make them:
    /// tighten never creates a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<split::SplitRecommendation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub caller: aws::Caller,
    pub applied: bool,
    pub roles: Vec<RoleReport>,
}

impl RoleReport {
    /// The report of a role nothing was done for yet (outcome `error` until something is).
    fn empty(role_arn: &str, policy_name: &str) -> RoleReport {
        RoleReport {
            role_arn: role_arn.to_string(),
            role_name: RoleKey::parse(role_arn)
                .map(|k| k.name)
                .unwrap_or_else(|| role_arn.to_string()),
            iam_role_arn: None,
            outcome: "error",
            skipped_because: None,
            error: None,
            current_policies: Vec::new(),
            evidence: None,
            backtest: None,
            granted_but_never_observed: Vec::new(),
            granted_more_broadly_than_observed: Vec::new(),
            observed_but_not_granted: Vec::new(),
            carried_over: Vec::new(),
            replacement: None,
            policy_name: policy_name.to_string(),
            replacement_size: 0,
            inline_size_after: 0,
            validation: None,
            refusals: Vec::new(),
            change_id: None,
            notes: Vec::new(),
            split: None,
        }
    }
}

/// Evidence, proposals and the role selection, from the store.
pub struct Inputs {
    pub evidence: Vec<EvidenceRow>,
    pub proposals: Vec<RoleProposal>,
    /// Each selected role's proposal mined before the last week, replayed against that week.
    pub backtest: crate::synth::backtest::Backtest,
    /// The selected roles tighten leaves alone, with the reason.
    pub skipped: Vec<scope::Skipped>,
}

pub async fn load(db: &Path, opts: &Options) -> Result<Inputs, crate::Error> {
    let recorded = Recorded::load(db).await?;
    let synth_opts = synth::Options {
        wildcard_threshold: opts.wildcard_threshold,
        roles: recorded.select(&opts.roles, db)?,
        split: synth::split::SplitOptions {
            shared: opts.split_shared,
            ..Default::default()
        },
    };
    let Recorded {
        evidence,
        ungranted,
        definitions,
        ..
    } = recorded;
    let proposal = synth::propose(&evidence, &ungranted, &definitions, &synth_opts)?;
    let backtest = synth::backtest::backtest(
        &evidence,
        &ungranted,
        &definitions,
        &synth_opts,
        chrono::Duration::days(gates::BACKTEST_HOLDOUT_DAYS),
    )?;
    let mut proposals: Vec<RoleProposal> = proposal
        .roles
        .into_iter()
        .filter(|p| {
            opts.families.is_empty() || p.families.iter().any(|f| opts.families.contains(f))
        })
        .collect();
    proposals.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
    let chosen = !opts.roles.is_empty() || !opts.families.is_empty();
    if proposals.is_empty() && (!opts.roles.is_empty() || !opts.families.is_empty()) {
        return Err(crate::Error::NoEvidenceFor {
            db: db.to_path_buf(),
            wanted: opts
                .roles
                .iter()
                .map(|r| format!("role {r}"))
                .chain(opts.families.iter().map(|f| format!("family {f}")))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let (proposals, skipped) = scope::split(proposals, chosen);
    Ok(Inputs {
        evidence,
        proposals,
        backtest,
        skipped,
    })
}

/// Compares, validates and (with `opts.apply`) applies, role by role.
pub async fn run(db: &Path, opts: &Options) -> Result<Report, crate::Error> {
    let inputs = load(db, opts).await?;
    let now = gates::now()?;
    let config = aws::sdk_config(opts.max_attempts).await;
    let iam_client = aws_sdk_iam::Client::new(&config);
    let aa_client = aws_sdk_accessanalyzer::Client::new(&config);
    let caller = aws::caller(&config).await;
    // Read in a dry run too: a change left unfinished must be reported before anyone applies.
    let store = Store::open(db, false).await?;
    let changes = history::list(&store, None).await?;
    let mut analyzer = if opts.access_analyzer {
        Analyzer::Untried(&aa_client)
    } else {
        Analyzer::Unavailable("not asked: --no-access-analyzer".to_string())
    };
    let mut roles = Vec::new();
    for proposal in &inputs.proposals {
        let rows: Vec<&EvidenceRow> = inputs
            .evidence
            .iter()
            .filter(|r| r.role_arn == proposal.role_arn)
            .collect();
        let ctx = RoleContext {
            iam: &iam_client,
            caller: &caller,
            store: &store,
            history: &changes,
            opts,
            now,
            backtest: inputs.backtest.role(&proposal.role_arn),
        };
        roles.push(tighten_role(&ctx, proposal, &rows, &mut analyzer).await);
    }
    store.close().await;
    roles.extend(inputs.skipped.into_iter().map(|s| {
        let mut report = RoleReport::empty(&s.role_arn, &opts.policy_name);
        report.outcome = "skipped";
        report.skipped_because = Some(s.reason);
        report
    }));
    roles.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
    Ok(Report {
        caller,
        applied: opts.apply,
        roles,
    })
}

/// Access Analyzer is asked until it fails once; then every later role uses the built-in checks
/// with the same reason (one unreachable endpoint should not cost a timeout per role).
enum Analyzer<'a> {
    Untried(&'a aws_sdk_accessanalyzer::Client),
    Available(&'a aws_sdk_accessanalyzer::Client),
    Unavailable(String),
}

struct RoleContext<'a> {
    iam: &'a aws_sdk_iam::Client,
    caller: &'a aws::Caller,
    store: &'a Store,
    /// Every change recorded in the database, oldest first.
    history: &'a [history::Change],
    opts: &'a Options,
    now: chrono::DateTime<chrono::Utc>,
    /// The role's backtest (none without a successful call).
    backtest: Option<&'a crate::synth::backtest::RoleBacktest>,
}

async fn tighten_role(
    ctx: &RoleContext<'_>,
    proposal: &RoleProposal,
    rows: &[&EvidenceRow],
    analyzer: &mut Analyzer<'_>,
) -> RoleReport {
    let opts = ctx.opts;
    let key = RoleKey::parse(&proposal.role_arn);
    let role_name = key
        .as_ref()
        .map(|k| k.name.clone())
        .unwrap_or_else(|| proposal.role_arn.clone());
    let mut report = RoleReport::empty(&proposal.role_arn, &opts.policy_name);
    report.role_name = role_name.clone();
    report.evidence = gates::window(rows, ctx.now);
    report.backtest = ctx.backtest.cloned();
    report.split = proposal.split.as_deref().map(split::recommend);
    if let (Some(theirs), Some(ours)) = (
        key.as_ref().and_then(|k| k.account.as_deref()),
        ctx.caller.account.as_deref(),
    ) {
        if theirs != ours {
            report.error = Some(format!(
                "the role is in account {theirs} but the credentials ({}) are for account {ours}; \
                 run with credentials for {theirs}",
                ctx.caller.arn
            ));
            return report;
        }
    }
    if ctx.caller.account.is_none() {
        report.notes.push(format!(
            "caller account unknown ({}): the role was looked up by name only",
            ctx.caller
                .unknown_because
                .as_deref()
                .unwrap_or("no reason given")
        ));
    }
    let current = match iam::read_role(ctx.iam, &role_name).await {
        Ok(c) => c,
        Err(e) => {
            // A role deleted since its evidence is no failure of the run: the other roles'
            // outcomes decide the exit status, so a scheduled job still tells them apart.
            if e.kind == aws::ErrorKind::NoSuchEntity {
                report.outcome = "not in IAM";
                report.notes.push(format!(
                    "role {role_name} is not in IAM (deleted or renamed since the evidence was \
                     recorded), so there is nothing to tighten: {}",
                    e.message
                ));
            } else {
                report.error = Some(e.message);
            }
            return report;
        }
    };
    if !current.role_arn.is_empty() && current.role_arn != proposal.role_arn {
        report.notes.push(format!(
            "IAM knows this role as {}; matched by name",
            current.role_arn
        ));
    }
    report.iam_role_arn = Some(current.role_arn.clone());
    report.current_policies = current
        .inline
        .iter()
        .map(|p| PolicySummary {
            kind: "inline",
            name: p.name.clone(),
            version_id: None,
            size: replacement::policy_size(&p.text),
        })
        .chain(current.managed.iter().map(|p| PolicySummary {
            kind: if p.aws_managed {
                "aws-managed"
            } else {
                "customer-managed"
            },
            name: p.arn.clone(),
            version_id: Some(p.version_id.clone()),
            size: replacement::policy_size(&replacement::to_text(&p.document)),
        }))
        .collect();

    let documents = current.documents();
    let current_docs: Vec<&PolicyDocument> = documents.iter().map(|(_, d)| *d).collect();
    let replacement::Replacement {
        document: doc,
        carried,
        sid_conflicts,
    } = replacement::build(&proposal.policy, &documents, opts.carry);
    let catalog = crate::catalog::active();
    let comparison = compare::compare(catalog, &documents, &doc, proposal, rows);
    let text = replacement::to_text(&doc);
    report.replacement_size = replacement::policy_size(&text);
    report.inline_size_after = report.replacement_size
        + current
            .inline
            .iter()
            .filter(|p| !opts.remove_inline && p.name != opts.policy_name)
            .map(|p| replacement::policy_size(&p.text))
            .sum::<usize>();

    let mut problems = validate::built_in(catalog, &proposal.policy, &current_docs);
    let mut notes = Vec::new();
    let existing = replacement::to_text(&validate::combined(&current_docs));
    let method = loop {
        match analyzer {
            Analyzer::Untried(c) | Analyzer::Available(c) => {
                let client = *c;
                match validate::access_analyzer(client, &text, &existing).await {
                    Ok(v) => {
                        *analyzer = Analyzer::Available(client);
                        problems.extend(v.problems);
                        notes.extend(v.notes);
                        break "Access Analyzer (ValidatePolicy, CheckNoNewAccess) and built-in checks"
                            .to_string();
                    }
                    Err(e) => *analyzer = Analyzer::Unavailable(e.message),
                }
            }
            Analyzer::Unavailable(why) => {
                break format!("built-in checks (Access Analyzer unavailable: {why})")
            }
        }
    };
    let passed = problems.is_empty();
    report.validation = Some(validate::Validation {
        method,
        passed,
        problems,
        notes,
    });
    report.granted_but_never_observed = comparison.unused_actions.clone();
    report.granted_more_broadly_than_observed = comparison.broader_resources.clone();
    report.observed_but_not_granted = comparison.failing_today.clone();
    report.carried_over = carried;
    report.replacement = Some(doc.clone());

    let unfinished = unfinished_refusal(ctx, &proposal.role_arn, &role_name);
    let mut refusals: Vec<String> = unfinished.iter().cloned().collect();
    refusals.extend(gates::evidence_refusals(
        report.evidence.as_ref(),
        opts.thresholds,
    ));
    refusals.extend(gates::backtest_refusal(
        report.backtest.as_ref(),
        opts.thresholds,
    ));
    refusals.extend(sid_conflicts);
    if !passed {
        refusals.push(
            "validation failed (its problems are listed with it): the proposal would not be a safe \
             replacement"
                .to_string(),
        );
    }
    let sizes = replacement::InlineSizes {
        proposal: proposal.policy_characters,
        replacement: report.replacement_size,
        after: report.inline_size_after,
    };
    refusals.extend(replacement::size_refusal(
        sizes,
        &proposal.role_arn,
        proposal.managed_policies.len(),
        opts.wildcard_threshold,
    ));
    // A role a change may have left half done is never "nothing to tighten": its refusal must be
    // seen, and the exit status must not say all is well.
    if unfinished.is_none() && !comparison.can_tighten() {
        report.outcome = "nothing to tighten";
        return report;
    }
    if !opts.apply {
        report.refusals = refusals;
        report.outcome = "dry run";
        return report;
    }
    if !refusals.is_empty() {
        report.refusals = refusals;
        report.outcome = "refused";
        return report;
    }
    match apply(ctx, &current, &text, &doc, &report).await {
        Ok(id) => {
            report.change_id = Some(id);
            report.outcome = "applied";
            if !opts.remove_inline && current.inline.iter().any(|p| p.name != opts.policy_name) {
                report.notes.push(
                    "other inline policies were kept (--remove-inline removes them): their grants \
                     still apply"
                        .to_string(),
                );
            }
            if !opts.detach_managed && !current.managed.is_empty() {
                report.notes.push(
                    "managed policies stay attached (--detach-managed detaches them): their \
                     grants still apply"
                        .to_string(),
                );
            }
        }
        Err((id, e)) => {
            report.change_id = id;
            report.error = Some(e);
        }
    }
    report
}

/// Why `--apply` must not write over a change to the role that never finished (None if none).
fn unfinished_refusal(ctx: &RoleContext<'_>, role_arn: &str, role_name: &str) -> Option<String> {
    let changes: Vec<history::Change> = ctx
        .history
        .iter()
        .filter(|c| c.role_name == role_name)
        .cloned()
        .collect();
    let change = history::unfinished(&changes)?;
    Some(format!(
        "change {} ({}, started {} by {}) never finished: policy-miner was stopped between its IAM \
         writes, so role {role_name} may be left half changed. `policy-miner rollback --db {} \
         --role {role_arn}` restores the state from before it; tighten can apply after that",
        change.id,
        change.kind,
        change.started_at,
        change.principal_arn,
        ctx.store.path().display()
    ))
}

/// Stores the previous documents, then writes, then records what the writes left. Returns the
/// change id, or the error with the id when the change was recorded (so `rollback --to` can undo a
/// partial apply).
async fn apply(
    ctx: &RoleContext<'_>,
    current: &iam::CurrentPermissions,
    text: &str,
    doc: &PolicyDocument,
    report: &RoleReport,
) -> Result<i64, (Option<i64>, String)> {
    let opts = ctx.opts;
    let store = ctx.store;
    let name = &current.role_name;
    let previous = rollback::previous_of(current);
    let removed: Vec<&str> = current
        .inline
        .iter()
        .filter(|p| opts.remove_inline && p.name != opts.policy_name)
        .map(|p| p.name.as_str())
        .collect();
    let detached: Vec<&str> = current
        .managed
        .iter()
        .filter(|_| opts.detach_managed)
        .map(|p| p.arn.as_str())
        .collect();
    let summary = serde_json::json!({
        "wrote": opts.policy_name,
        "removed_inline": removed,
        "detached_managed": detached,
        "validation": report.validation.as_ref().map(|v| v.method.clone()),
        "replacement_size": report.replacement_size,
    });
    let id = history::begin(
        store,
        history::NewChange {
            role_arn: &report.role_arn,
            role_name: name,
            kind: "apply",
            principal_arn: &ctx.caller.arn,
            policy_name: &opts.policy_name,
            new_document: Some(text),
            restores: None,
            summary,
            previous: &previous,
        },
    )
    .await
    .map_err(|e| {
        (
            None,
            format!("the previous documents could not be stored, nothing was written: {e}"),
        )
    })?;
    let result: Result<iam::CurrentPermissions, aws::AwsError> = async {
        iam::put_inline(ctx.iam, name, &opts.policy_name, text).await?;
        for p in &removed {
            iam::delete_inline(ctx.iam, name, p).await?;
        }
        for arn in &detached {
            iam::detach(ctx.iam, name, arn).await?;
        }
        let back = iam::read_role(ctx.iam, name).await?;
        let written = back.inline.iter().find(|p| p.name == opts.policy_name);
        if written.map(|p| &p.document) != Some(doc) {
            return Err(aws::AwsError {
                kind: aws::ErrorKind::Other,
                message: format!(
                    "read back from IAM, inline policy {} of role {name} differs from what was \
                     written",
                    opts.policy_name
                ),
            });
        }
        Ok(back)
    }
    .await;
    let after = rollback::state_after(ctx.iam, name, &result).await;
    let error = result.err().map(|e| {
        format!(
            "{}; the previous documents are stored: `policy-miner rollback --role {} --to {id}` \
             restores them",
            e.message, report.role_arn
        )
    });
    if let Err(e) = history::finish(store, id, error.as_deref(), after.as_ref()).await {
        return Err((
            Some(id),
            format!("change {id} could not be marked finished: {e}"),
        ));
    }
    match error {
        None => Ok(id),
        Some(e) => Err((Some(id), e)),
    }
}
