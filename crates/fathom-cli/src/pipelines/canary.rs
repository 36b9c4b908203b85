//! The `canary` task of the monitoring pipeline: the canary judged on what
//! the prediction log says it did since its alias was set.
//!
//! The judgement, in order:
//!
//! 1. its period (`[rollout] canary_period`) not over yet → `waiting`;
//! 2. fewer canary answers than `[serve.guardrails] min_requests` →
//!    `waiting`, with the counts;
//! 3. a guardrail (error rate, p95 latency, score distribution against
//!    production's answers of the same time) failed on the logged answers →
//!    `rolled_back`;
//! 4. with at least `[rollout] min_labels` labelled answers of each, a live
//!    AUC-ROC lower than production's by more than `[rollout] tolerance` →
//!    `rolled_back`;
//! 5. otherwise `promoted` (or `held` without `auto_promote`).
//!
//! Both moves are audited with the figures and the paths of the monitoring
//! check's report and decision record; a promotion also carries the
//! training pipeline's deployment reason (the gate's comparison and the
//! training report).

use super::training::pipeline_actor;
use super::{retryable, work_dir};
use crate::commands::monitor::{OpenedLog, open_log};
use crate::config::{Config, RolloutConfig};
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use fathom_pipeline::{TaskContext, TaskError, TaskOutput};
use fathom_predlog::{PredictionRecord, Variant};
use fathom_registry::{Clock, PRODUCTION, Promotion, RegistryError};
use fathom_serve::config::Guardrails;
use fathom_serve::rollout::{SlotStats, StatsSnapshot};
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the prediction log holds of one variant since the canary started.
#[derive(Debug, Default)]
pub struct Answers {
    /// Answers, by score and latency bucket (as the server counts them).
    pub stats: StatsSnapshot,
    /// Labels of the answers that have one.
    pub labels: Vec<f64>,
    /// Scores of those answers, in the same order.
    pub scores: Vec<f64>,
}

impl Answers {
    fn from_records<'a>(
        records: impl Iterator<Item = &'a PredictionRecord>,
        labels: &HashMap<String, f64>,
    ) -> Answers {
        let stats = SlotStats::default();
        let mut out = Answers::default();
        for r in records {
            stats.observe(r.score, u64::from(r.latency_us));
            if let Some(&y) = labels.get(&r.request_id) {
                out.labels.push(y);
                out.scores.push(r.score);
            }
        }
        out.stats = stats.snapshot();
        out
    }

    /// Answers given.
    pub fn count(&self) -> u64 {
        self.stats.requests
    }
}

/// The canary's and production's answers since the canary started.
#[derive(Debug, Default)]
pub struct Live {
    /// The canary version's answers on the canary route.
    pub canary: Answers,
    /// Production's answers.
    pub production: Answers,
}

/// What becomes of the canary, with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not judged yet: its period is not over, or too few answers.
    Waiting(String),
    /// Worse than production, or a guardrail failed: removed.
    RollBack(String),
    /// Held its guardrails and is not worse: promoted (or held, without
    /// automatic promotion).
    Promote(String),
}

impl Verdict {
    /// The decision's name, as the task's output says it.
    pub fn name(&self, auto_promote: bool) -> &'static str {
        match self {
            Verdict::Waiting(_) => "waiting",
            Verdict::RollBack(_) => "rolled_back",
            Verdict::Promote(_) if auto_promote => "promoted",
            Verdict::Promote(_) => "held",
        }
    }

    /// The evidence.
    pub fn evidence(&self) -> &str {
        match self {
            Verdict::Waiting(e) | Verdict::RollBack(e) | Verdict::Promote(e) => e,
        }
    }
}

/// AUC-ROC of labelled answers, when there are at least `min_labels` with
/// five of each class.
pub fn live_auc(y: &[f64], scores: &[f64], min_labels: u64) -> Option<f64> {
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    let negatives = y.len() - positives;
    if (y.len() as u64) < min_labels || positives < 5 || negatives < 5 {
        return None;
    }
    fathom_learn::metrics::roc_auc(y, scores, None).ok()
}

fn seconds(ms: i64) -> String {
    format!("{}s", ms / 1000)
}

