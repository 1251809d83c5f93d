//! Rows of the evidence tables, and their batched writes and reads.

use super::bulk::{Failure, Row, Statement, Value};
use super::{now, Store, StoreError};
use crate::call::Callers;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::Connection;
use std::collections::HashMap;
use std::fmt::Write as _;

impl EvidenceRow {
    /// One successful call of `action` on `resource` (policy syntax) by `role_arn` at `at`, as
    /// CloudTrail would show it (event `<Name>` of `<service>.amazonaws.com`).
    pub fn call(role_arn: &str, action: &str, resource: &str, at: &str) -> EvidenceRow {
        let (service, name) = action.split_once(':').unwrap_or(("", action));
        EvidenceRow {
            role_arn: role_arn.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            condition: String::new(),
            error_code: String::new(),
            count: 1,
            first_seen: at.to_string(),
            last_seen: at.to_string(),
            example_event_id: format!("ev-{name}-{at}"),
            event_source: format!("{service}.amazonaws.com"),
            event_name: name.to_string(),
            rule: String::new(),
            callers: Callers::default(),
        }
    }
}

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
    /// Who made the calls, as far as the trail tells (empty: not recorded, as before callers were
    /// stored, or in an export from then).
    #[serde(default, skip_serializing_if = "Callers::is_empty")]
    pub callers: Callers,
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
    /// The windows counted so far (`observe::counted`), None once the whole file is counted.
    pub windows: Option<String>,
    /// The windows stored before this run read the file, when it was partly counted already.
    pub windows_before: Option<String>,
}

/// A task definition to store: the columns it is found by, and the whole definition as JSON.
/// One with the same (family, revision) is replaced.
#[derive(Debug, Clone)]
pub struct NewTaskDefinitionRow<'a> {
    pub family: &'a str,
    pub revision: i64,
    /// `taskDefinitionArn`, where the definition gives one.
    pub arn: Option<&'a str>,
    pub task_role_arn: Option<&'a str>,
    pub execution_role_arn: Option<&'a str>,
    /// The file it came from, or `ecs:<region>` for a definition read from ECS.
    pub source: String,
    /// The whole definition, JSON.
    pub body: String,
}

/// A stored task definition: its JSON, and the file it came from.
#[derive(Debug, Clone)]
pub struct TaskDefinitionRow {
    pub body: String,
    pub source: String,
}

/// One evidence row to write, borrowed from wherever the caller keeps it.
#[derive(Debug, Clone, Copy)]
pub struct EvidenceRef<'r> {
    pub role_arn: &'r str,
    pub action: &'r str,
    pub resource: &'r str,
    pub condition: &'r str,
    pub error_code: &'r str,
    pub count: i64,
    pub first_seen: &'r str,
    pub last_seen: &'r str,
    pub example_event_id: &'r str,
    pub event_source: &'r str,
    pub event_name: &'r str,
    pub rule: &'r str,
    pub callers: Callers,
}

/// One row of calls without a grant to write, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct UngrantedRef<'r> {
    pub role_arn: &'r str,
    pub event_source: &'r str,
    pub event_name: &'r str,
    pub error_code: &'r str,
    pub kind: &'r str,
    pub reason: &'r str,
    pub count: i64,
    pub first_seen: &'r str,
    pub last_seen: &'r str,
    pub example_event_id: &'r str,
}

/// The rows of a batch, each key at most once. Evidence is best given in primary-key order, so
/// that the upserts walk the B-tree in order instead of touching its pages at random.
pub trait BatchRows {
    fn evidence(&self) -> impl Iterator<Item = EvidenceRef<'_>>;
    fn ungranted(&self) -> impl Iterator<Item = UngrantedRef<'_>>;
}

// SET reads the old row. The example, and what the key records of the event it came from (its
// origin), follow the earliest event (the smaller event id on a tie): whatever order files,
// workers and batches meet the events in, the rows come out the same.
//
// Counts saturate at SQLite's largest integer (counts added are never negative): past it, SQLite
// would make the sum a REAL, which loses calls and no longer reads back as an integer.
//
// The origin (?10) is an id of evidence_origins: see [`Origins`].
pub(super) const EVIDENCE_UPSERT: &str = "INSERT INTO evidence (role_arn, action, resource, condition,
       error_code, count, first_seen, last_seen, example_event_id, origin, callers)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (role_arn, action, resource, condition, error_code) DO UPDATE SET
       callers = callers | excluded.callers,
       count = CASE WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
           ELSE count + excluded.count END,
       example_event_id = CASE WHEN (excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.example_event_id < example_event_id))
           THEN excluded.example_event_id ELSE example_event_id END,
       origin = CASE WHEN (excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.example_event_id < example_event_id))
           THEN excluded.origin ELSE origin END,
       first_seen = min(first_seen, excluded.first_seen),
       last_seen = max(last_seen, excluded.last_seen)";

