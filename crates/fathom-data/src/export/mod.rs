//! Writing frames to CSV or Parquet, atomically: output goes to a
//! temporary file beside the target and is renamed into place only when
//! complete, so a failed write never leaves a half-written file.

mod csv;
mod generated;
mod parquet;

pub use self::generated::write_generated;

pub(crate) use self::csv::push_f64 as push_number;

use crate::error::{DataError, Result};
use crate::ingest::FileFormat;
use fathom_core::{ColumnType, Frame};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// An open output file.
pub struct TableWriter {
    path: PathBuf,
    columns: Vec<(String, ColumnType)>,
    inner: Inner,
    rows: u64,
    /// A second handle on the temporary file, for syncing what has been
    /// written so far while writing goes on.
    handle: std::fs::File,
}

enum Inner {
    Csv(csv::CsvSink),
    Parquet(Box<parquet::ParquetSink>),
}

/// What a finished write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows written.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Moves the finished temporary file `tmp` to `path`. A target that is
/// not a regular file — a device such as `/dev/null` or `/dev/stdout`, or
/// a named pipe — is written into instead of replaced, since renaming over
/// it would destroy it; a folder is refused.
pub(crate) fn put_in_place(tmp: NamedTempFile, path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(DataError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a folder; give a file name",
            ),
        )),
        Ok(m) if !m.is_file() => {
            let mut from = tmp.reopen().map_err(|e| DataError::io(path, e))?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| DataError::io(path, e))?;
            std::io::copy(&mut from, &mut to).map_err(|e| DataError::io(path, e))?;
            to.flush().map_err(|e| DataError::io(path, e))?;
            Ok(())
        }
        _ => tmp
            .persist(path)
            .map(drop)
            .map_err(|e| DataError::io(path, e.error)),
    }
}

pub(crate) fn temp_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".fathom-tmp-");
    // Temporary files are private by default; the file it becomes should
    // get the usual mode of a new file (0666 less the umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(&dir)
        .map_err(|e| DataError::io(&dir, e))
}

impl TableWriter {
    /// Starts writing `path` (format by extension) with the given columns.
    pub fn create(path: impl AsRef<Path>, columns: &[(String, ColumnType)]) -> Result<Self> {
        let path = path.as_ref();
        let format = FileFormat::from_path(path)?;
        let tmp = temp_beside(path)?;
        let handle = tmp
            .as_file()
            .try_clone()
            .map_err(|e| DataError::io(path, e))?;
        let inner = match format {
            FileFormat::Csv => {
                let delimiter = if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
                {
                    b'\t'
                } else {
                    b','
                };
                Inner::Csv(
                    csv::CsvSink::new(tmp, columns, delimiter)
                        .map_err(|e| DataError::io(path, e))?,
                )
            }
            FileFormat::Parquet => {
                Inner::Parquet(Box::new(parquet::ParquetSink::new(tmp, columns, path)?))
            }
        };
        Ok(TableWriter {
            path: path.to_path_buf(),
            columns: columns.to_vec(),
            inner,
            rows: 0,
            handle,
        })
    }

    /// Appends a batch (for Parquet, one row group).
    pub fn write(&mut self, frame: &Frame) -> Result<()> {
        let same = frame.num_columns() == self.columns.len()
            && frame
                .columns()
                .iter()
                .zip(&self.columns)
                .all(|(c, (n, t))| &c.name == n && c.column_type() == *t);
        if !same {
            let show = |cols: Vec<(String, ColumnType)>| {
                cols.iter()
                    .map(|(n, t)| format!("{n}: {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let found = frame
                .columns()
                .iter()
                .map(|c| (c.name.clone(), c.column_type()))
                .collect();
            return Err(DataError::Internal(format!(
                "{}: a batch with columns [{}] cannot be written to a file of columns [{}]",
                self.path.display(),
                show(found),
                show(self.columns.clone())
            )));
        }
        match &mut self.inner {
            Inner::Csv(s) => s.write(frame).map_err(|e| DataError::io(&self.path, e))?,
            Inner::Parquet(s) => s.write(frame, &self.path)?,
        }
        self.rows += frame.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes, syncs and moves the file into place.
    pub fn finish(self) -> Result<WriteSummary> {
        let path = self.path;
        let tmp = match self.inner {
            Inner::Csv(s) => s.finish().map_err(|e| DataError::io(&path, e))?,
            Inner::Parquet(s) => s.finish(&path)?,
        };
        tmp.as_file()
            .sync_all()
            .map_err(|e| DataError::io(&path, e))?;
        let bytes = tmp
            .as_file()
            .metadata()
            .map_err(|e| DataError::io(&path, e))?
            .len();
        put_in_place(tmp, &path)?;
        Ok(WriteSummary {
            rows: self.rows,
            bytes,
        })
    }
}

/// Writes a whole frame to `path` (format by extension), atomically.
pub fn write_frame(path: impl AsRef<Path>, frame: &Frame) -> Result<WriteSummary> {
    let columns: Vec<(String, ColumnType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    let mut w = TableWriter::create(path, &columns)?;
    // Parquet row groups of at most 128k rows keep reading parallel.
    let step = 131_072;
    let mut offset = 0;
    while offset < frame.num_rows() {
        let n = step.min(frame.num_rows() - offset);
        if offset == 0 && n == frame.num_rows() {
            w.write(frame)?;
        } else {
            w.write(&frame.slice(offset, n))?;
        }
        offset += n;
    }
    w.finish()
}

/// Writes bytes to `path` atomically (temporary file, sync, rename).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let tmp = temp_beside(path)?;
    let mut w = BufWriter::new(tmp);
    w.write_all(bytes).map_err(|e| DataError::io(path, e))?;
    let tmp = w
        .into_inner()
        .map_err(|e| DataError::io(path, e.into_error()))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| DataError::io(path, e))?;
    put_in_place(tmp, path)
}
