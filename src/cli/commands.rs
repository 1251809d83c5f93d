//! What each subcommand does with the library.

use super::{CatalogCommand, Cli, Command, Format};
use crate::store::Store;
use crate::{catalog, observe, output, synth};

/// Runs the parsed command; returns the process exit status.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Observe {
            task_definitions,
            inputs,
            quiet,
        } => observe_cmd(cli.db, inputs, task_definitions, quiet).await,
        Command::Propose {
            format,
            out,
            roles,
            wildcard_threshold,
        } => propose_cmd(cli.db, format, out, roles, wildcard_threshold).await,
        Command::Catalog {
            command: CatalogCommand::Show { action },
        } => catalog::show::show_action(catalog::embedded(), &action)
            .map(|text| {
                print!("{text}");
                0
            })
            .map_err(|e| anyhow::anyhow!(e)),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    })
}

async fn observe_cmd(
    db: std::path::PathBuf,
    inputs: Vec<std::path::PathBuf>,
    task_definitions: Vec<std::path::PathBuf>,
    quiet: bool,
) -> anyhow::Result<i32> {
    let summary = observe::run(observe::Options {
        db,
        inputs,
        task_definitions,
    })
    .await?;
    for w in summary.warnings() {
        eprintln!("warning: {w}");
    }
    if !quiet {
        eprint!("{}", summary.render());
    }
    Ok(summary.exit_code())
}

async fn propose_cmd(
    db: std::path::PathBuf,
    format: Format,
    out: Option<std::path::PathBuf>,
    roles: Vec<String>,
    wildcard_threshold: usize,
) -> anyhow::Result<i32> {
    let store = Store::open(&db, false).await?;
    let mut evidence = store.evidence().await?;
    let mut ungranted = store.ungranted().await?;
    let definitions: Vec<_> = store
        .task_definitions()
        .await?
        .into_iter()
        .map(|d| d.definition)
        .collect();
    store.close().await;
    if !roles.is_empty() {
        evidence.retain(|r| roles.contains(&r.role_arn));
        ungranted.retain(|r| roles.contains(&r.role_arn));
        if evidence.is_empty() && ungranted.is_empty() {
            anyhow::bail!(
                "no evidence for {} in {}; `policy-miner propose` without --role lists the roles",
                roles.join(", "),
                db.display()
            );
        }
    }
    let opts = synth::Options { wildcard_threshold };
    let proposal =
        synth::propose(&evidence, &ungranted, &definitions, &opts).map_err(anyhow::Error::msg)?;
    match format {
        Format::Json => println!("{}", output::json(&proposal)),
        Format::Text => print!("{}", output::text(&proposal)),
    }
    if let Some(dir) = out {
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
