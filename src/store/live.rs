//! Evidence from live sources (SDK client-side monitoring, the proxy), recorded with its source.

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
            add_evidence(&mut tx, r).await.map_err(|e| self.err(e))?;
            let by = SourceCount {
                source: source.to_string(),
                count: r.count,
                first_seen: r.first_seen.clone(),
                last_seen: r.last_seen.clone(),
            };
            add_source(&mut tx, r, &by).await.map_err(|e| self.err(e))?;
        }
        for u in ungranted {
            add_ungranted(&mut tx, u).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Adds a row's count; the example and the times merge as CloudTrail's do.
async fn add_evidence(
    tx: &mut Transaction<'_, Sqlite>,
    r: &EvidenceRow,
) -> Result<(), sqlx::Error> {
    use super::rows::{ORIGIN_INSERT, ORIGIN_SELECT};
    let origin: Option<i64> = sqlx::query_scalar(ORIGIN_SELECT)
        .bind(&r.event_source)
        .bind(&r.event_name)
        .bind(&r.rule)
        .fetch_optional(&mut **tx)
        .await?;
    let origin = match origin {
        Some(id) => id,
        None => sqlx::query(ORIGIN_INSERT)
            .bind(&r.event_source)
            .bind(&r.event_name)
            .bind(&r.rule)
            .execute(&mut **tx)
            .await?
            .last_insert_rowid(),
    };
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
        .bind(origin)
        .bind(r.callers.stored())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn add_source(
    tx: &mut Transaction<'_, Sqlite>,
    r: &EvidenceRow,
    by: &SourceCount,
) -> Result<(), sqlx::Error> {
    sqlx::query(super::rows::SOURCE_UPSERT)
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

async fn add_ungranted(
    tx: &mut Transaction<'_, Sqlite>,
    u: &UngrantedRow,
) -> Result<(), sqlx::Error> {
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
