//! The tighten report as text (JSON is the serde form of [`crate::tighten::Report`]) and the
//! history listing.

use crate::tighten::history::Change;
use crate::tighten::Report;
use std::fmt::Write;

/// How many unused action names a text line shows before "and N more".
const SHOWN: usize = 8;

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "credentials: {}{}",
        report.caller.arn,
        report
            .caller
            .unknown_because
            .as_ref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default()
    );
    for r in &report.roles {
        let _ = writeln!(out, "\n== {} — {}", r.role_arn, r.outcome);
        if let Some(e) = &r.error {
            let _ = writeln!(out, "error: {e}");
        }
        if let Some(why) = &r.skipped_because {
            let _ = writeln!(out, "skipped: {why}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if let Some(split) = &r.split {
            let _ = writeln!(
                out,
                "recommended split ({}): {} (tighten creates no role; review, then run:)",
                split.kind,
                crate::text::printable(&split.new_roles.join(", "))
            );
            for c in &split.commands {
                let _ = writeln!(out, "  {}", crate::text::printable(c));
            }
        }
        if matches!(r.outcome, "error" | "skipped" | "not in IAM") && r.replacement.is_none() {
            continue;
        }
        let _ = writeln!(out, "current policies:");
        for p in &r.current_policies {
            let _ = writeln!(
                out,
                "  {} {}{} ({} chars)",
                p.kind,
                p.name,
                p.version_id
                    .as_ref()
                    .map(|v| format!(" at {v}"))
                    .unwrap_or_default(),
                p.size
            );
        }
        if let Some(w) = &r.evidence {
            let _ = writeln!(
                out,
                "evidence: {} to {} ({:.1} days; newest {:.1} days old){}",
                w.first_seen,
                w.last_seen,
                w.span_days,
                w.age_days,
                match w.untrusted_rows {
                    0 => String::new(),
                    n => format!(
                        "; {n} row(s) with impossible times (before 2006 or in the future) \
                         not counted"
                    ),
                }
            );
        }
        if let Some(b) = &r.backtest {
            let _ = writeln!(
                out,
                "backtest: {} — mined before the last {} days, {} of {} call(s) since would have been denied",
                b.verdict,
                crate::tighten::gates::BACKTEST_HOLDOUT_DAYS,
                b.denied_calls,
                b.replayed_calls
            );
            for d in b.denied.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  would deny {} on {} ×{} (first seen {}, event {})",
                    d.action, d.resource, d.count, d.first_seen, d.example_event_id
                );
            }
        }
        if !r.granted_but_never_observed.is_empty() {
            let _ = writeln!(out, "granted but never observed:");
            for u in &r.granted_but_never_observed {
                if u.whole_service {
                    let _ = writeln!(
                        out,
                        "  {}: all {} actions ({}:*), none observed",
                        u.service, u.granted, u.service
                    );
                    continue;
                }
                let shown: Vec<&str> = u.unused.iter().take(SHOWN).map(String::as_str).collect();
                let more = u.unused.len().saturating_sub(SHOWN);
                let _ = writeln!(
                    out,
                    "  {}: {} of {} granted actions: {}{}",
                    u.service,
                    u.unused.len(),
                    u.granted,
                    shown.join(", "),
                    if more > 0 {
                        format!(" … and {more} more (--format json lists all)")
                    } else {
                        String::new()
                    }
                );
            }
        }
        if !r.granted_more_broadly_than_observed.is_empty() {
            let _ = writeln!(out, "granted more broadly than observed:");
            for b in &r.granted_more_broadly_than_observed {
                let _ = writeln!(
                    out,
                    "  {} on {} ({}); proposed: {}",
                    b.action,
                    b.granted,
                    b.source,
                    if b.proposed.is_empty() {
                        "nothing".to_string()
                    } else {
                        b.proposed.join(", ")
                    }
                );
            }
        }
        if !r.observed_but_not_granted.is_empty() {
            let _ = writeln!(out, "observed but not granted (failing today):");
            for f in &r.observed_but_not_granted {
                let _ = writeln!(
                    out,
                    "  {} on {} ×{} (last {}): {}",
                    f.action, f.resource, f.count, f.last_seen, f.why
                );
            }
        }
        for c in &r.carried_over {
            let _ = writeln!(out, "carried over from {}: {}", c.source, c.why);
        }
        if let Some(v) = &r.validation {
            let _ = writeln!(
                out,
                "validation: {}: {}",
                v.method,
                if v.passed { "passed" } else { "FAILED" }
            );
            for p in &v.problems {
                let _ = writeln!(out, "  problem: {p}");
            }
            for n in &v.notes {
                let _ = writeln!(out, "  note: {n}");
            }
        }
        for why in &r.refusals {
            let label = if r.outcome == "refused" {
                "refused"
            } else {
                "--apply would refuse"
            };
            let _ = writeln!(out, "{label}: {why}");
        }
        if let Some(doc) = &r.replacement {
            let _ = writeln!(
                out,
                "proposed replacement (inline policy {:?}, {} of {} chars; all inline policies \
                 after apply: {}):",
                r.policy_name,
                r.replacement_size,
                crate::tighten::replacement::INLINE_LIMIT,
                r.inline_size_after
            );
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(doc).unwrap_or_default()
            );
        }
        if let Some(id) = r.change_id {
            let _ = writeln!(
                out,
                "change {id} recorded; `policy-miner rollback --role {} --to {id}` undoes it",
                r.role_arn
            );
        }
    }
    let count = |o: &str| report.roles.iter().filter(|r| r.outcome == o).count();
    let _ = writeln!(
        out,
        "\nroles: {}; dry run: {}; applied: {}; refused: {}; nothing to tighten: {}; errors: {}; \
         not in IAM: {}; skipped: {}",
        report.roles.len(),
        count("dry run"),
        count("applied"),
        count("refused"),
        count("nothing to tighten"),
        count("error"),
        count("not in IAM"),
        count("skipped")
    );
    out
}

pub fn history_text(changes: &[Change]) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("no changes recorded\n");
        return out;
    }
    for c in changes {
        let _ = writeln!(
            out,
            "{:>4}  {}  {:<8}  {:<6}  {}  by {}{}{}",
            c.id,
            c.started_at,
            c.kind,
            c.status,
            c.role_arn,
            c.principal_arn,
            c.restores
                .map(|r| format!("  (restored the state before change {r})"))
                .unwrap_or_default(),
            c.error
                .as_ref()
                .map(|e| format!("\n      error: {e}"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "      {}", c.summary);
    }
    out
}
