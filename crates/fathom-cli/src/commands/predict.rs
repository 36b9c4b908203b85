//! `fathom predict`: score a CSV or Parquet file with a model file or a
//! registered model version.

use crate::config::Config;
use crate::ui::{Ui, bytes, print_out, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::{CategoricalData, Column, ColumnData, ColumnType, Frame, Role};
use fathom_data::export::TableWriter;
use fathom_data::ingest::{ReadOptions, open};
use fathom_model::artifact::ModelArtifact;
use fathom_model::predictor::Predictor;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rows per output batch (one Parquet row group). Output is cut at fixed row
/// counts, not at the input's batch boundaries (which depend on the thread
/// count), so the file is the same bytes for any number of threads.
const OUTPUT_ROWS: usize = 65_536;

/// `fathom predict`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom predict --model model.fathom --input new.parquet --output scores.parquet
  fathom predict --model fraud@production --input new.parquet --output scores.parquet
  fathom predict --model fraud@3 --input new.csv --output scores.csv
  fathom predict --model model.fathom --input new.csv --output scores.csv --with-features
  fathom --json predict --model model.fathom --input new.csv --output scores.csv")]
pub struct PredictArgs {
    /// The model: a model file (from `fathom train`), or a registered
    /// version as NAME@ALIAS or NAME@VERSION (e.g. fraud@production), read
    /// from the registry — the same version `fathom serve` answers with.
    /// Its checksum is verified either way.
    #[arg(long, short, value_name = "FILE|NAME@ALIAS")]
    pub model: String,
    /// Rows to score (CSV or Parquet). CSV columns are read with the types of
    /// the model's schema contract; the label may be present or absent.
    #[arg(long, short, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the scores; `.csv` or `.parquet` picks the format. The
    /// file appears only when every row has been scored.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Column(s) to copy into the output to identify rows (repeat the flag
    /// for several). Default: the contract's id and key columns present in
    /// the input, e.g. transaction_id and card_id.
    #[arg(long = "id-column", value_name = "COL")]
    pub id_columns: Vec<String>,
    /// Also copy the model's input columns (as read) after the decision.
    #[arg(long)]
    pub with_features: bool,
}

/// What a prediction run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PredictSummary {
    /// The scored file.
    pub input: PathBuf,
    /// The output file.
    pub output: PathBuf,
    /// Rows scored.
    pub rows: u64,
    /// Rows whose score is at or above the threshold.
    pub positives: u64,
    /// The model's decision threshold.
    pub threshold: f64,
    /// SHA-256 of the model file.
    pub model_checksum: String,
    /// The registered version scored with, when the model came from the
    /// registry (`NAME@VERSION`).
    pub registered: Option<String>,
    /// Output columns, in order.
    pub columns: Vec<String>,
    /// Size of the output file in bytes.
    pub bytes: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// A loaded model, where it came from, and its checksum.
pub struct LoadedModel {
    /// The artifact.
    pub artifact: ModelArtifact,
    /// SHA-256 of its bytes.
    pub checksum: String,
    /// `NAME@VERSION` when it came from the registry.
    pub registered: Option<String>,
}

/// Loads `model`: a file when one exists at that path, else a registry
/// reference (`NAME@ALIAS`, `NAME@VERSION`) resolved in the configured store,
/// its bytes checked against the recorded checksum.
pub fn load_any(config: &Config, model: &str) -> Result<LoadedModel> {
    let path = Path::new(model);
    if path.exists() || !model.contains('@') {
        let (artifact, checksum) = load_model(path)?;
        return Ok(LoadedModel {
            artifact,
            checksum,
            registered: None,
        });
    }
    let mut opened = crate::store::open(config)?;
    let v = opened.store.resolve(model).with_context(|| {
        format!("--model {model}: no such file, and no such registered version")
    })?;
    let bytes = opened.store.load_artifact(&v.model, v.version)?;
    let artifact = ModelArtifact::from_bytes(&bytes, &v.artifact_uri)?;
    Ok(LoadedModel {
        artifact,
        checksum: v.artifact_sha256,
        registered: Some(format!("{}@{}", v.model, v.version)),
    })
}

/// Loads and verifies a model file; returns it with the SHA-256 of its bytes.
pub fn load_model(path: &Path) -> Result<(ModelArtifact, String)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the model file {}", path.display()))?;
    let artifact = ModelArtifact::from_bytes(&bytes, &path.display().to_string())?;
    Ok((artifact, fathom_core::sha256_hex(&bytes)))
}

