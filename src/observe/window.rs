//! `--since` / `--until`: the time window of the events to count.
//!
//! Events are kept when `since <= eventTime < until`. A directory walk also skips whole files by
//! the date in their delivery path (`…/CloudTrail/<region>/YYYY/MM/DD/…`). AWS names that date
//! for the *delivery* of the file, and "a log file delivered at a specific time can contain
//! records written at any point before that time": a file delivered before `--since`'s day ends
//! holds no event in the window only if its whole day ends before `--since`, which is exact; on the
//! other side, files delivered after `--until` may still carry late records, so only files
//! delivered more than [`LATE_DELIVERY_DAYS`] after `--until` are skipped unread.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::path::Path;

/// How late CloudTrail may deliver a record and still be read when filtering by `--until`.
pub const LATE_DELIVERY_DAYS: i64 = 1;

/// Times are kept as CloudTrail writes them (`YYYY-MM-DDTHH:MM:SS`, compared as text to the second).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeWindow {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    since_text: Option<String>,
    until_text: Option<String>,
}

const SECOND: usize = "YYYY-MM-DDTHH:MM:SS".len();

impl TimeWindow {
    pub fn new(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        let text = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
        TimeWindow {
            since,
            until,
            since_text: since.map(text),
            until_text: until.map(text),
        }
    }

    /// A window as [`TimeWindow::texts`] gives it back; None if a text is not such a time.
    pub fn from_texts(since: Option<String>, until: Option<String>) -> Option<Self> {
        let parse = |t: &Option<String>| match t {
            None => Some(None),
            Some(t) => chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|t| Some(t.and_utc())),
        };
        Some(TimeWindow::new(parse(&since)?, parse(&until)?))
    }

    /// The bounds as compared with event times (to the second, without a zone); None: open.
    pub fn texts(&self) -> (Option<&str>, Option<&str>) {
        (self.since_text.as_deref(), self.until_text.as_deref())
    }

    /// The end of the window, if it has one.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        self.until
    }

    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// True when an event at `event_time` (CloudTrail's `eventTime`) is in the window.
    pub fn contains(&self, event_time: &str) -> bool {
        let t = event_time.get(..SECOND).unwrap_or(event_time);
        if let Some(since) = &self.since_text {
            if t < since.as_str() {
                return false;
            }
        }
        if let Some(until) = &self.until_text {
            if t >= until.as_str() {
                return false;
            }
        }
        true
    }

    /// The delivery dates (inclusive) whose files may hold events of the window, for pruning a
    /// bucket listing: files are delivered after their events, up to a day late.
    pub fn delivery_dates(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        (
            self.since.map(|s| s.date_naive()),
            self.until
                .map(|u| (u + Duration::days(LATE_DELIVERY_DAYS)).date_naive()),
        )
    }

    /// True when the delivery date in `path` proves the file holds no event in the window.
    pub fn excludes_delivery_path(&self, path: &Path) -> bool {
        let Some(day) = delivery_date(path) else {
            return false;
        };
        let Some(start) = day.and_hms_opt(0, 0, 0).map(|d| d.and_utc()) else {
            return false;
        };
        let end = start + Duration::days(1);
        if self.since.is_some_and(|since| end <= since) {
            return true;
        }
        self.until
            .is_some_and(|until| start >= until + Duration::days(LATE_DELIVERY_DAYS))
    }
}

/// The `YYYY/MM/DD` after `CloudTrail/<region>/` in a delivery path.
pub fn delivery_date(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    let at = parts.iter().rposition(|p| *p == "CloudTrail")?;
    let [_region, y, m, d] = parts.get(at + 1..at + 5)? else {
        return None;
    };
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    NaiveDate::from_ymd_opt(num(y, 4)? as i32, num(m, 2)?, num(d, 2)?)
}

/// `2026-11-02T10:00:00Z` (any RFC 3339 time), a day (`2026-11-02`, midnight UTC), or a time before `now`: `90s`, `30m`, `12h`, `7d`, `2w`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, crate::Error> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    let invalid = || crate::Error::NotATime(text.to_string());
    let ago = parse_duration(text).map_err(|_| invalid())?;
    now.checked_sub_signed(ago).ok_or_else(invalid)
}

/// A duration: `90s`, `30m`, `12h`, `7d`, `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, crate::Error> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let wrong = || crate::Error::NotADuration(text.to_string());
    let n: i64 = digits.parse().map_err(|_| wrong())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(wrong()),
    };
    n.checked_mul(seconds)
        .and_then(Duration::try_seconds)
        .ok_or_else(wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, Utc::now()).unwrap()
    }

    #[test]
    fn times_absolute_and_relative() {
        let now = t("2026-11-22T12:00:00Z");
        assert_eq!(parse_time("1d", now).unwrap(), t("2026-11-21T12:00:00Z"));
        assert_eq!(parse_time("12h", now).unwrap(), t("2026-11-22T00:00:00Z"));
        assert_eq!(
            parse_time("2026-11-03", now).unwrap(),
            t("2026-11-03T00:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-02T10:00:00+02:00", now).unwrap(),
            t("2026-11-02T08:00:00Z")
        );
        for bad in ["", "d", "12", "3y", "yesterday", "99999999999999999999d"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn since_inclusive_until_exclusive_to_the_second() {
        let w = TimeWindow::new(
            Some(t("2026-11-02T10:00:00Z")),
            Some(t("2026-11-02T11:00:00Z")),
        );
        assert!(!w.contains("2026-11-02T09:59:59Z"));
        assert!(w.contains("2026-11-02T10:00:00Z"));
        assert!(w.contains("2026-11-02T10:00:00.250Z"));
        assert!(w.contains("2026-11-02T10:59:59Z"));
        assert!(!w.contains("2026-11-02T11:00:00Z"));
        assert!(!w.contains(""));
        assert!(TimeWindow::default().contains(""));
    }

    #[test]
    fn delivery_days_outside_the_window() {
        let p = |day: &str| {
            std::path::PathBuf::from(format!(
                "x/AWSLogs/111122223333/CloudTrail/eu-west-1/{day}/f.json.gz"
            ))
        };
        assert_eq!(
            delivery_date(&p("2026/11/03")),
            NaiveDate::from_ymd_opt(2026, 11, 3)
        );
        assert_eq!(delivery_date(&p("2026/13/03")), None);
        assert_eq!(delivery_date(Path::new("events/2026/11/03/f.json")), None);
        let w = TimeWindow::new(
            Some(t("2026-11-03T10:00:00Z")),
            Some(t("2026-11-05T00:00:00Z")),
        );
        assert!(w.excludes_delivery_path(&p("2026/11/02")));
        assert!(!w.excludes_delivery_path(&p("2026/11/03")));
        // Delivered the day after --until: may hold late records, read.
        assert!(!w.excludes_delivery_path(&p("2026/11/05")));
        assert!(w.excludes_delivery_path(&p("2026/11/06")));
        assert!(!w.excludes_delivery_path(Path::new("other/f.json")));
    }
}
