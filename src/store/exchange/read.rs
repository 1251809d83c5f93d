//! An export read as a stream, twice: its header first (the rows skipped as they are met), then
//! its rows one at a time. Reading the file whole, parsing it whole and keeping a copy for the
//! database made a 100 MB export cost 474 MB; this holds one row at a time, whatever the size.
//! Two passes, because the header must be known before the first row is stored, and a file
//! whose keys were sorted (`jq -S`) has its rows first.

use super::{ImportError, FORMAT, VERSION};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// What an export says of itself.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Header {
    pub format: String,
    pub version: u32,
    pub origin: String,
    pub sequence: i64,
}

/// The longest origin `export` could have written is 32 hex digits; some room is left for other
/// writers, but not for a name that would fill the terminal or the `imports` table.
const MAX_ORIGIN: usize = 128;

/// Reads the header of the export at `path` (the rows are skipped, not kept). The error names
/// the file and says why it is not an export this binary reads.
pub(super) fn header(path: &Path) -> Result<Header, ImportError> {
    let header: Header =
        serde_json::from_reader(open(path).map_err(|e| ImportError::Refused(e.to_string()))?)
            .map_err(|e| {
                ImportError::Refused(format!(
                    "{}: not evidence exported by `policy-miner export` ({e})",
                    path.display()
                ))
            })?;
    if header.format != FORMAT || header.version > VERSION {
        return Err(ImportError::Refused(format!(
            "{}: format {:?} version {}, this policy-miner reads {FORMAT:?} up to version \
             {VERSION}; upgrade policy-miner",
            path.display(),
            header.format,
            header.version
        )));
    }
    let printable = header.origin.chars().all(|c| c.is_ascii_graphic());
    if header.origin.is_empty() || header.origin.len() > MAX_ORIGIN || !printable {
        return Err(ImportError::Refused(format!(
            "{}: its origin {:?} is not a database identity `policy-miner export` writes",
            path.display(),
            header.origin.chars().take(MAX_ORIGIN).collect::<String>()
        )));
    }
    Ok(header)
}

/// An export that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read it ({error})", path.display())]
struct Unopened {
    path: PathBuf,
    error: std::io::Error,
}

/// The file, buffered.
fn open(path: &Path) -> Result<BufReader<File>, Unopened> {
    let file = File::open(path).map_err(|error| Unopened {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

/// The lists of rows an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Evidence,
    Ungranted,
}

impl List {
    /// The list's name in the file.
    pub(super) fn name(self) -> &'static str {
        match self {
            List::Evidence => "evidence",
            List::Ungranted => "ungranted",
        }
    }
}

/// Why reading the rows stopped before the end of the file.
#[derive(Debug)]
pub(super) enum Stopped<E> {
    /// The file cannot be read, or is not JSON to its end; the words say where.
    Unreadable(String),
    /// The callback returned this error.
    By(E),
}

/// What is done with each row: its list, its index in the list, and its JSON text.
pub(super) type Each<'a, E> = dyn FnMut(List, usize, &RawValue) -> Result<(), E> + 'a;

/// Hands each row of the export at `path` to `each` as it is read. The first error of `each`
/// stops the reading and is handed back.
pub(super) fn rows<E>(path: &Path, each: &mut Each<'_, E>) -> Result<(), Stopped<E>> {
    let file = open(path).map_err(|e| Stopped::Unreadable(e.to_string()))?;
    let mut json = serde_json::Deserializer::from_reader(file);
    let mut stopped = None;
    let read = de::Deserializer::deserialize_map(
        &mut json,
        Body {
            each,
            stopped: &mut stopped,
        },
    )
    .and_then(|()| json.end());
    match (stopped, read) {
        (Some(e), _) => Err(Stopped::By(e)),
        (None, Err(e)) => Err(Stopped::Unreadable(format!("unreadable ({e})"))),
        (None, Ok(())) => Ok(()),
    }
}

/// The export's top-level object: its two lists of rows are read row by row, the rest skipped.
struct Body<'a, 'e, E> {
    each: &'a mut Each<'e, E>,
    stopped: &'a mut Option<E>,
}

impl<'de, E> Visitor<'de> for Body<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object written by `policy-miner export`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Body { each, stopped } = self;
        while let Some(key) = map.next_key::<String>()? {
            let list = match key.as_str() {
                "evidence" => List::Evidence,
                "ungranted" => List::Ungranted,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(Rows {
                list,
                each: &mut *each,
                stopped: &mut *stopped,
            })?;
        }
        Ok(())
    }
}

/// One list of rows.
struct Rows<'a, 'e, E> {
    list: List,
    each: &'a mut Each<'e, E>,
    stopped: &'a mut Option<E>,
}

impl<'de, E> DeserializeSeed<'de> for Rows<'_, '_, E> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, E> Visitor<'de> for Rows<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {} rows", self.list.name())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Rows {
            list,
            each,
            stopped,
        } = self;
        let mut index = 0;
        while let Some(row) = seq.next_element::<Box<RawValue>>()? {
            if let Err(e) = each(list, index, &row) {
                *stopped = Some(e);
                return Err(de::Error::custom("stopped by a failure to store a row"));
            }
            index += 1;
        }
        Ok(())
    }
}
