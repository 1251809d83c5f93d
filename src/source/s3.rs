//! CloudTrail trail buckets read directly: `s3://bucket/prefix/`.
//!
//! The delivery layout (`AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz`) is
//! walked one level at a time, so account, region and date filters prune whole prefixes instead of
//! listing the bucket, and the prefixes left are listed side by side (`list.rs`). Objects are
//! fetched many at once (`--s3-concurrency`, observe's task pool), each request retried on
//! throttling and dropped connections (the SDK; `retry.rs` for bodies cut short). Each object is
//! checkpointed by key and ETag: an object already observed is never downloaded again.

use super::{Listing, SkipReason, Skipped, Unit, UnitSource};
use crate::observe::TimeWindow;
use aws_sdk_s3::error::ProvideErrorMetadata;
use chrono::NaiveDate;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

mod error;
mod list;
mod retry;

/// A failed fetch: whether fetching the object again may help.
enum Fetch {
    /// The body was cut short after S3 began answering.
    Interrupted(S3Error),
    Failed(S3Error),
}

/// `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailLocation {
    pub bucket: String,
    pub prefix: String,
}

impl TrailLocation {
    pub fn parse(url: &str) -> Option<TrailLocation> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| TrailLocation {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Which part of a trail to read. Empty lists mean "all".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Inclusive delivery dates (UTC).
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// One trail object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailObject {
    pub key: String,
    pub size: i64,
    pub etag: String,
}

impl TrailObject {
    /// The identity recorded in `observed_files`: an object with the same key and ETag has the
    /// same content.
    pub fn checkpoint(&self, bucket: &str) -> String {
        format!("s3://{bucket}/{}#{}", self.key, self.etag.trim_matches('"'))
    }
}

/// A failed request. `message` is one whole line that ends with its own hint, chosen by the
/// failure: the unit it is reported for needs no other.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct S3Error {
    pub what: String,
    pub message: String,
}

#[derive(Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    pub location: TrailLocation,
    filter: Filter,
    /// Requests sent at once while listing.
    concurrency: usize,
    /// Attempts at an object whose body was cut short (the SDK retries the request itself).
    attempts: u32,
}

impl S3Source {
    /// `concurrency`: requests sent at once while listing (at least 1).
    pub async fn new(location: TrailLocation, filter: Filter, concurrency: usize) -> S3Source {
        let config = crate::aws::sdk_config().await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            // Path-style works with every endpoint (moto, VPC endpoints, buckets with dots).
            .force_path_style(true)
            .build();
        S3Source {
            client: aws_sdk_s3::Client::from_conf(s3),
            location,
            filter,
            concurrency: concurrency.max(1),
            // The SDK's own count (AWS_MAX_ATTEMPTS, the profile's max_attempts, else 3).
            attempts: config
                .retry_config()
                .map_or(3, aws_sdk_s3::config::retry::RetryConfig::max_attempts)
                .max(1),
        }
    }

    /// Every trace object under the location that the filter keeps, in key order; prefixes are
    /// listed concurrently (see `list.rs`).
    pub async fn list(&self) -> Result<Vec<TrailObject>, S3Error> {
        let mut out = list::walk(self).await?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// One prefix, every page: the sub-prefixes the filter keeps and the trace objects in it.
    async fn list_prefix(&self, prefix: &str) -> Result<(Vec<String>, Vec<TrailObject>), S3Error> {
        let (mut prefixes, mut objects) = (Vec::new(), Vec::new());
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.error(prefix, "ListObjectsV2", self.place(prefix), e))?;
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    if prefix_allowed(p, &self.filter) {
                        prefixes.push(p.to_string());
                    }
                }
            }
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let name = key.rsplit('/').next().unwrap_or(key);
                if super::local::is_trace_name(name) && prefix_allowed(key, &self.filter) {
                    objects.push(TrailObject {
                        key: key.to_string(),
                        size: o.size().unwrap_or(0),
                        etag: o.e_tag().unwrap_or("").to_string(),
                    });
                }
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok((prefixes, objects));
            }
        }
    }

    /// The object's bytes (still compressed, as stored). The SDK retries the request on
    /// throttling (`SlowDown`, 503) and on connections dropped before an answer, with backoff;
    /// a body cut short after the answer began is fetched again here, the same number of times.
    pub async fn fetch(&self, key: &str) -> Result<Vec<u8>, S3Error> {
        let mut attempt = 1;
        loop {
            match self.fetch_once(key).await {
                Err(Fetch::Interrupted(_)) if attempt < self.attempts => {
                    tokio::time::sleep(retry::backoff(attempt)).await;
                    attempt += 1;
                }
                Err(Fetch::Interrupted(e) | Fetch::Failed(e)) => return Err(e),
                Ok(bytes) => return Ok(bytes),
            }
        }
    }

    async fn fetch_once(&self, key: &str) -> Result<Vec<u8>, Fetch> {
        let resp = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Fetch::Failed(self.error(key, "GetObject", self.place(""), e)))?;
        let body = resp.body.collect().await.map_err(|e| {
            Fetch::Interrupted(S3Error {
                what: self.url(key),
                message: format!(
                    "GetObject on {} was interrupted ({} attempts): {e}; run observe again",
                    self.place(""),
                    self.attempts
                ),
            })
        })?;
        Ok(body.into_bytes().to_vec())
    }

    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    /// The bucket, and the prefix listed if any, for a message whose unit is already named.
    fn place(&self, prefix: &str) -> String {
        match prefix {
            "" => format!("bucket {}", self.location.bucket),
            _ => format!("bucket {} under \"{prefix}\"", self.location.bucket),
        }
    }

    /// `key`: the object, or the prefix listed.
    fn error<E>(
        &self,
        key: &str,
        operation: &str,
        target: String,
        e: aws_sdk_s3::error::SdkError<E>,
    ) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let TrailLocation { bucket, prefix } = &self.location;
        S3Error {
            what: self.url(key),
            message: error::describe(operation, &target, (bucket, prefix), &e),
        }
    }
}

