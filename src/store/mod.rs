//! The SQLite evidence store. The schema lives in `migrations/` and is applied by sqlx.
//!
//! A database is opened only if it is empty or already a policy-miner database at a schema this
//! binary knows; anything else is refused before a single byte of it is written.

mod rows;

pub use rows::{EvidenceRow, ObservedFile, StoredTaskDefinition, UngrantedRow};

use crate::attribution::taskdef::Loaded;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Marks the file as ours (`PRAGMA application_id`): "PMnr".
const APPLICATION_ID: i64 = 0x504d_6e72;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a policy-miner database ({why}); it was left untouched. Use another --db path.")]
    Foreign { path: PathBuf, why: String },
    #[error("{path}: written by a newer policy-miner (schema {found}, this binary knows up to {known}); it was left untouched. Upgrade policy-miner.")]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path}: no such database; run `policy-miner observe --db {path} …` first")]
    Missing { path: PathBuf },
    #[error("{path}: the database is locked by another policy-miner process (waited {waited:?}); try again when it has finished")]
    Locked { path: PathBuf, waited: Duration },
    #[error("{path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
}

pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

/// How long a writer waits for another one before giving up with [`StoreError::Locked`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens (and with `create`, creates) the database at `path`, migrating it to the current schema.
    pub async fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        let exists = path.exists();
        if !exists && !create {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        if exists {
            inspect(path).await?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| sql(path, e))?
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("application_id", APPLICATION_ID.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| classify(path, e))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => classify(path, e),
            other => sql(path, sqlx::Error::Migrate(Box::new(other))),
        })?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// Fingerprints of the trace files already counted.
    pub async fn observed_fingerprints(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT fingerprint FROM observed_files")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Replaces stored task definitions with the same (family, revision).
    pub async fn save_task_definitions(&self, defs: &[Loaded]) -> Result<(), StoreError> {
        let now = now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for d in defs {
            let body = serde_json::to_string(&d.definition).unwrap_or_default();
            sqlx::query(
                "INSERT INTO task_definitions (family, revision, task_role_arn, execution_role_arn, source, body, loaded_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (family, revision) DO UPDATE SET task_role_arn = excluded.task_role_arn,
                   execution_role_arn = excluded.execution_role_arn, source = excluded.source,
                   body = excluded.body, loaded_at = excluded.loaded_at",
            )
            .bind(&d.definition.family)
            .bind(d.definition.revision.unwrap_or(0))
            .bind(&d.definition.task_role)
            .bind(&d.definition.execution_role)
            .bind(d.source.display().to_string())
            .bind(body)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    pub async fn record_run(
        &self,
        command: &str,
        started_at: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (command, started_at, finished_at, summary) VALUES (?, ?, ?, ?)",
        )
        .bind(command)
        .bind(started_at)
        .bind(now())
        .bind(summary.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Current UTC time, ISO-8601 with seconds, like CloudTrail's eventTime.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Read-only look at an existing file: ours and not newer, or refused.
async fn inspect(path: &Path) -> Result<(), StoreError> {
    let foreign = |why: String| StoreError::Foreign {
        path: path.to_path_buf(),
        why,
    };
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(());
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| foreign(e.to_string()))?;
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| foreign(e.to_string()))?;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| foreign(e.to_string()))?;
    if app_id != APPLICATION_ID {
        if app_id == 0 && tables == 0 {
            return Ok(());
        }
        return Err(foreign(format!(
            "SQLite file with application_id {app_id} and {tables} tables"
        )));
    }
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(None);
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = newest.filter(|v| *v > known) {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    let _ = conn.close().await;
    Ok(())
}

fn sql(path: &Path, source: sqlx::Error) -> StoreError {
    StoreError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

fn classify(path: &Path, e: sqlx::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("database is locked") || text.contains("database is busy") {
        StoreError::Locked {
            path: path.to_path_buf(),
            waited: BUSY_TIMEOUT,
        }
    } else if text.contains("file is not a database") {
        StoreError::Foreign {
            path: path.to_path_buf(),
            why: text,
        }
    } else {
        sql(path, e)
    }
}
