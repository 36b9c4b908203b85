//! `fathom monitor`: the whole check of a registered model over a window
//! of its prediction log, recorded as a tracked run.

use super::drift::{number, print_report, read_with};
use super::{OpenedLog, Window, notify, now_ms, open_log, window_records};
use crate::config::Config;
use crate::store::Opened;
use crate::ui::{Ui, print_out, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::{Column, Frame};
use fathom_data::export::write_atomic;
use fathom_model::artifact::ModelArtifact;
use fathom_model::predictor::Predictor;
use fathom_monitor::alert::AlertState;
use fathom_monitor::check::CheckReport;
use fathom_monitor::policy::{
    Decision, DriftFinding, PastFinding, PerformanceDrop, PolicyInput, decide,
};
use fathom_monitor::{DriftConfig, Outcome, QualityContext, SignalInput};
use fathom_predlog::PredictionRecord;
use fathom_registry::{
    MetricPoint, ModelVersion, NewRun, RegistryError, RunBatch, RunId, RunQuery,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `fathom monitor`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom monitor                                   # [registry] model @production, the last hour
  fathom monitor --model fraud@production --window 6h
  fathom monitor --model fraud@3 --reference train.parquet --output reports/today
  fathom --json monitor --model fraud@production

The reference is the profile stored with the version (training rows with
the model's scores, the run's artifact `reference`), or for a version
without one its training snapshot, unless --reference names a file. Only
the checked version's answers count; live performance also reads the
answers of the last [monitor.performance] lookback (14d), since labels
come late. The report folder holds report.html, report.json and
decision.json; the check is also recorded as a run in the experiment
NAME-monitoring with those files as artifacts.

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
    /// For callers: start the window exactly here (ms since the Unix
    /// epoch) instead of `window` before now; `window` then only names it.
    #[arg(skip)]
    pub since_ms: Option<i64>,
}

/// The column the model's score is compared under, on both sides.
const PREDICTION: &str = "__prediction";

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

/// The reference data, its name, and the model's scores on it when they
/// were stored with it: `--reference FILE`; else the reference profile
/// stored with the version (see [`crate::reference_profile`]); else, for
/// versions trained before profiles were kept, the training snapshot.
fn reference_frame(
    config: &Config,
    opened: &mut Opened,
    args: &CheckArgs,
    checked: &Checked,
) -> Result<(Frame, String, Option<Vec<f64>>)> {
    let schema = &checked.artifact.schema;
    if let Some(path) = &args.reference {
        return Ok((
            read_with(path, schema, "reference")?,
            path.display().to_string(),
            None,
        ));
    }
    if let Some(run) = checked.version.run_id {
        let stored = opened
            .store
            .run(run)?
            .artifacts
            .into_iter()
            .find(|a| a.name == crate::reference_profile::ARTIFACT);
        if let Some(a) = stored {
            let source = format!(
                "the reference profile of {}@{} ({})",
                checked.version.model, checked.version.version, a.uri
            );
            let bytes = fathom_registry::artifacts::read_verified(&a.uri, &a.sha256)
                .with_context(|| format!("cannot read {source}"))?;
            let mut frame = crate::reference_profile::read(&bytes, schema, &source)?;
            let scores = frame
                .column(crate::reference_profile::SCORE_COLUMN)
                .map(|c| {
                    (0..c.len())
                        .map(|i| c.f64_at(i).unwrap_or(f64::NAN))
                        .collect()
                });
            frame = Frame::new(
                frame
                    .into_columns()
                    .into_iter()
                    .filter(|c| c.name != crate::reference_profile::SCORE_COLUMN)
                    .collect(),
            )?;
            let name = format!(
                "reference profile ({} training rows)",
                thousands(frame.num_rows() as u64)
            );
            return Ok((frame, name, scores));
        }
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
        None,
    ))
}

/// `frame` with `scores` added as the prediction column.
fn with_scores(frame: Frame, scores: Vec<f64>) -> Result<Frame> {
    let mut columns: Vec<Column> = frame.columns().to_vec();
    columns.push(Column::numeric(PREDICTION, scores));
    Ok(Frame::new(columns)?)
}

