//! Tracking: experiments, runs and what they log (params, metrics with
//! step history, tags, artifacts), and the paginated, indexed listing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::actor::host_name;
use crate::clock::{from_micros, to_micros};
use crate::error::{RegistryError, Result};
use crate::filter::{Attribute, Field, Filter, SortKey, SqlBuilder};
use crate::store::{Store, Tx};
use crate::value::{Row, SqlValue, params};

/// A run's id.
pub type RunId = i64;

/// Longest key (param, metric or tag name) accepted.
pub const MAX_KEY_LEN: usize = 250;
/// Longest param or tag value accepted.
pub const MAX_VALUE_LEN: usize = 8000;
/// Most runs one listing page may hold.
pub const MAX_PAGE: usize = 1000;

/// A named group of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started, not yet ended.
    Running,
    /// Ended normally.
    Finished,
    /// Ended with an error.
    Failed,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "running" => Ok(RunStatus::Running),
            "finished" => Ok(RunStatus::Finished),
            "failed" => Ok(RunStatus::Failed),
            other => Err(RegistryError::Database {
                location: "runs".into(),
                detail: format!("unknown run status '{other}'"),
            }),
        }
    }
}

/// What a new run records about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// Experiment name; created on first use.
    pub experiment: String,
    /// Run name (need not be unique).
    pub name: String,
    /// Source code version (e.g. a commit id).
    pub source_version: Option<String>,
    /// Content hash of the training data snapshot.
    pub data_snapshot: Option<String>,
    /// Random seed.
    pub seed: Option<i64>,
    /// Host the run ran on.
    pub host: String,
    /// fathom version that ran it.
    pub fathom_version: String,
    /// Start time; the store's clock if `None`.
    pub start_time: Option<DateTime<Utc>>,
}

impl NewRun {
    /// A run named `name` in `experiment`, on this host, by this fathom
    /// version, starting now.
    pub fn new(experiment: impl Into<String>, name: impl Into<String>) -> Self {
        NewRun {
            experiment: experiment.into(),
            name: name.into(),
            source_version: None,
            data_snapshot: None,
            seed: None,
            host: host_name(),
            fathom_version: env!("CARGO_PKG_VERSION").to_owned(),
            start_time: None,
        }
    }
}

/// A run's own record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Id.
    pub id: RunId,
    /// Experiment id.
    pub experiment_id: i64,
    /// Experiment name.
    pub experiment: String,
    /// Run name.
    pub name: String,
    /// Status.
    pub status: RunStatus,
    /// Start.
    pub start_time: DateTime<Utc>,
    /// End, once ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Source code version.
    pub source_version: Option<String>,
    /// Data snapshot hash.
    pub data_snapshot: Option<String>,
    /// Seed.
    pub seed: Option<i64>,
    /// Host.
    pub host: String,
    /// fathom version.
    pub fathom_version: String,
    /// Why it failed, for failed runs.
    pub failure: Option<String>,
}

/// One metric value to log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    /// Metric name.
    pub key: String,
    /// Value (finite).
    pub value: f64,
    /// Step (iteration, epoch); 0 for a single value.
    pub step: i64,
}

impl MetricPoint {
    /// A value at step 0.
    pub fn new(key: impl Into<String>, value: f64) -> Self {
        MetricPoint {
            key: key.into(),
            value,
            step: 0,
        }
    }
}

/// A logged metric value with its time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRecord {
    /// Value.
    pub value: f64,
    /// Step.
    pub step: i64,
    /// When it was logged.
    pub recorded_at: DateTime<Utc>,
}

/// Many values logged in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunBatch {
    /// Parameters (fixed once logged).
    pub params: Vec<(String, String)>,
    /// Metric values.
    pub metrics: Vec<MetricPoint>,
    /// Tags (may be changed later).
    pub tags: Vec<(String, String)>,
}

