//! Shipping compacted segments elsewhere (an object store) and reading
//! them back: what the crate does for a copier, without doing the copying.
//!
//! Each log folder names itself with a replica id ([`replica_id`], kept in
//! `replica.id`), so that the segments of several serving replicas, each
//! with its own folder, keep distinct names `(replica, seq)` once they
//! meet in one place. A copier (the server's shipper) lists the compacted
//! folders not yet shipped ([`unshipped`]), copies their Parquet files,
//! records them, and marks each folder shipped ([`mark_shipped`]); an
//! interruption before the mark ships the folder again, which the record
//! of `(replica, seq, kind)` makes harmless. A reader downloads shipped
//! files into a cache folder per replica ([`install_shipped`]) and reads
//! the cache folders with the local one ([`crate::LogReader::open_many`]).

use crate::error::{LogError, Result};
use crate::parquet_io::{self, FEEDBACK_FILE, PREDICTIONS_FILE};
use crate::segment::{self, Listing, STAGING_PREFIX};
use crate::writer::sync_dir;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in a log folder holding its replica id.
const REPLICA_FILE: &str = "replica.id";
/// The file in a compacted folder marking it shipped.
const SHIPPED_MARK: &str = "shipped";

/// Which records a compacted file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFileKind {
    /// Answered predictions (`predictions.parquet`).
    Predictions,
    /// Feedback labels (`feedback.parquet`).
    Feedback,
}

impl LogFileKind {
    /// `predictions` or `feedback`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFileKind::Predictions => "predictions",
            LogFileKind::Feedback => "feedback",
        }
    }

    /// The kind named by [`LogFileKind::as_str`].
    pub fn parse(s: &str) -> Option<LogFileKind> {
        match s {
            "predictions" => Some(LogFileKind::Predictions),
            "feedback" => Some(LogFileKind::Feedback),
            _ => None,
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            LogFileKind::Predictions => PREDICTIONS_FILE,
            LogFileKind::Feedback => FEEDBACK_FILE,
        }
    }
}

/// One Parquet file of a compacted segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipFile {
    /// What it holds.
    pub kind: LogFileKind,
    /// Where it is.
    pub path: PathBuf,
    /// Its rows.
    pub rows: u64,
    /// Time of its oldest record, ms since the epoch.
    pub min_time_ms: i64,
    /// Time of its newest record.
    pub max_time_ms: i64,
}

/// A compacted segment not yet shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipment {
    /// Its sequence number in the log folder.
    pub seq: u64,
    /// Its files (one or two).
    pub files: Vec<ShipFile>,
}

/// The replica id of the log in `dir`: read from `replica.id`, or made
/// (16 hex digits from the time, process and folder) and written
/// atomically the first time. The folder must exist.
pub fn replica_id(dir: &Path) -> Result<String> {
    let path = dir.join(REPLICA_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if is_replica_id(id) {
                return Ok(id.to_string());
            }
            return Err(LogError::Corrupt {
                path,
                offset: 0,
                detail: format!(
                    "'{id}' is not a replica id (16 hex digits); delete the file and a new id is made"
                ),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LogError::io(&path, "read", e)),
    }
    let mut h = Sha256::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(dir.to_string_lossy().as_bytes());
    let id = hex::encode(&h.finalize()[..8]);
    let staged = dir.join(format!("{STAGING_PREFIX}{REPLICA_FILE}"));
    write_synced(&staged, format!("{id}\n").as_bytes())?;
    // Two processes racing here: the first rename wins for good, and
    // both read the winner back.
    if std::fs::hard_link(&staged, &path).is_err() && !path.exists() {
        return Err(LogError::io(
            &path,
            "create",
            std::io::Error::other("cannot create the replica id file"),
        ));
    }
    let _ = std::fs::remove_file(&staged);
    sync_dir(dir)?;
    let id = std::fs::read_to_string(&path).map_err(|e| LogError::io(&path, "read", e))?;
    Ok(id.trim().to_string())
}

/// Whether `s` has the form of a replica id (16 lower-case hex digits).
pub fn is_replica_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The compacted folders of the log in `dir` not yet marked shipped,
/// oldest first, with each file's rows and time range.
pub fn unshipped(dir: &Path) -> Result<Vec<Shipment>> {
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    let mut out = Vec::new();
    for entry in &listing.compacted {
        if entry.path.join(SHIPPED_MARK).exists() {
            continue;
        }
        let mut files = Vec::new();
        for kind in [LogFileKind::Predictions, LogFileKind::Feedback] {
            let path = entry.path.join(kind.file_name());
            if !path.exists() {
                continue;
            }
            let s = parquet_io::read_summary(&path)?;
            files.push(ShipFile {
                kind,
                path,
                rows: s.predictions,
                min_time_ms: s.min_time_ms,
                max_time_ms: s.max_time_ms,
            });
        }
        out.push(Shipment {
            seq: entry.seq,
            files,
        });
    }
    Ok(out)
}

/// Marks compacted segment `seq` of the log in `dir` shipped.
pub fn mark_shipped(dir: &Path, seq: u64) -> Result<()> {
    let folder = dir.join(segment::compacted_name(seq));
    let mark = folder.join(SHIPPED_MARK);
    write_synced(&mark, b"")?;
    sync_dir(&folder)
}

/// The sequence numbers the log in `dir` holds itself (segments and
/// compacted folders), so that a reader skips the shipped copies of them.
pub fn local_sequences(dir: &Path) -> Result<BTreeSet<u64>> {
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    Ok(listing
        .segments
        .iter()
        .chain(&listing.compacted)
        .chain(&listing.superseded)
        .map(|e| e.seq)
        .collect())
}

/// Where a shipped file of segment `seq` belongs in the cache folder
/// `cache` of its replica.
pub fn shipped_path(cache: &Path, seq: u64, kind: LogFileKind) -> PathBuf {
    cache
        .join(segment::compacted_name(seq))
        .join(kind.file_name())
}

/// Writes a downloaded file of segment `seq` into the replica cache folder
/// `cache` (created if missing), atomically: a reader sees the whole file
/// or none.
pub fn install_shipped(cache: &Path, seq: u64, kind: LogFileKind, bytes: &[u8]) -> Result<PathBuf> {
    let target = shipped_path(cache, seq, kind);
    let folder = target.parent().unwrap_or(cache).to_path_buf();
    std::fs::create_dir_all(&folder).map_err(|e| LogError::io(&folder, "create folder", e))?;
    let staged = folder.join(format!("{STAGING_PREFIX}{}", kind.file_name()));
    write_synced(&staged, bytes)?;
    std::fs::rename(&staged, &target).map_err(|e| LogError::io(&target, "rename", e))?;
    sync_dir(&folder)?;
    Ok(target)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| LogError::io(path, "create", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io(path, "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = replica_id(dir.path()).unwrap();
        assert!(is_replica_id(&a), "{a}");
        assert_eq!(replica_id(dir.path()).unwrap(), a);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(replica_id(other.path()).unwrap(), a);
    }

    #[test]
    fn a_damaged_replica_id_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REPLICA_FILE), "not-an-id").unwrap();
        let e = replica_id(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("replica.id") && e.contains("delete the file"),
            "{e}"
        );
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in [LogFileKind::Predictions, LogFileKind::Feedback] {
            assert_eq!(LogFileKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LogFileKind::parse("other"), None);
    }
}
