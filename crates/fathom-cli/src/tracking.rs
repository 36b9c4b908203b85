//! Records a training as runs (one per candidate) and registers its winner
//! as a model version.

use crate::commands::train::Trained;
use crate::store::{Opened, actor, holdout_id};
use anyhow::{Context, Result};
use fathom_learn::cv::Metric;
use fathom_learn::trainer::{CandidateResult, TrainConfig};
use fathom_registry::tracking::MAX_VALUE_LEN;
use fathom_registry::{
    ArtifactRecord, MetricPoint, ModelVersion, NewRun, NewVersion, RunBatch, RunId,
};
use serde::Serialize;
use std::path::Path;

/// What a training left in the store.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// The experiment the runs went to (the model name).
    pub experiment: String,
    /// One run per candidate, in the order trained.
    pub runs: Vec<RecordedRun>,
    /// The registered version, unless registration was skipped.
    pub version: Option<ModelVersion>,
}

/// One candidate's run.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRun {
    /// Run id.
    pub id: RunId,
    /// Candidate name.
    pub candidate: String,
    /// Whether it won.
    pub best: bool,
}

impl Recorded {
    /// The winner's run id.
    pub fn best_run(&self) -> Option<RunId> {
        self.runs.iter().find(|r| r.best).map(|r| r.id)
    }

    /// "runs 1–4 (best 4)".
    pub fn runs_text(&self) -> String {
        let ids: Vec<String> = self.runs.iter().map(|r| r.id.to_string()).collect();
        format!(
            "run{} {} in experiment '{}' (best: run {})",
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", "),
            self.experiment,
            self.best_run()
                .map_or_else(|| "–".into(), |i| i.to_string())
        )
    }
}

/// What was trained on, for the runs' records.
pub struct TrainingInput<'a> {
    /// Model name (also the experiment).
    pub model: &'a str,
    /// The data file.
    pub data: &'a Path,
    /// The data snapshot's id.
    pub snapshot: Option<&'a str>,
    /// The training settings.
    pub config: &'a TrainConfig,
    /// Register the winner as a version.
    pub register: bool,
}

/// Source version: the commit fathom was built from when known, else its
/// version.
pub fn source_version() -> String {
    option_env!("FATHOM_GIT_COMMIT")
        .map(str::to_string)
        .unwrap_or_else(|| format!("fathom {}", env!("CARGO_PKG_VERSION")))
}

/// Flattens a JSON object into `prefix`+key = value pairs (nested keys
/// joined by '.'), values as text.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let mut pairs = Vec::new();
    crate::commands::config_show::flatten(prefix, v, &mut pairs);
    for (key, value) in pairs {
        match value {
            serde_json::Value::Null | serde_json::Value::Object(_) => {}
            serde_json::Value::String(s) => out.push((key, s)),
            other => out.push((key, other.to_string())),
        }
    }
}

/// The candidate's own settings: its estimator's parameters with the best
/// search trial's values on top, or an ensemble's members.
fn candidate_params(c: &CandidateResult, config: &TrainConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let own = match c.name.as_str() {
        "gbdt" => serde_json::to_value(&config.gbdt).ok(),
        "logistic" => serde_json::to_value(&config.logistic).ok(),
        "voting" | "stacking" => c
            .ensemble
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        _ => None,
    };
    if let Some(v) = own {
        flatten("", &v, &mut out);
    }
    if let Some(search) = &c.search {
        for (k, v) in &search.best_trial().params {
            out.retain(|(key, _)| key != k);
            out.push((k.clone(), v.to_string()));
        }
        out.push(("search.trials".into(), search.trials.len().to_string()));
    }
    out
}

fn finite(key: impl Into<String>, value: f64, out: &mut Vec<MetricPoint>) {
    if value.is_finite() {
        out.push(MetricPoint::new(key, value));
    }
}

/// Holdout metrics, cross-validation mean and std, and a search's trials
/// as a step series of the ranking metric.
fn candidate_metrics(c: &CandidateResult) -> Vec<MetricPoint> {
    let r = &c.report;
    let mut out = Vec::new();
    for (k, v) in [
        ("auc_roc", r.auc_roc),
        ("auc_pr", r.auc_pr),
        ("logloss", r.logloss),
        ("brier", r.brier),
        ("accuracy", r.accuracy),
        ("precision", r.precision),
        ("recall", r.recall),
        ("f1", r.f1),
        ("threshold", r.threshold),
        ("train_seconds", c.seconds),
    ] {
        finite(k, v, &mut out);
    }
    if let Some(cv) = &c.cv {
        for m in Metric::ALL {
            finite(format!("cv_{}_mean", m.name()), cv.mean.get(m), &mut out);
            finite(format!("cv_{}_std", m.name()), cv.std.get(m), &mut out);
        }
    }
    if let Some(search) = &c.search {
        let key = format!("search_cv_{}_mean", search.metric.name());
        for (i, t) in search.trials.iter().enumerate() {
            let v = t.cv.mean.get(search.metric);
            if v.is_finite() {
                out.push(MetricPoint {
                    key: key.clone(),
                    value: v,
                    step: i as i64 + 1,
                });
            }
        }
    }
    out
}

