//! Trace sources: where API-call records come from.
//!
//! A *unit source* ([`UnitSource`]: `local.rs`, files; `s3.rs`, trail buckets) lists units and
//! yields their bytes; a format decoder (`cloudtrail`) turns bytes into [`crate::call::ApiCall`]s.
//! Keeping the two apart lets a new source reuse the decoder and a new format reuse the sources.
//! `observe` drives every unit source the same way: it lists them, then decodes their units on
//! every core, fetched by the workers (files) or, for a source that says how many to fetch at once
//! (`s3.rs`), by many requests in flight ahead of them. A source whose listing is itself long and
//! could be large (a trail bucket: millions of objects) hands its units as it lists them, through a
//! bounded channel ([`Streamed`]): fetching starts with the first page, and the listing waits
//! while the fetchers are behind, so that memory does not grow with the number of units.
//!
//! A unit source may also fold calls itself (`athena.rs`: a query's result, each row identical
//! calls with their count): it says so by [`UnitSource::folds`] and hands calls with their counts
//! through [`UnitSource::read_folded`] instead of bytes.
//!
//! A *live source* ([`LiveSource`] in `live.rs`: `csm.rs`, SDK monitoring; `proxy/live.rs`, the
//! proxy) runs while the application does and hands its calls, mapped, to a [`CallSink`] (the
//! recorder of `observe::live`) until it is stopped.

pub mod athena;
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

/// A source of whole units of trace (files, objects), listed and then read one at a time on
/// `observe`'s workers.
pub trait UnitSource: Send + Sync {
    /// The units to read, less those whose delivery date lies outside the window; with the counts
    /// of what was found and left out. Either all at once, in a stable order (`units`), or as they
    /// are listed ([`Listing::more`]: then the counts come with the end of the stream).
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

    /// For a source whose units come over the network: how many to fetch at once. `observe` then
    /// fetches that many ahead of its workers with [`fetch_async`](UnitSource::fetch_async), on
    /// its runtime rather than on the workers, and hands each unit's bytes to a worker as they
    /// arrive. 0 (the default): the workers fetch, one unit each at a time.
    fn fetch_ahead(&self) -> usize {
        0
    }

    /// Reads one of the units [`list`](UnitSource::list) gave, without blocking; called only when
    /// [`fetch_ahead`](UnitSource::fetch_ahead) is not 0.
    fn fetch_async<'a>(
        &'a self,
        unit: &'a Unit,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
        Box::pin(std::future::ready(Err(format!(
            "{}: this source is read by observe's workers",
            unit.name
        ))))
    }
    /// True for a source whose units are calls it folded itself, read by
    /// [`read_folded`](UnitSource::read_folded) rather than fetched as trace bytes.
    fn folds(&self) -> bool {
        false
    }

    /// Reads one unit of a folding source: hands `sink` each distinct call (its time the first
    /// event's, its id the example's) with how many events it stands for and the last one's
    /// time. The error is the detail of a unit that could not be read; whatever the sink was
    /// given before it must then be dropped.
    fn read_folded(
        &self,
        _unit: &Unit,
        _request: &FoldRequest,
        _sink: &mut dyn FnMut(&crate::call::ApiCall<'_>, u64, &str),
        _runtime: &tokio::runtime::Handle,
    ) -> Result<FoldedRead, String> {
        Err("this source has no folded units".to_string())
    }
}

/// What a folding source is asked for.
#[derive(Debug)]
pub struct FoldRequest<'a> {
    pub window: &'a TimeWindow,
    /// Windows an earlier run counted already: their events must be left out.
    pub counted: &'a [TimeWindow],
    /// Set when the run is interrupted: stop what was started (the query) and return an error.
    pub stop: &'a std::sync::atomic::AtomicBool,
}

/// What a folding source read.
#[derive(Debug)]
pub struct FoldedRead {
    /// Events the calls stand for, and those that were not CloudTrail calls (no event source
    /// or name).
    pub events: u64,
    pub not_cloudtrail: u64,
    /// The window read: the one asked for, with an open end closed where the source stops
    /// (events not yet delivered). Recorded as counted.
    pub covered: TimeWindow,
    /// Bytes the query engine scanned (what the query costs).
    pub bytes_scanned: u64,
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
    /// Units still being listed, handed over as they come: for a source whose listing is long
    /// and large, so that they are fetched while it goes on. Such a source fetches ahead
    /// ([`UnitSource::fetch_ahead`] not 0, [`UnitSource::fetch_async`]), from the moment
    /// [`list`](UnitSource::list) returned.
    pub more: Option<Streamed>,
    /// Units found, those outside the window included.
    pub found: u64,
    /// Units found whose delivery date lies outside the window (not in `units`).
    pub outside_window: u64,
    /// Files under a directory that are not trace files by name.
    pub ignored: u64,
    /// What could not be listed.
    pub skipped: Vec<Skipped>,
    /// The location named on the command line, when its listing (a streamed one) stopped
    /// before its end because the run was stopped: what it had not listed yet is neither
    /// counted in `found` nor read, and the next run lists it.
    pub stopped: Option<String>,
}

/// Units handed over while a listing goes on.
#[derive(Debug)]
pub struct Streamed {
    /// What is listed (the location named on the command line), for messages.
    pub name: String,
    /// The units, in no given order; bounded, so the listing waits while they are not taken.
    /// Closing it stops the listing at its next unit.
    pub units: tokio::sync::mpsc::Receiver<Unit>,
    /// The end of the listing: what it found, left out and could not list (its `units` empty,
    /// every unit was sent). Await it once `units` gave `None` (closed, or drained after
    /// [`close`](tokio::sync::mpsc::Receiver::close)): until then the listing may be waiting for
    /// room in the channel.
    pub done: tokio::task::JoinHandle<Listing>,
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
        // Athena's failures are worded whole the same way.
        let worded = self.unit.starts_with("s3://") || self.unit.starts_with("athena://");
        if self.reason == SkipReason::Unreadable && worded {
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
