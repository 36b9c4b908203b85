//! The runner: runs a pipeline for one logical date, task by task, with
//! its state in the store.
//!
//! * A run is named by (pipeline, logical date). Running a date that
//!   already succeeded does nothing; running a date whose run failed
//!   resumes it: tasks that succeeded are not run again (their recorded
//!   outputs feed the tasks after them), the failed task and those after
//!   it run.
//! * The runner holds the lease `pipeline:<name>:<date>` in the store
//!   while it works (renewed as it goes), so two runners — two
//!   schedulers, or a scheduler and a person — never work on one run at
//!   once. A runner that dies leaves the lease to expire; the next one
//!   marks the attempt it left running as interrupted and resumes.
//! * Tasks run one at a time in the pipeline's order. Each attempt runs
//!   on a worker thread; past its timeout the runner sets the attempt's
//!   cancellation flag, records it as timed out, and retries after the
//!   backoff if the thread stopped. A retryable error is retried the same
//!   way; a fatal error is not. A task that fails marks every task after
//!   it `upstream_failed`; its owner is named in the outcome's alerts.
//!   Tasks on other branches still run.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fathom_registry::pipelines::MAX_TASK_OUTPUT;
use fathom_registry::{
    NewPipelineRun, PipelineRun, PipelineRunEnd, PipelineRunStatus, PipelineTrigger, Store,
    TaskAttemptEnd, TaskRunStatus,
};
use serde::Serialize;
use serde_json::Value;

use crate::date::LogicalDate;
use crate::error::PipelineError;
use crate::pipeline::{Pipeline, Task};
use crate::task::{TaskContext, TaskError, TaskErrorKind, TaskLog, TaskOutput};

/// Waits between attempts. Tests pass one that records instead of
/// sleeping.
pub trait Sleeper: Send + Sync {
    /// Waits `d`.
    fn sleep(&self, d: Duration);
}

/// Sleeps the current thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// What to run: the logical date, and what the run records about why.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The date (or time) the run is for.
    pub logical_date: LogicalDate,
    /// What started it.
    pub trigger: PipelineTrigger,
    /// Why (for policy triggers, the decision's reason).
    pub reason: String,
    /// Params the tasks read (a JSON object).
    pub params: Value,
    /// The cron occurrence, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
}

impl RunRequest {
    /// A run started by a person.
    pub fn manual(logical_date: LogicalDate) -> Self {
        RunRequest {
            logical_date,
            trigger: PipelineTrigger::Manual,
            reason: String::new(),
            params: Value::Object(Default::default()),
            scheduled_for: None,
        }
    }

    /// A run of the cron occurrence `at`.
    pub fn scheduled(logical_date: LogicalDate, at: DateTime<Utc>) -> Self {
        RunRequest {
            trigger: PipelineTrigger::Schedule,
            scheduled_for: Some(at),
            ..RunRequest::manual(logical_date)
        }
    }

    /// A run asked for by an automatic decision, for `reason`.
    pub fn policy(logical_date: LogicalDate, reason: impl Into<String>) -> Self {
        RunRequest {
            trigger: PipelineTrigger::Policy,
            reason: reason.into(),
            ..RunRequest::manual(logical_date)
        }
    }

    /// With these params (a JSON object).
    pub fn with_params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }
}

/// Settings of a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Who the runner is, in leases (unique per runner; by default host,
    /// process id and a counter).
    pub holder: String,
    /// How long a lease lasts without renewal; renewed every third of it.
    pub lease_ttl: Duration,
    /// How long to wait for a timed-out attempt's thread to stop after
    /// cancelling it, before giving up on the task for this run.
    pub cancel_grace: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        RunnerOptions {
            holder: format!(
                "{}:{}:{}",
                fathom_registry::host_name(),
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
            lease_ttl: Duration::from_secs(120),
            cancel_grace: Duration::from_secs(10),
        }
    }
}

/// Someone to tell about a failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The owner of the task (or of the pipeline); `None` when neither
    /// names one.
    pub owner: Option<String>,
    /// The pipeline.
    pub pipeline: String,
    /// The logical date of the run.
    pub logical_date: String,
    /// The run's id.
    pub run_id: i64,
    /// The task that failed.
    pub task: String,
    /// Why it failed.
    pub error: String,
}

