//! CloudTrail trail buckets read directly: `s3://bucket/prefix/`.
//!
//! The delivery layout (`AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz`) is
//! walked one level at a time, so account, region and date filters prune whole prefixes instead of
//! listing the bucket, and the prefixes left are listed side by side (`list.rs`). The listing
//! streams: each page's objects are handed to observe as the page comes, through a channel of
//! `--s3-concurrency` units, and fetched while the listing goes on; the listing waits while the
//! fetchers are behind, and nothing keeps the objects listed (a unit's name gives its key). So
//! memory does not grow with the bucket: listed whole first, each object held ~870 bytes (key,
//! ETag, unit; measured on moto as the peak's growth from 10,000 to 30,000 objects), ~7.8 GB for
//! an organization's 90 days (~9 million objects) before the first was fetched. Listing and fetching
//! share `--s3-concurrency` requests in flight, each retried on throttling and dropped
//! connections (the SDK; `retry.rs` for bodies cut short). Each object is checkpointed by key and
//! ETag: an object already observed is never downloaded again.

use super::{Listing, SkipReason, Skipped, Streamed, Unit, UnitSource};
use crate::observe::TimeWindow;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use chrono::NaiveDate;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    /// Prefixes listed at once.
    concurrency: usize,
    /// Requests in flight at once, listing and fetching together (`concurrency` permits).
    requests: Arc<Semaphore>,
    /// Attempts at an object whose body was cut short (the SDK retries the request itself).
    attempts: u32,
}

impl S3Source {
    /// `concurrency`: requests in flight at once, listing and fetching (at least 1).
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
            requests: Arc::new(Semaphore::new(concurrency.max(1))),
            // The SDK's own count (AWS_MAX_ATTEMPTS, the profile's max_attempts, else 3).
            attempts: config
                .retry_config()
                .map_or(3, aws_sdk_s3::config::retry::RetryConfig::max_attempts)
                .max(1),
        }
    }

    /// One page of one level under `prefix` (the one after `token`'s), one of the requests in
    /// flight at once.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListObjectsV2Output, S3Error> {
        let _request = self.requests.acquire().await;
        self.client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| self.error(prefix, "ListObjectsV2", self.place(prefix), e))
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
        let _request = self.requests.acquire().await;
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
        object_url(&self.location.bucket, key)
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

/// How an object is named: `s3://bucket/key`.
fn object_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The key of an object of `bucket` named by [`object_url`]: a unit carries its name only.
fn key_of<'a>(bucket: &str, url: &'a str) -> Option<&'a str> {
    url.strip_prefix("s3://")?
        .strip_prefix(bucket)?
        .strip_prefix('/')
}

/// A trail bucket location named on the command line (`s3://bucket/prefix/`), as a
/// [`UnitSource`]: each trace object under it is a unit, identified by its key and ETag, handed
/// over as it is listed ([`Listing::more`]).
pub struct TrailBucket {
    url: String,
    accounts: Vec<String>,
    regions: Vec<String>,
    /// Requests in flight at once, listing and fetching.
    concurrency: usize,
    /// Once listed: the source the units are fetched from (each unit's name gives its key).
    listed: Option<S3Source>,
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

    /// The source for the location, pruned by the account, region and time filters.
    async fn source(&self, window: &TimeWindow) -> Result<S3Source, Skipped> {
        let location = TrailLocation::parse(&self.url).ok_or_else(|| Skipped {
            unit: self.url.clone(),
            reason: SkipReason::Unreadable,
            detail: "expected s3://bucket/prefix/".to_string(),
        })?;
        let (since, until) = window.delivery_dates();
        let filter = Filter {
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            since,
            until,
        };
        Ok(S3Source::new(location, filter, self.concurrency).await)
    }

    /// The key of one of the units listed, and the source to fetch it from.
    fn object<'u>(&self, unit: &'u Unit) -> Result<(&S3Source, &'u str), String> {
        let source = self
            .listed
            .as_ref()
            .ok_or_else(|| "the bucket was not listed".to_string())?;
        let key = key_of(&source.location.bucket, &unit.name)
            .ok_or_else(|| format!("{}: not an object of {}", unit.name, self.url))?;
        Ok((source, key))
    }
}

/// Units listed but not yet taken by observe's fetching, per request in flight: enough that the
/// fetchers find the next unit waiting whenever a request ends, while the listings (a page of
/// up to 1,000 keys per round trip) run far ahead of them anyway.
const QUEUED_PER_REQUEST: usize = 1;

impl UnitSource for TrailBucket {
    /// Starts the walk and returns at once: the units come through [`Listing::more`], the counts
    /// and a listing failure (named with the location, after the units listed before it) at its
    /// end.
    fn list<'a>(
        &'a mut self,
        window: &'a TimeWindow,
    ) -> Pin<Box<dyn Future<Output = Listing> + Send + 'a>> {
        Box::pin(async move {
            let source = match self.source(window).await {
                Ok(source) => source,
                Err(skipped) => {
                    return Listing {
                        skipped: vec![skipped],
                        ..Listing::default()
                    }
                }
            };
            let (units, received) =
                tokio::sync::mpsc::channel(QUEUED_PER_REQUEST * self.concurrency);
            let sink = Arc::new(list::Sink::new(units, window.clone()));
            let (walker, url) = (source.clone(), self.url.clone());
            let done = tokio::spawn(async move {
                let walked = list::walk(&walker, sink.clone()).await;
                let (found, outside_window) = sink.counts();
                Listing {
                    found,
                    outside_window,
                    stopped: sink.stopped().then(|| url.clone()),
                    skipped: walked
                        .err()
                        .map(|e| Skipped {
                            unit: url,
                            reason: SkipReason::Unreadable,
                            detail: e.message,
                        })
                        .into_iter()
                        .collect(),
                    ..Listing::default()
                }
            });
            self.listed = Some(source);
            Listing {
                more: Some(Streamed {
                    name: self.url.clone(),
                    units: received,
                    done,
                }),
                ..Listing::default()
            }
        })
    }

    fn fetch(
        &self,
        unit: &Unit,
        into: &mut Vec<u8>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), String> {
        let (source, key) = self.object(unit)?;
        *into = runtime.block_on(source.fetch(key)).map_err(|e| e.message)?;
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
            let (source, key) = self.object(unit)?;
            source.fetch(key).await.map_err(|e| e.message)
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
    fn a_unit_name_gives_back_its_key() {
        for key in [
            "AWSLogs/1/CloudTrail/r/2026/11/02/a.json.gz",
            "AWSLogs//double/slash.json.gz",
            "with space/and#hash.json",
        ] {
            assert_eq!(key_of("trail", &object_url("trail", key)), Some(key));
        }
        // Another bucket's object, or one whose name only starts like this bucket's.
        assert_eq!(key_of("trail", "s3://other/a.json.gz"), None);
        assert_eq!(key_of("trail", "s3://trail-2/a.json.gz"), None);
        assert_eq!(key_of("trail", "/tmp/trail/a.json.gz"), None);
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
