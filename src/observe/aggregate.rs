//! Folding calls into evidence: per (role, action, resource, condition, outcome) a count, the first
//! and last time seen, and one example event.
//!
//! Two layers. A [`Folder`] lives on one worker thread for many files: it interns strings and
//! remembers what each distinct call maps to, so the hot path (millions of events, few distinct
//! calls) neither allocates nor re-runs the mapping: per event it hashes the call's mapping inputs
//! and bumps counters keyed by small integers. A call of a shape (`shape.rs`: an S3 object call,
//! whose key is new more often than not) is not remembered itself: its shape is, found again by a
//! hash of the call with the placeholder, written from its pieces without building that call,
//! and its value is put back into the shape's grant. At the end of a file its counters become a
//! [`FileEvidence`] with its own copy of the strings, which the writer merges and stores.
//! [`Aggregate`] is the same fold without caches, keyed by strings: the reference for tests.

use super::evidence::{FileEvidence, Span};
use super::hashing::BuildWordHasher;
use super::shape::{self, Shaped, Use};
use crate::call::{ApiCall, Callers, EventResource, Principal, PrincipalKind};
use crate::catalog::Catalog;
use crate::mapping::{map_call, Mapped, UngrantedKind};
use crate::store::{EvidenceRow, UngrantedRow};
use std::collections::{BTreeMap, HashMap};
use xxhash_rust::xxh3::Xxh3Builder;

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

/// An event time or id, kept inline when short: every evidence key of every file keeps three,
/// and allocating each was a large part of folding. `N` bytes inline: 22 for times (CloudTrail's
/// are 20), 38 for event ids (36), so that a tag, a length and the text make 24 and 40 bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Stamp<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<str>),
}

/// An event time (`2026-11-02T10:00:00Z`).
pub(crate) type TimeStamp = Stamp<22>;
/// An event id (a UUID).
pub(crate) type IdStamp = Stamp<38>;

impl<const N: usize> Stamp<N> {
    fn new(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= N => {
                let mut bytes = [0; N];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Stamp::Inline(len, bytes)
            }
            _ => Stamp::Heap(s.into()),
        }
    }

    /// The bytes of the text: they order as the text does.
    fn bytes(&self) -> &[u8] {
        match self {
            Stamp::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Stamp::Heap(s) => s.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Made from a `str` and never cut: always valid.
        std::str::from_utf8(self.bytes()).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Debug for Stamp<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

// Batches hold one `Seen` per key, twice while they are merged: its size is the memory a batch
// takes, more than anything else. (96 bytes before the callers' bit set took a word's padding.)
const _: () = assert!(std::mem::size_of::<Seen>() <= 104);

/// How often a key was seen, when first and last, and the id of the first event (on a tie, the
/// event met first keeps it).
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) count: i64,
    pub(crate) first: TimeStamp,
    pub(crate) last: TimeStamp,
    pub(crate) example: IdStamp,
    /// Who made the calls (the agent, the application), as far as the events tell.
    pub(crate) callers: Callers,
}

impl Seen {
    fn new(call: &ApiCall) -> Self {
        Seen {
            count: 0,
            first: TimeStamp::new(call.event_time),
            last: TimeStamp::new(call.event_time),
            example: IdStamp::new(call.event_id),
            callers: Callers::default(),
        }
    }

    /// `events` calls like `call` (its time the first, its id the example's) seen last at `last`:
    /// what a source that folds calls itself (Athena's rows) hands over.
    fn folded(call: &ApiCall, events: u64, last: &str) -> Self {
        Seen {
            count: i64::try_from(events).unwrap_or(i64::MAX),
            first: TimeStamp::new(call.event_time),
            last: TimeStamp::new(last.max(call.event_time)),
            example: IdStamp::new(call.event_id),
            callers: Callers::of(call.caller),
        }
    }

    /// Counts `call`; true when it is the new example (the earliest call), whose origin (event
    /// name, rule) the key then takes too.
    fn add(&mut self, call: &ApiCall) -> bool {
        self.count += 1;
        self.callers.add(call.caller);
        let time = call.event_time.as_bytes();
        if time > self.last.bytes() {
            self.last = TimeStamp::new(call.event_time);
        }
        // Ties on time go to the smaller event id, so the example does not depend on the order
        // in which workers and batches met the events.
        let earlier = (time, call.event_id.as_bytes()) < (self.first.bytes(), self.example.bytes());
        if earlier {
            self.first = TimeStamp::new(call.event_time);
            self.example = IdStamp::new(call.event_id);
        }
        earlier
    }

    /// [`Seen::add`] for one call, [`Seen::merge`] for the calls `many` says.
    #[inline]
    fn count_in(&mut self, call: &ApiCall, many: Option<&Seen>) -> bool {
        match many {
            None => self.add(call),
            Some(m) => self.merge(m),
        }
    }

