//! Parquet output: each batch is one row group whose columns are encoded
//! in parallel, without block compression; columns whose first values
//! repeat are dictionary- and run-length-encoded, the others plain.

use crate::arrow_bridge::{arrow_schema, to_arrow};
use crate::error::{DataError, Result};
use ahash::AHashSet;
use arrow_schema::Schema as ArrowSchema;
use fathom_core::{Column, ColumnData, ColumnType, Frame};
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;
use tempfile::NamedTempFile;

pub(super) struct ParquetSink {
    /// The file until the first batch decides the encodings.
    tmp: Option<NamedTempFile>,
    open: Option<Open>,
    schema: Arc<ArrowSchema>,
    row_groups: usize,
}

struct Open {
    writer: SerializedFileWriter<BufWriter<NamedTempFile>>,
    factory: ArrowRowGroupWriterFactory,
}

fn err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Rows of the first batch looked at to decide a column's encoding.
const SAMPLE_ROWS: usize = 8192;

/// Whether a numeric or timestamp column is worth a dictionary: not when
/// most of the first rows are distinct (amounts, scores, times), where a
/// dictionary only costs hashing on write and a lookup on read.
fn wants_dictionary(col: &Column) -> bool {
    let n = col.len().min(SAMPLE_ROWS);
    let distinct = match &col.data {
        ColumnData::Numeric(v) => v[..n]
            .iter()
            .map(|x| x.to_bits())
            .collect::<AHashSet<u64>>()
            .len(),
        ColumnData::Timestamp(v) => v[..n].iter().collect::<AHashSet<&i64>>().len(),
        ColumnData::Bool(_) | ColumnData::Categorical(_) => return true,
    };
    distinct * 2 <= n
}

impl ParquetSink {
    pub(super) fn new(
        tmp: NamedTempFile,
        columns: &[(String, ColumnType)],
        _path: &Path,
    ) -> Result<Self> {
        Ok(ParquetSink {
            tmp: Some(tmp),
            open: None,
            schema: arrow_schema(columns),
            row_groups: 0,
        })
    }

    /// Starts the file with encodings chosen from the first batch (all
    /// defaults when there is none).
    fn open(&mut self, first: Option<&Frame>, path: &Path) -> Result<&mut Open> {
        if self.open.is_none() {
            let tmp = self
                .tmp
                .take()
                .ok_or_else(|| DataError::Internal("Parquet sink opened twice".into()))?;
            let mut builder = WriterProperties::builder()
                // Dictionary and run-length encoding already make fathom's
                // columns compact; Snappy on top saved about a fifth of the
                // size but cost a fifth of the read and write time.
                .set_compression(Compression::UNCOMPRESSED)
                // Min/max statistics cost a pass over every value and
                // nothing in fathom reads them; timestamp columns keep them
                // per chunk, so other readers can still skip by time.
                .set_statistics_enabled(EnabledStatistics::None)
                .set_created_by(format!("fathom {}", env!("CARGO_PKG_VERSION")));
            for field in self.schema.fields().iter() {
                if matches!(field.data_type(), arrow_schema::DataType::Timestamp(..)) {
                    builder = builder.set_column_statistics_enabled(
                        ColumnPath::from(field.name().as_str()),
                        EnabledStatistics::Chunk,
                    );
                }
            }
            if let Some(frame) = first {
                for col in frame.columns() {
                    if !wants_dictionary(col) {
                        builder = builder.set_column_dictionary_enabled(
                            ColumnPath::from(col.name.as_str()),
                            false,
                        );
                    }
                }
            }
            let mut props = builder.build();
            add_encoded_arrow_schema_to_metadata(&self.schema, &mut props);
            let props = Arc::new(props);
            let parquet_schema = ArrowSchemaConverter::new()
                .convert(&self.schema)
                .map_err(|e| err(path, e))?;
            let writer = SerializedFileWriter::new(
                BufWriter::with_capacity(1 << 20, tmp),
                parquet_schema.root_schema_ptr(),
                props,
            )
            .map_err(|e| err(path, e))?;
            let factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&self.schema));
            self.open = Some(Open { writer, factory });
        }
        self.open
            .as_mut()
            .ok_or_else(|| DataError::Internal("Parquet sink not open".into()))
    }

    pub(super) fn write(&mut self, frame: &Frame, path: &Path) -> Result<()> {
        if frame.num_rows() == 0 {
            return Ok(());
        }
        let group = self.row_groups;
        let fields = self.schema.fields().clone();
        let open = self.open(Some(frame), path)?;
        let writers = open
            .factory
            .create_column_writers(group)
            .map_err(|e| err(path, e))?;
        let chunks: Vec<std::result::Result<ArrowColumnChunk, parquet::errors::ParquetError>> =
            writers
                .into_par_iter()
                .zip(frame.columns().par_iter().zip(fields.par_iter()))
                .map(|(mut w, (col, field))| {
                    let array = to_arrow(col);
                    for leaf in compute_leaves(field, &array)? {
                        w.write(&leaf)?;
                    }
                    w.close()
                })
                .collect();
        let mut rg = open.writer.next_row_group().map_err(|e| err(path, e))?;
        for chunk in chunks {
            chunk
                .map_err(|e| err(path, e))?
                .append_to_row_group(&mut rg)
                .map_err(|e| err(path, e))?;
        }
        rg.close().map_err(|e| err(path, e))?;
        self.row_groups += 1;
        Ok(())
    }

    pub(super) fn finish(mut self, path: &Path) -> Result<NamedTempFile> {
        self.open(None, path)?;
        let open = self
            .open
            .ok_or_else(|| DataError::Internal("Parquet sink not open".into()))?;
        let buf = open.writer.into_inner().map_err(|e| err(path, e))?;
        buf.into_inner()
            .map_err(|e| DataError::io(path, e.into_error()))
    }
}
