//! Backtesting a proposal on the user's own evidence: the policy mined from everything recorded
//! before a hold-out window, replayed against every call first seen inside it.
//!
//! A proposal that denies next week's calls is an outage. The evidence says how likely that is:
//! had the proposal been made a week ago, would this week's calls have been allowed? A role
//! whose hold-out calls all pass is *stable*; one with denied calls is *still growing* — more
//! evidence is needed, or the denied names show a shape the templates did not learn.

use super::verify::{replay, Uncovered};
use super::{propose, Options};
use crate::attribution::taskdef::TaskDefinition;
use crate::store::{EvidenceRow, UngrantedRow};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    /// Evidence first seen at or after this time is held out; the proposal is mined from the rest.
    pub cutoff: String,
    /// The newest evidence time: the hold-out window is [cutoff, end].
    pub end: String,
    pub roles: Vec<RoleBacktest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleBacktest {
    pub role_arn: String,
    /// `stable` (every hold-out call allowed), `still growing` (some denied), or `new role`
    /// (no evidence before the window: nothing to mine, every call denied).
    pub verdict: &'static str,
    /// Successful evidence rows before the window, and inside it (distinct calls).
    pub mined_from: usize,
    pub replayed: usize,
    /// Calls inside the window, and those the earlier proposal would have denied.
    pub replayed_calls: i64,
    pub denied_calls: i64,
    pub denied: Vec<Uncovered>,
}

impl Backtest {
    pub fn is_stable(&self) -> bool {
        self.roles.iter().all(|r| r.denied.is_empty())
    }

    /// The role's entry, if it had evidence.
    pub fn role(&self, role_arn: &str) -> Option<&RoleBacktest> {
        self.roles.iter().find(|r| r.role_arn == role_arn)
    }
}

/// Mines each selected role's proposal from the evidence first seen before `end - holdout`
/// (`end` being the newest evidence) and replays the successful calls first seen after it.
pub fn backtest(
    evidence: &[EvidenceRow],
    ungranted: &[UngrantedRow],
    definitions: &[TaskDefinition],
    opts: &Options,
    holdout: Duration,
) -> Result<Backtest, crate::Error> {
    let time = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let end = evidence
        .iter()
        .filter_map(|r| time(&r.last_seen))
        .max()
        .unwrap_or_else(Utc::now);
    let cutoff = end - holdout;
    let before = |r: &EvidenceRow| time(&r.first_seen).is_some_and(|t| t < cutoff);
    // The rows of the past as they were at the cutoff: a row first seen before it stays, with
    // its later calls (the same action on the same resource would have been granted anyway).
    let mined: Vec<EvidenceRow> = evidence.iter().filter(|r| before(r)).cloned().collect();
    let proposal = propose(&mined, ungranted, definitions, opts)?;
    let mut held_out: BTreeMap<&str, Vec<&EvidenceRow>> = BTreeMap::new();
    let mut mined_from: BTreeMap<&str, usize> = BTreeMap::new();
    for r in evidence.iter().filter(|r| r.error_code.is_empty()) {
        if !opts.roles.contains(&r.role_arn) {
            continue;
        }
        if before(r) {
            *mined_from.entry(&r.role_arn).or_default() += 1;
        } else {
            held_out.entry(&r.role_arn).or_default().push(r);
        }
    }
    let mut roles: Vec<RoleBacktest> = Vec::new();
    let all_roles: std::collections::BTreeSet<&str> =
        mined_from.keys().chain(held_out.keys()).copied().collect();
    for role in all_roles {
        let rows = held_out.get(role).map(Vec::as_slice).unwrap_or_default();
        let policy = proposal.roles.iter().find(|p| p.role_arn == role);
        let denied = match policy {
            Some(p) => replay(std::slice::from_ref(&p.policy), rows),
            None => replay(&[], rows),
        };
        let verdict = match (policy.is_some(), denied.is_empty()) {
            (_, true) => "stable",
            (false, false) => "new role",
            (true, false) => "still growing",
        };
        roles.push(RoleBacktest {
            role_arn: role.to_string(),
            verdict,
            mined_from: mined_from.get(role).copied().unwrap_or(0),
            replayed: rows.len(),
            replayed_calls: rows.iter().map(|r| r.count).sum(),
            denied_calls: denied.iter().map(|d| d.count).sum(),
            denied,
        });
    }
    Ok(Backtest {
        cutoff: cutoff.to_rfc3339_opts(SecondsFormat::Secs, true),
        end: end.to_rfc3339_opts(SecondsFormat::Secs, true),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(role: &str, key: &str, first: &str) -> EvidenceRow {
        EvidenceRow::call(
            role,
            "s3:PutObject",
            &format!("arn:aws:s3:::b/{key}"),
            first,
        )
    }

    #[test]
    fn dated_keys_are_stable_and_a_new_prefix_is_not() {
        let r = "arn:aws:iam::1:role/app";
        let mut rows: Vec<EvidenceRow> = (1..=20)
            .map(|d| {
                row(
                    r,
                    &format!("in/2026-10-{d:02}/data.csv"),
                    &format!("2026-10-{d:02}T01:00:00Z"),
                )
            })
            .collect();
        let b = backtest(&rows, &[], &[], &Options::default(), Duration::days(7)).unwrap();
        assert_eq!(b.cutoff, "2026-10-13T01:00:00Z");
        assert_eq!(b.roles[0].verdict, "stable");
        assert_eq!(b.roles[0].replayed, 8);
        assert!(b.is_stable());
        rows.push(row(r, "elsewhere/x", "2026-10-19T00:00:00Z"));
        let b = backtest(&rows, &[], &[], &Options::default(), Duration::days(7)).unwrap();
        assert_eq!(b.roles[0].verdict, "still growing");
        assert_eq!(b.roles[0].denied.len(), 1);
        assert_eq!(b.roles[0].denied[0].resource, "arn:aws:s3:::b/elsewhere/x");
        // A role seen only inside the window has nothing to mine.
        rows.push(row(
            "arn:aws:iam::1:role/new",
            "in/2026-10-20/data.csv",
            "2026-10-20T00:00:00Z",
        ));
        let b = backtest(&rows, &[], &[], &Options::default(), Duration::days(7)).unwrap();
        assert_eq!(
            b.role("arn:aws:iam::1:role/new").unwrap().verdict,
            "new role"
        );
    }
}