    /// Adds `other` up; true when its example is the earlier one (see [`Seen::add`]).
    pub(crate) fn merge(&mut self, other: &Seen) -> bool {
        self.count += other.count;
        self.callers.merge(other.callers);
        if other.last.bytes() > self.last.bytes() {
            self.last = other.last.clone();
        }
        let earlier = (other.first.bytes(), other.example.bytes())
            < (self.first.bytes(), self.example.bytes());
        if earlier {
            self.first = other.first.clone();
            self.example = other.example.clone();
        }
        earlier
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
    /// Events whose eventTime lies outside `--since`/`--until`: read, not counted.
    pub outside_window: u64,
    /// Events of a partly counted file that an earlier run counted already (in its window).
    pub counted_before: u64,
}

impl EventCounts {
    pub fn merge(&mut self, other: &EventCounts) {
        self.kept += other.kept;
        self.unmapped += other.unmapped;
        self.no_permission += other.no_permission;
        self.outside_window += other.outside_window;
        self.counted_before += other.counted_before;
        for (k, n) in &other.other_principals {
            *self.other_principals.entry(*k).or_default() += n;
        }
    }
}

/// Evidence from some calls, folded without caches: what the [`Folder`] must agree with.
#[derive(Debug, Default)]
pub struct Aggregate {
    evidence: HashMap<EvidenceKey, (Seen, String, String, String), Xxh3Builder>,
    ungranted: HashMap<UngrantedKey, (Seen, UngrantedKind, String), Xxh3Builder>,
    pub counts: EventCounts,
}

impl Aggregate {
    /// Folds one call without any cache: the reference the [`Folder`] must agree with.
    pub fn add(&mut self, call: &ApiCall, catalog: &Catalog) {
        self.add_folded(call, None, catalog)
    }

    /// [`Folder::add_many`] without caches.
    pub fn add_many(&mut self, call: &ApiCall, events: u64, last: &str, catalog: &Catalog) {
        self.add_folded(call, Some(Seen::folded(call, events, last)), catalog)
    }

    fn add_folded(&mut self, call: &ApiCall, many: Option<Seen>, catalog: &Catalog) {
        let n = many.as_ref().map_or(1, |m| m.count as u64);
        let role_arn = match &call.principal {
            Principal::Role { role_arn, .. } => *role_arn,
            Principal::Other(kind) => {
                *self.counts.other_principals.entry(*kind).or_default() += n;
                return;
            }
        };
        self.counts.kept += n;
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
                    let entry = self.evidence.entry(key).or_insert_with(|| {
                        (
                            Seen::new(call),
                            call.event_source.to_string(),
                            call.event_name.to_string(),
                            g.rule.clone(),
                        )
                    });
                    if entry.0.count_in(call, many.as_ref()) {
                        entry.1 = call.event_source.to_string();
                        entry.2 = call.event_name.to_string();
                        entry.3 = g.rule;
                    }
                }
                return;
            }
            Mapped::NoPermissionNeeded(reason) => {
                self.counts.no_permission += n;
                (UngrantedKind::NoPermission, reason.to_string())
            }
            Mapped::Unmapped(reason) => {
                self.counts.unmapped += n;
                (UngrantedKind::Unmapped, reason)
            }
        };
        let key = UngrantedKey {
            role_arn: role_arn.to_string(),
            event_source: call.event_source.to_string(),
            event_name: call.event_name.to_string(),
            error_code,
        };
        let entry = self
            .ungranted
            .entry(key)
            .or_insert_with(|| (Seen::new(call), kind, reason.clone()));
        if entry.0.count_in(call, many.as_ref()) {
            (entry.1, entry.2) = (kind, reason);
        }
    }

    /// The rows, evidence in primary-key order as the writer is given it, leaving the counts in
    /// place.
    pub fn take_rows(&mut self) -> (Vec<EvidenceRow>, Vec<UngrantedRow>) {
        let mut evidence: Vec<EvidenceRow> = self
            .evidence
            .drain()
            .map(|(k, (seen, event_source, event_name, rule))| EvidenceRow {
                role_arn: k.role_arn,
                action: k.action,
                resource: k.resource,
                condition: k.condition,
                error_code: k.error_code,
                count: seen.count,
                first_seen: seen.first.as_str().to_string(),
                last_seen: seen.last.as_str().to_string(),
                example_event_id: seen.example.as_str().to_string(),
                event_source,
                event_name,
                rule,
                callers: seen.callers,
            })
            .collect();
        evidence.sort_unstable_by(|a, b| {
            (
                &a.role_arn,
                &a.action,
                &a.resource,
                &a.condition,
                &a.error_code,
            )
                .cmp(&(
                    &b.role_arn,
                    &b.action,
                    &b.resource,
                    &b.condition,
                    &b.error_code,
                ))
        });
        let ungranted = self
            .ungranted
            .drain()
            .map(|(k, (seen, kind, reason))| UngrantedRow {
                role_arn: k.role_arn,
                event_source: k.event_source,
                event_name: k.event_name,
                error_code: k.error_code,
                kind: kind.as_str().to_string(),
                reason,
                count: seen.count,
                first_seen: seen.first.as_str().to_string(),
                last_seen: seen.last.as_str().to_string(),
                example_event_id: seen.example.as_str().to_string(),
            })
            .collect();
        (evidence, ungranted)
    }
}

type Id = u32;

/// Strings seen by one worker, by number. They are kept end to end in one text, found by a
/// table of numbers: most strings a trail of unique values brings (object keys, layer digests)
/// are seen once, and a string of its own for each (allocated, then freed when the folder
/// forgets them) cost more than the rest of interning.
#[derive(Debug, Default)]
struct Interner {
    text: String,
    /// Where each string lies in `text`, by number.
    spans: Vec<(usize, usize)>,
    ids: hashbrown::HashTable<Id>,
}

