//! Resource templates: the parts of a name that follow the clock, or that are ids, become
//! wildcards; everything else in the name stays literal.
//!
//! A workload that writes `raw/events/year=2026/month=10/day=15/hour=03/<uuid>.json.gz` will
//! write November's objects next month. The names seen so far are no grant for them, and the
//! longest-common-prefix rule (`generalize`) stops at `year=2026/month=10/`. So each name is read
//! as a sequence of tokens:
//!
//! - **clock fields**: a date in the name — a year followed by a month (and maybe day, hour,
//!   minute, second, whatever the separators or `key=` between them), a compact date
//!   (`20261015`, `2026101503`, `20261015T0300Z`), or epoch seconds or milliseconds. It is a
//!   clock value when, in every observed name of the same shape, every call that named it came
//!   near the time it holds: in the same month or day, or the one before or after (yesterday's
//!   partition, a stream opened just before midnight), or within a day for hours and finer
//!   (names written in local time). One name seen once is enough: its date follows its call. A
//!   date that does not follow the calls (`config/2019-defaults.json` read every day) stays
//!   literal, and so does a year alone.
//! - **id fields**: UUIDs, ULIDs, hex runs of 8 or more characters holding digits and letters,
//!   decimal runs of 8 or more digits that are no date, and long random-looking tokens. An id is
//!   variable when names of the same shape hold two or more values at its position; one value
//!   seen is a name, not evidence of variation.
//! - **counters**: shorter numbers (`part-0001`). They vary only beside a clock or id field that
//!   does, and only with as many distinct values as the wildcard threshold asks of any prefix
//!   wildcard; alone they are left to the longest-common-prefix rule.
//!
//! Names are grouped by shape (their literal text and the kinds of their fields); a group's
//! variable fields become wildcards, the rest of each name is kept as it is — so another prefix,
//! bucket, table or queue is still denied. A field whose values all have one length (dates are
//! zero-padded, epoch times fixed-width) and are at most 16 characters long becomes that many
//! `?`, which match one character each and never a `/`; others (UUIDs, ULIDs) become `*`. IAM's `*` also matches `/`, which is why
//! the literal parts are kept rather than a shorter prefix. Only names an application chooses are read this
//! way: S3 buckets and keys, SSM parameters, log groups and streams, DynamoDB tables, SQS queues
//! and SNS topics, after the ARN's account and region, which never vary. A template that would
//! match a resource the role was refused is not made.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One observed resource (policy syntax), with the span of its calls.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub resource: &'a str,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub calls: i64,
}

/// A learned template: what `explain` and `--format json` show for a generalized resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// The resource with each variable field named, e.g.
    /// `arn:aws:s3:::b/raw/year={year}/month={month}/{uuid}.json.gz`.
    pub template: String,
    pub fields: Vec<TemplateField>,
    /// The policy pattern it became: every variable field `*`, the rest literal.
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateField {
    pub field: &'static str,
    /// What it was recognised as, in words.
    pub recognised_as: String,
    /// Distinct values seen at this position.
    pub values: usize,
    /// Calls that named one of them.
    pub calls: i64,
}

/// What [`learn`] made of a set of resources.
#[derive(Debug, Default)]
pub struct Templated {
    /// The patterns made, and every resource no template covers, unchanged.
    pub resources: BTreeSet<String>,
    /// pattern → its template and the observed resources it stands for.
    pub templates: BTreeMap<String, (Template, Vec<String>)>,
    /// Patterns the evidence supported but that would reach a refused resource.
    pub narrowed: Vec<String>,
}

