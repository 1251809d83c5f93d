//! Evidence from live sources (SDK client-side monitoring, the proxy), recorded with its source,
//! and the signed row upserts that imports of exported evidence share.

use super::{EvidenceRow, Store, StoreError, UngrantedRow};
use sqlx::{Connection, Sqlite, Transaction};

/// The resource of evidence whose resource is unknown: a live source saw the action but not what
/// it was called on. Never a policy resource (in a policy `?` is a wildcard); synthesis grants
/// such evidence only for actions that take no resource.
pub const UNKNOWN_RESOURCE: &str = "?";

/// A count with its time span, as one source saw one evidence key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceCount {
    pub source: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
}

impl Store {
    /// Adds live evidence, and the same counts under `source` in `evidence_sources`, in one
    /// transaction: a flush is recorded whole or not at all.
    pub async fn write_live(
        &self,
        source: &str,
        evidence: &[EvidenceRow],
        ungranted: &[UngrantedRow],
    ) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        // One statement per row: a flush holds at most a few thousand rows.
        for r in evidence {
            add_evidence(&mut tx, r, 1).await.map_err(|e| self.err(e))?;
            let by = SourceCount {
                source: source.to_string(),
                count: r.count,
                first_seen: r.first_seen.clone(),
                last_seen: r.last_seen.clone(),
            };
            add_source(&mut tx, r, &by, 1)
                .await
                .map_err(|e| self.err(e))?;
        }
        for u in ungranted {
            add_ungranted(&mut tx, u, 1)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Adds (`sign` 1) or takes back (`sign` -1, times untouched) a row's count; a row left with
/// nothing is removed.
pub(super) async fn add_evidence(
    tx: &mut Transaction<'_, Sqlite>,
    r: &EvidenceRow,
    sign: i64,
) -> Result<(), sqlx::Error> {
    if sign < 0 {
        return take_back(
            tx,
            "evidence",
            "role_arn = ? AND action = ? AND resource = ? AND condition = ? AND error_code = ?",
            &[
                &r.role_arn,
                &r.action,
                &r.resource,
                &r.condition,
                &r.error_code,
            ],
            r.count,
        )
        .await;
    }
    // The same upsert as CloudTrail's: every column that names the example follows the
    // earliest call, whichever source and batch brought it.
    sqlx::query(super::rows::EVIDENCE_UPSERT)
        .bind(&r.role_arn)
        .bind(&r.action)
        .bind(&r.resource)
        .bind(&r.condition)
        .bind(&r.error_code)
        .bind(r.count)
        .bind(&r.first_seen)
        .bind(&r.last_seen)
        .bind(&r.example_event_id)
        .bind(&r.event_source)
        .bind(&r.event_name)
        .bind(&r.rule)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn add_source(
    tx: &mut Transaction<'_, Sqlite>,
    r: &EvidenceRow,
    by: &SourceCount,
    sign: i64,
) -> Result<(), sqlx::Error> {
    if sign < 0 {
        return take_back(
            tx,
            "evidence_sources",
            "role_arn = ? AND action = ? AND resource = ? AND condition = ? AND error_code = ? \
             AND source = ?",
            &[
                &r.role_arn,
                &r.action,
                &r.resource,
                &r.condition,
                &r.error_code,
                &by.source,
            ],
            by.count,
        )
        .await;
    }
    sqlx::query(
        "INSERT INTO evidence_sources (role_arn, action, resource, condition, error_code,
           source, count, first_seen, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (role_arn, action, resource, condition, error_code, source)
         DO UPDATE SET count = count + excluded.count,
           first_seen = min(first_seen, excluded.first_seen),
           last_seen = max(last_seen, excluded.last_seen)",
    )
    .bind(&r.role_arn)
    .bind(&r.action)
    .bind(&r.resource)
    .bind(&r.condition)
    .bind(&r.error_code)
    .bind(&by.source)
    .bind(by.count)
    .bind(&by.first_seen)
    .bind(&by.last_seen)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn add_ungranted(
    tx: &mut Transaction<'_, Sqlite>,
    u: &UngrantedRow,
    sign: i64,
) -> Result<(), sqlx::Error> {
    if sign < 0 {
        return take_back(
            tx,
            "ungranted_calls",
            "role_arn = ? AND event_source = ? AND event_name = ? AND error_code = ?",
            &[&u.role_arn, &u.event_source, &u.event_name, &u.error_code],
            u.count,
        )
        .await;
    }
    sqlx::query(super::rows::UNGRANTED_UPSERT)
        .bind(&u.role_arn)
        .bind(&u.event_source)
        .bind(&u.event_name)
        .bind(&u.error_code)
        .bind(&u.kind)
        .bind(&u.reason)
        .bind(u.count)
        .bind(&u.first_seen)
        .bind(&u.last_seen)
        .bind(&u.example_event_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Subtracts `count` from the row of `table` matching `key`, and deletes it if nothing is left.
async fn take_back(
    tx: &mut Transaction<'_, Sqlite>,
    table: &str,
    key: &str,
    values: &[&String],
    count: i64,
) -> Result<(), sqlx::Error> {
    let update = format!("UPDATE {table} SET count = count - ? WHERE {key}");
    let mut q = sqlx::query(&update).bind(count);
    for v in values {
        q = q.bind(*v);
    }
    q.execute(&mut **tx).await?;
    let delete = format!("DELETE FROM {table} WHERE {key} AND count <= 0");
    let mut q = sqlx::query(&delete);
    for v in values {
        q = q.bind(*v);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
