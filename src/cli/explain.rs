use super::catalog::write_stdout;
use crate::store::EvidenceRow;
use crate::synth::{GrantEvidence, RoleProposal};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Why each grant of a role's proposal is there: the evidence (count, first and last seen, an
/// example event id) and the rule that produced the action and the resource.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The role (its ARN, as `propose` prints it; the role name alone also works).
    #[arg(long, value_name = "ARN")]
    pub role: String,

    /// Only this action's grants, e.g. `s3:GetObject` (case-insensitive).
    pub action: Option<String>,

    #[command(flatten)]
    pub synthesis: super::args::Synthesis,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let (recorded, proposal) = super::propose::load(
        &db,
        std::slice::from_ref(&args.role),
        args.synthesis.wildcard_threshold,
        Default::default(),
    )
    .await?;
    let role = one_role(&proposal.roles, &args.role)?;
    let evidence: Vec<EvidenceRow> = recorded
        .evidence
        .into_iter()
        .filter(|r| r.role_arn == role.role_arn)
        .collect();
    let role_arn = &role.role_arn;
    let grants: Vec<&GrantEvidence> = role
        .grants
        .iter()
        .filter(|g| {
            args.action
                .as_deref()
                .is_none_or(|a| g.action.eq_ignore_ascii_case(a))
        })
        .collect();
    if grants.is_empty() {
        if let Some(action) = &args.action {
            let actions: BTreeSet<&str> = role.grants.iter().map(|g| g.action.as_str()).collect();
            anyhow::bail!(
                "{role_arn} has no grant of {action}{}; its actions: {}",
                why_not_granted(role, action),
                actions.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    write_stdout(&crate::text::printable_lines(
        &crate::output::explain::explain(role, &grants, &evidence, args.action.is_none()),
    ))?;
    Ok(0)
}

/// When the role did call `action` but every call failed: which calls, since failed calls are
/// never granted (the answer to "why is it not in the policy?").
fn why_not_granted(role: &RoleProposal, action: &str) -> String {
    let failed: Vec<String> = role
        .denied_calls
        .iter()
        .filter(|d| d.action.eq_ignore_ascii_case(action))
        .map(|d| {
            format!(
                "{} call(s) on {} failed with {} (e.g. event {})",
                d.count, d.resource, d.error_code, d.example_event_id
            )
        })
        .collect();
    if failed.is_empty() {
        return String::new();
    }
    format!(
        ": {}; failed calls are never granted (`propose` lists them as denied calls)",
        failed.join(", ")
    )
}

/// The one proposal `wanted` names: the role of that exact ARN, else the only one of that name
/// (paths and bare names differ between task definitions and CloudTrail).
fn one_role<'a>(roles: &'a [RoleProposal], wanted: &str) -> anyhow::Result<&'a RoleProposal> {
    if let Some(exact) = roles.iter().find(|r| r.role_arn == wanted) {
        return Ok(exact);
    }
    match roles {
        [one] => Ok(one),
        [] => anyhow::bail!(
            "no policy to explain for {wanted}: no call of it is in the evidence, and no task \
             definition implies a grant for it"
        ),
        // A bare name that fits roles of several accounts is ambiguous: ask for the ARN.
        several => anyhow::bail!(
            "--role {wanted} names {} roles: {}; give one ARN",
            several.len(),
            several
                .iter()
                .map(|r| r.role_arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
