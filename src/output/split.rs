//! The roles a split proposes (`synth::split`), in the deployable formats: each new role with
//! its trust policy and permissions, and the task-definition fields to point at it. Task
//! definitions are registered outside these templates (a new revision of each family), so their
//! changes are written as comments naming the field and the new role's ARN expression.

use super::{role_documents, INLINE_POLICY_NAME};
use crate::synth::split::RoleSplit;
use crate::text::printable;
use serde_json::Value;
use std::fmt::Write as _;

/// Terraform: an `aws_iam_role` per part (its trust policy as JSON), its policy inline, or
/// managed policies attached when it was split for size. `base` is the split role's label.
pub fn terraform(s: &mut String, split: &RoleSplit, base: &str) {
    use super::terraform::quote;
    for part in &split.parts {
        let id = format!("{base}_split_{}", label_part(&part.role_name));
        let trust = serde_json::to_string(&part.trust_policy).unwrap_or_default();
        let _ = write!(
            s,
            "\n# new {} role of {} (split from the role above)\nresource \"aws_iam_role\" \"{id}\" {{\n  name               = {}\n  assume_role_policy = {}\n}}\n",
            part.kind.as_str(),
            printable(&part.families.join(", ")),
            quote(&part.role_name),
            quote(&trust)
        );
        let docs = role_documents(&part.proposal);
        for (i, (name, doc)) in docs.iter().enumerate() {
            let json = quote(&serde_json::to_string(doc).unwrap_or_default());
            if part.proposal.managed_policies.is_empty() {
                let _ = write!(
                    s,
                    "\nresource \"aws_iam_role_policy\" \"{id}\" {{\n  name   = {}\n  role   = aws_iam_role.{id}.name\n  policy = {json}\n}}\n",
                    quote(name)
                );
            } else {
                let pid = format!("{id}_{}", i + 1);
                let _ = write!(
                    s,
                    "\nresource \"aws_iam_policy\" \"{pid}\" {{\n  name   = {}\n  policy = {json}\n}}\n\
                     \nresource \"aws_iam_role_policy_attachment\" \"{pid}\" {{\n  role       = aws_iam_role.{id}.name\n  policy_arn = aws_iam_policy.{pid}.arn\n}}\n",
                    quote(name)
                );
            }
        }
    }
    for c in &split.task_definition_changes {
        let part = split.parts.iter().find(|p| p.role_arn == c.to);
        let _ = writeln!(
            s,
            "# task definition {}: set {} = aws_iam_role.{base}_split_{}.arn (was {})",
            printable(&c.family),
            c.field,
            part.map(|p| label_part(&p.role_name)).unwrap_or_default(),
            printable(&c.from)
        );
    }
}

/// CloudFormation: an `AWS::IAM::Role` per part with its trust policy and its policy inline
/// (or `AWS::IAM::ManagedPolicy` resources attached, when split for size). `yaml` writes a
/// value at an indent; `base` is the split role's logical id.
pub fn cloudformation(
    s: &mut String,
    split: &RoleSplit,
    base: &str,
    yaml: impl Fn(&mut String, &Value, usize),
) {
    for part in &split.parts {
        let id = format!("{base}Split{}", logical_part(&part.role_name));
        let mut props = serde_json::Map::new();
        props.insert("RoleName".into(), Value::from(part.role_name.as_str()));
        props.insert("AssumeRolePolicyDocument".into(), part.trust_policy.clone());
        let docs = role_documents(&part.proposal);
        if part.proposal.managed_policies.is_empty() {
            let document = serde_json::to_value(&part.proposal.policy).unwrap_or(Value::Null);
            props.insert(
                "Policies".into(),
                serde_json::json!([{ "PolicyName": INLINE_POLICY_NAME, "PolicyDocument": document }]),
            );
        }
        let _ = writeln!(
            s,
            "  # new {} role of {} (split from {})",
            part.kind.as_str(),
            printable(&part.families.join(", ")),
            printable(&part.proposal.role_arn)
        );
        let _ = writeln!(s, "  {id}:\n    Type: \"AWS::IAM::Role\"\n    Properties:");
        yaml(s, &Value::Object(props), 6);
        if part.proposal.managed_policies.is_empty() {
            continue;
        }
        for (i, (name, doc)) in docs.iter().enumerate() {
            let props = serde_json::json!({
                "ManagedPolicyName": name,
                "Roles": [{ "Ref": id }],
                "PolicyDocument": doc,
            });
            let _ = writeln!(
                s,
                "  {id}Policy{}:\n    Type: \"AWS::IAM::ManagedPolicy\"\n    Properties:",
                i + 1
            );
            yaml(s, &props, 6);
        }
    }
    for c in &split.task_definition_changes {
        let part = split.parts.iter().find(|p| p.role_arn == c.to);
        let _ = writeln!(
            s,
            "  # task definition {}: set {} to !GetAtt {base}Split{}.Arn (was {})",
            printable(&c.family),
            c.field,
            part.map(|p| logical_part(&p.role_name)).unwrap_or_default(),
            printable(&c.from)
        );
    }
}

/// Markdown: the new roles, each with its trust policy and policy, and the changes.
pub fn markdown(s: &mut String, split: &RoleSplit, code: impl Fn(&str) -> String) {
    let _ = writeln!(
        s,
        "Proposed split ({}): {}.\n",
        split.kind,
        super::split_purpose(split)
    );
    for part in &split.parts {
        let _ = writeln!(
            s,
            "- new {} role {} for {}",
            part.kind.as_str(),
            code(&part.role_arn),
            code(&part.families.join(", "))
        );
    }
    s.push('\n');
    for c in &split.task_definition_changes {
        let _ = writeln!(
            s,
            "- task definition {}: `{}` {} → {}",
            code(&c.family),
            c.field,
            code(&c.from),
            code(&c.to)
        );
    }
    s.push('\n');
    for part in &split.parts {
        let trust = serde_json::to_string_pretty(&part.trust_policy).unwrap_or_default();
        let policy = serde_json::to_string_pretty(&part.proposal.policy).unwrap_or_default();
        let _ = writeln!(
            s,
            "**Trust policy of {}:**\n\n```json\n{trust}\n```\n\n**Policy of {}:**\n\n```json\n{policy}\n```\n",
            code(&part.role_name),
            code(&part.role_name)
        );
        for f in part
            .proposal
            .findings
            .iter()
            .filter(|f| f.kind.starts_with("split-call"))
        {
            let _ = writeln!(s, "- {}", code(&f.message));
        }
        s.push('\n');
    }
}

/// A role name as part of a Terraform label.
fn label_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A role name as part of a CloudFormation logical id (alphanumeric).
fn logical_part(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}
