//! Issue 13, tried as an attacker would: names in a trail and a client of the proxy sidecar are
//! input other people control. Each test names what the attacker sends, what the user sees, and
//! what must stay untouched.

use crate::common::{role_event, run, stderr, stdout};
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;

/// A trail whose events come from sessions of the roles `issuers` (issuer ARNs as the trail
/// writes them, whatever they hold), each reading a parameter of its own; and the task
/// definitions `taskdefs` (register-task-definition input). Returns the database observed.
fn observed(dir: &Path, issuers: &[&str], taskdefs: &[serde_json::Value]) -> String {
    let records: Vec<_> = issuers
        .iter()
        .enumerate()
        .map(|(i, issuer)| {
            let mut e = role_event(
                &format!("ev-{i}"),
                "2026-11-20T10:00:00Z",
                "placeholder",
                &format!("/p{i}"),
            );
            let name = issuer.rsplit('/').next().unwrap();
            e["userIdentity"]["arn"] =
                format!("arn:aws:sts::111122223333:assumed-role/{name}/task-{i}").into();
            e["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (*issuer).into();
            e
        })
        .collect();
    let trail = dir.join("trail.json");
    std::fs::write(
        &trail,
        serde_json::json!({ "Records": records }).to_string(),
    )
    .unwrap();
    let defs = dir.join("taskdefs");
    std::fs::create_dir_all(&defs).unwrap();
    for (i, def) in taskdefs.iter().enumerate() {
        std::fs::write(defs.join(format!("{i}.json")), def.to_string()).unwrap();
    }
    let db = dir.join("evidence.db").display().to_string();
    let out = run(&[
        "observe",
        "--db",
        &db,
        "--task-definitions",
        defs.to_str().unwrap(),
        trail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "observe: {}", stderr(&out));
    db
}

fn propose(db: &str, format: &str) -> String {
    let out = run(&["propose", "--db", db, "--format", format]);
    assert!(out.status.success(), "propose: {}", stderr(&out));
    stdout(&out)
}

/// A role ARN and a family that break out of a comment line into a top-level resource.
const HCL_BREAKOUT: &str =
    "arn:aws:iam::111122223333:role/app\nresource \"null_resource\" \"pwned\" {}\n#";
const FAMILY_BREAKOUT: &str = "web\nresource \"null_resource\" \"family\" {}\n#";
/// The same through YAML 1.1's line separator, and a terminal escape that clears the screen.
const YAML_BREAKOUT: &str = "arn:aws:iam::111122223333:role/ops\u{2028}  Pwned:\u{2028}    Type: \"AWS::IAM::User\"\u{2028}#";
const TERMINAL_ESCAPE: &str = "arn:aws:iam::111122223333:role/esc\u{1b}[2J\u{1b}]0;owned\u{7}";

fn hostile_db(dir: &Path) -> String {
    observed(
        dir,
        &[HCL_BREAKOUT, YAML_BREAKOUT, TERMINAL_ESCAPE],
        &[serde_json::json!({
            "family": FAMILY_BREAKOUT,
            "taskRoleArn": HCL_BREAKOUT,
            "containerDefinitions": [{"name": "c", "image": "nginx"}],
        })],
    )
}

#[test]
fn names_with_line_breaks_stay_inside_terraform_comments() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    let text = propose(&db, "terraform");
    let body: hcl::Body = hcl::parse(&text).expect("the Terraform output parses");
    let kinds: Vec<String> = body
        .blocks()
        .map(|b| {
            format!(
                "{} {}",
                b.identifier(),
                b.labels().first().map(|l| l.as_str()).unwrap_or("")
            )
        })
        .collect();
    assert!(
        kinds
            .iter()
            .all(|k| k == "data aws_iam_policy_document" || k == "resource aws_iam_role_policy"),
        "a name declared a block of its own: {kinds:?}\n{text}"
    );
    // Three roles, each a document and the policy on the role: nothing more, nothing less.
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert!(text.contains("role/app\\u{000a}resource"), "{text}");
}

#[test]
fn names_with_unicode_line_separators_stay_inside_cloudformation_comments() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    let text = propose(&db, "cloudformation");
    for c in ['\u{2028}', '\u{2029}', '\u{85}', '\u{1b}'] {
        assert!(!text.contains(c), "{c:?} is written raw:\n{text}");
    }
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("the template parses");
    let resources = doc["Resources"].as_mapping().unwrap();
    assert_eq!(resources.len(), 3, "{text}");
    for (_, r) in resources {
        assert_eq!(r["Type"].as_str(), Some("AWS::IAM::RolePolicy"), "{text}");
    }
}

