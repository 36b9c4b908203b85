//! `fathom train`: train the candidate ladder and write the best model.

use crate::commands::data::{infer_schema_of, load_schema, snapshot_with_progress};
use crate::tracking::{TrainingInput, record_training};
use crate::train_report::{ReportInput, render, report_path};
use crate::ui::{Ui, table};
use anyhow::{Context, Result};
use clap::Args;
use fathom_core::{Frame, Schema};
use fathom_data::contract::InferOptions;
use fathom_data::export::write_atomic;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_learn::cv::Metric;
use fathom_learn::progress::Progress;
use fathom_learn::trainer::{TrainConfig, TrainError, TrainResult, train_binary_with_progress};
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
    /// Candidates to train, comma-separated: baseline, logistic, random_forest,
    /// gbdt, voting (soft voting of the others), stacking (a logistic model on
    /// their out-of-fold scores). Default: [train] candidates in fathom.toml,
    /// else baseline,logistic,random_forest,gbdt.
    #[arg(long, value_delimiter = ',')]
    pub candidates: Option<Vec<String>>,
    /// Seed for splits and sampling (env FATHOM_SEED).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Registered model to record under: the runs' experiment and the
    /// model the winner becomes a version of. Default: [registry] model in
    /// fathom.toml, else the data file's name without extension.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Record the runs but do not register the winner as a model version.
    #[arg(long)]
    pub no_register: bool,
}

/// A finished training run and where its files went.
pub struct Trained {
    /// The comparison and the best model.
    pub result: TrainResult,
    /// The HTML training report, beside the model.
    pub report: PathBuf,
    /// The reference profile monitoring compares traffic with, beside
    /// the model (see [`crate::reference_profile`]).
    pub reference: PathBuf,
    /// SHA-256 of the model file.
    pub checksum: String,
}

/// Trains, writes the model and its HTML report; returns the result for
/// callers such as quickstart. `snapshot` is the content hash of the
/// training data's snapshot, recorded in the model's lineage.
pub fn train_file(
    data: &Path,
    schema: &Schema,
    output: &Path,
    config: &TrainConfig,
    snapshot: Option<String>,
    ui: &Ui,
) -> Result<Trained> {
    let frame = read_frame(
        data,
        &ReadOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        },
    )?;
    let result = train_frame(&frame, schema, config, snapshot, ui)
        .with_context(|| format!("training on {}", data.display()))?;
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
    let reference = crate::reference_profile::path_beside(output);
    crate::reference_profile::write(&reference, &frame, &result.artifact)?;
    Ok(Trained {
        result,
        report,
        reference,
        checksum,
    })
}

/// Trains on rows already in memory, with progress bars, and records
/// `snapshot` in the model's lineage: the training behind [`train_file`]
/// (and `fathom models reproduce`), without writing anything.
pub fn train_frame(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
    snapshot: Option<String>,
    ui: &Ui,
) -> Result<TrainResult, TrainError> {
    let bars = Bars {
        ui,
        bar: std::sync::Mutex::new(None),
    };
    let result = train_binary_with_progress(frame, schema, config, &bars);
    bars.finish();
    let mut result = result?;
    result.artifact.lineage.data_snapshot = snapshot;
    Ok(result)
}

/// Progress bars for the training stages.
struct Bars<'a> {
    ui: &'a Ui,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars<'_> {
    fn finish(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bars<'_> {
    fn stage(&self, name: &str, total: u64) {
        self.finish();
        let bar = self.ui.bar(total, name);
        bar.tick();
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn item(&self, label: &str) {
        if let Some(b) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            b.set_message(label.to_string());
        }
    }

    fn inc(&self, n: u64) {
        if let Some(b) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            b.inc(n);
        }
    }
}

