//! Pipeline state: runs of a pipeline for a logical date, the attempts of
//! their tasks (status, error, small JSON output, bounded log), and named
//! leases that let two schedulers share one store without doing the same
//! work twice.
//!
//! A run is unique per (pipeline, logical date): opening a run for a date
//! that already has one returns that run, so re-running a date finds its
//! state instead of starting over. Every state change is one transaction;
//! times come from the store's clock.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::clock::{from_micros, to_micros};
use crate::error::{RegistryError, Result};
use crate::filter::SqlBuilder;
use crate::store::{Store, Tx};
use crate::value::{Row, params};

/// A pipeline run's id.
pub type PipelineRunId = i64;

/// Most bytes of a task attempt's log kept (the end is kept).
pub const MAX_TASK_LOG: usize = 64 * 1024;
/// Most bytes of a task attempt's JSON output accepted.
pub const MAX_TASK_OUTPUT: usize = 64 * 1024;
/// Most bytes of a run's params JSON accepted.
pub const MAX_RUN_PARAMS: usize = 64 * 1024;
/// Most runs one listing page may hold.
pub const MAX_PIPELINE_PAGE: usize = 1000;

/// Where a pipeline run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineRunStatus {
    /// Created, waiting for a runner (e.g. triggered by a policy).
    Queued,
    /// A runner is working on it (or died while it was; its lease tells).
    Running,
    /// Every task succeeded (or a task stopped the pipeline on purpose).
    Succeeded,
    /// A task failed; running the date again resumes from it.
    Failed,
    /// Not run: a scheduled occurrence the catch-up policy passed over.
    Skipped,
}

impl PipelineRunStatus {
    /// All statuses.
    pub const ALL: [PipelineRunStatus; 5] = [
        PipelineRunStatus::Queued,
        PipelineRunStatus::Running,
        PipelineRunStatus::Succeeded,
        PipelineRunStatus::Failed,
        PipelineRunStatus::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineRunStatus::Queued => "queued",
            PipelineRunStatus::Running => "running",
            PipelineRunStatus::Succeeded => "succeeded",
            PipelineRunStatus::Failed => "failed",
            PipelineRunStatus::Skipped => "skipped",
        }
    }

    /// The status with this name; the error lists the valid names.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| RegistryError::NotFound {
                kind: "pipeline run status",
                name: s.to_owned(),
                hint: Some(format!(
                    "statuses are {}",
                    Self::ALL.map(|v| v.as_str()).join(", ")
                )),
            })
    }
}

impl std::fmt::Display for PipelineRunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one task attempt (or a task that did not run) ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskRunStatus {
    /// The attempt is running.
    Running,
    /// The attempt succeeded; its output feeds downstream tasks.
    Succeeded,
    /// The attempt returned an error (or panicked, or was interrupted).
    Failed,
    /// The attempt ran past its timeout and was cancelled.
    TimedOut,
    /// Not run: a task it depends on failed.
    UpstreamFailed,
    /// Not run: a task it depends on stopped the pipeline on purpose.
    Skipped,
}

impl TaskRunStatus {
    /// All statuses.
    pub const ALL: [TaskRunStatus; 6] = [
        TaskRunStatus::Running,
        TaskRunStatus::Succeeded,
        TaskRunStatus::Failed,
        TaskRunStatus::TimedOut,
        TaskRunStatus::UpstreamFailed,
        TaskRunStatus::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskRunStatus::Running => "running",
            TaskRunStatus::Succeeded => "succeeded",
            TaskRunStatus::Failed => "failed",
            TaskRunStatus::TimedOut => "timed_out",
            TaskRunStatus::UpstreamFailed => "upstream_failed",
            TaskRunStatus::Skipped => "skipped",
        }
    }

    /// The status with this name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| RegistryError::NotFound {
                kind: "task run status",
                name: s.to_owned(),
                hint: Some(format!(
                    "statuses are {}",
                    Self::ALL.map(|v| v.as_str()).join(", ")
                )),
            })
    }

    /// Whether the task ran and ended (succeeded, failed or timed out).
    pub fn is_attempt_end(self) -> bool {
        matches!(
            self,
            TaskRunStatus::Succeeded | TaskRunStatus::Failed | TaskRunStatus::TimedOut
        )
    }
}

