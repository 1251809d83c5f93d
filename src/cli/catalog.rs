use crate::catalog::update::{self, Origin};

/// Look up the IAM catalog (Service Authorization Reference data), or refresh it from AWS.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// An action's access level, resource types (ARN formats) and condition keys, or with
    /// `--operation` the actions an API operation authorizes, and which copy of the catalog
    /// answered (embedded, or cached by `catalog update`).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["action", "operation"])))]
    Show {
        /// e.g. `s3:GetObject` (case-insensitive).
        action: Option<String>,
        /// An API operation, e.g. `s3:CopyObject`: every IAM action AWS's Service Reference says
        /// it may authorize, with the condition values it gives (`iam:PassedToService`). Only a
        /// catalog cached by `catalog update` has operations; the embedded one has none.
        #[arg(long, value_name = "SERVICE:OPERATION")]
        operation: Option<String>,
    },
    /// Download the current catalog from AWS's Service Authorization Reference into the user
    /// cache ($XDG_CACHE_HOME or ~/.cache, `policy-miner/iam-catalog.json.gz`); later commands
    /// use it instead of the embedded copy. On any failure the cache is left as it was.
    Update {
        /// Where the reference's index is served.
        #[arg(long, value_name = "URL", default_value = update::DEFAULT_ENDPOINT)]
        endpoint: String,
    },
}

impl Args {
    /// `show` reads the catalog only; `update` downloads.
    pub fn is_local(&self) -> bool {
        matches!(self.command, CatalogCommand::Show { .. })
    }
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.command {
        CatalogCommand::Show { action, operation } => {
            let (catalog, origin) = update::active_with_origin();
            let text = match (&action, &operation) {
                (_, Some(op)) => crate::catalog::show::show_operation(catalog, op),
                (Some(action), None) => crate::catalog::show::show_action(catalog, action),
                (None, None) => Err(crate::Error::UnknownAction(
                    "give an action (s3:GetObject) or --operation (s3:CopyObject)".to_string(),
                )),
            }
            .map_err(anyhow::Error::msg)?;
            let operations = if catalog.has_operations() {
                ""
            } else {
                "; no operation data: `catalog update` fetches it"
            };
            let copy = match origin {
                Origin::Embedded => format!(
                    "Copy: embedded in this binary (data of {}{operations})\n",
                    catalog.source_date()
                ),
                Origin::Cached(path) => format!(
                    "Copy: cached by `catalog update` on {}, {}{operations}\n",
                    catalog.source_date(),
                    path.display()
                ),
            };
            write_stdout(&format!("{text}{copy}"))?;
            if let Some(note) = update::cache_note() {
                eprintln!("note: {note}");
            }
            Ok(0)
        }
        CatalogCommand::Update { endpoint } => {
            let done = update::update(&endpoint).map_err(|e| {
                anyhow::anyhow!(
                    "{e}\ncatalog update needs network access to {endpoint}; the cached catalog \
                     (if any) was left as it was and the embedded copy still works offline"
                )
            })?;
            write_stdout(&format!(
                "catalog updated: {} services, {} actions, {} operations from {} ({}), {} bytes, \
                 written to {}\n",
                done.services,
                done.actions,
                done.operations,
                done.source,
                done.date,
                done.bytes,
                done.path.display()
            ))?;
            Ok(0)
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error, and never a panic.
pub(super) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}
