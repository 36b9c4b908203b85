//! How the log is written: folder, durability, queue and batch sizes,
//! segment size, retention and the PII sanitiser.

use crate::error::{LogError, Result};
use crate::sanitize::Sanitizer;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// When an appended record counts as logged.
///
/// The trade-off is throughput and disk wear against what a crash may lose;
/// see `docs/prediction-log.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Group commit: the writer drains up to `max_batch` queued records,
    /// writes them with one write and one `fsync`, then resolves their
    /// tickets. A resolved ticket survives a crash of the process and of
    /// the machine.
    #[default]
    Fsync,
    /// Records are gathered for `flush_interval` (or until `max_batch` are
    /// waiting), written to the operating system with one write, and their
    /// tickets resolve after that write; the file is fsynced once per
    /// interval. A resolved ticket survives a crash of the process; a crash
    /// of the machine may lose the last interval.
    Buffered,
}

/// The configuration of a [`crate::PredictionLog`].
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// The log folder (created if missing).
    pub dir: PathBuf,
    /// When a record counts as logged.
    pub durability: Durability,
    /// Records that may wait for the writer; beyond it `append` refuses
    /// and counts the record as dropped. At least 1.
    pub queue_capacity: usize,
    /// Most records written by one write (and, under `Fsync`, one fsync). At least 1.
    pub max_batch: usize,
    /// Under `Buffered`, how often gathered records are written and the
    /// file fsynced. Unused under `Fsync`, which never waits on purpose.
    pub flush_interval: Duration,
    /// A segment is closed and a new one started once it reaches this size
    /// (it may exceed it by one batch). At least 4 KiB.
    pub segment_max_bytes: u64,
    /// A segment holding records is also closed once it is this old, so
    /// that a quiet log still closes segments for compaction and shipping
    /// (see [`crate::ship`]). `None`: closed by size only.
    pub segment_max_age: Option<Duration>,
    /// Whole segments and compacted files whose newest record is older than
    /// this are removed, at open and then periodically by the writer.
    pub retention: Option<Duration>,
    /// Which input fields are hashed or dropped before they reach disk.
    pub sanitize: Sanitizer,
}

impl LogConfig {
    /// The defaults for a log in `dir`: `Fsync`, a queue of 65,536 records,
    /// batches of up to 4,096, a 200 ms buffered flush interval, 64 MiB
    /// segments closed by size only, no retention, no sanitising.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            durability: Durability::Fsync,
            queue_capacity: 65_536,
            max_batch: 4_096,
            flush_interval: Duration::from_millis(200),
            segment_max_bytes: 64 << 20,
            segment_max_age: None,
            retention: None,
            sanitize: Sanitizer::default(),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        let bad = |detail: String| Err(LogError::Config { detail });
        if self.queue_capacity == 0 {
            return bad("queue_capacity is 0; it must be at least 1 (65536 is the default)".into());
        }
        if self.max_batch == 0 {
            return bad("max_batch is 0; it must be at least 1 (4096 is the default)".into());
        }
        if self.flush_interval.is_zero() && self.durability == Durability::Buffered {
            return bad("flush_interval is 0 under buffered durability; give it at least 1 ms (200 ms is the default)".into());
        }
        if self.segment_max_bytes < 4096 {
            return bad(format!(
                "segment_max_bytes is {}; it must be at least 4096 (64 MiB is the default)",
                self.segment_max_bytes
            ));
        }
        if self
            .segment_max_age
            .is_some_and(|a| a < Duration::from_millis(10))
        {
            return bad(
                "segment_max_age is under 10 ms; give at least 10 ms, or none to close segments by size only".into(),
            );
        }
        if self.retention.is_some_and(|r| r.is_zero()) {
            return bad(
                "retention is 0; give a positive duration, or none to keep everything".into(),
            );
        }
        self.sanitize.check()
    }
}