/// Learns templates over `observed` (the resources of one action and condition). `refused` are
/// resources the action was denied on: no pattern may match one.
/// `threshold` is the wildcard threshold: counters vary with that many distinct values.
pub fn learn(observed: &[Observed], threshold: usize, refused: &BTreeSet<String>) -> Templated {
    let mut out = Templated::default();
    let mut groups: BTreeMap<(&str, Vec<Segment>), Vec<Member>> = BTreeMap::new();
    for o in observed {
        match templatable(o.resource) {
            Some((head, name)) if !super::generalize::has_wildcard(o.resource) => {
                let (shape, values) = shape(name);
                groups
                    .entry((head, shape))
                    .or_default()
                    .push((o.clone(), values));
            }
            _ => {
                out.resources.insert(o.resource.to_string());
            }
        }
    }
    for ((head, shape), members) in groups {
        let variable = variable_fields(&shape, &members, threshold.max(2));
        if variable.iter().all(|v| !v) {
            out.resources
                .extend(members.iter().map(|(o, _)| o.resource.to_string()));
            continue;
        }
        let wildcards = wildcards(&members, &variable);
        let mut by_pattern: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
        for m in &members {
            by_pattern
                .entry(render(head, &shape, &m.1, &variable, |k, _| {
                    wildcards[k].clone()
                }))
                .or_default()
                .push(m);
        }
        for (pattern, members) in by_pattern {
            let names: Vec<String> = members
                .iter()
                .map(|(o, _)| o.resource.to_string())
                .collect();
            if reaches_refused(&pattern, refused) {
                out.narrowed.push(pattern);
                out.resources.extend(names);
                continue;
            }
            let template = Template {
                template: render(head, &shape, &members[0].1, &variable, |_, f| {
                    format!("{{{}}}", f.name())
                }),
                fields: describe(&shape, &members, &variable),
                pattern: pattern.clone(),
            };
            out.resources.insert(pattern.clone());
            out.templates.insert(pattern, (template, names));
        }
    }
    out
}

/// An observed resource and the values of its name's fields.
type Member<'a> = (Observed<'a>, Vec<&'a str>);

/// The fixed head of an ARN and the name after it, for the resource types whose names an
/// application makes up; None for the others (keys, secrets, tasks, roles…).
fn templatable(arn: &str) -> Option<(&str, &str)> {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    let service = colons.nth(1)?;
    let region = colons.next()?;
    let name_start = colons.nth(1)? + 1;
    let kind = &arn[service + 1..region];
    let name = &arn[name_start..];
    let ok = match kind {
        "s3" => name.contains('/'),
        "ssm" => name.starts_with("parameter/"),
        "logs" => name.starts_with("log-group:"),
        "dynamodb" => name.starts_with("table/"),
        "sqs" | "sns" => true,
        _ => false,
    };
    (ok && !name.is_empty()).then(|| arn.split_at(name_start))
}

/// A piece of a name's shape: literal text, or a field whose value varies by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Lit(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// Part `part` of date group `group`: year, month, day, hour, minute, second.
    Date {
        group: usize,
        part: usize,
    },
    /// A compact date of `len` digits (`YYYYMMDD`, `YYYYMMDDHH`…), or `YYYYMMDDTHHMM[SS]Z`.
    Compact {
        group: usize,
        len: usize,
    },
    EpochSeconds {
        group: usize,
    },
    EpochMillis {
        group: usize,
    },
    Uuid,
    Ulid,
    Hex,
    Number,
    Token,
    /// A number of fewer than 8 digits that is no date.
    Counter,
}

const DATE_PARTS: [&str; 6] = ["year", "month", "day", "hour", "minute", "second"];

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Date { part, .. } => DATE_PARTS[part],
            Field::Compact { len: 8, .. } => "date",
            Field::Compact { .. } => "timestamp",
            Field::EpochSeconds { .. } => "epoch",
            Field::EpochMillis { .. } => "epoch_ms",
            Field::Uuid => "uuid",
            Field::Ulid => "ulid",
            Field::Hex => "hex",
            Field::Number => "number",
            Field::Token => "token",
            Field::Counter => "n",
        }
    }

    fn clock_group(self) -> Option<usize> {
        match self {
            Field::Date { group, .. }
            | Field::Compact { group, .. }
            | Field::EpochSeconds { group }
            | Field::EpochMillis { group } => Some(group),
            _ => None,
        }
    }
}