/// Stores each file in the artifact store and records it as an artifact
/// of `run` under its name.
pub fn log_files(
    store: &mut fathom_registry::Store,
    artifacts: &dyn fathom_registry::artifacts::ArtifactStore,
    run: RunId,
    files: &[(&str, &Path)],
) -> fathom_registry::Result<()> {
    for (name, path) in files {
        let stored = artifacts.put_file(path)?;
        log_stored(store, run, name, stored)?;
    }
    Ok(())
}

/// Records `stored` as the artifact `name` of `run`.
pub fn log_stored(
    store: &mut fathom_registry::Store,
    run: RunId,
    name: &str,
    stored: fathom_registry::artifacts::StoredArtifact,
) -> fathom_registry::Result<()> {
    store.log_artifact(
        run,
        &ArtifactRecord {
            name: name.into(),
            uri: stored.uri,
            sha256: stored.sha256,
            size_bytes: stored.size_bytes,
        },
    )
}

/// Registers `model_file` (whose contents are `artifact`) as a new version
/// of `model`, produced by `run`, with the artifact's finite metrics.
#[allow(clippy::too_many_arguments)]
pub fn register_model_file(
    opened: &mut Opened,
    model: &str,
    run: Option<RunId>,
    model_file: &Path,
    artifact: &fathom_model::artifact::ModelArtifact,
    holdout: Option<String>,
    description: String,
    reason: &str,
) -> Result<ModelVersion> {
    let stored = opened.artifacts.put_file(model_file)?;
    let metrics = artifact
        .metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let who = actor();
    Ok(opened.store.register_version(
        &NewVersion {
            model: model.to_string(),
            run_id: run,
            artifact_uri: stored.uri,
            artifact_sha256: stored.sha256,
            schema_hash: artifact.lineage.schema_hash.clone(),
            holdout_snapshot: holdout,
            metrics,
            owner: who.user.clone(),
            description,
        },
        &who,
        reason,
    )?)
}

/// The runs of a training, started before its results are known.
#[derive(Debug)]
pub struct StartedRuns {
    /// Candidate name → its run, in the order configured.
    runs: Vec<(String, RunId)>,
    /// Whether they were started before the training ran, so each ends
    /// when its candidate's final fit was done.
    before_training: bool,
}

fn start_run(opened: &mut Opened, input: &TrainingInput<'_>, candidate: &str) -> Result<RunId> {
    let mut new = NewRun::new(input.model, candidate);
    new.source_version = Some(source_version());
    new.data_snapshot = input.snapshot.map(str::to_string);
    new.seed = i64::try_from(input.config.seed).ok();
    let id = opened
        .store
        .start_run(&new)
        .with_context(|| format!("recording the {candidate} run"))?;
    opened
        .store
        .set_tag(id, "candidate", candidate)
        .with_context(|| format!("recording the {candidate} run {id}"))?;
    Ok(id)
}

/// Starts one run (status `running`) per configured candidate. With
/// `before_training`, call it just before training: each run then spans
/// from there to the end of its candidate's final fit.
pub fn start_runs(
    opened: &mut Opened,
    input: &TrainingInput<'_>,
    before_training: bool,
) -> Result<StartedRuns> {
    let mut runs = Vec::new();
    for c in &input.config.candidates {
        match start_run(opened, input, c) {
            Ok(id) => runs.push((c.clone(), id)),
            Err(e) => {
                let started = StartedRuns {
                    runs,
                    before_training,
                };
                fail_runs(opened, &started, &format!("{e:#}"));
                return Err(e);
            }
        }
    }
    Ok(StartedRuns {
        runs,
        before_training,
    })
}

/// Marks every started run `failed` with `error` (a training that failed).
/// A run that cannot be marked is reported on stderr; the training's own
/// error is what the command returns.
pub fn fail_runs(opened: &mut Opened, started: &StartedRuns, error: &str) {
    for (candidate, id) in &started.runs {
        if let Err(e) = opened.store.fail_run(*id, error) {
            eprintln!("warning: could not mark the {candidate} run {id} as failed: {e}");
        }
    }
}

