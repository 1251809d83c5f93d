//! `backtest`'s report as text: per role, the verdict and the calls of the hold-out window its
//! earlier proposal would have denied.

use crate::synth::backtest::Backtest;
use std::fmt::Write as _;

/// Denied records listed per role; `--format json` has them all.
const SHOWN: usize = 20;

pub fn text(report: &Backtest) -> String {
    let mut s = format!(
        "Proposals mined from the evidence first seen before {}, replayed against the calls \
         first seen from then to {}:\n",
        report.cutoff, report.end
    );
    if report.roles.is_empty() {
        s.push_str("\nNo successful call in the evidence: nothing to backtest.\n");
    }
    for r in &report.roles {
        let _ = writeln!(
            s,
            "\n== {}  {}\n   mined from {} call record(s); {} record(s) ({} calls) in the window, {} call(s) denied",
            r.role_arn, r.verdict, r.mined_from, r.replayed, r.replayed_calls, r.denied_calls
        );
        if r.denied.len() > SHOWN {
            let _ = writeln!(
                s,
                "     ({} more denied records; --format json lists them all)",
                r.denied.len() - SHOWN
            );
        }
        for d in r.denied.iter().take(SHOWN) {
            let _ = writeln!(
                s,
                "     denied: {} on {}  ×{}  first seen {}  example event {}",
                d.action, d.resource, d.count, d.first_seen, d.example_event_id
            );
        }
    }
    if !report.is_stable() {
        s.push_str(
            "\nSome roles are still growing: the calls above would have been denied. Observe a \
             longer window (or check why those names differ) before `tighten --apply`.\n",
        );
    }
    s
}
