//! One file's evidence in compact form, and a batch of files merged into the rows to write.
//!
//! A file's evidence keeps each string it names once, in one buffer, and each key's identity as
//! a 128-bit hash of its strings (as files and distinct calls are told apart): a file's worth of
//! keys costs a few allocations instead of a dozen per key, and the writer merges keys by number.

use super::aggregate::{EventCounts, Seen};
use super::hashing::BuildWordHasher;
use crate::mapping::UngrantedKind;
use crate::store::{BatchRows, EvidenceRef, UngrantedRef};
use std::collections::HashMap;

/// Where a string lies in a [`FileEvidence`]'s text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    at: u32,
    len: u32,
}

impl Span {
    /// The empty string.
    pub(crate) const EMPTY: Span = Span { at: 0, len: 0 };
}

/// (role, action, resource, condition, error code) → what was seen.
#[derive(Debug)]
struct Granted {
    id: u128,
    key: [Span; 5],
    /// Event source, event name and rule of the first event met.
    origin: [Span; 3],
    seen: Seen,
}

/// (role, event source, event name, error code) → what was seen, without a grant.
#[derive(Debug)]
struct Ungranted {
    id: u128,
    key: [Span; 4],
    kind: UngrantedKind,
    reason: Span,
    seen: Seen,
}

/// The evidence of one file.
#[derive(Debug)]
pub struct FileEvidence {
    text: String,
    granted: Vec<Granted>,
    ungranted: Vec<Ungranted>,
    pub counts: EventCounts,
    /// Roles the file's events passed at launch, and launches with ECS Exec enabled.
    pub launches: Vec<crate::store::LaunchRow>,
}

impl FileEvidence {
    pub(crate) fn new(counts: EventCounts) -> Self {
        FileEvidence {
            text: String::new(),
            granted: Vec::new(),
            ungranted: Vec::new(),
            counts,
            launches: Vec::new(),
        }
    }

    /// Room for this many keys of each kind, allocated once.
    pub(crate) fn reserve(&mut self, granted: usize, ungranted: usize) {
        self.granted.reserve_exact(granted);
        self.ungranted.reserve_exact(ungranted);
    }

    /// Room for this many more bytes of text, allocated once.
    pub(crate) fn reserve_text(&mut self, bytes: usize) {
        self.text.reserve_exact(bytes);
    }

    /// Copies `s` into the file's text.
    pub(crate) fn put(&mut self, s: &str) -> Span {
        // The text holds distinct strings of one file, at most 2 GiB once decompressed.
        let at = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(s);
        Span {
            at,
            len: u32::try_from(s.len()).unwrap_or(u32::MAX),
        }
    }

    /// How `key` (of this file) orders against `theirs` (of `other`): field by field, as the
    /// strings order (byte-wise), looking no further than the first field that differs.
    fn key_order(&self, key: &[Span], other: &FileEvidence, theirs: &[Span]) -> std::cmp::Ordering {
        key.iter()
            .zip(theirs)
            .map(|(a, b)| self.bytes(*a).cmp(other.bytes(*b)))
            .find(|order| order.is_ne())
            .unwrap_or(key.len().cmp(&theirs.len()))
    }

    fn bytes(&self, span: Span) -> &[u8] {
        let at = span.at as usize;
        self.text
            .as_bytes()
            .get(at..at + span.len as usize)
            .unwrap_or_default()
    }

    fn get(&self, span: Span) -> &str {
        let at = span.at as usize;
        self.text
            .get(at..at + span.len as usize)
            .unwrap_or_default()
    }

    /// Adds a grant key; `scratch` is reused to hash it.
    pub(crate) fn grant(
        &mut self,
        key: [Span; 5],
        origin: [Span; 3],
        seen: Seen,
        scratch: &mut Vec<u8>,
    ) {
        let id = self.identity(&key, scratch);
        self.granted.push(Granted {
            id,
            key,
            origin,
            seen,
        });
    }

    /// Adds a key of calls without a grant.
    pub(crate) fn no_grant(
        &mut self,
        key: [Span; 4],
        kind: UngrantedKind,
        reason: Span,
        seen: Seen,
        scratch: &mut Vec<u8>,
    ) {
        let id = self.identity(&key, scratch);
        self.ungranted.push(Ungranted {
            id,
            key,
            kind,
            reason,
            seen,
        });
    }

