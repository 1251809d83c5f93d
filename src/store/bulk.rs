//! Many rows through one prepared statement, on SQLite's own API.
//!
//! observe writes hundreds of thousands of evidence rows per run, and propose reads them all
//! back. Through sqlx, every string of every row written was copied twice (into sqlx's
//! arguments, which must own their values to reach its worker thread, then by SQLite), every row
//! read became a row object of its own on that thread, and each statement was a round trip to
//! it: most of the writer's time, and most of propose's reading. Here the statement runs on the
//! caller's thread, on the connection sqlx lends it (sqlx's worker is parked meanwhile), with
//! each string bound where it lies and each row read where SQLite holds it.
//!
//! Calling SQLite's C API is unsafe: each function that does allows `unsafe_code` for itself
//! alone, and each unsafe block says why it is sound (SAFETY).

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A value to bind to a parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'v> {
    Text(&'v str),
    Int(i64),
    Null,
}

impl<'v> Value<'v> {
    /// A text, or NULL.
    pub(super) fn opt(s: Option<&'v str>) -> Value<'v> {
        s.map_or(Value::Null, Value::Text)
    }
}

/// What SQLite said when it failed: its extended result code and message.
#[derive(Debug)]
pub(super) struct Failure {
    pub code: c_int,
    pub message: String,
}

/// A prepared statement on a connection locked from sqlx, for as long as the lock is held.
pub(super) struct Statement<'h> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    _lock: PhantomData<&'h mut ()>,
}

impl<'h> Statement<'h> {
    pub(super) fn prepare(
        handle: &'h mut LockedSqliteHandle<'_>,
        sql: &str,
    ) -> Result<Self, Failure> {
        let db = handle.as_raw_handle();
        Ok(Statement {
            db,
            stmt: prepare_on(db, sql)?,
            _lock: PhantomData,
        })
    }

    /// Several statements on the connection of `handle`, to be run in turn. They never
    /// interleave: each call of `run`, `query_int` or `changed` steps its statement and resets
    /// it before returning.
    pub(super) fn prepare_all<const N: usize>(
        handle: &'h mut LockedSqliteHandle<'_>,
        sql: [&str; N],
    ) -> Result<[Self; N], Failure> {
        let db = handle.as_raw_handle();
        let mut all = Vec::with_capacity(N);
        for s in sql {
            all.push(Statement {
                db,
                stmt: prepare_on(db, s)?,
                _lock: PhantomData,
            });
        }
        all.try_into().map_err(|_| Failure {
            code: ffi::SQLITE_MISUSE,
            message: "statements prepared short".to_string(),
        })
    }