/// Judges a canary that has been serving for `served_ms`.
pub fn judge(
    rollout: &RolloutConfig,
    guardrails: &Guardrails,
    served_ms: i64,
    live: &Live,
) -> Verdict {
    let period = rollout.canary_period;
    if served_ms < period.ms() {
        return Verdict::Waiting(format!(
            "canary for {} of its {period} period",
            seconds(served_ms)
        ));
    }
    let (c, p) = (&live.canary, &live.production);
    let counts = format!(
        "{} canary answers ({} labelled), {} production answers ({} labelled) over {}",
        c.count(),
        c.labels.len(),
        p.count(),
        p.labels.len(),
        seconds(served_ms)
    );
    if c.count() < guardrails.min_requests {
        return Verdict::Waiting(format!(
            "{counts}; {} canary answers needed (serve.guardrails.min_requests)",
            guardrails.min_requests
        ));
    }
    if guardrails.enabled
        && let Some(failed) = fathom_serve::follow::judge(guardrails, &p.stats, &c.stats)
    {
        return Verdict::RollBack(format!(
            "guardrail failed on the logged answers: {failed}; {counts}"
        ));
    }
    let min = rollout.min_labels;
    let auc = (
        live_auc(&c.labels, &c.scores, min),
        live_auc(&p.labels, &p.scores, min),
    );
    let guarded = if guardrails.enabled {
        "guardrails held on the logged answers"
    } else {
        "guardrails off"
    };
    match auc {
        (Some(ca), Some(pa)) if ca < pa - rollout.tolerance => Verdict::RollBack(format!(
            "live AUC-ROC {ca:.4} against production's {pa:.4}, lower by more than the tolerance {}; {counts}",
            rollout.tolerance
        )),
        (Some(ca), Some(pa)) => Verdict::Promote(format!(
            "live AUC-ROC {ca:.4} against production's {pa:.4} (tolerance {}); {guarded}; {counts}",
            rollout.tolerance
        )),
        _ => Verdict::Promote(format!(
            "{guarded}; too few labels to compare live metrics ({min} labelled answers of each needed); {counts}"
        )),
    }
}

/// Reads the canary's and production's answers of `model` in
/// `[from, to]` and their labels.
fn read_live(
    config: &Config,
    model: &str,
    version: i64,
    from: i64,
    to: i64,
) -> Result<Live, TaskError> {
    let Ok(OpenedLog { reader, .. }) = open_log(config, from) else {
        return Ok(Live::default());
    };
    let records = reader
        .predictions(from, to.saturating_add(1))
        .map_err(|e| retryable(anyhow!(e)))?;
    let labels: HashMap<String, f64> = reader
        .feedback(from, i64::MAX)
        .map_err(|e| retryable(anyhow!(e)))?
        .into_iter()
        .map(|f| (f.request_id, f.label))
        .collect();
    let ours = || records.iter().filter(|r| r.model == model);
    Ok(Live {
        canary: Answers::from_records(
            ours().filter(|r| r.variant == Variant::Canary && r.version == version),
            &labels,
        ),
        production: Answers::from_records(
            ours().filter(|r| r.variant == Variant::Production),
            &labels,
        ),
    })
}