fn text_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// The string numbered `id` of an [`Interner`]'s text.
fn lying<'t>(text: &'t str, spans: &[(usize, usize)], id: Id) -> &'t str {
    let (start, end) = spans[id as usize];
    &text[start..end]
}

impl Interner {
    fn id(&mut self, s: &str) -> Id {
        let hash = text_hash(s);
        let Interner { text, spans, ids } = self;
        if let Some(&id) = ids.find(hash, |&id| lying(text, spans, id) == s) {
            return id;
        }
        let id = spans.len() as Id;
        let start = text.len();
        text.push_str(s);
        spans.push((start, text.len()));
        ids.insert_unique(hash, id, |&id| text_hash(lying(text, spans, id)));
        id
    }

    fn get(&self, id: Id) -> &str {
        lying(&self.text, &self.spans, id)
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.spans.clear();
        self.text.clear();
    }
}

/// What a distinct call maps to, with its strings interned (the call's own too: its key covers them).
#[derive(Debug)]
struct Memo {
    role: Id,
    source: Id,
    name: Id,
    mapped: Mapping,
}

#[derive(Debug, Clone)]
enum Mapping {
    Grants(Vec<GrantIds>),
    Ungranted { kind: UngrantedKind, reason: Id },
}

#[derive(Debug, Clone, Copy)]
struct GrantIds {
    action: Id,
    resource: Id,
    condition: Id,
    rule: Id,
}

impl Memo {
    fn parts(&self) -> (Id, Id, Id, MappingRef<'_>) {
        let mapped = match &self.mapped {
            Mapping::Grants(grants) => MappingRef::Grants(grants),
            Mapping::Ungranted { kind, reason } => MappingRef::Ungranted {
                kind: *kind,
                reason: *reason,
            },
        };
        (self.role, self.source, self.name, mapped)
    }
}

/// A [`Mapping`], borrowed.
#[derive(Debug, Clone, Copy)]
enum MappingRef<'m> {
    Grants(&'m [GrantIds]),
    Ungranted { kind: UngrantedKind, reason: Id },
}

/// Where the mapping of a call is: the call's own (by its key in `memo`), its shape's as it is
/// (by its key in `shapes`), or its shape's one grant with the call's value put back.
enum Found {
    Memo(u128),
    Shape(u128),
    Placed {
        role: Id,
        source: Id,
        name: Id,
        grant: GrantIds,
    },
}

/// Writes into `key` everything `map_call` may read from `call`, each field followed by a byte
/// never in UTF-8 (so that fields cannot run into each other), with its request parameters and
/// each resource's ARN given in pieces (a shaped call's: see [`Shaped::request`]).
fn write_key<'c>(
    key: &mut Vec<u8>,
    call: &ApiCall<'c>,
    request: [&str; 3],
    arn: impl Fn(&EventResource<'c>) -> [&'c str; 2],
) {
    key.clear();
    let mut put = |pieces: &[&str]| {
        for piece in pieces {
            key.extend_from_slice(piece.as_bytes());
        }
        key.push(0xff);
    };
    put(&[call.event_source]);
    put(&[call.event_name]);
    put(&[call.region]);
    if let Principal::Role { role_arn, .. } = &call.principal {
        put(&[role_arn]);
    }
    put(&[call.recipient_account.unwrap_or("\u{1}")]);
    put(&[call.principal_account.unwrap_or("\u{1}")]);
    put(&[call.invoked_by.unwrap_or("\u{1}")]);
    put(&request);
    for r in &call.resources {
        put(&arn(r));
        put(&[r.resource_type.unwrap_or("\u{1}")]);
    }
}

/// (role, action, resource, condition, error code)
type EvidenceIds = (Id, Id, Id, Id, Id);
/// (role, event source, event name, error code)
type UngrantedIds = (Id, Id, Id, Id);

/// Beyond this many remembered calls or strings the caches are dropped (between files), so a trail
/// of unique calls (distinct S3 keys…) cannot grow a worker without bound.
const CACHE_LIMIT: usize = 20_000;

/// One worker's folding state: caches that outlive files, and the counters of the current file.
pub struct Folder<'c> {
    catalog: &'c Catalog,
    strings: Interner,
    /// By the 128-bit hash of the call's mapping inputs (the same hash that tells files apart).
    memo: HashMap<u128, Memo, BuildWordHasher>,
    /// By the same hash of a shaped call (see `shape.rs`): its mapping, if it uses the value as
    /// its shape says.
    shapes: HashMap<u128, Option<Memo>, BuildWordHasher>,
    key: Vec<u8>,
    /// A placed or conditioned value put back into its shape's grant, before it is interned.
    put_back: String,
    evidence: HashMap<EvidenceIds, (Seen, Id, Id, Id), BuildWordHasher>,
    ungranted: HashMap<UngrantedIds, (Seen, UngrantedKind, Id), BuildWordHasher>,
    counts: EventCounts,
    /// The id of "" (no error code) in `strings`.
    no_error: Id,
    /// Where each string went in the file evidence being finished (by id).
    file_spans: Vec<Option<Span>>,
    /// The ids whose entries of `file_spans` the current file's evidence set.
    placed: Vec<Id>,
    /// Roles passed at launch and ECS Exec enabled by the current file's events (rare: kept
    /// whole), as stored.
    launches: Vec<crate::store::LaunchRow>,
}

