//! The Parquet form of compacted segments: one file of predictions and one
//! of feedback, with the time range and counts in the file metadata.

use crate::error::{LogError, Result};
use crate::record::{FeedbackRecord, PredictionRecord, Variant};
use crate::segment::Summary;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Predictions of a compacted segment.
pub(crate) const PREDICTIONS_FILE: &str = "predictions.parquet";
/// Feedback labels of a compacted segment.
pub(crate) const FEEDBACK_FILE: &str = "feedback.parquet";

const KEY_FORMAT: &str = "fathom.predlog.format";
const KEY_MIN: &str = "fathom.predlog.min_time_ms";
const KEY_MAX: &str = "fathom.predlog.max_time_ms";
const FORMAT: &str = "1";
/// Rows per record batch (and at most per row group).
const BATCH_ROWS: usize = 65_536;

fn predictions_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("time_ms", DataType::Int64, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("variant", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("decision", DataType::Boolean, true),
        Field::new("latency_us", DataType::UInt32, false),
        Field::new("degraded", DataType::Boolean, false),
        Field::new("inputs", DataType::Utf8, false),
    ]))
}

fn feedback_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("time_ms", DataType::Int64, false),
        Field::new("label", DataType::Float64, false),
    ]))
}

fn writer(path: &Path, schema: Arc<Schema>, summary: &Summary) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|e| LogError::io(path, "create", e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("fathom {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(KEY_FORMAT.into(), FORMAT.to_string()),
            KeyValue::new(KEY_MIN.into(), summary.min_time_ms.to_string()),
            KeyValue::new(KEY_MAX.into(), summary.max_time_ms.to_string()),
        ]))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| LogError::parquet(path, e))
}

fn finish(path: &Path, w: ArrowWriter<File>) -> Result<u64> {
    let file = w.into_inner().map_err(|e| LogError::parquet(path, e))?;
    file.sync_all()
        .map_err(|e| LogError::io(path, "fsync", e))?;
    Ok(file.metadata().map_or(0, |m| m.len()))
}

fn summary_of(times: impl Iterator<Item = i64>) -> Summary {
    let mut s = Summary::default();
    times.for_each(|t| s.add_time(t));
    s
}

/// Writes predictions; returns the file size.
pub(crate) fn write_predictions(path: &Path, records: &[PredictionRecord]) -> Result<u64> {
    let schema = predictions_schema();
    let summary = summary_of(records.iter().map(|r| r.time_ms));
    let mut w = writer(path, Arc::clone(&schema), &summary)?;
    for chunk in records.chunks(BATCH_ROWS) {
        let mut inputs = Vec::with_capacity(chunk.len());
        for r in chunk {
            inputs.push(
                std::str::from_utf8(&r.inputs).map_err(|e| LogError::Corrupt {
                    path: path.to_path_buf(),
                    offset: 0,
                    detail: format!("inputs of request {} are not UTF-8: {e}", r.request_id),
                })?,
            );
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.request_id.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|r| r.time_ms),
            )),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.model.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|r| r.version),
            )),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.variant.name()),
            )),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|r| r.score),
            )),
            Arc::new(chunk.iter().map(|r| r.decision).collect::<BooleanArray>()),
            Arc::new(UInt32Array::from_iter_values(
                chunk.iter().map(|r| r.latency_us),
            )),
            Arc::new(
                chunk
                    .iter()
                    .map(|r| Some(r.degraded))
                    .collect::<BooleanArray>(),
            ),
            Arc::new(StringArray::from_iter_values(inputs)),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(|e| LogError::parquet(path, e))?;
        w.write(&batch).map_err(|e| LogError::parquet(path, e))?;
    }
    finish(path, w)
}

/// Writes feedback labels; returns the file size.
pub(crate) fn write_feedback(path: &Path, records: &[FeedbackRecord]) -> Result<u64> {
    let schema = feedback_schema();
    let summary = summary_of(records.iter().map(|r| r.time_ms));
    let mut w = writer(path, Arc::clone(&schema), &summary)?;
    for chunk in records.chunks(BATCH_ROWS) {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.request_id.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|r| r.time_ms),
            )),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|r| r.label),
            )),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(|e| LogError::parquet(path, e))?;
        w.write(&batch).map_err(|e| LogError::parquet(path, e))?;
    }
    finish(path, w)
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| LogError::io(path, "open", e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| LogError::parquet(path, e))
}

