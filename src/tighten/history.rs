//! The record of every change tighten and rollback make (tables in
//! migrations/20261122020000_tighten.sql): the role's permissions before it, stored before the
//! first write, and its outcome.

use crate::store::{now, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// A role's identity-policy attachments at one moment: inline documents verbatim, managed ARNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
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
    let mut tx = store.pool().begin().await.map_err(|e| store.err(e))?;
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

/// Marks a change done (`error` None) or failed.
pub async fn finish(store: &Store, id: i64, error: Option<&str>) -> Result<(), StoreError> {
    sqlx::query("UPDATE iam_changes SET status = ?, error = ?, finished_at = ? WHERE id = ?")
        .bind(if error.is_some() { "failed" } else { "done" })
        .bind(error)
        .bind(now())
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
                error, policy_name, restores, summary
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
            })
        })
        .collect()
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