/// A trail bucket location named on the command line (`s3://bucket/prefix/`), as a
/// [`UnitSource`]: each trace object under it is a unit, identified by its key and ETag.
pub struct TrailBucket {
    url: String,
    accounts: Vec<String>,
    regions: Vec<String>,
    /// Requests in flight at once, listing and fetching.
    concurrency: usize,
    /// Once listed: the source, and the objects listed by [`Unit::index`].
    listed: Option<(S3Source, Vec<TrailObject>)>,
}

impl TrailBucket {
    /// `accounts`, `regions`: only these (empty: all). `concurrency`: requests in flight at once.
    pub fn new(
        url: String,
        accounts: Vec<String>,
        regions: Vec<String>,
        concurrency: usize,
    ) -> TrailBucket {
        TrailBucket {
            url,
            accounts,
            regions,
            concurrency: concurrency.max(1),
            listed: None,
        }
    }

    /// Lists the location, pruned by the account, region and time filters.
    async fn list_objects(
        &self,
        window: &TimeWindow,
    ) -> Result<(S3Source, Vec<TrailObject>), Skipped> {
        let skipped = |detail: String| Skipped {
            unit: self.url.clone(),
            reason: SkipReason::Unreadable,
            detail,
        };
        let location = TrailLocation::parse(&self.url)
            .ok_or_else(|| skipped("expected s3://bucket/prefix/".to_string()))?;
        let (since, until) = window.delivery_dates();
        let filter = Filter {
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            since,
            until,
        };
        let source = S3Source::new(location, filter, self.concurrency).await;
        let objects = source.list().await.map_err(|e| skipped(e.message))?;
        Ok((source, objects))
    }
}

impl UnitSource for TrailBucket {
    fn list<'a>(
        &'a mut self,
        window: &'a TimeWindow,
    ) -> Pin<Box<dyn Future<Output = Listing> + Send + 'a>> {
        Box::pin(async move {
            let (source, objects) = match self.list_objects(window).await {
                Ok(listed) => listed,
                Err(skipped) => {
                    return Listing {
                        skipped: vec![skipped],
                        ..Listing::default()
                    }
                }
            };
            let found = objects.len() as u64;
            let (inside, outside): (Vec<TrailObject>, Vec<TrailObject>) = objects
                .into_iter()
                .partition(|o| !window.excludes_delivery_path(Path::new(&o.key)));
            let bucket = &source.location.bucket;
            let listing = Listing {
                units: inside
                    .iter()
                    .enumerate()
                    .map(|(index, object)| Unit {
                        name: source.url(&object.key),
                        checkpoint: Some(object.checkpoint(bucket)),
                        index,
                    })
                    .collect(),
                found,
                outside_window: outside.len() as u64,
                ..Listing::default()
            };
            self.listed = Some((source, inside));
            listing
        })
    }

    fn fetch(
        &self,
        unit: &Unit,
        into: &mut Vec<u8>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), String> {
        let Some((source, objects)) = &self.listed else {
            return Err("the bucket was not listed".to_string());
        };
        *into = runtime
            .block_on(source.fetch(&objects[unit.index].key))
            .map_err(|e| e.message)?;
        Ok(())
    }

    /// Each object costs a round trip of its own, mostly spent waiting: many are fetched at once.
    fn fetch_ahead(&self) -> usize {
        self.concurrency
    }

    fn fetch_async<'a>(
        &'a self,
        unit: &'a Unit,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
        Box::pin(async move {
            let Some((source, objects)) = &self.listed else {
                return Err("the bucket was not listed".to_string());
            };
            source
                .fetch(&objects[unit.index].key)
                .await
                .map_err(|e| e.message)
        })
    }
}