#[test]
fn names_print_without_terminal_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    for format in ["text", "markdown"] {
        let text = propose(&db, format);
        assert!(
            !text.contains('\u{1b}'),
            "{format}: an escape sequence is printed raw"
        );
        assert!(
            !text.contains('\u{2028}'),
            "{format}: a line separator is printed raw"
        );
        assert!(text.contains("role/esc\\u{001b}[2J"), "{format}:\n{text}");
        // Each role's heading is one line: no name starts a line of its own.
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("resource \"null_resource\"")),
            "{format}:\n{text}"
        );
    }
}

#[test]
fn propose_out_writes_inside_its_directory_whatever_the_trail_names() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let escape = format!(
        "arn:aws:iam::/../../../../../../..{}/x:role/r",
        outside.path().display()
    );
    let db = observed(
        dir.path(),
        &[&escape, "arn:aws:iam::111122223333:role/r"],
        &[],
    );
    let out_dir = dir.path().join("policies");
    let out = run(&["propose", "--db", &db, "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote 2 policy file(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 2);
    assert!(out_dir.join("111122223333-r.json").exists());
}

/// The formatter `terraform fmt` runs (HashiCorp's hclwrite, built to WebAssembly in the npm
/// package `@cdktf/hcl-tools`), which `.ci/run` installs under `.ci/node_modules`.
fn hclwrite_format(text: &str) -> Option<String> {
    if std::env::var("POLICY_MINER_SKIP_HCLWRITE").as_deref() == Ok("1") {
        eprintln!("skipping: POLICY_MINER_SKIP_HCLWRITE=1");
        return None;
    }
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci");
    assert!(
        ci.join("node_modules/@cdktf/hcl-tools").is_dir(),
        "hclwrite is missing: run `npm install --prefix .ci @cdktf/hcl-tools@0.21.0` (.ci/run \
         does), or set POLICY_MINER_SKIP_HCLWRITE=1 to skip"
    );
    let mut child = Command::new("node")
        .arg(ci.join("hclfmt.js"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hclwrite failed");
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn terraform_output_is_as_terraform_fmt_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    // The fleet has conditions, multi-value lists and managed-policy splits' attachments.
    let (_fleet_dir, fleet) = crate::common::fleet_db();
    for db in [db, fleet] {
        let text = propose(&db, "terraform");
        let Some(formatted) = hclwrite_format(&text) else {
            return;
        };
        assert_eq!(
            formatted.trim_end(),
            text.trim_end(),
            "terraform fmt would rewrite the output"
        );
    }
}

/// Clients that open a tunnel to an AWS host, complete TLS with the proxy's certificate, and go
/// away without reading: right after the handshake, half-way through a request, and with a reset.
const RUDE_CLIENTS: &str = r#"
import os, socket, ssl, struct, sys
host, port = os.environ["PROXY"].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["CA"])
for i in range(12):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"CONNECT s3.amazonaws.com:443 HTTP/1.1\r\nHost: s3.amazonaws.com:443\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1024)
        if not chunk:
            sys.exit("the proxy closed the tunnel: %r" % head)
        head += chunk
    if b" 200" not in head.split(b"\r\n")[0]:
        sys.exit("no tunnel: %r" % head)
    t = ctx.wrap_socket(s, server_hostname="s3.amazonaws.com")
    if i % 3 == 1:
        t.sendall(b"GET /b/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\nAuthorization: AWS4-HMAC-SHA256 x\r\n\r\n")
    if i % 3 == 2:
        t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    t.close()
"#;

#[test]
fn clients_that_leave_without_reading_do_not_stop_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let (proxy, url) = crate::proxy::start_proxy(&dir.path().join("live.db"), &ca, &[]);
    let addr = url.trim_start_matches("http://").to_string();
    let out = Command::new("python3")
        .args(["-c", RUDE_CLIENTS])
        .env("PROXY", &addr)
        .env("CA", ca.join("ca.pem"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Whatever the proxy was writing when they left, it is still serving, and stops cleanly.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        std::net::TcpStream::connect(&addr).is_ok(),
        "the proxy no longer accepts connections"
    );
    let (status, rest) = proxy.terminate();
    assert!(status.success(), "the proxy died: {status:?}\n{rest}");
}

/// Names as a trail or a task definition may carry them: IAM's own characters, the characters
/// each output format treats specially, line breaks of every kind, and anything at all.
fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9+=,.@_-]{1,20}",
        "[a-z/.\\\\\"'`$%{}#|:*\n\r\t\u{1b}\u{85}\u{2028}\u{2029}\u{202e} -]{1,30}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever a role's name and its family hold, every output keeps them data: Terraform parses
    /// to the blocks of the roles and nothing else, CloudFormation to their policies with the role
    /// names unchanged, text and markdown print no control or line separator raw, and `--out`
    /// writes one file per role inside its directory.
    #[test]
    fn any_role_or_family_name_stays_data_in_every_output(
        names in proptest::collection::vec((hostile_name(), hostile_name()), 1..4)
    ) {
        use policy_miner::attribution::taskdef::TaskDefinition;
        use policy_miner::output;
        let mut rows = Vec::new();
        let mut defs = Vec::new();
        for (i, (role, family)) in names.iter().enumerate() {
            let arn = format!("arn:aws:iam::{:012}:role/{role}", i + 1);
            rows.push(policy_miner::store::EvidenceRow::call(
                &arn,
                "ssm:GetParameter",
                &format!("arn:aws:ssm:eu-west-1:{:012}:parameter/p", i + 1),
                "2026-11-02T00:00:00Z",
            ));
            defs.push(serde_json::from_value::<TaskDefinition>(serde_json::json!({
                "family": family, "taskRoleArn": arn, "containerDefinitions": [],
            })).unwrap());
        }
        let p = policy_miner::synth::propose(
            &rows, &[], &defs, &policy_miner::synth::Options::default(),
        ).unwrap();
        let roles = p.roles.len();

        let tf = output::terraform::terraform(&p);
        let body: hcl::Body = hcl::parse(&tf).map_err(|e| TestCaseError::fail(format!("{e}\n{tf}")))?;
        let blocks: Vec<String> = body.blocks().map(|b| b.identifier().to_string()).collect();
        prop_assert_eq!(blocks.len(), 2 * roles, "{}", tf);
        let role_attrs: Vec<String> = body
            .blocks()
            .filter_map(|b| b.body().attributes().find(|a| a.key() == "role"))
            .map(|a| match a.expr() {
                hcl::Expression::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        let expected: Vec<String> = p.roles.iter().map(|r| output::role_name(&r.role_arn).to_string()).collect();
        prop_assert_eq!(role_attrs, expected, "{}", tf);

        let cfn = output::cloudformation::cloudformation(&p);
        let doc: serde_yaml::Value = serde_yaml::from_str(&cfn).map_err(|e| TestCaseError::fail(format!("{e}\n{cfn}")))?;
        let resources = doc["Resources"].as_mapping().unwrap();
        prop_assert_eq!(resources.len(), roles, "{}", cfn);
        for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
            prop_assert!(!cfn.contains(c), "{:?} raw in {}", c, cfn);
        }

        for shown in [output::text(&p), output::markdown::markdown(&p)] {
            prop_assert!(
                !shown.chars().any(|c| (c.is_control() && c != '\n') || ('\u{2028}'..='\u{202e}').contains(&c)),
                "{}", shown
            );
        }

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let written = output::write_policy_files(&p, &out).unwrap();
        prop_assert_eq!(written.len(), roles);
        prop_assert_eq!(std::fs::read_dir(&out).unwrap().count(), roles);
        prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
