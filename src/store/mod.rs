//! The SQLite evidence store. The schema lives in `migrations/` and is applied by sqlx.
//!
//! A database is opened only if it is empty or already a policy-miner database at a schema this
//! binary knows; anything else is refused before a single byte of it is written.

mod bulk;
pub mod exchange;
pub mod history;
mod launches;
mod live;
mod log;
mod rows;
pub mod times;

pub use launches::LaunchRow;
pub use live::{SourceCount, UNKNOWN_RESOURCE};
pub use log::LogGrowth;
pub use rows::{
    BatchRows, EvidenceRef, EvidenceRow, NewTaskDefinitionRow, ObservedFile, TaskDefinitionRow,
    UngrantedRef, UngrantedRow,
};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, Sqlite};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    #[error("{path}: the database is locked by another process writing to it, such as another `policy-miner observe` (waited {}s); run again when it has finished, or wait longer with --lock-timeout SECONDS", waited.as_secs())]
    Locked { path: PathBuf, waited: Duration },
    #[error("{path}: the policy-miner database is damaged ({detail}); restore it from a backup, or delete it and run `policy-miner observe` again to rebuild the evidence from your CloudTrail files")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: cannot open or write the database ({detail}); check that its directory exists and that you may write to both")]
    Unwritable { path: PathBuf, detail: String },
    #[error("{path}: the disk holding the database is full ({detail}); the write was rolled back and the database is as it was before it. Free some space on that disk, then run again")]
    Full { path: PathBuf, detail: String },
    // `cause` rather than `source`: its text is already in the message, and a source would make
    // `{:#}` print it twice.
    #[error("{path}: {cause}")]
    Sql { path: PathBuf, cause: sqlx::Error },
    /// A failure of a statement run on SQLite's own API (see `bulk`), in SQLite's words.
    #[error("{path}: SQLite error {code}: {message}")]
    Sqlite {
        path: PathBuf,
        code: i32,
        message: String,
    },
}

pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    lock_timeout: Duration,
}

/// A connection of the pool lent to one write transaction. Dropped while sqlx still counts a
/// transaction open on it (the transaction failed, or its future was dropped), the connection is
/// closed instead of going back to the pool.
///
/// On some errors, a full disk among them, SQLite rolls the whole transaction back by itself while
/// sqlx still counts it as open: sqlx's own ROLLBACK then fails, its count stays at one, and every
/// later transaction on that connection was refused ("begin_with at non-zero transaction depth")
/// until the process ended. Closing the connection rolls back whatever SQLite may still hold, and
/// the pool opens a fresh one for the next write.
pub(crate) struct Writer(PoolConnection<Sqlite>);

impl std::ops::Deref for Writer {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.0.is_in_transaction() {
            self.0.close_on_drop();
        }
    }
}

/// How long a writer waits for another one, by default, before giving up with
/// [`StoreError::Locked`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite primary result codes this module tells apart (the extended code's low byte).
const SQLITE_PERM: i64 = 3;
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

