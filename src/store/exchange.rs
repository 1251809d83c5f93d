//! Evidence carried between databases: `export` writes all of a database's evidence with the
//! database's identity (its origin) and an export counter; `import` adds another database's
//! export to this one.
//!
//! An export is a file anyone may have written, so `import` takes nothing in it on trust:
//!
//! - Each row passes the checks observed evidence passes (`check`): an action of the catalog on
//!   a resource it accepts, a positive count, plausible times. A row that fails is refused, named
//!   and counted; the rest of the file goes in.
//! - An import only adds. Each export stream (one origin) may have brought a row a count before;
//!   a new file of the stream adds what the row's count grew by since, and nothing when it did
//!   not grow (`imported_counts` keeps the largest count each stream brought each row). Nothing
//!   is ever taken back, so an empty or forged file that claims another database's origin
//!   cannot erase that database's evidence. A database never deletes evidence, so its exports
//!   only grow, and adding the growth comes to what replacing each older snapshot with the newer
//!   one came to, without keeping a copy of each snapshot to take back out.
//! - The export counter decides nothing: a file with a huge one cannot make the later exports of
//!   its stream look "already in". The same file again, or an older one, adds nothing because
//!   its counts did not grow. A file that claims more calls than its stream made can only hold
//!   back that stream's later counts of the same rows until they catch up; it gains nothing a
//!   file under an origin of its own could not.
//! - A database never imports its own export (every count would double), and a copy of a
//!   database file takes an origin of its own on its first export (`same_file`).
//!
//! A file is read as a stream, its header first and then its rows one at a time (`read`), so an
//! import's memory does not grow with the file; of the file, only its rows' counts are stored.

mod check;
mod read;

use super::bulk::{Failure, Statement, Value};
use super::rows::{
    blocking, Origins, EVIDENCE_UPSERT, ORIGIN_INSERT, ORIGIN_SELECT, SOURCE_UPSERT,
    UNGRANTED_UPSERT,
};
use super::{now, EvidenceRow, SourceCount, Store, StoreError, UngrantedRow};
use crate::catalog::Catalog;
use check::Refusal;
use chrono::{DateTime, Utc};
use read::{List, Stopped};
use serde_json::value::RawValue;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::{Connection, Sqlite, Transaction};
use std::path::Path;

pub const FORMAT: &str = "policy-miner-evidence";
pub const VERSION: u32 = 1;

/// Refused rows listed by name per file; the others are counted only.
pub const LISTED: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// The exporting database's identity, made on its first export.
    pub origin: String,
    /// Its exports, counted: a larger one holds everything a smaller one did, and more.
    pub sequence: i64,
    pub exported_at: String,
    pub evidence: Vec<ExportedEvidence>,
    pub ungranted: Vec<UngrantedRow>,
}

/// An evidence row with its counts per live source (none for CloudTrail evidence).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedEvidence {
    #[serde(flatten)]
    pub row: EvidenceRow,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceCount>,
}

/// What the import of one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub origin: String,
    pub sequence: i64,
    /// The largest export number of the same origin imported before, if any.
    pub previous: Option<i64>,
    /// Rows new here, or whose count grew.
    pub added: usize,
    /// Rows already in with this count or more: the same export again, or an older one.
    pub unchanged: usize,
    /// Rows refused, all counted; the first [`LISTED`] with where and why (`evidence[3]: …`).
    pub refused: usize,
    pub refusals: Vec<String>,
}

impl Imported {
    fn refuse(&mut self, list: List, index: usize, why: Refusal) {
        self.refused += 1;
        if self.refusals.len() < LISTED {
            self.refusals
                .push(format!("{}[{index}]: {why}", list.name()));
        }
    }
}

/// Why a file was not imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Nothing of the file went in; the message names it and says why. Other files may go on.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The database's identity in `meta`: its origin, the file it was made for, its exports so far.
const ORIGIN: &str = "origin";
const ORIGIN_FILE: &str = "origin_file";
const EXPORT_SEQUENCE: &str = "export_sequence";