/// A name's shape and the values of its fields, in order.
fn shape(name: &str) -> (Vec<Segment>, Vec<&str>) {
    let tokens = tokens(name);
    let mut segments = Vec::new();
    let mut values = Vec::new();
    let mut group = 0;
    let mut i = 0;
    while i < tokens.len() {
        if let Some(found) = date_at(&tokens, i) {
            for (j, t) in tokens.iter().enumerate().take(found.end).skip(i) {
                match found.parts.iter().position(|&p| p == j) {
                    Some(part) => {
                        let field = match found.kind {
                            DateKind::Parts => Field::Date { group, part },
                            DateKind::Compact => Field::Compact {
                                group,
                                len: t.text.len(),
                            },
                            DateKind::EpochSeconds => Field::EpochSeconds { group },
                            DateKind::EpochMillis => Field::EpochMillis { group },
                        };
                        segments.push(Segment::Field(field));
                        values.push(t.text);
                    }
                    None => push_lit(&mut segments, t.text),
                }
            }
            group += 1;
            i = found.end;
            continue;
        }
        let field = match tokens[i].id {
            Some(field) => Some(field),
            None if tokens[i].digits => Some(Field::Counter),
            None => None,
        };
        match field {
            Some(field) => {
                segments.push(Segment::Field(field));
                values.push(tokens[i].text);
            }
            None => push_lit(&mut segments, tokens[i].text),
        }
        i += 1;
    }
    (segments, values)
}

fn push_lit(segments: &mut Vec<Segment>, text: &str) {
    match segments.last_mut() {
        Some(Segment::Lit(s)) => s.push_str(text),
        _ => segments.push(Segment::Lit(text.to_string())),
    }
}

#[derive(Debug)]
struct Token<'a> {
    text: &'a str,
    /// All ASCII digits.
    digits: bool,
    /// An id by its form alone (a long digit run becomes one only when it is no date).
    id: Option<Field>,
}

/// Splits a name into UUIDs, alphanumeric runs (ids kept whole, others split into digit and
/// letter runs) and the separators between them.
fn tokens(name: &str) -> Vec<Token<'_>> {
    let bytes = name.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if is_uuid(&bytes[i..]) && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            out.push(token(&name[i..i + 36], Some(Field::Uuid)));
            i += 36;
            continue;
        }
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() == bytes[i].is_ascii_alphanumeric())
            .count();
        // Non-ASCII text is never alphanumeric here, so `run` ends on a character boundary.
        let text = &name[i..i + run];
        if !bytes[i].is_ascii_alphanumeric() {
            out.push(token(text, None));
        } else if let Some(field) = id_form(text) {
            out.push(token(text, Some(field)));
        } else if is_compact_stamp(text) {
            out.push(token(text, None));
        } else {
            let mut at = 0;
            while at < run {
                let digits = text.as_bytes()[at].is_ascii_digit();
                let len = text.as_bytes()[at..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit() == digits)
                    .count();
                let part = &text[at..at + len];
                let id = (digits && len >= 8).then_some(Field::Number);
                out.push(token(part, id));
                at += len;
            }
        }
        i += run;
    }
    out
}

