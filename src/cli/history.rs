use crate::store::Store;
use crate::tighten::history;
use std::path::PathBuf;

/// List the changes `tighten --apply` and `rollback` made: when, to which role, by whom.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this role (ARN or name).
    #[arg(long, value_name = "ARN")]
    pub role: Option<String>,

    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = super::tighten::Format::Text)]
    pub format: super::tighten::Format,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    let name = match &args.role {
        Some(r) => Some(
            crate::attribution::RoleKey::parse(r)
                .map(|k| k.name)
                .ok_or_else(|| anyhow::anyhow!("{r:?} is not a role ARN or name"))?,
        ),
        None => None,
    };
    let store = Store::open(&db, false).await?;
    let changes = history::list(&store, name.as_deref()).await?;
    store.close().await;
    match args.format {
        super::tighten::Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&changes).unwrap_or_default()
        ),
        super::tighten::Format::Text => print!(
            "{}",
            crate::text::printable_lines(&crate::output::tighten::history_text(&changes))
        ),
    }
    Ok(0)
}