fn summary_from(path: &Path, builder: &ParquetRecordBatchReaderBuilder<File>) -> Result<Summary> {
    let meta = builder.metadata().file_metadata();
    let get = |key: &str| -> Option<i64> {
        meta.key_value_metadata()?
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_deref()?
            .parse()
            .ok()
    };
    let (Some(min_time_ms), Some(max_time_ms)) = (get(KEY_MIN), get(KEY_MAX)) else {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            detail: "Parquet file without the prediction log's time range in its metadata".into(),
        });
    };
    Ok(Summary {
        min_time_ms,
        max_time_ms,
        predictions: 0,
        feedback: 0,
    })
}

/// The time range in a compacted file's metadata (record counts left 0,
/// the range marked non-empty by counting the rows).
pub(crate) fn read_summary(path: &Path) -> Result<Summary> {
    let builder = open(path)?;
    let mut s = summary_from(path, &builder)?;
    s.predictions = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok(s)
}

fn column<'a, T: 'static>(path: &Path, batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            detail: format!("column {name:?} is missing or of another type"),
        })
}

/// Reads the predictions with `from_ms <= time_ms < to_ms`.
pub(crate) fn read_predictions(
    path: &Path,
    from_ms: i64,
    to_ms: i64,
    out: &mut Vec<PredictionRecord>,
) -> Result<()> {
    let builder = open(path)?;
    if !summary_from(path, &builder)?.overlaps_rows(from_ms, to_ms) {
        return Ok(());
    }
    let reader = builder.build().map_err(|e| LogError::parquet(path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| LogError::parquet(path, e))?;
        let request_id = column::<StringArray>(path, &batch, "request_id")?;
        let time_ms = column::<Int64Array>(path, &batch, "time_ms")?;
        let model = column::<StringArray>(path, &batch, "model")?;
        let version = column::<Int64Array>(path, &batch, "version")?;
        let variant = column::<StringArray>(path, &batch, "variant")?;
        let score = column::<Float64Array>(path, &batch, "score")?;
        let decision = column::<BooleanArray>(path, &batch, "decision")?;
        let latency_us = column::<UInt32Array>(path, &batch, "latency_us")?;
        let degraded = column::<BooleanArray>(path, &batch, "degraded")?;
        let inputs = column::<StringArray>(path, &batch, "inputs")?;
        for i in 0..batch.num_rows() {
            let t = time_ms.value(i);
            if t < from_ms || t >= to_ms {
                continue;
            }
            let v = variant.value(i);
            let variant = Variant::from_name(v).ok_or_else(|| LogError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                detail: format!("unknown variant {v:?} in row {i}"),
            })?;
            out.push(PredictionRecord {
                request_id: request_id.value(i).to_string(),
                time_ms: t,
                model: model.value(i).to_string(),
                version: version.value(i),
                variant,
                inputs: Bytes::copy_from_slice(inputs.value(i).as_bytes()),
                score: score.value(i),
                decision: decision.is_valid(i).then(|| decision.value(i)),
                latency_us: latency_us.value(i),
                degraded: degraded.value(i),
            });
        }
    }
    Ok(())
}

/// Reads the feedback labels with `from_ms <= time_ms < to_ms`.
pub(crate) fn read_feedback(
    path: &Path,
    from_ms: i64,
    to_ms: i64,
    out: &mut Vec<FeedbackRecord>,
) -> Result<()> {
    let builder = open(path)?;
    if !summary_from(path, &builder)?.overlaps_rows(from_ms, to_ms) {
        return Ok(());
    }
    let reader = builder.build().map_err(|e| LogError::parquet(path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| LogError::parquet(path, e))?;
        let request_id = column::<StringArray>(path, &batch, "request_id")?;
        let time_ms = column::<Int64Array>(path, &batch, "time_ms")?;
        let label = column::<Float64Array>(path, &batch, "label")?;
        for i in 0..batch.num_rows() {
            let t = time_ms.value(i);
            if t >= from_ms && t < to_ms {
                out.push(FeedbackRecord {
                    request_id: request_id.value(i).to_string(),
                    time_ms: t,
                    label: label.value(i),
                });
            }
        }
    }
    Ok(())
}

impl Summary {
    /// Whether `[min, max]` meets `[from_ms, to_ms)` (counts not consulted).
    fn overlaps_rows(&self, from_ms: i64, to_ms: i64) -> bool {
        self.max_time_ms >= from_ms && self.min_time_ms < to_ms
    }
}
