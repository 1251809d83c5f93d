//! Every exit status the binary returns, in one table: the top-level help is written from it, so
//! a status added to a command and to this table cannot be left out of the help.

use crate::{observe, tighten};

/// Exit status for usage errors (clap uses it too).
pub const EXIT_USAGE: i32 = 2;

/// Each status and what it means; the commands that return it are named in backticks.
const STATUSES: &[(i32, &str)] = &[
    (0, "success"),
    (1, "error (the message on stderr says what failed)"),
    (EXIT_USAGE, "usage error"),
    (
        observe::EXIT_INPUT_SKIPPED,
        "`observe` or `import` skipped some input (each skipped file or row is named on stderr)",
    ),
    (
        super::verify::EXIT_UNCOVERED,
        "`verify` found observed calls the policy would deny",
    ),
    (
        super::backtest::EXIT_UNSTABLE,
        "`backtest` found calls a proposal mined before the hold-out window would have denied",
    ),
    (
        tighten::EXIT_TIGHTENING_POSSIBLE,
        "`tighten` found a role to tighten (dry run: review, then --apply)",
    ),
    (
        tighten::EXIT_REFUSED,
        "`tighten --apply` was refused for a role (the reasons name their override flags)",
    ),
    (
        observe::EXIT_INTERRUPTED,
        "`observe` was interrupted by Ctrl-C or SIGTERM (run it again to read the rest)",
    ),
];

/// The "Exit status" section of the top-level help.
pub fn help() -> String {
    let mut out = String::from("Exit status:");
    for (code, meaning) in STATUSES {
        out.push_str(&format!("\n  {code:<4} {meaning}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_status_is_listed_once() {
        let mut codes: Vec<i32> = super::STATUSES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), super::STATUSES.len());
    }
}
