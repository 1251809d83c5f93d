//! `--format cloudformation`: a YAML template with one `AWS::IAM::RolePolicy` per role (an inline
//! policy on the existing role), or `AWS::IAM::ManagedPolicy` resources attached to it when the
//! policy was split for size.
//!
//! Every scalar is written as a JSON string, which is also a valid YAML double-quoted scalar with
//! the same value, so no name can change the document's structure.

use super::{role_documents, role_name, unique_ids};
use crate::synth::Proposal;
use serde_json::Value;
use std::fmt::Write as _;

pub fn cloudformation(proposal: &Proposal) -> String {
    let mut s = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\n\
         Description: \"Least-privilege IAM policies proposed by policy-miner from CloudTrail evidence\"\n",
    );
    if proposal.roles.is_empty() {
        // A template needs at least one resource; there is nothing to deploy.
        s.push_str("Resources: {}\n");
        return s;
    }
    s.push_str("Resources:\n");
    let ids = unique_ids(proposal, logical_id);
    for (role, base) in proposal.roles.iter().zip(&ids) {
        let docs = role_documents(role);
        let _ = writeln!(s, "  # {}", crate::text::printable(&role.role_arn));
        for (i, (name, doc)) in docs.iter().enumerate() {
            let document = serde_json::to_value(doc).unwrap_or(Value::Null);
            let mut props = serde_json::Map::new();
            let (id, kind) = if role.managed_policies.is_empty() {
                props.insert("PolicyName".into(), Value::from(*name));
                props.insert("RoleName".into(), Value::from(role_name(&role.role_arn)));
                (format!("{base}Policy"), "AWS::IAM::RolePolicy")
            } else {
                props.insert("ManagedPolicyName".into(), Value::from(*name));
                props.insert("Roles".into(), Value::from(vec![role_name(&role.role_arn)]));
                (format!("{base}Policy{}", i + 1), "AWS::IAM::ManagedPolicy")
            };
            props.insert("PolicyDocument".into(), document);
            let _ = writeln!(s, "  {id}:");
            let _ = writeln!(s, "    Type: {}", json(&Value::from(kind)));
            s.push_str("    Properties:\n");
            yaml(&mut s, &Value::Object(props), 6);
        }
        if let Some(split) = &role.split {
            super::split::cloudformation(&mut s, split, base, yaml);
        }
    }
    s
}

/// `v` as JSON, which YAML reads as the same value, with the characters YAML may not hold raw
/// (C1 controls, NEL, the line and paragraph separators YAML 1.1 breaks lines at, the byte order
/// mark) escaped as `\uXXXX`, which both read alike.
fn json(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    if !text.chars().any(yaml_escaped) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 12);
    for c in text.chars() {
        if yaml_escaped(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn yaml_escaped(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// Block-style YAML of a mapping or sequence at `indent` spaces; scalars as JSON strings.
fn yaml(s: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                // Alphanumeric keys (all of CloudFormation's and IAM's own) read better bare;
                // anything else, e.g. `kms:ViaService`, is quoted.
                let key = if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()) {
                    k.clone()
                } else {
                    json(&Value::from(k.as_str()))
                };
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        let _ = writeln!(s, "{pad}{key}:");
                        yaml(s, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let _ = writeln!(s, "{pad}{key}:");
                        yaml(s, v, indent + 2);
                    }
                    other => {
                        let _ = writeln!(s, "{pad}{key}: {}", flow(other));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key goes on the dash line; the rest align under it.
                        let mut first = String::new();
                        yaml(&mut first, item, indent + 2);
                        let trimmed = first.trim_start_matches(' ');
                        let _ = write!(s, "{pad}- {trimmed}");
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let _ = writeln!(s, "{pad}-");
                        yaml(s, item, indent + 2);
                    }
                    other => {
                        let _ = writeln!(s, "{pad}- {}", flow(other));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(s, "{pad}{}", flow(other));
        }
    }
}

fn flow(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        Value::Null => "null".to_string(),
        other => json(other),
    }
}

/// CloudFormation logical ids are alphanumeric: the role name in PascalCase.
fn logical_id(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "Role");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks_nest_and_quote_every_scalar() {
        let v: Value = serde_json::from_str(
            r##"{"a":[{"x":"1","y":["p: q","#r"]},{"z:":{}}],"b":{"c":"d\n"},"e":[]}"##,
        )
        .unwrap();
        let mut s = String::new();
        yaml(&mut s, &v, 0);
        assert_eq!(
            s,
            "a:\n  - x: \"1\"\n    y:\n      - \"p: q\"\n      - \"#r\"\n  - \"z:\": {}\nb:\n  c: \"d\\n\"\ne: []\n"
        );
        assert_eq!(logical_id("service-role.my_role"), "ServiceRoleMyRole");
        assert_eq!(logical_id("9x"), "Role9x");
    }
}