/// A frame with `columns` and no rows (to check a file's columns against
/// the model before any row is read).
fn empty_frame(columns: &[(String, ColumnType)]) -> Result<Frame> {
    let cols = columns
        .iter()
        .map(|(name, t)| {
            let data = match t {
                ColumnType::Numeric => ColumnData::Numeric(Vec::new()),
                ColumnType::Bool => ColumnData::Bool(Vec::new()),
                ColumnType::Timestamp => ColumnData::Timestamp(Vec::new()),
                ColumnType::Categorical => {
                    ColumnData::Categorical(CategoricalData::from_strings::<&str>(&[]))
                }
            };
            Column::new(name.clone(), data, None)
        })
        .collect();
    Ok(Frame::new(cols)?)
}

/// Which input columns the output carries: ids before the score, the
/// model's inputs (with `--with-features`) after the decision.
#[derive(Debug, Clone, Default)]
struct Layout {
    ids: Vec<(String, ColumnType)>,
    features: Vec<(String, ColumnType)>,
}

impl Layout {
    /// Decides the layout from the flags, the model and the input's columns.
    fn new(
        args: &PredictArgs,
        predictor: &Predictor,
        input: &[(String, ColumnType)],
    ) -> Result<Self> {
        let type_of = |name: &str| input.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
        let mut layout = Layout::default();
        if args.id_columns.is_empty() {
            for c in &predictor.artifact().schema.columns {
                if matches!(c.role, Role::Id | Role::Key)
                    && let Some(t) = type_of(&c.name)
                {
                    layout.ids.push((c.name.clone(), t));
                }
            }
        } else {
            for name in &args.id_columns {
                let Some(t) = type_of(name) else {
                    let names: Vec<&str> = input.iter().map(|(n, _)| n.as_str()).collect();
                    bail!(
                        "--id-column {name:?}: {} has no such column; its columns are: {}",
                        args.input.display(),
                        names.join(", ")
                    );
                };
                if !layout.ids.iter().any(|(n, _)| n == name) {
                    layout.ids.push((name.clone(), t));
                }
            }
        }
        if args.with_features {
            for t in &predictor.artifact().pipeline.inputs {
                let name = t.column();
                if !layout.ids.iter().any(|(n, _)| n == name)
                    && let Some(ty) = type_of(name)
                {
                    layout.features.push((name.to_string(), ty));
                }
            }
        }
        for reserved in ["score", "decision"] {
            if layout.copied().any(|(n, _)| n == reserved) {
                bail!(
                    "the input column '{reserved}' would clash with the output column of that name; rename it in the input, or leave out --with-features / that --id-column"
                );
            }
        }
        Ok(layout)
    }

    /// The copied input columns.
    fn copied(&self) -> impl Iterator<Item = &(String, ColumnType)> {
        self.ids.iter().chain(&self.features)
    }

    /// All output columns, in order.
    fn columns(&self) -> Vec<(String, ColumnType)> {
        let mut out = self.ids.clone();
        out.push(("score".into(), ColumnType::Numeric));
        out.push(("decision".into(), ColumnType::Bool));
        out.extend(self.features.iter().cloned());
        out
    }

    /// The output rows of one input batch.
    fn batch(&self, input: &Frame, scores: Vec<f64>, threshold: f64) -> Result<Frame> {
        let copy = |(name, _): &(String, ColumnType)| -> Result<Column> {
            input
                .column(name)
                .cloned()
                .with_context(|| format!("internal error: column '{name}' is missing from a batch; this is a bug, please report it"))
        };
        let mut cols = self.ids.iter().map(copy).collect::<Result<Vec<_>>>()?;
        let decisions = scores.iter().map(|&s| s >= threshold).collect();
        cols.push(Column::numeric("score", scores));
        cols.push(Column::boolean("decision", decisions));
        for c in &self.features {
            cols.push(copy(c)?);
        }
        Ok(Frame::new(cols)?)
    }
}