/// The id of an origin (event source, event name, rule), if stored.
pub(super) const ORIGIN_SELECT: &str =
    "SELECT id FROM evidence_origins WHERE event_source = ? AND event_name = ? AND rule = ?";
/// Stores an origin; its id is then [`ORIGIN_SELECT`]'s.
pub(super) const ORIGIN_INSERT: &str =
    "INSERT INTO evidence_origins (event_source, event_name, rule) VALUES (?, ?, ?)";

/// The origins of evidence rows (event source, event name, rule), each stored once with an id
/// (migrations/20261205000000_evidence_origins.sql says why), found or stored as rows come. Rows
/// of one origin tend to come together (a batch is in key order): the last origin found is
/// checked first, then those found before.
pub(super) struct Origins<'h> {
    select: Statement<'h>,
    insert: Statement<'h>,
    last: Option<(String, String, String, i64)>,
    /// By source, name and rule joined, each of the first two after its length (so that no two
    /// triples join alike, whatever they hold).
    found: HashMap<String, i64>,
    joined: String,
}

impl<'h> Origins<'h> {
    pub(super) fn new(select: Statement<'h>, insert: Statement<'h>) -> Self {
        Origins {
            select,
            insert,
            last: None,
            found: HashMap::new(),
            joined: String::new(),
        }
    }

    /// The id of (`source`, `name`, `rule`), stored first if it is new. The caller holds a
    /// write transaction: no other writer stores it in between.
    pub(super) fn id(&mut self, source: &str, name: &str, rule: &str) -> Result<i64, Failure> {
        if let Some((s, n, r, id)) = &self.last {
            if (s.as_str(), n.as_str(), r.as_str()) == (source, name, rule) {
                return Ok(*id);
            }
        }
        self.joined.clear();
        for part in [source, name] {
            let _ = write!(self.joined, "{}:{part}", part.len());
        }
        self.joined.push_str(rule);
        let id = match self.found.get(self.joined.as_str()) {
            Some(&id) => id,
            None => {
                let id = self.stored(source, name, rule)?;
                self.found.insert(self.joined.clone(), id);
                id
            }
        };
        self.last = Some((source.to_string(), name.to_string(), rule.to_string(), id));
        Ok(id)
    }

    fn stored(&mut self, source: &str, name: &str, rule: &str) -> Result<i64, Failure> {
        let values = [Value::Text(source), Value::Text(name), Value::Text(rule)];
        if let Some(id) = self.select.query_int(&values)? {
            return Ok(id);
        }
        self.insert.run(&values)?;
        self.select.query_int(&values)?.ok_or_else(|| Failure {
            code: libsqlite3_sys::SQLITE_INTERNAL,
            message: "an evidence origin just stored is not found".to_string(),
        })
    }
}

pub(super) const UNGRANTED_UPSERT: &str = "INSERT INTO ungranted_calls (role_arn, event_source, event_name,
       error_code, kind, reason, count, first_seen, last_seen, example_event_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (role_arn, event_source, event_name, error_code) DO UPDATE SET
       count = CASE WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
           ELSE count + excluded.count END,
       example_event_id = CASE WHEN (excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.example_event_id < example_event_id))
           THEN excluded.example_event_id ELSE example_event_id END,
       kind = CASE WHEN (excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.example_event_id < example_event_id))
           THEN excluded.kind ELSE kind END,
       reason = CASE WHEN (excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.example_event_id < example_event_id))
           THEN excluded.reason ELSE reason END,
       first_seen = min(first_seen, excluded.first_seen),
       last_seen = max(last_seen, excluded.last_seen)";

/// A live source's (or an export's) count of one evidence key, saturating like the others.
pub(super) const SOURCE_UPSERT: &str = "INSERT INTO evidence_sources (role_arn, action, resource,
       condition, error_code, source, count, first_seen, last_seen)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (role_arn, action, resource, condition, error_code, source) DO UPDATE SET
       count = CASE WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
           ELSE count + excluded.count END,
       first_seen = min(first_seen, excluded.first_seen),
       last_seen = max(last_seen, excluded.last_seen)";

