//! Trace sources: where API-call records come from.
//!
//! A source lists *units* (a local file today; an S3 object later) and yields their bytes; a format
//! decoder (`cloudtrail`) turns bytes into [`crate::call::ApiCall`]s. Keeping the two apart lets a
//! new source reuse the decoder and a new format reuse the sources.

pub mod cloudtrail;
pub mod csm;
pub mod json;
pub mod local;
pub mod proxy;
pub mod s3;

use std::fmt;

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