    fn identity(&self, key: &[Span], scratch: &mut Vec<u8>) -> u128 {
        scratch.clear();
        for span in key {
            scratch.extend_from_slice(self.get(*span).as_bytes());
            scratch.push(0xff); // never in UTF-8: strings cannot run into each other
        }
        xxhash_rust::xxh3::xxh3_128(scratch)
    }

    /// Distinct keys held: the measure of the memory the evidence takes.
    pub fn len(&self) -> usize {
        self.granted.len() + self.ungranted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The roles of the file's keys, told apart by where they lie in its text: the folder puts
    /// each string once, so a role comes once, and a file's few roles are found without
    /// comparing names (one lookup per key made the receiving loop's set 2% of a run).
    pub fn roles(&self) -> Vec<&str> {
        let mut spans: Vec<Span> = Vec::new();
        let granted = self.granted.iter().map(|g| g.key[0]);
        for span in granted.chain(self.ungranted.iter().map(|u| u.key[0])) {
            if !spans.iter().any(|s| s.at == span.at) {
                spans.push(span);
            }
        }
        spans.into_iter().map(|span| self.get(span)).collect()
    }
}

type ById = HashMap<u128, usize, BuildWordHasher>;

/// The evidence of a batch of files, each key once, ready to write.
pub struct Merged<'b> {
    /// In primary-key order.
    granted: Vec<(&'b FileEvidence, &'b Granted, Seen)>,
    ungranted: Vec<(&'b FileEvidence, &'b Ungranted, Seen)>,
    pub counts: EventCounts,
}

/// Merges files: a key's example is its earliest event (the smaller id on a tie), and its origin
/// (and its reason, for calls without a grant) that event's, as the store keeps them across
/// batches: whatever order the files come in, the rows are the same.
pub fn merge<'b>(files: impl IntoIterator<Item = &'b FileEvidence>) -> Merged<'b> {
    let mut merged = Merged {
        granted: Vec::new(),
        ungranted: Vec::new(),
        counts: EventCounts::default(),
    };
    let (mut granted, mut ungranted) = (ById::default(), ById::default());
    for file in files {
        merged.counts.merge(&file.counts);
        for g in &file.granted {
            match granted.get(&g.id) {
                Some(&i) => {
                    let entry = &mut merged.granted[i];
                    if entry.2.merge(&g.seen) {
                        (entry.0, entry.1) = (file, g);
                    }
                }
                None => {
                    granted.insert(g.id, merged.granted.len());
                    merged.granted.push((file, g, g.seen.clone()));
                }
            }
        }
        for u in &file.ungranted {
            match ungranted.get(&u.id) {
                Some(&i) => {
                    let entry = &mut merged.ungranted[i];
                    if entry.2.merge(&u.seen) {
                        (entry.0, entry.1) = (file, u);
                    }
                }
                None => {
                    ungranted.insert(u.id, merged.ungranted.len());
                    merged.ungranted.push((file, u, u.seen.clone()));
                }
            }
        }
    }
    merged
        .granted
        .sort_unstable_by(|(fa, a, _), (fb, b, _)| fa.key_order(&a.key, fb, &b.key));
    merged
}

impl BatchRows for Merged<'_> {
    fn evidence(&self) -> impl Iterator<Item = EvidenceRef<'_>> {
        self.granted.iter().map(|(file, g, seen)| {
            let [role_arn, action, resource, condition, error_code] = g.key.map(|s| file.get(s));
            let [event_source, event_name, rule] = g.origin.map(|s| file.get(s));
            EvidenceRef {
                role_arn,
                action,
                resource,
                condition,
                error_code,
                count: seen.count,
                first_seen: seen.first.as_str(),
                last_seen: seen.last.as_str(),
                example_event_id: seen.example.as_str(),
                event_source,
                event_name,
                rule,
                callers: seen.callers,
            }
        })
    }

    fn ungranted(&self) -> impl Iterator<Item = UngrantedRef<'_>> {
        self.ungranted.iter().map(|(file, u, seen)| {
            let [role_arn, event_source, event_name, error_code] = u.key.map(|s| file.get(s));
            UngrantedRef {
                role_arn,
                event_source,
                event_name,
                error_code,
                kind: u.kind.as_str(),
                reason: file.get(u.reason),
                count: seen.count,
                first_seen: seen.first.as_str(),
                last_seen: seen.last.as_str(),
                example_event_id: seen.example.as_str(),
            }
        })
    }
}
