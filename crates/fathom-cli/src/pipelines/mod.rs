//! The built-in pipelines, whose task bodies are fathom's own commands:
//!
//! * `data` (daily 02:00 UTC): ingest → validate → snapshot → reference →
//!   quality_report ([`data`]);
//! * `training` (Sundays 03:00 UTC, and when the monitoring policy asks):
//!   snapshot → train → evaluate → register → gate → deploy ([`training`]);
//! * `monitoring` (hourly): collect → check → canary → decide ([`monitoring`];
//!   the canary judged by [`canary`]).
//!
//! Each is a [`fathom_pipeline::Pipeline`]: its runs, attempts, outputs
//! and logs are kept in the registry store; the settings of
//! `[pipelines.NAME]` (schedule, catch-up, owner, per-task retries and
//! timeouts) apply on top of the defaults here.

pub mod canary;
pub mod data;
pub mod monitoring;
pub mod training;

use crate::config::Config;
use anyhow::{Context, Result, bail};
use fathom_pipeline::{Pipeline, PipelineConfig, TaskError};
use std::path::PathBuf;
use std::sync::Arc;

/// The built-in pipelines, in the order they feed each other.
pub const BUILT_IN: [&str; 3] = ["data", "training", "monitoring"];

/// The schedule of a built-in pipeline when `fathom.toml` gives none.
pub fn default_schedule(name: &str) -> Option<&'static str> {
    match name {
        "data" => Some("0 2 * * *"),
        "training" => Some("0 3 * * 0"),
        "monitoring" => Some("0 * * * *"),
        _ => None,
    }
}

/// The settings of pipeline `name`: `[pipelines.NAME]`, with the built-in
/// schedule when none is given.
pub fn settings(config: &Config, name: &str) -> PipelineConfig {
    let mut s = config.pipelines.get(name).cloned().unwrap_or_default();
    if s.schedule.is_none() {
        s.schedule = default_schedule(name).map(str::to_string);
    }
    s
}

/// Builds the pipeline `name` with its settings applied.
pub fn build(config: &Config, name: &str) -> Result<Pipeline> {
    let shared = Arc::new(config.clone());
    let mut pipeline = match name {
        "data" => data::pipeline(shared),
        "training" => training::pipeline(shared),
        "monitoring" => monitoring::pipeline(shared),
        other => bail!(
            "no pipeline named '{other}'; the pipelines are: {}",
            BUILT_IN.join(", ")
        ),
    }
    .with_context(|| format!("building the {name} pipeline"))?;
    settings(config, name)
        .apply(&mut pipeline)
        .with_context(|| format!("[pipelines.{name}] in fathom.toml"))?;
    Ok(pipeline)
}

/// The settings every built-in pipeline runs with, in `[pipelines.NAME]`
/// form: its schedule, catch-up policy, owner, and each task's retries,
/// backoff, timeout and owner, defaults and `fathom.toml` merged (for
/// `fathom config show`).
pub fn effective(config: &Config) -> Result<std::collections::BTreeMap<String, PipelineConfig>> {
    let mut out = std::collections::BTreeMap::new();
    for name in BUILT_IN {
        let pipeline = build(config, name)?;
        let mut shown = settings(config, name);
        shown.owner = pipeline.owner().map(str::to_string);
        shown.tasks = pipeline
            .ordered()
            .map(|t| {
                let s = &t.spec;
                let task = fathom_pipeline::TaskConfig {
                    retries: Some(s.retries),
                    backoff_secs: Some(s.backoff.initial.as_secs_f64()),
                    backoff_max_secs: Some(s.backoff.max.as_secs_f64()),
                    timeout_secs: Some(s.timeout.as_secs_f64()),
                    owner: pipeline.owner_of(s).map(str::to_string),
                };
                (s.name.clone(), task)
            })
            .collect();
        out.insert(name.to_string(), shown);
    }
    Ok(out)
}

/// Checks `[pipelines]`: only the built-in names, valid schedules, task
/// settings for tasks that exist.
pub fn check(config: &Config) -> Result<()> {
    for name in config.pipelines.keys() {
        if !BUILT_IN.contains(&name.as_str()) {
            bail!(
                "[pipelines.{name}]: there is no pipeline named '{name}'; the pipelines are: {}",
                BUILT_IN.join(", ")
            );
        }
    }
    for name in BUILT_IN {
        settings(config, name)
            .schedule(name)
            .with_context(|| format!("[pipelines.{name}] schedule"))?;
        // Per-task settings must name the pipeline's tasks.
        build(config, name)?;
    }
    Ok(())
}

/// The registered model the pipelines work on.
pub fn model_name(config: &Config) -> String {
    crate::commands::serve::model_name(config, None)
}

/// The working folder of one run of a pipeline: `pipelines/NAME/DATE` in
/// the store folder (files a task leaves for the next one).
pub fn work_dir(config: &Config, pipeline: &str, date: &str) -> PathBuf {
    config
        .store
        .path
        .join("pipelines")
        .join(pipeline)
        .join(date.replace(':', "-"))
}

/// A task error that may pass on a later attempt (I/O, a busy store).
pub fn retryable(e: anyhow::Error) -> TaskError {
    TaskError::retryable(format!("{e:#}"))
}

/// A task error no retry will fix (bad data, a bad setting).
pub fn fatal(e: anyhow::Error) -> TaskError {
    TaskError::fatal(format!("{e:#}"))
}

/// A quiet UI for task bodies: no bars, no chatter.
pub fn quiet() -> crate::ui::Ui {
    crate::ui::Ui {
        json: false,
        quiet: true,
    }
}