impl Store {
    /// A snapshot of every piece of evidence in the database.
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        // A connection whose transaction SQLite ended by itself (a full disk) is closed, not
        // pooled: see [`super::Writer`].
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        let here = file_id(self.path());
        let (origin, sequence) = match self.own_origin(&mut tx).await? {
            Some(origin) => {
                let before = meta(&mut tx, EXPORT_SEQUENCE)
                    .await
                    .map_err(|e| self.err(e))?
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
                (origin, before.saturating_add(1))
            }
            None => (new_origin(self.path()), 1),
        };
        let mut identity = vec![
            (ORIGIN, origin.clone()),
            (EXPORT_SEQUENCE, sequence.to_string()),
        ];
        identity.extend(here.map(|file| (ORIGIN_FILE, file)));
        for (key, value) in identity {
            set_meta(&mut tx, key, &value)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        // The pool may hold one connection: give it back before reading through the pool.
        drop(conn);
        let evidence = self.exported_evidence().await?;
        Ok(Snapshot {
            format: FORMAT.to_string(),
            version: VERSION,
            origin,
            sequence,
            exported_at: now(),
            evidence,
            ungranted: self.ungranted().await?,
        })
    }

    /// Every evidence row with its counts per source.
    async fn exported_evidence(&self) -> Result<Vec<ExportedEvidence>, StoreError> {
        let rows = self.evidence().await?;
        let sources = sqlx::query(
            "SELECT role_arn, action, resource, condition, error_code, source, count, first_seen,
                    last_seen
             FROM evidence_sources ORDER BY role_arn, action, resource, condition, error_code, source",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut by_key: std::collections::HashMap<[String; 5], Vec<SourceCount>> =
            std::collections::HashMap::new();
        for s in &sources {
            let key = [
                self.column(s, 0)?,
                self.column(s, 1)?,
                self.column(s, 2)?,
                self.column(s, 3)?,
                self.column(s, 4)?,
            ];
            by_key.entry(key).or_default().push(SourceCount {
                source: self.column(s, 5)?,
                count: self.column(s, 6)?,
                first_seen: self.column(s, 7)?,
                last_seen: self.column(s, 8)?,
            });
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let key = [
                    row.role_arn.clone(),
                    row.action.clone(),
                    row.resource.clone(),
                    row.condition.clone(),
                    row.error_code.clone(),
                ];
                ExportedEvidence {
                    sources: by_key.remove(&key).unwrap_or_default(),
                    row,
                }
            })
            .collect())
    }

    /// Adds the evidence of the export at `path` that its stream has not brought before, in one
    /// transaction: a file that cannot be read to its end changes nothing.
    pub async fn import(&self, path: &Path) -> Result<Imported, ImportError> {
        let header = blocking(|| read::header(path))?;
        // A connection whose transaction SQLite ended by itself (a full disk) is closed, not
        // pooled: see [`super::Writer`].
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        if self.own_origin(&mut tx).await?.as_deref() == Some(header.origin.as_str()) {
            return Err(ImportError::Refused(format!(
                "{}: an export of this very database ({}); importing it would count each of its \
                 calls twice. Import it into another database",
                path.display(),
                self.path().display()
            )));
        }
        self.settle_legacy_imports(&mut tx).await?;
        let previous =
            sqlx::query_scalar::<_, i64>("SELECT sequence FROM imports WHERE origin = ?")
                .bind(&header.origin)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        let mut done = Imported {
            origin: header.origin.clone(),
            sequence: header.sequence,
            previous,
            ..Imported::default()
        };
        {
            let mut handle = tx.lock_handle().await.map_err(|e| self.err(e))?;
            blocking(|| add_rows(&mut handle, path, &header.origin, &mut done)).map_err(
                |stopped| match stopped {
                    Stopped::Unreadable(why) => ImportError::Refused(format!(
                        "{}: {why}; nothing of it was imported",
                        path.display()
                    )),
                    Stopped::By(f) => ImportError::Store(self.failure(f)),
                },
            )?;
        }
        // The body is no longer kept: the ledger holds what the stream brought.
        sqlx::query(
            "INSERT INTO imports (origin, sequence, path, imported_at, body) VALUES (?, ?, ?, ?, '')
             ON CONFLICT (origin) DO UPDATE SET sequence = max(sequence, excluded.sequence),
               path = excluded.path, imported_at = excluded.imported_at, body = ''",
        )
        .bind(&header.origin)
        .bind(header.sequence)
        .bind(path.display().to_string())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done)
    }

    /// This database's origin, unless it has none yet or its file is a copy of the one the
    /// origin was made for (the copy then takes an origin of its own on its first export).
    async fn own_origin(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
    ) -> Result<Option<String>, StoreError> {
        let Some(origin) = meta(tx, ORIGIN).await.map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let made_for = meta(tx, ORIGIN_FILE).await.map_err(|e| self.err(e))?;
        let here = file_id(self.path());
        Ok(same_file(made_for.as_deref(), here.as_deref()).then_some(origin))
    }

    /// Imports made before the ledger kept a copy of the whole snapshot instead
    /// (`imports.body`): once, its counts become the ledger's and the copy is dropped.
    async fn settle_legacy_imports(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
    ) -> Result<(), StoreError> {
        let kept = sqlx::query("SELECT origin, body FROM imports WHERE body != ''")
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        for row in &kept {
            let origin: String = self.column(row, 0)?;
            let body: String = self.column(row, 1)?;
            let old: Snapshot = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                detail: format!("the snapshot imported from {origin} is damaged: {e}"),
            })?;
            for (key, count) in ledger_entries(&origin, &old) {
                sqlx::query(LEDGER_PUT)
                    .bind(key)
                    .bind(count)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            sqlx::query("UPDATE imports SET body = '' WHERE origin = ?")
                .bind(&origin)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

const LEDGER_GET: &str = "SELECT count FROM imported_counts WHERE key = ?";
const LEDGER_PUT: &str = "INSERT INTO imported_counts (key, count) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET count = max(count, excluded.count)";

/// Reads the rows of the export at `path`, checks each, and adds what its stream (`origin`) has
/// not brought before.
fn add_rows(
    handle: &mut LockedSqliteHandle<'_>,
    path: &Path,
    origin: &str,
    done: &mut Imported,
) -> Result<(), Stopped<Failure>> {
    let [ledger_get, ledger_put, evidence, source, ungranted, origin_select, origin_insert] =
        Statement::prepare_all(
            handle,
            [
                LEDGER_GET,
                LEDGER_PUT,
                EVIDENCE_UPSERT,
                SOURCE_UPSERT,
                UNGRANTED_UPSERT,
                ORIGIN_SELECT,
                ORIGIN_INSERT,
            ],
        )
        .map_err(Stopped::By)?;
    let mut writer = Writer {
        origin,
        ledger_get,
        ledger_put,
        evidence,
        source,
        ungranted,
        origins: Origins::new(origin_select, origin_insert),
    };
    let catalog = crate::catalog::active();
    let now = chrono::Utc::now();
    let mut each = |list: List, index: usize, raw: &RawValue| -> Result<(), Failure> {
        match writer.add(list, raw, catalog, now)? {
            Ok(true) => done.added += 1,
            Ok(false) => done.unchanged += 1,
            Err(why) => done.refuse(list, index, why),
        }
        Ok(())
    };
    read::rows(path, &mut each)
}

/// The statements an import runs for each row, on its transaction's connection.
struct Writer<'o, 'h> {
    origin: &'o str,
    ledger_get: Statement<'h>,
    ledger_put: Statement<'h>,
    evidence: Statement<'h>,
    source: Statement<'h>,
    ungranted: Statement<'h>,
    origins: Origins<'h>,
}

impl Writer<'_, '_> {
    /// Checks one row (its JSON text) and adds what it brings: whether it grew, or why it was
    /// refused.
    fn add(
        &mut self,
        list: List,
        raw: &RawValue,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Result<bool, Refusal>, Failure> {
        match list {
            List::Evidence => {
                let mut e: ExportedEvidence = match serde_json::from_str(raw.get()) {
                    Ok(e) => e,
                    Err(err) => return Ok(Err(Refusal::NotEvidence(err.to_string()))),
                };
                if let Err(why) = check::evidence(&mut e, catalog, now) {
                    return Ok(Err(why));
                }
                self.evidence(&e).map(Ok)
            }
            List::Ungranted => {
                let mut u: UngrantedRow = match serde_json::from_str(raw.get()) {
                    Ok(u) => u,
                    Err(err) => return Ok(Err(Refusal::NotUngranted(err.to_string()))),
                };
                if let Err(why) = check::ungranted(&mut u, now) {
                    return Ok(Err(why));
                }
                self.ungranted(&u).map(Ok)
            }
        }
    }

    /// Adds what the row's count grew by since its stream last brought it; whether it grew.
    ///
    /// A row that did not grow brings nothing, its times included: an export's times only move
    /// when its counts do (a new call), so this is the same file again or an older one.
    fn evidence(&mut self, e: &ExportedEvidence) -> Result<bool, Failure> {
        let r = &e.row;
        let grown = self.grown(&evidence_key(self.origin, r), r.count)?;
        if grown == 0 {
            return Ok(false);
        }
        let origin = self.origins.id(&r.event_source, &r.event_name, &r.rule)?;
        self.evidence.run(&[
            Value::Text(&r.role_arn),
            Value::Text(&r.action),
            Value::Text(&r.resource),
            Value::Text(&r.condition),
            Value::Text(&r.error_code),
            Value::Int(grown),
            Value::Text(&r.first_seen),
            Value::Text(&r.last_seen),
            Value::Text(&r.example_event_id),
            Value::Int(origin),
            Value::Int(r.callers.stored()),
        ])?;
        for s in &e.sources {
            let grown = self.grown(&source_key(self.origin, r, &s.source), s.count)?;
            if grown == 0 {
                continue;
            }
            self.source.run(&[
                Value::Text(&r.role_arn),
                Value::Text(&r.action),
                Value::Text(&r.resource),
                Value::Text(&r.condition),
                Value::Text(&r.error_code),
                Value::Text(&s.source),
                Value::Int(grown),
                Value::Text(&s.first_seen),
                Value::Text(&s.last_seen),
            ])?;
        }
        Ok(true)
    }

    /// As [`Writer::evidence`], for a row of calls without a grant.
    fn ungranted(&mut self, u: &UngrantedRow) -> Result<bool, Failure> {
        let grown = self.grown(&ungranted_key(self.origin, u), u.count)?;
        if grown == 0 {
            return Ok(false);
        }
        self.ungranted.run(&[
            Value::Text(&u.role_arn),
            Value::Text(&u.event_source),
            Value::Text(&u.event_name),
            Value::Text(&u.error_code),
            Value::Text(&u.kind),
            Value::Text(&u.reason),
            Value::Int(grown),
            Value::Text(&u.first_seen),
            Value::Text(&u.last_seen),
            Value::Text(&u.example_event_id),
        ])?;
        Ok(true)
    }

    /// How much `count` exceeds what the stream brought for `key` before (0 if it does not),
    /// recorded as brought. `count` is positive (`check`), so the difference cannot overflow.
    fn grown(&mut self, key: &str, count: i64) -> Result<i64, Failure> {
        let before = self
            .ledger_get
            .query_int(&[Value::Text(key)])?
            .unwrap_or(0)
            .max(0);
        if count <= before {
            return Ok(0);
        }
        self.ledger_put
            .run(&[Value::Text(key), Value::Int(count)])?;
        Ok(count - before)
    }
}

/// The ledger's key of one row of one stream: a hash of the origin, the table and the row's key,
/// each part length-prefixed so that no two keys run together. A collision (128 bits) could only
/// make a row count less, never add or remove a grant.
fn ledger_key(origin: &str, table: &str, parts: &[&str]) -> String {
    let mut bytes = Vec::with_capacity(256);
    for part in [origin, table].iter().chain(parts) {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes))
}

fn evidence_key(origin: &str, r: &EvidenceRow) -> String {
    let key: [&str; 5] = [
        &r.role_arn,
        &r.action,
        &r.resource,
        &r.condition,
        &r.error_code,
    ];
    ledger_key(origin, "evidence", &key)
}

fn source_key(origin: &str, r: &EvidenceRow, source: &str) -> String {
    let key: [&str; 6] = [
        &r.role_arn,
        &r.action,
        &r.resource,
        &r.condition,
        &r.error_code,
        source,
    ];
    ledger_key(origin, "evidence_sources", &key)
}

fn ungranted_key(origin: &str, u: &UngrantedRow) -> String {
    let key: [&str; 4] = [&u.role_arn, &u.event_source, &u.event_name, &u.error_code];
    ledger_key(origin, "ungranted_calls", &key)
}

/// The ledger's entries for a whole snapshot imported from `origin`.
fn ledger_entries(origin: &str, s: &Snapshot) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for e in &s.evidence {
        out.push((evidence_key(origin, &e.row), e.row.count));
        for by in &e.sources {
            out.push((source_key(origin, &e.row, &by.source), by.count));
        }
    }
    for u in &s.ungranted {
        out.push((ungranted_key(origin, u), u.count));
    }
    out
}

