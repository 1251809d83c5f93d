//! Trace sources: where API-call records come from.
//!
//! A *unit source* ([`UnitSource`]: `local.rs`, files; `s3.rs`, trail buckets) lists units and
//! yields their bytes; a format decoder (`cloudtrail`) turns bytes into [`crate::call::ApiCall`]s.
//! Keeping the two apart lets a new source reuse the decoder and a new format reuse the sources.
//! `observe` drives every unit source the same way: it lists them all, then fetches and decodes
//! their units on every core.
//!
//! A *live source* ([`LiveSource`] in `live.rs`: `csm.rs`, SDK monitoring; `proxy/live.rs`, the
//! proxy) runs while the application does and hands its calls, mapped, to a [`CallSink`] (the
//! recorder of `observe::live`) until it is stopped.

pub mod cloudtrail;
pub mod csm;
pub mod ecs;
pub mod json;
pub mod live;
pub mod local;
pub mod proxy;
pub mod s3;
pub mod setup;

pub use live::{CallSink, LiveSource};

use crate::observe::TimeWindow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A source of whole units of trace (files, objects), listed first and then read one at a time
/// on `observe`'s workers.
pub trait UnitSource: Send + Sync {
    /// The units to read, in a stable order, less those whose delivery date lies outside the
    /// window; with the counts of what was found and left out.
    fn list<'a>(
        &'a mut self,
        window: &'a TimeWindow,
    ) -> Pin<Box<dyn Future<Output = Listing> + Send + 'a>>;

    /// Reads one of the units [`list`](UnitSource::list) gave into `into` (cleared first),
    /// blocking the worker; `runtime` is there for sources that fetch asynchronously. The error
    /// is the detail of an unreadable unit.
    fn fetch(
        &self,
        unit: &Unit,
        into: &mut Vec<u8>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), String>;
}

/// One unit a [`UnitSource`] listed.
#[derive(Debug, Clone)]
pub struct Unit {
    /// How messages and the store name it: a path, an `s3://` URL.
    pub name: String,
    /// Its identity when it is known before reading it (an object's key and ETag): a unit
    /// already observed is then not fetched. `None`: the unit is identified by its content.
    pub checkpoint: Option<String>,
    /// Which of the source's units it is (its own index).
    pub index: usize,
}

/// What a [`UnitSource`] listed.
#[derive(Debug, Default)]
pub struct Listing {
    pub units: Vec<Unit>,
    /// Units found, those outside the window included.
    pub found: u64,
    /// Units found whose delivery date lies outside the window (not in `units`).
    pub outside_window: u64,
    /// Files under a directory that are not trace files by name.
    pub ignored: u64,
    /// What could not be listed.
    pub skipped: Vec<Skipped>,
}

/// Why a unit (file, object) or part of one could not be used. Named in the summary with its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    Unreadable,
    TruncatedGzip,
    Empty,
    InvalidJson,
    NotCloudTrail,
    TooLarge,
}

impl SkipReason {
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::TruncatedGzip => "corrupt or truncated gzip",
            SkipReason::Empty => "empty",
            SkipReason::InvalidJson => "invalid JSON",
            SkipReason::NotCloudTrail => "not CloudTrail",
            SkipReason::TooLarge => "too large",
        }
    }

    /// What the user can do about it, appended to each message.
    pub fn advice(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "check the path and its permissions",
            SkipReason::TruncatedGzip => {
                "the file was probably cut short while copying; fetch it again from the trail bucket"
            }
            SkipReason::Empty => "nothing to read; safe to ignore",
            SkipReason::InvalidJson => "the file is damaged or not JSON; fetch it again",
            SkipReason::NotCloudTrail => {
                "expected CloudTrail records ({\"Records\":[...]}, an array, one event, or one per line)"
            }
            SkipReason::TooLarge => "split the file or raise the limit",
        }
    }
}

/// A unit that was skipped whole, with the reason and a detail for the user.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub unit: String,
    pub reason: SkipReason,
    pub detail: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An S3 location or object is unreadable only when a request failed, and the S3 source
        // words that failure whole, with the hint that fits it (s3::S3Error): "check the path"
        // would only contradict it.
        if self.reason == SkipReason::Unreadable && self.unit.starts_with("s3://") {
            return write!(f, "{}: {}", self.unit, self.detail);
        }
        write!(
            f,
            "{}: {} ({}); {}",
            self.unit,
            self.reason.label(),
            self.detail,
            self.reason.advice()
        )
    }
}
