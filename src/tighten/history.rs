//! The record of every change tighten and rollback make (tables in
//! migrations/20261122020000_tighten.sql and 20261204123000_iam_change_after_state.sql): the
//! role's permissions before it, stored before the first write, its outcome, and the permissions
//! it left, read back after the last write.

use crate::store::{now, Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
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
    let mut conn = store.writer().await?;
    let mut tx = conn.begin().await.map_err(|e| store.err(e))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO iam_changes (role_arn, role_name, kind, started_at, principal_arn, status,
           policy_name, new_document, restores, summary)
         VALUES (?, ?, ?, ?, ?, 'started', ?, ?, ?, ?) RETURNING id",
    )
    .bind(c.role_arn)
    .bind(c.role_name)
    .bind(c.kind)
    .bind(now())
    .bind(c.principal_arn)
    .bind(c.policy_name)
    .bind(c.new_document)
    .bind(c.restores)
    .bind(c.summary.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| store.err(e))?;
    for (name, doc) in &c.previous.inline {
        sqlx::query(
            "INSERT INTO iam_previous_inline (change_id, policy_name, document) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(name)
        .bind(doc)
        .execute(&mut *tx)
        .await
        .map_err(|e| store.err(e))?;
    }
    for arn in &c.previous.managed {
        sqlx::query("INSERT INTO iam_previous_managed (change_id, policy_arn) VALUES (?, ?)")
            .bind(id)
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(|e| store.err(e))?;
    }
    tx.commit().await.map_err(|e| store.err(e))?;
    Ok(id)
}

/// Marks a change done (`error` None) or failed, with the role's state it left (`after`, when IAM
/// could be read once the writes were over).
pub async fn finish(
    store: &Store,
    id: i64,
    error: Option<&str>,
    after: Option<&Previous>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE iam_changes SET status = ?, error = ?, finished_at = ?, after_state = ?
         WHERE id = ?",
    )
    .bind(if error.is_some() { "failed" } else { "done" })
    .bind(error)
    .bind(now())
    .bind(after.and_then(|a| serde_json::to_string(a).ok()))
    .bind(id)
    .execute(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    Ok(())
}

/// Changes, oldest first; only those of `role` (matched by role name) when given.
pub async fn list(store: &Store, role_name: Option<&str>) -> Result<Vec<Change>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, role_arn, role_name, kind, started_at, finished_at, principal_arn, status,
                error, policy_name, restores, summary, new_document, after_state
         FROM iam_changes WHERE ?1 IS NULL OR role_name = ?1 ORDER BY id",
    )
    .bind(role_name)
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(Change {
                id: store.column(r, 0)?,
                role_arn: store.column(r, 1)?,
                role_name: store.column(r, 2)?,
                kind: store.column(r, 3)?,
                started_at: store.column(r, 4)?,
                finished_at: store.column(r, 5)?,
                principal_arn: store.column(r, 6)?,
                status: store.column(r, 7)?,
                error: store.column(r, 8)?,
                policy_name: store.column(r, 9)?,
                restores: store.column(r, 10)?,
                summary: serde_json::from_str(&store.column::<String>(r, 11)?).unwrap_or_default(),
                new_document: store.column(r, 12)?,
                after: after_state(store, store.column(r, 13)?)?,
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
    let inline = sqlx::query(
        "SELECT policy_name, document FROM iam_previous_inline WHERE change_id = ? ORDER BY policy_name",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?
    .iter()
    .map(|r| Ok((store.column(r, 0)?, store.column(r, 1)?)))
    .collect::<Result<_, StoreError>>()?;
    let managed = sqlx::query_scalar(
        "SELECT policy_arn FROM iam_previous_managed WHERE change_id = ? ORDER BY policy_arn",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    Ok(Previous { inline, managed })
}
