//! `verify`'s report as text: one line per role, each denied call under it.

use crate::synth::verify::Verification;
use std::fmt::Write as _;

/// The report; `exit_status` is the one `verify` returns when a call would be denied.
pub fn text(report: &Verification, exit_status: i32) -> String {
    let mut s = String::new();
    let calls: i64 = report.roles.iter().map(|r| r.calls).sum();
    let _ = writeln!(
        s,
        "Replayed {calls} observed successful call(s) of {} role(s) against {}.",
        report.roles.len(),
        report.checked_against
    );
    for r in &report.roles {
        if r.records == 0 {
            let _ = writeln!(s, "ok    {}: no observed call to replay", r.role_arn);
            continue;
        }
        if r.uncovered.is_empty() {
            let _ = writeln!(s, "ok    {}: all {} call(s) allowed", r.role_arn, r.calls);
            continue;
        }
        let denied: i64 = r.uncovered.iter().map(|u| u.count).sum();
        let _ = writeln!(
            s,
            "DENY  {}: {denied} of {} call(s) would be denied{}",
            r.role_arn,
            r.calls,
            r.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        for u in &r.uncovered {
            let context: Vec<String> = u
                .context
                .iter()
                .map(|(k, v)| format!("{k}={}", v.join(",")))
                .collect();
            let _ = writeln!(
                s,
                "      {} on {} ×{}  {}  example event {}{}",
                u.action,
                u.resource,
                u.count,
                u.decision,
                u.example_event_id,
                if context.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", context.join(" "))
                }
            );
        }
    }
    if report.uncovered_total == 0 {
        s.push_str("Every observed call is allowed.\n");
    } else {
        let _ = writeln!(
            s,
            "{} call record(s) would be denied (exit status {exit_status}).",
            report.uncovered_total
        );
    }
    s
}
