//! The workers' scheduling priority, lowered for the end of a run.
//!
//! The last commit can only start once the last file is read, and while it runs one core has
//! nothing to do. It is as large as what came in during the commit before it; with the workers
//! and the committer sharing the cores evenly, the committer barely keeps up with them, so
//! that is most of a batch (on a trail of 4,000 small files, about 0.2 s of the 1 s run). Near
//! the end the workers run at a lower priority (nice +10, Linux only) and the committer, at
//! the process's own, takes a core whenever it has a batch: each commit of the tail is then a
//! fraction of the one before it, and the last is small. Lowering a thread's priority needs no
//! privilege; it is never raised again, and the threads end with the run.

use std::sync::Mutex;

/// How much lower the workers run once lowered (nice values, up to 19).
const LOWER_BY: i32 = 10;

/// The worker threads of a run, as they start.
#[derive(Debug, Default)]
pub(super) struct WorkerThreads {
    /// Each worker's thread id; whether they run lowered already.
    threads: Mutex<(Vec<i64>, bool)>,
}

impl WorkerThreads {
    /// Called by each worker on its own thread as it starts.
    pub(super) fn enlist(&self) {
        let Ok(mut threads) = self.threads.lock() else {
            return;
        };
        let tid = current_thread();
        threads.0.push(tid);
        if threads.1 {
            lower(tid);
        }
    }

    /// Lowers every worker's priority, now and for workers that start later.
    pub(super) fn yield_to_committer(&self) {
        let Ok(mut threads) = self.threads.lock() else {
            return;
        };
        if !threads.1 {
            threads.1 = true;
            threads.0.iter().for_each(|&tid| lower(tid));
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // libc's gettid: see the SAFETY below.
fn current_thread() -> i64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    i64::from(unsafe { libc::gettid() })
}

#[cfg(not(target_os = "linux"))]
fn current_thread() -> i64 {
    0
}

/// Linux keeps a nice value per thread (`setpriority` with a thread id, see `man 2
/// setpriority`). A failure (a thread gone already) only leaves the priority as it was.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // libc's getpriority/setpriority: see the SAFETY below.
fn lower(tid: i64) {
    let Ok(id) = libc::id_t::try_from(tid) else {
        return;
    };
    // SAFETY: both only read or set the scheduling priority of thread `id` of this process.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, id);
        libc::setpriority(libc::PRIO_PROCESS, id, (now + LOWER_BY).min(19));
    }
}

#[cfg(not(target_os = "linux"))]
fn lower(_tid: i64) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[allow(unsafe_code)] // libc's getpriority: see the SAFETY below.
    fn nice_of(tid: i64) -> i32 {
        // SAFETY: reads the priority of a thread of this process.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
    }

    #[test]
    fn workers_run_lower_once_asked_also_those_that_start_after() {
        let threads = WorkerThreads::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let threads = &threads;
            s.spawn(move || {
                threads.enlist();
                tx.send((current_thread(), nice_of(current_thread())))
                    .unwrap();
                go_rx.recv().unwrap();
                tx.send((current_thread(), nice_of(current_thread())))
                    .unwrap();
            });
            let (first, before) = rx.recv().unwrap();
            let base = nice_of(current_thread());
            assert_eq!(before, base);
            threads.yield_to_committer();
            threads.yield_to_committer(); // once only
            go_tx.send(()).unwrap();
            let (_, after) = rx.recv().unwrap();
            assert_eq!(after, (base + LOWER_BY).min(19), "thread {first}");
            // The thread that asked keeps its own priority.
            assert_eq!(nice_of(current_thread()), base);
        });
        let parent = nice_of(current_thread());
        std::thread::scope(|s| {
            s.spawn(|| {
                threads.enlist();
                let late = nice_of(current_thread());
                assert_eq!(
                    late,
                    (parent + LOWER_BY).min(19),
                    "a late worker runs lowered too"
                );
            });
        });
    }
}
