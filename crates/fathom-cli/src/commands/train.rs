//! `fathom train`: train the candidate ladder and write the best model.

use crate::commands::data::{infer_schema_of, load_schema};
use crate::train_report::{ReportInput, render, report_path};
use crate::ui::{Ui, table};
use anyhow::{Context, Result};
use clap::Args;
use fathom_data::contract::InferOptions;
use fathom_data::export::write_atomic;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_learn::trainer::{TrainConfig, TrainResult, train_binary};
use std::path::{Path, PathBuf};

/// `fathom train`
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data (CSV or Parquet).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Schema contract; inferred from the data when absent.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Where to write the best model.
    #[arg(short, long, value_name = "FILE", default_value = "model.fathom")]
    pub output: PathBuf,
    /// Candidates to train, comma-separated (baseline, logistic, random_forest, gbdt).
    #[arg(long, value_delimiter = ',')]
    pub candidates: Option<Vec<String>>,
    /// Seed for splits and sampling (env FATHOM_SEED).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A finished training run and where its files went.
pub struct Trained {
    /// The comparison and the best model.
    pub result: TrainResult,
    /// The HTML training report, beside the model.
    pub report: PathBuf,
    /// SHA-256 of the model file.
    pub checksum: String,
}

/// Trains, writes the model and its HTML report; returns the result for
/// callers such as quickstart. `snapshot` is the content hash of the
/// training data's snapshot, recorded in the model's lineage.
pub fn train_file(
    data: &Path,
    schema: Option<&Path>,
    output: &Path,
    config: &TrainConfig,
    snapshot: Option<String>,
    ui: &Ui,
) -> Result<Trained> {
    let schema = match schema {
        Some(p) => load_schema(p)?,
        None => infer_schema_of(data, InferOptions::default(), ui)?,
    };
    let frame = read_frame(
        data,
        &ReadOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        },
    )?;
    let bar = ui.bar(config.candidates.len() as u64, "train");
    bar.tick();
    let mut result = train_binary(&frame, &schema, config)
        .with_context(|| format!("training on {}", data.display()))?;
    result.artifact.lineage.data_snapshot = snapshot;
    bar.finish_and_clear();
    let bytes = result.artifact.to_bytes()?;
    write_atomic(output, &bytes)?;
    let checksum = fathom_core::sha256_hex(&bytes);
    let report = report_path(output);
    let html = render(ReportInput {
        result: &result,
        data,
        model: output,
        model_checksum: &checksum,
    });
    write_atomic(&report, html.as_bytes())?;
    Ok(Trained {
        result,
        report,
        checksum,
    })
}

/// Prints the candidate comparison.
pub fn print_comparison(result: &TrainResult) {
    let mut t = table(&[
        "candidate",
        "AUC-ROC",
        "AUC-PR",
        "logloss",
        "precision",
        "recall",
        "F1",
        "threshold",
        "time",
    ]);
    for c in &result.candidates {
        let r = &c.report;
        let mark = if c.name == result.best {
            format!("★ {}", c.name)
        } else {
            c.name.clone()
        };
        t.add_row(vec![
            mark,
            format!("{:.4}", r.auc_roc),
            format!("{:.4}", r.auc_pr),
            format!("{:.4}", r.logloss),
            format!("{:.3}", r.precision),
            format!("{:.3}", r.recall),
            format!("{:.3}", r.f1),
            format!("{:.3}", r.threshold),
            format!("{:.2}s", c.seconds),
        ]);
    }
    println!("{t}");
}

/// Runs `fathom train`.
pub fn run(config: &crate::config::Config, ui: &Ui, args: TrainArgs) -> Result<u8> {
    let mut train = TrainConfig {
        seed: args.seed.unwrap_or(config.data.seed),
        ..TrainConfig::default()
    };
    train.gbdt.seed = train.seed;
    if let Some(c) = args.candidates {
        train.candidates = c;
    }
    let trained = train_file(
        &args.data,
        args.schema.as_deref(),
        &args.output,
        &train,
        None,
        ui,
    )?;
    let result = &trained.result;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "output": args.output, "best": result.best, "candidates": result.candidates,
            "checksum": trained.checksum, "report": trained.report,
        }))?;
    } else {
        print_comparison(result);
        println!(
            "best: {} (by AUC-PR on held-out rows) → {}; report: {}",
            result.best,
            args.output.display(),
            trained.report.display()
        );
    }
    Ok(0)
}
