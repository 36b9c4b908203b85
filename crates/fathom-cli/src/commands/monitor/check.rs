//! `fathom monitor`: the whole check of a registered model over a window
//! of its prediction log, recorded as a tracked run.

use super::drift::{print_report, read_with};
use super::{Window, now_ms, open_log, window_records};
use crate::config::Config;
use crate::store::Opened;
use crate::ui::{Ui, print_out, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::{Column, Frame};
use fathom_data::export::write_atomic;
use fathom_model::artifact::ModelArtifact;
use fathom_model::predictor::Predictor;
use fathom_monitor::{DriftConfig, DriftReport};
use fathom_predlog::PredictionRecord;
use fathom_registry::{ArtifactRecord, MetricPoint, ModelVersion, NewRun, RunBatch, RunId};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `fathom monitor`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom monitor                                   # [registry] model @production, the last hour
  fathom monitor --model fraud@production --window 6h
  fathom monitor --model fraud@3 --reference train.parquet --output reports/today
  fathom --json monitor --model fraud@production

The reference is the model's training snapshot (recorded in its lineage)
unless --reference names a file. The report folder holds report.html,
report.json and decision.json; the check is also recorded as a run in the
experiment NAME-monitoring with those files as artifacts.

Exit status 0 whenever the check ran, whatever it found (read the verdict
and the decision); 1 for errors.")]
pub struct CheckArgs {
    /// The registered version to check: NAME@ALIAS or NAME@VERSION
    /// (default: the [registry] model @production).
    #[arg(long, value_name = "NAME@ALIAS")]
    pub model: Option<String>,
    /// How far back the prediction log is read, ending now: a number with
    /// s, m, h or d (e.g. 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub window: String,
    /// The reference data (CSV or Parquet) instead of the model's training
    /// snapshot.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// The folder for the reports (default: monitoring/NAME/TIME in the
    /// store folder).
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// The column the model's score is compared under, on both sides.
const PREDICTION: &str = "__prediction";

/// What one check found, as written to report.json.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `NAME@VERSION` checked.
    pub model: String,
    /// The reference's description.
    pub reference: String,
    /// The window, as given.
    pub window: String,
    /// Start and end of the window, ms since the Unix epoch.
    pub from_ms: i64,
    /// End of the window.
    pub to_ms: i64,
    /// Answered predictions in the window.
    pub predictions: u64,
    /// Of which labelled by feedback so far.
    pub labelled: u64,
    /// Input drift, unless the window was empty.
    pub drift: Option<DriftReport>,
    /// One line: what the check concluded.
    pub verdict: String,
    /// The experiment the check is recorded in.
    pub experiment: String,
}

/// The model version being checked, with its artifact.
struct Checked {
    version: ModelVersion,
    artifact: ModelArtifact,
}

fn load_version(opened: &mut Opened, reference: &str) -> Result<Checked> {
    let version = opened
        .store
        .resolve(reference)
        .with_context(|| format!("--model {reference}: no such registered version"))?;
    let bytes = opened
        .store
        .load_artifact(&version.model, version.version)?;
    let artifact = ModelArtifact::from_bytes(&bytes, &version.artifact_uri)?;
    Ok(Checked { version, artifact })
}

/// The reference data: `--reference`, else the training snapshot.
fn reference_frame(
    config: &Config,
    args: &CheckArgs,
    checked: &Checked,
) -> Result<(Frame, String)> {
    let schema = &checked.artifact.schema;
    if let Some(path) = &args.reference {
        return Ok((
            read_with(path, schema, "reference")?,
            path.display().to_string(),
        ));
    }
    let Some(id) = checked.artifact.lineage.data_snapshot.as_deref() else {
        bail!(
            "{}@{} does not record a training snapshot; give the reference data with --reference FILE",
            checked.version.model,
            checked.version.version
        );
    };
    let path = fathom_data::snapshot::SnapshotStore::new(&config.store.path).data_path(id);
    if !path.is_file() {
        bail!(
            "the training snapshot {id} of {}@{} is not in this store ({}); give the reference data with --reference FILE",
            checked.version.model,
            checked.version.version,
            path.display()
        );
    }
    Ok((
        read_with(&path, schema, "reference")?,
        format!("training snapshot {}", &id[..id.len().min(12)]),
    ))
}

/// `frame` with `scores` added as the prediction column.
fn with_scores(frame: Frame, scores: Vec<f64>) -> Result<Frame> {
    let mut columns: Vec<Column> = frame.columns().to_vec();
    columns.push(Column::numeric(PREDICTION, scores));
    Ok(Frame::new(columns)?)
}

/// Labels that arrived for `records`, by position.
fn labels_of(
    reader: &fathom_predlog::LogReader,
    records: &[PredictionRecord],
    from_ms: i64,
) -> Result<Vec<Option<(f64, i64)>>> {
    let mut by_id = std::collections::HashMap::new();
    for f in reader.feedback(from_ms, i64::MAX)? {
        by_id.insert(f.request_id, (f.label, f.time_ms));
    }
    Ok(records
        .iter()
        .map(|r| by_id.get(&r.request_id).copied())
        .collect())
}

/// A finished check: the report, the files written and the run recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    /// What it found.
    pub report: CheckReport,
    /// Where the reports are.
    pub files: ReportFiles,
    /// The tracked run.
    pub run: RunId,
}