impl Store {
    /// Commits a batch of trace files with the evidence read from them, all or nothing.
    ///
    /// Another `observe` on the same database may have committed some of these files after this
    /// one listed the files already observed. So, inside one write transaction (taken first, so
    /// that no other writer commits in between), the files are claimed first: `rows` is told, per
    /// file, whether it is new here, and must return the evidence of the new files only. Returns
    /// the indices of the files left out because another run had already counted them.
    pub async fn write_batch<F, R>(
        &self,
        files: &[ObservedFile],
        rows: F,
    ) -> Result<Vec<usize>, StoreError>
    where
        F: FnOnce(&[bool]) -> R,
        R: BatchRows,
    {
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        let observed_at = now();
        let fresh = {
            let mut handle = tx.lock_handle().await.map_err(|e| self.err(e))?;
            let fresh = blocking(|| claim_files(&mut handle, files, &observed_at))
                .map_err(|f| self.failure(f))?;
            let rows = rows(&fresh);
            blocking(|| upsert_rows(&mut handle, &rows)).map_err(|f| self.failure(f))?;
            fresh
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(fresh
            .iter()
            .enumerate()
            .filter(|(_, new)| !**new)
            .map(|(i, _)| i)
            .collect())
    }

    /// All evidence, in a stable order; a row whose origin is missing (a database edited by
    /// hand) is read with an empty event source, event name and rule, never left out. Rows are
    /// read on SQLite's own API as it yields them: through sqlx, every row was held twice until
    /// the last came (its driver row and ours), which doubled the memory of `propose` on a large
    /// database.
    pub async fn evidence(&self) -> Result<Vec<EvidenceRow>, StoreError> {
        self.read_rows(
            "SELECT e.role_arn, e.action, e.resource, e.condition, e.error_code, e.count,
                    e.first_seen, e.last_seen, e.example_event_id, o.event_source, o.event_name,
                    o.rule, e.callers
             FROM evidence e LEFT JOIN evidence_origins o ON o.id = e.origin
             ORDER BY e.role_arn, e.action, e.resource, e.condition, e.error_code",
            |r| EvidenceRow {
                role_arn: r.text(0),
                action: r.text(1),
                resource: r.text(2),
                condition: r.text(3),
                error_code: r.text(4),
                count: r.int(5),
                first_seen: r.text(6),
                last_seen: r.text(7),
                example_event_id: r.text(8),
                event_source: r.text(9),
                event_name: r.text(10),
                rule: r.text(11),
                callers: Callers::from_stored(r.int(12)),
            },
        )
        .await
    }

    pub async fn ungranted(&self) -> Result<Vec<UngrantedRow>, StoreError> {
        self.read_rows(
            "SELECT role_arn, event_source, event_name, error_code, kind, reason, count, first_seen,
                    last_seen, example_event_id
             FROM ungranted_calls ORDER BY role_arn, event_source, event_name, error_code",
            |r| UngrantedRow {
                role_arn: r.text(0),
                event_source: r.text(1),
                event_name: r.text(2),
                error_code: r.text(3),
                kind: r.text(4),
                reason: r.text(5),
                count: r.int(6),
                first_seen: r.text(7),
                last_seen: r.text(8),
                example_event_id: r.text(9),
            },
        )
        .await
    }

    /// Each file observed so far, made into a `T` by `each` from its fingerprint and its windows
    /// (None once counted whole) as SQLite yields it: through sqlx, every row was held whole
    /// (about 600 bytes a file) until the last came, and a scheduled run on an organization's
    /// trail bucket has millions of files behind it.
    pub async fn observed_files_as<T>(
        &self,
        mut each: impl FnMut(&str, Option<&str>) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let (mut out, mut damaged) = (Vec::new(), None);
        self.read_rows(
            "SELECT fingerprint, windows FROM observed_files",
            |r| match (r.strict_text(0), r.strict_text(1)) {
                (Ok(fingerprint), Ok(windows)) => out.extend(each(
                    fingerprint.as_deref().unwrap_or_default(),
                    windows.as_deref(),
                )),
                (Err(e), _) | (_, Err(e)) => damaged = Some(e),
            },
        )
        .await?;
        match damaged {
            None => Ok(out),
            Some(e) => Err(StoreError::Corrupt {
                path: self.path.to_path_buf(),
                detail: format!("a file observed has a value that is not text: {e}"),
            }),
        }
    }

    /// Every row `sql` yields, each made into a `T` as it comes (one statement: one snapshot).
    async fn read_rows<T>(
        &self,
        sql: &str,
        mut row: impl FnMut(&Row<'_>) -> T,
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(|e| self.err(e))?;
        let mut handle = conn.lock_handle().await.map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        blocking(|| Statement::prepare(&mut handle, sql)?.for_each_row(|r| out.push(row(r))))
            .map_err(|f| self.failure(f))?;
        Ok(out)
    }

    /// Every stored task definition, ordered by family and revision.
    pub async fn task_definition_rows(&self) -> Result<Vec<TaskDefinitionRow>, StoreError> {
        let rows =
            sqlx::query("SELECT body, source FROM task_definitions ORDER BY family, revision, arn")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(TaskDefinitionRow {
                    body: self.column(r, 0)?,
                    source: self.column(r, 1)?,
                })
            })
            .collect()
    }
}