/// "; at deployment: …": the reason the canary alias was set with (the
/// training gate's comparison and report), when the audit log has it.
fn deployment_reason(store: &mut fathom_registry::Store, model: &str, version: i64) -> String {
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

/// "; monitoring report …, decision record …": where the check of this
/// run wrote its findings.
fn check_paths(config: &Config, ctx: &TaskContext) -> String {
    let check = ctx.upstream("check").cloned().unwrap_or(Value::Null);
    let path = |k: &str| {
        check[k].as_str().map_or_else(
            || {
                work_dir(config, "monitoring", &ctx.logical_date.to_string())
                    .display()
                    .to_string()
            },
            str::to_string,
        )
    };
    format!(
        "; monitoring run {} ({}): report {}, decision record {}",
        ctx.run_id,
        ctx.logical_date,
        path("report"),
        path("decision")
    )
}

/// The task body: judges the canary at `clock`'s time.
pub fn task(
    config: &Config,
    clock: &dyn Clock,
    ctx: &TaskContext,
) -> Result<TaskOutput, TaskError> {
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
    let since: DateTime<Utc> = opened
        .store
        .alias_history(&model, Some(&alias))
        .map_err(|e| retryable(e.into()))?
        .into_iter()
        .filter(|e| e.to == Some(version.version))
        .map(|e| e.at)
        .max()
        .unwrap_or(version.created_at);
    let now = clock.now();
    let served_ms = (now - since).num_milliseconds();
    let live = read_live(
        config,
        &model,
        version.version,
        since.timestamp_millis(),
        now.timestamp_millis(),
    )?;
    let verdict = judge(&config.rollout, &config.serve.guardrails, served_ms, &live);
    let auto = config.rollout.auto_promote;
    let decision = verdict.name(auto);
    let evidence = verdict.evidence().to_string();
    let who = pipeline_actor();
    let audited = match &verdict {
        Verdict::Waiting(_) => None,
        Verdict::Promote(_) if !auto => None,
        Verdict::RollBack(e) => {
            let reason = format!("canary rolled back: {e}{}", check_paths(config, ctx));
            opened
                .store
                .remove_alias(&model, &alias, &who, &reason)
                .map_err(|e| retryable(e.into()))?;
            Some(reason)
        }
        Verdict::Promote(e) => {
            // The registry's gate compares the metrics each version
            // recorded on its own held-out rows, which after retraining on
            // new data are not the same rows. The evidence here is
            // stronger: the training pipeline's gate compared both on the
            // same held-out rows, and the canary period compared them live.
            // The move is forced, with that evidence as its audited reason.
            let reason = format!(
                "canary promoted by the monitoring pipeline: {e}{}{}",
                check_paths(config, ctx),
                deployment_reason(&mut opened.store, &model, version.version)
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
            Some(reason)
        }
    };
    if audited.is_some() {
        crate::commands::events::after_change(config, &mut opened.store);
    }
    ctx.log(format!(
        "{model}@{}: {decision} ({evidence})",
        version.version
    ));
    let (c, p) = (&live.canary, &live.production);
    Ok(TaskOutput::new(json!({
        "canary": version.version, "decision": decision, "evidence": evidence,
        "served_ms": served_ms, "reason": audited,
        "answers": {"canary": c.count(), "production": p.count(),
                    "canary_labelled": c.labels.len(), "production_labelled": p.labels.len(),
                    "needed": config.serve.guardrails.min_requests},
        "auc_canary": live_auc(&c.labels, &c.scores, config.rollout.min_labels),
        "auc_production": live_auc(&p.labels, &p.scores, config.rollout.min_labels),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fathom_monitor::Span;

    /// `n` answers of one variant, scores from `score(i)`, every one with
    /// label `label(i)`.
    fn answers(n: usize, score: impl Fn(usize) -> f64, label: impl Fn(usize) -> f64) -> Answers {
        let records: Vec<PredictionRecord> = (0..n)
            .map(|i| PredictionRecord {
                request_id: format!("r{i}"),
                time_ms: i as i64,
                model: "m".into(),
                version: 1,
                variant: Variant::Production,
                inputs: Default::default(),
                score: score(i),
                decision: None,
                latency_us: 300,
                degraded: false,
            })
            .collect();
        let labels = (0..n).map(|i| (format!("r{i}"), label(i))).collect();
        Answers::from_records(records.iter(), &labels)
    }

    /// A model that ranks every positive above every negative (every
    /// tenth row positive), or one that ranks them at random.
    fn good(n: usize) -> Answers {
        answers(
            n,
            |i| {
                if i % 10 == 0 {
                    0.9
                } else {
                    0.01 + (i % 7) as f64 * 0.01
                }
            },
            |i| f64::from(u8::from(i % 10 == 0)),
        )
    }

    fn rollout(period: Span) -> RolloutConfig {
        RolloutConfig {
            canary_period: period,
            ..RolloutConfig::default()
        }
    }

    #[test]
    fn the_period_and_the_answers_come_first() {
        let g = Guardrails {
            min_requests: 500,
            ..Guardrails::default()
        };
        let live = Live {
            canary: good(600),
            production: good(600),
        };
        // The clock says 30 minutes of a 1 hour period.
        let v = judge(&rollout(Span::hours(1)), &g, 30 * 60_000, &live);
        assert_eq!(v.name(true), "waiting");
        assert!(v.evidence().contains("1800s of its 1h"), "{v:?}");
        // The period is over, but the canary answered 499 times.
        let few = Live {
            canary: good(499),
            production: good(5000),
        };
        let v = judge(&rollout(Span::hours(1)), &g, 2 * 3_600_000, &few);
        assert_eq!(v.name(true), "waiting");
        assert!(
            v.evidence().contains("499 canary answers (499 labelled)")
                && v.evidence().contains("500 canary answers needed"),
            "{v:?}"
        );
        let v = judge(&rollout(Span::hours(1)), &g, 2 * 3_600_000, &live);
        assert_eq!(v.name(true), "promoted", "{v:?}");
        assert_eq!(v.name(false), "held");
        assert!(v.evidence().contains("live AUC-ROC 1.0000"), "{v:?}");
    }

    #[test]
    fn worse_live_metrics_or_a_failed_guardrail_roll_back() {
        let g = Guardrails {
            min_requests: 100,
            max_score_psi: 100.0,
            ..Guardrails::default()
        };
        // Scores that say nothing about the labels.
        let blind = answers(
            600,
            |i| 0.01 + (i % 13) as f64 * 0.001,
            |i| f64::from(u8::from(i % 10 == 0)),
        );
        let live = Live {
            canary: blind,
            production: good(600),
        };
        let v = judge(&rollout(Span::ZERO), &g, 0, &live);
        assert_eq!(v.name(true), "rolled_back");
        assert!(
            v.evidence().contains("against production's 1.0000")
                && v.evidence().contains("600 canary answers (600 labelled)"),
            "{v:?}"
        );
        // Slow answers fail the latency guardrail before any label is read.
        let mut slow = good(600);
        slow.stats.latency = [0; fathom_serve::rollout::LATENCY_BOUNDS_US.len()];
        slow.stats.latency[10] = 600;
        let live = Live {
            canary: slow,
            production: good(600),
        };
        let v = judge(&rollout(Span::ZERO), &g, 0, &live);
        assert_eq!(v.name(true), "rolled_back");
        assert!(v.evidence().contains("p95 latency"), "{v:?}");
        // Too few labels: the guardrails alone decide.
        let unlabelled = Live {
            canary: answers(600, |_| 0.1, |_| 0.0),
            production: answers(600, |_| 0.1, |_| 0.0),
        };
        let v = judge(&rollout(Span::ZERO), &g, 0, &unlabelled);
        assert_eq!(v.name(true), "promoted");
        assert!(v.evidence().contains("too few labels"), "{v:?}");
    }
}
