//! The `data` pipeline: each day's batch is read, checked against the
//! contract, frozen as a snapshot, recorded as the newest validated data
//! (what training takes next) with its reference window (the validated
//! batches of the `[data] reference_days` days before it), and profiled
//! and compared with that window.
//!
//! ingest → validate → snapshot → reference → quality_report
//!
//! A batch that breaks the contract fails `validate` for good (no retry:
//! the data will not change by waiting), which stops the rest and alerts
//! the owner. A batch that is not there yet fails `ingest` and is retried.

use super::{fatal, quiet, retryable, work_dir};
use crate::commands::data::{
    load_schema, profile_file, snapshot_with_progress, validate_with_progress,
};
use crate::config::Config;
use crate::store::Opened;
use anyhow::{Context, anyhow};
use fathom_core::Schema;
use fathom_pipeline::{Pipeline, PipelineError, TaskContext, TaskError, TaskOutput, TaskSpec};
use fathom_registry::{MetricPoint, NewRun, RunBatch, RunQuery};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The experiment the validated batches are recorded in.
pub const EXPERIMENT: &str = "data";

/// The `data` pipeline.
pub fn pipeline(config: Arc<Config>) -> Result<Pipeline, PipelineError> {
    let (c1, c2, c3, c4, c5) = (
        config.clone(),
        config.clone(),
        config.clone(),
        config.clone(),
        config,
    );
    Pipeline::builder("data")
        .owner("data-platform")
        .task(TaskSpec::new("ingest").retries(3), move |ctx| {
            ingest(&c1, ctx)
        })
        .task(TaskSpec::new("validate").after(["ingest"]), move |ctx| {
            validate(&c2, ctx)
        })
        .task(TaskSpec::new("snapshot").after(["validate"]), move |ctx| {
            snapshot(&c3, ctx)
        })
        .task(TaskSpec::new("reference").after(["snapshot"]), move |ctx| {
            reference(&c4, ctx)
        })
        .task(
            TaskSpec::new("quality_report").after(["reference"]),
            move |ctx| quality_report(&c5, ctx),
        )
        .build()
}

/// The batch of `date`: `[data] source` with `{date}` replaced.
pub fn batch_path(config: &Config, date: &str) -> Result<PathBuf, TaskError> {
    let source = config.data.source.as_deref().ok_or_else(|| {
        TaskError::fatal(
            "[data] source is not set: say where each batch lands, e.g. source = \"landing/transactions-{date}.csv\"",
        )
    })?;
    Ok(PathBuf::from(source.replace("{date}", date)))
}

/// The contract batches are checked against: `[data] schema`, else the
/// production model's.
pub fn contract(config: &Config) -> anyhow::Result<Schema> {
    if let Some(path) = &config.data.schema {
        return load_schema(path);
    }
    let model = format!("{}@production", super::model_name(config));
    let loaded = crate::commands::predict::load_any(config, &model)
        .with_context(|| format!("no [data] schema is set and {model} cannot give its contract"))?;
    Ok(loaded.artifact.schema)
}

fn date_of(ctx: &TaskContext) -> String {
    ctx.logical_date.to_string()
}

fn upstream_path(ctx: &TaskContext) -> Result<PathBuf, TaskError> {
    ctx.upstream("ingest")
        .and_then(|v| v["path"].as_str())
        .map(PathBuf::from)
        .ok_or_else(|| TaskError::fatal("the ingest task left no path"))
}

fn ingest(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let path = batch_path(config, &date_of(ctx))?;
    if !path.is_file() {
        return Err(TaskError::retryable(format!(
            "the batch {} is not there (yet)",
            path.display()
        )));
    }
    let mut rows = 0u64;
    let mut columns = 0usize;
    for batch in
        fathom_data::ingest::open(&path, &Default::default()).map_err(|e| fatal(anyhow!(e)))?
    {
        let b = batch.map_err(|e| fatal(anyhow!(e)))?;
        rows += b.num_rows() as u64;
        columns = b.columns().len();
    }
    ctx.log(format!(
        "read {rows} rows and {columns} columns from {}",
        path.display()
    ));
    Ok(TaskOutput::new(json!({
        "path": path, "rows": rows, "columns": columns,
    })))
}