/// The first 16 bytes of every SQLite 3 database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Opens (and with `create`, creates) the database at `path`, migrating it to the current
    /// schema; waits up to [`DEFAULT_LOCK_TIMEOUT`] for another writer.
    pub async fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        Store::open_with(path, create, DEFAULT_LOCK_TIMEOUT).await
    }

    /// Like [`Store::open`], waiting up to `lock_timeout` whenever another process holds the
    /// write lock (here and in every later write).
    pub async fn open_with(
        path: &Path,
        create: bool,
        lock_timeout: Duration,
    ) -> Result<Store, StoreError> {
        Store::open_synced(path, create, lock_timeout, false).await
    }

    /// Like [`Store::open_with`] with `create`, for writes that can be made again: `observe` of
    /// trace files and objects, whose files are committed with their evidence, so a commit lost
    /// is a file read again by the next run. Commits then wait for no flush to disk: SQLite's
    /// write-ahead log never leaves the database corrupt without them, and only a power loss or
    /// an OS crash (not a process crash) can undo the last commits ("synchronous = NORMAL",
    /// sqlite.org/pragma.html#pragma_synchronous). On a trail of many small files a flush per
    /// commit (and per migration of a new database) was a wait the workers felt at both ends
    /// of the run. The log is moved into the database only when the caller says (see `log.rs`).
    pub async fn open_replayable(path: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        Store::open_synced(path, true, lock_timeout, true).await
    }

    async fn open_synced(
        path: &Path,
        create: bool,
        lock_timeout: Duration,
        replayable: bool,
    ) -> Result<Store, StoreError> {
        let synchronous = if replayable {
            SqliteSynchronous::Normal
        } else {
            SqliteSynchronous::Full
        };
        let exists = path.exists();
        if !exists && !create {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let marked = exists && inspect(path, lock_timeout).await? == Inspection::Ours;
        let classify = |e| classify(path, lock_timeout, e);
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(lock_timeout)
            // observe's upserts touch the evidence B-tree all over: an 8 MB page cache (default 2 MB)
            // and statement journals in memory keep them off the disk until commit.
            .pragma("cache_size", "-8192")
            .pragma("temp_store", "memory");
        if replayable {
            options = log::caller_checkpoints(options);
        }
        if !exists {
            // Each observe commit rewrites most leaf pages of the evidence table (new keys land
            // all over it): with 64 KiB pages its commits took about a third less time than with
            // the 4 KiB default (1M-event bench: observe 3.4 s → 2.9 s). Fixed at creation.
            options = options.pragma("page_size", "65536");
        }
        if !marked {
            // A write: only on a new file, so that reading a database never waits for a writer.
            options = options.pragma("application_id", APPLICATION_ID.to_string());
        }
        let pool = connect(options, lock_timeout).await.map_err(classify)?;
        migrate(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e)
            | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => classify(e),
            // The file says it has a migration this binary does not know: a newer release made it.
            sqlx::migrate::MigrateError::VersionMissing(found) => StoreError::Newer {
                path: path.to_path_buf(),
                found,
                known: known_schema(),
            },
            other => classify(sqlx::Error::Migrate(Box::new(other))),
        })?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            lock_timeout,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        classify(&self.path, self.lock_timeout, e)
    }

    /// The connection for one write transaction: see [`Writer`]. Every transaction is begun on
    /// one of these, never on the pool, so that a failed one cannot leave its connection behind.
    pub(crate) async fn writer(&self) -> Result<Writer, StoreError> {
        let conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        Ok(Writer(conn))
    }

    /// Column `i` of a row this store read. A value of another type than the schema's (text
    /// that is not UTF-8, a NULL: the file was edited by another tool) is a damaged database,
    /// reported as such, never a panic.
    pub(crate) fn column<'r, T>(&self, row: &'r SqliteRow, i: usize) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        row.try_get(i).map_err(|e| self.err(e))
    }

    /// A failure on SQLite's own API, named as [`Store::err`] names sqlx's.
    fn failure(&self, f: bulk::Failure) -> StoreError {
        let path = self.path.to_path_buf();
        match i64::from(f.code) & 0xff {
            SQLITE_BUSY | SQLITE_LOCKED => StoreError::Locked {
                path,
                waited: self.lock_timeout,
            },
            SQLITE_CORRUPT | SQLITE_NOTADB => StoreError::Corrupt {
                path,
                detail: f.message,
            },
            SQLITE_CANTOPEN | SQLITE_READONLY | SQLITE_PERM => StoreError::Unwritable {
                path,
                detail: f.message,
            },
            SQLITE_FULL => StoreError::Full {
                path,
                detail: f.message,
            },
            _ => StoreError::Sqlite {
                path,
                code: f.code,
                message: f.message,
            },
        }
    }

    /// Fingerprints of the trace files already counted.
    /// The trace units observed so far, by fingerprint, with the windows counted of those read
    /// in part only (`observe::counted`; None: the whole unit is counted).
    pub async fn observed_files(
        &self,
    ) -> Result<std::collections::HashMap<String, Option<String>>, StoreError> {
        let rows = sqlx::query("SELECT fingerprint, windows FROM observed_files")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((self.column(r, 0)?, self.column(r, 1)?)))
            .collect()
    }

    /// Replaces stored task definitions with the same (family, revision, ARN).
    pub async fn save_task_definitions(
        &self,
        defs: &[NewTaskDefinitionRow<'_>],
    ) -> Result<(), StoreError> {
        let now = now();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.map_err(|e| self.err(e))?;
        for d in defs {
            sqlx::query(
                "INSERT INTO task_definitions (family, revision, arn, task_role_arn, execution_role_arn, source, body, loaded_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (family, revision, arn) DO UPDATE SET task_role_arn = excluded.task_role_arn,
                   execution_role_arn = excluded.execution_role_arn, source = excluded.source,
                   body = excluded.body, loaded_at = excluded.loaded_at",
            )
            .bind(d.family)
            .bind(d.revision)
            .bind(d.arn.unwrap_or_default())
            .bind(d.task_role_arn)
            .bind(d.execution_role_arn)
            .bind(&d.source)
            .bind(&d.body)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
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

    /// Moves what the write-ahead log holds into the database file, then closes. SQLite does
    /// that when its last connection closes, but the pool may not have closed it before the
    /// process exits: the database file alone (copied, backed up) would then miss the latest
    /// evidence. Never waits: with another process at work on the file, it is left to that one.
    pub async fn close(self) {
        if let Ok(mut conn) = self.pool.acquire().await {
            let _ = sqlx::query("PRAGMA busy_timeout = 0")
                .execute(&mut *conn)
                .await;
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await;
        }
        self.pool.close().await;
    }
}

/// Current UTC time, ISO-8601 with seconds, like CloudTrail's eventTime.
pub fn now() -> String {
    times::format(chrono::Utc::now())
}

/// Opens the pool, waiting up to `lock_timeout` for other writers.
///
/// Switching a database another process is creating to WAL can fail with "database is locked" at
/// once, without SQLite's busy wait, so connecting is retried until the timeout.
async fn connect(
    options: SqliteConnectOptions,
    lock_timeout: Duration,
) -> Result<SqlitePool, sqlx::Error> {
    let deadline = Instant::now() + lock_timeout;
    loop {
        let attempt = SqlitePoolOptions::new()
            .max_connections(1)
            // Connecting may wait `lock_timeout` for the lock; the pool must wait longer still so
            // that the lock, not the pool, reports it.
            .acquire_timeout(lock_timeout + Duration::from_secs(30))
            .connect_with(options.clone())
            .await;
        match attempt {
            Err(e)
                if matches!(primary_code(&e), Some(SQLITE_BUSY | SQLITE_LOCKED))
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            done => return done,
        }
    }
}

/// Applies the migrations this binary has not yet applied.
///
/// Two processes creating one database at once may both find it unmigrated; the one whose
/// migration loses the race then fails on a table that already exists. Running again sees the
/// winner's committed migration and has nothing left to do, so a failed run is retried a few times.
async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut attempts = 0;
    loop {
        match MIGRATOR.run(pool).await {
            // A full disk is not a race: trying again cannot help, and would hide its message.
            Err(
                sqlx::migrate::MigrateError::Execute(ref e)
                | sqlx::migrate::MigrateError::ExecuteMigration(ref e, _),
            ) if attempts < 3 && primary_code(e) != Some(SQLITE_FULL) => attempts += 1,
            done => return done,
        }
    }
}

fn known_schema() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What [`inspect`] found in a file it accepts.
#[derive(Debug, PartialEq, Eq)]
enum Inspection {
    /// An empty file or an empty SQLite database: to be made ours.
    Blank,
    /// A policy-miner database at a schema this binary knows.
    Ours,
}

/// Read-only look at an existing file: ours and not newer, or refused, without writing to it or
/// leaving anything beside it.
async fn inspect(path: &Path, lock_timeout: Duration) -> Result<Inspection, StoreError> {
    let foreign = |why: String| StoreError::Foreign {
        path: path.to_path_buf(),
        why,
    };
    let header = read_header(path).map_err(|e| StoreError::Unwritable {
        path: path.to_path_buf(),
        detail: format!("cannot read it: {e}"),
    })?;
    if header.is_empty() {
        // An empty file is what SQLite itself would create: safe to make ours.
        return Ok(Inspection::Blank);
    }
    if !header.starts_with(SQLITE_MAGIC) {
        return Err(foreign("not an SQLite database".to_string()));
    }
    // The header's application id tells whose file a damaged one was, when SQLite cannot say.
    let marked_ours = header.len() >= 72 && i64::from(be_u32(&header[68..72])) == APPLICATION_ID;
    let damaged_or_foreign = |e: sqlx::Error| {
        if marked_ours {
            match primary_code(&e) {
                Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: sqlite_message(&e),
                },
                _ => sql(path, e),
            }
        } else {
            foreign(sqlite_message(&e))
        }
    };
    if header.len() < 100 {
        let detail = format!("cut short: only {} bytes long", header.len());
        // Cut before the application id, it cannot say whose it was: most likely the database
        // the user meant, so the advice is the one for a damaged database of ours.
        return Err(if marked_ours || header.len() < 72 {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail,
            }
        } else {
            foreign(format!("an SQLite file {detail}"))
        });
    }
    // Without a write-ahead log the file alone is the whole database, and `immutable` reads it
    // without creating -wal/-shm files beside it. With one (a writer is running, or crashed), the
    // log must be read too; its companion files exist already.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(!wal.exists())
        .busy_timeout(lock_timeout);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(damaged_or_foreign)?;
    let checked = check_schema(path, &mut conn).await;
    let _ = conn.close().await;
    checked.map_err(|e| match e {
        Inspected::Refused(e) => e,
        Inspected::Sql(e) => damaged_or_foreign(e),
    })
}

