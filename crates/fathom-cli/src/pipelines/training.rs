//! The `training` pipeline: a new candidate from the newest validated data,
//! compared with production on the very same held-out rows, registered,
//! and deployed as the canary only when it passes the gate.
//!
//! snapshot → train → evaluate → register → gate → deploy
//!
//! The gate stops the run on purpose (not a failure) with its reason when
//! the candidate is worse than production; nothing is deployed then.

use super::{fatal, quiet, retryable, work_dir};
use crate::config::Config;
use crate::tracking::{TrainingInput, fail_runs, record_started, register_model_file, start_runs};
use anyhow::anyhow;
use fathom_core::Frame;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_data::snapshot::SnapshotStore;
use fathom_learn::cv::{CvConfig, Metric};
use fathom_learn::trainer::TrainConfig;
use fathom_model::artifact::ModelArtifact;
use fathom_model::predictor::Predictor;
use fathom_pipeline::{Pipeline, PipelineError, TaskContext, TaskError, TaskOutput, TaskSpec};
use fathom_registry::{MetricGoal, Promotion, RegistryError, RunQuery};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `training` pipeline.
pub fn pipeline(config: Arc<Config>) -> Result<Pipeline, PipelineError> {
    let c = [0; 6].map(|_| config.clone());
    let [c1, c2, c3, c4, c5, c6] = c;
    Pipeline::builder("training")
        .owner("data-science")
        .task(TaskSpec::new("snapshot"), move |ctx| snapshot(&c1, ctx))
        .task(
            TaskSpec::new("train").after(["snapshot"]).retries(1),
            move |ctx| train(&c2, ctx),
        )
        .task(TaskSpec::new("evaluate").after(["train"]), move |ctx| {
            evaluate(&c3, ctx)
        })
        .task(TaskSpec::new("register").after(["evaluate"]), move |ctx| {
            register(&c4, ctx)
        })
        .task(TaskSpec::new("gate").after(["register"]), move |ctx| {
            gate(&c5, ctx)
        })
        .task(TaskSpec::new("deploy").after(["gate"]), move |ctx| {
            deploy(&c6, ctx)
        })
        .build()
}

fn out<'a>(ctx: &'a TaskContext, task: &str) -> Result<&'a Value, TaskError> {
    ctx.upstream(task)
        .ok_or_else(|| TaskError::fatal(format!("the {task} task left no output")))
}

/// The newest validated data: the `snapshot` parameter when the run was
/// given one, else the snapshot the data pipeline recorded last.
fn snapshot(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let id = match ctx.param("snapshot").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => {
            let mut opened = crate::store::open(config).map_err(retryable)?;
            let page = match opened.store.list_runs(&RunQuery {
                experiment: Some(super::data::EXPERIMENT.into()),
                filter: "status = 'finished' and tags.validated = 'true'".into(),
                order_by: None,
                limit: 1,
                offset: 0,
            }) {
                Ok(p) => p,
                Err(RegistryError::NotFound { .. }) => {
                    return Err(TaskError::fatal(
                        "no validated data yet: run the data pipeline first (`fathom pipeline run data`)",
                    ));
                }
                Err(e) => return Err(retryable(e.into())),
            };
            page.runs
                .first()
                .and_then(|r| r.tags.get("snapshot").cloned())
                .ok_or_else(|| {
                    TaskError::fatal(
                        "no validated data yet: run the data pipeline first (`fathom pipeline run data`)",
                    )
                })?
        }
    };
    let path = SnapshotStore::new(&config.store.path).data_path(&id);
    if !path.is_file() {
        return Err(TaskError::fatal(format!(
            "snapshot {id} is not in the store ({}); restore it or run the data pipeline again",
            path.display()
        )));
    }
    ctx.log(format!("training data: snapshot {id}"));
    Ok(TaskOutput::new(json!({"snapshot": id, "path": path})))
}

/// The contract: the data pipeline's, else the one inferred from the data.
fn contract(config: &Config, data: &Path) -> anyhow::Result<fathom_core::Schema> {
    super::data::contract(config)
        .or_else(|_| crate::commands::data::infer_schema_of(data, Default::default(), &quiet()))
}

fn read(data: &Path, schema: &fathom_core::Schema) -> anyhow::Result<Frame> {
    Ok(read_frame(
        data,
        &ReadOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        },
    )?)
}

