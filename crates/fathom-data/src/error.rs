use std::path::PathBuf;
use thiserror::Error;

/// Where in a file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based data row (the header is not counted), if known.
    pub row: Option<u64>,
    /// 1-based line of the file, if known.
    pub line: Option<u64>,
    /// Column name, if known.
    pub column: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.row {
            parts.push(format!("row {r}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column '{c}'"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Errors of the data layer. Every message says what was wrong, where, and
/// what to do about it.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file's extension does not say which format it is.
    #[error("{}: cannot tell the format from the file name; use a name ending in .csv or .parquet", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file has no data at all.
    #[error("{}: the file is empty; it needs a header line naming the columns and at least one data row", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The file has a header but no data rows, where rows are needed.
    #[error("{}: has a header but no data rows; {what} needs at least one row: check that the file was written completely", path.display())]
    NoDataRows {
        /// The file.
        path: PathBuf,
        /// What needed rows (a contract, a snapshot).
        what: &'static str,
    },
    /// A value, row or header in a file is malformed.
    #[error("{}: {location}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Row, line and column of the problem.
        location: Location,
        /// What is wrong and what to do.
        message: String,
    },
    /// A Parquet file could not be decoded.
    #[error("{}: not a readable Parquet file ({detail}); the file may be truncated or corrupt: write it again or check the copy", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        detail: String,
    },
    /// A column holds a type fathom does not read.
    #[error("{}: column '{column}' has type {found}, which fathom does not read; supported are numbers, booleans, strings and timestamps/dates", path.display())]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type found.
        found: String,
    },
    /// A schema contract could not be read.
    #[error("{}: {source}", path.display())]
    Schema {
        /// The contract file.
        path: PathBuf,
        /// What is wrong with it.
        source: fathom_core::CoreError,
    },
    /// The data does not fit together (e.g. batches with different columns).
    #[error(transparent)]
    Core(#[from] fathom_core::CoreError),
    /// The generator was configured wrongly.
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    /// A broken internal invariant.
    #[error("internal error: {0}; this is a bug, please report it")]
    Internal(String),
    /// A snapshot in the store is damaged.
    #[error("snapshot {id}: {message}")]
    Snapshot {
        /// The snapshot id (content hash).
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the data layer.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
