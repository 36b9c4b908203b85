//! `fathom train`: train the candidate ladder and write the best model.

use crate::commands::data::{infer_schema_of, load_schema, snapshot_with_progress};
use crate::tracking::{TrainingInput, fail_runs, record_started, start_runs};
use crate::train_report::{ReportInput, render, report_path};
use crate::ui::{Ui, table};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use fathom_core::{Frame, Schema};
use fathom_data::contract::InferOptions;
use fathom_data::export::write_atomic;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_learn::cv::Metric;
use fathom_learn::progress::Progress;
use fathom_learn::trainer::{TrainConfig, TrainError, TrainResult, train_binary_with_progress};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    /// When each candidate's final fit was done (for an ensemble, the
    /// ensemble), by candidate name.
    pub finished_at: BTreeMap<String, DateTime<Utc>>,
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
    let (result, finished_at) = train_frame_timed(&frame, schema, config, snapshot, ui)
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
        finished_at,
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
    train_frame_timed(frame, schema, config, snapshot, ui).map(|(result, _)| result)
}

/// [`train_frame`], also returning when each candidate's final fit was
/// done.
fn train_frame_timed(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
    snapshot: Option<String>,
    ui: &Ui,
) -> Result<(TrainResult, BTreeMap<String, DateTime<Utc>>), TrainError> {
    let bars = Bars {
        ui,
        bar: Mutex::new(None),
        at: Mutex::new((String::new(), String::new())),
        finished: Mutex::new(BTreeMap::new()),
    };
    let result = train_binary_with_progress(frame, schema, config, &bars);
    bars.finish();
    let mut result = result?;
    result.artifact.lineage.data_snapshot = snapshot;
    let finished = bars.finished.into_inner().unwrap_or_default();
    Ok((result, finished))
}

/// The training stage in which each step is one candidate's final fit.
const FINAL_FITS: &str = "training";

/// Progress bars for the training stages; also notes when each
/// candidate's final fit is done.
struct Bars<'a> {
    ui: &'a Ui,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    /// The current stage and item.
    at: Mutex<(String, String)>,
    /// Candidate → when its final fit was done.
    finished: Mutex<BTreeMap<String, DateTime<Utc>>>,
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
        if let Ok(mut at) = self.at.lock() {
            *at = (name.to_string(), String::new());
        }
        let bar = self.ui.bar(total, name);
        bar.tick();
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn item(&self, label: &str) {
        if let Ok(mut at) = self.at.lock() {
            at.1 = label.to_string();
        }
        if let Some(b) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            b.set_message(label.to_string());
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(at) = self.at.lock()
            && at.0 == FINAL_FITS
            && !at.1.is_empty()
            && let Ok(mut done) = self.finished.lock()
        {
            done.insert(at.1.clone(), Utc::now());
        }
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
    check_candidates(&train.candidates)?;
    // Open the store first, so a store that cannot be used fails before
    // the training time is spent.
    let mut opened = crate::store::open(config)?;
    let schema = match &args.schema {
        Some(p) => load_schema(p)?,
        None => infer_schema_of(&args.data, InferOptions::default(), ui)?,
    };
    let snapshot = snapshot_with_progress(config, &args.data, Some(&schema), ui)?;
    let snapshot_id = snapshot.manifest.id.clone();
    let input = TrainingInput {
        model: &model,
        data: &args.data,
        snapshot: Some(&snapshot_id),
        config: &train,
        register: !args.no_register,
    };
    // Each candidate's run is `running` while it trains; a training that
    // fails leaves them `failed`, with the error.
    let started = start_runs(&mut opened, &input, true)?;
    let trained = match train_file(
        &args.data,
        &schema,
        &args.output,
        &train,
        Some(snapshot_id.clone()),
        ui,
    ) {
        Ok(t) => t,
        Err(e) => {
            fail_runs(&mut opened, &started, &format!("{e:#}"));
            return Err(e);
        }
    };
    let recorded = record_started(&mut opened, started, &input, &trained, &args.output)?;
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

/// Refuses unknown or repeated candidate names before any run is started.
fn check_candidates(candidates: &[String]) -> Result<()> {
    for (i, c) in candidates.iter().enumerate() {
        if !fathom_learn::trainer::CANDIDATES.contains(&c.as_str()) {
            return Err(TrainError::UnknownCandidate(c.clone()).into());
        }
        if candidates[..i].contains(c) {
            return Err(TrainError::DuplicateCandidate(c.clone()).into());
        }
    }
    Ok(())
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
