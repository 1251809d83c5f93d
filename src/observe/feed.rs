//! How units reach observe's workers.
//!
//! One worker thread per core, each with one [`Worker`] (its folding caches and buffers) for the
//! whole run. Units the workers fetch themselves (files) are taken in order through one atomic
//! index: nothing passes between threads to hand a file over. Units of a source that fetches
//! ahead ([`UnitSource::fetch_ahead`]: trail buckets) are fetched by tasks on the runtime, that
//! many requests in flight whatever the number of cores, and reach the workers through a queue as
//! they arrive, in whatever order they arrive. Memory stays bounded whatever the bucket size: a
//! unit holds a slot from its request until a worker is done with its bytes, and a source has its
//! requests in flight plus two per worker of slots.

use super::{counted_already, fingerprint_of, FileOutcome, Known, Work, Worker};
use crate::observe::TimeWindow;
use crate::source::{Unit, UnitSource};
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

/// Starts the workers (and the fetching ahead) on every unit; each unit's outcome is sent to
/// `outcomes` exactly once. The handle ends when every worker has.
pub(super) fn start(
    units: Vec<Work>,
    known: Known,
    window: TimeWindow,
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
) -> tokio::task::JoinHandle<()> {
    let workers = rayon::current_num_threads().max(1);
    let known = Arc::new(known);
    let (own, ahead): (Vec<Work>, Vec<Work>) = units
        .into_iter()
        .partition(|(source, _)| source.fetch_ahead() == 0);
    let (fetched_tx, fetched_rx) = mpsc::channel();
    if !ahead.is_empty() {
        tokio::spawn(fetch_ahead(
            ahead,
            known.clone(),
            window.clone(),
            stop.clone(),
            fetched_tx,
            outcomes.clone(),
            workers,
        ));
    }
    let shared = Shared {
        own,
        next: AtomicUsize::new(0),
        fetched: Mutex::new(fetched_rx),
        known,
        window,
        stop,
    };
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| work(&shared, outcomes.clone(), &runtime));
            }
        });
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

/// Fetches the units, at most `fetch_ahead()` requests of a source in flight at once; a unit
/// already observed (by its checkpoint) is not fetched, and none is started once the run is
/// stopped.
async fn fetch_ahead(
    units: Vec<Work>,
    known: Arc<Known>,
    window: TimeWindow,
    stop: Arc<AtomicBool>,
    fetched: mpsc::Sender<Fetched>,
    outcomes: Outcomes,
    workers: usize,
) {
    // Per source: (requests in flight, slots).
    let mut limits: Vec<Limits> = Vec::new();
    for (source, unit) in units {
        if stop.load(Ordering::Relaxed) {
            let _ = outcomes
                .send(vec![(unit.name, FileOutcome::NotStarted)])
                .await;
            continue;
        }
        if let Some(checkpoint) = &unit.checkpoint {
            if counted_already(&known, fingerprint_of(checkpoint.as_bytes()), &window) {
                let _ = outcomes
                    .send(vec![(unit.name, FileOutcome::AlreadyObserved)])
                    .await;
                continue;
            }
        }
        let (requests, slots) = match limits.iter().find(|(s, _, _)| Arc::ptr_eq(s, &source)) {
            Some((_, requests, slots)) => (requests.clone(), slots.clone()),
            None => {
                let n = source.fetch_ahead();
                let requests = Arc::new(Semaphore::new(n));
                let slots = Arc::new(Semaphore::new(n + 2 * workers));
                limits.push((source.clone(), requests.clone(), slots.clone()));
                (requests, slots)
            }
        };
        // Never closed: acquiring fails only if they were.
        let (Ok(slot), Ok(request)) = (slots.acquire_owned().await, requests.acquire_owned().await)
        else {
            return;
        };
        let fetched = fetched.clone();
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
    }
}
