//! The delivery format `{"Records":[…]}` read with the JSON scanner: the hot path of observe.
//!
//! It reads the same fields as [`RawEvent`](super::RawEvent) with the same rules serde's derive
//! applies (`null` is absent, a field given twice is an error, any other type is an error) and
//! checks everything else without building it. Whatever serde_json might read differently is
//! refused, and the caller falls back to it.
//!
//! The document may come in pieces: the reader consumes whole units (a member of the top-level
//! object, an event) and leaves an unfinished one for the next piece, so a file can be read
//! while it is being decompressed, a piece at a time, without ever being whole in memory.

use super::{emit, DecodeStats, Fields, Identity, Issuer};
use crate::call::{ApiCall, EventResource};
use crate::source::json::{Bail, Scan, Scanner};

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: a byte-order mark may come first.
    Start,
    /// Whitespace before the opening brace (any ASCII whitespace, as the serde path trims it).
    Lead,
    /// In the top-level object before `Records`; `first` until a member has been read.
    Head { first: bool },
    /// In `Records`; `first` until an event has been read.
    Events { first: bool },
    /// In the top-level object after `Records`.
    Tail,
    /// After the closing brace: only whitespace may follow.
    End,
}

impl State {
    /// Objects and arrays open at this point, for the scanner's depth limit.
    fn depth(self) -> u32 {
        match self {
            State::Start | State::Lead | State::End => 0,
            State::Head { .. } | State::Tail => 1,
            State::Events { .. } => 2,
        }
    }
}

pub(crate) struct Reader {
    state: State,
    stats: DecodeStats,
}

impl Reader {
    pub(crate) fn new() -> Self {
        Reader {
            state: State::Start,
            stats: DecodeStats::default(),
        }
    }

