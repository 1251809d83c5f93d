//! Every exit status the binary returns, in one table: the top-level help and each command's help
//! are written from it, so a status a command returns cannot be left out of what its help says.

pub const SUCCESS: i32 = 0;
pub const ERROR: i32 = 1;
/// Usage errors (clap uses it too).
pub const USAGE: i32 = 2;
pub const INPUT_SKIPPED: i32 = 3;
pub const UNCOVERED: i32 = 4;
pub const UNSTABLE: i32 = 5;
pub const TIGHTENING_POSSIBLE: i32 = 10;
pub const REFUSED: i32 = 11;
/// 128 + SIGINT, as shells report a program stopped by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// One status: for every command (`None`), or what it means for one command.
struct Status {
    code: i32,
    command: Option<&'static str>,
    meaning: &'static str,
}

const fn all(code: i32, meaning: &'static str) -> Status {
    Status {
        code,
        command: None,
        meaning,
    }
}

const fn of(command: &'static str, code: i32, meaning: &'static str) -> Status {
    Status {
        code,
        command: Some(command),
        meaning,
    }
}

const TABLE: &[Status] = &[
    all(SUCCESS, "success"),
    all(ERROR, "error (the message on stderr says what failed)"),
    all(USAGE, "usage error"),
    of("observe", SUCCESS, "everything was read"),
    of(
        "observe",
        INPUT_SKIPPED,
        "some input was skipped (each skipped file is named on stderr, with the reason)",
    ),
    of(
        "observe",
        INTERRUPTED,
        "interrupted by Ctrl-C or SIGTERM: the files finished were recorded; run the same \
         command again to read the rest",
    ),
    of("import", SUCCESS, "every file was imported or already in"),
    of(
        "import",
        INPUT_SKIPPED,
        "some file or row was skipped (each is named on stderr, the rest was imported)",
    ),
    of("verify", UNCOVERED, "some observed call would be denied"),
    of(
        "backtest",
        UNSTABLE,
        "a proposal mined before the hold-out window would have denied some of its calls",
    ),
    of(
        "tighten",
        SUCCESS,
        "nothing to tighten (or everything asked was applied)",
    ),
    of(
        "tighten",
        ERROR,
        "an error for a role (e.g. access denied) or for the run; a role gone from IAM is reported \
         as `not in IAM` and, like a skipped role, leaves the status to the other roles",
    ),
    of(
        "tighten",
        TIGHTENING_POSSIBLE,
        "tightening is possible (dry run: review, then --apply)",
    ),
    of(
        "tighten",
        REFUSED,
        "--apply was refused for a role (the reasons name their override flags, or the rollback \
         that clears a change left unfinished)",
    ),
];

/// The "Exit status" section of the top-level help: each status with its general meaning and
/// what it means for the commands that return it.
pub fn help() -> String {
    let mut codes: Vec<i32> = TABLE.iter().map(|s| s.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = String::from("Exit status:");
    for code in codes {
        let meanings: Vec<String> = TABLE
            .iter()
            .filter(|s| s.code == code)
            .map(|s| match s.command {
                None => s.meaning.to_string(),
                Some(c) => format!("`{c}`: {}", s.meaning),
            })
            .collect();
        out.push_str(&format!("\n  {code:<4} {}", meanings.join("; ")));
    }
    out
}

/// The "Exit status" section of `command`'s help: its own statuses, and the general ones it
/// does not give a meaning of its own.
pub fn help_for(command: &str) -> String {
    let own = |code: i32| {
        TABLE
            .iter()
            .any(|t| t.command == Some(command) && t.code == code)
    };
    let mut rows: Vec<&Status> = TABLE
        .iter()
        .filter(|s| s.command == Some(command) || (s.command.is_none() && !own(s.code)))
        .collect();
    rows.sort_by_key(|s| s.code);
    let mut out = String::from("Exit status:");
    for s in rows {
        out.push_str(&format!("\n  {:<4} {}", s.code, s.meaning));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_is_listed_once_per_command() {
        let mut seen: Vec<(i32, Option<&str>)> =
            TABLE.iter().map(|s| (s.code, s.command)).collect();
        seen.sort_unstable();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n);
    }

    #[test]
    fn a_command_help_lists_its_own_meanings_and_the_general_ones() {
        let tighten = help_for("tighten");
        assert!(tighten.contains("10   tightening is possible"), "{tighten}");
        assert!(tighten.contains("2    usage error"), "{tighten}");
        assert!(!tighten.contains("0    success"), "{tighten}");
        assert!(!tighten.contains("everything was read"), "{tighten}");
    }
}
