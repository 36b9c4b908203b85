use std::path::PathBuf;

use thiserror::Error;

/// Result type of the prediction log.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Errors of the prediction log, its reader, compaction and retention.
///
/// Every message says what went wrong, where, and what to do about it.
#[derive(Debug, Error)]
pub enum LogError {
    /// A configuration value is out of range.
    #[error("prediction log configuration: {detail}")]
    Config {
        /// What is wrong and the accepted range.
        detail: String,
    },
    /// A file or folder of the log could not be read or written.
    #[error("{}: {action} failed: {source}; check that the folder exists, is writable and the disk is not full", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("create", "write", "fsync", ...).
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Another process holds the log folder.
    #[error(
        "{}: the prediction log is already open in another process (lock file held); stop it, or give this process its own log folder",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A closed segment or compacted file holds bytes that are not a valid
    /// record. A torn tail of the newest segment is not this error: it is cut
    /// on recovery and reported by [`crate::PredictionLog::recovery`].
    #[error(
        "{}: corrupt log data at byte {offset}: {detail}; the file was damaged after it was written: restore it from a backup or move it out of the log folder",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first bad frame (0 for a whole-file problem).
        offset: u64,
        /// What was found.
        detail: String,
    },
    /// A Parquet file of the log could not be written or read.
    #[error("{}: parquet: {detail}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet library's message.
        detail: String,
    },
    /// The queue between the callers and the writer thread is full; the
    /// record was not logged and counts as dropped.
    #[error(
        "prediction log queue is full; the record was dropped (raise queue_capacity, or use Buffered durability or faster storage)"
    )]
    QueueFull,
    /// The log is shut down, or its writer thread has stopped.
    #[error("prediction log is closed; the record was not logged")]
    Closed,
    /// Writing the batch holding this record failed; the record is not in
    /// the log.
    #[error("prediction log write failed: {detail}; the record was not logged")]
    WriteFailed {
        /// The underlying error, as text (it is shared by every record of the batch).
        detail: String,
    },
    /// Another compaction is running on the same folder.
    #[error(
        "{}: another compaction of this prediction log is running; wait for it to finish",
        path.display()
    )]
    CompactionBusy {
        /// The compaction lock file.
        path: PathBuf,
    },
    /// Building a frame of logged inputs failed.
    #[error(transparent)]
    Frame(#[from] fathom_core::CoreError),
    /// The log's writer thread panicked. This is a bug, please report it.
    #[error("prediction log writer thread panicked (this is a bug, please report it)")]
    Internal,
}

impl LogError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        LogError::Io {
            path: path.into(),
            action,
            source,
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        LogError::Parquet {
            path: path.into(),
            detail: e.to_string(),
        }
    }
}
