//! Which ECS families use a role, and as what (task role, execution role, or both).

pub mod launch;
mod select;
pub mod taskdef;

pub use crate::role::RoleKey;
pub use select::{RoleSelection, UnknownRoles};

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How a family uses a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    Task,
    Execution,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Task => "task",
            RoleKind::Execution => "execution",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "task" => Some(RoleKind::Task),
            "execution" => Some(RoleKind::Execution),
            _ => None,
        }
    }
}

/// One family's use of a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usage {
    pub family: String,
    pub kind: RoleKind,
}

/// Roles named by the loaded task definitions.
#[derive(Debug, Default, Clone)]
pub struct RoleDirectory {
    entries: Vec<(RoleKey, Usage)>,
    /// Each role as the definitions write it: an ARN where one does, since only the ARN carries
    /// the role's path, else its bare name.
    names: BTreeMap<RoleKey, String>,
}

impl RoleDirectory {
    pub fn from_definitions<'a>(
        defs: impl IntoIterator<Item = &'a taskdef::TaskDefinition>,
    ) -> Self {
        let mut set = BTreeSet::new();
        let mut names: BTreeMap<RoleKey, String> = BTreeMap::new();
        for def in defs {
            for (role, kind) in [
                (&def.task_role, RoleKind::Task),
                (&def.execution_role, RoleKind::Execution),
            ] {
                let Some(role) = role.as_deref() else {
                    continue;
                };
                let Some(key) = RoleKey::parse(role) else {
                    continue;
                };
                let name = names.entry(key.clone()).or_insert_with(|| role.to_string());
                if !name.starts_with("arn:") && role.starts_with("arn:") {
                    *name = role.to_string();
                }
                set.insert((
                    key,
                    Usage {
                        family: def.family.clone(),
                        kind,
                    },
                ));
            }
        }
        RoleDirectory {
            entries: set.into_iter().collect(),
            names,
        }
    }

    /// Every (family, kind) that uses the role; empty when the role is in no task definition.
    pub fn usages(&self, role_arn: &str) -> Vec<Usage> {
        let Some(key) = RoleKey::parse(role_arn) else {
            return Vec::new();
        };
        let mut out: Vec<Usage> = self
            .entries
            .iter()
            .filter(|(k, _)| k.matches(&key))
            .map(|(_, u)| u.clone())
            .collect();
        out.dedup();
        out
    }

    pub fn families(&self) -> BTreeSet<&str> {
        self.entries
            .iter()
            .map(|(_, u)| u.family.as_str())
            .collect()
    }

    /// The roles of the definitions that none of `seen` (the roles with evidence) is, each as
    /// the definitions write it, with the kinds they declare it as.
    pub fn without_evidence<'a>(
        &self,
        seen: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&str, BTreeSet<RoleKind>)> {
        let seen: BTreeSet<RoleKey> = seen.into_iter().filter_map(RoleKey::parse).collect();
        let mut declared: BTreeMap<&RoleKey, BTreeSet<RoleKind>> = BTreeMap::new();
        for (k, u) in &self.entries {
            declared.entry(k).or_default().insert(u.kind);
        }
        declared
            .into_iter()
            // A definition naming a role without its account means it whatever the account.
            .filter(|(k, _)| {
                !seen
                    .iter()
                    .any(|s| s.name == k.name && (k.account.is_none() || s.account == k.account))
            })
            .filter_map(|(k, kinds)| Some((self.names.get(k)?.as_str(), kinds)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_dual_roles() {
        let defs = taskdef::parse(
            r#"[{"family":"a","taskRoleArn":"arn:aws:iam::1:role/a-task","executionRoleArn":"arn:aws:iam::1:role/exec"},
                {"family":"b","executionRoleArn":"arn:aws:iam::1:role/exec"},
                {"family":"c","taskRoleArn":"c-role","executionRoleArn":"arn:aws:iam::1:role/c-role"}]"#,
        )
        .unwrap();
        let dir = RoleDirectory::from_definitions(&defs);
        let exec = dir.usages("arn:aws:iam::1:role/exec");
        assert_eq!(
            exec.iter().map(|u| u.family.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(exec.iter().all(|u| u.kind == RoleKind::Execution));
        let c = dir.usages("arn:aws:iam::1:role/c-role");
        assert_eq!(c.len(), 2, "{c:?}");
        // Same name in another account is another role.
        assert!(dir.usages("arn:aws:iam::9:role/exec").is_empty());
    }
}