impl<'c> Folder<'c> {
    pub fn new(catalog: &'c Catalog) -> Self {
        let mut strings = Interner::default();
        let no_error = strings.id("");
        Folder {
            catalog,
            no_error,
            strings,
            memo: HashMap::default(),
            shapes: HashMap::default(),
            key: Vec::with_capacity(1024),
            put_back: String::new(),
            evidence: HashMap::default(),
            ungranted: HashMap::default(),
            counts: EventCounts::default(),
            file_spans: Vec::new(),
            placed: Vec::new(),
            launches: Vec::new(),
        }
    }

    /// Counts an event that lies outside the time window.
    pub fn outside_window(&mut self) {
        self.counts.outside_window += 1;
    }

    /// Counts an event an earlier run counted already.
    pub fn counted_before(&mut self) {
        self.counts.counted_before += 1;
    }

    pub fn add(&mut self, call: &ApiCall) {
        self.add_folded(call, None)
    }

    /// Folds `events` calls like `call`, the last of them at `last` (see [`Seen::folded`]).
    pub fn add_many(&mut self, call: &ApiCall, events: u64, last: &str) {
        self.add_folded(call, Some(Seen::folded(call, events, last)))
    }

    /// One call (`many` None), or the calls `many` says.
    fn add_folded(&mut self, call: &ApiCall, many: Option<Seen>) {
        let n = many.as_ref().map_or(1, |m| m.count as u64);
        // Whoever launched (a role, a user, EventBridge's role), the role passed is the task's.
        self.launches.extend(crate::attribution::launch::rows(call));
        let role_arn = match &call.principal {
            Principal::Role { role_arn, .. } => *role_arn,
            Principal::Other(kind) => {
                *self.counts.other_principals.entry(*kind).or_default() += n;
                return;
            }
        };
        self.counts.kept += n;
        // A call of a shape is never remembered itself: its shape is looked for first.
        let found = match Shaped::of(call).and_then(|shape| self.by_shape(call, role_arn, &shape)) {
            Some(found) => found,
            None => {
                self.memo_key(call);
                let key = xxhash_rust::xxh3::xxh3_128(&self.key);
                if !self.memo.contains_key(&key) {
                    let memo = self.map(call, role_arn);
                    self.memo.insert(key, memo);
                }
                Found::Memo(key)
            }
        };
        let error = match call.error_code {
            None => self.no_error,
            Some(code) => self.strings.id(code),
        };
        let Folder {
            memo,
            shapes,
            evidence,
            ungranted,
            counts,
            ..
        } = self;
        let parts = match &found {
            Found::Memo(key) => memo.get(key).map(Memo::parts),
            Found::Shape(key) => shapes.get(key).and_then(Option::as_ref).map(Memo::parts),
            Found::Placed {
                role,
                source,
                name,
                grant,
            } => Some((
                *role,
                *source,
                *name,
                MappingRef::Grants(std::slice::from_ref(grant)),
            )),
        };
        let Some((role, source, name, mapped)) = parts else {
            debug_assert!(false, "a mapping just found is gone");
            return;
        };
        match mapped {
            MappingRef::Grants(grants) => {
                for g in grants {
                    let entry = evidence
                        .entry((role, g.action, g.resource, g.condition, error))
                        .or_insert_with(|| (Seen::new(call), source, name, g.rule));
                    if entry.0.count_in(call, many.as_ref()) {
                        (entry.1, entry.2, entry.3) = (source, name, g.rule);
                    }
                }
            }
            MappingRef::Ungranted { kind, reason } => {
                if kind == UngrantedKind::NoPermission {
                    counts.no_permission += n;
                } else {
                    counts.unmapped += n;
                }
                let entry = ungranted
                    .entry((role, source, name, error))
                    .or_insert_with(|| (Seen::new(call), kind, reason));
                if entry.0.count_in(call, many.as_ref()) {
                    (entry.1, entry.2) = (kind, reason);
                }
            }
        }
    }

    /// Everything `map_call` may read from a call, serialized: the identity of a distinct call.
    /// Leaves out only what no mapping depends on (event id and time, error code, session).
    fn memo_key(&mut self, call: &ApiCall) {
        let request = call.request_parameters.unwrap_or("\u{1}");
        write_key(&mut self.key, call, [request, "", ""], |r| [r.arn, ""]);
    }

    /// [`Self::memo_key`] of the shaped call, written from its pieces: the same bytes, without
    /// building the call.
    fn shaped_key(&mut self, call: &ApiCall, shape: &Shaped) {
        write_key(&mut self.key, call, shape.request(), |r| shape.arn(r));
    }