async fn meta(tx: &mut Transaction<'_, Sqlite>, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
}

async fn set_meta(
    tx: &mut Transaction<'_, Sqlite>,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The identity of the file the database lives in: its inode number, which a copy does not
/// share. Not the path: a database moved or mounted elsewhere is the same evidence, and its
/// exports must go on adding to what it exported before. Not the device number either: container
/// and network file systems renumber devices when they are mounted again.
fn file_id(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino().to_string())
}

/// Whether the database's file is the one its origin was made for. A copied database kept its
/// original's origin, so the exports of both claimed to be one stream; now the copy takes an
/// origin of its own on its first export. A backup restored by copying is a copy too: a database
/// that imported the original's exports then counts the evidence from before the backup a
/// second time, which over-counts calls but never loses evidence. An origin made before its file
/// was recorded is taken as this file's (and recorded on the next export).
fn same_file(made_for: Option<&str>, here: Option<&str>) -> bool {
    match (made_for, here) {
        (Some(made_for), Some(here)) => made_for == here,
        _ => true,
    }
}

/// An identity no other database will have: the path, the process, the time and the address of
/// a fresh allocation, hashed.
fn new_origin(path: &Path) -> String {
    let marker = Box::new(0u8);
    let seed = format!(
        "{}|{}|{}|{:p}",
        path.display(),
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        &*marker
    );
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes()))
}

impl Snapshot {
    /// Writes the snapshot to `path` whole or not at all (a reader never sees half a file).
    pub fn write_to(&self, path: &Path) -> Result<(), crate::Error> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let text = serde_json::to_vec(self)?;
        std::fs::write(&tmp, text).map_err(|error| crate::Error::Write {
            what: "writing",
            path: tmp.clone(),
            error,
        })?;
        std::fs::rename(&tmp, path).map_err(|error| crate::Error::Write {
            what: "renaming to",
            path: path.to_path_buf(),
            error,
        })
    }
}