/// `frame` with the feedback labels as the schema's label column (null
/// where none arrived), so that label drift is compared too; unchanged when
/// no label arrived or the label is not a number or a boolean.
fn with_labels(
    frame: Frame,
    schema: &fathom_core::Schema,
    labels: &[Option<(f64, i64)>],
) -> Result<Frame> {
    let Some(spec) = schema.label() else {
        return Ok(frame);
    };
    if labels.iter().all(Option::is_none) || frame.column(&spec.name).is_some() {
        return Ok(frame);
    }
    let column = match spec.column_type {
        fathom_core::ColumnType::Numeric => Column::numeric(
            spec.name.clone(),
            labels
                .iter()
                .map(|l| l.map_or(f64::NAN, |(y, _)| y))
                .collect(),
        ),
        fathom_core::ColumnType::Bool => Column::new(
            spec.name.clone(),
            fathom_core::ColumnData::Bool(
                labels
                    .iter()
                    .map(|l| l.is_some_and(|(y, _)| y == 1.0))
                    .collect(),
            ),
            Some(fathom_core::Bitmap::from_bools(
                &labels.iter().map(Option::is_some).collect::<Vec<_>>(),
            )),
        ),
        _ => return Ok(frame),
    };
    let mut columns: Vec<Column> = frame.columns().to_vec();
    columns.push(column);
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

/// The shape of the inputs the model expects and of those the window's
/// answers carried, for the schema-change check of data quality.
///
/// The expected shape is the contract's features (name and type); the
/// window's is the features its records carried (a field the log drops as
/// PII counts as carried) plus any field the contract does not know at
/// all, which the server accepted and ignored. A field added or renamed
/// upstream, or a feature no client sends any more, changes the hash.
struct InputShape {
    expected: String,
    /// `None` when the window is empty.
    current: Option<String>,
    differences: Vec<String>,
}

impl InputShape {
    fn of(schema: &fathom_core::Schema, records: &[PredictionRecord], dropped: &[String]) -> Self {
        use std::collections::{BTreeMap, BTreeSet};
        let features: BTreeMap<&str, String> = schema
            .columns
            .iter()
            .filter(|c| c.role == fathom_core::Role::Feature)
            .map(|c| {
                (
                    c.name.as_str(),
                    format!("{:?}", c.column_type).to_lowercase(),
                )
            })
            .collect();
        let hash = |shape: &BTreeMap<&str, String>| {
            let text: String = shape.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
            fathom_core::sha256_hex(text.as_bytes())
        };
        let expected = hash(&features);
        if records.is_empty() {
            return InputShape {
                expected,
                current: None,
                differences: Vec::new(),
            };
        }
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for r in records {
            if let Ok(fields) =
                serde_json::from_slice::<BTreeMap<String, serde::de::IgnoredAny>>(&r.inputs)
            {
                seen.extend(fields.into_keys());
            }
        }
        let mut current: BTreeMap<&str, String> = BTreeMap::new();
        let mut differences = Vec::new();
        for (name, ty) in &features {
            if seen.contains(*name) || dropped.iter().any(|d| d == name) {
                current.insert(name, ty.clone());
            } else {
                differences.push(format!("feature '{name}' absent from every answer"));
            }
        }
        for name in &seen {
            if schema.column(name).is_none() {
                current.insert(name, "not in the contract".into());
                differences.push(format!("new field '{name}'"));
            }
        }
        InputShape {
            expected,
            current: Some(hash(&current)),
            differences,
        }
    }
}

/// The answers of `model` version `version` in `[from_ms, to_ms]` (shadow
/// scores left out) with the labels that arrived for them, read a day at a
/// time so that only their outcomes, not their inputs, are held.
fn outcomes_of(
    reader: &fathom_predlog::LogReader,
    model: &str,
    version: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Outcome>> {
    const DAY_MS: i64 = 86_400_000;
    let mut labels = std::collections::HashMap::new();
    for f in reader.feedback(from_ms, i64::MAX)? {
        labels.insert(f.request_id, (f.label, f.time_ms));
    }
    let end = to_ms.saturating_add(1);
    let mut out = Vec::new();
    let mut a = from_ms;
    while a < end {
        let b = a.saturating_add(DAY_MS).min(end);
        for r in reader.predictions(a, b)? {
            if r.variant == fathom_predlog::Variant::Shadow
                || r.model != model
                || r.version != version
            {
                continue;
            }
            let label = labels.get(&r.request_id).copied();
            out.push(Outcome {
                time_ms: r.time_ms,
                score: r.score,
                decision: r.decision,
                label: label.map(|(y, _)| y),
                label_time_ms: label.map(|(_, t)| t),
                request_id: r.request_id,
            });
        }
        a = b;
    }
    Ok(out)
}

/// A finished check: the report, the files written and the run recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    /// One line: what it found and decided.
    pub summary: String,
    /// What it found.
    pub report: CheckReport,
    /// Where the reports are.
    pub files: ReportFiles,
    /// The tracked run.
    pub run: RunId,
    /// Where each notification went.
    pub deliveries: Vec<notify::Delivery>,
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
        "{}@{}: {} predictions in the last {} ({} labelled) against {}",
        report.model,
        report.version,
        thousands(report.predictions),
        report.window,
        thousands(report.labelled),
        report.reference
    ));
    if let Some(d) = &report.drift {
        print_report(d)?;
    }
    print_findings(report)?;
    for d in done.deliveries.iter().filter(|d| !d.delivered) {
        ui.note(format!(
            "warning: alert {} ({}) did not reach route {}: {}",
            d.alert, d.kind, d.route, d.detail
        ));
    }
    print_out(&format!("check: {}", done.summary))?;
    print_out(&format!(
        "report: {} (recorded as run {} in experiment {}-monitoring)",
        done.files.html.display(),
        done.run,
        report.model
    ))?;
    Ok(0)
}