/// A file a run produced, by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactRecord {
    /// Name within the run (e.g. `model.fathom`).
    pub name: String,
    /// Where it is.
    pub uri: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Everything recorded about a run (metrics at their latest value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The run itself.
    pub info: RunInfo,
    /// Parameters.
    pub params: BTreeMap<String, String>,
    /// Latest value of each metric.
    pub metrics: BTreeMap<String, MetricRecord>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Artifacts.
    pub artifacts: Vec<ArtifactRecord>,
}

/// Which runs to list, in what order, which page.
#[derive(Debug, Clone, PartialEq)]
pub struct RunQuery {
    /// Only runs of this experiment.
    pub experiment: Option<String>,
    /// Filter expression (see [`crate::filter`]); empty keeps all.
    pub filter: String,
    /// Sort order; newest first if `None`. Runs without the sort metric,
    /// param or tag come after all runs with it.
    pub order_by: Option<SortKey>,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: usize,
    /// Runs to skip.
    pub offset: usize,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            experiment: None,
            filter: String::new(),
            order_by: None,
            limit: 50,
            offset: 0,
        }
    }
}

/// A run as listed: its record, params, latest metric values and tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run.
    pub info: RunInfo,
    /// Parameters.
    pub params: BTreeMap<String, String>,
    /// Latest metric values.
    pub metrics: BTreeMap<String, f64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// One page of a run listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPage {
    /// The runs on this page.
    pub runs: Vec<RunSummary>,
    /// Offset of the next page, if there may be one.
    pub next_offset: Option<usize>,
}

/// Whether larger or smaller values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricGoal {
    /// Larger is better (AUC, precision, recall, F1, accuracy, …).
    Maximize,
    /// Smaller is better (loss, error, Brier score, latency, …).
    Minimize,
}

impl MetricGoal {
    /// The goal of a metric by its name: names with `loss`, `error`,
    /// `brier`, `rmse`, `mse`, `mae`, `latency` or ending in `_time` or
    /// `_seconds` are minimised, the rest maximised.
    pub fn of(metric: &str) -> Self {
        let m = metric.to_ascii_lowercase();
        let minimize = ["loss", "error", "brier", "rmse", "mse", "mae", "latency"]
            .iter()
            .any(|w| m.contains(w))
            || m.ends_with("_time")
            || m.ends_with("_seconds");
        if minimize {
            MetricGoal::Minimize
        } else {
            MetricGoal::Maximize
        }
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            MetricGoal::Maximize => a > b,
            MetricGoal::Minimize => a < b,
        }
    }
}

/// Runs side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunComparison {
    /// The runs, in the order asked.
    pub runs: Vec<RunInfo>,
    /// Each parameter any of them has, with each run's value.
    pub params: Vec<ComparedParam>,
    /// Each metric any of them has, with each run's latest value.
    pub metrics: Vec<ComparedMetric>,
}

/// One parameter across compared runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedParam {
    /// Name.
    pub key: String,
    /// Value per run (same order as the runs).
    pub values: Vec<Option<String>>,
    /// Whether the runs disagree.
    pub differs: bool,
}

/// One metric across compared runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedMetric {
    /// Name.
    pub key: String,
    /// Latest value per run (same order as the runs).
    pub values: Vec<Option<f64>>,
    /// Whether larger or smaller is better.
    pub goal: MetricGoal,
    /// Index of the best run (the first of equals), if any has a value.
    pub best: Option<usize>,
}