fn token(text: &str, id: Option<Field>) -> Token<'_> {
    Token {
        text,
        digits: !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
        id,
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() >= 36
        && (b.len() == 36 || !b[36].is_ascii_alphanumeric())
        && b[..36].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The id an alphanumeric run is by its form alone.
fn id_form(run: &str) -> Option<Field> {
    let b = run.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.len() - digits;
    if digits == 0 || letters == 0 {
        return None;
    }
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if b.len() == 26 && b[0] <= b'7' && b.iter().all(|c| CROCKFORD.contains(c)) {
        return Some(Field::Ulid);
    }
    let lower_hex = b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let upper_hex = b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'));
    if b.len() >= 8 && (lower_hex || upper_hex) {
        return Some(Field::Hex);
    }
    // Random-looking: long, and digits and letters interleaved rather than a word and a number.
    let switches = b
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count();
    (b.len() >= 12 && digits >= 2 && letters >= 2 && switches >= 3).then_some(Field::Token)
}

/// `YYYYMMDDTHHMM[SS][Z]`: the compact ISO 8601 timestamp.
fn is_compact_stamp(run: &str) -> bool {
    let b = run.as_bytes();
    let body = b.strip_suffix(b"Z").unwrap_or(b);
    (body.len() == 13 || body.len() == 15)
        && body[8] == b'T'
        && body[..8].iter().chain(&body[9..]).all(u8::is_ascii_digit)
        && compact_time(&run[..8], &run[9..body.len()]).is_some()
}

#[derive(Debug, Clone, Copy)]
enum DateKind {
    Parts,
    Compact,
    EpochSeconds,
    EpochMillis,
}

struct DateAt {
    kind: DateKind,
    /// Indices of the tokens that are the date's fields.
    parts: Vec<usize>,
    /// Index after its last token.
    end: usize,
}

/// A date starting at token `i`: a year followed by a month (and maybe day, hour, minute,
/// second) with at most a separator or a short `key=` between them; a compact date; epoch time.
fn date_at(tokens: &[Token], i: usize) -> Option<DateAt> {
    let t = &tokens[i];
    if is_compact_stamp(t.text) {
        return Some(DateAt {
            kind: DateKind::Compact,
            parts: vec![i],
            end: i + 1,
        });
    }
    if !t.digits {
        return None;
    }
    let single = |kind| {
        Some(DateAt {
            kind,
            parts: vec![i],
            end: i + 1,
        })
    };
    match t.text.len() {
        4 => {}
        8 | 10 | 12 | 14 if compact_time(&t.text[..8], &t.text[8..]).is_some() => {
            return single(DateKind::Compact)
        }
        10 => return single(DateKind::EpochSeconds),
        13 => return single(DateKind::EpochMillis),
        _ => return None,
    }
    if !(2000..=2099).contains(&t.text.parse::<u32>().ok()?) {
        return None;
    }
    let mut parts = vec![i];
    let mut at = i + 1;
    // The limits of month, day, hour, minute and second, in order.
    for max in [12, 31, 23, 59, 59] {
        let Some(next) = next_date_part(tokens, at) else {
            break;
        };
        let value: u32 = tokens[next].text.parse().ok()?;
        let min = if parts.len() <= 2 { 1 } else { 0 };
        if !(min..=max).contains(&value) {
            break;
        }
        parts.push(next);
        at = next + 1;
    }
    if parts.len() < 2 || date_value(tokens, &parts).is_none() {
        return None;
    }
    Some(DateAt {
        kind: DateKind::Parts,
        end: at,
        parts,
    })
}

/// The next two-digit token after `at`, when only a separator and maybe a short key
/// (`/month=`, `-`, `T`, `_d`) stand between.
fn next_date_part(tokens: &[Token], at: usize) -> Option<usize> {
    let mut between = 0;
    for (j, t) in tokens.iter().enumerate().skip(at) {
        if t.digits {
            return (t.text.len() == 2 && between > 0).then_some(j);
        }
        between += t.text.len();
        if between > 8 || t.id.is_some() || j - at > 3 {
            return None;
        }
    }
    None
}

/// A compact date `YYYYMMDD` and a rest of `HH`, `HHMM` or `HHMMSS` (or nothing).
fn compact_time(date: &str, time: &str) -> Option<NaiveDateTime> {
    let year: i32 = date.get(..4)?.parse().ok()?;
    if !(2000..=2099).contains(&year) {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(
        year,
        date.get(4..6)?.parse().ok()?,
        date.get(6..8)?.parse().ok()?,
    )?;
    let field = |k: usize| -> Option<u32> {
        match time.get(2 * k..2 * k + 2) {
            Some(v) => v.parse().ok(),
            None => Some(0),
        }
    };
    if !matches!(time.len(), 0 | 2 | 4 | 6) {
        return None;
    }
    day.and_hms_opt(field(0)?, field(1)?, field(2)?)
}

/// How fine a date is, and how far from its calls' time a clock value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Grain {
    /// The index of `t`'s month, day, hour… since the common era.
    fn index(self, t: NaiveDateTime) -> i64 {
        let day = i64::from(t.date().num_days_from_ce());
        let hour = day * 24 + i64::from(t.hour());
        let minute = hour * 60 + i64::from(t.minute());
        match self {
            Grain::Month => i64::from(t.year()) * 12 + i64::from(t.month0()),
            Grain::Day => day,
            Grain::Hour => hour,
            Grain::Minute => minute,
            Grain::Second => minute * 60 + i64::from(t.second()),
        }
    }

    /// The largest offset (in this grain's units) a clock value may have from its call: one
    /// month or day (last month's report, yesterday's partition); a day for finer grains, which
    /// covers names written in local time.
    fn reach(self) -> i64 {
        match self {
            Grain::Month | Grain::Day => 1,
            Grain::Hour => 24,
            Grain::Minute => 24 * 60,
            Grain::Second => 24 * 3600,
        }
    }
}

/// The time a date's fields denote, and its grain.
fn date_value(tokens: &[Token], parts: &[usize]) -> Option<(NaiveDateTime, Grain)> {
    let v: Vec<u32> = parts
        .iter()
        .map(|&p| tokens[p].text.parse().ok())
        .collect::<Option<_>>()?;
    let day = NaiveDate::from_ymd_opt(v[0] as i32, v[1], v.get(2).copied().unwrap_or(1))?;
    let t = day.and_hms_opt(
        v.get(3).copied().unwrap_or(0),
        v.get(4).copied().unwrap_or(0),
        v.get(5).copied().unwrap_or(0),
    )?;
    let grain = [
        Grain::Month,
        Grain::Month,
        Grain::Day,
        Grain::Hour,
        Grain::Minute,
        Grain::Second,
    ][v.len() - 1];
    Some((t, grain))
}

/// The time and grain of clock group `group` in a name's field values.
fn clock_value(shape: &[Segment], values: &[&str], group: usize) -> Option<(NaiveDateTime, Grain)> {
    let fields: Vec<(Field, &str)> = shape
        .iter()
        .filter_map(|s| match s {
            Segment::Field(f) => Some(*f),
            Segment::Lit(_) => None,
        })
        .zip(values.iter().copied())
        .filter(|(f, _)| f.clock_group() == Some(group))
        .collect();
    match fields.first()? {
        (Field::Date { .. }, _) => {
            let tokens: Vec<Token> = fields.iter().map(|(_, v)| token(v, None)).collect();
            let parts: Vec<usize> = (0..tokens.len()).collect();
            date_value(&tokens, &parts)
        }
        (Field::Compact { .. }, v) => {
            let (date, rest) = v.split_at(8);
            let time: String = rest.chars().filter(char::is_ascii_digit).collect();
            let t = compact_time(date, &time)?;
            let grain = match time.len() {
                0 => Grain::Day,
                2 => Grain::Hour,
                4 => Grain::Minute,
                _ => Grain::Second,
            };
            Some((t, grain))
        }
        (Field::EpochSeconds { .. }, v) => Some((
            DateTime::from_timestamp(v.parse().ok()?, 0)?.naive_utc(),
            Grain::Second,
        )),
        (Field::EpochMillis { .. }, v) => Some((
            DateTime::from_timestamp_millis(v.parse().ok()?)?.naive_utc(),
            Grain::Second,
        )),
        _ => None,
    }
}

/// For each field of `shape`, whether it varies: a clock group whose every member follows its
/// calls' time, an id with two or more values, and — beside either — a counter with `threshold`
/// or more.
fn variable_fields(shape: &[Segment], members: &[Member], threshold: usize) -> Vec<bool> {
    let fields: Vec<Field> = shape
        .iter()
        .filter_map(|s| match s {
            Segment::Field(f) => Some(*f),
            Segment::Lit(_) => None,
        })
        .collect();
    let clocks: BTreeSet<usize> = fields.iter().filter_map(|f| f.clock_group()).collect();
    let following: BTreeSet<usize> = clocks
        .into_iter()
        .filter(|&g| follows_the_clock(shape, members, g))
        .collect();
    let distinct = |k: usize| {
        members
            .iter()
            .map(|(_, v)| v[k])
            .collect::<BTreeSet<&str>>()
            .len()
    };
    let mut variable: Vec<bool> = fields
        .iter()
        .enumerate()
        .map(|(k, f)| match (f.clock_group(), f) {
            (Some(g), _) => following.contains(&g),
            (None, Field::Counter) => false,
            (None, _) => distinct(k) >= 2,
        })
        .collect();
    if variable.iter().any(|v| *v) {
        for (k, f) in fields.iter().enumerate() {
            if *f == Field::Counter {
                variable[k] = distinct(k) >= threshold;
            }
        }
    }
    variable
}

/// Whether clock group `group` holds, in every member, a time near each call that named it:
/// every call came within the grain's reach of it (the same month or day, or the one before or
/// after; a day for finer grains).
fn follows_the_clock(shape: &[Segment], members: &[Member], group: usize) -> bool {
    members.iter().all(|(o, values)| {
        let Some((t, grain)) = clock_value(shape, values, group) else {
            return false;
        };
        let v = grain.index(t);
        let reach = grain.reach();
        // The calls span [first, last]: both ends must be within reach.
        v - grain.index(o.last.naive_utc()) >= -reach
            && v - grain.index(o.first.naive_utc()) <= reach
    })
}

/// The wildcard each variable field becomes: as many `?` as its characters where every value
/// seen has the same length (dates are zero-padded, epoch times fixed-width) and it is short, so
/// the grant matches no longer name and never crosses a `/`; else `*`.
fn wildcards(members: &[Member], variable: &[bool]) -> Vec<String> {
    (0..variable.len())
        .map(|k| {
            let lengths: BTreeSet<usize> = members.iter().map(|(_, v)| v[k].len()).collect();
            match lengths.iter().next() {
                Some(&len) if lengths.len() == 1 && len <= MAX_FIXED_WIDTH => "?".repeat(len),
                _ => "*".to_string(),
            }
        })
        .collect()
}

/// The longest field written as `?`s: a compact timestamp (`20261015T030000Z`). Longer ids
/// (UUIDs, ULIDs) become `*`, which keeps policies readable and short.
const MAX_FIXED_WIDTH: usize = 16;

/// The name with each variable field written by `field` and every other part as observed.
fn render(
    head: &str,
    shape: &[Segment],
    values: &[&str],
    variable: &[bool],
    field: impl Fn(usize, Field) -> String,
) -> String {
    let mut out = head.to_string();
    let mut k = 0;
    for s in shape {
        match s {
            Segment::Lit(text) => out.push_str(text),
            Segment::Field(f) => {
                if variable[k] {
                    out.push_str(&field(k, *f));
                } else {
                    out.push_str(values[k]);
                }
                k += 1;
            }
        }
    }
    out
}

fn describe(shape: &[Segment], members: &[&Member], variable: &[bool]) -> Vec<TemplateField> {
    let fields = shape.iter().filter_map(|s| match s {
        Segment::Field(f) => Some(*f),
        Segment::Lit(_) => None,
    });
    let calls: i64 = members.iter().map(|(o, _)| o.calls).sum();
    fields
        .enumerate()
        .filter(|(k, _)| variable[*k])
        .map(|(k, f)| {
            let values: BTreeSet<&str> = members.iter().map(|(_, v)| v[k]).collect();
            let recognised_as = match (f.clock_group(), f) {
                (Some(_), _) => "clock: follows the time of the calls that named it".to_string(),
                (None, Field::Counter) => format!(
                    "counter: {} distinct values beside a clock or id field",
                    values.len()
                ),
                (None, _) => format!("id ({}): {} distinct values", f.name(), values.len()),
            };
            TemplateField {
                field: f.name(),
                recognised_as,
                values: values.len(),
                calls,
            }
        })
        .collect()
}

fn reaches_refused(pattern: &str, refused: &BTreeSet<String>) -> bool {
    use crate::policy::eval::{Context, ResourcePattern, VARIABLES_VERSION};
    if refused.is_empty() {
        return false;
    }
    let compiled = ResourcePattern::new(pattern, VARIABLES_VERSION, &Context::new());
    refused.iter().any(|r| {
        let literal = crate::policy::escape::unescape_literal(r);
        compiled.matches_chars(&ResourcePattern::chars(&literal))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    fn learn_at(names: &[(&str, &str)]) -> Templated {
        let observed: Vec<Observed> = names
            .iter()
            .map(|(r, t)| Observed {
                resource: r,
                first: at(t),
                last: at(t),
                calls: 1,
            })
            .collect();
        learn(&observed, 3, &BTreeSet::new())
    }

    fn patterns(t: &Templated) -> Vec<&str> {
        t.resources.iter().map(String::as_str).collect()
    }

    #[test]
    fn hive_partitions_and_uuids_become_wildcards_and_the_rest_stays() {
        let t = learn_at(&[
            (
                "arn:aws:s3:::lake/raw/events/year=2026/month=10/day=15/hour=03/0b7c3c52-1b0e-4c4e-9d7e-3f1a2b3c4d5e.json.gz",
                "2026-10-15T03:12:00Z",
            ),
            (
                "arn:aws:s3:::lake/raw/events/year=2026/month=10/day=16/hour=04/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a.json.gz",
                "2026-10-16T04:40:00Z",
            ),
        ]);
        let p = "arn:aws:s3:::lake/raw/events/year=????/month=??/day=??/hour=??/*.json.gz";
        assert_eq!(patterns(&t), [p]);
        let (template, names) = &t.templates[p];
        assert_eq!(
            template.template,
            "arn:aws:s3:::lake/raw/events/year={year}/month={month}/day={day}/hour={hour}/{uuid}.json.gz"
        );
        assert_eq!(names.len(), 2);
        let fields: Vec<&str> = template.fields.iter().map(|f| f.field).collect();
        assert_eq!(fields, ["year", "month", "day", "hour", "uuid"]);
    }

    #[test]
    fn one_dated_name_seen_once_is_enough_when_its_date_follows_the_call() {
        let t = learn_at(&[(
            "arn:aws:logs:eu-west-1:1:log-group:/app/worker:log-stream:2026/10/31/worker-3f9a1c2e",
            "2026-10-31T22:00:00Z",
        )]);
        assert_eq!(
            patterns(&t),
            ["arn:aws:logs:eu-west-1:1:log-group:/app/worker:log-stream:????/??/??/worker-3f9a1c2e"]
        );
        let t = learn_at(&[
            (
                "arn:aws:dynamodb:eu-west-1:1:table/metrics_2026_10",
                "2026-10-03T00:00:00Z",
            ),
            (
                "arn:aws:dynamodb:eu-west-1:1:table/metrics_2026_11",
                "2026-11-01T00:10:00Z",
            ),
        ]);
        assert_eq!(
            patterns(&t),
            ["arn:aws:dynamodb:eu-west-1:1:table/metrics_????_??"]
        );
    }

    #[test]
    fn yesterdays_partition_follows_the_clock_at_a_fixed_offset() {
        let t = learn_at(&[
            (
                "arn:aws:s3:::b/daily/2026-10-14/part.csv",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:s3:::b/daily/2026-10-15/part.csv",
                "2026-10-16T01:00:00Z",
            ),
        ]);
        assert_eq!(patterns(&t), ["arn:aws:s3:::b/daily/????-??-??/part.csv"]);
    }

    #[test]
    fn dates_that_do_not_follow_the_calls_stay_literal() {
        let names = [
            (
                "arn:aws:s3:::b/config/2019-01-defaults.json",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:s3:::b/config/2019-01-defaults.json",
                "2026-10-16T01:00:00Z",
            ),
            // A year alone is no date.
            (
                "arn:aws:s3:::b/reports/2026/summary.csv",
                "2026-10-16T01:00:00Z",
            ),
            // Two offsets: a backfill, not a clock.
            ("arn:aws:s3:::b/x/2026-10-01/a", "2026-10-01T01:00:00Z"),
            ("arn:aws:s3:::b/x/2026-09-01/a", "2026-10-02T01:00:00Z"),
        ];
        let t = learn_at(&names);
        let want: BTreeSet<String> = names.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(t.resources, want);
    }

    #[test]
    fn an_id_seen_once_stays_and_other_resource_types_never_change() {
        let names = [
            (
                "arn:aws:s3:::b/up/0b7c3c52-1b0e-4c4e-9d7e-3f1a2b3c4d5e.bin",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:kms:eu-west-1:1:key/0b7c3c52-1b0e-4c4e-9d7e-3f1a2b3c4d5e",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:kms:eu-west-1:1:key/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
                "2026-10-15T01:00:00Z",
            ),
        ];
        let t = learn_at(&names);
        let want: BTreeSet<String> = names.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(t.resources, want);
    }

    #[test]
    fn ids_that_vary_become_wildcards_in_their_position_only() {
        let t = learn_at(&[
            (
                "arn:aws:sqs:eu-west-1:1:job-01HF3Z5K8Q2W4E6R8T0Y2U4I6O",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:sqs:eu-west-1:1:job-01HF3Z5K8Q2W4E6R8T0Y2U4I7P",
                "2026-10-15T01:00:00Z",
            ),
            (
                "arn:aws:sqs:eu-west-1:1:other-01HF3Z5K8Q2W4E6R8T0Y2U4I6O",
                "2026-10-15T01:00:00Z",
            ),
        ]);
        assert!(
            t.resources.contains("arn:aws:sqs:eu-west-1:1:job-*"),
            "{:?}",
            t.resources
        );
        assert!(t
            .resources
            .contains("arn:aws:sqs:eu-west-1:1:other-01HF3Z5K8Q2W4E6R8T0Y2U4I6O"));
    }

    #[test]
    fn counters_vary_beside_a_clock_field_with_enough_values() {
        let parts = |n: usize| -> Vec<(String, &str)> {
            (0..n)
                .map(|i| {
                    (
                        format!("arn:aws:s3:::b/s/2026-11-20/part-{i:04}.parquet"),
                        "2026-11-20T02:00:00Z",
                    )
                })
                .collect()
        };
        let three = parts(3);
        let names: Vec<(&str, &str)> = three.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(
            patterns(&learn_at(&names)),
            ["arn:aws:s3:::b/s/????-??-??/part-????.parquet"]
        );
        let two = parts(2);
        let names: Vec<(&str, &str)> = two.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(
            patterns(&learn_at(&names)),
            [
                "arn:aws:s3:::b/s/????-??-??/part-0000.parquet",
                "arn:aws:s3:::b/s/????-??-??/part-0001.parquet"
            ]
        );
        // Without a clock or id field, counters are left to the longest-common-prefix rule.
        let names = [
            ("arn:aws:s3:::b/r/report-01.csv", "2026-11-20T02:00:00Z"),
            ("arn:aws:s3:::b/r/report-02.csv", "2026-11-20T02:00:00Z"),
            ("arn:aws:s3:::b/r/report-03.csv", "2026-11-20T02:00:00Z"),
        ];
        let t = learn_at(&names);
        assert!(t.templates.is_empty());
        assert_eq!(t.resources.len(), 3);
    }

    #[test]
    fn epoch_times_and_compact_stamps_follow_the_clock() {
        let t = learn_at(&[
            (
                "arn:aws:s3:::b/snap/1792108800/state.json",
                "2026-10-15T00:00:30Z",
            ),
            (
                "arn:aws:s3:::b/dump/20261015T0300Z.sql",
                "2026-10-15T03:05:00Z",
            ),
            ("arn:aws:s3:::b/d/20261015/x", "2026-10-15T03:05:00Z"),
        ]);
        assert_eq!(
            patterns(&t),
            [
                "arn:aws:s3:::b/d/????????/x",
                "arn:aws:s3:::b/dump/??????????????.sql",
                "arn:aws:s3:::b/snap/??????????/state.json"
            ]
        );
    }

    #[test]
    fn no_template_reaches_a_refused_resource() {
        let observed: Vec<Observed> = ["arn:aws:s3:::b/in/2026-10-15/a"]
            .iter()
            .map(|r| Observed {
                resource: r,
                first: at("2026-10-15T01:00:00Z"),
                last: at("2026-10-15T01:00:00Z"),
                calls: 1,
            })
            .collect();
        let refused = BTreeSet::from(["arn:aws:s3:::b/in/2025-01-01/a".to_string()]);
        let t = learn(&observed, 3, &refused);
        assert_eq!(patterns(&t), ["arn:aws:s3:::b/in/2026-10-15/a"]);
        assert_eq!(t.narrowed, ["arn:aws:s3:::b/in/????-??-??/a"]);
    }
}