/// Quality findings, performance, signals, alerts and the decision, as text.
fn print_findings(report: &CheckReport) -> Result<()> {
    for f in &report.quality.findings {
        print_out(&format!("quality: {}", f.message))?;
    }
    let p = &report.performance;
    for w in &p.windows {
        print_out(&format!(
            "performance, {}: {} labelled of {}; AUC-ROC {}, AUC-PR {}, precision {}, recall {}",
            w.name,
            thousands(w.labeled),
            thousands(w.predictions),
            number(w.auc_roc),
            number(w.auc_pr),
            number(w.precision),
            number(w.recall)
        ))?;
    }
    print_out(&format!("performance: {}", p.message))?;
    for f in &report.signals.findings {
        print_out(&format!("signals: {}", f.message))?;
    }
    for n in &report.notifications {
        print_out(&format!(
            "alert {} [{}] to {} ({}): {}",
            n.kind.name(),
            format!("{:?}", n.severity).to_lowercase(),
            n.team,
            n.routes.join(", "),
            n.message
        ))?;
    }
    let d = &report.decision;
    print_out(&format!("decision: {}", d.action.name()))?;
    for r in &d.reasons {
        print_out(&format!("  - {r}"))?;
    }
    Ok(())
}

/// Checks a registered model (see [`CheckArgs`]), sends the alerts,
/// writes the reports and records the run.
pub fn run_check(config: &Config, args: &CheckArgs) -> Result<Done> {
    let reference_name = args.model.clone().unwrap_or_else(|| {
        format!(
            "{}@production",
            crate::commands::serve::model_name(config, None)
        )
    });
    let window = Window::parse(&args.window)?;
    let monitor = &config.monitor;
    let mut opened = crate::store::open(config)?;
    let checked = load_version(&mut opened, &reference_name)?;
    let model = checked.version.model.clone();
    let artifact = &checked.artifact;
    let schema = artifact.schema.clone();
    let experiment = format!("{model}-monitoring");

    let to_ms = now_ms();
    let mut window = window;
    if let Some(since) = args.since_ms {
        window.ms = to_ms.saturating_sub(since).max(1);
    }
    let from_ms = to_ms.saturating_sub(window.ms);
    let OpenedLog {
        reader,
        dir,
        shipped_files,
    } = open_log(config, from_ms)?;
    let version = checked.version.version;
    let mut records = window_records(&reader, &dir, &window, to_ms, Some(&model))?;
    // The checked version's answers only: a canary's or an earlier
    // version's are another model's work.
    records.retain(|r| r.version == version);
    let labels = labels_of(&reader, &records, from_ms)
        .with_context(|| format!("cannot read the feedback in {}", dir.display()))?;
    let past = History::read(
        &mut opened,
        &experiment,
        &window,
        monitor.policy.repeat_window,
    )?;

    let current = reader
        .inputs_frame(&records, &schema)
        .with_context(|| format!("cannot type the logged inputs at {}", dir.display()))?;
    // The reference (and the model's scores on it) is needed only when
    // there is something to compare.
    let reference = if records.is_empty() {
        None
    } else {
        let (frame, name, stored) = reference_frame(config, &mut opened, args, &checked)?;
        let scores = match stored {
            Some(scores) => scores,
            None => Predictor::new(artifact.clone())?
                .score_frame(&frame)
                .context("cannot score the reference data with the model")?,
        };
        Some((frame, name, scores))
    };

    let drift = match &reference {
        None => None,
        Some((frame, name, scores)) => {
            let reference = with_scores(frame.clone(), scores.clone())?;
            let current = with_labels(current.clone(), &schema, &labels)?;
            let current = with_scores(current, records.iter().map(|r| r.score).collect())?;
            let drift_config = DriftConfig {
                prediction: Some(PREDICTION.into()),
                ..monitor.drift.clone()
            };
            Some(
                fathom_monitor::drift(&reference, &current, &schema, &drift_config)
                    .with_context(|| format!("cannot compare the window with {name}"))?,
            )
        }
    };

    let shape = InputShape::of(&schema, &records, &config.serve.log.drop_fields);
    let quality = fathom_monitor::quality(
        &current,
        &schema,
        &QualityContext {
            now_ms: to_ms,
            // With nothing in the window, the newest record is at least
            // as old as the window.
            newest_ms: Some(records.iter().map(|r| r.time_ms).max().unwrap_or(from_ms)),
            expected_schema_hash: Some(shape.expected.clone()),
            current_schema_hash: shape.current.clone(),
            schema_differences: shape.differences.clone(),
            previous_counts: past.counts.clone(),
            reference: reference.as_ref().map(|(f, _, _)| f),
        },
        &monitor.quality,
    )
    .context("cannot check the window's data quality")?;

    // Performance looks further back than the window: labels come late.
    let outcomes_from = monitor.performance.outcomes_from(from_ms, to_ms);
    let outcomes = outcomes_of(&reader, &model, version, outcomes_from, to_ms)
        .with_context(|| format!("cannot read the labelled predictions in {}", dir.display()))?;
    let performance = fathom_monitor::performance(
        &outcomes,
        to_ms,
        artifact.threshold,
        &artifact.metrics,
        &monitor.performance,
    )
    .context("cannot measure the model on the labelled predictions")?;

    let jobs = jobs_in(&mut opened, from_ms, to_ms)?;
    let served = served_in(&mut opened, &model, from_ms, to_ms)?;
    let positive = records.iter().filter(|r| r.decision == Some(true)).count() as u64;
    let decided = records.iter().filter(|r| r.decision.is_some()).count() as u64;
    let kpi_baseline = reference.as_ref().and_then(|(_, _, scores)| {
        (!scores.is_empty()).then(|| {
            scores.iter().filter(|&&s| s >= artifact.threshold).count() as f64 / scores.len() as f64
        })
    });
    let signals = fathom_monitor::signals(
        &SignalInput {
            latencies_us: records.iter().map(|r| r.latency_us).collect(),
            // The log holds answers only; the servers' own records (runs of
            // NAME-serving) count the failed requests too.
            requests: served.map_or(records.len() as u64, |(n, _)| n.max(records.len() as u64)),
            errors: served.map(|(_, e)| e),
            degraded: records.iter().filter(|r| r.degraded).count() as u64,
            jobs_succeeded: jobs.0,
            jobs_failed: jobs.1,
            decisions_positive: positive,
            decisions_total: decided,
            kpi_value: None,
            kpi_baseline,
        },
        &monitor.signals,
    )
    .context("cannot compute the system and business signals")?;

    let mut report = CheckReport {
        model: model.clone(),
        version: checked.version.version,
        reference: reference
            .as_ref()
            .map_or_else(|| "–".to_string(), |(_, n, _)| n.clone()),
        window: window.text.clone(),
        from_ms,
        to_ms,
        predictions: records.len() as u64,
        labelled: labels.iter().filter(|l| l.is_some()).count() as u64,
        drift,
        quality,
        performance,
        signals,
        notifications: Vec::new(),
        firing: Vec::new(),
        decision: Decision {
            model: model.clone(),
            version: Some(checked.version.version),
            time_ms: to_ms,
            action: fathom_monitor::policy::Action::None,
            recommendations: Vec::new(),
            reasons: Vec::new(),
            evidence: fathom_monitor::policy::Evidence::default(),
        },
    };

    // Alerts: the rules over every signal, from the previous check's state.
    let mut state = past.alert_state.clone();
    let rules = fathom_monitor::alert::rules_in_force(&monitor.alerts);
    let signal_values = report.signals();
    report.notifications = fathom_monitor::alert::evaluate(
        &rules,
        &monitor.escalation,
        &signal_values,
        to_ms,
        &mut state,
    );
    report.firing = state
        .firing()
        .map(|a| format!("{}/{}", a.rule, a.instance))
        .collect();

    // The policy's decision.
    report.decision = decide(
        &PolicyInput {
            model: model.clone(),
            version: Some(checked.version.version),
            time_ms: to_ms,
            drift: report.drift.as_ref().map(|d| DriftFinding {
                verdict: d.verdict,
                share: d.share_drifted,
                drifted_features: d.drifted_features().iter().map(|s| s.to_string()).collect(),
            }),
            performance_drop: performance_drop(&report, artifact, monitor),
            history: past.findings.clone(),
        },
        &monitor.policy,
    )
    .context("cannot apply the drift policy")?;

    let out_dir = args.output.clone().unwrap_or_else(|| {
        config
            .store
            .path
            .join("monitoring")
            .join(&model)
            .join(folder_time(to_ms))
    });
    let deliveries = notify::deliver(config, &report.notifications);
    let files = write_reports(&out_dir, &report, &deliveries, &state)?;
    let run = record_check(
        &mut opened,
        &experiment,
        &checked,
        &report,
        shipped_files,
        &files,
    )?;
    Ok(Done {
        summary: report.summary(),
        report,
        files,
        run,
        deliveries,
    })
}