/// What became of one task in this invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    /// The task.
    pub task: String,
    /// How it ended (`succeeded` for tasks reused from an earlier
    /// invocation).
    pub status: TaskRunStatus,
    /// Attempts made in this invocation (0 for reused and not-run tasks).
    pub attempts: u32,
    /// Whether it had succeeded before and was not run again.
    pub reused: bool,
    /// Why it failed or did not run.
    pub error: Option<String>,
    /// Its output, when it succeeded.
    pub output: Option<Value>,
}

/// A run that was carried out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run as it ended.
    pub run: PipelineRun,
    /// Whether this invocation resumed an earlier one.
    pub resumed: bool,
    /// Every task, in run order.
    pub tasks: Vec<TaskReport>,
    /// One per failed task, naming its owner.
    pub alerts: Vec<Alert>,
}

impl RunReport {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.run.status == PipelineRunStatus::Succeeded
    }

    /// The report of task `name`.
    pub fn task(&self, name: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.task == name)
    }
}

/// What [`Runner::run`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The run was carried out (to success or failure).
    Ran(RunReport),
    /// The date had succeeded already; nothing was done.
    AlreadySucceeded(PipelineRun),
    /// Another runner holds the run's lease; nothing was done.
    Busy {
        /// The lease.
        lease: String,
        /// Its holder.
        holder: Option<String>,
    },
}

/// One step of a run, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent<'a> {
    /// The pipeline.
    pub pipeline: &'a str,
    /// The logical date.
    pub logical_date: &'a str,
    /// The task.
    pub task: &'a str,
    /// What happened.
    pub kind: RunEventKind<'a>,
}

/// What happened to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEventKind<'a> {
    /// It had succeeded in an earlier invocation; its output is reused.
    Reused,
    /// An attempt started.
    Started {
        /// Attempt number.
        attempt: i64,
    },
    /// An attempt ended.
    Ended {
        /// Attempt number.
        attempt: i64,
        /// How.
        status: TaskRunStatus,
        /// Why it failed.
        error: Option<&'a str>,
    },
    /// The next attempt starts after this wait.
    Retrying {
        /// The backoff.
        wait: Duration,
    },
    /// It does not run.
    NotRun {
        /// `upstream_failed` or `skipped`.
        status: TaskRunStatus,
        /// Why.
        reason: &'a str,
    },
}

/// Hears about each step of a run (for progress output).
pub trait RunObserver: Send + Sync {
    /// Called for every step.
    fn on_event(&self, event: &RunEvent<'_>);
}

/// Runs pipelines against a store.
pub struct Runner {
    store: Store,
    sleeper: Arc<dyn Sleeper>,
    observer: Option<Arc<dyn RunObserver>>,
    options: RunnerOptions,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("store", &self.store)
            .field("options", &self.options)
            .finish()
    }
}

/// The lease a run of `pipeline` for `date` is worked on under.
pub fn lease_name(pipeline: &str, date: &LogicalDate) -> String {
    format!("pipeline:{pipeline}:{date}")
}

/// A duration for messages: `250ms`, `1.5s`, `30m`, `2h 5m`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s < 60 {
        let tenths = (ms % 1000) / 100;
        return if tenths == 0 {
            format!("{s}s")
        } else {
            format!("{s}.{tenths}s")
        };
    }
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// How a task stands in this invocation.
#[derive(Debug, Clone)]
enum State {
    Succeeded { output: Value, stop: Option<String> },
    Failed,
    UpstreamFailed { root: String },
    Skipped { root: String, reason: String },
}

enum AttemptResult {
    Done(Result<TaskOutput, TaskError>),
    Panicked(String),
    TimedOut { stopped: bool },
}

impl Runner {
    /// A runner over `store`, with default options.
    pub fn new(store: Store) -> Self {
        Runner {
            store,
            sleeper: Arc::new(ThreadSleeper),
            observer: None,
            options: RunnerOptions::default(),
        }
    }

    /// Uses `sleeper` for the waits between attempts.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Tells `observer` about each step.
    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Uses `options`.
    pub fn with_options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// The runner's options.
    pub fn options(&self) -> &RunnerOptions {
        &self.options
    }