/// Records the training into the runs [`start_runs`] started: each
/// candidate's run gets its params, metrics and tags (the winner also the
/// model file, its report, its reference profile and the settings as
/// artifacts) and ends (when started before the
/// training, at the time its final fit was done); a started run without a
/// result is marked failed.
pub fn record_started(
    opened: &mut Opened,
    started: StartedRuns,
    input: &TrainingInput<'_>,
    trained: &Trained,
    model_file: &Path,
) -> Result<Recorded> {
    let result = &trained.result;
    let lineage = &result.artifact.lineage;
    let config_json = serde_json::to_string(&lineage.params)?;
    let holdout = holdout_id(input.snapshot, &lineage.params);
    let mut runs = Vec::new();
    for (candidate, id) in &started.runs {
        if !result.candidates.iter().any(|c| &c.name == candidate) {
            let _ = opened.store.fail_run(
                *id,
                "the training ended without a result for this candidate",
            );
        }
    }
    for c in &result.candidates {
        let best = c.name == result.best;
        let id = match started.runs.iter().find(|(name, _)| *name == c.name) {
            Some((_, id)) => *id,
            None => start_run(opened, input, &c.name)?,
        };
        let ended = trained
            .finished_at
            .get(&c.name)
            .copied()
            .filter(|_| started.before_training);
        let store = &mut opened.store;
        let mut params = vec![
            ("candidate".to_string(), c.name.clone()),
            ("seed".into(), input.config.seed.to_string()),
            ("data".into(), input.data.display().to_string()),
            (
                "test_fraction".into(),
                input.config.test_fraction.to_string(),
            ),
            (
                "valid_fraction".into(),
                input.config.valid_fraction.to_string(),
            ),
            ("ranked_by".into(), result.ranked_by.clone()),
            ("schema_hash".into(), lineage.schema_hash.clone()),
        ];
        if let Some(s) = input.snapshot {
            params.push(("data_snapshot".into(), s.to_string()));
        }
        if let Some(h) = &holdout {
            params.push(("holdout".into(), h.clone()));
        }
        if config_json.len() <= MAX_VALUE_LEN {
            params.push(("train_config".into(), config_json.clone()));
        }
        for (k, v) in candidate_params(c, input.config) {
            if !params.iter().any(|(p, _)| *p == k) && v.len() <= MAX_VALUE_LEN {
                params.push((k, v));
            }
        }
        let mut tags = vec![("candidate".to_string(), c.name.clone())];
        if best {
            tags.push(("best".into(), "true".into()));
        }
        let batch = RunBatch {
            params,
            metrics: candidate_metrics(c),
            tags,
        };
        let logged = store.log_batch(id, &batch).and_then(|()| {
            if best {
                log_files(
                    store,
                    opened.artifacts.as_ref(),
                    id,
                    &[
                        ("model", model_file),
                        ("report", trained.report.as_path()),
                        (
                            crate::reference_profile::ARTIFACT,
                            trained.reference.as_path(),
                        ),
                    ],
                )?;
                let a = opened.artifacts.put_bytes(config_json.as_bytes())?;
                log_stored(store, id, "train_config.json", a)?;
            }
            match ended {
                Some(at) => store.finish_run_at(id, at),
                None => store.finish_run(id),
            }
        });
        if let Err(e) = logged {
            let _ = store.fail_run(id, &e.to_string());
            // The runs not recorded yet are not left `running`.
            for (_, other) in started
                .runs
                .iter()
                .filter(|(_, o)| *o != id && !runs.iter().any(|r: &RecordedRun| r.id == *o))
            {
                let _ = store.fail_run(*other, &format!("recording run {id} failed: {e}"));
            }
            return Err(e).with_context(|| format!("recording the {} run {id}", c.name));
        }
        runs.push(RecordedRun {
            id,
            candidate: c.name.clone(),
            best,
        });
    }
    let mut recorded = Recorded {
        experiment: input.model.to_string(),
        runs,
        version: None,
    };
    if input.register {
        let description = format!(
            "{} (best of {} candidates by {}) trained on {}",
            result.best,
            result.candidates.len(),
            result.ranked_by,
            input.data.display()
        );
        recorded.version = Some(register_model_file(
            opened,
            input.model,
            recorded.best_run(),
            model_file,
            &result.artifact,
            holdout,
            description,
            "fathom train",
        )?);
    }
    Ok(recorded)
}
