//! Rows of roles passed at launch (`launches`): what `attribution::launch` reads from the trail,
//! kept as text; one row per event and kind, so writing an event again changes nothing.

use super::{Store, StoreError};
use sqlx::Connection;

/// One role passed at one launch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRow {
    pub event_id: String,
    /// `task` or `execution`.
    pub kind: String,
    pub event_time: String,
    pub operation: String,
    pub region: String,
    pub account: String,
    pub task_definition: String,
    pub family: String,
    pub role_arn: String,
}

impl Store {
    /// Adds the rows not stored yet (by event and kind), in one transaction.
    pub async fn save_launches(&self, rows: &[LaunchRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.map_err(|e| self.err(e))?;
        for r in rows {
            sqlx::query(
                "INSERT OR IGNORE INTO launches (event_id, kind, event_time, operation, region,
                   account, task_definition, family, role_arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.event_id)
            .bind(&r.kind)
            .bind(&r.event_time)
            .bind(&r.operation)
            .bind(&r.region)
            .bind(&r.account)
            .bind(&r.task_definition)
            .bind(&r.family)
            .bind(&r.role_arn)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every stored launch, by role, family, time and event.
    pub async fn launch_rows(&self) -> Result<Vec<LaunchRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, kind, event_time, operation, region, account, task_definition,
               family, role_arn FROM launches ORDER BY role_arn, family, event_time, event_id, kind",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(LaunchRow {
                    event_id: self.column(r, 0)?,
                    kind: self.column(r, 1)?,
                    event_time: self.column(r, 2)?,
                    operation: self.column(r, 3)?,
                    region: self.column(r, 4)?,
                    account: self.column(r, 5)?,
                    task_definition: self.column(r, 6)?,
                    family: self.column(r, 7)?,
                    role_arn: self.column(r, 8)?,
                })
            })
            .collect()
    }
}