impl std::fmt::Display for TaskRunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a pipeline run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineTrigger {
    /// Its cron schedule.
    Schedule,
    /// A person (`fathom pipeline run`).
    Manual,
    /// An automatic decision, e.g. the monitoring policy asking for a
    /// retraining; the reason says why.
    Policy,
}

impl PipelineTrigger {
    /// All triggers.
    pub const ALL: [PipelineTrigger; 3] = [
        PipelineTrigger::Schedule,
        PipelineTrigger::Manual,
        PipelineTrigger::Policy,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineTrigger::Schedule => "schedule",
            PipelineTrigger::Manual => "manual",
            PipelineTrigger::Policy => "policy",
        }
    }

    /// The trigger with this name; the error lists the valid names.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| RegistryError::NotFound {
                kind: "pipeline trigger",
                name: s.to_owned(),
                hint: Some(format!(
                    "triggers are {}",
                    Self::ALL.map(|v| v.as_str()).join(", ")
                )),
            })
    }
}

impl std::fmt::Display for PipelineTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a new pipeline run records about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPipelineRun {
    /// Pipeline name.
    pub pipeline: String,
    /// Logical date: `YYYY-MM-DD`, or an RFC 3339 UTC time for schedules
    /// that run more than once a day.
    pub logical_date: String,
    /// What started it.
    pub trigger: PipelineTrigger,
    /// Why (free text; for policy triggers, the decision's reason).
    pub reason: String,
    /// Parameters the tasks read (a JSON object).
    pub params: Value,
    /// The cron occurrence it is run for, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
}

impl NewPipelineRun {
    /// A run of `pipeline` for `logical_date` by `trigger`, without
    /// reason or params.
    pub fn new(
        pipeline: impl Into<String>,
        logical_date: impl Into<String>,
        trigger: PipelineTrigger,
    ) -> Self {
        NewPipelineRun {
            pipeline: pipeline.into(),
            logical_date: logical_date.into(),
            trigger,
            reason: String::new(),
            params: Value::Object(Default::default()),
            scheduled_for: None,
        }
    }
}

/// A pipeline run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineRun {
    /// Id.
    pub id: PipelineRunId,
    /// Pipeline name.
    pub pipeline: String,
    /// Logical date.
    pub logical_date: String,
    /// Status.
    pub status: PipelineRunStatus,
    /// What created it.
    pub trigger: PipelineTrigger,
    /// Why it was created.
    pub reason: String,
    /// Parameters (a JSON object).
    pub params: Value,
    /// The cron occurrence it was run for, if scheduled.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a runner first started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How often a runner started it (1, plus one per resume).
    pub invocations: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The task that failed it.
    pub failed_task: Option<String>,
    /// Who was to be alerted of the failure.
    pub alert_owner: Option<String>,
    /// A note on how it ended (e.g. the reason a task stopped it).
    pub note: Option<String>,
}

/// How a pipeline run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRunEnd {
    /// `Succeeded` or `Failed`.
    pub status: PipelineRunStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The task that failed it.
    pub failed_task: Option<String>,
    /// Who is alerted of the failure.
    pub alert_owner: Option<String>,
    /// A note on how it ended.
    pub note: Option<String>,
}

/// One attempt of a task (or the record that it did not run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRun {
    /// Id.
    pub id: i64,
    /// The pipeline run.
    pub run_id: PipelineRunId,
    /// Task name.
    pub task: String,
    /// Attempt number within the run, from 1, counted across resumes.
    pub attempt: i64,
    /// Status.
    pub status: TaskRunStatus,
    /// When the attempt started (none for tasks that did not run).
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed or did not run.
    pub error: Option<String>,
    /// Its output (small JSON: paths, ids, metrics), on success.
    pub output: Option<Value>,
    /// Why it stopped the pipeline on purpose, if it did (its downstream
    /// tasks are skipped).
    pub stop: Option<String>,
    /// The lines it logged (the last [`MAX_TASK_LOG`] bytes).
    pub log: String,
}

/// How a task attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAttemptEnd {
    /// `Succeeded`, `Failed` or `TimedOut`.
    pub status: TaskRunStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Its output, on success (at most [`MAX_TASK_OUTPUT`] bytes as JSON).
    pub output: Option<Value>,
    /// On success: why it stops the pipeline here, if it does.
    pub stop: Option<String>,
    /// What it logged (longer logs keep their end).
    pub log: String,
}

