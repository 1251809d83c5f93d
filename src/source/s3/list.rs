//! Listing a trail location with many requests in flight, its objects handed over as they are
//! listed.
//!
//! ListObjectsV2 with a delimiter lists one level under one prefix, a page (at most 1,000 keys)
//! at a time, each page needing the previous one's continuation token: the pages of one prefix
//! are sequential, but the delivery layout (`AWSLogs/<account>/CloudTrail/<region>/Y/M/D/`) puts
//! a trail's objects under many prefixes, one per account, region and day, and those are listed
//! side by side. S3 supports at least 5,500 GET requests per second per prefix, so a few dozen
//! at once are far from its limits (AWS, "Best practices design patterns: optimizing Amazon S3
//! performance"); throttling (`SlowDown`, 503) is retried by the SDK with backoff.
//!
//! An organization's trail holds millions of objects (one per account, region and ~5 minutes), so
//! nothing here holds what was listed: each page's objects are sent on a bounded channel as soon
//! as the page comes, and a listing waits for room in it. What the walk holds at any moment is
//! the pages being listed (at most `concurrency` of them, 1,000 keys each) and the prefixes
//! waiting to be listed. Those are taken last-found first (depth first), so they number at most
//! the widths of the layout's levels (accounts, regions, years, months, days) for each listing
//! in flight, whatever the number of objects.

use super::{S3Error, S3Source, TrailObject};
use crate::observe::TimeWindow;
use crate::source::local::is_trace_name;
use crate::source::Unit;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Where the walk hands what it lists, and what it counted so far.
pub(super) struct Sink {
    units: mpsc::Sender<Unit>,
    window: TimeWindow,
    found: AtomicU64,
    outside_window: AtomicU64,
    next_index: AtomicUsize,
    /// Set when the walk left something unlisted because the receiver was gone.
    stopped: AtomicBool,
}

impl Sink {
    pub(super) fn new(units: mpsc::Sender<Unit>, window: TimeWindow) -> Sink {
        Sink {
            units,
            window,
            found: AtomicU64::new(0),
            outside_window: AtomicU64::new(0),
            next_index: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// Objects found (sent or outside the window) and those outside the window.
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.found.load(Ordering::SeqCst),
            self.outside_window.load(Ordering::SeqCst),
        )
    }

    /// True once the receiver is gone (the run stopped): nothing more is listed.
    fn closed(&self) -> bool {
        self.units.is_closed()
    }

