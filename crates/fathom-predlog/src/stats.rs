//! Counters shared by the callers and the writer thread.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the log's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    /// Records waiting for the writer now.
    pub queued: u64,
    /// Records written (and, under `Fsync`, fsynced).
    pub written: u64,
    /// Records refused because the queue was full.
    pub dropped: u64,
    /// Records whose write failed (their tickets carry the error).
    pub failed: u64,
    /// Predictions whose inputs were not a UTF-8 JSON object (or did not
    /// sanitise); they are logged with `null` inputs.
    pub invalid_inputs: u64,
    /// fsync calls made by the writer.
    pub fsyncs: u64,
    /// Bytes written to segment files.
    pub bytes: u64,
    /// Segment files started by this log.
    pub segments: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub invalid_inputs: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LogStats {
        LogStats {
            queued: self.queued.load(Relaxed),
            written: self.written.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            failed: self.failed.load(Relaxed),
            invalid_inputs: self.invalid_inputs.load(Relaxed),
            fsyncs: self.fsyncs.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            segments: self.segments.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
