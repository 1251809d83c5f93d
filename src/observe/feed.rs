//! How units reach observe's workers.
//!
//! One worker thread per core, each with one [`Worker`] (its folding caches and buffers) for the
//! whole run. Units the workers fetch themselves (files) are taken in order through one atomic
//! index: nothing passes between threads to hand a file over. Units of a source that fetches
//! ahead ([`UnitSource::fetch_ahead`]: trail buckets) are fetched by tasks on the runtime, that
//! many requests in flight whatever the number of cores, and reach the workers through a queue as
//! they arrive, in whatever order they arrive. A source that lists as it goes ([`Streamed`]: trail
//! buckets) hands its units over a bounded channel; they are fetched as they come, while the
//! listing goes on, and the listing waits whenever the fetchers are behind.
//!
//! Memory stays bounded whatever the bucket size: a unit holds a slot from its request until a
//! worker is done with its bytes, and a source has its requests in flight plus two per worker of
//! slots. A streamed unit is taken from its channel (of the source's own bound) one at a time, and
//! the next only once that one has a slot; the listing waits meanwhile. Of the units listed, the
//! writer learns only how many there are so far ([`Listed`]).

use super::priority::WorkerThreads;
use super::{counted_already, fingerprint_of, FileOutcome, Known, Work, Worker};
use crate::observe::TimeWindow;
use crate::source::{Listing, SkipReason, Skipped, Streamed, Unit, UnitSource};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, TryLockError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Where each unit's outcome goes: to the writer, one per unit.
pub(super) type Outcomes = tokio::sync::mpsc::Sender<Vec<(String, FileOutcome)>>;

/// A unit fetched ahead, with the slot it holds until a worker is done with it.
struct Fetched {
    unit: Unit,
    bytes: Result<Vec<u8>, String>,
    _slot: OwnedSemaphorePermit,
}

/// What the workers share.
struct Shared {
    /// Units the workers fetch, taken in order.
    own: Vec<Work>,
    next: AtomicUsize,
    /// Units fetched ahead, as they arrive; closed once every one was sent.
    fetched: Mutex<mpsc::Receiver<Fetched>>,
    known: Arc<Known>,
    window: TimeWindow,
    stop: Arc<AtomicBool>,
}

/// What the writer shares with the feed: the flag that stops it, the units listed so far, and
/// the worker threads (which yield to the committer near the end).
pub(super) struct Control {
    pub stop: Arc<AtomicBool>,
    pub listed: Arc<Listed>,
    pub threads: Arc<WorkerThreads>,
}

/// A source's units still being listed.
pub(super) type Stream = (Arc<dyn UnitSource>, Streamed);

/// The units listed so far, and the listings still going on: how the writer tells how many
/// outcomes are still to come.
pub(super) struct Listed {
    units: AtomicUsize,
    listing: AtomicUsize,
}

impl Listed {
    /// `units` listed already, `streams` listings still going on.
    pub(super) fn new(units: usize, streams: usize) -> Listed {
        Listed {
            units: AtomicUsize::new(units),
            listing: AtomicUsize::new(streams),
        }
    }

    /// Units listed so far (each sends exactly one outcome).
    pub(super) fn units(&self) -> usize {
        self.units.load(Ordering::SeqCst)
    }

    /// Outcomes still to come once `received` came: known only when every listing has ended
    /// (before, any number of units may still be listed).
    pub(super) fn unreceived(&self, received: usize) -> Option<usize> {
        // The listings end after their last unit was counted: read in that order, the count is
        // final when no listing is left.
        (self.listing.load(Ordering::SeqCst) == 0).then(|| self.units().saturating_sub(received))
    }
}

