//! Arguments several commands share, declared once (`#[command(flatten)]`): the same flag means
//! the same thing, with the same help, wherever it appears.

/// `--role`, repeatable: which roles a command covers.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Roles {
    /// Only this role: its ARN (with or without its path) or its name; repeatable. A name that
    /// is no role of the database is an error listing the roles it knows.
    #[arg(long = "role", value_name = "ARN")]
    pub roles: Vec<String>,
}

/// How proposals are synthesized.
#[derive(Debug, Clone, clap::Args)]
pub struct Synthesis {
    /// Distinct S3 objects or SSM parameters under one path before they are granted as a prefix
    /// wildcard (their longest common prefix), and distinct values a counter beside a clock or
    /// id field needs before it varies in a template: 0 never generalizes, else at least 2.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = wildcard_threshold)]
    pub wildcard_threshold: usize,
}

/// A `--wildcard-threshold`: 0, or 2 and more.
fn wildcard_threshold(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(1) => Err(
            "must be 0 (never generalize) or at least 2: a wildcard made from one name \
                      is no generalization"
                .to_string(),
        ),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}