/// Requests and errors the servers of `model` recorded in `[from_ms,
/// to_ms]` (their `NAME-serving` runs log running totals); `None` when no
/// server has recorded anything.
fn served_in(
    opened: &mut Opened,
    model: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Option<(u64, u64)>> {
    let page = match opened.store.list_runs(&RunQuery {
        experiment: Some(format!("{model}-serving")),
        filter: String::new(),
        order_by: None,
        limit: 1000,
        offset: 0,
    }) {
        Ok(p) => p,
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e).context("reading the servers' records"),
    };
    // A total's growth over the window: its last value in it minus its
    // last value before it.
    let growth = |points: &[fathom_registry::MetricRecord]| -> f64 {
        let at = |limit: i64| {
            points
                .iter()
                .filter(|p| p.recorded_at.timestamp_millis() <= limit)
                .max_by_key(|p| (p.recorded_at, p.step))
                .map_or(0.0, |p| p.value)
        };
        (at(to_ms) - at(from_ms - 1)).max(0.0)
    };
    let (mut requests, mut errors, mut any) = (0.0, 0.0, false);
    for r in &page.runs {
        if r.info
            .end_time
            .is_some_and(|t| t.timestamp_millis() < from_ms)
            || r.info.start_time.timestamp_millis() > to_ms
        {
            continue;
        }
        let id = r.info.id;
        let req = opened.store.metric_history(id, "requests")?;
        let err = opened.store.metric_history(id, "errors")?;
        any |= !req.is_empty();
        requests += growth(&req);
        errors += growth(&err);
    }
    Ok(any.then_some((requests as u64, errors as u64)))
}

