//! The times evidence may carry. Every source hands the store times it cannot prove: a CloudTrail
//! file, an SDK's monitoring datagram and an export are all text someone else wrote. One forged
//! time is enough to move a gate (a `first_seen` of 1970 makes a day of evidence look like 57
//! years), so each source checks its times against the same range at entry, and the gates read
//! only times inside it.

use chrono::{DateTime, TimeDelta, Utc};

/// 2006-01-01T00:00:00Z: AWS's first services opened in 2006 (CloudTrail in 2013), so no call to
/// an AWS API is older. An earlier time is a forged one or a broken clock, never evidence.
pub const EARLIEST: DateTime<Utc> = match DateTime::<Utc>::from_timestamp(1_136_073_600, 0) {
    Some(t) => t,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// How far another clock (an SDK's, a sidecar host's) may run ahead of this machine's. Hosts kept
/// by NTP differ by far less; a time later than this is not a call that has happened.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Whether a call can have happened at `t`, as seen at `now`.
pub fn plausible(t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    t >= EARLIEST && t <= now + MAX_SKEW
}

/// Why a text is no time a call can have had, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Implausible {
    #[error("{text:?} is not an RFC 3339 time ({error})")]
    NotRfc3339 {
        text: String,
        error: chrono::ParseError,
    },
    #[error("{text} is before {}: no AWS API call is that old", format(EARLIEST))]
    TooOld { text: String },
    #[error("{text} is in the future (this machine's clock says {})", format(*now))]
    Future { text: String, now: DateTime<Utc> },
}

/// An evidence time (RFC 3339) if a call can have happened then; otherwise why not.
pub fn check(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Implausible> {
    let t = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|error| Implausible::NotRfc3339 {
            text: text.to_string(),
            error,
        })?;
    if t < EARLIEST {
        return Err(Implausible::TooOld {
            text: text.to_string(),
        });
    }
    if t > now + MAX_SKEW {
        return Err(Implausible::Future {
            text: text.to_string(),
            now,
        });
    }
    Ok(t)
}

/// A time as the store keeps it (`2026-11-20T12:00:00Z`, CloudTrail's form): the tables compare
/// times as text, which orders them only when they are all written alike.
pub fn format(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_range_runs_from_2006_to_a_few_minutes_ahead() {
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(format(EARLIEST), "2006-01-01T00:00:00Z");
        assert!(plausible(EARLIEST, now));
        assert!(!plausible(at("1970-01-01T00:00:00Z"), now));
        assert!(!plausible(at("2005-12-31T23:59:59Z"), now));
        assert!(plausible(at("2026-12-01T00:04:59Z"), now));
        assert!(!plausible(at("2026-12-01T00:05:01Z"), now));
        assert!(check("1970-01-01T00:00:00Z", now)
            .unwrap_err()
            .to_string()
            .contains("before 2006"));
        assert!(check("2027-01-01T00:00:00Z", now)
            .unwrap_err()
            .to_string()
            .contains("future"));
        assert!(check("yesterday", now).is_err());
        assert_eq!(
            check("2026-11-20T13:00:00+01:00", now).map(format),
            Ok("2026-11-20T12:00:00Z".to_string())
        );
    }
}