/// Which pipeline runs to list, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRunQuery {
    /// Only this pipeline's.
    pub pipeline: Option<String>,
    /// Only runs with this status.
    pub status: Option<PipelineRunStatus>,
    /// Only runs older than this id (for the next page).
    pub before_id: Option<PipelineRunId>,
    /// At most this many (1 to [`MAX_PIPELINE_PAGE`]).
    pub limit: usize,
}

impl Default for PipelineRunQuery {
    fn default() -> Self {
        PipelineRunQuery {
            pipeline: None,
            status: None,
            before_id: None,
            limit: 50,
        }
    }
}

/// A named lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// Its name (e.g. `pipeline:data:2026-03-02`).
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// When the holder took it.
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

const RUN_COLUMNS: &str = "id, pipeline, logical_date, status, trigger, reason, params, scheduled_for, created_at, started_at, ended_at, invocations, error, failed_task, alert_owner, note";

const TASK_COLUMNS: &str =
    "id, run_id, task, attempt, status, started_at, ended_at, error, output, stop, log";

fn run_from_row(r: &Row) -> Result<PipelineRun> {
    Ok(PipelineRun {
        id: r.int(0)?,
        pipeline: r.text(1)?,
        logical_date: r.text(2)?,
        status: PipelineRunStatus::parse(&r.text(3)?)?,
        trigger: PipelineTrigger::parse(&r.text(4)?)?,
        reason: r.text(5)?,
        params: serde_json::from_str(&r.text(6)?).unwrap_or(Value::Null),
        scheduled_for: r.opt_int(7)?.map(from_micros),
        created_at: from_micros(r.int(8)?),
        started_at: r.opt_int(9)?.map(from_micros),
        ended_at: r.opt_int(10)?.map(from_micros),
        invocations: r.int(11)?,
        error: r.opt_text(12)?,
        failed_task: r.opt_text(13)?,
        alert_owner: r.opt_text(14)?,
        note: r.opt_text(15)?,
    })
}

fn task_from_row(r: &Row) -> Result<TaskRun> {
    Ok(TaskRun {
        id: r.int(0)?,
        run_id: r.int(1)?,
        task: r.text(2)?,
        attempt: r.int(3)?,
        status: TaskRunStatus::parse(&r.text(4)?)?,
        started_at: r.opt_int(5)?.map(from_micros),
        ended_at: r.opt_int(6)?.map(from_micros),
        error: r.opt_text(7)?,
        output: r
            .opt_text(8)?
            .map(|s| serde_json::from_str(&s).unwrap_or(Value::Null)),
        stop: r.opt_text(9)?,
        log: r.text(10)?,
    })
}

fn load_run(tx: &mut Tx<'_>, id: PipelineRunId) -> Result<PipelineRun> {
    let row = tx
        .opt(
            &format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = $1"),
            params![id],
        )?
        .ok_or_else(|| RegistryError::NotFound {
            kind: "pipeline run",
            name: id.to_string(),
            hint: Some("list runs with `fathom pipeline history`".into()),
        })?;
    run_from_row(&row)
}

fn load_task(tx: &mut Tx<'_>, id: i64) -> Result<TaskRun> {
    let row = tx
        .opt(
            &format!("SELECT {TASK_COLUMNS} FROM pipeline_task_runs WHERE id = $1"),
            params![id],
        )?
        .ok_or_else(|| RegistryError::NotFound {
            kind: "task attempt",
            name: id.to_string(),
            hint: None,
        })?;
    task_from_row(&row)
}

/// The end of `log`, at most [`MAX_TASK_LOG`] bytes, cut at a line (or
/// character) boundary, with a first line saying how much was dropped.
pub fn bound_log(log: &str) -> String {
    if log.len() <= MAX_TASK_LOG {
        return log.to_owned();
    }
    let budget = MAX_TASK_LOG - 64;
    let mut start = log.len() - budget;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    if let Some(nl) = log[start..].find('\n') {
        start += nl + 1;
    }
    format!("[{start} bytes of earlier log dropped]\n{}", &log[start..])
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            what,
            format!("'{name}' is not a usable name; use 1 to 200 printable characters"),
        ));
    }
    Ok(())
}