/// Pipeline runs that ended in `[from_ms, to_ms]`: (succeeded, failed).
fn jobs_in(opened: &mut Opened, from_ms: i64, to_ms: i64) -> Result<(u64, u64)> {
    let runs = opened
        .store
        .pipeline_runs(&fathom_registry::PipelineRunQuery {
            pipeline: None,
            status: None,
            before_id: None,
            limit: 1000,
        })
        .context("reading the pipeline runs")?;
    let (mut ok, mut failed) = (0, 0);
    for r in runs {
        let Some(end) = r.ended_at.map(|t| t.timestamp_millis()) else {
            continue;
        };
        if end < from_ms || end > to_ms {
            continue;
        }
        match r.status {
            fathom_registry::PipelineRunStatus::Succeeded => ok += 1,
            fathom_registry::PipelineRunStatus::Failed => failed += 1,
            _ => {}
        }
    }
    Ok((ok, failed))
}

/// The performance drop the policy weighs, when the primary window is
/// degraded: AUC-ROC against the holdout's (or the alert level).
fn performance_drop(
    report: &CheckReport,
    artifact: &ModelArtifact,
    monitor: &crate::config::MonitorConfig,
) -> Option<PerformanceDrop> {
    let p = &report.performance;
    if !p.degraded {
        return None;
    }
    let current = p.windows.first()?.auc_roc?;
    Some(PerformanceDrop {
        metric: "auc_roc".into(),
        baseline: artifact
            .metrics
            .get("auc_roc")
            .copied()
            .unwrap_or(monitor.performance.auc_alert),
        current,
        message: p.message.clone(),
    })
}

