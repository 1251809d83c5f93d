use crate::output;
use crate::synth::Recorded;
use crate::synth::{self, Proposal};
use std::path::{Path, PathBuf};

/// Propose the minimal policy for each role from the recorded evidence.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `text` (one section per role), `json` (machine-readable contract), `iam`
    /// (role ARN → policy document, or its list of managed policy documents when split for
    /// size), `terraform` (aws_iam_policy_document + aws_iam_role_policy per role),
    /// `cloudformation` (YAML template: AWS::IAM::RolePolicy, or AWS::IAM::ManagedPolicy when
    /// split), `markdown` (a review report per family).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Also write one IAM policy document per role into this directory (`<role-name>.json`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub roles: super::args::Roles,

    #[command(flatten)]
    pub synthesis: super::args::Synthesis,

    /// Also propose one execution role per family in place of an execution role several
    /// families share (the console's `ecsTaskExecutionRole`): each with only its family's
    /// images, log streams, secrets and keys. A role used as both task and execution role is
    /// always proposed split into the two.
    #[arg(long)]
    pub split_shared: bool,

    /// Name a role a split proposes: `<DERIVED>=<NAME>`, where DERIVED is the name it would get
    /// (`<family>-execution`, `<family>-task`). Repeatable.
    #[arg(long, value_name = "DERIVED=NAME", value_parser = parse_rename)]
    pub split_role_name: Vec<(String, String)>,
}

fn parse_rename(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        // IAM role names: 1 to 64 of letters, digits and `+=,.@_-` (IAM API reference, CreateRole).
        Some((from, to))
            if !from.is_empty()
                && (1..=64).contains(&to.len())
                && to
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)) =>
        {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!(
            "{s:?}: expected <DERIVED>=<NAME>, NAME an IAM role name (up to 64 letters, digits, \
             +=,.@_-), e.g. legacy-sync-task=legacy-sync-app"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Iam,
    Terraform,
    Cloudformation,
    Markdown,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let split = synth::split::SplitOptions {
        shared: args.split_shared,
        names: args.split_role_name.iter().cloned().collect(),
    };
    let (_, proposal) = load(
        &db,
        &args.roles.roles,
        args.synthesis.wildcard_threshold,
        split,
    )
    .await?;
    match args.format {
        Format::Json => output::write_json(&proposal, std::io::stdout().lock())
            .map_err(|e| anyhow::anyhow!("cannot write the proposal to standard output: {e}"))?,
        Format::Text => print!("{}", output::text(&proposal)),
        Format::Iam => print!("{}", output::iam::iam(&proposal)),
        Format::Terraform => print!("{}", output::terraform::terraform(&proposal)),
        Format::Cloudformation => {
            print!("{}", output::cloudformation::cloudformation(&proposal))
        }
        Format::Markdown => print!("{}", output::markdown::markdown(&proposal)),
    }
    if let Some(dir) = args.out {
        let written = output::write_policy_files(&proposal, &dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot write policy files: {e}", dir.display()))?;
        eprintln!(
            "wrote {} policy file(s) to {}",
            written.len(),
            dir.display()
        );
    }
    Ok(0)
}

/// The database at `db`, and its proposal for the roles `--role` names (all without one).
pub(super) async fn load(
    db: &Path,
    roles: &[String],
    wildcard_threshold: usize,
    split: synth::split::SplitOptions,
) -> anyhow::Result<(Recorded, Proposal)> {
    let recorded = Recorded::load(db).await?;
    let opts = synth::Options {
        wildcard_threshold,
        roles: recorded.select(roles, db)?,
        split,
    };
    let mut proposal = synth::propose(
        &recorded.evidence,
        &recorded.ungranted,
        &recorded.definitions,
        &opts,
    )
    .map_err(anyhow::Error::msg)?;
    synth::overrides::annotate(&mut proposal.roles, &recorded.overrides);
    Ok((recorded, proposal))
}