    /// Reads the whole units at the start of `text` and returns how many bytes they took; the
    /// rest must be given again, with what follows it, to the next call. `last`: nothing follows
    /// `text`, so an unfinished unit is an error.
    pub(crate) fn feed(
        &mut self,
        text: &str,
        last: bool,
        sink: &mut dyn FnMut(&ApiCall<'_>),
    ) -> Scan<usize> {
        let mut s = Scanner::new(text, self.state.depth());
        // One vector for the piece: events do not allocate.
        let mut resources = Vec::new();
        let mut done = 0;
        while self.state != State::End {
            match self.unit(&mut s, &mut resources, sink) {
                Ok(()) => done = s.pos(),
                Err(Bail) if s.ran_out() && !last => return Ok(done),
                Err(Bail) => return Err(Bail),
            }
        }
        // Only whitespace may follow the document.
        if s.at_end() {
            Ok(text.len())
        } else {
            Err(Bail)
        }
    }

    /// The counts, once the whole document has been read.
    pub(crate) fn finish(self) -> Option<DecodeStats> {
        (self.state == State::End).then_some(self.stats)
    }

    /// Reads one unit and moves to the state after it; on an error the state is unchanged.
    fn unit<'a>(
        &mut self,
        s: &mut Scanner<'a>,
        resources: &mut Vec<EventResource<'a>>,
        sink: &mut dyn FnMut(&ApiCall<'_>),
    ) -> Scan<()> {
        match self.state {
            State::Start => {
                s.skip_bom()?;
                self.state = State::Lead;
            }
            State::Lead => {
                s.skip_ascii_whitespace()?;
                s.expect(b'{')?;
                self.state = State::Head { first: true };
            }
            State::Head { first } => match s.next_key(first)? {
                Some("Records") => {
                    s.expect(b'[')?;
                    self.state = State::Events { first: true };
                }
                // Events and eventSource give the document another meaning to the serde path;
                // a document without Records is not a delivery.
                Some("Events" | "eventSource") | None => return Err(Bail),
                Some(_) => {
                    s.skip_value()?;
                    self.state = State::Head { first: false };
                }
            },
            State::Events { first } => {
                if s.next_element(first)? {
                    let mut fields = Fields::default();
                    event(s, &mut fields, resources)?;
                    *resources = emit(&fields, std::mem::take(resources), sink, &mut self.stats);
                    self.state = State::Events { first: false };
                } else {
                    self.state = State::Tail;
                }
            }
            State::Tail => match s.next_key(false)? {
                None => self.state = State::End,
                // A second Records is an error to serde_json.
                Some("Records" | "Events" | "eventSource") => return Err(Bail),
                Some(_) => s.skip_value()?,
            },
            State::End => {}
        }
        Ok(())
    }
}

/// Reads a whole document at once.
pub(super) fn scan(bytes: &[u8], sink: &mut dyn FnMut(&ApiCall<'_>)) -> Option<DecodeStats> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = Reader::new();
    reader.feed(text, true, sink).ok()?;
    reader.finish()
}

/// Marks field `bit` as read; a field given twice is an error to serde's derive.
#[inline]
fn once(seen: &mut u32, bit: u32) -> Scan<()> {
    if *seen & bit != 0 {
        return Err(Bail);
    }
    *seen |= bit;
    Ok(())
}

/// The event's members by hand rather than with [`members`]: this is the innermost loop of
/// observe, and a `match` on the key beats searching a list of names.
fn event<'a>(
    s: &mut Scanner<'a>,
    f: &mut Fields<'a>,
    resources: &mut Vec<EventResource<'a>>,
) -> Scan<()> {
    // An event given as an array is a struct in serde's eyes, read by position: left to it.
    s.expect(b'{')?;
    s.enter()?;
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = s.next_key(first)? {
        first = false;
        let (bit, slot) = match key {
            "eventID" => (1, &mut f.event_id),
            "eventTime" => (1 << 1, &mut f.event_time),
            "eventSource" => (1 << 2, &mut f.event_source),
            "eventName" => (1 << 3, &mut f.event_name),
            "awsRegion" => (1 << 4, &mut f.region),
            "errorCode" => (1 << 5, &mut f.error_code),
            "sourceIPAddress" => (1 << 6, &mut f.source_ip),
            "userAgent" => (1 << 11, &mut f.user_agent),
            "recipientAccountId" => (1 << 7, &mut f.recipient_account),
            "userIdentity" => {
                once(&mut seen, 1 << 8)?;
                f.identity = identity(s)?;
                continue;
            }
            "requestParameters" => {
                once(&mut seen, 1 << 9)?;
                f.request_parameters = if s.null()? {
                    None
                } else {
                    Some(s.raw_value()?)
                };
                continue;
            }
            "resources" => {
                once(&mut seen, 1 << 10)?;
                resource_list(s, resources)?;
                continue;
            }
            _ => {
                s.skip_value()?;
                continue;
            }
        };
        once(&mut seen, bit)?;
        *slot = s.opt_str()?;
    }
    s.leave();
    Ok(())
}

/// Reads an object whose wanted members are the strings named by `strings` (null is absent)
/// and the values named by `nested`, which `read_nested` reads (by their index in `nested`);
/// a member given twice is an error, as to serde's derive. Returns the strings.
fn members<'a, const N: usize>(
    s: &mut Scanner<'a>,
    strings: [&str; N],
    nested: &[&str],
    mut read_nested: impl FnMut(&mut Scanner<'a>, usize) -> Scan<()>,
) -> Scan<[Option<&'a str>; N]> {
    // An object given as an array is a struct in serde's eyes, read by position: left to it.
    s.expect(b'{')?;
    s.enter()?;
    let mut values = [None; N];
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = s.next_key(first)? {
        first = false;
        if let Some(i) = strings.iter().position(|k| *k == key) {
            once(&mut seen, 1 << i)?;
            values[i] = s.opt_str()?;
        } else if let Some(i) = nested.iter().position(|k| *k == key) {
            once(&mut seen, 1 << (N + i))?;
            read_nested(s, i)?;
        } else {
            s.skip_value()?;
        }
    }
    s.leave();
    Ok(values)
}

fn identity<'a>(s: &mut Scanner<'a>) -> Scan<Option<Identity<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    let mut issuer = None;
    let [kind, arn, principal_id, invoked_by] = members(
        s,
        ["type", "arn", "principalId", "invokedBy"],
        &["sessionContext"],
        |s, _| {
            issuer = session_issuer(s)?;
            Ok(())
        },
    )?;
    Ok(Some(Identity {
        kind,
        arn,
        principal_id,
        invoked_by,
        issuer,
    }))
}

/// `sessionContext`, of which only `sessionIssuer` is read.
fn session_issuer<'a>(s: &mut Scanner<'a>) -> Scan<Option<Issuer<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    let mut issuer = None;
    members(s, [], &["sessionIssuer"], |s, _| {
        if !s.null()? {
            let [kind, arn, account] =
                members(s, ["type", "arn", "accountId"], &[], |_, _| Ok(()))?;
            issuer = Some(Issuer { kind, arn, account });
        }
        Ok(())
    })?;
    Ok(issuer)
}

/// `resources[]`: the entries with an ARN, in order.
fn resource_list<'a>(s: &mut Scanner<'a>, out: &mut Vec<EventResource<'a>>) -> Scan<()> {
    if s.null()? {
        return Ok(());
    }
    s.expect(b'[')?;
    s.enter()?;
    let mut first = true;
    while s.next_element(first)? {
        first = false;
        let [arn, kind] = members(s, ["ARN", "type"], &[], |_, _| Ok(()))?;
        if let Some(arn) = arn {
            out.push(EventResource {
                arn,
                resource_type: kind,
            });
        }
    }
    s.leave();
    Ok(())
}