fn ttl_micros(ttl: chrono::Duration) -> Result<i64> {
    let us = ttl.num_microseconds().unwrap_or(i64::MAX);
    if us <= 0 {
        return Err(RegistryError::invalid(
            "lease duration",
            format!("{ttl} is not positive; give a duration such as 60 s"),
        ));
    }
    Ok(us)
}

impl Store {
    /// Opens the run of `new.pipeline` for `new.logical_date`: creates it
    /// (status `queued`) if the date has no run yet, else returns the
    /// existing run unchanged (its trigger, reason and params stay as
    /// first recorded; a missing `scheduled_for` is filled in). The flag is
    /// `true` when the run was created.
    pub fn open_pipeline_run(&mut self, new: &NewPipelineRun) -> Result<(PipelineRun, bool)> {
        self.insert_pipeline_run(new, PipelineRunStatus::Queued)
    }

    /// Records that a scheduled occurrence was not run (status `skipped`,
    /// with `new.reason`), unless the date already has a run. The flag is
    /// `true` when the skipped run was recorded.
    pub fn skip_pipeline_run(&mut self, new: &NewPipelineRun) -> Result<(PipelineRun, bool)> {
        self.insert_pipeline_run(new, PipelineRunStatus::Skipped)
    }

    fn insert_pipeline_run(
        &mut self,
        new: &NewPipelineRun,
        status: PipelineRunStatus,
    ) -> Result<(PipelineRun, bool)> {
        check_name("pipeline name", &new.pipeline)?;
        check_name("logical date", &new.logical_date)?;
        if !new.params.is_object() {
            return Err(RegistryError::invalid(
                "pipeline run params",
                "must be a JSON object (name → value)",
            ));
        }
        let params_json = new.params.to_string();
        if params_json.len() > MAX_RUN_PARAMS {
            return Err(RegistryError::invalid(
                "pipeline run params",
                format!(
                    "{} bytes of JSON; params are for small values (at most {MAX_RUN_PARAMS} bytes): pass paths or ids instead of data",
                    params_json.len()
                ),
            ));
        }
        let now = self.now_micros();
        let scheduled = new.scheduled_for.map(to_micros);
        self.write(|tx| {
            let created = tx.exec(
                "INSERT INTO pipeline_runs (pipeline, logical_date, status, trigger, reason, params, scheduled_for, created_at, invocations)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)
                 ON CONFLICT (pipeline, logical_date) DO NOTHING",
                params![
                    new.pipeline.as_str(),
                    new.logical_date.as_str(),
                    status.as_str(),
                    new.trigger.as_str(),
                    new.reason.as_str(),
                    params_json.as_str(),
                    scheduled,
                    now
                ],
            )? == 1;
            if let Some(s) = scheduled {
                tx.exec(
                    "UPDATE pipeline_runs SET scheduled_for = $1
                     WHERE pipeline = $2 AND logical_date = $3 AND scheduled_for IS NULL",
                    params![s, new.pipeline.as_str(), new.logical_date.as_str()],
                )?;
            }
            let id = tx
                .one(
                    "SELECT id FROM pipeline_runs WHERE pipeline = $1 AND logical_date = $2",
                    params![new.pipeline.as_str(), new.logical_date.as_str()],
                )?
                .int(0)?;
            Ok((load_run(tx, id)?, created))
        })
    }

    /// The pipeline run with this id.
    pub fn pipeline_run(&mut self, id: PipelineRunId) -> Result<PipelineRun> {
        self.read(|tx| load_run(tx, id))
    }

