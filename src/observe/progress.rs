//! The progress bar of `observe`: files, events, rate and ETA on stderr, only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    events: AtomicU64,
    started: Instant,
}

impl Progress {
    /// A bar over `files` files when `wanted` and stderr is a terminal; otherwise silent.
    pub fn new(wanted: bool, files: u64) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{bar:20} {pos}/{len} files {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            events: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Raises the total to `files`: a trail bucket's objects are counted as they are listed.
    pub fn total(&self, files: u64) {
        if let Some(bar) = &self.bar {
            if bar.length() < Some(files) {
                bar.set_length(files);
            }
        }
    }

    pub fn events(&self, n: u64) {
        let total = self.events.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            let rate = total as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{total} events {rate:.0}/s"));
        }
    }

    pub fn file_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
