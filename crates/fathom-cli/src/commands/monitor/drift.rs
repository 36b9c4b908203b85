//! `fathom monitor drift`: a current data set (a file, or a window of the
//! prediction log) against a reference, feature by feature.

use super::{Window, now_ms, open_log, window_records};
use crate::config::Config;
use crate::ui::{Ui, print_out, table, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::{Column, Frame, Schema};
use fathom_data::export::write_atomic;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_monitor::{DriftReport, FeatureDrift, drift};
use std::path::{Path, PathBuf};

/// `fathom monitor drift`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom monitor drift --reference train.parquet --current today.parquet --schema schema.toml
  fathom monitor drift --reference train.parquet --current today.csv --model fraud@production --output drift.html
  fathom monitor drift --reference train.parquet --current-log --window 6h --model fraud@production
  fathom --json monitor drift --reference a.csv --current b.csv --schema schema.toml

Exit status 0 whenever a report was computed, drifted or not (drift is a
finding, read it from the verdict); 1 for errors.")]
pub struct DriftArgs {
    /// The reference data (CSV or Parquet): the training data or a
    /// snapshot the model is known to work on.
    #[arg(long, value_name = "FILE")]
    pub reference: PathBuf,
    /// The current data (CSV or Parquet) to compare with the reference.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "current_log",
        conflicts_with = "current_log"
    )]
    pub current: Option<PathBuf>,
    /// Take the current data from the prediction log instead: the inputs
    /// answered in the last --window ([serve.log] dir, default
    /// `predictions` in the store folder). With --model, only that model's
    /// predictions.
    #[arg(long)]
    pub current_log: bool,
    /// How far back --current-log reads, ending now: a number with s, m,
    /// h or d (e.g. 30m, 1h, 7d).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        requires = "current_log"
    )]
    pub window: String,
    /// The schema contract (from `fathom data schema infer`): its features
    /// are compared, its types are used to read CSV.
    #[arg(long, value_name = "FILE", conflicts_with = "model")]
    pub schema: Option<PathBuf>,
    /// Take the contract from a model: a model file or a registered version
    /// (NAME@ALIAS, NAME@VERSION, e.g. fraud@production).
    #[arg(long, value_name = "FILE|NAME@ALIAS")]
    pub model: Option<String>,
    /// Write the self-contained HTML drift report to this file.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The contract and, for a registered model, its name.
struct Contract {
    schema: Schema,
    model_name: Option<String>,
}

fn contract(config: &Config, args: &DriftArgs) -> Result<Contract> {
    match (&args.schema, &args.model) {
        (Some(path), None) => Ok(Contract {
            schema: crate::commands::data::load_schema(path)?,
            model_name: None,
        }),
        (None, Some(model)) => {
            let loaded = crate::commands::predict::load_any(config, model)?;
            let model_name = loaded
                .registered
                .as_deref()
                .and_then(|r| r.split_once('@'))
                .map(|(name, _)| name.to_string());
            Ok(Contract {
                schema: loaded.artifact.schema,
                model_name,
            })
        }
        _ => bail!(
            "say which contract to compare with: --schema schema.toml (from `fathom data schema infer`) or --model NAME@ALIAS (a registered model's contract)"
        ),
    }
}

/// Reads a CSV or Parquet file with the contract's types.
pub(super) fn read_with(path: &Path, schema: &Schema, what: &str) -> Result<Frame> {
    if !path.is_file() {
        bail!(
            "the {what} data {} does not exist; give a CSV or Parquet file",
            path.display()
        );
    }
    let options = ReadOptions {
        schema: Some(schema.clone()),
        ..Default::default()
    };
    read_frame(path, &options)
        .with_context(|| format!("cannot read the {what} data {}", path.display()))
}

