//! Listing a trail location with many requests in flight.
//!
//! ListObjectsV2 with a delimiter lists one level under one prefix, a page (at most 1,000 keys)
//! at a time, each page needing the previous one's continuation token: the pages of one prefix
//! are sequential, but the delivery layout (`AWSLogs/<account>/CloudTrail/<region>/Y/M/D/`) puts
//! a trail's objects under many prefixes, one per account, region and day, and those are listed
//! side by side. S3 supports at least 5,500 GET requests per second per prefix, so a few dozen
//! at once are far from its limits (AWS, "Best practices design patterns: optimizing Amazon S3
//! performance"); throttling (`SlowDown`, 503) is retried by the SDK with backoff.

use super::{S3Error, S3Source, TrailObject};
use tokio::task::JoinSet;

/// Every trace object under the source's location that its filter keeps, in no given order.
/// At most `concurrency` prefixes are listed at once; the first failure ends the walk (the
/// listings still running are dropped with the set).
pub(super) async fn walk(source: &S3Source) -> Result<Vec<TrailObject>, S3Error> {
    let mut objects = Vec::new();
    let mut waiting = vec![source.location.prefix.clone()];
    let mut running = JoinSet::new();
    loop {
        while running.len() < source.concurrency {
            let Some(prefix) = waiting.pop() else { break };
            let source = source.clone();
            running.spawn(async move { source.list_prefix(&prefix).await });
        }
        let Some(done) = running.join_next().await else {
            return Ok(objects);
        };
        let (prefixes, found) = done.map_err(|e| S3Error {
            what: source.url(&source.location.prefix),
            message: format!("listing stopped: {e}; run observe again"),
        })??;
        waiting.extend(prefixes);
        objects.extend(found);
    }
}
