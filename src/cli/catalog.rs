/// Look up the embedded IAM catalog (Service Authorization Reference data).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// An action's access level, resource types (ARN formats) and condition keys.
    Show {
        /// e.g. `s3:GetObject` (case-insensitive).
        action: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.command {
        CatalogCommand::Show { action } => {
            let text = crate::catalog::show::show_action(crate::catalog::embedded(), &action)
                .map_err(anyhow::Error::msg)?;
            print!("{text}");
            Ok(0)
        }
    }
}