/// What earlier checks of the model left: the alert state, the drifted
/// features of each, and the window sizes of those with the same window.
#[derive(Debug, Default)]
struct History {
    alert_state: AlertState,
    findings: Vec<PastFinding>,
    counts: Vec<u64>,
}

impl History {
    /// Reads the newest `keep` (at least 5) finished checks of `experiment`.
    fn read(
        opened: &mut Opened,
        experiment: &str,
        window: &Window,
        keep: usize,
    ) -> Result<History> {
        let page = match opened.store.list_runs(&RunQuery {
            experiment: Some(experiment.to_string()),
            filter: "status = 'finished'".into(),
            order_by: None,
            limit: keep.clamp(5, 1000),
            offset: 0,
        }) {
            Ok(p) => p,
            Err(RegistryError::NotFound { .. }) => return Ok(History::default()),
            Err(e) => return Err(e).context("reading the earlier monitoring checks"),
        };
        let mut history = History::default();
        for r in &page.runs {
            let time_ms = r.info.start_time.timestamp_millis();
            if r.tags.get("verdict").is_some_and(|v| v != "no data") {
                history.findings.push(PastFinding {
                    time_ms,
                    drifted_features: r
                        .tags
                        .get("drifted_features")
                        .map(|t| {
                            t.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            if r.params.get("window") == Some(&window.text)
                && let Some(n) = r.metrics.get("predictions")
            {
                history.counts.push(*n as u64);
            }
        }
        if let Some(latest) = page.runs.first() {
            let run = opened.store.run(latest.info.id)?;
            if let Some(a) = run.artifacts.iter().find(|a| a.name == "alert_state.json") {
                // By its URI: an earlier check may have stored it elsewhere
                // (the artifact store's location changed since).
                let bytes = fathom_registry::artifacts::read_verified(&a.uri, &a.sha256)
                    .context("reading the previous alert state")?;
                history.alert_state = AlertState::from_json(&String::from_utf8_lossy(&bytes))
                    .context("reading the previous alert state")?;
            }
        }
        Ok(history)
    }
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
    /// The policy's decision record.
    pub decision: PathBuf,
    /// The notifications raised and where they went.
    pub alerts: PathBuf,
    /// The alert state the next check starts from.
    pub alert_state: PathBuf,
}

fn write_reports(
    dir: &Path,
    report: &CheckReport,
    deliveries: &[notify::Delivery],
    state: &AlertState,
) -> Result<ReportFiles> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let files = ReportFiles {
        html: dir.join("report.html"),
        json: dir.join("report.json"),
        decision: dir.join("decision.json"),
        alerts: dir.join("alerts.json"),
        alert_state: dir.join("alert_state.json"),
    };
    let alerts = serde_json::json!({
        "notifications": report.notifications,
        "deliveries": deliveries,
        "firing": report.firing,
    });
    for (path, bytes) in [
        (
            &files.html,
            fathom_monitor::report::check::render(report).into_bytes(),
        ),
        (&files.json, serde_json::to_vec_pretty(report)?),
        (&files.decision, report.decision.to_json()?.into_bytes()),
        (&files.alerts, serde_json::to_vec_pretty(&alerts)?),
        (&files.alert_state, state.to_json()?.into_bytes()),
    ] {
        write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files)
}

/// Records the check as a run of `NAME-monitoring`: the window and version
/// as params, every signal as a metric, the verdict, decision and drifted
/// features as tags, the files as artifacts.
fn record_check(
    opened: &mut Opened,
    experiment: &str,
    checked: &Checked,
    report: &CheckReport,
    shipped_files: usize,
    files: &ReportFiles,
) -> Result<RunId> {
    let mut new = NewRun::new(experiment, format!("check {}", report.window));
    new.data_snapshot = checked.artifact.lineage.data_snapshot.clone();
    new.source_version = Some(crate::tracking::source_version());
    let store = &mut opened.store;
    let id = store.start_run(&new)?;
    let mut metrics = vec![
        MetricPoint::new("predictions", report.predictions as f64),
        MetricPoint::new("labelled", report.labelled as f64),
        // Files other replicas shipped that the window was read from.
        MetricPoint::new("shipped_log_files", shipped_files as f64),
    ];
    metrics.extend(
        report
            .signals()
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| MetricPoint::new(k, v)),
    );
    let mut tags = vec![
        ("model".to_string(), checked.version.model.clone()),
        ("version".to_string(), checked.version.version.to_string()),
        ("decision".to_string(), report.decision.action.name().into()),
    ];
    match &report.drift {
        Some(d) => {
            tags.push(("verdict".into(), d.verdict.name().into()));
            tags.push(("drifted_features".into(), d.drifted_features().join(",")));
        }
        None => tags.push(("verdict".into(), "no data".into())),
    }
    let batch = RunBatch {
        params: vec![
            ("window".into(), report.window.clone()),
            (
                "model_version".into(),
                format!("{}@{}", report.model, report.version),
            ),
            ("reference".into(), report.reference.clone()),
        ],
        metrics,
        tags,
    };
    let logged = store.log_batch(id, &batch).and_then(|()| {
        crate::tracking::log_files(
            store,
            opened.artifacts.as_ref(),
            id,
            &[
                ("report.html", &files.html),
                ("report.json", &files.json),
                ("decision.json", &files.decision),
                ("alerts.json", &files.alerts),
                ("alert_state.json", &files.alert_state),
            ],
        )?;
        store.finish_run(id)
    });
    if let Err(e) = logged {
        let _ = store.fail_run(id, &e.to_string());
        return Err(e).context("recording the monitoring run");
    }
    Ok(id)
}