/// Folds of the cross-validation the pipeline runs when `[train.cv]`
/// gives none.
pub const DEFAULT_CV_FOLDS: usize = 5;

/// What the pipeline trains with: `[train]` with `[features]` in place
/// (as `fathom train` does), and cross-validation always on: `[train.cv]`
/// when given, else [`DEFAULT_CV_FOLDS`] folds ranked by AUC-PR.
pub fn train_settings(config: &Config) -> TrainConfig {
    let mut settings = config.train_config();
    if settings.cv.is_none() {
        settings.cv = Some(CvConfig {
            folds: DEFAULT_CV_FOLDS,
            ..CvConfig::default()
        });
    }
    settings
}

fn train(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let s = out(ctx, "snapshot")?;
    let data = PathBuf::from(s["path"].as_str().unwrap_or_default());
    let snapshot = s["snapshot"].as_str().unwrap_or_default().to_string();
    let schema = contract(config, &data).map_err(fatal)?;
    let dir = work_dir(config, "training", &ctx.logical_date.to_string());
    std::fs::create_dir_all(&dir)
        .map_err(|e| retryable(anyhow!("cannot create {}: {e}", dir.display())))?;
    let model_file = dir.join("model.fathom");
    let settings = train_settings(config);
    let model = super::model_name(config);
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let input = TrainingInput {
        model: &model,
        data: &data,
        snapshot: Some(&snapshot),
        config: &settings,
        register: false,
    };
    // Each candidate's run is `running` while it trains, and `failed`
    // with the error if the training fails.
    let started = start_runs(&mut opened, &input, true).map_err(retryable)?;
    let trained = match crate::commands::train::train_file(
        &data,
        &schema,
        &model_file,
        &settings,
        Some(snapshot.clone()),
        &quiet(),
    ) {
        Ok(t) => t,
        Err(e) => {
            fail_runs(&mut opened, &started, &format!("{e:#}"));
            return Err(fatal(e));
        }
    };
    // The held-out rows, for comparing with production on the same rows.
    let holdout = dir.join("holdout.json");
    fathom_data::export::write_atomic(
        &holdout,
        serde_json::to_vec(&trained.result.test_rows)
            .map_err(|e| fatal(e.into()))?
            .as_slice(),
    )
    .map_err(|e| retryable(e.into()))?;
    let recorded =
        record_started(&mut opened, started, &input, &trained, &model_file).map_err(retryable)?;
    let folds = settings.cv.as_ref().map_or(0, |cv| cv.folds);
    let cv = trained
        .result
        .candidates
        .iter()
        .find(|c| c.name == trained.result.best)
        .and_then(|c| c.cv.as_ref())
        .map(|cv| {
            json!({
                "folds": folds,
                "auc_pr": cv.mean_std_text(Metric::AucPr),
                "auc_roc": cv.mean_std_text(Metric::AucRoc),
            })
        });
    ctx.log(format!(
        "best {} of {} candidates ({folds}-fold cross-validation{}); {}",
        trained.result.best,
        trained.result.candidates.len(),
        cv.as_ref().map_or(String::new(), |c| format!(
            ", AUC-PR {}",
            c["auc_pr"].as_str().unwrap_or("–")
        )),
        recorded.runs_text()
    ));
    Ok(TaskOutput::new(json!({
        "model": model_file, "holdout": holdout, "report": trained.report,
        "best": trained.result.best, "run": recorded.best_run(),
        "metrics": trained.result.artifact.metrics, "cv": cv,
    })))
}

/// `metric` of `scores` against `y`, for the metrics the gate can use.
fn metric(name: &str, y: &[f64], scores: &[f64]) -> Option<f64> {
    use fathom_learn::metrics::{average_precision, brier_score, log_loss, roc_auc};
    match name {
        "auc_pr" => average_precision(y, scores, None).ok(),
        "auc_roc" => roc_auc(y, scores, None).ok(),
        "logloss" => log_loss(y, scores, None).ok(),
        "brier" => brier_score(y, scores, None).ok(),
        _ => None,
    }
}