/// Prints the candidate comparison, then search trials and feature
/// selection when they ran.
pub fn print_comparison(result: &TrainResult) {
    let with_cv = result.candidates.iter().any(|c| c.cv.is_some());
    let mut head = vec!["candidate"];
    if with_cv {
        head.push("CV AUC-PR (mean ± std)");
    }
    head.extend([
        "AUC-ROC",
        "AUC-PR",
        "logloss",
        "precision",
        "recall",
        "F1",
        "threshold",
        "time",
    ]);
    let mut t = table(&head);
    for c in &result.candidates {
        let r = &c.report;
        let mark = if c.name == result.best {
            format!("★ {}", c.name)
        } else {
            c.name.clone()
        };
        let mut row = vec![mark];
        if with_cv {
            row.push(
                c.cv.as_ref()
                    .map_or_else(|| "–".into(), |cv| cv.mean_std_text(Metric::AucPr)),
            );
        }
        row.extend([
            format!("{:.4}", r.auc_roc),
            format!("{:.4}", r.auc_pr),
            format!("{:.4}", r.logloss),
            format!("{:.3}", r.precision),
            format!("{:.3}", r.recall),
            format!("{:.3}", r.f1),
            format!("{:.3}", r.threshold),
            format!("{:.2}s", c.seconds),
        ]);
        t.add_row(row);
    }
    println!("{t}");
    for c in &result.candidates {
        let Some(search) = &c.search else { continue };
        let mut t = table(&["trial", "parameters", "CV (mean ± std)"]);
        for (i, trial) in search.trials.iter().enumerate() {
            let params = trial
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let mark = if i == search.best { "★ " } else { "" };
            t.add_row(vec![
                format!("{mark}{}", i + 1),
                params,
                trial.cv.mean_std_text(search.metric),
            ]);
        }
        println!(
            "search of {} ({:?}, by {:?}):\n{t}",
            c.name, search.method, search.metric
        );
    }
    if let Some(sel) = &result.selection {
        let mut t = table(&["feature", "mutual info", "p-value", "gain share", "weak"]);
        for f in &sel.features {
            let weak = match (f.weak_by_mutual_info, f.weak_by_importance) {
                (true, true) => "both",
                (true, false) => "mutual info",
                (false, true) => "importance",
                (false, false) => "",
            };
            t.add_row(vec![
                f.feature.clone(),
                format!("{:.5}", f.mutual_info),
                format!("{:.3}", f.p_value),
                format!("{:.3}", f.importance_share),
                weak.into(),
            ]);
        }
        println!("feature selection:\n{t}");
        if !sel.dropped.is_empty() {
            println!("dropped: {}", sel.dropped.join(", "));
        } else if let Some(note) = &sel.note {
            println!("{note}");
        }
    }
}

/// Runs `fathom train`.
pub fn run(config: &crate::config::Config, ui: &Ui, args: TrainArgs) -> Result<u8> {
    let mut train = config.train_config();
    if let Some(seed) = args.seed {
        train.seed = seed;
    }
    train.gbdt.seed = train.seed;
    if let Some(c) = args.candidates {
        train.candidates = c;
    }
    let model = match args.model.clone().or_else(|| config.registry.model.clone()) {
        Some(m) => m,
        None => default_model_name(&args.data)?,
    };
    // Open the store first, so a store that cannot be used fails before
    // the training time is spent.
    let mut opened = crate::store::open(config)?;
    let schema = match &args.schema {
        Some(p) => load_schema(p)?,
        None => infer_schema_of(&args.data, InferOptions::default(), ui)?,
    };
    let snapshot = snapshot_with_progress(config, &args.data, Some(&schema), ui)?;
    let snapshot_id = snapshot.manifest.id.clone();
    let trained = train_file(
        &args.data,
        &schema,
        &args.output,
        &train,
        Some(snapshot_id.clone()),
        ui,
    )?;
    let recorded = record_training(
        &mut opened,
        &TrainingInput {
            model: &model,
            data: &args.data,
            snapshot: Some(&snapshot_id),
            config: &train,
            register: !args.no_register,
        },
        &trained,
        &args.output,
    )?;
    let result = &trained.result;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "output": args.output, "best": result.best, "candidates": result.candidates,
            "checksum": trained.checksum, "report": trained.report,
            "reference": trained.reference, "ranked_by": result.ranked_by, "selection": result.selection,
            "snapshot": snapshot_id, "model": model, "runs": recorded.runs,
            "version": recorded.version,
        }))?;
    } else {
        print_comparison(result);
        println!(
            "best: {} (by {}) → {}; report: {}; monitoring reference: {}",
            result.best,
            result.ranked_by,
            args.output.display(),
            trained.report.display(),
            trained.reference.display()
        );
        println!("tracked: {}", recorded.runs_text());
        match &recorded.version {
            Some(v) => println!(
                "registered: {}@{} (promote it with `fathom models promote {} {}`)",
                v.model, v.version, v.model, v.version
            ),
            None => println!("not registered (--no-register)"),
        }
    }
    if recorded.version.is_some() {
        super::events::after_change(config, &mut opened.store);
    }
    Ok(0)
}

/// The model name a data file gives when none is configured: its file
/// name without extension, with characters a model name cannot hold
/// replaced by '_'.
pub fn default_model_name(data: &Path) -> Result<String> {
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if name.is_empty() {
        anyhow::bail!(
            "{}: cannot name a model after this file; pass --model NAME",
            data.display()
        );
    }
    Ok(name)
}
