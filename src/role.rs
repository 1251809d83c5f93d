//! A role's identity, as the evidence (CloudTrail's role ARNs), task definitions (ARNs or bare
//! names) and people (`--role`) name it.

/// A role's identity for matching: role names are unique per account whatever their path, and a
/// task definition may name a role by name alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleKey {
    pub account: Option<String>,
    pub name: String,
}

impl RoleKey {
    /// From `arn:<partition>:iam::<account>:role/<path><name>` or a bare role name.
    pub fn parse(role: &str) -> Option<RoleKey> {
        if !role.starts_with("arn:") {
            let name = role.rsplit('/').next()?.trim();
            return (!name.is_empty()).then(|| RoleKey {
                account: None,
                name: name.to_string(),
            });
        }
        let mut parts = role.splitn(6, ':');
        let (_, _, service, _, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
        (service == "iam" && !name.is_empty()).then(|| RoleKey {
            account: Some(account.to_string()),
            name: name.to_string(),
        })
    }

    /// `role` if it is a role ARN with an account: the only name under which evidence of a
    /// live source merges with CloudTrail's (which names roles by ARN), and where the account of
    /// its resources comes from.
    pub fn require_arn(role: &str) -> Result<String, &'static str> {
        match RoleKey::parse(role) {
            Some(RoleKey {
                account: Some(account),
                ..
            }) if !account.is_empty() => Ok(role.to_string()),
            _ => Err(
                "not an IAM role ARN (arn:aws:iam::<account>:role/<name>); evidence is recorded \
                 under the role's ARN, as CloudTrail names it",
            ),
        }
    }

    /// Whether both name the same role: the same name, in the same account when both give one.
    pub(crate) fn matches(&self, other: &RoleKey) -> bool {
        self.name == other.name
            && match (&self.account, &other.account) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_keys_ignore_the_path() {
        let a = RoleKey::parse("arn:aws:iam::1:role/service-role/billing").unwrap();
        let b = RoleKey::parse("arn:aws:iam::1:role/billing").unwrap();
        assert_eq!(a, b);
        assert_eq!(RoleKey::parse("billing").unwrap().account, None);
        assert_eq!(RoleKey::parse("arn:aws:iam::1:user/bob"), None);
        assert!(RoleKey::require_arn("arn:aws:iam::1:role/svc/billing").is_ok());
        for not_arn in [
            "billing",
            "arn:aws:iam:::role/billing",
            "arn:aws:iam::1:user/bob",
        ] {
            assert!(RoleKey::require_arn(not_arn).is_err(), "{not_arn}");
        }
        assert_eq!(
            RoleKey::parse("arn:aws-cn:iam::2:role/x")
                .unwrap()
                .account
                .as_deref(),
            Some("2")
        );
    }
}
