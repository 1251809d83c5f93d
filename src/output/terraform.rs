//! `--format terraform`: per role, a `data "aws_iam_policy_document"` and the
//! `resource "aws_iam_role_policy"` that puts it on the role (or, for a policy split for size,
//! `aws_iam_policy` + `aws_iam_role_policy_attachment` per part). The roles themselves are not
//! declared: they already exist, and are named by their role name.
//!
//! Strings are HCL templates, so `${` and `%{` are written `$${` and `%%{` (Terraform language,
//! "Strings and Templates"); that keeps IAM's own escapes such as `${*}` intact. The
//! aws_iam_policy_document data source turns `&{` into `${` (its way of writing IAM policy
//! variables), which would change a resource that literally contains `&{`: such a document is
//! written as a JSON string instead.

use super::{role_documents, role_name, unique_ids};
use crate::policy::{Effect, PolicyDocument, Statement};
use crate::synth::Proposal;
use std::fmt::Write as _;

pub fn terraform(proposal: &Proposal) -> String {
    let mut s = String::from(
        "# Least-privilege IAM policies proposed by policy-miner from CloudTrail evidence.\n\
         # Review before applying: each statement's evidence is in `policy-miner propose --format markdown`.\n",
    );
    let labels = unique_ids(proposal, label);
    for (role, base) in proposal.roles.iter().zip(&labels) {
        let docs = role_documents(role);
        let _ = write!(
            s,
            "\n# {} ({})\n",
            crate::text::printable(&role.role_arn),
            if role.usage.is_empty() {
                "in no task definition".to_string()
            } else {
                let kinds: Vec<&str> = role.usage.iter().map(|k| k.as_str()).collect();
                format!(
                    "{} role of {}",
                    kinds.join(" and "),
                    crate::text::printable(&role.families.join(", "))
                )
            }
        );
        for (i, (name, doc)) in docs.iter().enumerate() {
            let id = if docs.len() > 1 {
                format!("{base}_{}", i + 1)
            } else {
                base.clone()
            };
            let policy = if needs_json(doc) {
                let json = serde_json::to_string(doc).unwrap_or_default();
                quote(&json)
            } else {
                document_block(&mut s, &id, doc);
                format!("data.aws_iam_policy_document.{id}.json")
            };
            if role.managed_policies.is_empty() {
                let _ = write!(
                    s,
                    "\nresource \"aws_iam_role_policy\" \"{id}\" {{\n  name   = {}\n  role   = {}\n  policy = {policy}\n}}\n",
                    quote(name),
                    quote(role_name(&role.role_arn)),
                );
            } else {
                let _ = write!(
                    s,
                    "\nresource \"aws_iam_policy\" \"{id}\" {{\n  name   = {}\n  policy = {policy}\n}}\n\
                     \nresource \"aws_iam_role_policy_attachment\" \"{id}\" {{\n  role       = {}\n  policy_arn = aws_iam_policy.{id}.arn\n}}\n",
                    quote(name),
                    quote(role_name(&role.role_arn)),
                );
            }
        }
        if let Some(split) = &role.split {
            super::split::terraform(&mut s, split, base);
        }
    }
    s
}

fn needs_json(doc: &PolicyDocument) -> bool {
    serde_json::to_string(doc)
        .unwrap_or_default()
        .contains("&{")
}

fn document_block(s: &mut String, id: &str, doc: &PolicyDocument) {
    let _ = writeln!(s, "\ndata \"aws_iam_policy_document\" \"{id}\" {{");
    let _ = writeln!(s, "  version = {}", quote(&doc.version));
    for st in &doc.statement {
        statement(s, st);
    }
    s.push_str("}\n");
}