/// Starts the workers (and the fetching ahead) on every unit, those listed and those the streams
/// will give; each unit's outcome is sent to `outcomes` exactly once, after it was counted in
/// `listed`. The handle ends when every worker and listing has, with what the streamed listings
/// counted (found, left out, what they could not list).
pub(super) fn start(
    units: Vec<Work>,
    streams: Vec<Stream>,
    known: Known,
    window: TimeWindow,
    outcomes: Outcomes,
    control: Control,
) -> tokio::task::JoinHandle<Vec<Listing>> {
    let Control {
        stop,
        listed,
        threads,
    } = control;
    let workers = rayon::current_num_threads().max(1);
    let known = Arc::new(known);
    let (own, ahead): (Vec<Work>, Vec<Work>) = units
        .into_iter()
        .partition(|(source, _)| source.fetch_ahead() == 0);
    let (fetched_tx, fetched_rx) = mpsc::channel();
    let fetching = tokio::spawn(fetch_ahead(
        ahead,
        streams,
        Ahead {
            known: known.clone(),
            window: window.clone(),
            stop: stop.clone(),
            fetched: fetched_tx,
            outcomes: outcomes.clone(),
            workers,
            limits: Vec::new(),
        },
        listed,
    ));
    let shared = Shared {
        own,
        next: AtomicUsize::new(0),
        fetched: Mutex::new(fetched_rx),
        known,
        window,
        stop,
    };
    let runtime = tokio::runtime::Handle::current();
    let working = tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    threads.enlist();
                    work(&shared, outcomes.clone(), &runtime)
                });
            }
        });
    });
    tokio::spawn(async move {
        // A panic of either is the run's, as if it had happened here.
        // (Cancelled, neither can be but by the runtime's shutdown.)
        let worked = working.await;
        let fetched = fetching.await;
        if let Some(panic) = worked.err().and_then(|e| e.try_into_panic().ok()) {
            std::panic::resume_unwind(panic);
        }
        match fetched {
            Ok(listings) => listings,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Vec::new(),
            },
        }
    })
}

/// One worker: the files first, then what was fetched ahead, until there is nothing left.
fn work(shared: &Shared, outcomes: Outcomes, runtime: &tokio::runtime::Handle) {
    let mut worker = Worker::new(crate::catalog::active());
    let (known, window) = (&*shared.known, &shared.window);
    let mut group = Group::default();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let (name, outcome) = if let Some((source, unit)) = shared.own.get(i) {
            let outcome = if shared.stop.load(Ordering::Relaxed) {
                FileOutcome::NotStarted
            } else {
                worker.observe_unit(&**source, unit, known, window, runtime, &shared.stop)
            };
            (unit.name.clone(), outcome)
        } else {
            let queue = match shared.fetched.try_lock() {
                Ok(queue) => queue,
                Err(TryLockError::WouldBlock) => {
                    // Another worker is waiting for the next object: what is done goes first.
                    if !group.send(&outcomes) {
                        return;
                    }
                    match shared.fetched.lock() {
                        Ok(queue) => queue,
                        Err(_) => return,
                    }
                }
                Err(TryLockError::Poisoned(_)) => return, // the run fails with that worker
            };
            let next = match queue.try_recv() {
                Err(mpsc::TryRecvError::Empty) => {
                    // Nothing to do until the next object comes: what is done goes first.
                    if !group.send(&outcomes) {
                        return;
                    }
                    queue.recv().ok()
                }
                next => next.ok(),
            };
            drop(queue);
            let Some(fetched) = next else { break };
            let outcome = if shared.stop.load(Ordering::Relaxed) {
                FileOutcome::NotStarted
            } else {
                worker.observe_fetched(&fetched.unit, fetched.bytes, known, window)
            };
            (fetched.unit.name, outcome)
        };
        if !group.add(name, outcome, &outcomes) {
            return; // the writer stopped: its error is the run's
        }
    }
    group.send(&outcomes);
}

/// Outcomes sent to the writer a few files at a time: a hand-off per file (and a wake-up of the
/// writer's thread) is a cost that only small files feel, and the more of them the more.
#[derive(Default)]
struct Group {
    outcomes: Vec<(String, FileOutcome)>,
    keys: usize,
}

/// A group is sent at this many files, or at this many evidence keys (which bound its memory).
const GROUP_FILES: usize = 16;
const GROUP_KEYS: usize = 4096;

impl Group {
    /// Adds one outcome, sending the group if it is full; false if the writer has stopped.
    fn add(&mut self, name: String, outcome: FileOutcome, to: &Outcomes) -> bool {
        if let FileOutcome::Done { evidence, .. } = &outcome {
            self.keys += evidence.len();
        }
        self.outcomes.push((name, outcome));
        if self.outcomes.len() >= GROUP_FILES || self.keys >= GROUP_KEYS {
            return self.send(to);
        }
        true
    }

    /// Sends what the group holds, if anything; false if the writer has stopped.
    fn send(&mut self, to: &Outcomes) -> bool {
        self.keys = 0;
        if self.outcomes.is_empty() {
            return true;
        }
        to.blocking_send(std::mem::take(&mut self.outcomes)).is_ok()
    }
}

/// A source fetching ahead, its requests in flight and its slots.
type Limits = (Arc<dyn UnitSource>, Arc<Semaphore>, Arc<Semaphore>);