    fn map(&mut self, call: &ApiCall, role_arn: &str) -> Memo {
        let mapped = match map_call(call, self.catalog) {
            Mapped::Grants(grants) => Mapping::Grants(
                grants
                    .iter()
                    .map(|g| GrantIds {
                        action: self.strings.id(&g.action),
                        resource: self.strings.id(&g.resource),
                        condition: self.strings.id(&g.condition),
                        rule: self.strings.id(&g.rule),
                    })
                    .collect(),
            ),
            Mapped::NoPermissionNeeded(reason) => Mapping::Ungranted {
                kind: UngrantedKind::NoPermission,
                reason: self.strings.id(reason),
            },
            Mapped::Unmapped(reason) => Mapping::Ungranted {
                kind: UngrantedKind::Unmapped,
                reason: self.strings.id(&reason),
            },
        };
        Memo {
            role: self.strings.id(role_arn),
            source: self.strings.id(call.event_source),
            name: self.strings.id(call.event_name),
            mapped,
        }
    }

    /// What a call of a shape maps to: its shape's mapping (with the value put back if it is
    /// placed or conditioned), when that mapping uses the value as its shape says (see
    /// `shape.rs`); else None, and the call is mapped on its own. The call itself is not
    /// remembered: most calls of a shape name a value no other call names.
    fn by_shape(&mut self, call: &ApiCall, role_arn: &str, shape: &Shaped) -> Option<Found> {
        self.shaped_key(call, shape);
        let key = xxhash_rust::xxh3::xxh3_128(&self.key);
        if !self.shapes.contains_key(&key) {
            let text = shape.materialize(call);
            let memo = self.map(&text.call(call), role_arn);
            let fits = self.fits(&memo, shape.usage);
            self.shapes.insert(key, fits.then_some(memo));
        }
        let memo = self.shapes.get(&key)?.as_ref()?;
        let grants = match (&memo.mapped, shape.usage) {
            (Mapping::Grants(grants), Use::Placed | Use::Conditioned) => grants,
            _ => return Some(Found::Shape(key)),
        };
        let [grant] = grants.as_slice() else {
            return None;
        };
        let (mut grant, role, source, name) = (*grant, memo.role, memo.source, memo.name);
        // Where the value goes back: the resource's end, or one of the condition's values.
        let field = if shape.usage == Use::Placed {
            &mut grant.resource
        } else {
            &mut grant.condition
        };
        let mut text = std::mem::take(&mut self.put_back);
        let put = shape::put_back_into(
            shape.usage,
            self.strings.get(*field),
            shape.value,
            &mut text,
        );
        if put {
            *field = self.strings.id(&text);
        }
        self.put_back = text;
        put.then_some(Found::Placed {
            role,
            source,
            name,
            grant,
        })
    }

    /// Whether a shape's `memo` uses the placeholder as `usage` says: a placed value ends the
    /// resource of the one grant, a conditioned one is one value of its condition, and neither
    /// appears anywhere else; an unread one appears nowhere.
    fn fits(&self, memo: &Memo, usage: Use) -> bool {
        let has = |id: Id| self.strings.get(id).contains(shape::PLACEHOLDER);
        match (&memo.mapped, usage) {
            (Mapping::Grants(grants), Use::Placed) => {
                let [g] = grants.as_slice() else {
                    return false;
                };
                let resource = self.strings.get(g.resource);
                resource.matches(shape::PLACEHOLDER).count() == 1
                    && resource.ends_with(shape::PLACEHOLDER)
                    && ![g.action, g.condition, g.rule].into_iter().any(has)
            }
            (Mapping::Grants(grants), Use::Unread) => !grants.iter().any(|g| {
                [g.action, g.resource, g.condition, g.rule]
                    .into_iter()
                    .any(has)
            }),
            (Mapping::Grants(grants), Use::Conditioned) => {
                let [g] = grants.as_slice() else {
                    return false;
                };
                shape::condition_around(self.strings.get(g.condition)).is_some()
                    && ![g.action, g.resource, g.rule].into_iter().any(has)
            }
            (Mapping::Ungranted { reason, .. }, Use::Unread) => !has(*reason),
            (Mapping::Ungranted { .. }, Use::Placed | Use::Conditioned) => false,
        }
    }

    /// Forgets the current file's counters (its evidence is not wanted: the file was damaged).
    pub fn discard(&mut self) {
        self.evidence.clear();
        self.ungranted.clear();
        self.counts = EventCounts::default();
        self.launches.clear();
    }