    /// The store.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.options.lease_ttl).unwrap_or(chrono::Duration::seconds(120))
    }

    fn renew_every(&self) -> Duration {
        (self.options.lease_ttl / 3).max(Duration::from_millis(10))
    }

    /// Runs `pipeline` for `request.logical_date` (see the module docs).
    pub fn run(
        &mut self,
        pipeline: &Pipeline,
        request: &RunRequest,
    ) -> Result<RunOutcome, PipelineError> {
        let lease = lease_name(pipeline.name(), &request.logical_date);
        let holder = self.options.holder.clone();
        if !self.store.try_acquire_lease(&lease, &holder, self.ttl())? {
            let holder = self.store.lease(&lease)?.map(|l| l.holder);
            return Ok(RunOutcome::Busy { lease, holder });
        }
        let result = self.run_leased(pipeline, request, &lease);
        // A lost lease is someone else's now; an unreachable store lets
        // the lease expire by itself.
        let _ = self.store.release_lease(&lease, &holder);
        result
    }

    /// Runs only the task `task` of `pipeline` for `request.logical_date`,
    /// under the run's lease, as one more invocation of the run:
    ///
    /// * every task it depends on (directly or not) must have succeeded
    ///   for the date already; their recorded outputs feed it (else
    ///   [`PipelineError::UpstreamNotDone`], and nothing is recorded);
    /// * a task that succeeded for the date is not run again: the report
    ///   lists it as reused, and the run is left as it is;
    /// * a task after a stop is recorded `skipped`, like in a whole run.
    ///
    /// Its attempts (retries, timeout) are recorded as in a whole run.
    /// Afterwards the run is failed if the task failed (its owner in the
    /// alerts), succeeded if every task of the pipeline now has, and
    /// otherwise back in the queue with a note, so that the next runner
    /// of queued runs does the rest.
    pub fn run_one(
        &mut self,
        pipeline: &Pipeline,
        request: &RunRequest,
        task: &str,
    ) -> Result<RunOutcome, PipelineError> {
        if pipeline.task(task).is_none() {
            return Err(PipelineError::UnknownTask {
                pipeline: pipeline.name().to_owned(),
                task: task.to_owned(),
                known: pipeline.ordered().map(|t| t.spec.name.clone()).collect(),
            });
        }
        let lease = lease_name(pipeline.name(), &request.logical_date);
        let holder = self.options.holder.clone();
        if !self.store.try_acquire_lease(&lease, &holder, self.ttl())? {
            let holder = self.store.lease(&lease)?.map(|l| l.holder);
            return Ok(RunOutcome::Busy { lease, holder });
        }
        let result = self.run_one_leased(pipeline, request, task, &lease);
        let _ = self.store.release_lease(&lease, &holder);
        result
    }

    fn run_one_leased(
        &mut self,
        pipeline: &Pipeline,
        request: &RunRequest,
        name: &str,
        lease: &str,
    ) -> Result<RunOutcome, PipelineError> {
        let date = request.logical_date.to_string();
        let existing = self.store.find_pipeline_run(pipeline.name(), &date)?;
        let mut before: BTreeMap<String, fathom_registry::TaskRun> = BTreeMap::new();
        if let Some(run) = &existing {
            if run.status == PipelineRunStatus::Succeeded {
                return Ok(RunOutcome::AlreadySucceeded(run.clone()));
            }
            for t in self.store.pipeline_task_runs(run.id)? {
                before.insert(t.task.clone(), t);
            }
        }
        let succeeded = |t: &str| {
            before
                .get(t)
                .is_some_and(|r| r.status == TaskRunStatus::Succeeded)
        };
        if let (Some(run), Some(prev)) = (&existing, before.get(name))
            && prev.status == TaskRunStatus::Succeeded
        {
            self.emit(pipeline.name(), &date, name, RunEventKind::Reused);
            return Ok(RunOutcome::Ran(RunReport {
                run: run.clone(),
                resumed: false,
                tasks: vec![TaskReport {
                    task: name.to_owned(),
                    status: TaskRunStatus::Succeeded,
                    attempts: 0,
                    reused: true,
                    error: None,
                    output: prev.output.clone(),
                }],
                alerts: Vec::new(),
            }));
        }
        let ancestors = pipeline.ancestors(name);
        let waiting: Vec<String> = ancestors
            .iter()
            .filter(|a| !succeeded(a))
            .map(|a| (*a).to_owned())
            .collect();
        if !waiting.is_empty() {
            return Err(PipelineError::UpstreamNotDone {
                pipeline: pipeline.name().to_owned(),
                logical_date: date,
                task: name.to_owned(),
                waiting,
            });
        }

        let (run, _) = self.store.open_pipeline_run(&NewPipelineRun {
            pipeline: pipeline.name().to_owned(),
            logical_date: date.clone(),
            trigger: request.trigger,
            reason: request.reason.clone(),
            params: request.params.clone(),
            scheduled_for: request.scheduled_for,
        })?;
        let run = self.store.start_pipeline_run(run.id)?;
        let resumed = run.invocations > 1;
        // What earlier invocations left, for the end of the run.
        let mut states: BTreeMap<String, State> = BTreeMap::new();
        for (t, row) in &before {
            match row.status {
                TaskRunStatus::Succeeded => {
                    states.insert(
                        t.clone(),
                        State::Succeeded {
                            output: row.output.clone().unwrap_or(Value::Null),
                            stop: row.stop.clone(),
                        },
                    );
                }
                TaskRunStatus::Skipped => {
                    states.insert(
                        t.clone(),
                        State::Skipped {
                            root: String::new(),
                            reason: row.error.clone().unwrap_or_default(),
                        },
                    );
                }
                _ => {}
            }
        }
        let task = pipeline.task(name).expect("checked above");
        let mut failures = Vec::new();
        let report = if let Some(why) = not_run(task, &states) {
            let (report, state) = self.record_not_run(pipeline.name(), &run, &date, name, why)?;
            states.insert(name.to_owned(), state);
            report
        } else {
            let upstream: BTreeMap<String, Value> = ancestors
                .iter()
                .filter_map(|a| match states.get(*a) {
                    Some(State::Succeeded { output, .. }) => {
                        Some(((*a).to_owned(), output.clone()))
                    }
                    _ => None,
                })
                .collect();
            let (report, state) =
                self.run_task(pipeline, task, &run, request, &date, lease, upstream)?;
            if matches!(state, State::Failed) {
                failures.push((name.to_owned(), report.error.clone().unwrap_or_default()));
            }
            states.insert(name.to_owned(), state);
            report
        };
        self.keep_lease(lease)?;

        let left: Vec<&str> = pipeline
            .ordered()
            .map(|t| t.spec.name.as_str())
            .filter(|t| {
                !matches!(
                    states.get(*t),
                    Some(State::Succeeded { .. } | State::Skipped { .. })
                )
            })
            .collect();
        let (end, alerts) = run_end(pipeline, &run, &date, &failures, &states);
        let run = if failures.is_empty() && !left.is_empty() {
            self.store.requeue_pipeline_run(
                run.id,
                &format!(
                    "task '{name}' was run on its own; left to run: {}",
                    left.join(", ")
                ),
            )?
        } else {
            self.store.finish_pipeline_run(run.id, &end)?
        };
        Ok(RunOutcome::Ran(RunReport {
            run,
            resumed,
            tasks: vec![report],
            alerts,
        }))
    }

    fn keep_lease(&mut self, lease: &str) -> Result<(), PipelineError> {
        if self
            .store
            .renew_lease(lease, &self.options.holder, self.ttl())?
        {
            return Ok(());
        }
        let holder = self
            .store
            .lease(lease)?
            .map(|l| l.holder)
            .unwrap_or_else(|| "nobody".into());
        Err(PipelineError::LeaseLost {
            lease: lease.to_owned(),
            holder,
        })
    }

    fn sleep_keeping_lease(&mut self, lease: &str, wait: Duration) -> Result<(), PipelineError> {
        let mut left = wait;
        while !left.is_zero() {
            let step = left.min(self.renew_every());
            self.sleeper.sleep(step);
            left -= step;
            self.keep_lease(lease)?;
        }
        Ok(())
    }

    fn emit(&self, pipeline: &str, date: &str, task: &str, kind: RunEventKind<'_>) {
        if let Some(o) = &self.observer {
            o.on_event(&RunEvent {
                pipeline,
                logical_date: date,
                task,
                kind,
            });
        }
    }

    fn run_leased(
        &mut self,
        pipeline: &Pipeline,
        request: &RunRequest,
        lease: &str,
    ) -> Result<RunOutcome, PipelineError> {
        let date = request.logical_date.to_string();
        let (run, _) = self.store.open_pipeline_run(&NewPipelineRun {
            pipeline: pipeline.name().to_owned(),
            logical_date: date.clone(),
            trigger: request.trigger,
            reason: request.reason.clone(),
            params: request.params.clone(),
            scheduled_for: request.scheduled_for,
        })?;
        if run.status == PipelineRunStatus::Succeeded {
            return Ok(RunOutcome::AlreadySucceeded(run));
        }
        let run = self.store.start_pipeline_run(run.id)?;
        let resumed = run.invocations > 1;

        // The last row of each task from earlier invocations.
        let mut before: BTreeMap<String, fathom_registry::TaskRun> = BTreeMap::new();
        for t in self.store.pipeline_task_runs(run.id)? {
            before.insert(t.task.clone(), t);
        }

        let mut states: BTreeMap<String, State> = BTreeMap::new();
        let mut reports = Vec::new();
        let mut failures: Vec<(String, String)> = Vec::new();
        for task in pipeline.ordered() {
            let name = task.spec.name.as_str();
            if let Some(prev) = before.get(name)
                && prev.status == TaskRunStatus::Succeeded
            {
                self.emit(pipeline.name(), &date, name, RunEventKind::Reused);
                let output = prev.output.clone().unwrap_or(Value::Null);
                states.insert(
                    name.to_owned(),
                    State::Succeeded {
                        output: output.clone(),
                        stop: prev.stop.clone(),
                    },
                );
                reports.push(TaskReport {
                    task: name.to_owned(),
                    status: TaskRunStatus::Succeeded,
                    attempts: 0,
                    reused: true,
                    error: None,
                    output: Some(output),
                });
                continue;
            }
            if let Some(why) = not_run(task, &states) {
                let (report, state) =
                    self.record_not_run(pipeline.name(), &run, &date, name, why)?;
                states.insert(name.to_owned(), state);
                reports.push(report);
                continue;
            }
            let upstream: BTreeMap<String, Value> = pipeline
                .ancestors(name)
                .into_iter()
                .filter_map(|a| match states.get(a) {
                    Some(State::Succeeded { output, .. }) => Some((a.to_owned(), output.clone())),
                    _ => None,
                })
                .collect();
            let (report, state) =
                self.run_task(pipeline, task, &run, request, &date, lease, upstream)?;
            if matches!(state, State::Failed) {
                failures.push((name.to_owned(), report.error.clone().unwrap_or_default()));
            }
            states.insert(name.to_owned(), state);
            reports.push(report);
            self.keep_lease(lease)?;
        }

        let (end, alerts) = run_end(pipeline, &run, &date, &failures, &states);
        let run = self.store.finish_pipeline_run(run.id, &end)?;
        Ok(RunOutcome::Ran(RunReport {
            run,
            resumed,
            tasks: reports,
            alerts,
        }))
    }

    /// Records that `task` does not run in this invocation, for the reason
    /// [`not_run`] found: its row, the event, its report and its state (the
    /// same for a whole run and for one task run on its own).
    fn record_not_run(
        &mut self,
        pipeline: &str,
        run: &PipelineRun,
        date: &str,
        task: &str,
        (status, root, reason): (TaskRunStatus, String, String),
    ) -> Result<(TaskReport, State), PipelineError> {
        self.store
            .mark_task_not_run(run.id, task, status, &reason)?;
        self.emit(
            pipeline,
            date,
            task,
            RunEventKind::NotRun {
                status,
                reason: &reason,
            },
        );
        let state = match status {
            TaskRunStatus::Skipped => State::Skipped {
                root,
                reason: reason.clone(),
            },
            _ => State::UpstreamFailed { root },
        };
        let report = TaskReport {
            task: task.to_owned(),
            status,
            attempts: 0,
            reused: false,
            error: Some(reason),
            output: None,
        };
        Ok((report, state))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_task(
        &mut self,
        pipeline: &Pipeline,
        task: &Task,
        run: &PipelineRun,
        request: &RunRequest,
        date: &str,
        lease: &str,
        upstream: BTreeMap<String, Value>,
    ) -> Result<(TaskReport, State), PipelineError> {
        let spec = &task.spec;
        let name = spec.name.as_str();
        let max_tries = spec.retries.saturating_add(1);
        let mut tries = 0u32;
        loop {
            if tries > 0 {
                let wait = spec.backoff.delay(tries);
                self.emit(pipeline.name(), date, name, RunEventKind::Retrying { wait });
                self.sleep_keeping_lease(lease, wait)?;
            }
            tries += 1;
            let row = self.store.start_task_attempt(run.id, name)?;
            self.emit(
                pipeline.name(),
                date,
                name,
                RunEventKind::Started {
                    attempt: row.attempt,
                },
            );
            let log = TaskLog::default();
            let cancel = Arc::new(AtomicBool::new(false));
            let ctx = TaskContext::new(
                pipeline.name(),
                name,
                run.id,
                row.attempt,
                request.logical_date,
                run.trigger,
                &run.reason,
                &run.params,
                upstream.clone(),
                log.clone(),
                cancel.clone(),
            );
            let result = self.attempt(lease, task, ctx, &cancel)?;
            // (status, error, output, stop, retry?)
            let (status, error, output, stop, retry) = match result {
                AttemptResult::Done(Ok(out)) => {
                    let size = out.value.to_string().len();
                    if size > MAX_TASK_OUTPUT {
                        (
                            TaskRunStatus::Failed,
                            Some(format!(
                                "its output is {size} bytes of JSON; outputs are for small values (paths, ids, metrics), at most {MAX_TASK_OUTPUT} bytes: write data to a file and return its path"
                            )),
                            None,
                            None,
                            false,
                        )
                    } else {
                        (
                            TaskRunStatus::Succeeded,
                            None,
                            Some(out.value),
                            out.stop,
                            false,
                        )
                    }
                }
                AttemptResult::Done(Err(e)) => {
                    log.push(&format!("error: {}", e.message));
                    let retry = e.kind == TaskErrorKind::Retryable;
                    (TaskRunStatus::Failed, Some(e.message), None, None, retry)
                }
                AttemptResult::Panicked(message) => {
                    log.push(&format!("panicked: {message}"));
                    (
                        TaskRunStatus::Failed,
                        Some(format!("panicked: {message}; this is a bug in the task")),
                        None,
                        None,
                        false,
                    )
                }
                AttemptResult::TimedOut { stopped } => {
                    let limit = show_duration(spec.timeout);
                    if stopped {
                        log.push(&format!(
                            "timed out after {limit}; the task stopped when cancelled"
                        ));
                        (
                            TaskRunStatus::TimedOut,
                            Some(format!("timed out after {limit}")),
                            None,
                            None,
                            true,
                        )
                    } else {
                        let grace = show_duration(self.options.cancel_grace);
                        log.push(&format!(
                            "timed out after {limit}; still running {grace} after cancellation"
                        ));
                        (
                            TaskRunStatus::TimedOut,
                            Some(format!(
                                "timed out after {limit} and did not stop within {grace} of being cancelled; not retried while it may still be running (make the task check for cancellation, or raise its timeout_secs)"
                            )),
                            None,
                            None,
                            false,
                        )
                    }
                }
            };
            let ended = self.store.finish_task_attempt(
                row.id,
                &TaskAttemptEnd {
                    status,
                    error: error.clone(),
                    output: output.clone(),
                    stop: stop.clone(),
                    log: log.text(),
                },
            )?;
            self.emit(
                pipeline.name(),
                date,
                name,
                RunEventKind::Ended {
                    attempt: ended.attempt,
                    status,
                    error: error.as_deref(),
                },
            );
            if status == TaskRunStatus::Succeeded {
                let output = output.unwrap_or(Value::Null);
                return Ok((
                    TaskReport {
                        task: name.to_owned(),
                        status,
                        attempts: tries,
                        reused: false,
                        error: None,
                        output: Some(output.clone()),
                    },
                    State::Succeeded { output, stop },
                ));
            }
            if !retry || tries >= max_tries {
                let attempts = if tries == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{tries} attempts")
                };
                let message = error.unwrap_or_default();
                return Ok((
                    TaskReport {
                        task: name.to_owned(),
                        status,
                        attempts: tries,
                        reused: false,
                        error: Some(format!("{message} ({attempts})")),
                        output: None,
                    },
                    State::Failed,
                ));
            }
        }
    }

    fn attempt(
        &mut self,
        lease: &str,
        task: &Task,
        ctx: TaskContext,
        cancel: &AtomicBool,
    ) -> Result<AttemptResult, PipelineError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let body = task.body.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("task-{}", task.spec.name))
            .spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| body(&ctx)));
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Ok(AttemptResult::Done(Err(TaskError::retryable(format!(
                "could not start a thread for the task: {e}"
            )))));
        }
        let deadline = Instant::now() + task.spec.timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                cancel.store(true, Ordering::SeqCst);
                let stopped = rx.recv_timeout(self.options.cancel_grace).is_ok();
                return Ok(AttemptResult::TimedOut { stopped });
            }
            let wait = (deadline - now).min(self.renew_every());
            match rx.recv_timeout(wait) {
                Ok(Ok(result)) => return Ok(AttemptResult::Done(result)),
                Ok(Err(payload)) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    return Ok(AttemptResult::Panicked(message));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.keep_lease(lease) {
                        cancel.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(AttemptResult::Panicked(
                        "the task's thread ended without a result".into(),
                    ));
                }
            }
        }
    }
}

