//! Rows of the evidence tables, and their batched writes and reads.

use super::{now, Store, StoreError};
use crate::attribution::taskdef::TaskDefinition;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Rows per INSERT statement (12 parameters each: well under SQLite's 32766).
const ROWS_PER_INSERT: usize = 500;

impl Store {
    /// Commits a batch of trace files with the evidence read from them, all or nothing.
    ///
    /// Another `observe` on the same database may have committed some of these files after this
    /// one listed the files already observed. So, inside one write transaction (taken first, so
    /// that no other writer commits in between), the files are claimed first: `rows` is told, per
    /// file, whether it is new here, and must return the evidence of the new files only. Returns
    /// the indices of the files left out because another run had already counted them.
    pub async fn write_batch<F>(
        &self,
        files: &[ObservedFile],
        rows: F,
    ) -> Result<Vec<usize>, StoreError>
    where
        F: FnOnce(&[bool]) -> (Vec<EvidenceRow>, Vec<UngrantedRow>),
    {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        let observed_at = now();
        let mut fresh = Vec::with_capacity(files.len());
        for f in files {
            let done = sqlx::query(
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
            fresh.push(done.rows_affected() == 1);
        }
        let (evidence, ungranted) = rows(&fresh);
        // Many rows per statement: one statement per row costs a round trip to sqlx's SQLite
        // thread each, which made the writer the bottleneck of `observe` on large trails.
        // Rows are moved into the statements, not copied: sqlx would clone every borrowed string.
        let mut evidence = evidence.into_iter().peekable();
        while evidence.peek().is_some() {
            let chunk: Vec<EvidenceRow> = evidence.by_ref().take(ROWS_PER_INSERT).collect();
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO evidence (role_arn, action, resource, condition, error_code, count,
                   first_seen, last_seen, example_event_id, event_source, event_name, rule) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.role_arn)
                    .push_bind(r.action)
                    .push_bind(r.resource)
                    .push_bind(r.condition)
                    .push_bind(r.error_code)
                    .push_bind(r.count)
                    .push_bind(r.first_seen)
                    .push_bind(r.last_seen)
                    .push_bind(r.example_event_id)
                    .push_bind(r.event_source)
                    .push_bind(r.event_name)
                    .push_bind(r.rule);
            });
            q.push(
                " ON CONFLICT (role_arn, action, resource, condition, error_code) DO UPDATE SET
                   count = count + excluded.count,
                   -- SET reads the old row: the example follows the earliest event (the
                   -- smaller id on a tie, whatever the order the files came in).
                   example_event_id = CASE WHEN excluded.first_seen < first_seen
                       OR (excluded.first_seen = first_seen
                           AND excluded.example_event_id < example_event_id)
                       THEN excluded.example_event_id ELSE example_event_id END,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)",
            );
            q.build().execute(&mut *tx).await.map_err(|e| self.err(e))?;
        }
        for chunk in ungranted.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO ungranted_calls (role_arn, event_source, event_name, error_code, kind,
                   reason, count, first_seen, last_seen, example_event_id) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.role_arn)
                    .push_bind(&r.event_source)
                    .push_bind(&r.event_name)
                    .push_bind(&r.error_code)
                    .push_bind(&r.kind)
                    .push_bind(&r.reason)
                    .push_bind(r.count)
                    .push_bind(&r.first_seen)
                    .push_bind(&r.last_seen)
                    .push_bind(&r.example_event_id);
            });
            q.push(
                " ON CONFLICT (role_arn, event_source, event_name, error_code) DO UPDATE SET
                   count = count + excluded.count,
                   -- SET reads the old row: the example follows the earliest event (the
                   -- smaller id on a tie, whatever the order the files came in).
                   example_event_id = CASE WHEN excluded.first_seen < first_seen
                       OR (excluded.first_seen = first_seen
                           AND excluded.example_event_id < example_event_id)
                       THEN excluded.example_event_id ELSE example_event_id END,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)",
            );
            q.build().execute(&mut *tx).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(fresh
            .iter()
            .enumerate()
            .filter(|(_, new)| !**new)
            .map(|(i, _)| i)
            .collect())
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