/// The gate's metric for the candidate and for production, both on the
/// candidate's held-out rows.
fn evaluate(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let t = out(ctx, "train")?;
    let s = out(ctx, "snapshot")?;
    let data = PathBuf::from(s["path"].as_str().unwrap_or_default());
    let model_file = PathBuf::from(t["model"].as_str().unwrap_or_default());
    let rows: Vec<usize> = serde_json::from_slice(
        &std::fs::read(t["holdout"].as_str().unwrap_or_default())
            .map_err(|e| fatal(anyhow!("the held-out rows are gone: {e}")))?,
    )
    .map_err(|e| fatal(e.into()))?;
    let candidate = ModelArtifact::load(&model_file).map_err(|e| fatal(e.into()))?;
    let schema = candidate.schema.clone();
    let frame = read(&data, &schema).map_err(fatal)?;
    let label = schema
        .label()
        .map(|c| c.name.clone())
        .ok_or_else(|| TaskError::fatal("the contract has no label"))?;
    let column = frame
        .column(&label)
        .ok_or_else(|| TaskError::fatal(format!("the data has no label column {label}")))?;
    let model = super::model_name(config);
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let production = match opened
        .store
        .version_by_alias(&model, fathom_registry::PRODUCTION)
    {
        Ok(v) => Some(v),
        Err(RegistryError::NotFound { .. }) => None,
        Err(e) => return Err(retryable(e.into())),
    };
    let production_artifact = match &production {
        None => None,
        Some(v) => {
            let bytes = opened
                .store
                .load_artifact(&v.model, v.version)
                .map_err(|e| retryable(e.into()))?;
            Some(ModelArtifact::from_bytes(&bytes, &v.artifact_uri).map_err(|e| fatal(e.into()))?)
        }
    };
    // Rows production learned from are no fair test of it: with a unique
    // id in the contract and production's training snapshot at hand, they
    // are left out of the comparison.
    let all_rows = rows.len();
    let rows = match production_artifact
        .as_ref()
        .map(|a| seen_ids(config, a, &schema))
        .transpose()
        .map_err(retryable)?
        .flatten()
    {
        Some((id, seen)) => {
            let ids = frame
                .column(&id)
                .ok_or_else(|| TaskError::fatal(format!("the data has no id column {id}")))?;
            let fresh: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| !seen.contains(&ids.display_value(r)))
                .collect();
            let positives = fresh
                .iter()
                .filter(|&&r| column.f64_at(r) == Some(1.0))
                .count();
            if fresh.len() >= 200 && positives >= 5 {
                ctx.log(format!(
                    "{} of {all_rows} held-out rows were in production's training data; compared on the other {}",
                    all_rows - fresh.len(),
                    fresh.len()
                ));
                fresh
            } else {
                ctx.log(format!(
                    "only {} held-out rows ({positives} positive) are new to production; compared on all {all_rows}",
                    fresh.len()
                ));
                rows
            }
        }
        None => rows,
    };
    let y: Vec<f64> = rows
        .iter()
        .map(|&r| column.f64_at(r).unwrap_or(f64::NAN))
        .collect();
    let name = config.registry.promotion.metric.clone();
    let on_rows = |artifact: &ModelArtifact| -> Result<Option<f64>, TaskError> {
        let scores = Predictor::new(artifact.clone())
            .and_then(|p| p.score_frame(&frame))
            .map_err(|e| fatal(e.into()))?;
        let picked: Vec<f64> = rows.iter().map(|&r| scores[r]).collect();
        Ok(metric(&name, &y, &picked))
    };
    let cand = on_rows(&candidate)?;
    let (prod_value, prod_version, prod_schema) = match (&production, &production_artifact) {
        (Some(v), Some(artifact)) => {
            // A production model with another contract cannot score these rows.
            let value = if artifact.lineage.schema_hash == candidate.lineage.schema_hash {
                on_rows(artifact)?
            } else {
                None
            };
            (value, Some(v.version), Some(v.schema_hash.clone()))
        }
        _ => (None, None, None),
    };
    ctx.log(format!(
        "{name} on {} held-out rows: candidate {}, production{} {}",
        rows.len(),
        cand.map_or("–".into(), |v| format!("{v:.4}")),
        prod_version.map_or(String::new(), |v| format!(" (version {v})")),
        prod_value.map_or("–".into(), |v| format!("{v:.4}"))
    ));
    Ok(TaskOutput::new(json!({
        "metric": name, "rows": rows.len(), "candidate": cand,
        "production": prod_value, "production_version": prod_version,
        "same_schema": prod_schema.as_deref().is_none_or(|h| h == candidate.lineage.schema_hash),
    })))
}

