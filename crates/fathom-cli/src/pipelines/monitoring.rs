//! The `monitoring` pipeline: the hourly check of the production model,
//! the policy's decision acted on, and the canary judged.
//!
//! collect → check → decide; canary
//!
//! A `retrain` decision queues the `training` pipeline for today with the
//! decision's reasons (once per day: a second request for the same date
//! finds the first). A canary that has served its period is promoted when
//! the guardrails held (the server removes one that departs) and its live
//! AUC-ROC, where enough labels came back, is not worse than production's;
//! otherwise it is rolled back. Both moves are audited with the evidence.

use super::training::pipeline_actor;
use super::{fatal, retryable, work_dir};
use crate::commands::monitor::check::{CheckArgs, run_check};
use crate::commands::monitor::{OpenedLog, Window, log_dir, now_ms, open_log};
use crate::config::Config;
use anyhow::anyhow;
use fathom_pipeline::{
    Pipeline, PipelineError, TaskContext, TaskError, TaskOutput, TaskSpec, enqueue,
};
use fathom_predlog::Variant;
use fathom_registry::{PRODUCTION, PipelineTrigger, Promotion, RegistryError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The window a scheduled check reads when the run gives none.
pub const DEFAULT_WINDOW: &str = "1h";

/// The `monitoring` pipeline.
pub fn pipeline(config: Arc<Config>) -> Result<Pipeline, PipelineError> {
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
            move |ctx| canary(&c4, ctx),
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

/// AUC-ROC of the labelled answers of one variant, when there are enough.
fn live_auc(y: &[f64], scores: &[f64], min_labels: u64) -> Option<f64> {
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    let negatives = y.len() - positives;
    if (y.len() as u64) < min_labels || positives < 5 || negatives < 5 {
        return None;
    }
    fathom_learn::metrics::roc_auc(y, scores, None).ok()
}

/// "; at deployment: …": the reason the canary alias was set with (the
/// training gate's comparison), when the audit log has it.
fn gate_evidence(store: &mut fathom_registry::Store, model: &str, version: i64) -> String {
    let Some(event) = store.alias_history(model, None).ok().and_then(|events| {
        events
            .into_iter()
            .filter(|e| e.to == Some(version) && e.alias != PRODUCTION)
            .max_by_key(|e| e.at)
    }) else {
        return String::new();
    };
    store
        .audit(&fathom_registry::AuditQuery {
            model: Some(model.to_string()),
            before_id: Some(event.audit_id + 1),
            limit: 1,
            ..Default::default()
        })
        .ok()
        .and_then(|entries| entries.into_iter().find(|a| a.id == event.audit_id))
        .map(|a| format!("; at deployment: {}", a.reason))
        .unwrap_or_default()
}

/// Judges the canary once it has served its period.
fn canary(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let model = super::model_name(config);
    let alias = config.serve.canary_alias.clone();
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let version = match opened.store.version_by_alias(&model, &alias) {
        Ok(v) => v,
        Err(RegistryError::NotFound { .. }) => {
            ctx.log(format!("no {alias} alias on {model}: nothing to judge"));
            return Ok(TaskOutput::new(json!({"canary": Value::Null})));
        }
        Err(e) => return Err(retryable(e.into())),
    };
    let since = opened
        .store
        .alias_history(&model, Some(&alias))
        .map_err(|e| retryable(e.into()))?
        .into_iter()
        .filter(|e| e.to == Some(version.version))
        .map(|e| e.at)
        .max()
        .unwrap_or(version.created_at);
    let now = chrono::Utc::now();
    let served_ms = (now - since).num_milliseconds();
    let period = config.rollout.canary_period;
    if served_ms < period.ms() {
        ctx.log(format!(
            "{model}@{} has been {alias} for {}s of {period}; judged later",
            version.version,
            served_ms / 1000
        ));
        return Ok(TaskOutput::new(json!({
            "canary": version.version, "decision": "waiting", "served_ms": served_ms,
        })));
    }

    // Live metrics of each variant since the canary started.
    let dir = log_dir(config);
    let (mut y_c, mut s_c, mut y_p, mut s_p) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let from = since.timestamp_millis();
    if let Ok(OpenedLog { reader, .. }) = open_log(config, from) {
        let to = now.timestamp_millis() + 1;
        let records = reader
            .predictions(from, to)
            .map_err(|e| retryable(anyhow!(e)))?;
        let labels: HashMap<String, f64> = reader
            .feedback(from, i64::MAX)
            .map_err(|e| retryable(anyhow!(e)))?
            .into_iter()
            .map(|f| (f.request_id, f.label))
            .collect();
        for r in records.iter().filter(|r| r.model == model) {
            let Some(&y) = labels.get(&r.request_id) else {
                continue;
            };
            match r.variant {
                Variant::Canary if r.version == version.version => {
                    y_c.push(y);
                    s_c.push(r.score);
                }
                Variant::Production => {
                    y_p.push(y);
                    s_p.push(r.score);
                }
                _ => {}
            }
        }
    }
    let min = config.rollout.min_labels;
    let (auc_c, auc_p) = (live_auc(&y_c, &s_c, min), live_auc(&y_p, &s_p, min));
    let evidence = match (auc_c, auc_p) {
        (Some(c), Some(p)) => format!(
            "live AUC-ROC {c:.4} on {} labelled canary answers against production's {p:.4} on {} (tolerance {}); guardrails held for {}",
            y_c.len(),
            y_p.len(),
            config.rollout.tolerance,
            period
        ),
        _ => format!(
            "guardrails held for {period}; too few labels to compare live metrics ({} canary, {} production labelled; {} needed) — log {}",
            y_c.len(),
            y_p.len(),
            min,
            dir.display()
        ),
    };
    let worse = matches!((auc_c, auc_p), (Some(c), Some(p)) if c < p - config.rollout.tolerance);
    let who = pipeline_actor();
    let decision = if worse {
        opened
            .store
            .remove_alias(
                &model,
                &alias,
                &who,
                &format!("canary rolled back: {evidence}"),
            )
            .map_err(|e| retryable(e.into()))?;
        "rolled_back"
    } else if config.rollout.auto_promote {
        // The registry's gate compares the metrics each version recorded on
        // its own held-out rows, which after retraining on new data are not
        // the same rows. The evidence here is stronger: the training
        // pipeline's gate compared both on the same held-out rows, and the
        // canary period compared them live. The move is forced, with that
        // evidence as its audited reason.
        let reason = format!(
            "canary promoted by the monitoring pipeline: {evidence}{}",
            gate_evidence(&mut opened.store, &model, version.version)
        );
        opened
            .store
            .promote(
                &Promotion {
                    model: model.clone(),
                    version: version.version,
                    alias: PRODUCTION.into(),
                    force: true,
                },
                &config.registry.promotion,
                &who,
                &reason,
            )
            .map_err(|e| retryable(e.into()))?;
        opened
            .store
            .remove_alias(&model, &alias, &who, "promoted to production")
            .map_err(|e| retryable(e.into()))?;
        "promoted"
    } else {
        "held"
    };
    crate::commands::events::after_change(config, &mut opened.store);
    ctx.log(format!(
        "{model}@{}: {decision} ({evidence})",
        version.version
    ));
    Ok(TaskOutput::new(json!({
        "canary": version.version, "decision": decision, "evidence": evidence,
        "auc_canary": auc_c, "auc_production": auc_p,
    })))
}