/// The current data from the last `window` of the prediction log.
fn read_log(config: &Config, args: &DriftArgs, contract: &Contract) -> Result<(Frame, String)> {
    let window = Window::parse(&args.window)?;
    let now = now_ms();
    let log = open_log(config, now.saturating_sub(window.ms))?;
    let (reader, dir) = (log.reader, log.dir);
    let records = window_records(&reader, &dir, &window, now, contract.model_name.as_deref())?;
    if records.is_empty() {
        bail!(
            "the prediction log at {} has no predictions{} in the last {}; widen --window or compare a file with --current",
            dir.display(),
            contract
                .model_name
                .as_deref()
                .map(|n| format!(" of model {n}"))
                .unwrap_or_default(),
            window.text
        );
    }
    let mut frame = reader
        .inputs_frame(&records, &contract.schema)
        .with_context(|| format!("cannot type the logged inputs at {}", dir.display()))?;
    // The logged score, so that [monitor.drift] prediction can name it.
    if let Some(name) = &config.monitor.drift.prediction
        && frame.column(name).is_none()
    {
        let scores = records.iter().map(|r| r.score).collect();
        let mut columns: Vec<Column> = frame.columns().to_vec();
        columns.push(Column::numeric(name.clone(), scores));
        frame = Frame::new(columns)?;
    }
    let label = format!("prediction log, last {} ({})", args.window, dir.display());
    Ok((frame, label))
}

pub(super) fn number(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(x) if x != 0.0 && x.abs() < 1e-4 => format!("{x:.2e}"),
        Some(x) => format!("{x:.4}"),
    }
}

fn row(f: &FeatureDrift, label: &str) -> Vec<String> {
    vec![
        label.to_string(),
        f.test
            .map(|t| t.name().to_string())
            .unwrap_or("not tested".into()),
        number(f.statistic),
        number(f.p_value),
        number(Some(f.threshold)),
        if f.drifted { "yes".into() } else { "no".into() },
    ]
}

pub(super) fn print_report(report: &DriftReport) -> Result<()> {
    let mut t = table(&[
        "feature",
        "test",
        "statistic",
        "p-value",
        "threshold",
        "drifted",
    ]);
    for f in &report.features {
        t.add_row(row(f, &f.name));
    }
    if let Some(p) = &report.prediction {
        t.add_row(row(p, &format!("{} (prediction)", p.name)));
    }
    if let Some(l) = &report.label {
        t.add_row(row(l, &format!("{} (label)", l.name)));
    }
    print_out(&t.to_string())?;
    let drifted = report.drifted_features();
    print_out(&format!(
        "verdict: {} — {} of {} tested features drifted ({:.1}%; warn at {:.0}%, severe at {:.0}%){}",
        report.verdict.name(),
        report.drifted,
        report.tested,
        report.share_drifted * 100.0,
        report.warn_share * 100.0,
        report.severe_share * 100.0,
        if drifted.is_empty() {
            String::new()
        } else {
            format!(": {}", drifted.join(", "))
        }
    ))?;
    for n in &report.notes {
        print_out(&format!("note: {n}"))?;
    }
    Ok(())
}

/// Runs `fathom monitor drift`.
pub fn drift_command(config: &Config, ui: &Ui, args: DriftArgs) -> Result<u8> {
    let contract = contract(config, &args)?;
    let reference = read_with(&args.reference, &contract.schema, "reference")?;
    let (current, current_name) = match &args.current {
        Some(path) => (
            read_with(path, &contract.schema, "current")?,
            path.display().to_string(),
        ),
        None => read_log(config, &args, &contract)?,
    };
    let report = drift(
        &reference,
        &current,
        &contract.schema,
        &config.monitor.drift,
    )
    .with_context(|| {
        format!(
            "cannot compare {} with {}",
            current_name,
            args.reference.display()
        )
    })?;
    if let Some(out) = &args.output {
        let html = fathom_monitor::report::render(
            &report,
            &args.reference.display().to_string(),
            &current_name,
        );
        write_atomic(out, html.as_bytes())
            .with_context(|| format!("cannot write the drift report to {}", out.display()))?;
    }
    if ui.json {
        ui.print_json(&report)?;
        return Ok(0);
    }
    ui.note(format!(
        "reference {} ({} rows) vs current {} ({} rows)",
        args.reference.display(),
        thousands(report.reference_rows),
        current_name,
        thousands(report.current_rows)
    ));
    print_report(&report)?;
    if let Some(out) = &args.output {
        print_out(&format!("wrote the drift report to {}", out.display()))?;
    }
    Ok(0)
}