/// The id column of the contract and the ids of the rows `artifact` was
/// trained on (from its training snapshot), when both are at hand.
fn seen_ids(
    config: &Config,
    artifact: &ModelArtifact,
    schema: &fathom_core::Schema,
) -> anyhow::Result<Option<(String, HashSet<String>)>> {
    let Some(id) = schema
        .columns
        .iter()
        .find(|c| c.role == fathom_core::Role::Id)
        .map(|c| c.name.clone())
    else {
        return Ok(None);
    };
    let Some(snapshot) = artifact.lineage.data_snapshot.as_deref() else {
        return Ok(None);
    };
    let path = SnapshotStore::new(&config.store.path).data_path(snapshot);
    if !path.is_file() {
        return Ok(None);
    }
    let mut seen = HashSet::new();
    for batch in fathom_data::ingest::open(&path, &Default::default())? {
        let batch = batch?;
        if let Some(c) = batch.column(&id) {
            seen.extend((0..batch.num_rows()).map(|i| c.display_value(i)));
        }
    }
    Ok(Some((id, seen)))
}

fn register(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let t = out(ctx, "train")?;
    let s = out(ctx, "snapshot")?;
    let model_file = PathBuf::from(t["model"].as_str().unwrap_or_default());
    let artifact = ModelArtifact::load(&model_file).map_err(|e| fatal(e.into()))?;
    let model = super::model_name(config);
    let mut opened = crate::store::open(config).map_err(retryable)?;
    // The gate's finding goes with the registration, so the audit log says
    // why a version that is never deployed was not.
    let verdict = gate_verdict(config, out(ctx, "evaluate")?);
    let reason = format!(
        "training pipeline {} ({}{}); {}; training run {}, report {}",
        ctx.logical_date,
        ctx.trigger.as_str(),
        if ctx.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", ctx.reason)
        },
        verdict.refusal().map_or_else(
            || format!("gate passed: {}", verdict.evidence),
            |r| format!("not deployed, {r}")
        ),
        t["run"],
        t["report"].as_str().unwrap_or("–"),
    );
    let version = register_model_file(
        &mut opened,
        &model,
        t["run"].as_i64(),
        &model_file,
        &artifact,
        s["snapshot"].as_str().map(str::to_string),
        format!(
            "{} retrained by the training pipeline on snapshot {}",
            t["best"].as_str().unwrap_or("model"),
            s["snapshot"].as_str().unwrap_or("?")
        ),
        &reason,
    )
    .map_err(retryable)?;
    crate::commands::events::after_change(config, &mut opened.store);
    ctx.log(format!("registered {}@{}", version.model, version.version));
    Ok(TaskOutput::new(json!({
        "model": version.model, "version": version.version, "artifact": version.artifact_uri,
    })))
}

/// The gate's finding on the evaluation: the evidence (both figures) and
/// what failed, if anything.
struct GateVerdict {
    /// The candidate's figure, against production's when there is one.
    evidence: String,
    /// What the candidate failed; empty when it passed.
    failures: Vec<String>,
}

impl GateVerdict {
    /// The run's stop reason, when the candidate failed; the evidence is
    /// added unless a failure already states both figures.
    fn refusal(&self) -> Option<String> {
        (!self.failures.is_empty()).then(|| {
            let failures = self.failures.join("; ");
            if failures.contains("worse than production's") {
                format!("the gate refused the candidate: {failures}")
            } else {
                format!(
                    "the gate refused the candidate: {failures} ({})",
                    self.evidence
                )
            }
        })
    }
}

