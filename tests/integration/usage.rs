//! What the help and the READMEs promise is what the binary does: flag ranges, exit statuses, the
//! test command, the quick-start's output.

use crate::common::*;

#[test]
fn a_wildcard_threshold_of_1_is_refused_by_every_command_that_takes_one() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(&dir.path().join("trail"), 1, 5);
    let db = dir.path().join("x.db").display().to_string();
    let trail = dir.path().join("trail").display().to_string();
    assert_eq!(
        run(&["observe", "--db", &db, "-q", &trail]).status.code(),
        Some(0)
    );
    for command in [
        vec!["propose"],
        vec!["verify"],
        vec!["explain", "--role", "orders-task"],
        vec!["tighten"],
    ] {
        let mut args = command.clone();
        args.extend(["--db", &db, "--wildcard-threshold", "1"]);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("at least 2"), "{err}");
        assert!(err.contains("one name"), "{err}");
    }
    for ok in ["0", "2"] {
        let out = run(&["propose", "--db", &db, "--wildcard-threshold", ok]);
        assert_eq!(out.status.code(), Some(0), "{ok}: {}", stderr(&out));
    }
    // Words, whatever the width the help is wrapped to.
    let help = stdout(&run(&["propose", "--help"]))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(help.contains("0 never generalizes"), "{help}");
    assert!(help.contains("at least 2"), "{help}");
}

/// Every exit status the code can return, and the commands that return it.
const EXIT_STATUSES: [(&str, &[&str]); 9] = [
    ("0", &[]),
    ("1", &[]),
    ("2", &[]),
    ("3", &["observe", "import"]),
    ("4", &["verify"]),
    ("5", &["backtest"]),
    ("10", &["tighten"]),
    ("11", &["tighten"]),
    ("130", &["observe"]),
];

#[test]
fn the_top_level_help_lists_every_exit_status() {
    let help = stdout(&run(&["--help"]));
    let section = &help[help.find("Exit status:").expect("an exit status section")..];
    // An entry runs from its code to the next code (the help wraps long lines).
    let starts_entry = |l: &str| l.trim_start().starts_with(|c: char| c.is_ascii_digit());
    for (code, commands) in EXIT_STATUSES {
        let lines: Vec<&str> = section.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("no exit status {code} in\n{section}"));
        let entry: String = std::iter::once(lines[at])
            .chain(
                lines[at + 1..]
                    .iter()
                    .copied()
                    .take_while(|l| !starts_entry(l)),
            )
            .collect::<Vec<_>>()
            .join(" ");
        for command in commands {
            assert!(entry.contains(&format!("`{command}")), "{code}: {entry}");
        }
    }
}

#[test]
fn each_command_help_lists_the_statuses_it_returns() {
    for (command, codes) in [
        ("observe", &["0", "3", "130"][..]),
        ("import", &["0", "3"]),
        ("verify", &["0", "4"]),
        ("backtest", &["0", "5"]),
        ("tighten", &["0", "1", "10", "11"]),
    ] {
        let help = stdout(&run(&[command, "--help"]));
        let section = &help[help.find("Exit status:").expect("an exit status section")..];
        for code in codes {
            assert!(
                section
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{code} "))),
                "{command} --help lacks {code}:\n{section}"
            );
        }
    }
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_readme_documents_the_test_command_ci_runs() {
    let ci = read(".ci/run");
    let command = ci
        .lines()
        .rfind(|l| l.starts_with("cargo test"))
        .expect("a test command in .ci/run");
    let readme = read("README.md");
    let section = &readme[readme.find("Run the tests:").expect("a test section")..];
    let documented = section
        .lines()
        .find(|l| l.starts_with("    cargo "))
        .expect("an indented command after \"Run the tests:\"");
    assert_eq!(documented.trim(), command);
}

#[test]
fn the_example_readme_shows_what_propose_prints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("example.db").display().to_string();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let out = run(&[
        "observe",
        "--db",
        &db,
        "-q",
        "--task-definitions",
        examples.join("taskdefs").to_str().unwrap(),
        examples.join("AWSLogs").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let proposal = stdout(&run(&["propose", "--db", &db]));
    // Each ARN the README quotes is one propose prints.
    let readme = read("examples/README.md");
    let quoted: Vec<&str> = readme
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|q| q.starts_with("arn:"))
        .collect();
    assert!(!quoted.is_empty(), "the README quotes no grant");
    for arn in quoted {
        assert!(
            proposal.contains(&format!("\"{arn}\"")),
            "{arn} not in\n{proposal}"
        );
    }
}
