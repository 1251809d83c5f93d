//! The tables of the changes tighten and rollback make to IAM (migrations/20261122020000_tighten.sql
//! and 20261204123000_iam_change_after_state.sql): one row per change, and the role's policies
//! before it. What the rows mean is `tighten::history`'s; this module only reads and writes them.

use super::{now, Store, StoreError};
use sqlx::Connection;
use std::collections::BTreeMap;

/// A change to record as started, with the role's policies before it.
pub struct NewChangeRow<'a> {
    pub role_arn: &'a str,
    pub role_name: &'a str,
    pub kind: &'a str,
    pub principal_arn: &'a str,
    pub policy_name: &'a str,
    pub new_document: Option<&'a str>,
    pub restores: Option<i64>,
    /// JSON text.
    pub summary: String,
    /// The inline policies before the change: name → document, verbatim.
    pub previous_inline: &'a BTreeMap<String, String>,
    /// The managed policies attached before the change, by ARN.
    pub previous_managed: &'a [String],
}

/// One row of `iam_changes`, as stored.
#[derive(Debug, Clone)]
pub struct ChangeRow {
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
    /// JSON text.
    pub summary: String,
    pub new_document: Option<String>,
    /// JSON text; None when unknown (see the migration).
    pub after_state: Option<String>,
}

impl Store {
    /// Records a change as started, with the policies before it, in one transaction; its id.
    pub async fn begin_change(&self, c: NewChangeRow<'_>) -> Result<i64, StoreError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.map_err(|e| self.err(e))?;
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
        .bind(c.summary)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        for (name, doc) in c.previous_inline {
            sqlx::query(
                "INSERT INTO iam_previous_inline (change_id, policy_name, document) VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(name)
            .bind(doc)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for arn in c.previous_managed {
            sqlx::query("INSERT INTO iam_previous_managed (change_id, policy_arn) VALUES (?, ?)")
                .bind(id)
                .bind(arn)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Marks change `id` done (`error` None) or failed, with the state it left (`after_state`,
    /// JSON text, when known).
    pub async fn finish_change(
        &self,
        id: i64,
        error: Option<&str>,
        after_state: Option<String>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE iam_changes SET status = ?, error = ?, finished_at = ?, after_state = ?
             WHERE id = ?",
        )
        .bind(if error.is_some() { "failed" } else { "done" })
        .bind(error)
        .bind(now())
        .bind(after_state)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The rows of `iam_changes`, oldest first; only those of the role named `role_name` when
    /// given.
    pub async fn changes(&self, role_name: Option<&str>) -> Result<Vec<ChangeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role_arn, role_name, kind, started_at, finished_at, principal_arn, status,
                    error, policy_name, restores, summary, new_document, after_state
             FROM iam_changes WHERE ?1 IS NULL OR role_name = ?1 ORDER BY id",
        )
        .bind(role_name)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRow {
                    id: self.column(r, 0)?,
                    role_arn: self.column(r, 1)?,
                    role_name: self.column(r, 2)?,
                    kind: self.column(r, 3)?,
                    started_at: self.column(r, 4)?,
                    finished_at: self.column(r, 5)?,
                    principal_arn: self.column(r, 6)?,
                    status: self.column(r, 7)?,
                    error: self.column(r, 8)?,
                    policy_name: self.column(r, 9)?,
                    restores: self.column(r, 10)?,
                    summary: self.column(r, 11)?,
                    new_document: self.column(r, 12)?,
                    after_state: self.column(r, 13)?,
                })
            })
            .collect()
    }

    /// The policies recorded before change `id`: inline (name, document) by name, and managed
    /// ARNs in order.
    pub async fn previous_policies(
        &self,
        id: i64,
    ) -> Result<(BTreeMap<String, String>, Vec<String>), StoreError> {
        let inline = sqlx::query(
            "SELECT policy_name, document FROM iam_previous_inline WHERE change_id = ? ORDER BY policy_name",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|r| Ok((self.column(r, 0)?, self.column(r, 1)?)))
        .collect::<Result<_, StoreError>>()?;
        let managed = sqlx::query_scalar(
            "SELECT policy_arn FROM iam_previous_managed WHERE change_id = ? ORDER BY policy_arn",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok((inline, managed))
    }
}
