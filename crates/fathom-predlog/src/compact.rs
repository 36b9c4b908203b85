//! Compaction: closed segments become Parquet, atomically.

use crate::error::{LogError, Result};
use crate::parquet_io::{self, FEEDBACK_FILE, PREDICTIONS_FILE};
use crate::segment::{self, KIND_PREDICTION, Listing, STAGING_PREFIX};
use crate::writer::sync_dir;
use serde::Serialize;
use std::fs::File;
use std::path::Path;

/// Name of the lock file a running compaction holds.
const COMPACT_LOCK: &str = "compact.lock";

/// What [`compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// Segments compacted.
    pub segments: usize,
    /// Prediction records moved to Parquet.
    pub predictions: u64,
    /// Feedback records moved to Parquet.
    pub feedback: u64,
    /// Size of the compacted segments.
    pub segment_bytes: u64,
    /// Size of the Parquet files written.
    pub parquet_bytes: u64,
    /// Leftovers of an interrupted compaction removed (segments already in
    /// Parquet, staging folders).
    pub leftovers: usize,
}

/// Turns every closed segment of the log in `dir` into a compacted folder
/// `seg-<seq>.compacted/` holding `predictions.parquet` and
/// `feedback.parquet` (each only when it has rows).
///
/// Each folder is written under a staging name, fsynced and renamed into
/// place; only then is its segment removed. Readers prefer a compacted
/// folder over a segment of the same number, so an interruption at any
/// point loses and duplicates nothing; the next run removes what it left.
/// The newest segment is left alone while a writer holds the folder and
/// may be appending to it (it has no footer yet). When no process writes
/// the log it is compacted too, unless its tail is torn (only opening the
/// log repairs that); the writer lock is held meanwhile, so a log opened
/// during the compaction fails with [`LogError::Locked`]. A closed segment
/// with a damaged frame is an error and stays as it is.
pub fn compact(dir: &Path) -> Result<CompactReport> {
    let _lock = lock(dir)?;
    let idle = crate::log::try_writer_lock(dir)?;
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    let mut report = CompactReport::default();
    for staged in &listing.staging {
        let name = staged
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(&format!("{STAGING_PREFIX}compact-"))
            && std::fs::remove_dir_all(staged).is_ok()
        {
            report.leftovers += 1;
        }
    }
    for old in &listing.superseded {
        if std::fs::remove_file(&old.path).is_ok() {
            report.leftovers += 1;
        }
    }
    let newest = listing.newest_segment().map(|e| e.seq);
    for entry in &listing.segments {
        let is_newest = Some(entry.seq) == newest;
        // A segment with its footer is closed for good (a writer appends
        // to a new one); the newest without it may be being written.
        if is_newest
            && idle.is_none()
            && segment::read_footer(&entry.path)
                .map_err(|e| LogError::io(&entry.path, "read", e))?
                .is_none()
        {
            continue;
        }
        let bytes = std::fs::read(&entry.path).map_err(|e| LogError::io(&entry.path, "read", e))?;
        let scan = segment::scan(&bytes);
        if is_newest && scan.bad.is_some() {
            continue;
        }
        if let Some((offset, detail)) = scan.bad {
            return Err(LogError::Corrupt {
                path: entry.path.clone(),
                offset,
                detail,
            });
        }
        let mut predictions = Vec::with_capacity(scan.summary.predictions as usize);
        let mut feedback = Vec::with_capacity(scan.summary.feedback as usize);
        for frame in &scan.frames {
            // scan() decoded every frame already; a failure here is a bug.
            if frame.kind == KIND_PREDICTION {
                predictions.push(
                    segment::decode_prediction(frame.payload).map_err(|_| LogError::Internal)?,
                );
            } else {
                feedback
                    .push(segment::decode_feedback(frame.payload).map_err(|_| LogError::Internal)?);
            }
        }
        let staged = dir.join(format!("{STAGING_PREFIX}compact-{:010}", entry.seq));
        let _ = std::fs::remove_dir_all(&staged);
        std::fs::create_dir(&staged)
            .map_err(|e| LogError::io(&staged, "create staging folder", e))?;
        if !predictions.is_empty() {
            report.parquet_bytes +=
                parquet_io::write_predictions(&staged.join(PREDICTIONS_FILE), &predictions)?;
        }
        if !feedback.is_empty() {
            report.parquet_bytes +=
                parquet_io::write_feedback(&staged.join(FEEDBACK_FILE), &feedback)?;
        }
        sync_dir(&staged)?;
        let target = dir.join(segment::compacted_name(entry.seq));
        std::fs::rename(&staged, &target)
            .map_err(|e| LogError::io(&target, "rename compacted folder", e))?;
        sync_dir(dir)?;
        std::fs::remove_file(&entry.path)
            .map_err(|e| LogError::io(&entry.path, "remove compacted segment", e))?;
        report.segments += 1;
        report.predictions += predictions.len() as u64;
        report.feedback += feedback.len() as u64;
        report.segment_bytes += bytes.len() as u64;
    }
    if report.segments + report.leftovers > 0 {
        sync_dir(dir)?;
    }
    Ok(report)
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(COMPACT_LOCK);
    let file = crate::log::open_lock_file(&path)?;
    match crate::log::lock_patiently(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(LogError::CompactionBusy { path }),
        Err(e) => Err(LogError::io(&path, "lock", e)),
    }
}
