//! The `monitoring` pipeline: the hourly check of the production model,
//! the policy's decision acted on, and the canary judged.
//!
//! collect → check → decide; canary
//!
//! A `retrain` decision queues the `training` pipeline for today with the
//! decision's reasons (once per day: a second request for the same date
//! finds the first). The canary is judged by [`super::canary`]: promoted
//! after its period when it answered enough, its guardrails held on the
//! logged answers and its live AUC-ROC (where enough labels came back) is
//! not worse than production's; otherwise rolled back or left waiting.

use super::{fatal, retryable, work_dir};
use crate::commands::monitor::check::{CheckArgs, run_check};
use crate::commands::monitor::{Window, now_ms, open_log};
use crate::config::Config;
use fathom_pipeline::{
    Pipeline, PipelineError, TaskContext, TaskError, TaskOutput, TaskSpec, enqueue,
};
use fathom_registry::{Clock, PRODUCTION, PipelineTrigger, SystemClock};
use serde_json::{Value, json};
use std::sync::Arc;

/// The window a scheduled check reads when the run gives none.
pub const DEFAULT_WINDOW: &str = "1h";

/// The `monitoring` pipeline, judging the canary at the system clock's
/// time.
pub fn pipeline(config: Arc<Config>) -> Result<Pipeline, PipelineError> {
    pipeline_with_clock(config, Arc::new(SystemClock))
}

/// The `monitoring` pipeline, judging the canary at `clock`'s time.
pub fn pipeline_with_clock(
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
) -> Result<Pipeline, PipelineError> {
    let [c1, c2, c3, c4] = [0; 4].map(|_| config.clone());
    Pipeline::builder("monitoring")
        .owner("data-science")
        .task(
            TaskSpec::new("collect").owner("platform-oncall"),
            move |ctx| collect(&c1, ctx),
        )
        .task(TaskSpec::new("check").after(["collect"]), move |ctx| {
            check(&c2, ctx)
        })
        .task(
            TaskSpec::new("canary")
                .after(["check"])
                .owner("platform-oncall"),
            move |ctx| super::canary::task(&c4, clock.as_ref(), ctx),
        )
        .task(TaskSpec::new("decide").after(["canary"]), move |ctx| {
            decide(&c3, ctx)
        })
        .build()
}

fn window_of(ctx: &TaskContext) -> String {
    ctx.param("window")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_WINDOW)
        .to_string()
}

/// Fixes the window (its start, so a retried check reads the same one)
/// and makes sure the prediction log is there; the check reads it once.
fn collect(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let window = Window::parse(&window_of(ctx)).map_err(fatal)?;
    let since_ms = ctx
        .param("since_ms")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| now_ms().saturating_sub(window.ms));
    let dir = open_log(config, since_ms).map_err(fatal)?.dir;
    ctx.log(format!(
        "the last {} of {} from {since_ms} ms",
        window.text,
        dir.display()
    ));
    Ok(TaskOutput::new(json!({
        "window": window.text, "since_ms": since_ms, "log": dir,
    })))
}

fn check(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let window = window_of(ctx);
    let model = super::model_name(config);
    let output = work_dir(config, "monitoring", &ctx.logical_date.to_string());
    let done = run_check(
        config,
        &CheckArgs {
            model: Some(format!("{model}@{PRODUCTION}")),
            window,
            reference: None,
            output: Some(output),
            since_ms: ctx.upstream("collect").and_then(|c| c["since_ms"].as_i64()),
        },
    )
    .map_err(retryable)?;
    ctx.log(&done.summary);
    for d in done.deliveries.iter().filter(|d| !d.delivered) {
        ctx.log(format!(
            "alert {} ({}) did not reach {}: {}",
            d.alert, d.kind, d.route, d.detail
        ));
    }
    let decision = &done.report.decision;
    Ok(TaskOutput::new(json!({
        "run": done.run,
        "summary": done.summary,
        "action": decision.action.name(),
        "reasons": decision.reasons,
        "report": done.files.html,
        "decision": done.files.decision,
        "notifications": done.report.notifications.len(),
    })))
}

/// Acts on the decision: `retrain` queues a training run for this
/// check's logical date.
fn decide(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let c = ctx
        .upstream("check")
        .cloned()
        .ok_or_else(|| TaskError::fatal("the check task left no output"))?;
    let action = c["action"].as_str().unwrap_or("none").to_string();
    if action != "retrain" {
        ctx.log(format!("decision {action}: nothing to start"));
        return Ok(TaskOutput::new(
            json!({"action": action, "triggered": false}),
        ));
    }
    // A retrained version already on its way answers the same decision:
    // one still under evaluation, or one promoted by this very run (the
    // check judged the version it replaced).
    let judged = ctx.upstream("canary").cloned().unwrap_or(Value::Null);
    let pending = match judged["decision"].as_str() {
        Some("promoted") => Some(format!(
            "v{} was promoted in this run; the next check judges it",
            judged["canary"]
        )),
        Some("waiting" | "held") => Some(format!(
            "canary v{} is still being evaluated",
            judged["canary"]
        )),
        _ => None,
    };
    if let Some(why) = pending {
        ctx.log(format!("decision retrain: not started, {why}"));
        return Ok(TaskOutput::new(json!({
            "action": action, "triggered": false, "note": why,
        })));
    }
    let reasons: Vec<String> = c["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let reason = format!(
        "monitoring check (run {}, {}): {}",
        c["run"],
        c["decision"].as_str().unwrap_or(""),
        reasons.join(" ")
    );
    // The retraining belongs to this check's date (or hour): one per
    // monitoring run, however often the decision is made again.
    let today = ctx.logical_date;
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let (run, queued) = enqueue(
        &mut opened.store,
        "training",
        &today,
        PipelineTrigger::Policy,
        &reason,
        json!({"decision_run": c["run"], "report": c["report"]}),
    )
    .map_err(|e| retryable(e.into()))?;
    ctx.log(if queued {
        format!("queued training for {today} (run {}): {reason}", run.id)
    } else {
        format!(
            "training for {today} already exists (run {}, {}); not queued again",
            run.id,
            run.status.as_str()
        )
    });
    Ok(TaskOutput::new(json!({
        "action": action, "triggered": queued, "training_run": run.id, "date": today.to_string(),
    })))
}