/// Runs `fathom monitor`.
pub fn check_command(config: &Config, ui: &Ui, args: CheckArgs) -> Result<u8> {
    let done = run_check(config, &args)?;
    if ui.json {
        ui.print_json(&done)?;
        return Ok(0);
    }
    let report = &done.report;
    ui.note(format!(
        "{}: {} predictions in the last {} ({} labelled) against {}",
        report.model,
        thousands(report.predictions),
        report.window,
        thousands(report.labelled),
        report.reference
    ));
    if let Some(d) = &report.drift {
        print_report(d)?;
    } else {
        print_out(&report.verdict)?;
    }
    print_out(&format!(
        "report: {} (recorded as run {} in experiment {})",
        done.files.html.display(),
        done.run,
        report.experiment
    ))?;
    Ok(0)
}

/// Checks a registered model (see [`CheckArgs`]), writes the reports and
/// records the run.
pub fn run_check(config: &Config, args: &CheckArgs) -> Result<Done> {
    let reference_name = args.model.clone().unwrap_or_else(|| {
        format!(
            "{}@production",
            crate::commands::serve::model_name(config, None)
        )
    });
    let window = Window::parse(&args.window)?;
    let mut opened = crate::store::open(config)?;
    let checked = load_version(&mut opened, &reference_name)?;
    let model = format!("{}@{}", checked.version.model, checked.version.version);
    let schema = checked.artifact.schema.clone();

    let (reader, dir) = open_log(config)?;
    let to_ms = now_ms();
    let from_ms = to_ms.saturating_sub(window.ms);
    let records = window_records(&reader, &dir, &window, to_ms, Some(&checked.version.model))?;
    let labels = labels_of(&reader, &records, from_ms)
        .with_context(|| format!("cannot read the feedback in {}", dir.display()))?;

    let (drift, reference_label) = if records.is_empty() {
        (None, String::from("–"))
    } else {
        let (reference, reference_label) = reference_frame(config, args, &checked)?;
        let predictor = Predictor::new(checked.artifact.clone())?;
        let reference_scores = predictor
            .score_frame(&reference)
            .context("cannot score the reference data with the model")?;
        let reference = with_scores(reference, reference_scores)?;
        let current = reader
            .inputs_frame(&records, &schema)
            .with_context(|| format!("cannot type the logged inputs at {}", dir.display()))?;
        let current = with_scores(current, records.iter().map(|r| r.score).collect())?;
        let drift_config = DriftConfig {
            prediction: Some(PREDICTION.into()),
            ..config.monitor.drift.clone()
        };
        let report = fathom_monitor::drift(&reference, &current, &schema, &drift_config)
            .with_context(|| format!("cannot compare the window with {reference_label}"))?;
        (Some(report), reference_label)
    };

    let labelled = labels.iter().filter(|l| l.is_some()).count() as u64;
    let verdict = match &drift {
        None => format!(
            "no predictions of {} in the last {}: nothing to check",
            checked.version.model, window.text
        ),
        Some(d) => format!(
            "drift {}: {} of {} features drifted ({:.1}%)",
            d.verdict.name(),
            d.drifted,
            d.tested,
            d.share_drifted * 100.0
        ),
    };
    let report = CheckReport {
        model: model.clone(),
        reference: reference_label,
        window: window.text.clone(),
        from_ms,
        to_ms,
        predictions: records.len() as u64,
        labelled,
        drift,
        verdict,
        experiment: format!("{}-monitoring", checked.version.model),
    };

    let out_dir = args.output.clone().unwrap_or_else(|| {
        config
            .store
            .path
            .join("monitoring")
            .join(&checked.version.model)
            .join(folder_time(to_ms))
    });
    let files = write_reports(&out_dir, &report)?;
    let run = record_check(&mut opened, &checked, &report, &files)?;
    Ok(Done { report, files, run })
}