pub(crate) fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            format!("{what} name '{}'", key.escape_debug()),
            format!("names must be 1 to {MAX_KEY_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

fn check_value(what: &str, key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(RegistryError::invalid(
            format!("{what} '{key}'"),
            format!(
                "the value has {} bytes; at most {MAX_VALUE_LEN} are kept (store long text as an artifact)",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn check_metric(m: &MetricPoint) -> Result<()> {
    check_key("metric", &m.key)?;
    if !m.value.is_finite() {
        return Err(RegistryError::invalid(
            format!("metric '{}'", m.key),
            format!(
                "the value is {}; only finite numbers are stored (leave an undefined metric out)",
                m.value
            ),
        ));
    }
    Ok(())
}

pub(crate) const RUN_COLUMNS: &str = "r.id, r.experiment_id, (SELECT e.name FROM experiments e WHERE e.id = r.experiment_id), r.name, r.status, r.start_time, r.end_time, \
     r.source_version, r.data_snapshot, r.seed, r.host, r.fathom_version, r.failure";

pub(crate) fn run_info(row: &Row) -> Result<RunInfo> {
    Ok(RunInfo {
        id: row.int(0)?,
        experiment_id: row.int(1)?,
        experiment: row.text(2)?,
        name: row.text(3)?,
        status: RunStatus::parse(&row.text(4)?)?,
        start_time: from_micros(row.int(5)?),
        end_time: row.opt_int(6)?.map(from_micros),
        source_version: row.opt_text(7)?,
        data_snapshot: row.opt_text(8)?,
        seed: row.opt_int(9)?,
        host: row.text(10)?,
        fathom_version: row.text(11)?,
        failure: row.opt_text(12)?,
    })
}

pub(crate) fn load_run_info(tx: &mut Tx<'_>, id: RunId) -> Result<RunInfo> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = $1");
    match tx.opt(&sql, params![id])? {
        Some(row) => run_info(&row),
        None => Err(RegistryError::NotFound {
            kind: "run",
            name: id.to_string(),
            hint: Some("list runs with `fathom runs list`".into()),
        }),
    }
}

fn require_running(tx: &mut Tx<'_>, id: RunId) -> Result<()> {
    let status = match tx.opt("SELECT status FROM runs WHERE id = $1", params![id])? {
        Some(row) => row.text(0)?,
        None => {
            return Err(RegistryError::NotFound {
                kind: "run",
                name: id.to_string(),
                hint: Some("list runs with `fathom runs list`".into()),
            });
        }
    };
    if status != "running" {
        return Err(RegistryError::Conflict(format!(
            "run {id} is {status}; params and metrics can only be logged while a run is running: start a new run"
        )));
    }
    Ok(())
}

fn experiment_row(row: &Row) -> Result<Experiment> {
    Ok(Experiment {
        id: row.int(0)?,
        name: row.text(1)?,
        description: row.text(2)?,
        created_at: from_micros(row.int(3)?),
    })
}

fn find_experiment(tx: &mut Tx<'_>, name: &str) -> Result<Option<Experiment>> {
    tx.opt(
        "SELECT id, name, description, created_at FROM experiments WHERE name = $1",
        params![name],
    )?
    .map(|r| experiment_row(&r))
    .transpose()
}

fn experiment_not_found(tx: &mut Tx<'_>, name: &str) -> RegistryError {
    let names: Vec<String> = tx
        .rows(
            "SELECT name FROM experiments ORDER BY name LIMIT 20",
            params![],
        )
        .map(|rows| rows.iter().filter_map(|r| r.text(0).ok()).collect())
        .unwrap_or_default();
    RegistryError::NotFound {
        kind: "experiment",
        name: name.to_owned(),
        hint: Some(if names.is_empty() {
            "the store has no experiments yet".into()
        } else {
            format!("known experiments: {}", names.join(", "))
        }),
    }
}

fn log_param(tx: &mut Tx<'_>, run: RunId, key: &str, value: &str) -> Result<()> {
    check_key("param", key)?;
    check_value("param", key, value)?;
    match tx.opt(
        "SELECT value FROM run_params WHERE run_id = $1 AND key = $2",
        params![run, key],
    )? {
        Some(row) => {
            let old = row.text(0)?;
            if old != value {
                return Err(RegistryError::Conflict(format!(
                    "param '{key}' of run {run} is already '{old}', not '{value}'; params are fixed once logged: start a new run for other values"
                )));
            }
        }
        None => {
            tx.exec(
                "INSERT INTO run_params (run_id, key, value) VALUES ($1, $2, $3)",
                params![run, key, value],
            )?;
        }
    }
    Ok(())
}

fn log_metric(tx: &mut Tx<'_>, run: RunId, m: &MetricPoint, now: i64) -> Result<()> {
    check_metric(m)?;
    tx.exec(
        "INSERT INTO metric_history (run_id, key, step, value, recorded_at) VALUES ($1, $2, $3, $4, $5)",
        params![run, m.key.as_str(), m.step, m.value, now],
    )?;
    tx.exec(
        "INSERT INTO latest_metrics (run_id, key, step, value, recorded_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run_id, key) DO UPDATE
         SET step = excluded.step, value = excluded.value, recorded_at = excluded.recorded_at
         WHERE excluded.step >= latest_metrics.step",
        params![run, m.key.as_str(), m.step, m.value, now],
    )?;
    Ok(())
}

fn set_tag(tx: &mut Tx<'_>, run: RunId, key: &str, value: &str) -> Result<()> {
    check_key("tag", key)?;
    check_value("tag", key, value)?;
    tx.exec(
        "INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        params![run, key, value],
    )?;
    Ok(())
}

fn in_list(b: &mut SqlBuilder, ids: &[RunId]) -> String {
    let ps: Vec<String> = ids.iter().map(|id| b.param(*id)).collect();
    ps.join(", ")
}

impl Store {
    /// Creates an experiment.
    pub fn create_experiment(&mut self, name: &str, description: &str) -> Result<Experiment> {
        check_key("experiment", name)?;
        let now = self.now_micros();
        self.write(|tx| {
            if find_experiment(tx, name)?.is_some() {
                return Err(RegistryError::AlreadyExists {
                    kind: "experiment",
                    name: name.to_owned(),
                });
            }
            let row = tx.one(
                "INSERT INTO experiments (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
                params![name, description, now],
            )?;
            Ok(Experiment {
                id: row.int(0)?,
                name: name.to_owned(),
                description: description.to_owned(),
                created_at: from_micros(now),
            })
        })
    }

    /// The experiment named `name`.
    pub fn experiment(&mut self, name: &str) -> Result<Experiment> {
        self.read(|tx| match find_experiment(tx, name)? {
            Some(e) => Ok(e),
            None => Err(experiment_not_found(tx, name)),
        })
    }

    /// All experiments, by name.
    pub fn experiments(&mut self) -> Result<Vec<Experiment>> {
        self.read(|tx| {
            tx.rows(
                "SELECT id, name, description, created_at FROM experiments ORDER BY name",
                params![],
            )?
            .iter()
            .map(experiment_row)
            .collect()
        })
    }

    /// Starts a run (status `running`), creating its experiment if needed.
    pub fn start_run(&mut self, run: &NewRun) -> Result<RunId> {
        check_key("experiment", &run.experiment)?;
        check_key("run", &run.name)?;
        let now = self.now_micros();
        let start = run.start_time.map(to_micros).unwrap_or(now);
        self.write(|tx| {
            let experiment_id = match find_experiment(tx, &run.experiment)? {
                Some(e) => e.id,
                None => tx
                    .one(
                        "INSERT INTO experiments (name, description, created_at) VALUES ($1, '', $2) RETURNING id",
                        params![run.experiment.as_str(), now],
                    )?
                    .int(0)?,
            };
            tx.one(
                "INSERT INTO runs (experiment_id, name, status, start_time, source_version, data_snapshot, seed, host, fathom_version)
                 VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8) RETURNING id",
                params![
                    experiment_id,
                    run.name.as_str(),
                    start,
                    run.source_version.clone(),
                    run.data_snapshot.clone(),
                    run.seed,
                    run.host.as_str(),
                    run.fathom_version.as_str()
                ],
            )?
            .int(0)
        })
    }

    /// Logs one parameter. Logging the same value again is a no-op; a
    /// different value is refused.
    pub fn log_param(&mut self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            require_running(tx, run)?;
            log_param(tx, run, key, value)
        })
    }

    /// Logs one metric value at a step. The latest value (highest step)
    /// is kept apart from the history, for listings.
    pub fn log_metric(&mut self, run: RunId, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_batch(
            run,
            &RunBatch {
                metrics: vec![MetricPoint {
                    key: key.to_owned(),
                    value,
                    step,
                }],
                ..RunBatch::default()
            },
        )
    }

    /// Sets a tag (tags can be changed, also after the run ended).
    pub fn set_tag(&mut self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            load_run_info(tx, run)?;
            set_tag(tx, run, key, value)
        })
    }

    /// Logs params, metric values and tags in one transaction: all or
    /// nothing.
    pub fn log_batch(&mut self, run: RunId, batch: &RunBatch) -> Result<()> {
        let now = self.now_micros();
        self.write(|tx| {
            require_running(tx, run)?;
            for (k, v) in &batch.params {
                log_param(tx, run, k, v)?;
            }
            for m in &batch.metrics {
                log_metric(tx, run, m, now)?;
            }
            for (k, v) in &batch.tags {
                set_tag(tx, run, k, v)?;
            }
            Ok(())
        })
    }

    /// Records an artifact of a run (replacing one of the same name).
    pub fn log_artifact(&mut self, run: RunId, artifact: &ArtifactRecord) -> Result<()> {
        check_key("artifact", &artifact.name)?;
        crate::artifacts::check_sha256(&artifact.sha256)?;
        self.write(|tx| {
            load_run_info(tx, run)?;
            tx.exec(
                "INSERT INTO run_artifacts (run_id, name, uri, sha256, size_bytes) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run_id, name) DO UPDATE SET uri = excluded.uri, sha256 = excluded.sha256, size_bytes = excluded.size_bytes",
                params![
                    run,
                    artifact.name.as_str(),
                    artifact.uri.as_str(),
                    artifact.sha256.as_str(),
                    artifact.size_bytes as i64
                ],
            )?;
            Ok(())
        })
    }

    /// Ends a run as finished, now.
    pub fn finish_run(&mut self, run: RunId) -> Result<()> {
        let now = self.now_micros();
        self.end_run(run, RunStatus::Finished, None, now, false)
    }

    /// Ends a run as finished at `end`, a time the caller measured (e.g.
    /// when the work it tracks was done, before its results were logged).
    /// `end` may not be earlier than the run's start nor later than now.
    pub fn finish_run_at(&mut self, run: RunId, end: DateTime<Utc>) -> Result<()> {
        let end = to_micros(end);
        if end > self.now_micros() {
            return Err(RegistryError::invalid(
                format!("end time of run {run}"),
                "is in the future; pass the time the run's work ended",
            ));
        }
        self.end_run(run, RunStatus::Finished, None, end, true)
    }

    /// Ends a run as failed, now, with the reason.
    pub fn fail_run(&mut self, run: RunId, reason: &str) -> Result<()> {
        let now = self.now_micros();
        self.end_run(run, RunStatus::Failed, Some(reason), now, false)
    }

    fn end_run(
        &mut self,
        run: RunId,
        status: RunStatus,
        failure: Option<&str>,
        end: i64,
        measured: bool,
    ) -> Result<()> {
        self.write(|tx| {
            require_running(tx, run)?;
            let start = tx
                .one("SELECT start_time FROM runs WHERE id = $1", params![run])?
                .int(0)?;
            if measured && end < start {
                return Err(RegistryError::invalid(
                    format!("end time of run {run}"),
                    format!(
                        "{} is before the run's start ({}); a run cannot end before it started",
                        from_micros(end).to_rfc3339(),
                        from_micros(start).to_rfc3339()
                    ),
                ));
            }
            tx.exec(
                "UPDATE runs SET status = $1, end_time = $2, failure = $3 WHERE id = $4",
                params![status.as_str(), end, failure, run],
            )?;
            Ok(())
        })
    }

    /// Everything about one run.
    pub fn run(&mut self, id: RunId) -> Result<Run> {
        self.read(|tx| {
            let info = load_run_info(tx, id)?;
            let params = tx
                .rows("SELECT key, value FROM run_params WHERE run_id = $1 ORDER BY key", params![id])?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect::<Result<_>>()?;
            let metrics = tx
                .rows(
                    "SELECT key, value, step, recorded_at FROM latest_metrics WHERE run_id = $1 ORDER BY key",
                    params![id],
                )?
                .iter()
                .map(|r| {
                    Ok((
                        r.text(0)?,
                        MetricRecord {
                            value: r.real(1)?,
                            step: r.int(2)?,
                            recorded_at: from_micros(r.int(3)?),
                        },
                    ))
                })
                .collect::<Result<_>>()?;
            let tags = tx
                .rows("SELECT key, value FROM run_tags WHERE run_id = $1 ORDER BY key", params![id])?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect::<Result<_>>()?;
            let artifacts = tx
                .rows(
                    "SELECT name, uri, sha256, size_bytes FROM run_artifacts WHERE run_id = $1 ORDER BY name",
                    params![id],
                )?
                .iter()
                .map(|r| {
                    Ok(ArtifactRecord {
                        name: r.text(0)?,
                        uri: r.text(1)?,
                        sha256: r.text(2)?,
                        size_bytes: r.int(3)? as u64,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Run {
                info,
                params,
                metrics,
                tags,
                artifacts,
            })
        })
    }

    /// Every logged value of one metric of a run, by step then log order.
    pub fn metric_history(&mut self, run: RunId, key: &str) -> Result<Vec<MetricRecord>> {
        self.read(|tx| {
            load_run_info(tx, run)?;
            tx.rows(
                "SELECT value, step, recorded_at FROM metric_history WHERE run_id = $1 AND key = $2 ORDER BY step, recorded_at",
                params![run, key],
            )?
            .iter()
            .map(|r| {
                Ok(MetricRecord {
                    value: r.real(0)?,
                    step: r.int(1)?,
                    recorded_at: from_micros(r.int(2)?),
                })
            })
            .collect()
        })
    }

    /// One page of runs matching `query`, with their params, latest
    /// metric values and tags.
    pub fn list_runs(&mut self, query: &RunQuery) -> Result<RunPage> {
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(RegistryError::invalid(
                "page size",
                format!("{} is out of range; use 1 to {MAX_PAGE}", query.limit),
            ));
        }
        let filter = Filter::parse(&query.filter)?;
        let sort = query.order_by.clone().unwrap_or_default();
        let dialect = self.dialect();
        self.read(|tx| {
            let experiment_id = resolve_experiment(tx, query.experiment.as_deref())?;
            let (limit, offset) = (query.limit, query.offset);
            let mut infos = Vec::new();
            match &sort.field {
                Field::Attribute(a) => {
                    let mut b = base_query(experiment_id, &filter, dialect, None);
                    let dir = if sort.descending { "DESC" } else { "ASC" };
                    let order = match a {
                        Attribute::EndTime | Attribute::Seed | Attribute::DataSnapshot | Attribute::SourceVersion => {
                            format!("({} IS NULL), {}{} {dir}, r.id {dir}", a.column(), a.column(), text_order(*a, dialect))
                        }
                        Attribute::Id => format!("r.id {dir}"),
                        _ => format!("{}{} {dir}, r.id {dir}", a.column(), text_order(*a, dialect)),
                    };
                    let l = b.param(limit as i64);
                    let o = b.param(offset as i64);
                    b.sql.push_str(&format!(" ORDER BY {order} LIMIT {l} OFFSET {o}"));
                    for row in tx.rows(&b.sql, &b.params)? {
                        infos.push(run_info(&row)?);
                    }
                }
                Field::Metric(key) | Field::Param(key) | Field::Tag(key) => {
                    let table = match &sort.field {
                        Field::Metric(_) => "latest_metrics",
                        Field::Param(_) => "run_params",
                        _ => "run_tags",
                    };
                    let collate = if matches!(sort.field, Field::Metric(_)) || dialect == crate::backend::Dialect::Sqlite {
                        ""
                    } else {
                        " COLLATE \"C\""
                    };
                    let dir = if sort.descending { "DESC" } else { "ASC" };
                    // Runs with the key, in its order, then runs without it.
                    let mut b = base_query(experiment_id, &filter, dialect, Some((table, key)));
                    let l = b.param(limit as i64);
                    let o = b.param(offset as i64);
                    b.sql.push_str(&format!(" ORDER BY s.value{collate} {dir}, s.run_id {dir} LIMIT {l} OFFSET {o}"));
                    for row in tx.rows(&b.sql, &b.params)? {
                        infos.push(run_info(&row)?);
                    }
                    if infos.len() < limit {
                        let skip = if infos.is_empty() {
                            let mut c = count_query(experiment_id, &filter, dialect, Some((table, key)));
                            let with_key = tx.one(&c.sql, &std::mem::take(&mut c.params))?.int(0)? as usize;
                            offset.saturating_sub(with_key)
                        } else {
                            0
                        };
                        let mut b = base_query(experiment_id, &filter, dialect, None);
                        let k = b.param(key.as_str());
                        let l = b.param((limit - infos.len()) as i64);
                        let o = b.param(skip as i64);
                        b.sql.push_str(&format!(
                            " AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.run_id = r.id AND s.key = {k}) ORDER BY r.id {dir} LIMIT {l} OFFSET {o}"
                        ));
                        for row in tx.rows(&b.sql, &b.params)? {
                            infos.push(run_info(&row)?);
                        }
                    }
                }
            }
            let next_offset = (infos.len() == limit).then_some(offset + limit);
            let runs = summaries(tx, infos)?;
            Ok(RunPage { runs, next_offset })
        })
    }

    /// How many runs match `query` (its page and order are ignored).
    pub fn count_runs(&mut self, query: &RunQuery) -> Result<u64> {
        let filter = Filter::parse(&query.filter)?;
        let dialect = self.dialect();
        self.read(|tx| {
            let experiment_id = resolve_experiment(tx, query.experiment.as_deref())?;
            let b = count_query(experiment_id, &filter, dialect, None);
            Ok(tx.one(&b.sql, &b.params)?.int(0)? as u64)
        })
    }

    /// Runs side by side: each param and metric with every run's value and
    /// the best run per metric. At most 100 runs.
    pub fn compare_runs(&mut self, ids: &[RunId]) -> Result<RunComparison> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(RegistryError::invalid(
                "runs to compare",
                format!("{} given; compare 1 to 100 runs", ids.len()),
            ));
        }
        self.read(|tx| {
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                runs.push(load_run_info(tx, *id)?);
            }
            let mut b = SqlBuilder::default();
            let list = in_list(&mut b, ids);
            let mut params: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
            for r in tx.rows(
                &format!("SELECT run_id, key, value FROM run_params WHERE run_id IN ({list})"),
                &b.params,
            )? {
                let (run, key, value) = (r.int(0)?, r.text(1)?, r.text(2)?);
                let slot = params.entry(key).or_insert_with(|| vec![None; ids.len()]);
                for (i, id) in ids.iter().enumerate() {
                    if *id == run {
                        slot[i] = Some(value.clone());
                    }
                }
            }
            let mut metrics: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
            for r in tx.rows(
                &format!("SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({list})"),
                &b.params,
            )? {
                let (run, key, value) = (r.int(0)?, r.text(1)?, r.real(2)?);
                let slot = metrics.entry(key).or_insert_with(|| vec![None; ids.len()]);
                for (i, id) in ids.iter().enumerate() {
                    if *id == run {
                        slot[i] = Some(value);
                    }
                }
            }
            let params = params
                .into_iter()
                .map(|(key, values)| {
                    let differs = values.windows(2).any(|w| w[0] != w[1]);
                    ComparedParam {
                        key,
                        values,
                        differs,
                    }
                })
                .collect();
            let metrics = metrics
                .into_iter()
                .map(|(key, values)| {
                    let goal = MetricGoal::of(&key);
                    let mut best: Option<usize> = None;
                    for (i, v) in values.iter().enumerate() {
                        if let Some(v) = v
                            && best.is_none_or(|b| goal.better(*v, values[b].unwrap_or(f64::NAN)))
                        {
                            best = Some(i);
                        }
                    }
                    ComparedMetric {
                        key,
                        values,
                        goal,
                        best,
                    }
                })
                .collect();
            Ok(RunComparison {
                runs,
                params,
                metrics,
            })
        })
    }
}