/// Claims each file for this batch, by its fingerprint: whether it is new here (see
/// [`Store::write_batch`]). On SQLite's own API, like the rows: through sqlx, each file was a
/// round trip to its worker thread (two thread wake-ups or more), a cost paid per file that a
/// trail of many small files felt most (14,900 futex calls for 4,000 files, 3,200 since). Whether
/// a claim took is read from the count of rows changed: with `RETURNING`, each claim also filled
/// a statement journal with a copy of every 64 KiB page it touched (4,000 claims: about 90 ms
/// of the committer's time, 5 ms without).
fn claim_files(
    handle: &mut LockedSqliteHandle<'_>,
    files: &[ObservedFile],
    observed_at: &str,
) -> Result<Vec<bool>, Failure> {
    // A file counted in part is claimed by its windows, as this run saw them: if another run
    // counted more of it meanwhile, this run's reading is left out whole.
    let [mut insert, mut update] = Statement::prepare_all(
        handle,
        [
            "INSERT INTO observed_files (fingerprint, path, size, events, observed_at, windows)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            "UPDATE observed_files SET path = ?, observed_at = ?, windows = ?
             WHERE fingerprint = ? AND windows = ?",
        ],
    )?;
    files
        .iter()
        .map(|f| {
            let claimed = match &f.windows_before {
                None => insert.changed(&[
                    Value::Text(&f.fingerprint),
                    Value::Text(&f.path),
                    Value::Int(f.size),
                    Value::Int(f.events),
                    Value::Text(observed_at),
                    Value::opt(f.windows.as_deref()),
                ])?,
                Some(before) => update.changed(&[
                    Value::Text(&f.path),
                    Value::Text(observed_at),
                    Value::opt(f.windows.as_deref()),
                    Value::Text(&f.fingerprint),
                    Value::Text(before),
                ])?,
            };
            Ok(claimed)
        })
        .collect()
}

/// Upserts every row through prepared statements.
fn upsert_rows(handle: &mut LockedSqliteHandle<'_>, rows: &impl BatchRows) -> Result<(), Failure> {
    let [mut upsert, select, insert, mut upsert_ungranted] = Statement::prepare_all(
        handle,
        [
            EVIDENCE_UPSERT,
            ORIGIN_SELECT,
            ORIGIN_INSERT,
            UNGRANTED_UPSERT,
        ],
    )?;
    let mut origins = Origins::new(select, insert);
    for r in rows.evidence() {
        let origin = origins.id(r.event_source, r.event_name, r.rule)?;
        upsert.run(&[
            Value::Text(r.role_arn),
            Value::Text(r.action),
            Value::Text(r.resource),
            Value::Text(r.condition),
            Value::Text(r.error_code),
            Value::Int(r.count),
            Value::Text(r.first_seen),
            Value::Text(r.last_seen),
            Value::Text(r.example_event_id),
            Value::Int(origin),
            Value::Int(r.callers.stored()),
        ])?;
    }
    for r in rows.ungranted() {
        upsert_ungranted.run(&[
            Value::Text(r.role_arn),
            Value::Text(r.event_source),
            Value::Text(r.event_name),
            Value::Text(r.error_code),
            Value::Text(r.kind),
            Value::Text(r.reason),
            Value::Int(r.count),
            Value::Text(r.first_seen),
            Value::Text(r.last_seen),
            Value::Text(r.example_event_id),
        ])?;
    }
    Ok(())
}

/// Runs `f`, which blocks this thread for a while (SQLite writing a batch), telling a
/// multi-threaded runtime to move its other tasks elsewhere meanwhile.
pub(super) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