fn statement(s: &mut String, st: &Statement) {
    s.push_str("\n  statement {\n");
    let mut attrs = Vec::new();
    if let Some(sid) = &st.sid {
        attrs.push(("sid", quote(sid)));
    }
    let effect = match st.effect {
        Effect::Allow => "Allow",
        Effect::Deny => "Deny",
    };
    attrs.push(("effect", quote(effect)));
    for (key, values) in [
        ("actions", &st.action),
        ("not_actions", &st.not_action),
        ("resources", &st.resource),
        ("not_resources", &st.not_resource),
    ] {
        if let Some(values) = values {
            attrs.push((key, list(values, "    ")));
        }
    }
    attributes(s, "    ", &attrs);
    for (test, keys) in &st.condition {
        for (variable, values) in keys {
            s.push_str("\n    condition {\n");
            let attrs = [
                ("test", quote(test)),
                ("variable", quote(variable)),
                ("values", list(values, "      ")),
            ];
            attributes(s, "      ", &attrs);
            s.push_str("    }\n");
        }
    }
    s.push_str("  }\n");
}

/// Attribute lines as `terraform fmt` lays them out: the `=` of consecutive one-line attributes
/// aligned, an attribute whose value spans lines left alone (it ends the run).
fn attributes(s: &mut String, indent: &str, attrs: &[(&str, String)]) {
    let mut rest = attrs;
    while let Some((key, value)) = rest.first() {
        if value.contains('\n') {
            let _ = writeln!(s, "{indent}{key} = {value}");
            rest = &rest[1..];
            continue;
        }
        let run = rest
            .iter()
            .position(|(_, v)| v.contains('\n'))
            .unwrap_or(rest.len());
        let width = rest[..run].iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in &rest[..run] {
            let _ = writeln!(s, "{indent}{key:<width$} = {value}");
        }
        rest = &rest[run..];
    }
}

/// A list value for an attribute at `indent`: one line for one value, else one value a line.
fn list(values: &[String], indent: &str) -> String {
    if values.len() <= 1 {
        return format!(
            "[{}]",
            values
                .iter()
                .map(|v| quote(v))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut out = String::from("[\n");
    for v in values {
        let _ = writeln!(out, "{indent}  {},", quote(v));
    }
    out.push_str(indent);
    out.push(']');
    out
}

/// An HCL quoted string whose value is exactly `text` (no interpolation, no directive).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Terraform label from a role name: letters, digits, `_` and `-`, starting with a letter.
fn label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "role_");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_iam_escapes_and_blocks_interpolation() {
        assert_eq!(quote("arn:aws:s3:::b/${*}"), r#""arn:aws:s3:::b/$${*}""#);
        assert_eq!(quote("a%{if}\"\\"), r#""a%%{if}\"\\""#);
        assert_eq!(quote("$x %y"), r#""$x %y""#);
        assert_eq!(label("service-role.x"), "service-role_x");
        assert_eq!(label("1st"), "role_1st");
    }

    #[test]
    fn a_document_the_data_source_would_alter_is_written_as_json() {
        // `&{` is the data source's spelling of `${`: an object literally named `a&{x}` would
        // become a policy variable, so that role's policy is a JSON string instead.
        let row = crate::store::EvidenceRow::call(
            "arn:aws:iam::1:role/app",
            "s3:GetObject",
            "arn:aws:s3:::b/a&{x}",
            "2026-11-02T00:00:00Z",
        );
        let proposal =
            crate::synth::propose(&[row], &[], &[], &crate::synth::Options::default()).unwrap();
        let text = terraform(&proposal);
        assert!(!text.contains("aws_iam_policy_document"), "{text}");
        let body: hcl::Body = hcl::parse(&text).unwrap();
        let block = body.blocks().next().unwrap();
        let policy = block
            .body()
            .attributes()
            .find(|a| a.key() == "policy")
            .unwrap()
            .expr()
            .clone();
        let hcl::Expression::String(json) = policy else {
            panic!("{policy:?}")
        };
        let doc: PolicyDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(doc, proposal.roles[0].policy);
    }
}