/// How a run ends after an invocation: failed (naming the first failed
/// task, with an alert to the owner of each) or succeeded (with the first
/// stop's reason as its note).
fn run_end(
    pipeline: &Pipeline,
    run: &PipelineRun,
    date: &str,
    failures: &[(String, String)],
    states: &BTreeMap<String, State>,
) -> (PipelineRunEnd, Vec<Alert>) {
    let alerts: Vec<Alert> = failures
        .iter()
        .map(|(task, error)| Alert {
            owner: pipeline
                .task(task)
                .and_then(|t| pipeline.owner_of(&t.spec))
                .map(str::to_owned),
            pipeline: pipeline.name().to_owned(),
            logical_date: date.to_owned(),
            run_id: run.id,
            task: task.clone(),
            error: error.clone(),
        })
        .collect();
    let end = match alerts.first() {
        Some(first) => PipelineRunEnd {
            status: PipelineRunStatus::Failed,
            error: Some(if alerts.len() > 1 {
                format!(
                    "task '{}' failed: {} (and {} more failed tasks: {})",
                    first.task,
                    first.error,
                    alerts.len() - 1,
                    alerts[1..]
                        .iter()
                        .map(|a| a.task.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("task '{}' failed: {}", first.task, first.error)
            }),
            failed_task: Some(first.task.clone()),
            alert_owner: first.owner.clone(),
            note: None,
        },
        None => PipelineRunEnd {
            status: PipelineRunStatus::Succeeded,
            error: None,
            failed_task: None,
            alert_owner: None,
            note: pipeline
                .ordered()
                .find_map(|t| match states.get(t.spec.name.as_str()) {
                    Some(State::Succeeded {
                        stop: Some(reason), ..
                    }) => Some(format!("stopped at task '{}': {reason}", t.spec.name)),
                    _ => None,
                }),
        },
    };
    (end, alerts)
}

/// Whether `task` must not run because of an upstream task: a failure
/// (`upstream_failed`) wins over a stop (`skipped`). Returns the status,
/// the task at the root of it and the reason.
fn not_run(
    task: &Task,
    states: &BTreeMap<String, State>,
) -> Option<(TaskRunStatus, String, String)> {
    let mut skipped = None;
    for dep in &task.spec.depends_on {
        match states.get(dep.as_str()) {
            Some(State::Failed) => {
                return Some((
                    TaskRunStatus::UpstreamFailed,
                    dep.clone(),
                    format!("upstream task '{dep}' failed"),
                ));
            }
            Some(State::UpstreamFailed { root }) => {
                return Some((
                    TaskRunStatus::UpstreamFailed,
                    root.clone(),
                    format!("upstream task '{root}' failed"),
                ));
            }
            Some(State::Succeeded {
                stop: Some(reason), ..
            }) if skipped.is_none() => {
                skipped = Some((
                    TaskRunStatus::Skipped,
                    dep.clone(),
                    format!("task '{dep}' stopped the pipeline: {reason}"),
                ));
            }
            Some(State::Skipped { root, reason }) if skipped.is_none() => {
                skipped = Some((TaskRunStatus::Skipped, root.clone(), reason.clone()));
            }
            _ => {}
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let cases = [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(45), "45s"),
            (Duration::from_secs(1800), "30m"),
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(7500), "2h 5m"),
        ];
        for (d, text) in cases {
            assert_eq!(show_duration(d), text);
        }
    }
}