fn text_order(a: Attribute, dialect: crate::backend::Dialect) -> &'static str {
    let is_text = matches!(
        a,
        Attribute::Name
            | Attribute::Status
            | Attribute::DataSnapshot
            | Attribute::SourceVersion
            | Attribute::Host
            | Attribute::FathomVersion
    );
    if is_text && dialect == crate::backend::Dialect::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    }
}

fn resolve_experiment(tx: &mut Tx<'_>, name: Option<&str>) -> Result<Option<i64>> {
    match name {
        None => Ok(None),
        Some(n) => match find_experiment(tx, n)? {
            Some(e) => Ok(Some(e.id)),
            None => Err(experiment_not_found(tx, n)),
        },
    }
}

fn where_clause(
    b: &mut SqlBuilder,
    experiment_id: Option<i64>,
    filter: &Filter,
    dialect: crate::backend::Dialect,
) {
    if let Some(id) = experiment_id {
        let p = b.param(id);
        b.sql.push_str(&format!(" AND r.experiment_id = {p}"));
    }
    filter.push_sql(b, dialect);
}

/// `SELECT` of runs. With a sort key, the walk starts from that key's
/// `(key, value, run_id)` index (`s`), so the first page of a sorted
/// listing reads about one page of index entries whatever the store's
/// size; a filter that matches almost nothing walks the whole index.
fn base_query(
    experiment_id: Option<i64>,
    filter: &Filter,
    dialect: crate::backend::Dialect,
    sort_join: Option<(&str, &str)>,
) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    match sort_join {
        Some((table, key)) => {
            let k = b.param(key);
            // CROSS JOIN keeps SQLite's planner from reordering the join.
            b.sql = format!(
                "SELECT {RUN_COLUMNS} FROM {table} s CROSS JOIN runs r WHERE s.key = {k} AND r.id = s.run_id"
            );
        }
        None => b.sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE 1 = 1"),
    }
    where_clause(&mut b, experiment_id, filter, dialect);
    b
}