    /// The current file's evidence, with its own copy of the strings it names (the folder's
    /// may be dropped before the writer is done with it); the folder is ready for the next file.
    pub fn finish(&mut self) -> FileEvidence {
        let mut out = FileEvidence::new(std::mem::take(&mut self.counts));
        out.reserve(self.evidence.len(), self.ungranted.len());
        out.launches = std::mem::take(&mut self.launches);
        // The strings the file names, each once, copied into its text at its final size: first
        // found (their ids listed in `placed`), then copied. Only their entries of
        // `file_spans` are used, and emptied again after: the folder may know tens of
        // thousands of strings, a file names a few dozen.
        if self.file_spans.len() < self.strings.len() {
            self.file_spans.resize(self.strings.len(), None);
        }
        let evidence_ids = self.evidence.iter().flat_map(|(key, value)| {
            let (role, action, resource, condition, error) = *key;
            let (_, source, name, rule) = value;
            [
                role, action, resource, condition, error, *source, *name, *rule,
            ]
        });
        let ungranted_ids = self.ungranted.iter().flat_map(|(key, value)| {
            let (role, source, name, error) = *key;
            [role, source, name, error, value.2]
        });
        let mut length = 0;
        for id in evidence_ids.chain(ungranted_ids) {
            let span = &mut self.file_spans[id as usize];
            if span.is_none() {
                // Marked, and given its real place below.
                *span = Some(Span::EMPTY);
                self.placed.push(id);
                length += self.strings.get(id).len();
            }
        }
        out.reserve_text(length);
        for &id in &self.placed {
            self.file_spans[id as usize] = Some(out.put(self.strings.get(id)));
        }
        let spans = &self.file_spans;
        let span = |id: Id| spans[id as usize].unwrap_or(Span::EMPTY);
        for ((role, action, resource, condition, error), (seen, source, name, rule)) in
            self.evidence.drain()
        {
            let key = [role, action, resource, condition, error].map(span);
            out.grant(key, [source, name, rule].map(span), seen, &mut self.key);
        }
        for ((role, source, name, error), (seen, kind, reason)) in self.ungranted.drain() {
            let key = [role, source, name, error].map(span);
            out.no_grant(key, kind, span(reason), seen, &mut self.key);
        }
        for id in self.placed.drain(..) {
            self.file_spans[id as usize] = None;
        }
        if self.memo.len() > CACHE_LIMIT || self.strings.len() > CACHE_LIMIT {
            // Emptied, not replaced: their tables keep their size, not grown again entry by entry.
            self.memo.clear();
            self.shapes.clear();
            self.strings.clear();
            self.no_error = self.strings.id("");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::cloudtrail;

    /// Every fixture event folded through the cached path, file by file, then merged as a batch
    /// is, gives exactly the uncached evidence.
    #[test]
    fn the_folder_agrees_with_the_reference_fold() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet/trail");
        let files = crate::source::local::discover(&[root]).files;
        assert!(files.len() > 10);
        let documents: Vec<Vec<u8>> = files
            .iter()
            .map(|path| crate::source::local::read_unit(path).unwrap())
            .collect();
        let (evidence, _) =
            fold_both_ways(&documents, &mut Folder::new(crate::catalog::embedded()));
        assert!(evidence > 20, "the fixture yields evidence");
    }

    /// Folds each document through a [`Folder`] (a file each) and through the uncached
    /// [`Aggregate`], and requires the same rows of both; returns how many of each kind.
    fn fold_both_ways(documents: &[Vec<u8>], folder: &mut Folder) -> (usize, usize) {
        use crate::store::BatchRows;
        let catalog = crate::catalog::embedded();
        let mut reference = Aggregate::default();
        let mut per_file = Vec::new();
        for bytes in documents {
            cloudtrail::decode(bytes, &mut |c| {
                reference.add(c, catalog);
                folder.add(c);
            })
            .unwrap();
            per_file.push(folder.finish());
        }
        let merged = super::super::evidence::merge(&per_file);
        assert_eq!(reference.counts, merged.counts);
        let (want_e, mut want_u) = reference.take_rows();
        let got_e: Vec<EvidenceRow> = merged
            .evidence()
            .map(|r| EvidenceRow {
                role_arn: r.role_arn.to_string(),
                action: r.action.to_string(),
                resource: r.resource.to_string(),
                condition: r.condition.to_string(),
                error_code: r.error_code.to_string(),
                count: r.count,
                first_seen: r.first_seen.to_string(),
                last_seen: r.last_seen.to_string(),
                example_event_id: r.example_event_id.to_string(),
                event_source: r.event_source.to_string(),
                event_name: r.event_name.to_string(),
                callers: r.callers,
                rule: r.rule.to_string(),
            })
            .collect();
        let mut got_u: Vec<UngrantedRow> = merged
            .ungranted()
            .map(|r| UngrantedRow {
                role_arn: r.role_arn.to_string(),
                event_source: r.event_source.to_string(),
                event_name: r.event_name.to_string(),
                error_code: r.error_code.to_string(),
                kind: r.kind.to_string(),
                reason: r.reason.to_string(),
                count: r.count,
                first_seen: r.first_seen.to_string(),
                last_seen: r.last_seen.to_string(),
                example_event_id: r.example_event_id.to_string(),
            })
            .collect();
        let key = |u: &UngrantedRow| {
            (
                u.role_arn.clone(),
                u.event_source.clone(),
                u.event_name.clone(),
                u.error_code.clone(),
            )
        };
        want_u.sort_by_key(key);
        got_u.sort_by_key(key);
        // Both in primary-key order.
        assert_eq!(want_e, got_e);
        assert_eq!(want_u, got_u);
        (want_e.len(), want_u.len())
    }

    /// Calls that differ in one parameter only, folded by their shapes (see `shape.rs`), give
    /// exactly the evidence of each call mapped on its own; and the calls `shape.rs` lists are
    /// folded by shape, not each on its own.
    #[test]
    fn calls_folded_by_shape_give_the_evidence_of_each_call() {
        let event = |source: &str, name: &str, request: String, resources: &str, i: usize| {
            format!(
                r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/t{i}","accountId":"111122223333","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"arn:aws:iam::111122223333:role/app","accountId":"111122223333"}}}}}},"eventTime":"2026-11-02T10:{:02}:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"eu-west-1","requestParameters":{request},"resources":{resources},"eventID":"e-{i}","recipientAccountId":"111122223333"}}"#,
                i % 60
            )
        };
        let mut records = Vec::new();
        let keys = [
            "a",
            "reports/2026/11/02/part-1.json.gz",
            "year=2026/x.parquet",
            "dir/",
            "k*",
            "a:b",
        ];
        for (i, name) in [
            "GetObject",
            "HeadObject",
            "PutObject",
            "DeleteObject",
            "GetObjectTagging",
            "CopyObject",
        ]
        .iter()
        .enumerate()
        {
            for (j, key) in keys.iter().enumerate() {
                for version in ["", r#","versionId":"v1""#] {
                    let copy = if *name == "CopyObject" {
                        format!(r#","x-amz-copy-source":"src/{key}""#)
                    } else {
                        String::new()
                    };
                    let request =
                        format!(r#"{{"bucketName":"orders-docs","key":"{key}"{version}{copy}}}"#);
                    let resources = format!(
                        r#"[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::orders-docs/{key}"}},{{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::orders-docs"}}]"#
                    );
                    records.push(event(
                        "s3.amazonaws.com",
                        name,
                        request,
                        &resources,
                        i * 100 + j,
                    ));
                }
            }
        }
        for (i, digest) in ["sha256:1fa8", "sha256:9bc0", "with space"]
            .iter()
            .enumerate()
        {
            let request = format!(r#"{{"repositoryName":"team/api","layerDigest":"{digest}"}}"#);
            records.push(event(
                "ecr.amazonaws.com",
                "GetDownloadUrlForLayer",
                request,
                "null",
                1000 + i,
            ));
        }
        for (i, session) in ["s-1", "s-2"].iter().enumerate() {
            let request = format!(
                r#"{{"roleArn":"arn:aws:iam::999988887777:role/deploy","roleSessionName":"{session}"}}"#
            );
            records.push(event(
                "sts.amazonaws.com",
                "AssumeRole",
                request,
                "null",
                2000 + i,
            ));
        }
        for (i, stream) in ["api/web/0a1b", "api/web/9f8e", "2026/11/02/[$LATEST]"]
            .iter()
            .enumerate()
        {
            let request = format!(r#"{{"logGroupName":"/ecs/api","logStreamName":"{stream}"}}"#);
            records.push(event(
                "logs.amazonaws.com",
                "CreateLogStream",
                request,
                "null",
                3000 + i,
            ));
        }
        for (i, digests) in [r#"["sha256:1fa8"]"#, r#"["sha256:9bc0","sha256:77"]"#]
            .iter()
            .enumerate()
        {
            let request = format!(r#"{{"repositoryName":"team/api","layerDigests":{digests}}}"#);
            records.push(event(
                "ecr.amazonaws.com",
                "BatchCheckLayerAvailability",
                request,
                "null",
                4000 + i,
            ));
        }
        let kms = "arn:aws:kms:eu-west-1:111122223333:key/bc08c96e-1f3a-4c6b-9e0f-efdb6c22be77";
        for (i, object) in ["b/k/1", "b/k/2", "b/k*"].iter().enumerate() {
            for (j, name) in ["Decrypt", "GenerateDataKey"].iter().enumerate() {
                let request = format!(
                    r#"{{"keyId":"{kms}","encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::{object}"}}}}"#
                );
                let resources = format!(r#"[{{"type":"AWS::KMS::Key","ARN":"{kms}"}}]"#);
                // As S3 calls KMS for the role: invokedBy names it.
                let called = event(
                    "kms.amazonaws.com",
                    name,
                    request,
                    &resources,
                    5000 + i * 10 + j,
                )
                .replacen(
                    r#""accountId":"111122223333","sessionContext""#,
                    r#""accountId":"111122223333","invokedBy":"s3.amazonaws.com","sessionContext""#,
                    1,
                );
                assert!(called.contains("invokedBy"));
                records.push(called);
            }
        }
        let documents: Vec<Vec<u8>> = records
            .chunks(7)
            .map(|chunk| format!(r#"{{"Records":[{}]}}"#, chunk.join(",")).into_bytes())
            .collect();
        let mut folder = Folder::new(crate::catalog::embedded());
        let (evidence, _) = fold_both_ways(&documents, &mut folder);
        assert!(evidence > 40, "{evidence}");
        // One shape per listed call name, versioned or not, whatever its plain keys; one each
        // for the layer downloads, the role assumptions, the plain log streams and the layer
        // checks; one per KMS call S3 made.
        let fitting = folder.shapes.values().filter(|m| m.is_some()).count();
        assert_eq!(fitting, 5 * 2 + 1 + 1 + 1 + 1 + 2, "shapes that fit");
    }

    /// The key of a shaped call written from its pieces is the key of the call it stands for,
    /// built: the shapes the folder remembers are those it would remember of the built calls.
    #[test]
    fn a_shaped_call_s_key_is_the_key_of_the_call_it_stands_for() {
        use super::shape::tests::call;
        let resource = |arn, resource_type| EventResource { arn, resource_type };
        let calls = [
            call(
                "GetObject",
                r#"{"bucketName":"b","key":"k/1"}"#,
                vec![
                    resource("arn:aws:s3:::b/k/1", Some("AWS::S3::Object")),
                    resource("arn:aws:s3:::b", None),
                ],
            ),
            call(
                "Decrypt",
                r#"{"encryptionContext":{"aws:s3:arn":"arn:aws:s3:::b/k/1"}}"#,
                vec![resource("arn:aws:kms:eu-west-1:111122223333:key/k-1", None)],
            ),
            call(
                "BatchCheckLayerAvailability",
                r#"{"repositoryName":"api","layerDigests":["sha256:aa","sha256:bb"]}"#,
                Vec::new(),
            ),
        ];
        let mut folder = Folder::new(crate::catalog::embedded());
        for c in &calls {
            let shape = Shaped::of(c).unwrap();
            folder.shaped_key(c, &shape);
            let from_pieces = folder.key.clone();
            let text = shape.materialize(c);
            folder.memo_key(&text.call(c));
            assert_eq!(from_pieces, folder.key, "{}", c.event_name);
            folder.memo_key(c);
            assert_ne!(from_pieces, folder.key, "{}", c.event_name);
            let written = String::from_utf8_lossy(&from_pieces).into_owned();
            assert!(written.contains(shape::PLACEHOLDER), "{written}");
            assert!(!written.contains(shape.value), "{written}");
        }
    }

    /// What a folding source (Athena) hands over, one call per group of identical calls with
    /// their count and last time, folds to exactly the evidence of the calls one by one.
    #[test]
    fn calls_folded_by_the_source_give_the_evidence_of_each_call() {
        use std::collections::BTreeMap;
        let catalog = crate::catalog::embedded();
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet/trail");
        let files = crate::source::local::discover(&[root]).files;
        let trail: Vec<Vec<u8>> = files
            .iter()
            .map(|p| crate::source::local::read_unit(p).unwrap())
            .collect();
        // What the query groups by: everything the fold reads but the event's id, time and
        // session.
        let group = |c: &ApiCall| {
            let who = match &c.principal {
                Principal::Role { role_arn, .. } => role_arn.to_string(),
                Principal::Other(kind) => format!("{kind:?}"),
            };
            format!(
                "{who}|{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
                c.event_source,
                c.event_name,
                c.region,
                c.recipient_account,
                c.principal_account,
                c.invoked_by,
                c.error_code,
                c.request_parameters,
                c.resources
            )
        };
        // Per group: count, (first time, example id), last time.
        let mut groups: BTreeMap<String, (u64, (String, String), String)> = BTreeMap::new();
        let mut reference = Aggregate::default();
        for bytes in &trail {
            cloudtrail::decode(bytes, &mut |c| {
                reference.add(c, catalog);
                let first = (c.event_time.to_string(), c.event_id.to_string());
                let g =
                    groups
                        .entry(group(c))
                        .or_insert((0, first.clone(), c.event_time.to_string()));
                g.0 += 1;
                g.1 = g.1.clone().min(first);
                g.2 = g.2.clone().max(c.event_time.to_string());
            })
            .unwrap();
        }
        assert!(
            groups.values().any(|g| g.0 > 1),
            "the fixture repeats some calls"
        );
        // Each group's first event stands for it, as a row does.
        let mut folded = Aggregate::default();
        let mut folder = Folder::new(catalog);
        for bytes in &trail {
            cloudtrail::decode(bytes, &mut |c| {
                let key = group(c);
                let is_first = groups.get(&key).is_some_and(|(_, first, _)| {
                    (first.0.as_str(), first.1.as_str()) == (c.event_time, c.event_id)
                });
                if let Some((n, _, last)) = is_first.then(|| groups.remove(&key)).flatten() {
                    folded.add_many(c, n, &last, catalog);
                    folder.add_many(c, n, &last);
                }
            })
            .unwrap();
        }
        assert!(groups.is_empty(), "every group met its first event");
        let file = folder.finish();
        let merged = super::super::evidence::merge([&file]);
        assert_eq!(reference.counts, folded.counts);
        assert_eq!(reference.counts, merged.counts);
        let (want_e, mut want_u) = reference.take_rows();
        let (got_e, mut got_u) = folded.take_rows();
        let by_key = |u: &UngrantedRow| {
            let k = (&u.role_arn, &u.event_source, &u.event_name, &u.error_code);
            (k.0.clone(), k.1.clone(), k.2.clone(), k.3.clone())
        };
        want_u.sort_by_key(by_key);
        got_u.sort_by_key(by_key);
        assert_eq!(want_e, got_e);
        assert_eq!(want_u, got_u);
        use crate::store::BatchRows;
        let cached: Vec<(String, i64, String, String, String)> = merged
            .evidence()
            .map(|r| {
                (
                    format!(
                        "{}|{}|{}|{}",
                        r.role_arn, r.action, r.resource, r.error_code
                    ),
                    r.count,
                    r.first_seen.to_string(),
                    r.last_seen.to_string(),
                    r.example_event_id.to_string(),
                )
            })
            .collect();
        let reference: Vec<(String, i64, String, String, String)> = want_e
            .iter()
            .map(|r| {
                (
                    format!(
                        "{}|{}|{}|{}",
                        r.role_arn, r.action, r.resource, r.error_code
                    ),
                    r.count,
                    r.first_seen.clone(),
                    r.last_seen.clone(),
                    r.example_event_id.clone(),
                )
            })
            .collect();
        assert_eq!(reference, cached);
    }
}