    /// Runs the statement once with `values` bound to its parameters, in order.
    pub(super) fn run(&mut self, values: &[Value<'_>]) -> Result<(), Failure> {
        self.step_once(values).map(|_| ())
    }

    /// Runs the statement once with `values` bound, and gives column 0 of the first row it
    /// yields as an integer (None when it yields none).
    pub(super) fn query_int(&mut self, values: &[Value<'_>]) -> Result<Option<i64>, Failure> {
        self.step_once(values)
    }

    /// Runs an INSERT, UPDATE or DELETE once with `values` bound: whether it changed a row.
    /// Cheaper than `RETURNING`, which made SQLite open a statement journal for each run and
    /// copy into it every page the statement touched (a claim took 3 to 4 times as long).
    #[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
    pub(super) fn changed(&mut self, values: &[Value<'_>]) -> Result<bool, Failure> {
        self.step_once(values)?;
        // SAFETY: `db` is the live connection this statement was prepared on, held locked by
        // this thread: no other statement ran on it since the step.
        Ok(unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) } > 0)
    }

    /// Binds `values`, steps once, and resets: column 0 of the row the step gave, if it gave one.
    #[allow(unsafe_code)] // SQLite's C API: see each SAFETY below.
    fn step_once(&mut self, values: &[Value<'_>]) -> Result<Option<i64>, Failure> {
        let stmt = self.stmt.as_ptr();
        let mut rc = ffi::SQLITE_OK;
        for (i, value) in values.iter().enumerate() {
            let index = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            // SAFETY: `stmt` is a live statement of this connection. A text is bound without a
            // copy (SQLITE_STATIC): `values` outlives the step below, and the bindings are
            // cleared before this function returns, so SQLite never keeps the pointer.
            rc = unsafe {
                match *value {
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Value::Int(n) => ffi::sqlite3_bind_int64(stmt, index, n),
                    Value::Null => ffi::sqlite3_bind_null(stmt, index),
                }
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
        }
        let mut row = None;
        if rc == ffi::SQLITE_OK {
            // SAFETY: as above; the statement is reset below whatever the step returns.
            rc = unsafe { ffi::sqlite3_step(stmt) };
            if rc == ffi::SQLITE_ROW {
                // SAFETY: the step just put the statement on a row.
                row = Some(unsafe { ffi::sqlite3_column_int64(stmt, 0) });
                rc = ffi::SQLITE_DONE;
            }
        }
        let failed = (rc != ffi::SQLITE_DONE).then(|| failure(self.db));
        // SAFETY: resetting and unbinding a live statement (their results repeat the step's).
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        failed.map_or(Ok(row), Err)
    }
}

/// Pages the connection wrote to its write-ahead log since this was last called (or since it
/// opened), and the pages the database has.
#[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
pub(super) fn log_status(handle: &mut LockedSqliteHandle<'_>) -> (u64, u64) {
    let db = handle.as_raw_handle();
    let (mut written, mut highest) = (0, 0);
    // SAFETY: `db` is a live connection held locked by this thread; the two outputs are valid
    // for writes. In WAL mode, the pages a commit writes go to the log and are counted here.
    let rc = unsafe {
        ffi::sqlite3_db_status(
            db.as_ptr(),
            ffi::SQLITE_DBSTATUS_CACHE_WRITE,
            &mut written,
            &mut highest,
            1,
        )
    };
    let written = if rc == ffi::SQLITE_OK { written } else { 0 };
    let pages = Statement::prepare(handle, "PRAGMA page_count")
        .and_then(|mut s| s.query_int(&[]))
        .ok()
        .flatten()
        .unwrap_or(0);
    (
        u64::try_from(written).unwrap_or(0),
        u64::try_from(pages).unwrap_or(0),
    )
}

/// Moves the write-ahead log into the database as far as no reader still needs it, without
/// waiting for anyone (SQLITE_CHECKPOINT_PASSIVE). Another checkpoint under way is no failure.
#[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
pub(super) fn checkpoint(handle: &mut LockedSqliteHandle<'_>) -> Result<(), Failure> {
    let db = handle.as_raw_handle();
    // SAFETY: `db` is a live connection held locked by this thread, with no statement running
    // on it; a null schema name means every attached database, null outputs are allowed.
    let rc = unsafe {
        ffi::sqlite3_wal_checkpoint_v2(
            db.as_ptr(),
            std::ptr::null(),
            ffi::SQLITE_CHECKPOINT_PASSIVE,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    match rc {
        ffi::SQLITE_OK | ffi::SQLITE_BUSY => Ok(()),
        _ => Err(failure(db)),
    }
}

/// Prepares `sql` on the open connection `db`.
#[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
fn prepare_on(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<NonNull<ffi::sqlite3_stmt>, Failure> {
    let len = c_int::try_from(sql.len()).map_err(|_| Failure {
        code: ffi::SQLITE_TOOBIG,
        message: "statement too long".to_string(),
    })?;
    let mut stmt = std::ptr::null_mut();
    // SAFETY: `db` is an open connection that nothing else uses while the caller holds its lock;
    // `sql` is `len` readable bytes; `stmt` receives the statement or stays null.
    let rc = unsafe {
        ffi::sqlite3_prepare_v3(
            db.as_ptr(),
            sql.as_ptr().cast(),
            len,
            ffi::SQLITE_PREPARE_PERSISTENT,
            &mut stmt,
            std::ptr::null_mut(),
        )
    };
    match NonNull::new(stmt) {
        Some(stmt) if rc == ffi::SQLITE_OK => Ok(stmt),
        _ => Err(failure(db)),
    }
}

impl Statement<'_> {
    /// Runs the statement (it takes no parameters) and hands each row it yields to `each`.
    #[allow(unsafe_code)] // SQLite's C API: see each SAFETY below.
    pub(super) fn for_each_row(&mut self, mut each: impl FnMut(&Row<'_>)) -> Result<(), Failure> {
        let stmt = self.stmt.as_ptr();
        let result = loop {
            // SAFETY: a live statement of this connection, reset below whatever the step returns.
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_ROW => each(&Row {
                    stmt: self.stmt,
                    _statement: PhantomData,
                }),
                ffi::SQLITE_DONE => break Ok(()),
                _ => break Err(failure(self.db)),
            }
        };
        // SAFETY: resetting a live statement.
        unsafe {
            ffi::sqlite3_reset(stmt);
        }
        result
    }
}

/// The row a statement is on, for as long as it stays there.
pub(super) struct Row<'s> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    _statement: PhantomData<&'s ()>,
}

impl Row<'_> {
    /// Column `i` as text (NULL as empty; bytes that are not UTF-8 replaced, not refused).
    #[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
    pub(super) fn text(&self, i: c_int) -> String {
        // SAFETY: the statement is on a row (`for_each_row` hands a row only then); SQLite owns
        // the text, valid until the next step, and it is copied out at once. Asking for the text
        // before its length is the order SQLite documents.
        unsafe {
            let text = ffi::sqlite3_column_text(self.stmt.as_ptr(), i);
            let len = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), i);
            match (text.is_null(), usize::try_from(len)) {
                (false, Ok(len)) => {
                    String::from_utf8_lossy(std::slice::from_raw_parts(text, len)).into_owned()
                }
                _ => String::new(),
            }
        }
    }

    /// Column `i` as text, None when NULL; an error when it is not UTF-8 (a damaged value, not
    /// one to read around).
    #[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
    pub(super) fn strict_text(&self, i: c_int) -> Result<Option<String>, std::str::Utf8Error> {
        // SAFETY: as for `text`; the type is asked before any conversion, as SQLite documents.
        unsafe {
            let stmt = self.stmt.as_ptr();
            if ffi::sqlite3_column_type(stmt, i) == ffi::SQLITE_NULL {
                return Ok(None);
            }
            let text = ffi::sqlite3_column_text(stmt, i);
            let len = ffi::sqlite3_column_bytes(stmt, i);
            match (text.is_null(), usize::try_from(len)) {
                (false, Ok(len)) => std::str::from_utf8(std::slice::from_raw_parts(text, len))
                    .map(|s| Some(s.to_string())),
                _ => Ok(Some(String::new())),
            }
        }
    }

    /// Column `i` as an integer (NULL as 0).
    #[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
    pub(super) fn int(&self, i: c_int) -> i64 {
        // SAFETY: as for `text`.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), i) }
    }
}

impl Drop for Statement<'_> {
    #[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
    fn drop(&mut self) {
        // SAFETY: the statement was prepared by us and is finalized once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

#[allow(unsafe_code)] // SQLite's C API: see the SAFETY below.
fn failure(db: NonNull<ffi::sqlite3>) -> Failure {
    // SAFETY: `db` is an open connection; SQLite owns the message, copied out at once.
    unsafe {
        let message = ffi::sqlite3_errmsg(db.as_ptr());
        Failure {
            code: ffi::sqlite3_extended_errcode(db.as_ptr()),
            message: if message.is_null() {
                String::new()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            },
        }
    }
}
