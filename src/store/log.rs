//! observe's write-ahead log, moved into the database when observe says.
//!
//! Each observe commit writes to the log (`<db>-wal`) every page of the evidence table its keys
//! touch, most of the table; moving the log into the database (a checkpoint) copies each page
//! once and waits for the disk twice. SQLite does it by itself in the commit that takes the log
//! past 1,000 pages, whichever commit that is: on a trail of many small files it was one of the
//! last, and the run waited for the disk at its very end (about 0.1 s of a 1 s run). A store
//! opened for observe ([`Store::open_replayable`]) leaves that to its caller: observe
//! checkpoints after a commit once the log holds more pages than the database, but not after the
//! last commit of a run, after which [`Store::close`] moves what is left anyway.

use super::{bulk, rows::blocking, Store, StoreError};

/// However small the database, the log is moved only past this many pages (SQLite's own
/// threshold): so it never holds much more than the database, or than 64 MiB.
const LOG_PAGES_MIN: u64 = 1_000;

/// What a replayable store wrote to its log since its last checkpoint.
#[derive(Debug, Default)]
pub struct LogGrowth {
    pub(super) pages: u64,
}

impl Store {
    /// To be called after each commit of observe's: counts the pages that commit wrote to the
    /// log and starts writing them to disk (Linux: the checkpoint must flush them first, and
    /// at the end of a run nothing else waits on the disk meanwhile); then, when `may` and the
    /// log holds more pages than the database (and more than [`LOG_PAGES_MIN`]), moves the
    /// log into the database. Returns whether it did. A reader that still needs the log (a
    /// `propose` meanwhile) only makes the checkpoint partial; a later one goes on.
    pub async fn after_commit(
        &self,
        growth: &mut LogGrowth,
        may: bool,
    ) -> Result<bool, StoreError> {
        start_writeback(&self.path);
        let mut conn = self.writer().await?;
        let mut handle = conn.lock_handle().await.map_err(|e| self.err(e))?;
        let (written, pages) = bulk::log_status(&mut handle);
        growth.pages += written;
        if !may || growth.pages <= pages.max(LOG_PAGES_MIN) {
            return Ok(false);
        }
        blocking(|| bulk::checkpoint(&mut handle)).map_err(|f| self.failure(f))?;
        growth.pages = 0;
        Ok(true)
    }
}

/// Asks the kernel to start writing the log of the database at `path` to disk, without waiting
/// for it (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`: no durability is promised, SQLite
/// flushes the log itself before a checkpoint, which then finds little left to write).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // libc's sync_file_range: see the SAFETY below.
fn start_writeback(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    if let Ok(file) = std::fs::File::open(log) {
        // SAFETY: `file` is open for the whole call; offsets 0, 0 mean the whole file.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_path: &std::path::Path) {}

/// The connection options of a store whose caller checkpoints itself.
pub(super) fn caller_checkpoints(
    options: sqlx::sqlite::SqliteConnectOptions,
) -> sqlx::sqlite::SqliteConnectOptions {
    options.pragma("wal_autocheckpoint", "0")
}