/// `2026-11-26T10-15-03Z`: a time usable as a folder name everywhere.
fn folder_time(ms: i64) -> String {
    let text = fathom_core::time::format_micros(ms.div_euclid(1000) * 1_000_000);
    text.replace(':', "-")
}

/// The files a check wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFiles {
    /// The self-contained HTML report.
    pub html: PathBuf,
    /// The report as JSON.
    pub json: PathBuf,
}

fn write_reports(dir: &Path, report: &CheckReport) -> Result<ReportFiles> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let files = ReportFiles {
        html: dir.join("report.html"),
        json: dir.join("report.json"),
    };
    let html = match &report.drift {
        Some(d) => fathom_monitor::report::render(
            d,
            &report.reference,
            &format!("prediction log, last {}", report.window),
        ),
        None => fathom_report::page::Page::begin(
            &fathom_report::page::Header {
                title: "Monitoring report".into(),
                source: report.model.clone(),
                tiles: Vec::new(),
                notes: vec![report.verdict.clone()],
            },
            "",
        )
        .finish("fathom monitoring report"),
    };
    write_atomic(&files.html, html.as_bytes())
        .with_context(|| format!("cannot write {}", files.html.display()))?;
    write_atomic(&files.json, serde_json::to_vec_pretty(report)?.as_slice())
        .with_context(|| format!("cannot write {}", files.json.display()))?;
    Ok(files)
}

/// Records the check as a run of `NAME-monitoring`: the window and version
/// as params, the findings as metrics and tags, the reports as artifacts.
fn record_check(
    opened: &mut Opened,
    checked: &Checked,
    report: &CheckReport,
    files: &ReportFiles,
) -> Result<RunId> {
    let mut new = NewRun::new(&report.experiment, format!("check {}", report.window));
    new.data_snapshot = checked.artifact.lineage.data_snapshot.clone();
    new.source_version = Some(crate::tracking::source_version());
    let store = &mut opened.store;
    let id = store.start_run(&new)?;
    let mut metrics = vec![
        MetricPoint::new("predictions", report.predictions as f64),
        MetricPoint::new("labelled", report.labelled as f64),
    ];
    let mut tags = vec![
        ("model".to_string(), checked.version.model.clone()),
        ("version".to_string(), checked.version.version.to_string()),
    ];
    if let Some(d) = &report.drift {
        metrics.push(MetricPoint::new("drift_score", d.share_drifted));
        for f in d.features.iter().filter(|f| f.test.is_some()) {
            metrics.push(MetricPoint::new(
                format!("drift:{}", f.name),
                f64::from(u8::from(f.drifted)),
            ));
        }
        if let Some(p) = &d.prediction {
            metrics.push(MetricPoint::new(
                "prediction_drift",
                f64::from(u8::from(p.drifted)),
            ));
        }
        tags.push(("verdict".into(), d.verdict.name().into()));
        tags.push(("drifted_features".into(), d.drifted_features().join(",")));
    } else {
        tags.push(("verdict".into(), "no data".into()));
    }
    let batch = RunBatch {
        params: vec![
            ("window".into(), report.window.clone()),
            ("model_version".into(), report.model.clone()),
            ("reference".into(), report.reference.clone()),
        ],
        metrics,
        tags,
    };
    let logged = store.log_batch(id, &batch).and_then(|()| {
        for (name, path) in [("report.html", &files.html), ("report.json", &files.json)] {
            let a = opened.artifacts.put_file(path)?;
            store.log_artifact(
                id,
                &ArtifactRecord {
                    name: name.into(),
                    uri: a.uri,
                    sha256: a.sha256,
                    size_bytes: a.size_bytes,
                },
            )?;
        }
        store.finish_run(id)
    });
    if let Err(e) = logged {
        let _ = store.fail_run(id, &e.to_string());
        return Err(e).context("recording the monitoring run");
    }
    Ok(id)
}
