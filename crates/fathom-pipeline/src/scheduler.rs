//! The scheduler: runs each pipeline's due cron occurrences (after the
//! catch-up policy), the queued runs others asked for, and the runs a dead
//! runner left `running`, through a [`Runner`], whose lease per run keeps
//! two schedulers on one store from running the same run twice. It can
//! also deliver the registry's due events on every tick, so that a
//! delivery that failed is retried by a long-running process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fathom_registry::events::{
    DeliveryPolicy, DeliveryReport, Webhook, WebhookTransport, deliver_due,
};
use fathom_registry::pipelines::MAX_PIPELINE_PAGE;
use fathom_registry::{
    Clock, NewPipelineRun, PipelineRun, PipelineRunQuery, PipelineRunStatus, PipelineTrigger, Store,
};
use serde_json::Value;

use crate::date::LogicalDate;
use crate::error::PipelineError;
use crate::pipeline::Pipeline;
use crate::runner::{RunOutcome, RunRequest, Runner, Sleeper, lease_name};
use crate::schedule::{Schedule, due};

/// How often the scheduler looks for queued runs when no occurrence is
/// due sooner.
pub const DEFAULT_POLL: Duration = Duration::from_secs(30);

/// One run the scheduler started (or found done or busy).
#[derive(Debug)]
pub struct TickRun {
    /// The pipeline.
    pub pipeline: String,
    /// The logical date.
    pub logical_date: String,
    /// Why it ran: its schedule, or the trigger of a queued run.
    pub trigger: PipelineTrigger,
    /// What the runner did, or why it could not.
    pub result: Result<RunOutcome, PipelineError>,
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    /// The time of the tick.
    pub at: Option<DateTime<Utc>>,
    /// The runs, in the order they ran.
    pub runs: Vec<TickRun>,
    /// Missed occurrences recorded as skipped: (pipeline, logical date).
    pub skipped: Vec<(String, String)>,
    /// Pipelines that missed more occurrences than the catch-up looks at.
    pub truncated: Vec<String>,
    /// Errors outside a run (reading the store), by pipeline.
    pub errors: Vec<(String, PipelineError)>,
    /// The registry events delivered in this tick, when the scheduler
    /// delivers them (see [`Scheduler::with_events`]).
    pub deliveries: Option<DeliveryReport>,
}

/// The registry's webhooks, for a scheduler that delivers due events on
/// every tick.
pub struct EventDelivery {
    /// Where events go.
    pub webhooks: Vec<Webhook>,
    /// Attempts and backoff.
    pub policy: DeliveryPolicy,
    /// The HTTP client.
    pub transport: Box<dyn WebhookTransport + Send>,
}

impl std::fmt::Debug for EventDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDelivery")
            .field("webhooks", &self.webhooks)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Runs pipelines on their schedules and queued runs.
#[derive(Debug)]
pub struct Scheduler {
    runner: Runner,
    pipelines: BTreeMap<String, Pipeline>,
    schedules: Vec<Schedule>,
    started: Option<DateTime<Utc>>,
    poll: Duration,
    events: Option<EventDelivery>,
}

impl Scheduler {
    /// A scheduler running through `runner`, with no pipelines yet.
    pub fn new(runner: Runner) -> Self {
        Scheduler {
            runner,
            pipelines: BTreeMap::new(),
            schedules: Vec::new(),
            started: None,
            poll: DEFAULT_POLL,
            events: None,
        }
    }

    /// Delivers the registry's due events (new ones and retries after
    /// their backoff) at every tick.
    pub fn with_events(mut self, events: EventDelivery) -> Self {
        self.events = Some(events);
        self
    }

    /// Looks for queued runs at least this often (default 30 s).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// Adds a pipeline, on `schedule` if given (without one it runs only
    /// when queued).
    pub fn add(
        &mut self,
        pipeline: Pipeline,
        schedule: Option<Schedule>,
    ) -> Result<(), PipelineError> {
        let name = pipeline.name().to_owned();
        if self.pipelines.contains_key(&name) {
            return Err(PipelineError::BadSetting {
                what: format!("pipelines.{name}"),
                message: "the pipeline is added twice; each pipeline has one schedule".into(),
            });
        }
        if let Some(s) = schedule {
            if s.pipeline() != name {
                return Err(PipelineError::BadSetting {
                    what: format!("pipelines.{name}.schedule"),
                    message: format!("the schedule is for pipeline '{}'", s.pipeline()),
                });
            }
            self.schedules.push(s);
        }
        self.pipelines.insert(name, pipeline);
        Ok(())
    }