enum Inspected {
    Refused(StoreError),
    Sql(sqlx::Error),
}

async fn check_schema(
    path: &Path,
    conn: &mut sqlx::SqliteConnection,
) -> Result<Inspection, Inspected> {
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(Inspected::Sql)?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await
            .map_err(Inspected::Sql)?;
    if app_id != APPLICATION_ID {
        if app_id == 0 && tables.is_empty() {
            return Ok(Inspection::Blank);
        }
        return Err(Inspected::Refused(StoreError::Foreign {
            path: path.to_path_buf(),
            why: format!(
                "SQLite file with application_id {app_id} and {} tables",
                tables.len()
            ),
        }));
    }
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        // Ours, created but never migrated (stopped right after creating it): migrating is safe.
        return Ok(Inspection::Ours);
    }
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(Inspected::Sql)?;
    let known = known_schema();
    match newest.filter(|v| *v > known) {
        Some(found) => Err(Inspected::Refused(StoreError::Newer {
            path: path.to_path_buf(),
            found,
            known,
        })),
        None => Ok(Inspection::Ours),
    }
}

/// The first 100 bytes (SQLite's header), or fewer if the file is shorter.
fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)?
        .take(100)
        .read_to_end(&mut header)?;
    Ok(header)
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn primary_code(e: &sqlx::Error) -> Option<i64> {
    let code = e.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// SQLite's own words, without sqlx's "error returned from database" wrapping.
fn sqlite_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

fn sql(path: &Path, cause: sqlx::Error) -> StoreError {
    StoreError::Sql {
        path: path.to_path_buf(),
        cause,
    }
}

/// Names the failures a user can act on: another writer, a damaged file. Only used once
/// [`inspect`] has accepted the file, so an unreadable database is a damaged one of ours.
fn classify(path: &Path, lock_timeout: Duration, e: sqlx::Error) -> StoreError {
    if matches!(e, sqlx::Error::PoolTimedOut) {
        return StoreError::Locked {
            path: path.to_path_buf(),
            waited: lock_timeout,
        };
    }
    if let sqlx::Error::ColumnDecode { .. } = e {
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
    }
    match primary_code(&e) {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Locked {
            path: path.to_path_buf(),
            waited: lock_timeout,
        },
        Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: sqlite_message(&e),
        },
        Some(SQLITE_CANTOPEN | SQLITE_READONLY | SQLITE_PERM) => StoreError::Unwritable {
            path: path.to_path_buf(),
            detail: sqlite_message(&e),
        },
        Some(SQLITE_FULL) => StoreError::Full {
            path: path.to_path_buf(),
            detail: sqlite_message(&e),
        },
        _ => sql(path, e),
    }
}

#[cfg(test)]
mod tests;
