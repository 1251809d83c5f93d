//! The roles a command's `--role` flags name. CloudTrail writes a role's ARN with its path, task
//! definitions often without it, and people use its name: each of the three names the role.

use super::RoleKey;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Past this many, the roles a database knows are not all listed in an error.
const LISTED: usize = 50;

/// The roles to work on; no `--role` selects every role.
#[derive(Debug, Clone, Default)]
pub struct RoleSelection {
    wanted: Vec<String>,
}

impl RoleSelection {
    pub fn all() -> RoleSelection {
        RoleSelection::default()
    }

    pub fn is_all(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Whether `role` (as the database or a task definition writes it) is selected.
    pub fn contains(&self, role: &str) -> bool {
        self.is_all() || self.wanted.iter().any(|w| names(w, role))
    }

    /// The roles `wanted` names among `known` (every role of the database in `db`). Each wanted
    /// role must name one of them: a typo must not pass for a role without evidence.
    pub fn resolve(
        wanted: &[String],
        known: &BTreeSet<String>,
        db: &Path,
    ) -> Result<RoleSelection, UnknownRoles> {
        let unknown: Vec<String> = wanted
            .iter()
            .filter(|w| !known.iter().any(|k| names(w, k)))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(UnknownRoles {
                roles: unknown,
                known: known.iter().cloned().collect(),
                db: db.to_path_buf(),
            });
        }
        Ok(RoleSelection {
            wanted: wanted.to_vec(),
        })
    }
}

/// Whether `wanted` names `role`: the same string, or the same role name in the account `wanted`
/// gives (any account when it gives only a name).
fn names(wanted: &str, role: &str) -> bool {
    if wanted == role {
        return true;
    }
    match (RoleKey::parse(wanted), RoleKey::parse(role)) {
        (Some(w), Some(r)) => w.name == r.name && (w.account.is_none() || w.account == r.account),
        _ => false,
    }
}

/// `--role` values that name no role of the database.
#[derive(Debug, thiserror::Error)]
pub struct UnknownRoles {
    pub roles: Vec<String>,
    /// Every role the database knows.
    pub known: Vec<String>,
    pub db: PathBuf,
}

impl fmt::Display for UnknownRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = self.db.display();
        let (plural, them) = if self.roles.len() == 1 {
            ("", "it")
        } else {
            ("s", "them")
        };
        write!(
            f,
            "no evidence for role{plural} {} in {db}, and no task definition names {them}; ",
            self.roles.join(", ")
        )?;
        if self.known.is_empty() {
            return write!(
                f,
                "the database holds no evidence yet: run `policy-miner observe` first"
            );
        }
        write!(
            f,
            "the roles it knows (`policy-miner propose --db {db}` shows each with its policy):"
        )?;
        for role in self.known.iter().take(LISTED) {
            write!(f, "\n  {role}")?;
        }
        if self.known.len() > LISTED {
            write!(f, "\n  … and {} more", self.known.len() - LISTED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(roles: &[&str]) -> BTreeSet<String> {
        roles.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_role_is_named_by_arn_with_or_without_path_or_by_name() {
        let db = Path::new("x.db");
        let k = known(&["arn:aws:iam::1:role/svc/billing", "arn:aws:iam::1:role/web"]);
        for wanted in [
            "arn:aws:iam::1:role/svc/billing",
            "arn:aws:iam::1:role/billing",
            "billing",
        ] {
            let s = RoleSelection::resolve(&[wanted.to_string()], &k, db).unwrap();
            assert!(s.contains("arn:aws:iam::1:role/svc/billing"), "{wanted}");
            assert!(!s.contains("arn:aws:iam::1:role/web"), "{wanted}");
        }
        assert!(RoleSelection::all().contains("arn:aws:iam::1:role/web"));
    }

    #[test]
    fn a_role_that_names_nothing_is_refused_with_the_known_roles() {
        let k = known(&["arn:aws:iam::1:role/web"]);
        let wanted = ["web".to_string(), "arn:aws:iam::2:role/web".to_string()];
        let e = RoleSelection::resolve(&wanted, &k, Path::new("x.db")).unwrap_err();
        assert_eq!(e.roles, ["arn:aws:iam::2:role/web"]);
        let text = e.to_string();
        assert!(text.starts_with("no evidence for role arn:aws:iam::2:role/web in x.db"));
        assert!(text.ends_with("\n  arn:aws:iam::1:role/web"), "{text}");
    }
}
