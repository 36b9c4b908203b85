//! The reference profile kept with every trained model: rows of its
//! training data spread over the whole set, with the model's score on each.
//!
//! `fathom train` (and the quickstart and the training pipeline) writes it
//! beside the model file and records it as the artifact `reference` of the
//! best run; `fathom monitor` compares live traffic with it. A check then
//! needs neither the training snapshot (which lives in one store folder)
//! nor scoring the training data again, and every replica or job that can
//! read the artifact store checks against the same rows.

use anyhow::{Context, Result, bail};
use fathom_core::{Column, ColumnType, Frame, Role, Schema};
use fathom_model::artifact::ModelArtifact;
use fathom_model::predictor::Predictor;
use std::path::{Path, PathBuf};

/// The run artifact's name.
pub const ARTIFACT: &str = "reference";
/// The column holding the model's score on each row.
pub const SCORE_COLUMN: &str = "__prediction";
/// At most this many rows are kept.
pub const MAX_ROWS: usize = 50_000;
/// Rows are taken in this many evenly spaced blocks when there are more
/// than [`MAX_ROWS`]: contiguous blocks keep the file's own order (time,
/// usually) and cover its whole span.
const BLOCKS: usize = 50;

/// Where the profile of the model file `model` is written.
pub fn path_beside(model: &Path) -> PathBuf {
    model.with_extension("reference.parquet")
}

/// The profile of `frame` (the training data) for `artifact`: up to
/// [`MAX_ROWS`] rows in evenly spaced blocks, the contract's columns, and
/// the model's score as [`SCORE_COLUMN`]. The same data and model give the
/// same profile.
pub fn build(frame: &Frame, artifact: &ModelArtifact) -> Result<Frame> {
    let rows = sample(frame)?;
    let mut columns: Vec<Column> = Vec::new();
    for spec in &artifact.schema.columns {
        if let Some(c) = rows.column(&spec.name) {
            columns.push(c.clone());
        }
    }
    let kept = Frame::new(columns)?;
    let scores = Predictor::new(artifact.clone())?
        .score_frame(&kept)
        .context("cannot score the reference rows with the model")?;
    let mut columns = kept.into_columns();
    columns.push(Column::numeric(SCORE_COLUMN, scores));
    Ok(Frame::new(columns)?)
}

/// Writes the profile of `frame` for `artifact` to `path` (atomically).
pub fn write(path: &Path, frame: &Frame, artifact: &ModelArtifact) -> Result<()> {
    let profile = build(frame, artifact)?;
    fathom_data::export::write_frame(path, &profile)
        .with_context(|| format!("cannot write the reference profile {}", path.display()))?;
    Ok(())
}

/// Reads a stored profile (Parquet bytes) for a model with contract
/// `schema`: the contract's feature columns with their types and the
/// score column must be there; `source` names it in messages.
pub fn read(bytes: &[u8], schema: &Schema, source: &str) -> Result<Frame> {
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let path = dir.path().join("reference.parquet");
    std::fs::write(&path, bytes).with_context(|| format!("cannot stage {source}"))?;
    let frame = fathom_data::ingest::read_frame(&path, &Default::default())
        .with_context(|| format!("{source} is not a readable reference profile"))?;
    check(&frame, schema, source)?;
    Ok(frame)
}

/// Checks that `frame` holds what a profile for `schema` must.
fn check(frame: &Frame, schema: &Schema, source: &str) -> Result<()> {
    match frame.column(SCORE_COLUMN).map(Column::column_type) {
        Some(ColumnType::Numeric) => {}
        _ => bail!(
            "{source} has no numeric '{SCORE_COLUMN}' column: it is not a reference profile of this format; give the reference data with --reference FILE"
        ),
    }
    for spec in schema.columns.iter().filter(|c| c.role == Role::Feature) {
        match frame.column(&spec.name).map(Column::column_type) {
            Some(t) if t == spec.column_type => {}
            Some(t) => bail!(
                "{source}: column '{}' is {t:?} but the model's contract says {:?}; the profile belongs to another contract; give the reference data with --reference FILE",
                spec.name,
                spec.column_type
            ),
            None => bail!(
                "{source} has no column '{}' that the model's contract has; the profile belongs to another contract; give the reference data with --reference FILE",
                spec.name
            ),
        }
    }
    Ok(())
}

/// Up to [`MAX_ROWS`] rows of `frame` in [`BLOCKS`] evenly spaced blocks.
fn sample(frame: &Frame) -> Result<Frame> {
    let n = frame.num_rows();
    if n <= MAX_ROWS {
        return Ok(frame.clone());
    }
    let block = MAX_ROWS / BLOCKS;
    let parts: Vec<Frame> = (0..BLOCKS)
        .map(|i| frame.slice(i * (n - block) / (BLOCKS - 1), block))
        .collect();
    Ok(Frame::concat(&parts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_evenly_spaced_blocks_covering_the_whole_frame() {
        let n = 123_457;
        let frame = Frame::new(vec![Column::numeric(
            "i",
            (0..n).map(|i| i as f64).collect(),
        )])
        .unwrap();
        let s = sample(&frame).unwrap();
        assert_eq!(s.num_rows(), MAX_ROWS);
        let col = s.column("i").unwrap();
        let first = col.f64_at(0).unwrap();
        let last = col.f64_at(MAX_ROWS - 1).unwrap();
        assert_eq!((first, last), (0.0, (n - 1) as f64));
        // Each block is contiguous and blocks are in order.
        let block = MAX_ROWS / BLOCKS;
        for b in 0..BLOCKS {
            let start = col.f64_at(b * block).unwrap();
            assert_eq!(start, (b * (n - block) / (BLOCKS - 1)) as f64);
            assert_eq!(
                col.f64_at(b * block + block - 1).unwrap(),
                start + (block - 1) as f64
            );
        }
        // Small frames are kept whole.
        let small = frame.slice(0, 10);
        assert_eq!(sample(&small).unwrap().num_rows(), 10);
    }
}