/// Compares the evaluation with the promotion policy: not worse than
/// production (by the policy's metric and tolerance, on the same held-out
/// rows), its threshold met, its contract kept.
fn gate_verdict(config: &Config, e: &Value) -> GateVerdict {
    let policy = &config.registry.promotion;
    let metric = e["metric"].as_str().unwrap_or_default();
    let rows = e["rows"].as_u64().unwrap_or(0);
    let Some(cand) = e["candidate"].as_f64() else {
        return GateVerdict {
            evidence: format!("{metric} not measurable on {rows} held-out rows"),
            failures: vec![format!(
                "the candidate's {metric} could not be measured on the held-out rows"
            )],
        };
    };
    let mut failures = Vec::new();
    if let Some(limit) = policy.threshold {
        let ok = match MetricGoal::of(metric) {
            MetricGoal::Maximize => cand >= limit,
            MetricGoal::Minimize => cand <= limit,
        };
        if !ok {
            failures.push(format!(
                "{metric} {cand:.4} does not meet the threshold {limit}"
            ));
        }
    }
    if policy.require_same_schema && e["same_schema"] == false {
        failures.push(format!(
            "its contract differs from production's (version {})",
            e["production_version"]
        ));
    }
    if let Some(prod) = e["production"].as_f64() {
        let required = match MetricGoal::of(metric) {
            MetricGoal::Maximize => prod - policy.tolerance,
            MetricGoal::Minimize => prod + policy.tolerance,
        };
        let ok = match MetricGoal::of(metric) {
            MetricGoal::Maximize => cand >= required,
            MetricGoal::Minimize => cand <= required,
        };
        if !ok {
            failures.push(format!(
                "{metric} {cand:.4} is worse than production's {prod:.4} on the same {rows} held-out rows (tolerance {})",
                policy.tolerance
            ));
        }
    }
    let evidence = match e["production"].as_f64() {
        Some(prod) => format!(
            "{metric} {cand:.4} against production's {prod:.4} (version {}) on the same {rows} held-out rows",
            e["production_version"]
        ),
        None => {
            format!("{metric} {cand:.4} on {rows} held-out rows; no production to compare with")
        }
    };
    GateVerdict { evidence, failures }
}

/// Passes when the candidate is not worse than production (by the
/// promotion policy's metric and tolerance, on the same held-out rows)
/// and keeps its contract; otherwise stops the run with the reason.
fn gate(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let verdict = gate_verdict(config, out(ctx, "evaluate")?);
    let evidence = &verdict.evidence;
    match verdict.refusal() {
        None => {
            ctx.log(format!("gate passed: {evidence}"));
            Ok(TaskOutput::new(
                json!({"passed": true, "evidence": evidence}),
            ))
        }
        Some(reason) => {
            ctx.log(&reason);
            Ok(TaskOutput::stop(
                json!({"passed": false, "evidence": evidence, "failures": verdict.failures}),
                format!("{reason}; registered, not deployed"),
            ))
        }
    }
}

/// Moves the canary alias to the new version (or production, when there
/// is none yet), with the gate's evidence as the audited reason.
fn deploy(config: &Config, ctx: &TaskContext) -> Result<TaskOutput, TaskError> {
    let r = out(ctx, "register")?;
    let g = out(ctx, "gate")?;
    let model = r["model"].as_str().unwrap_or_default().to_string();
    let version = r["version"].as_i64().unwrap_or_default();
    let mut opened = crate::store::open(config).map_err(retryable)?;
    let has_production = match opened
        .store
        .version_by_alias(&model, fathom_registry::PRODUCTION)
    {
        Ok(_) => true,
        Err(RegistryError::NotFound { .. }) => false,
        Err(e) => return Err(retryable(e.into())),
    };
    let alias = if has_production {
        config.serve.canary_alias.clone()
    } else {
        fathom_registry::PRODUCTION.to_string()
    };
    let t = out(ctx, "train")?;
    let cv = t["cv"]["auc_pr"].as_str().map_or(String::new(), |m| {
        format!("; {}-fold CV AUC-PR {m}", t["cv"]["folds"])
    });
    let reason = format!(
        "training pipeline {}: {}{cv}; training run {}, report {}, artifact {}",
        ctx.logical_date,
        g["evidence"].as_str().unwrap_or("gate passed"),
        t["run"],
        t["report"].as_str().unwrap_or("–"),
        r["artifact"].as_str().unwrap_or("–"),
    );
    let moved = opened
        .store
        .promote(
            &Promotion {
                model: model.clone(),
                version,
                alias: alias.clone(),
                force: false,
            },
            &config.registry.promotion,
            &pipeline_actor(),
            &reason,
        )
        .map_err(|e| match e {
            RegistryError::PromotionRefused { .. } => fatal(e.into()),
            other => retryable(other.into()),
        })?;
    crate::commands::events::after_change(config, &mut opened.store);
    ctx.log(format!("{model}@{version} is now {alias} ({reason})"));
    Ok(TaskOutput::new(json!({
        "model": model, "version": version, "alias": alias, "changed": moved.changed,
    })))
}

/// Who the pipelines act as in the audit log.
pub fn pipeline_actor() -> fathom_registry::Actor {
    fathom_registry::Actor::new("fathom-pipeline", fathom_registry::host_name())
}
