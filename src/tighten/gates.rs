//! Evidence gates: a policy mined from a few days of trail, or from a trail that stopped arriving,
//! misses calls that are simply rare or recent. Each gate refuses an apply with its reason; a named
//! flag overrides it.

use crate::store::{times, EvidenceRow};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Test-only: a fixed "now" (RFC 3339) so that evidence age does not depend on the wall clock.
pub const NOW_ENV: &str = "POLICY_MINER_NOW";

pub fn now() -> Result<DateTime<Utc>, crate::Error> {
    match std::env::var(NOW_ENV) {
        Ok(v) if !v.is_empty() => match DateTime::parse_from_rfc3339(&v) {
            Ok(t) => Ok(t.with_timezone(&Utc)),
            Err(error) => Err(crate::Error::BadNow { value: v, error }),
        },
        _ => Ok(Utc::now()),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub first_seen: String,
    pub last_seen: String,
    pub span_days: f64,
    pub age_days: f64,
    /// Rows whose times no call can have had (before 2006, in the future, or a first call after
    /// the last): left out of the span and the age.
    #[serde(skip_serializing_if = "is_zero")]
    pub untrusted_rows: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The span of a role's evidence (failed calls included: they show the trail was read) and how
/// old its newest row is. None without a row whose times are plausible.
///
/// Only plausible times count (`store::times`): a single forged time would otherwise open both
/// gates, a `first_seen` of 1970 by stretching the span to decades, a `last_seen` in the future
/// by making stale evidence look fresh. Every source refuses such times at entry; this is for
/// rows a database kept from before that, or from a tool that wrote the file directly.
///
/// The span is not cut at the database's own first write, although live evidence cannot be
/// older: CloudTrail evidence legitimately is (a year of trail read on the first day), and the
/// rows do not say which source their times came from.
pub fn window(rows: &[&EvidenceRow], now: DateTime<Utc>) -> Option<Window> {
    let trusted = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| times::plausible(*t, now))
    };
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut untrusted_rows = 0;
    for r in rows {
        match (trusted(&r.first_seen), trusted(&r.last_seen)) {
            (Some(first), Some(last)) if first <= last => {
                span = Some(match span {
                    Some((f, l)) => (f.min(first), l.max(last)),
                    None => (first, last),
                });
            }
            _ => untrusted_rows += 1,
        }
    }
    let (first, last) = span?;
    let days = |d: chrono::Duration| d.num_seconds() as f64 / 86_400.0;
    Some(Window {
        first_seen: times::format(first),
        last_seen: times::format(last),
        span_days: days(last - first),
        age_days: days(now - last),
        untrusted_rows,
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub min_evidence_days: f64,
    pub allow_short_evidence: bool,
    pub max_evidence_age_days: f64,
    pub allow_stale_evidence: bool,
    pub allow_unstable_backtest: bool,
}

/// The hold-out window of the backtest gate: a week of calls the proposal must have foreseen.
pub const BACKTEST_HOLDOUT_DAYS: i64 = 7;

/// The refusal of a role whose backtest is not clean, naming the calls and the override.
pub fn backtest_refusal(
    backtest: Option<&crate::synth::backtest::RoleBacktest>,
    t: Thresholds,
) -> Option<String> {
    let b = backtest?;
    if t.allow_unstable_backtest || b.denied.is_empty() {
        return None;
    }
    const NAMED: usize = 3;
    let mut calls: Vec<String> = b
        .denied
        .iter()
        .take(NAMED)
        .map(|d| format!("{} on {}", d.action, d.resource))
        .collect();
    if b.denied.len() > NAMED {
        calls.push(format!("{} more", b.denied.len() - NAMED));
    }
    Some(format!(
        "backtest: a proposal mined before the last {BACKTEST_HOLDOUT_DAYS} days of evidence \
         would have denied {} call(s) first seen since ({}): the workload still grows; observe \
         longer (`policy-miner backtest` lists them), or pass --allow-unstable-backtest",
        b.denied_calls,
        calls.join(", ")
    ))
}

/// Reasons to refuse, each naming the flag that overrides it.
pub fn evidence_refusals(window: Option<&Window>, t: Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    let Some(w) = window else {
        out.push(
            "no evidence with plausible times for this role: nothing to base a policy on"
                .to_string(),
        );
        return out;
    };
    if !t.allow_short_evidence && w.span_days < t.min_evidence_days {
        out.push(format!(
            "evidence spans {:.1} days ({} to {}), fewer than {} (--min-evidence-days): rare calls \
             may be missing; observe longer, or pass --allow-short-evidence",
            w.span_days, w.first_seen, w.last_seen, t.min_evidence_days
        ));
    }
    if !t.allow_stale_evidence && w.age_days > t.max_evidence_age_days {
        out.push(format!(
            "the newest evidence ({}) is {:.1} days old, more than {} (--max-evidence-age-days): is \
             the trail still being observed? Run `policy-miner observe`, or pass --allow-stale-evidence",
            w.last_seen, w.age_days, t.max_evidence_age_days
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(first: &str, last: &str) -> EvidenceRow {
        EvidenceRow {
            role_arn: "arn:aws:iam::1:role/r".into(),
            action: "s3:GetObject".into(),
            resource: "arn:aws:s3:::b/k".into(),
            condition: String::new(),
            error_code: String::new(),
            count: 1,
            first_seen: first.into(),
            last_seen: last.into(),
            example_event_id: "e".into(),
            event_source: "s3.amazonaws.com".into(),
            event_name: "GetObject".into(),
            rule: "r".into(),
            callers: Default::default(),
        }
    }

    #[test]
    fn short_and_stale_evidence_are_refused_unless_overridden() {
        let rows = [
            row("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
            row("2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
        ];
        let refs: Vec<&EvidenceRow> = rows.iter().collect();
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = window(&refs, now).unwrap();
        assert_eq!(w.span_days, 3.0);
        assert_eq!(w.age_days, 17.0);
        let mut t = Thresholds {
            min_evidence_days: 14.0,
            allow_short_evidence: false,
            max_evidence_age_days: 7.0,
            allow_stale_evidence: false,
            allow_unstable_backtest: false,
        };
        let r = evidence_refusals(Some(&w), t);
        assert_eq!(r.len(), 2);
        assert!(r[0].contains("--allow-short-evidence") && r[1].contains("--allow-stale-evidence"));
        t.min_evidence_days = 3.0;
        t.max_evidence_age_days = 17.0;
        assert!(evidence_refusals(Some(&w), t).is_empty());
        t.min_evidence_days = 30.0;
        t.allow_short_evidence = true;
        assert!(evidence_refusals(Some(&w), t).is_empty());
    }

    /// Issue 13: one row with a forged time (an SDK datagram's `Timestamp: 0`, an export's
    /// `first_seen` of 1970, a `last_seen` years ahead) must open neither gate.
    #[test]
    fn forged_times_open_neither_gate() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = Thresholds {
            min_evidence_days: 14.0,
            allow_short_evidence: false,
            max_evidence_age_days: 7.0,
            allow_stale_evidence: false,
            allow_unstable_backtest: false,
        };
        let day = row("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z");
        let epoch = row("1970-01-01T00:00:00Z", "2026-11-21T00:00:00Z");
        let w = window(&[&day, &epoch], now).unwrap();
        assert_eq!(w.span_days, 1.0);
        assert_eq!(w.untrusted_rows, 1);
        assert!(evidence_refusals(Some(&w), t)[0].contains("--allow-short-evidence"));

        let old = row("2026-10-01T00:00:00Z", "2026-10-20T00:00:00Z");
        let ahead = row("2026-10-01T00:00:00Z", "2099-01-01T00:00:00Z");
        let w = window(&[&old, &ahead], now).unwrap();
        assert_eq!(w.last_seen, "2026-10-20T00:00:00Z");
        assert_eq!(w.untrusted_rows, 1);
        assert!(evidence_refusals(Some(&w), t)[0].contains("--allow-stale-evidence"));

        // Nothing plausible left: no evidence at all.
        assert!(window(&[&epoch, &ahead], now).is_none());
        let backwards = row("2026-11-21T00:00:00Z", "2026-11-20T00:00:00Z");
        assert!(window(&[&backwards], now).is_none());
    }
}
