//! Evidence from live sources (SDK client-side monitoring), recorded with its source.

use super::{EvidenceRow, Store, StoreError, UngrantedRow};

/// The resource of evidence whose resource is unknown: a live source saw the action but not what
/// it was called on. Never a policy resource (in a policy `?` is a wildcard); synthesis grants
/// such evidence only for actions that take no resource.
pub const UNKNOWN_RESOURCE: &str = "?";

impl Store {
    /// Adds live evidence, and the same counts under `source` in `evidence_sources`, in one
    /// transaction: a flush is recorded whole or not at all.
    pub async fn write_live(
        &self,
        source: &str,
        evidence: &[EvidenceRow],
        ungranted: &[UngrantedRow],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        // One statement per row: a flush holds at most a few thousand rows.
        for r in evidence {
            sqlx::query(
                "INSERT INTO evidence (role_arn, action, resource, condition, error_code, count,
                   first_seen, last_seen, example_event_id, event_source, event_name, rule)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (role_arn, action, resource, condition, error_code) DO UPDATE SET
                   count = count + excluded.count,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)",
            )
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
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
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
            .bind(source)
            .bind(r.count)
            .bind(&r.first_seen)
            .bind(&r.last_seen)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for u in ungranted {
            sqlx::query(
                "INSERT INTO ungranted_calls (role_arn, event_source, event_name, error_code, kind,
                   reason, count, first_seen, last_seen, example_event_id)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (role_arn, event_source, event_name, error_code) DO UPDATE SET
                   count = count + excluded.count,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)",
            )
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
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }
}