/// Whether a key or listing prefix can hold objects the filter keeps, judged by the segments of
/// the delivery layout it already shows (`AWSLogs/[o-…/]<account>/CloudTrail/<region>/Y/M/D/`).
pub fn prefix_allowed(path: &str, filter: &Filter) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let Some(logs) = segments.iter().position(|s| *s == "AWSLogs") else {
        return true;
    };
    let mut i = logs + 1;
    if segments.get(i).is_some_and(|s| s.starts_with("o-")) {
        i += 1;
    }
    let complete = |idx: usize| idx + 1 < segments.len();
    let Some(account) = segments.get(i).filter(|_| complete(i)) else {
        return true;
    };
    if !filter.accounts.is_empty() && !filter.accounts.iter().any(|a| a == account) {
        return false;
    }
    match segments.get(i + 1).filter(|_| complete(i + 1)) {
        None => return true,
        // CloudTrail-Digest, CloudTrail-Insight…: not API-call records.
        Some(service) if *service != "CloudTrail" => return false,
        Some(_) => {}
    }
    let Some(region) = segments.get(i + 2).filter(|_| complete(i + 2)) else {
        return true;
    };
    if !filter.regions.is_empty() && !filter.regions.iter().any(|r| r == region) {
        return false;
    }
    let date_parts: Vec<u32> = (i + 3..i + 6)
        .filter(|&j| complete(j))
        .map_while(|j| segments.get(j).and_then(|s| s.parse().ok()))
        .collect();
    date_window_overlaps(&date_parts, filter)
}

/// Does the period named by (year[, month[, day]]) overlap [since, until]?
fn date_window_overlaps(parts: &[u32], filter: &Filter) -> bool {
    let (first, last) = match *parts {
        [] => return true,
        [y] => (
            NaiveDate::from_ymd_opt(y as i32, 1, 1),
            NaiveDate::from_ymd_opt(y as i32, 12, 31),
        ),
        [y, m] => (
            NaiveDate::from_ymd_opt(y as i32, m, 1),
            NaiveDate::from_ymd_opt(y as i32, m, 1)
                .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
                .and_then(|d| d.pred_opt()),
        ),
        [y, m, d, ..] => {
            let day = NaiveDate::from_ymd_opt(y as i32, m, d);
            (day, day)
        }
    };
    let (Some(first), Some(last)) = (first, last) else {
        return true;
    };
    filter.since.is_none_or(|s| last >= s) && filter.until.is_none_or(|u| first <= u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn locations() {
        assert_eq!(
            TrailLocation::parse("s3://trail/AWSLogs/"),
            Some(TrailLocation {
                bucket: "trail".into(),
                prefix: "AWSLogs/".into()
            })
        );
        assert_eq!(TrailLocation::parse("s3://trail").unwrap().prefix, "");
        assert_eq!(TrailLocation::parse("s3:///x"), None);
        assert_eq!(TrailLocation::parse("/tmp/x"), None);
    }

    #[test]
    fn filters_prune_by_account_region_and_date_in_both_layouts() {
        let f = Filter {
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
            since: Some(date("2026-11-02")),
            until: Some(date("2026-11-03")),
        };
        for base in ["AWSLogs/", "AWSLogs/o-abc123/"] {
            let ok = |p: &str| prefix_allowed(&format!("{base}{p}"), &f);
            assert!(ok(""));
            assert!(ok("111122223333/"));
            assert!(!ok("444455556666/"));
            assert!(!ok("111122223333/CloudTrail-Digest/"));
            assert!(ok("111122223333/CloudTrail/eu-west-1/"));
            assert!(!ok("111122223333/CloudTrail/us-east-1/"));
            assert!(ok("111122223333/CloudTrail/eu-west-1/2026/"));
            assert!(!ok("111122223333/CloudTrail/eu-west-1/2025/"));
            assert!(ok("111122223333/CloudTrail/eu-west-1/2026/11/"));
            assert!(!ok("111122223333/CloudTrail/eu-west-1/2026/10/"));
            assert!(ok("111122223333/CloudTrail/eu-west-1/2026/11/03/"));
            assert!(!ok("111122223333/CloudTrail/eu-west-1/2026/11/04/"));
            assert!(ok("111122223333/CloudTrail/eu-west-1/2026/11/02/x_CloudTrail_eu-west-1_20261102T0000Z_a.json.gz"));
            assert!(!ok(
                "111122223333/CloudTrail/eu-west-1/2026/11/01/x.json.gz"
            ));
        }
        // Partial segments of a prefix (the account being typed) are never judged.
        assert!(prefix_allowed("AWSLogs/1111", &f));
        assert!(prefix_allowed("other/layout/file.json.gz", &f));
    }

    #[test]
    fn checkpoints_use_key_and_etag() {
        let o = TrailObject {
            key: "AWSLogs/1/CloudTrail/r/2026/11/02/a.json.gz".into(),
            size: 10,
            etag: "\"9b2cf535f27731c974343645a3985328\"".into(),
        };
        assert_eq!(
            o.checkpoint("trail"),
            "s3://trail/AWSLogs/1/CloudTrail/r/2026/11/02/a.json.gz#9b2cf535f27731c974343645a3985328"
        );
    }
}