    /// The run of `pipeline` for `logical_date`, if there is one.
    pub fn find_pipeline_run(
        &mut self,
        pipeline: &str,
        logical_date: &str,
    ) -> Result<Option<PipelineRun>> {
        self.read(|tx| {
            tx.opt(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE pipeline = $1 AND logical_date = $2"
                ),
                params![pipeline, logical_date],
            )?
            .as_ref()
            .map(run_from_row)
            .transpose()
        })
    }

    /// Marks a run `running` for a runner that holds its lease: counts the
    /// invocation, clears the last end and error, and marks attempts a
    /// previous runner left `running` (it died or lost its lease) as
    /// failed. A succeeded run is refused: it is done.
    pub fn start_pipeline_run(&mut self, id: PipelineRunId) -> Result<PipelineRun> {
        let now = self.now_micros();
        self.write(|tx| {
            let run = load_run(tx, id)?;
            if run.status == PipelineRunStatus::Succeeded {
                return Err(RegistryError::Conflict(format!(
                    "pipeline '{}' already succeeded for {}; there is nothing to run",
                    run.pipeline, run.logical_date
                )));
            }
            tx.exec(
                "UPDATE pipeline_task_runs SET status = 'failed', ended_at = $1,
                     error = 'interrupted: the runner stopped before the attempt ended'
                 WHERE run_id = $2 AND status = 'running'",
                params![now, id],
            )?;
            tx.exec(
                "UPDATE pipeline_runs SET status = 'running', started_at = COALESCE(started_at, $1),
                     ended_at = NULL, invocations = invocations + 1, error = NULL,
                     failed_task = NULL, alert_owner = NULL, note = NULL
                 WHERE id = $2",
                params![now, id],
            )?;
            load_run(tx, id)
        })
    }

    /// Ends a running pipeline run as `end` says.
    pub fn finish_pipeline_run(
        &mut self,
        id: PipelineRunId,
        end: &PipelineRunEnd,
    ) -> Result<PipelineRun> {
        if !matches!(
            end.status,
            PipelineRunStatus::Succeeded | PipelineRunStatus::Failed
        ) {
            return Err(RegistryError::invalid(
                "pipeline run end",
                format!(
                    "'{}' is not an end; a run ends succeeded or failed",
                    end.status
                ),
            ));
        }
        let now = self.now_micros();
        self.write(|tx| {
            let run = load_run(tx, id)?;
            if run.status != PipelineRunStatus::Running {
                return Err(RegistryError::Conflict(format!(
                    "pipeline run {id} ({} for {}) is {}, not running; only a running run can end",
                    run.pipeline, run.logical_date, run.status
                )));
            }
            tx.exec(
                "UPDATE pipeline_runs SET status = $1, ended_at = $2, error = $3,
                     failed_task = $4, alert_owner = $5, note = $6
                 WHERE id = $7",
                params![
                    end.status.as_str(),
                    now,
                    end.error.as_deref(),
                    end.failed_task.as_deref(),
                    end.alert_owner.as_deref(),
                    end.note.as_deref(),
                    id
                ],
            )?;
            load_run(tx, id)
        })
    }

    /// Puts a running run back in the queue (status `queued`) with `note`:
    /// part of it ran (a task run on its own) and the rest is left to
    /// whoever runs queued runs next. Only a running run can be requeued.
    pub fn requeue_pipeline_run(&mut self, id: PipelineRunId, note: &str) -> Result<PipelineRun> {
        self.write(|tx| {
            let run = load_run(tx, id)?;
            if run.status != PipelineRunStatus::Running {
                return Err(RegistryError::Conflict(format!(
                    "pipeline run {id} ({} for {}) is {}, not running; only a running run can go back to the queue",
                    run.pipeline, run.logical_date, run.status
                )));
            }
            tx.exec(
                "UPDATE pipeline_runs SET status = 'queued', ended_at = NULL, note = $1 WHERE id = $2",
                params![note, id],
            )?;
            load_run(tx, id)
        })
    }

    /// Records the start of the next attempt of `task` in a running run;
    /// attempts are numbered from 1 across resumes.
    pub fn start_task_attempt(&mut self, run_id: PipelineRunId, task: &str) -> Result<TaskRun> {
        self.insert_task_row(run_id, task, TaskRunStatus::Running, None)
    }

    /// Records that `task` did not run in this invocation of the run
    /// (`UpstreamFailed` or `Skipped`), and why.
    pub fn mark_task_not_run(
        &mut self,
        run_id: PipelineRunId,
        task: &str,
        status: TaskRunStatus,
        reason: &str,
    ) -> Result<TaskRun> {
        if !matches!(
            status,
            TaskRunStatus::UpstreamFailed | TaskRunStatus::Skipped
        ) {
            return Err(RegistryError::invalid(
                "task status",
                format!(
                    "'{status}' is not a status for a task that did not run; use upstream_failed or skipped"
                ),
            ));
        }
        self.insert_task_row(run_id, task, status, Some(reason))
    }

    fn insert_task_row(
        &mut self,
        run_id: PipelineRunId,
        task: &str,
        status: TaskRunStatus,
        reason: Option<&str>,
    ) -> Result<TaskRun> {
        check_name("task name", task)?;
        let now = self.now_micros();
        let (started, ended) = match status {
            TaskRunStatus::Running => (Some(now), None),
            _ => (None, Some(now)),
        };
        self.write(|tx| {
            let run = load_run(tx, run_id)?;
            if run.status != PipelineRunStatus::Running {
                return Err(RegistryError::Conflict(format!(
                    "pipeline run {run_id} ({} for {}) is {}; start it before recording task attempts",
                    run.pipeline, run.logical_date, run.status
                )));
            }
            let attempt = tx
                .one(
                    "SELECT COALESCE(MAX(attempt), 0) + 1 FROM pipeline_task_runs WHERE run_id = $1 AND task = $2",
                    params![run_id, task],
                )?
                .int(0)?;
            let id = tx
                .one(
                    "INSERT INTO pipeline_task_runs (run_id, task, attempt, status, started_at, ended_at, error, log)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, '') RETURNING id",
                    params![run_id, task, attempt, status.as_str(), started, ended, reason],
                )?
                .int(0)?;
            load_task(tx, id)
        })
    }

    /// Ends a running task attempt: its status, error, output and log (the
    /// log is cut to its last [`MAX_TASK_LOG`] bytes).
    pub fn finish_task_attempt(
        &mut self,
        attempt_id: i64,
        end: &TaskAttemptEnd,
    ) -> Result<TaskRun> {
        if !end.status.is_attempt_end() {
            return Err(RegistryError::invalid(
                "task attempt end",
                format!(
                    "'{}' is not an end; an attempt ends succeeded, failed or timed_out",
                    end.status
                ),
            ));
        }
        let output = end.output.as_ref().map(Value::to_string);
        if let Some(o) = &output
            && o.len() > MAX_TASK_OUTPUT
        {
            return Err(RegistryError::invalid(
                "task output",
                format!(
                    "{} bytes of JSON; outputs are for small values (paths, ids, metrics), at most {MAX_TASK_OUTPUT} bytes",
                    o.len()
                ),
            ));
        }
        let log = bound_log(&end.log);
        let now = self.now_micros();
        self.write(|tx| {
            let current = load_task(tx, attempt_id)?;
            if current.status != TaskRunStatus::Running {
                return Err(RegistryError::Conflict(format!(
                    "attempt {} of task '{}' is {}, not running; it was ended already (perhaps as interrupted by another runner)",
                    current.attempt, current.task, current.status
                )));
            }
            tx.exec(
                "UPDATE pipeline_task_runs SET status = $1, ended_at = $2, error = $3, output = $4, stop = $5, log = $6
                 WHERE id = $7",
                params![
                    end.status.as_str(),
                    now,
                    end.error.as_deref(),
                    output.as_deref(),
                    end.stop.as_deref(),
                    log.as_str(),
                    attempt_id
                ],
            )?;
            load_task(tx, attempt_id)
        })
    }

    /// Every task row of a run (attempts and tasks that did not run), in
    /// the order they were recorded.
    pub fn pipeline_task_runs(&mut self, run_id: PipelineRunId) -> Result<Vec<TaskRun>> {
        self.read(|tx| {
            load_run(tx, run_id)?;
            tx.rows(
                &format!(
                    "SELECT {TASK_COLUMNS} FROM pipeline_task_runs WHERE run_id = $1 ORDER BY id"
                ),
                params![run_id],
            )?
            .iter()
            .map(task_from_row)
            .collect()
        })
    }

    /// Pipeline runs matching `query`, newest first.
    pub fn pipeline_runs(&mut self, query: &PipelineRunQuery) -> Result<Vec<PipelineRun>> {
        if query.limit == 0 || query.limit > MAX_PIPELINE_PAGE {
            return Err(RegistryError::invalid(
                "pipeline run limit",
                format!(
                    "{} is out of range; use 1 to {MAX_PIPELINE_PAGE}",
                    query.limit
                ),
            ));
        }
        let mut b = SqlBuilder {
            sql: format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE 1 = 1"),
            params: Vec::new(),
        };
        if let Some(p) = &query.pipeline {
            let p = b.param(p.as_str());
            b.sql.push_str(&format!(" AND pipeline = {p}"));
        }
        if let Some(s) = query.status {
            let p = b.param(s.as_str());
            b.sql.push_str(&format!(" AND status = {p}"));
        }
        if let Some(id) = query.before_id {
            let p = b.param(id);
            b.sql.push_str(&format!(" AND id < {p}"));
        }
        let p = b.param(query.limit as i64);
        b.sql.push_str(&format!(" ORDER BY id DESC LIMIT {p}"));
        self.read(|tx| {
            tx.rows(&b.sql, &b.params)?
                .iter()
                .map(run_from_row)
                .collect()
        })
    }

    /// The most recently created run of each pipeline, by pipeline name.
    pub fn latest_pipeline_runs(&mut self) -> Result<Vec<PipelineRun>> {
        self.read(|tx| {
            tx.rows(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id IN
                       (SELECT MAX(id) FROM pipeline_runs GROUP BY pipeline)
                     ORDER BY pipeline"
                ),
                params![],
            )?
            .iter()
            .map(run_from_row)
            .collect()
        })
    }

    /// The latest cron occurrence `pipeline` has a run for (run, failed or
    /// skipped), if any: where its scheduler goes on from.
    pub fn last_scheduled(&mut self, pipeline: &str) -> Result<Option<DateTime<Utc>>> {
        self.read(|tx| {
            Ok(tx
                .one(
                    "SELECT MAX(scheduled_for) FROM pipeline_runs WHERE pipeline = $1",
                    params![pipeline],
                )?
                .opt_int(0)?
                .map(from_micros))
        })
    }

    /// Queued runs (oldest first), of one pipeline or all.
    pub fn queued_pipeline_runs(&mut self, pipeline: Option<&str>) -> Result<Vec<PipelineRun>> {
        self.read(|tx| {
            let rows = match pipeline {
                Some(p) => tx.rows(
                    &format!(
                        "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE status = 'queued' AND pipeline = $1 ORDER BY id"
                    ),
                    params![p],
                )?,
                None => tx.rows(
                    &format!(
                        "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE status = 'queued' ORDER BY id"
                    ),
                    params![],
                )?,
            };
            rows.iter().map(run_from_row).collect()
        })
    }

    /// Takes the lease `name` for `holder` until now + `ttl`, if nobody
    /// holds it or its lease has expired (or `holder` holds it already,
    /// which extends it). One statement: of any number of callers racing
    /// for a free lease, exactly one gets `true`.
    pub fn try_acquire_lease(
        &mut self,
        name: &str,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool> {
        check_name("lease name", name)?;
        check_name("lease holder", holder)?;
        let ttl = ttl_micros(ttl)?;
        let now = self.now_micros();
        let expires = now.saturating_add(ttl);
        self.write(|tx| {
            let changed = tx.exec(
                "INSERT INTO pipeline_leases (name, holder, acquired_at, expires_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET
                     acquired_at = CASE WHEN pipeline_leases.holder = excluded.holder
                                        THEN pipeline_leases.acquired_at ELSE excluded.acquired_at END,
                     holder = excluded.holder,
                     expires_at = excluded.expires_at
                 WHERE pipeline_leases.expires_at <= $3 OR pipeline_leases.holder = $2",
                params![name, holder, now, expires],
            )?;
            Ok(changed == 1)
        })
    }

    /// Extends `holder`'s lease `name` to now + `ttl`; `false` if another
    /// holder has it (the lease was lost) or nobody does.
    pub fn renew_lease(&mut self, name: &str, holder: &str, ttl: chrono::Duration) -> Result<bool> {
        let ttl = ttl_micros(ttl)?;
        let now = self.now_micros();
        let expires = now.saturating_add(ttl);
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE pipeline_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
                params![expires, name, holder],
            )? == 1)
        })
    }

    /// Gives up `holder`'s lease `name`; `false` if `holder` did not hold it.
    pub fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.exec(
                "DELETE FROM pipeline_leases WHERE name = $1 AND holder = $2",
                params![name, holder],
            )? == 1)
        })
    }

    /// The lease `name` as stored (it may have expired), if any.
    pub fn lease(&mut self, name: &str) -> Result<Option<Lease>> {
        self.read(|tx| {
            tx.opt(
                "SELECT name, holder, acquired_at, expires_at FROM pipeline_leases WHERE name = $1",
                params![name],
            )?
            .map(|r| {
                Ok(Lease {
                    name: r.text(0)?,
                    holder: r.text(1)?,
                    acquired_at: from_micros(r.int(2)?),
                    expires_at: from_micros(r.int(3)?),
                })
            })
            .transpose()
        })
    }
}