    /// Whether the walk ended before its end because the receiver was gone: objects not listed
    /// yet were neither counted nor handed over.
    pub(super) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Sends one listed object as a unit, waiting for room, unless its delivery date lies outside
    /// the window (counted, not sent). False if the receiver is gone; the object is then not
    /// counted, as it was never handed over.
    async fn object(&self, bucket: &str, object: TrailObject) -> bool {
        if self.window.excludes_delivery_path(Path::new(&object.key)) {
            self.found.fetch_add(1, Ordering::SeqCst);
            self.outside_window.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        let unit = Unit {
            name: super::object_url(bucket, &object.key),
            checkpoint: Some(object.checkpoint(bucket)),
            index: self.next_index.fetch_add(1, Ordering::Relaxed),
        };
        let sent = self.units.send(unit).await.is_ok();
        if sent {
            self.found.fetch_add(1, Ordering::SeqCst);
        } else {
            self.stop();
        }
        sent
    }
}

/// Lists every trace object under the source's location that its filter keeps into `sink`, in no
/// given order. At most `concurrency` prefixes are listed at once; the first failure ends the
/// walk (the listings still running are dropped with the set; what was sent stays sent). Ends
/// early, without error, once the receiver is gone.
pub(super) async fn walk(source: &S3Source, sink: Arc<Sink>) -> Result<(), S3Error> {
    let mut waiting = vec![source.location.prefix.clone()];
    let mut running = JoinSet::new();
    loop {
        while running.len() < source.concurrency && !sink.closed() {
            let Some(prefix) = waiting.pop() else { break };
            let (source, sink) = (source.clone(), sink.clone());
            running.spawn(async move { list_prefix(&source, &prefix, &sink).await });
        }
        let Some(done) = running.join_next().await else {
            if !waiting.is_empty() {
                sink.stop();
            }
            return Ok(());
        };
        let prefixes = done.map_err(|e| S3Error {
            what: source.url(&source.location.prefix),
            message: format!("listing stopped: {e}; run observe again"),
        })??;
        waiting.extend(prefixes);
    }
}

/// One prefix, every page: its trace objects the filter keeps are sent page by page; the
/// sub-prefixes the filter keeps are returned. Stops at the end of a page once the receiver is
/// gone.
async fn list_prefix(source: &S3Source, prefix: &str, sink: &Sink) -> Result<Vec<String>, S3Error> {
    let mut prefixes = Vec::new();
    let mut token = None;
    loop {
        let page = source.list_page(prefix, token).await?;
        for p in page.common_prefixes() {
            if let Some(p) = p.prefix() {
                if super::prefix_allowed(p, &source.filter) {
                    prefixes.push(p.to_string());
                }
            }
        }
        let objects: Vec<TrailObject> = page
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?;
                let name = key.rsplit('/').next().unwrap_or(key);
                (is_trace_name(name) && super::prefix_allowed(key, &source.filter)).then(|| {
                    TrailObject {
                        key: key.to_string(),
                        size: o.size().unwrap_or(0),
                        etag: o.e_tag().unwrap_or("").to_string(),
                    }
                })
            })
            .collect();
        token = page.next_continuation_token().map(str::to_string);
        // Only what a unit needs is held while the page's objects wait for room, not the whole
        // answer (owners, storage classes, dates).
        drop(page);
        for object in objects {
            if !sink.object(&source.location.bucket, object).await {
                return Ok(prefixes);
            }
        }
        if token.is_none() {
            return Ok(prefixes);
        }
        if sink.closed() {
            sink.stop();
            return Ok(prefixes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str) -> TrailObject {
        TrailObject {
            key: key.to_string(),
            size: 1,
            etag: "\"e\"".to_string(),
        }
    }

    const DAY_2: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/02/a.json.gz";
    const DAY_9: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/09/b.json.gz";

    #[tokio::test]
    async fn objects_outside_the_window_are_counted_not_sent() {
        let (tx, mut rx) = mpsc::channel(4);
        let window = TimeWindow::from_texts(Some("2026-11-08T00:00:00".into()), None).unwrap();
        let sink = Sink::new(tx, window);
        assert!(sink.object("trail", object(DAY_2)).await);
        assert!(sink.object("trail", object(DAY_9)).await);
        assert_eq!(sink.counts(), (2, 1));
        let unit = rx.recv().await.unwrap();
        assert_eq!(unit.name, format!("s3://trail/{DAY_9}"));
        assert_eq!(unit.checkpoint, Some(format!("s3://trail/{DAY_9}#e")));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn the_listing_waits_for_room_and_stops_once_the_receiver_is_closed() {
        let (tx, mut rx) = mpsc::channel(1);
        let sink = Sink::new(tx, TimeWindow::new(None, None));
        assert!(sink.object("trail", object(DAY_2)).await);
        // The channel is full: the next object waits until one is taken.
        let waiting = sink.object("trail", object(DAY_9));
        tokio::pin!(waiting);
        // A timeout of zero polls it once.
        let once = tokio::time::timeout(std::time::Duration::ZERO, &mut waiting).await;
        assert!(once.is_err(), "sent into a full channel");
        assert_eq!(rx.recv().await.unwrap().index, 0);
        assert!(waiting.await);
        assert_eq!(rx.recv().await.unwrap().index, 1);
        assert!(!sink.stopped(), "everything sent was taken");
        // Closed (the run stopped): not sent, not counted, and no more prefixes are listed.
        rx.close();
        assert!(!sink.object("trail", object(DAY_2)).await);
        assert!(sink.closed());
        assert_eq!(sink.counts(), (2, 0));
        assert!(sink.stopped(), "an object was left unlisted");
    }
}
