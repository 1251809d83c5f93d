//! A role's current permissions as IAM holds them, and the writes tighten and rollback make.
//!
//! Roles are looked up by NAME (the last segment of the ARN in the evidence): IAM's role APIs take
//! names, and the account is the one the credentials belong to (checked by the caller).

use super::aws::{describe, AwsError};
use crate::policy::PolicyDocument;
use aws_sdk_iam::Client;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct InlinePolicy {
    pub name: String,
    /// The document exactly as IAM returned it, URL-decoded.
    pub text: String,
    #[serde(skip)]
    pub document: PolicyDocument,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagedPolicy {
    pub arn: String,
    pub name: String,
    /// The default version, the one in force.
    pub version_id: String,
    pub aws_managed: bool,
    #[serde(skip)]
    pub document: PolicyDocument,
}

/// Everything that grants the role permissions through its identity policies.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentPermissions {
    pub role_name: String,
    /// The ARN IAM reports (its path may differ from the evidence's).
    pub role_arn: String,
    pub inline: Vec<InlinePolicy>,
    pub managed: Vec<ManagedPolicy>,
}

impl CurrentPermissions {
    /// Every document with a label naming where it comes from.
    pub fn documents(&self) -> Vec<(String, &PolicyDocument)> {
        self.inline
            .iter()
            .map(|p| (format!("inline policy {}", p.name), &p.document))
            .chain(
                self.managed
                    .iter()
                    .map(|p| (format!("managed policy {}", p.arn), &p.document)),
            )
            .collect()
    }
}

/// Reads the role's inline policies and its attached managed policies at their default versions.
pub async fn read_role(client: &Client, role_name: &str) -> Result<CurrentPermissions, AwsError> {
    let target = format!("role {role_name}");
    let role = client
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .map_err(|e| describe(&e, "iam:GetRole", &target))?;
    let role_arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();

    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_role_policies()
            .role_name(role_name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| describe(&e, "iam:ListRolePolicies", &target))?;
        names.extend(page.policy_names().iter().cloned());
        match (page.is_truncated(), page.marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let mut inline = Vec::new();
    for name in names {
        let what = format!("inline policy {name} of role {role_name}");
        let out = client
            .get_role_policy()
            .role_name(role_name)
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| describe(&e, "iam:GetRolePolicy", &what))?;
        let text = url_decode(out.policy_document()).map_err(|e| bad_document(&what, e))?;
        let document = parse(&text).map_err(|e| bad_document(&what, e))?;
        inline.push(InlinePolicy {
            name,
            text,
            document,
        });
    }

    let mut attached = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_attached_role_policies()
            .role_name(role_name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| describe(&e, "iam:ListAttachedRolePolicies", &target))?;
        for p in page.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                attached.push((
                    arn.to_string(),
                    p.policy_name().unwrap_or_default().to_string(),
                ));
            }
        }
        match (page.is_truncated(), page.marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let mut managed = Vec::new();
    for (arn, name) in attached {
        let what = format!("managed policy {arn}");
        let policy = client
            .get_policy()
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| describe(&e, "iam:GetPolicy", &what))?;
        let version_id = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| AwsError {
                kind: super::aws::ErrorKind::Other,
                message: format!("iam:GetPolicy on {what}: no default version in the answer"),
            })?
            .to_string();
        let version = client
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(&version_id)
            .send()
            .await
            .map_err(|e| describe(&e, "iam:GetPolicyVersion", &what))?;
        let encoded = version
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default();
        let text = url_decode(encoded).map_err(|e| bad_document(&what, e))?;
        let document = parse(&text).map_err(|e| bad_document(&what, e))?;
        managed.push(ManagedPolicy {
            aws_managed: arn.contains(":aws:policy/"),
            arn,
            name,
            version_id,
            document,
        });
    }
    Ok(CurrentPermissions {
        role_name: role_name.to_string(),
        role_arn,
        inline,
        managed,
    })
}

pub async fn put_inline(
    client: &Client,
    role_name: &str,
    policy_name: &str,
    text: &str,
) -> Result<(), AwsError> {
    client
        .put_role_policy()
        .role_name(role_name)
        .policy_name(policy_name)
        .policy_document(text)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            describe(
                &e,
                "iam:PutRolePolicy",
                &format!("inline policy {policy_name} of role {role_name}"),
            )
        })
}

pub async fn delete_inline(
    client: &Client,
    role_name: &str,
    policy_name: &str,
) -> Result<(), AwsError> {
    client
        .delete_role_policy()
        .role_name(role_name)
        .policy_name(policy_name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            describe(
                &e,
                "iam:DeleteRolePolicy",
                &format!("inline policy {policy_name} of role {role_name}"),
            )
        })
}

pub async fn attach(client: &Client, role_name: &str, arn: &str) -> Result<(), AwsError> {
    client
        .attach_role_policy()
        .role_name(role_name)
        .policy_arn(arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            describe(
                &e,
                "iam:AttachRolePolicy",
                &format!("{arn} to role {role_name}"),
            )
        })
}

pub async fn detach(client: &Client, role_name: &str, arn: &str) -> Result<(), AwsError> {
    client
        .detach_role_policy()
        .role_name(role_name)
        .policy_arn(arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            describe(
                &e,
                "iam:DetachRolePolicy",
                &format!("{arn} from role {role_name}"),
            )
        })
}

/// A document IAM returned that policy-miner cannot read.
#[derive(Debug, thiserror::Error)]
#[error("not a policy document policy-miner can read: {0}")]
struct Unreadable(serde_json::Error);

fn parse(text: &str) -> Result<PolicyDocument, Unreadable> {
    serde_json::from_str(text).map_err(Unreadable)
}

fn bad_document(what: &str, why: impl std::fmt::Display) -> AwsError {
    AwsError {
        kind: super::aws::ErrorKind::Other,
        message: format!("{what}: {why}; tighten cannot compare against it"),
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986: `%XX`; a `+` is a literal plus).
pub fn url_decode(encoded: &str) -> Result<String, crate::policy::percent::Error> {
    crate::policy::percent::decode_strict(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding_keeps_plus_and_every_byte() {
        assert_eq!(
            url_decode("%7B%22a%22%3A%20%22x+y%C3%A9%22%7D%0A").unwrap(),
            "{\"a\": \"x+yé\"}\n"
        );
        assert!(url_decode("%7").is_err());
        assert!(url_decode("%zz").is_err());
        // Already-decoded text (some endpoints do not encode) passes through unchanged.
        assert_eq!(
            url_decode("{\"Version\":\"2012-10-17\"}").unwrap(),
            "{\"Version\":\"2012-10-17\"}"
        );
    }
}