fn count_query(
    experiment_id: Option<i64>,
    filter: &Filter,
    dialect: crate::backend::Dialect,
    sort_join: Option<(&str, &str)>,
) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    match sort_join {
        Some((table, key)) => {
            let k = b.param(key);
            b.sql = format!(
                "SELECT COUNT(*) FROM {table} s CROSS JOIN runs r WHERE s.key = {k} AND r.id = s.run_id"
            );
        }
        None => b.sql = "SELECT COUNT(*) FROM runs r WHERE 1 = 1".into(),
    }
    where_clause(&mut b, experiment_id, filter, dialect);
    b
}

fn summaries(tx: &mut Tx<'_>, infos: Vec<RunInfo>) -> Result<Vec<RunSummary>> {
    if infos.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<RunId> = infos.iter().map(|i| i.id).collect();
    let mut b = SqlBuilder::default();
    let list = in_list(&mut b, &ids);
    let mut out: Vec<RunSummary> = infos
        .into_iter()
        .map(|info| RunSummary {
            info,
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            tags: BTreeMap::new(),
        })
        .collect();
    let index: BTreeMap<RunId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for r in tx.rows(
        &format!("SELECT run_id, key, value FROM run_params WHERE run_id IN ({list})"),
        &b.params,
    )? {
        if let Some(&i) = index.get(&r.int(0)?) {
            out[i].params.insert(r.text(1)?, r.text(2)?);
        }
    }
    for r in tx.rows(
        &format!("SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({list})"),
        &b.params,
    )? {
        if let Some(&i) = index.get(&r.int(0)?) {
            out[i].metrics.insert(r.text(1)?, r.real(2)?);
        }
    }
    for r in tx.rows(
        &format!("SELECT run_id, key, value FROM run_tags WHERE run_id IN ({list})"),
        &b.params,
    )? {
        if let Some(&i) = index.get(&r.int(0)?) {
            out[i].tags.insert(r.text(1)?, r.text(2)?);
        }
    }
    Ok(out)
}

impl From<RunStatus> for SqlValue {
    fn from(s: RunStatus) -> Self {
        SqlValue::Text(s.as_str().into())
    }
}
