//! Local files and directories of trace files.

use super::{Listing, SkipReason, Skipped, Unit, UnitSource};
use crate::observe::TimeWindow;
use flate2::read::MultiGzDecoder;
use std::collections::HashSet;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// Upper bound on one decompressed file, so that a hostile or broken file cannot exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 2 << 30;

/// The files to read, found by walking the arguments.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<PathBuf>,
    /// Paths that could not be walked (missing, unreadable directory, symlink loop).
    pub skipped: Vec<Skipped>,
    /// Files under a directory that are not trace files by name (`.json`, `.json.gz`, …).
    pub ignored: u64,
}

/// True for names a directory walk picks up. Files named explicitly are read whatever their name.
pub fn is_trace_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        ".json",
        ".json.gz",
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".ndjson.gz",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

/// The local files and directories named on the command line, as a [`UnitSource`]: each file is
/// a unit, identified by its content.
pub struct LocalFiles {
    paths: Vec<PathBuf>,
    /// The files listed, by [`Unit::index`].
    files: Vec<PathBuf>,
}

impl LocalFiles {
    pub fn new(paths: Vec<PathBuf>) -> LocalFiles {
        LocalFiles {
            paths,
            files: Vec::new(),
        }
    }
}

impl UnitSource for LocalFiles {
    /// The files found under the paths, less those whose delivery date (in their path) lies
    /// outside the window; a file named explicitly is read whatever its path says.
    fn list<'a>(
        &'a mut self,
        window: &'a TimeWindow,
    ) -> Pin<Box<dyn Future<Output = Listing> + Send + 'a>> {
        Box::pin(async move {
            let found = discover(&self.paths);
            let named: HashSet<&Path> = self.paths.iter().map(PathBuf::as_path).collect();
            let (files, outside): (Vec<PathBuf>, Vec<PathBuf>) =
                found.files.into_iter().partition(|path| {
                    named.contains(path.as_path()) || !window.excludes_delivery_path(path)
                });
            let listing = Listing {
                units: files
                    .iter()
                    .enumerate()
                    .map(|(index, path)| Unit {
                        name: path.display().to_string(),
                        checkpoint: None,
                        index,
                    })
                    .collect(),
                found: (files.len() + outside.len()) as u64,
                outside_window: outside.len() as u64,
                ignored: found.ignored,
                skipped: found.skipped,
                more: None,
                stopped: None,
            };
            self.files = files;
            listing
        })
    }

    fn fetch(
        &self,
        unit: &Unit,
        into: &mut Vec<u8>,
        _runtime: &tokio::runtime::Handle,
    ) -> Result<(), String> {
        into.clear();
        std::fs::File::open(&self.files[unit.index])
            .and_then(|mut f| f.read_to_end(into))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Walks files and directories (recursively, following symlinks, detecting loops), in a stable order.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => found.skipped.push(Skipped {
                unit: path.display().to_string(),
                reason: SkipReason::Unreadable,
                detail: e.to_string(),
            }),
            Ok(meta) if meta.is_file() => found.files.push(path.clone()),
            Ok(_) => walk_dir(path, &mut found),
        }
    }
    found
}

fn walk_dir(dir: &Path, found: &mut Discovery) {
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if is_trace_name(&e.file_name().to_string_lossy()) {
                    found.files.push(e.into_path());
                } else {
                    found.ignored += 1;
                }
            }
            Ok(_) => {}
            Err(e) => found.skipped.push(Skipped {
                unit: e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| dir.display().to_string()),
                reason: SkipReason::Unreadable,
                detail: e
                    .loop_ancestor()
                    .map(|a| format!("symlink loop back to {}", a.display()))
                    .unwrap_or_else(|| e.to_string()),
            }),
        }
    }
}

/// Reads a file whole, gunzipping it when it starts with the gzip magic (whatever its name says).
pub fn read_unit(path: &Path) -> Result<Vec<u8>, Skipped> {
    let skipped = |reason, detail: String| Skipped {
        unit: path.display().to_string(),
        reason,
        detail,
    };
    let raw = std::fs::read(path).map_err(|e| skipped(SkipReason::Unreadable, e.to_string()))?;
    decompress(&raw).map_err(|(reason, detail)| skipped(reason, detail))
}

/// Gunzips when the bytes carry the gzip magic; returns other bytes unchanged.
pub fn decompress(raw: &[u8]) -> Result<Vec<u8>, (SkipReason, String)> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(8));
    decompress_into(raw, &mut out)?;
    Ok(out)
}

/// Gunzips `raw` into `out` (cleared first), reusing its buffer: a worker that reads many files
/// keeps one buffer instead of allocating (and the allocator consolidating) one per file.
pub fn decompress_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), (SkipReason, String)> {
    out.clear();
    let mut reader = MultiGzDecoder::new(raw).take(MAX_DECOMPRESSED + 1);
    match reader.read_to_end(out) {
        Ok(_) if out.len() as u64 > MAX_DECOMPRESSED => Err((
            SkipReason::TooLarge,
            format!("more than {} bytes once decompressed", MAX_DECOMPRESSED),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err((SkipReason::TruncatedGzip, e.to_string())),
    }
}

/// A gzip stream decompressed a piece at a time, with the limits of [`decompress_into`]; any
/// problem is only `None` here (decompress the whole file to say what it is).
pub struct Gunzip<'r> {
    decoder: MultiGzDecoder<&'r [u8]>,
    total: u64,
}

impl<'r> Gunzip<'r> {
    pub fn new(raw: &'r [u8]) -> Self {
        Gunzip {
            decoder: MultiGzDecoder::new(raw),
            total: 0,
        }
    }

    /// Fills `out` with the next decompressed bytes; fewer than its length only at the end.
    pub fn read(&mut self, out: &mut [u8]) -> Option<usize> {
        let mut n = 0;
        while n < out.len() {
            match self.decoder.read(&mut out[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        self.total += n as u64;
        (self.total <= MAX_DECOMPRESSED).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzips_by_magic_not_by_name() {
        assert_eq!(
            decompress(&gz(b"{\"Records\":[]}")).unwrap(),
            b"{\"Records\":[]}"
        );
        assert_eq!(decompress(b"[]").unwrap(), b"[]");
    }

    #[test]
    fn a_truncated_gzip_is_named_as_such() {
        let full = gz(&vec![b'x'; 10_000]);
        let err = decompress(&full[..full.len() / 2]).unwrap_err();
        assert_eq!(err.0, SkipReason::TruncatedGzip);
    }

    #[test]
    fn trace_names() {
        assert!(is_trace_name(
            "a_CloudTrail_eu-west-1_20261120T1205Z_x.json.gz"
        ));
        assert!(is_trace_name("events.JSON"));
        assert!(!is_trace_name("digest.txt"));
        assert!(!is_trace_name("a.json.gz.tmp"));
    }
}
