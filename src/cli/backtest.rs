use crate::synth;
use crate::synth::Recorded;
use std::path::PathBuf;

use super::exit::UNSTABLE as EXIT_UNSTABLE;

/// Check a proposal on your own evidence before applying it: mine each role's policy from the
/// evidence recorded before the hold-out window (the last `--holdout` of the evidence), replay
/// every call first seen inside the window against it, and list the calls it would have denied.
///
/// A role is `stable` when every hold-out call is allowed: the proposal would have survived the
/// window. `still growing` means the workload keeps calling new things: collect more evidence
/// before tightening. Exit status 0 when every role is stable, 5 otherwise.
#[derive(Debug, clap::Args)]
#[command(after_help = super::exit::help_for("backtest"))]
pub struct Args {
    #[command(flatten)]
    pub roles: super::args::Roles,

    /// The hold-out window at the end of the evidence: `7d`, `36h`, `2w`…
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = holdout)]
    pub holdout: chrono::Duration,

    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = super::verify::Format::Text)]
    pub format: super::verify::Format,

    #[command(flatten)]
    pub synthesis: super::args::Synthesis,
}

fn holdout(text: &str) -> Result<chrono::Duration, String> {
    let d = crate::observe::window::parse_duration(text).map_err(|e| e.to_string())?;
    if d <= chrono::Duration::zero() {
        return Err("the hold-out window must be longer than zero".into());
    }
    Ok(d)
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let recorded = Recorded::load(&db).await?;
    let opts = synth::Options {
        wildcard_threshold: args.synthesis.wildcard_threshold,
        roles: recorded.select(&args.roles.roles, &db)?,
        split: Default::default(),
    };
    let report = synth::backtest::backtest(
        &recorded.evidence,
        &recorded.ungranted,
        &recorded.definitions,
        &opts,
        args.holdout,
    )
    .map_err(anyhow::Error::msg)?;
    match args.format {
        super::verify::Format::Json => {
            super::catalog::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?
        }
        super::verify::Format::Text => super::catalog::write_stdout(
            &crate::text::printable_lines(&crate::output::backtest::text(&report)),
        )?,
    }
    Ok(if report.is_stable() { 0 } else { EXIT_UNSTABLE })
}