fn validate(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let path = upstream_path(ctx)?;
    let schema = contract(config).map_err(fatal)?;
    let report = validate_with_progress(&path, &schema, &quiet()).map_err(retryable)?;
    for v in &report.violations {
        ctx.log(format!(
            "{}: {}",
            v.column.as_deref().unwrap_or("(table)"),
            v.message
        ));
    }
    if !report.passed {
        return Err(TaskError::fatal(format!(
            "{} breaks its contract ({} violation{}: {}); fix the batch or the contract, then run the pipeline for this date again",
            path.display(),
            report.violations.len(),
            if report.violations.len() == 1 {
                ""
            } else {
                "s"
            },
            report
                .violations
                .iter()
                .take(3)
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(TaskOutput::new(json!({
        "path": path, "rows": report.rows, "schema_hash": report.schema_hash,
    })))
}

fn snapshot(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let path = upstream_path(ctx)?;
    let schema = contract(config).map_err(fatal)?;
    let created =
        snapshot_with_progress(config, &path, Some(&schema), &quiet()).map_err(retryable)?;
    let m = &created.manifest;
    ctx.log(format!(
        "snapshot {} ({} rows){}",
        m.id,
        m.rows,
        if created.is_new {
            ""
        } else {
            ", already stored"
        }
    ));
    Ok(TaskOutput::new(json!({
        "snapshot": m.id, "rows": m.rows, "schema_hash": m.schema_hash, "new": created.is_new,
    })))
}

/// Records the snapshot as the newest validated data: a run of the `data`
/// experiment tagged with the snapshot and the date.
fn reference(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let snap = ctx
        .upstream("snapshot")
        .cloned()
        .ok_or_else(|| TaskError::fatal("the snapshot task left no output"))?;
    let id = snap["snapshot"].as_str().unwrap_or_default().to_string();
    let date = date_of(ctx);
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let store = &mut opened.store;
    let mut new = NewRun::new(EXPERIMENT, format!("batch {date}"));
    new.data_snapshot = Some(id.clone());
    new.source_version = Some(crate::tracking::source_version());
    let run = store.start_run(&new).map_err(|e| retryable(e.into()))?;
    let batch = RunBatch {
        params: vec![
            ("logical_date".into(), date.clone()),
            ("source".into(), upstream_path(ctx)?.display().to_string()),
        ],
        metrics: vec![MetricPoint::new(
            "rows",
            snap["rows"].as_f64().unwrap_or(0.0),
        )],
        tags: vec![
            ("snapshot".into(), id.clone()),
            ("validated".into(), "true".into()),
            ("pipeline_run".into(), ctx.run_id.to_string()),
        ],
    };
    store
        .log_batch(run, &batch)
        .and_then(|()| store.finish_run(run))
        .map_err(|e| retryable(e.into()))?;
    ctx.log(format!(
        "recorded snapshot {id} as the data of {date} (run {run})"
    ));
    let window = reference_window(store, &date, config.data.reference_days)
        .map_err(|e| retryable(e.into()))?;
    ctx.log(if window.is_empty() {
        format!(
            "reference window: no validated batch in the {} days before {date}",
            config.data.reference_days
        )
    } else {
        format!(
            "reference window: {} ({} batches)",
            window
                .iter()
                .map(|(d, _)| d.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            window.len()
        )
    });
    Ok(TaskOutput::new(json!({
        "run": run,
        "snapshot": id,
        "window": window.iter().map(|(d, s)| json!({"date": d, "snapshot": s})).collect::<Vec<_>>(),
    })))
}

/// The validated batches of the `days` logical days before `date` (the
/// newest run of each date), oldest first, as (date, snapshot).
fn reference_window(
    store: &mut fathom_registry::Store,
    date: &str,
    days: u32,
) -> fathom_registry::Result<Vec<(String, String)>> {
    let Some(day) = day_of(date) else {
        return Ok(Vec::new());
    };
    if days == 0 {
        return Ok(Vec::new());
    }
    let from = day - chrono::Duration::days(i64::from(days));
    let page = match store.list_runs(&RunQuery {
        experiment: Some(EXPERIMENT.into()),
        filter: "status = 'finished' and tags.validated = 'true'".into(),
        order_by: None,
        limit: 1000,
        offset: 0,
    }) {
        Ok(p) => p,
        Err(fathom_registry::RegistryError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // Newest first: the first run seen of a date is its latest.
    let mut by_date: std::collections::BTreeMap<String, String> = Default::default();
    for r in &page.runs {
        let (Some(d), Some(snapshot)) = (r.params.get("logical_date"), r.tags.get("snapshot"))
        else {
            continue;
        };
        let Some(batch_day) = day_of(d) else {
            continue;
        };
        if batch_day >= from && batch_day < day && !by_date.contains_key(d) {
            by_date.insert(d.clone(), snapshot.clone());
        }
    }
    Ok(by_date.into_iter().collect())
}

/// The calendar day of a logical date (`2026-03-02` or `2026-03-02T10:00:00Z`).
fn day_of(date: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(date.get(..10)?, "%Y-%m-%d").ok()
}

fn quality_report(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let path = upstream_path(ctx)?;
    let schema = contract(config).map_err(fatal)?;
    let date = date_of(ctx);
    let out = work_dir(config, "data", &date).join("profile.html");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| retryable(anyhow!("cannot create {}: {e}", dir.display())))?;
    }
    let label = schema.label().map(|c| c.name.clone());
    profile_file(&path, &out, label, Some(&schema), 30, &quiet()).map_err(retryable)?;
    let run = ctx
        .upstream("reference")
        .and_then(|v| v["run"].as_i64())
        .ok_or_else(|| TaskError::fatal("the reference task left no run"))?;
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let Opened { store, artifacts } = &mut opened;
    crate::tracking::log_files(store, artifacts.as_ref(), run, &[("profile.html", &out)])
        .map_err(|e| retryable(e.into()))?;
    ctx.log(format!("profile written to {}", out.display()));
    let drift = window_drift(config, ctx, &schema, &date)?;
    if let Some((file, report)) = &drift {
        crate::tracking::log_files(store, artifacts.as_ref(), run, &[("drift.html", file)])
            .map_err(|e| retryable(e.into()))?;
        ctx.log(format!(
            "against the reference window: {} ({} of {} features drifted), {}",
            report.verdict.name(),
            report.drifted,
            report.tested,
            file.display()
        ));
    }
    Ok(TaskOutput::new(json!({
        "report": out,
        "drift": drift.as_ref().map(|(file, r)| json!({
            "report": file,
            "verdict": r.verdict.name(),
            "share_drifted": r.share_drifted,
            "drifted": r.drifted_features(),
            "reference_rows": r.reference_rows,
        })),
    })))
}

/// The batch compared with its reference window (the `reference` task's
/// output), feature by feature, with the HTML report written beside the
/// profile; `None` when the window is empty.
fn window_drift(
    config: &Config,
    ctx: &TaskContext,
    schema: &Schema,
    date: &str,
) -> Result<Option<(PathBuf, fathom_monitor::DriftReport)>, TaskError> {
    let reference = ctx.upstream("reference");
    let window: Vec<(String, String)> = reference
        .and_then(|v| v["window"].as_array())
        .map(|w| {
            w.iter()
                .filter_map(|b| {
                    Some((
                        b["date"].as_str()?.to_string(),
                        b["snapshot"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if window.is_empty() {
        return Ok(None);
    }
    let snapshots = fathom_data::snapshot::SnapshotStore::new(&config.store.path);
    let read = |id: &str| -> Result<fathom_core::Frame, TaskError> {
        let path = snapshots.data_path(id);
        fathom_data::ingest::read_frame(
            &path,
            &fathom_data::ingest::ReadOptions {
                schema: Some(schema.clone()),
                ..Default::default()
            },
        )
        .map_err(|e| {
            fatal(anyhow!(
                "cannot read snapshot {id} ({}): {e}",
                path.display()
            ))
        })
    };
    let frames = window
        .iter()
        .map(|(_, id)| read(id))
        .collect::<Result<Vec<_>, _>>()?;
    let reference_frame = fathom_core::Frame::concat(&frames)
        .map_err(|e| fatal(anyhow!("cannot join the reference window: {e}")))?;
    let batch_id = reference
        .and_then(|v| v["snapshot"].as_str())
        .ok_or_else(|| TaskError::fatal("the reference task left no snapshot"))?;
    let batch = read(batch_id)?;
    let report = fathom_monitor::drift(&reference_frame, &batch, schema, &config.monitor.drift)
        .map_err(|e| {
            fatal(anyhow!(
                "cannot compare the batch with its reference window: {e}"
            ))
        })?;
    let dates: Vec<&str> = window.iter().map(|(d, _)| d.as_str()).collect();
    let html = fathom_monitor::report::render(
        &report,
        &format!(
            "reference window: {} ({} batches)",
            dates.join(", "),
            dates.len()
        ),
        &format!("batch {date}"),
    );
    let file = work_dir(config, "data", date).join("drift.html");
    fathom_data::export::write_atomic(&file, html.as_bytes()).map_err(|e| retryable(e.into()))?;
    Ok(Some((file, report)))
}
