//! The end-of-run summary of `observe`.

use super::aggregate::EventCounts;
use crate::source::cloudtrail::DecodeStats;
use crate::source::Skipped;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Summary {
    pub files_found: u64,
    pub files_read: u64,
    pub files_already_observed: u64,
    pub files_ignored: u64,
    /// Files not read because their delivery date lies outside `--since`/`--until`.
    pub files_outside_window: u64,
    /// Files left unread because the run was interrupted; the next run reads them.
    pub files_not_started: u64,
    /// Locations whose listing the interruption stopped: their objects not listed yet are in no
    /// count (the next run lists and reads them).
    pub listings_stopped: Vec<String>,
    pub interrupted: bool,
    pub skipped: Vec<Skipped>,
    pub events_read: u64,
    pub malformed_events: u64,
    pub not_cloudtrail: u64,
    /// Files read with some damaged events: (file, count, first problem).
    pub damaged_files: Vec<(String, u64, String)>,
    pub counts: EventCounts,
    pub roles: u64,
    pub roles_unattributed: u64,
    pub families: u64,
    pub task_definitions: u64,
    pub task_definition_errors: Vec<String>,
    pub wall: Duration,
    /// Bytes Athena scanned for `athena://` inputs (what their queries cost); None without one.
    pub bytes_scanned: Option<u64>,
}

impl Summary {
    pub(super) fn add_decode(&mut self, unit: &str, stats: &DecodeStats) {
        self.events_read += stats.events;
        self.malformed_events += stats.malformed;
        self.not_cloudtrail += stats.not_cloudtrail;
        let bad = stats.malformed + stats.not_cloudtrail;
        if bad > 0 {
            self.damaged_files.push((
                unit.to_string(),
                bad,
                stats.first_problem.clone().unwrap_or_default(),
            ));
        }
    }

    /// Whether some input was not read whole: a skipped file, a task definition that could
    /// not be read, damaged events.
    pub fn lost_input(&self) -> bool {
        !self.skipped.is_empty()
            || !self.task_definition_errors.is_empty()
            || self.malformed_events > 0
            || self.not_cloudtrail > 0
    }

    pub fn skipped_by_reason(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for s in &self.skipped {
            *out.entry(s.reason.label()).or_default() += 1;
        }
        out
    }

    /// One warning line per problem, each naming its file and what to do.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .skipped
            .iter()
            .map(|s| format!("skipped {s}"))
            .collect();
        out.extend(self.damaged_files.iter().map(|(file, n, first)| {
            format!("{file}: {n} damaged event(s) skipped, the rest was read (first: {first})")
        }));
        out.extend(
            self.task_definition_errors
                .iter()
                .map(|e| format!("task definition skipped: {e}")),
        );
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.counts;
        serde_json::json!({
            "files": {
                "found": self.files_found,
                "read": self.files_read,
                "already_observed": self.files_already_observed,
                "ignored_by_name": self.files_ignored,
                "outside_window": self.files_outside_window,
                "not_started": self.files_not_started,
                "listings_stopped": self.listings_stopped,
                "skipped": self.skipped_by_reason(),
            },
            "events": {
                "read": self.events_read,
                "kept": c.kept,
                "other_principals": c.other_principals.iter()
                    .map(|(k, n)| (k.label(), *n)).collect::<BTreeMap<_, _>>(),
                "damaged": self.malformed_events + self.not_cloudtrail,
                "unmapped": c.unmapped,
                "no_permission_needed": c.no_permission,
                "outside_window": c.outside_window,
                "counted_before": c.counted_before,
            },
            "interrupted": self.interrupted,
            "roles": self.roles,
            "roles_unattributed": self.roles_unattributed,
            "families": self.families,
            "task_definitions": self.task_definitions,
            "task_definition_errors": self.task_definition_errors.len(),
            "bytes_scanned": self.bytes_scanned,
            "wall_seconds": self.wall.as_secs_f64(),
        })
    }
}