/// Writes `pending` rows in batches of exactly [`OUTPUT_ROWS`], keeping the
/// remainder pending unless `last`.
fn flush(writer: &mut TableWriter, pending: &mut Vec<Frame>, last: bool) -> Result<()> {
    let rows: usize = pending.iter().map(Frame::num_rows).sum();
    if rows == 0 || (!last && rows < OUTPUT_ROWS) {
        return Ok(());
    }
    let all = if pending.len() == 1 {
        pending.remove(0)
    } else {
        Frame::concat(pending)?
    };
    pending.clear();
    let mut at = 0;
    while all.num_rows() - at >= OUTPUT_ROWS {
        writer.write(&all.slice(at, OUTPUT_ROWS))?;
        at += OUTPUT_ROWS;
    }
    let rest = all.num_rows() - at;
    if rest > 0 {
        if last {
            writer.write(&all.slice(at, rest))?;
        } else {
            pending.push(all.slice(at, rest));
        }
    }
    Ok(())
}

/// Scores `args.input` into `args.output`, batch by batch.
pub fn predict_file(config: &Config, args: &PredictArgs, ui: &Ui) -> Result<PredictSummary> {
    let started = Instant::now();
    if args.input == args.output {
        bail!(
            "--output {} is the input file; write the scores to another file",
            args.output.display()
        );
    }
    let LoadedModel {
        artifact,
        checksum,
        registered,
    } = load_any(config, &args.model)?;
    let threshold = artifact.threshold;
    let predictor = Predictor::new(artifact)
        .with_context(|| format!("cannot prepare {} for scoring", args.model))?;
    let options = ReadOptions {
        schema: Some(predictor.artifact().schema.clone()),
        ..Default::default()
    };
    let mut reader = open(&args.input, &options)?;
    let input_columns = reader.columns();
    // Check the columns before anything is written.
    predictor
        .check_frame(&empty_frame(&input_columns)?)
        .with_context(|| {
            format!(
                "{} cannot be scored by {}",
                args.input.display(),
                args.model
            )
        })?;
    let layout = Layout::new(args, &predictor, &input_columns)?;
    if layout.ids.is_empty() {
        ui.note(format!(
            "note: {} has none of the contract's id or key columns; output rows are in input order (name one with --id-column)",
            args.input.display()
        ));
    }
    let columns = layout.columns();
    let mut writer = TableWriter::create(&args.output, &columns)?;
    let bar = ui.bar(1000, "predict");
    let (mut rows, mut positives) = (0u64, 0u64);
    let mut pending: Vec<Frame> = Vec::new();
    while let Some(batch) = reader.next() {
        let batch = batch?;
        let scores = predictor
            .score_frame(&batch)
            .with_context(|| format!("scoring {}", args.input.display()))?;
        rows += batch.num_rows() as u64;
        positives += scores.iter().filter(|&&s| s >= threshold).count() as u64;
        pending.push(layout.batch(&batch, scores, threshold)?);
        flush(&mut writer, &mut pending, false)?;
        bar.set_position((reader.progress() * 1000.0) as u64);
    }
    flush(&mut writer, &mut pending, true)?;
    let written = writer.finish()?;
    bar.finish_and_clear();
    Ok(PredictSummary {
        input: args.input.clone(),
        output: args.output.clone(),
        rows,
        positives,
        threshold,
        model_checksum: checksum,
        registered,
        columns: columns.into_iter().map(|(n, _)| n).collect(),
        bytes: written.bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs `fathom predict`.
pub fn run(config: &Config, ui: &Ui, args: PredictArgs) -> Result<u8> {
    let s = predict_file(config, &args, ui)?;
    if ui.json {
        ui.print_json(&s)?;
        return Ok(0);
    }
    let share = if s.rows > 0 {
        format!(" ({:.2}%)", s.positives as f64 / s.rows as f64 * 100.0)
    } else {
        String::new()
    };
    print_out(&format!(
        "scored {} rows of {} with model {} in {:.2}s: {} at or above threshold {:.4}{share} → {} ({})",
        thousands(s.rows),
        s.input.display(),
        s.registered
            .clone()
            .unwrap_or_else(|| s.model_checksum[..12].to_string()),
        s.seconds,
        thousands(s.positives),
        s.threshold,
        s.output.display(),
        bytes(s.bytes)
    ))?;
    Ok(0)
}
