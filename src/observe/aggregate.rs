//! Folding calls into evidence: per (role, action, resource, condition, outcome) a count, the first
//! and last time seen, and one example event.

use crate::call::{ApiCall, Principal, PrincipalKind};
use crate::catalog::Catalog;
use crate::mapping::{map_call, Mapped};
use crate::store::{EvidenceRow, UngrantedRow};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EvidenceKey {
    role_arn: String,
    action: String,
    resource: String,
    condition: String,
    error_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct UngrantedKey {
    role_arn: String,
    event_source: String,
    event_name: String,
    error_code: String,
}

#[derive(Debug, Clone)]
struct Seen {
    count: i64,
    first: String,
    last: String,
    example: String,
}

impl Seen {
    fn new(call: &ApiCall) -> Self {
        Seen {
            count: 0,
            first: call.event_time.to_string(),
            last: call.event_time.to_string(),
            example: call.event_id.to_string(),
        }
    }

    fn add(&mut self, call: &ApiCall) {
        self.count += 1;
        if call.event_time < self.first.as_str() {
            self.first = call.event_time.to_string();
            self.example = call.event_id.to_string();
        }
        if call.event_time > self.last.as_str() {
            self.last = call.event_time.to_string();
        }
    }

    fn merge(&mut self, other: Seen) {
        self.count += other.count;
        if other.first < self.first {
            self.first = other.first;
            self.example = other.example;
        }
        if other.last > self.last {
            self.last = other.last;
        }
    }
}

/// Counts by what happened to the events, for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventCounts {
    /// Calls by role sessions, kept as evidence (granted, unmapped or needing no permission).
    pub kept: u64,
    /// Calls by other principals, by kind: counted, never evidence.
    pub other_principals: BTreeMap<PrincipalKind, u64>,
    pub unmapped: u64,
    pub no_permission: u64,
}

/// Evidence from some calls, ready to be merged with more and written.
#[derive(Debug, Default)]
pub struct Aggregate {
    evidence: HashMap<EvidenceKey, (Seen, String, String, String)>,
    ungranted: HashMap<UngrantedKey, (Seen, &'static str, String)>,
    pub counts: EventCounts,
}

impl Aggregate {
    pub fn add(&mut self, call: &ApiCall, catalog: &Catalog) {
        let role_arn = match &call.principal {
            Principal::Role { role_arn, .. } => *role_arn,
            Principal::Other(kind) => {
                *self.counts.other_principals.entry(*kind).or_default() += 1;
                return;
            }
        };
        self.counts.kept += 1;
        let error_code = call.error_code.unwrap_or("").to_string();
        let (kind, reason) = match map_call(call, catalog) {
            Mapped::Grants(grants) => {
                for g in grants {
                    let key = EvidenceKey {
                        role_arn: role_arn.to_string(),
                        action: g.action,
                        resource: g.resource,
                        condition: g.condition,
                        error_code: error_code.clone(),
                    };
                    self.evidence
                        .entry(key)
                        .or_insert_with(|| {
                            (
                                Seen::new(call),
                                call.event_source.to_string(),
                                call.event_name.to_string(),
                                g.rule,
                            )
                        })
                        .0
                        .add(call);
                }
                return;
            }
            Mapped::NoPermissionNeeded(reason) => {
                self.counts.no_permission += 1;
                ("no_permission", reason.to_string())
            }
            Mapped::Unmapped(reason) => {
                self.counts.unmapped += 1;
                ("unmapped", reason)
            }
        };
        let key = UngrantedKey {
            role_arn: role_arn.to_string(),
            event_source: call.event_source.to_string(),
            event_name: call.event_name.to_string(),
            error_code,
        };
        self.ungranted
            .entry(key)
            .or_insert_with(|| (Seen::new(call), kind, reason))
            .0
            .add(call);
    }

    pub fn merge(&mut self, other: Aggregate) {
        for (k, v) in other.evidence {
            match self.evidence.get_mut(&k) {
                Some(mine) => mine.0.merge(v.0),
                None => {
                    self.evidence.insert(k, v);
                }
            }
        }
        for (k, v) in other.ungranted {
            match self.ungranted.get_mut(&k) {
                Some(mine) => mine.0.merge(v.0),
                None => {
                    self.ungranted.insert(k, v);
                }
            }
        }
        self.counts.kept += other.counts.kept;
        self.counts.unmapped += other.counts.unmapped;
        self.counts.no_permission += other.counts.no_permission;
        for (k, n) in other.counts.other_principals {
            *self.counts.other_principals.entry(k).or_default() += n;
        }
    }

    /// Distinct keys held: the measure of the memory an aggregate takes.
    pub fn len(&self) -> usize {
        self.evidence.len() + self.ungranted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.evidence
            .keys()
            .map(|k| k.role_arn.as_str())
            .chain(self.ungranted.keys().map(|k| k.role_arn.as_str()))
    }

    /// The rows to write, leaving the counts in place.
    pub fn take_rows(&mut self) -> (Vec<EvidenceRow>, Vec<UngrantedRow>) {
        let evidence = self
            .evidence
            .drain()
            .map(|(k, (seen, event_source, event_name, rule))| EvidenceRow {
                role_arn: k.role_arn,
                action: k.action,
                resource: k.resource,
                condition: k.condition,
                error_code: k.error_code,
                count: seen.count,
                first_seen: seen.first,
                last_seen: seen.last,
                example_event_id: seen.example,
                event_source,
                event_name,
                rule,
            })
            .collect();
        let ungranted = self
            .ungranted
            .drain()
            .map(|(k, (seen, kind, reason))| UngrantedRow {
                role_arn: k.role_arn,
                event_source: k.event_source,
                event_name: k.event_name,
                error_code: k.error_code,
                kind: kind.to_string(),
                reason,
                count: seen.count,
                first_seen: seen.first,
                last_seen: seen.last,
                example_event_id: seen.example,
            })
            .collect();
        (evidence, ungranted)
    }
}