    /// The runner (and through it the store).
    pub fn runner(&mut self) -> &mut Runner {
        &mut self.runner
    }

    /// The pipeline named `name`; the error lists the known ones.
    pub fn pipeline(&self, name: &str) -> Result<&Pipeline, PipelineError> {
        self.pipelines
            .get(name)
            .ok_or_else(|| PipelineError::UnknownPipeline {
                name: name.to_owned(),
                known: self.pipelines.keys().cloned().collect(),
            })
    }

    /// The schedules.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The earliest next occurrence of any schedule after `now`.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|s| s.next_after(now))
            .min()
    }

    /// Runs what is due at `now`: for each schedule, the occurrences after
    /// the latest one its pipeline has a run for (on the first tick of a
    /// pipeline with no scheduled run at all, nothing before this
    /// scheduler started), after the catch-up policy, recording the
    /// skipped ones; then what [`Scheduler::run_waiting`] runs; then, if
    /// set up, the registry's due event deliveries. A run another runner
    /// holds is reported busy and left to it.
    pub fn tick(&mut self, now: DateTime<Utc>) -> TickReport {
        let anchor = *self.started.get_or_insert(now);
        let mut report = TickReport {
            at: Some(now),
            ..TickReport::default()
        };
        for i in 0..self.schedules.len() {
            let schedule = self.schedules[i].clone();
            let name = schedule.pipeline().to_owned();
            if let Err(e) = self.tick_schedule(&schedule, anchor, now, &mut report) {
                report.errors.push((name, e));
            }
        }
        self.waiting(now, &mut report);
        if let Some(ev) = &self.events {
            match deliver_due(
                self.runner.store(),
                &ev.webhooks,
                &ev.policy,
                ev.transport.as_ref(),
                now,
            ) {
                Ok(d) => report.deliveries = Some(d),
                Err(e) => report.errors.push(("registry events".into(), e.into())),
            }
        }
        report
    }

    /// Runs the waiting runs of the known pipelines, without looking at
    /// schedules: first the queued runs, oldest first; then the runs left
    /// `running` by a runner that stopped (killed, or its machine lost),
    /// once their lease has expired at `now`, each resumed from the task
    /// that did not finish (the attempt it left is recorded as
    /// interrupted). A run whose lease is still held is left to its
    /// holder.
    pub fn run_waiting(&mut self, now: DateTime<Utc>) -> TickReport {
        let mut report = TickReport {
            at: Some(now),
            ..TickReport::default()
        };
        self.waiting(now, &mut report);
        report
    }

    fn waiting(&mut self, now: DateTime<Utc>, report: &mut TickReport) {
        match self.runner.store().queued_pipeline_runs(None) {
            Ok(queued) => {
                for run in queued {
                    self.run_queued(run, report);
                }
            }
            Err(e) => report.errors.push(("queued runs".into(), e.into())),
        }
        match self.abandoned(now) {
            Ok(runs) => {
                for run in runs {
                    self.run_queued(run, report);
                }
            }
            Err(e) => report.errors.push(("interrupted runs".into(), e)),
        }
    }

    /// The `running` runs of known pipelines whose lease is gone or
    /// expired at `now`, oldest first.
    fn abandoned(&mut self, now: DateTime<Utc>) -> Result<Vec<PipelineRun>, PipelineError> {
        let mut running = self.runner.store().pipeline_runs(&PipelineRunQuery {
            pipeline: None,
            status: Some(PipelineRunStatus::Running),
            before_id: None,
            limit: MAX_PIPELINE_PAGE,
        })?;
        running.reverse();
        let mut out = Vec::new();
        for run in running {
            if !self.pipelines.contains_key(&run.pipeline) {
                continue;
            }
            let Ok(date) = LogicalDate::parse(&run.logical_date) else {
                continue;
            };
            let lease = self
                .runner
                .store()
                .lease(&lease_name(&run.pipeline, &date))?;
            if lease.is_none_or(|l| l.expires_at <= now) {
                out.push(run);
            }
        }
        Ok(out)
    }

    fn tick_schedule(
        &mut self,
        schedule: &Schedule,
        anchor: DateTime<Utc>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), PipelineError> {
        let name = schedule.pipeline();
        let last = self.runner.store().last_scheduled(name)?.or(Some(anchor));
        let due = due(schedule, last, now);
        if due.truncated {
            report.truncated.push(name.to_owned());
        }
        for &at in &due.skipped {
            let date = schedule.logical_date(at).to_string();
            let (_, recorded) = self.runner.store().skip_pipeline_run(&NewPipelineRun {
                pipeline: name.to_owned(),
                logical_date: date.clone(),
                trigger: PipelineTrigger::Schedule,
                reason: format!(
                    "missed while no scheduler ran; catch_up = \"{}\" skips it",
                    schedule.catch_up().as_str()
                ),
                params: Value::Object(Default::default()),
                scheduled_for: Some(at),
            })?;
            if recorded {
                report.skipped.push((name.to_owned(), date));
            }
        }
        let pipeline = self.pipeline(name)?.clone();
        for &at in &due.run {
            let date = schedule.logical_date(at);
            let result = self.runner.run(&pipeline, &RunRequest::scheduled(date, at));
            report.runs.push(TickRun {
                pipeline: name.to_owned(),
                logical_date: date.to_string(),
                trigger: PipelineTrigger::Schedule,
                result,
            });
        }
        Ok(())
    }

    fn run_queued(&mut self, run: PipelineRun, report: &mut TickReport) {
        let Some(pipeline) = self.pipelines.get(&run.pipeline).cloned() else {
            return;
        };
        let result = LogicalDate::parse(&run.logical_date).and_then(|date| {
            self.runner.run(
                &pipeline,
                &RunRequest {
                    logical_date: date,
                    trigger: run.trigger,
                    reason: run.reason.clone(),
                    params: run.params.clone(),
                    scheduled_for: run.scheduled_for,
                },
            )
        });
        report.runs.push(TickRun {
            pipeline: run.pipeline,
            logical_date: run.logical_date,
            trigger: run.trigger,
            result,
        });
    }

    /// Ticks until `stop` is set: at each due occurrence, and at least
    /// every poll interval for queued runs (and event deliveries), reading
    /// the time from `clock` and waiting through `sleeper` in steps of at
    /// most a quarter second, checking `stop` after each. `on_tick` hears
    /// each tick's report.
    pub fn run_forever(
        &mut self,
        clock: &dyn Clock,
        sleeper: &dyn Sleeper,
        stop: &AtomicBool,
        mut on_tick: impl FnMut(&TickReport),
    ) {
        while !stop.load(Ordering::SeqCst) {
            let now = clock.now();
            let report = self.tick(now);
            on_tick(&report);
            let poll = chrono::Duration::from_std(self.poll).unwrap_or(chrono::Duration::MAX);
            let mut wake = now.checked_add_signed(poll).unwrap_or(now);
            if let Some(next) = self.next_due(now) {
                wake = wake.min(next);
            }
            while !stop.load(Ordering::SeqCst) {
                let left = wake - clock.now();
                if left <= chrono::Duration::zero() {
                    break;
                }
                let step = left
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_millis(250));
                sleeper.sleep(step);
            }
        }
    }
}

/// Queues a run of `pipeline` for `logical_date`, for a scheduler to pick
/// up (e.g. the monitoring policy asking for a retraining, with the
/// decision as `reason`). A date that already has a run is not queued
/// again: the flag is `false` and the existing run is returned, so a
/// decision re-made for the same date triggers one run only.
pub fn enqueue(
    store: &mut Store,
    pipeline: &str,
    logical_date: &LogicalDate,
    trigger: PipelineTrigger,
    reason: &str,
    params: Value,
) -> Result<(PipelineRun, bool), PipelineError> {
    Ok(store.open_pipeline_run(&NewPipelineRun {
        pipeline: pipeline.to_owned(),
        logical_date: logical_date.to_string(),
        trigger,
        reason: reason.to_owned(),
        params,
        scheduled_for: None,
    })?)
}
