//! The record of every change tighten and rollback make (stored by `store::history`): the role's
//! permissions before it, stored before the first write, its outcome, and the permissions it
//! left, read back after the last write.

use crate::store::history::NewChangeRow;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A role's identity-policy attachments at one moment: inline documents verbatim, managed ARNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Previous {
    pub inline: BTreeMap<String, String>,
    pub managed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: i64,
    pub role_arn: String,
    pub role_name: String,
    pub kind: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub principal_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub policy_name: String,
    pub restores: Option<i64>,
    pub summary: serde_json::Value,
    /// The document an apply wrote as `policy_name`.
    #[serde(skip)]
    pub new_document: Option<String>,
    /// The role as the change left it, read back from IAM; None when unknown (see the migration).
    #[serde(skip)]
    pub after: Option<Previous>,
}

impl Change {
    /// Whether policy-miner was stopped (or is still at work) between this change's IAM writes:
    /// it was recorded as started, and never as done or failed.
    pub fn unfinished(&self) -> bool {
        self.status == "started"
    }

    /// The change whose previous state measures this one's outcome: an apply's own; for a
    /// rollback, the change it restores the state from before.
    pub fn restore_point(&self) -> i64 {
        match (self.kind.as_str(), self.restores) {
            ("rollback", Some(target)) => target,
            _ => self.id,
        }
    }
}

#[cfg(test)]
impl Change {
    /// A change of role `r` as [`list`] reads it, for tests: an apply of `policy-miner` that was to
    /// remove the inline policy `legacy` and detach the managed policy `app`.
    pub(crate) fn example(id: i64, kind: &str, status: &str, restores: Option<i64>) -> Change {
        Change {
            id,
            role_arn: "arn:aws:iam::111122223333:role/r".into(),
            role_name: "r".into(),
            kind: kind.into(),
            started_at: "2026-12-04T00:00:00Z".into(),
            finished_at: None,
            principal_arn: "unknown".into(),
            status: status.into(),
            error: None,
            policy_name: "policy-miner".into(),
            restores,
            summary: serde_json::json!({
                "wrote": "policy-miner",
                "removed_inline": ["legacy"],
                "detached_managed": ["arn:aws:iam::111122223333:policy/app"],
            }),
            new_document: None,
            after: None,
        }
    }
}

/// The oldest of one role's `changes` (oldest first) that never finished, so that the role may be
/// left half changed, unless a rollback to a state from before it finished since.
pub fn unfinished(changes: &[Change]) -> Option<&Change> {
    changes.iter().filter(|c| c.unfinished()).find(|c| {
        let point = c.restore_point();
        !changes.iter().any(|r| {
            r.id > c.id
                && r.kind == "rollback"
                && r.status == "done"
                && r.restores.is_some_and(|t| t <= point)
        })
    })
}

pub struct NewChange<'a> {
    pub role_arn: &'a str,
    pub role_name: &'a str,
    pub kind: &'a str,
    pub principal_arn: &'a str,
    pub policy_name: &'a str,
    pub new_document: Option<&'a str>,
    pub restores: Option<i64>,
    pub summary: serde_json::Value,
    pub previous: &'a Previous,
}

/// Records a change as started, with the previous state, in one transaction. Call before writing.
pub async fn begin(store: &Store, c: NewChange<'_>) -> Result<i64, StoreError> {
    store
        .begin_change(NewChangeRow {
            role_arn: c.role_arn,
            role_name: c.role_name,
            kind: c.kind,
            principal_arn: c.principal_arn,
            policy_name: c.policy_name,
            new_document: c.new_document,
            restores: c.restores,
            summary: c.summary.to_string(),
            previous_inline: &c.previous.inline,
            previous_managed: &c.previous.managed,
        })
        .await
}

/// Marks a change done (`error` None) or failed, with the role's state it left (`after`, when IAM
/// could be read once the writes were over).
pub async fn finish(
    store: &Store,
    id: i64,
    error: Option<&str>,
    after: Option<&Previous>,
) -> Result<(), StoreError> {
    let after_state = after.and_then(|a| serde_json::to_string(a).ok());
    store.finish_change(id, error, after_state).await
}

/// Changes, oldest first; only those of `role` (matched by role name) when given.
pub async fn list(store: &Store, role_name: Option<&str>) -> Result<Vec<Change>, StoreError> {
    store
        .changes(role_name)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Change {
                after: after_state(store, r.after_state)?,
                id: r.id,
                role_arn: r.role_arn,
                role_name: r.role_name,
                kind: r.kind,
                started_at: r.started_at,
                finished_at: r.finished_at,
                principal_arn: r.principal_arn,
                status: r.status,
                error: r.error,
                policy_name: r.policy_name,
                restores: r.restores,
                summary: serde_json::from_str(&r.summary).unwrap_or_default(),
                new_document: r.new_document,
            })
        })
        .collect()
}

/// The `after_state` column read back. Text that is not a state is reported as a damaged
/// database: read as "unknown", it would let rollback compare the role with a guess.
fn after_state(store: &Store, text: Option<String>) -> Result<Option<Previous>, StoreError> {
    text.map(|t| {
        serde_json::from_str::<Previous>(&t).map_err(|e| StoreError::Corrupt {
            path: store.path().to_path_buf(),
            detail: format!("a recorded after_state of iam_changes is not a role's state: {e}"),
        })
    })
    .transpose()
}

/// The state stored before change `id`.
pub async fn previous(store: &Store, id: i64) -> Result<Previous, StoreError> {
    let (inline, managed) = store.previous_policies(id).await?;
    Ok(Previous { inline, managed })
}
