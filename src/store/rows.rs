//! Rows of the evidence tables, and their batched writes and reads.

use super::{now, Store, StoreError};
use crate::attribution::taskdef::TaskDefinition;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceRow {
    pub role_arn: String,
    pub action: String,
    pub resource: String,
    pub condition: String,
    pub error_code: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
    pub event_source: String,
    pub event_name: String,
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UngrantedRow {
    pub role_arn: String,
    pub event_source: String,
    pub event_name: String,
    pub error_code: String,
    /// `unmapped` or `no_permission`.
    pub kind: String,
    pub reason: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_event_id: String,
}

/// A trace unit whose evidence is in the same batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFile {
    pub fingerprint: String,
    pub path: String,
    pub size: i64,
    pub events: i64,
}

#[derive(Debug, Clone)]
pub struct StoredTaskDefinition {
    pub definition: TaskDefinition,
    pub source: String,
}

impl Store {
    /// Adds a batch of evidence and the files it came from, all or nothing.
    pub async fn write_batch(
        &self,
        evidence: &[EvidenceRow],
        ungranted: &[UngrantedRow],
        files: &[ObservedFile],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
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
        }
        for r in ungranted {
            sqlx::query(
                "INSERT INTO ungranted_calls (role_arn, event_source, event_name, error_code, kind,
                   reason, count, first_seen, last_seen, example_event_id)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (role_arn, event_source, event_name, error_code) DO UPDATE SET
                   count = count + excluded.count,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)",
            )
            .bind(&r.role_arn)
            .bind(&r.event_source)
            .bind(&r.event_name)
            .bind(&r.error_code)
            .bind(&r.kind)
            .bind(&r.reason)
            .bind(r.count)
            .bind(&r.first_seen)
            .bind(&r.last_seen)
            .bind(&r.example_event_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let observed_at = now();
        for f in files {
            sqlx::query(
                "INSERT INTO observed_files (fingerprint, path, size, events, observed_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(&f.fingerprint)
            .bind(&f.path)
            .bind(f.size)
            .bind(f.events)
            .bind(&observed_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// All evidence, in a stable order.
    pub async fn evidence(&self) -> Result<Vec<EvidenceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT role_arn, action, resource, condition, error_code, count, first_seen, last_seen,
                    example_event_id, event_source, event_name, rule
             FROM evidence ORDER BY role_arn, action, resource, condition, error_code",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| EvidenceRow {
                role_arn: r.get(0),
                action: r.get(1),
                resource: r.get(2),
                condition: r.get(3),
                error_code: r.get(4),
                count: r.get(5),
                first_seen: r.get(6),
                last_seen: r.get(7),
                example_event_id: r.get(8),
                event_source: r.get(9),
                event_name: r.get(10),
                rule: r.get(11),
            })
            .collect())
    }

    pub async fn ungranted(&self) -> Result<Vec<UngrantedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT role_arn, event_source, event_name, error_code, kind, reason, count, first_seen,
                    last_seen, example_event_id
             FROM ungranted_calls ORDER BY role_arn, event_source, event_name, error_code",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| UngrantedRow {
                role_arn: r.get(0),
                event_source: r.get(1),
                event_name: r.get(2),
                error_code: r.get(3),
                kind: r.get(4),
                reason: r.get(5),
                count: r.get(6),
                first_seen: r.get(7),
                last_seen: r.get(8),
                example_event_id: r.get(9),
            })
            .collect())
    }

    pub async fn task_definitions(&self) -> Result<Vec<StoredTaskDefinition>, StoreError> {
        let rows =
            sqlx::query("SELECT body, source FROM task_definitions ORDER BY family, revision")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let body: String = r.get(0);
                serde_json::from_str(&body)
                    .ok()
                    .map(|definition| StoredTaskDefinition {
                        definition,
                        source: r.get(1),
                    })
            })
            .collect())
    }
}