/// Fetches the units listed, then those of each stream as they come, at most `fetch_ahead()`
/// requests of a source in flight at once; returns what the streamed listings counted. Once the
/// run is stopped, a stream is closed (its listing stops) and what it already gave is counted as
/// not started.
async fn fetch_ahead(
    units: Vec<Work>,
    streams: Vec<Stream>,
    mut ahead: Ahead,
    listed: Arc<Listed>,
) -> Vec<Listing> {
    let mut ended = Vec::new();
    for (source, unit) in units {
        if !ahead.start(&source, unit).await {
            return ended;
        }
    }
    for (source, mut stream) in streams {
        while let Some(unit) = next_unit(&mut stream.units, &ahead.stop).await {
            listed.units.fetch_add(1, Ordering::SeqCst);
            if !ahead.start(&source, unit).await {
                return ended;
            }
        }
        ended.push(stream.done.await.unwrap_or_else(|e| Listing {
            skipped: vec![Skipped {
                unit: stream.name.clone(),
                reason: SkipReason::Unreadable,
                detail: format!("listing stopped: {e}; run observe again"),
            }],
            ..Listing::default()
        }));
        listed.listing.fetch_sub(1, Ordering::SeqCst);
    }
    ended
}

/// How often a stream that gives nothing (its listing walking prefixes without objects) is
/// checked for the run being stopped.
const STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The stream's next unit. Once the run is stopped the stream is closed, which stops its
/// listing: the units it already gave still come (counted as not started), then None.
async fn next_unit(
    units: &mut tokio::sync::mpsc::Receiver<Unit>,
    stop: &AtomicBool,
) -> Option<Unit> {
    loop {
        if stop.load(Ordering::Relaxed) {
            units.close();
        }
        // recv is cancel safe: a unit is never lost to the timeout.
        if let Ok(unit) = tokio::time::timeout(STOP_CHECK, units.recv()).await {
            return unit;
        }
    }
}

/// What fetching ahead needs, and each source's limits as they are met.
struct Ahead {
    known: Arc<Known>,
    window: TimeWindow,
    stop: Arc<AtomicBool>,
    fetched: mpsc::Sender<Fetched>,
    outcomes: Outcomes,
    workers: usize,
    limits: Vec<Limits>,
}

impl Ahead {
    /// Starts fetching one unit once its source has a request and a slot free. A unit already
    /// observed (by its checkpoint) is not fetched, and none is started once the run is stopped:
    /// their outcomes are sent here. False if fetching cannot go on.
    async fn start(&mut self, source: &Arc<dyn UnitSource>, unit: Unit) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            let _ = self
                .outcomes
                .send(vec![(unit.name, FileOutcome::NotStarted)])
                .await;
            return true;
        }
        if let Some(checkpoint) = &unit.checkpoint {
            if counted_already(
                &self.known,
                fingerprint_of(checkpoint.as_bytes()),
                &self.window,
            ) {
                let _ = self
                    .outcomes
                    .send(vec![(unit.name, FileOutcome::AlreadyObserved)])
                    .await;
                return true;
            }
        }
        let found = self.limits.iter().find(|(s, _, _)| Arc::ptr_eq(s, source));
        let (requests, slots) = match found {
            Some((_, requests, slots)) => (requests.clone(), slots.clone()),
            None => {
                // At least one at a time: a streamed unit of a source that does not fetch ahead
                // (none does) must not wait forever.
                let n = source.fetch_ahead().max(1);
                let requests = Arc::new(Semaphore::new(n));
                let slots = Arc::new(Semaphore::new(n + 2 * self.workers));
                self.limits
                    .push((source.clone(), requests.clone(), slots.clone()));
                (requests, slots)
            }
        };
        // Never closed: acquiring fails only if they were.
        let (Ok(slot), Ok(request)) = (slots.acquire_owned().await, requests.acquire_owned().await)
        else {
            return false;
        };
        let (fetched, source) = (self.fetched.clone(), source.clone());
        tokio::spawn(async move {
            let bytes = source.fetch_async(&unit).await;
            drop(request);
            drop(source);
            let _ = fetched.send(Fetched {
                unit,
                bytes,
                _slot: slot,
            });
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_left_are_known_only_once_every_listing_has_ended() {
        let listed = Listed::new(3, 1);
        assert_eq!(listed.unreceived(0), None);
        listed.units.fetch_add(2, Ordering::SeqCst);
        assert_eq!(listed.units(), 5);
        assert_eq!(listed.unreceived(4), None);
        listed.listing.fetch_sub(1, Ordering::SeqCst);
        assert_eq!(listed.unreceived(4), Some(1));
        assert_eq!(Listed::new(2, 0).unreceived(0), Some(2));
    }
}
