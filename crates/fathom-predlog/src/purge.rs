//! Retention: removing whole segments and compacted folders whose newest
//! record is older than a cut-off.

use crate::error::{LogError, Result};
use crate::parquet_io;
use crate::segment::{self, Entry, Listing, STAGING_PREFIX, Summary};
use crate::writer::sync_dir;
use serde::Serialize;
use std::path::Path;

/// What [`purge`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Segment files removed.
    pub segments: usize,
    /// Compacted folders removed.
    pub compacted: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Removes every closed segment and compacted folder of the log in `dir`
/// whose newest record is older than `older_than_ms` (milliseconds since the
/// epoch). The newest segment is never removed (a writer may be appending
/// to it). Safe to run while the log is written and read: readers that
/// listed a removed file list the folder again.
pub fn purge(dir: &Path, older_than_ms: i64) -> Result<PurgeReport> {
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    let newest = listing.newest_segment().map(|e| e.seq);
    let mut report = PurgeReport::default();
    for entry in listing.segments.iter().chain(&listing.superseded) {
        if Some(entry.seq) == newest {
            continue;
        }
        let Some(summary) = segment_summary(&entry.path)? else {
            continue;
        };
        if summary.max_time_ms < older_than_ms {
            let bytes = file_len(&entry.path);
            match std::fs::remove_file(&entry.path) {
                Ok(()) => {
                    report.segments += 1;
                    report.bytes += bytes;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&entry.path, "remove segment", e)),
            }
        }
    }
    for entry in &listing.compacted {
        let Some(summary) = compacted_summary(entry)? else {
            continue;
        };
        if summary.max_time_ms < older_than_ms {
            // Renamed out of sight first, so that no reader sees half of it.
            let staged = dir.join(format!("{STAGING_PREFIX}purge-{:010}", entry.seq));
            match std::fs::rename(&entry.path, &staged) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(LogError::io(&entry.path, "move compacted folder", e)),
            }
            report.bytes += dir_len(&staged);
            report.compacted += 1;
            match std::fs::remove_dir_all(&staged) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&staged, "remove compacted folder", e)),
            }
        }
    }
    if report.segments + report.compacted > 0 {
        sync_dir(dir)?;
    }
    Ok(report)
}

/// The time range of a segment: from its footer, else from its intact
/// frames. `None` when it vanished meanwhile.
fn segment_summary(path: &Path) -> Result<Option<Summary>> {
    match segment::read_footer(path) {
        Ok(Some(s)) => return Ok(Some(s)),
        Ok(None) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, "read", e)),
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(segment::scan(&bytes).summary)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(path, "read", e)),
    }
}

/// The time range of a compacted folder, from its Parquet files' metadata.
fn compacted_summary(entry: &Entry) -> Result<Option<Summary>> {
    let mut out = Summary::default();
    let mut found = false;
    for name in [parquet_io::PREDICTIONS_FILE, parquet_io::FEEDBACK_FILE] {
        let path = entry.path.join(name);
        if !path.exists() {
            continue;
        }
        match parquet_io::read_summary(&path) {
            Ok(s) => {
                out.merge(&s);
                found = true;
            }
            Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found.then_some(out))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn dir_len(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| rd.flatten().map(|e| file_len(&e.path())).sum())
}
