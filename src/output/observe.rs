//! `observe`'s end-of-run summary as text (its JSON is `Summary::to_json`, recorded per run).

use crate::observe::Summary;
use std::fmt::Write as _;

pub fn summary(r: &Summary) -> String {
    let c = &r.counts;
    let other: u64 = c.other_principals.values().sum();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "files: {} found, {} read, {} already observed, {} skipped{}",
        r.files_found,
        r.files_read,
        r.files_already_observed,
        r.skipped.len(),
        if r.files_ignored > 0 {
            format!(" ({} other files ignored by name)", r.files_ignored)
        } else {
            String::new()
        }
    );
    if r.files_outside_window > 0 {
        let _ = writeln!(
            s,
            "  outside --since/--until by delivery date, not read: {}",
            r.files_outside_window
        );
    }
    if r.interrupted {
        let _ = writeln!(
            s,
            "  interrupted: {} file(s) not read; run the same command again to read them",
            r.files_not_started
        );
        for location in &r.listings_stopped {
            let _ = writeln!(
                s,
                "  interrupted while listing {}: objects not listed yet are not counted above; \
                 the same command lists and reads them",
                crate::text::printable(location)
            );
        }
    }
    for (reason, n) in r.skipped_by_reason() {
        let _ = writeln!(s, "  skipped, {reason}: {n}");
    }
    let _ = writeln!(
        s,
        "events: {} read, {} kept as role evidence, {} from other principals, {} damaged",
        r.events_read,
        c.kept,
        other,
        r.malformed_events + r.not_cloudtrail
    );
    if c.outside_window > 0 {
        let _ = writeln!(
            s,
            "  outside --since/--until, not counted: {}",
            c.outside_window
        );
    }
    if c.counted_before > 0 {
        let _ = writeln!(
            s,
            "  counted by an earlier run (inside its --since/--until), not again: {}",
            c.counted_before
        );
    }
    for (kind, n) in &c.other_principals {
        let _ = writeln!(s, "  not role evidence, {}: {n}", kind.label());
    }
    if c.unmapped + c.no_permission > 0 {
        let _ = writeln!(
            s,
            "  kept without a grant: {} unmapped, {} needing no permission",
            c.unmapped, c.no_permission
        );
    }
    let _ = writeln!(
        s,
        "roles: {} seen ({} in no task definition); families: {}; task definitions loaded: {}",
        r.roles, r.roles_unattributed, r.families, r.task_definitions
    );
    if let Some(bytes) = r.bytes_scanned {
        // What an Athena query is billed by.
        let _ = writeln!(
            s,
            "athena: {bytes} bytes scanned ({:.3} GB)",
            bytes as f64 / 1e9
        );
    }
    let _ = writeln!(s, "wall time: {:.2}s", r.wall.as_secs_f64());
    s
}
