//! Prediction-log files shipped to the artifact store.
//!
//! Each serving replica writes its prediction log to a folder of its own
//! and ships the compacted segments' Parquet files to the artifact store.
//! The store records each file here, by `(replica, seq, kind)`, with its
//! checksum and the time range of its records, so that a monitoring check
//! anywhere finds the files of every replica that overlap its window.
//! Recording is idempotent: shipping the same file again (after an
//! interruption) finds its row and changes nothing. Garbage collection
//! keeps every file recorded here; [`Store::forget_log_segments`] releases
//! those past the log's retention.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::from_micros;
use crate::error::{RegistryError, Result};
use crate::store::Store;
use crate::value::{Row, params};

/// The kinds of file a segment ships: `predictions` and `feedback`.
pub const LOG_FILE_KINDS: [&str; 2] = ["predictions", "feedback"];

/// A shipped file to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewLogSegment {
    /// The replica (log folder) it comes from: 16 hex digits.
    pub replica: String,
    /// The segment's sequence number in that folder.
    pub seq: i64,
    /// `predictions` or `feedback`.
    pub kind: String,
    /// Where the artifact store keeps it.
    pub uri: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size.
    pub bytes: i64,
    /// Records in it.
    pub records: i64,
    /// Time of its oldest record, ms since the epoch.
    pub min_time_ms: i64,
    /// Time of its newest record.
    pub max_time_ms: i64,
}

/// A shipped file as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSegment {
    /// What was shipped.
    #[serde(flatten)]
    pub segment: NewLogSegment,
    /// When it was recorded.
    pub shipped_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "replica, seq, kind, uri, sha256, bytes, records, min_time_ms, max_time_ms, shipped_at";

fn from_row(r: &Row) -> Result<LogSegment> {
    Ok(LogSegment {
        segment: NewLogSegment {
            replica: r.text(0)?,
            seq: r.int(1)?,
            kind: r.text(2)?,
            uri: r.text(3)?,
            sha256: r.text(4)?,
            bytes: r.int(5)?,
            records: r.int(6)?,
            min_time_ms: r.int(7)?,
            max_time_ms: r.int(8)?,
        },
        shipped_at: from_micros(r.int(9)?),
    })
}

fn check(s: &NewLogSegment) -> Result<()> {
    let bad = |what: &str, why: String| Err(RegistryError::invalid(what, why));
    if s.replica.len() != 16 || !s.replica.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad(
            "log segment replica",
            format!("'{}' is not 16 hex digits", s.replica),
        );
    }
    if !LOG_FILE_KINDS.contains(&s.kind.as_str()) {
        return bad(
            "log segment kind",
            format!("'{}': use 'predictions' or 'feedback'", s.kind),
        );
    }
    if s.seq < 1 || s.bytes < 0 || s.records < 1 || s.min_time_ms > s.max_time_ms {
        return bad(
            "log segment",
            format!(
                "seq {} (≥ 1), bytes {} (≥ 0), records {} (≥ 1), time range {}..{} (min ≤ max) out of range",
                s.seq, s.bytes, s.records, s.min_time_ms, s.max_time_ms
            ),
        );
    }
    if s.uri.is_empty() || s.sha256.len() != 64 {
        return bad(
            "log segment",
            "needs the artifact's URI and its 64-digit SHA-256".into(),
        );
    }
    Ok(())
}

impl Store {
    /// Records a shipped file. Returns `false` when `(replica, seq, kind)`
    /// was recorded before (the row is left as it was).
    pub fn record_log_segment(&mut self, s: &NewLogSegment) -> Result<bool> {
        check(s)?;
        let now = self.now_micros();
        self.write(|tx| {
            Ok(tx.exec(
                "INSERT INTO log_segments (replica, seq, kind, uri, sha256, bytes, records, min_time_ms, max_time_ms, shipped_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (replica, seq, kind) DO NOTHING",
                params![
                    s.replica.as_str(),
                    s.seq,
                    s.kind.as_str(),
                    s.uri.as_str(),
                    s.sha256.as_str(),
                    s.bytes,
                    s.records,
                    s.min_time_ms,
                    s.max_time_ms,
                    now
                ],
            )? == 1)
        })
    }

    /// The shipped files of `kind` (both kinds when `None`) holding records
    /// in `[from_ms, to_ms)`, by replica, sequence number and kind.
    pub fn log_segments(
        &mut self,
        kind: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<LogSegment>> {
        self.read(|tx| {
            tx.rows(
                &format!(
                    "SELECT {COLUMNS} FROM log_segments
                     WHERE max_time_ms >= $1 AND min_time_ms < $2 AND ($3 = '' OR kind = $3)
                     ORDER BY replica, seq, kind"
                ),
                params![from_ms, to_ms, kind.unwrap_or("")],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    /// Removes the records of shipped files whose newest record is older
    /// than `before_ms` and returns them, so that the caller deletes the
    /// files (garbage collection finds any it could not).
    pub fn forget_log_segments(&mut self, before_ms: i64) -> Result<Vec<LogSegment>> {
        self.write(|tx| {
            let gone = tx
                .rows(
                    &format!(
                        "SELECT {COLUMNS} FROM log_segments WHERE max_time_ms < $1
                         ORDER BY replica, seq, kind"
                    ),
                    params![before_ms],
                )?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>>>()?;
            tx.exec(
                "DELETE FROM log_segments WHERE max_time_ms < $1",
                params![before_ms],
            )?;
            Ok(gone)
        })
    }
}
