//! The scheduler on both back ends: catch-up after downtime through the
//! store's history, nothing run for the time before a first start, queued
//! (policy-triggered) runs picked up with their reason, the loop on a
//! controllable clock waking at due times and stopping on request, runs
//! left `running` by a dead runner (seeded, and a real process killed
//! mid-task) resumed once their lease expired, registry events retried by
//! the loop after their backoff, and two schedulers on two connections
//! running each due run exactly once.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use fathom_pipeline::{
    Backoff, CatchUp, LogicalDate, Pipeline, RunOutcome, Schedule, Scheduler, TaskContext,
    TaskOutput, TaskSpec, enqueue,
};
use fathom_registry::{
    NewPipelineRun, PipelineRunQuery, PipelineRunStatus, PipelineTrigger, TaskRunStatus,
};
use serde_json::json;

use crate::common::{ClockSleeper, Fixture, Kind};

both!(
    catch_up_latest_runs_the_newest_and_records_the_skipped,
    catch_up_all_runs_every_missed_date_once,
    a_first_start_runs_nothing_from_before_it,
    queued_policy_runs_are_picked_up_with_their_reason,
    the_loop_wakes_at_due_times_on_a_controllable_clock,
    two_schedulers_run_each_due_run_exactly_once,
    a_run_left_running_is_resumed_once_its_lease_expires,
    a_killed_runner_process_is_resumed_by_the_next_tick,
    the_loop_retries_event_deliveries_after_their_backoff,
);

/// Calls per (task, logical date).
type Counts = Arc<Mutex<BTreeMap<(String, String), usize>>>;

fn counting(
    counts: &Counts,
    task: &'static str,
    pause: Duration,
) -> impl Fn(&TaskContext) -> Result<TaskOutput, fathom_pipeline::TaskError> + Send + Sync + 'static
{
    let counts = counts.clone();
    move |ctx| {
        *counts
            .lock()
            .unwrap()
            .entry((task.to_owned(), ctx.logical_date.to_string()))
            .or_default() += 1;
        std::thread::sleep(pause);
        Ok(TaskOutput::new(
            json!({"reason": ctx.reason, "params": ctx.params}),
        ))
    }
}

fn data(counts: &Counts, pause: Duration) -> Pipeline {
    Pipeline::builder("data")
        .task(
            TaskSpec::new("ingest").backoff(Backoff::NONE),
            counting(counts, "ingest", pause),
        )
        .task(
            TaskSpec::new("validate")
                .after(["ingest"])
                .backoff(Backoff::NONE),
            counting(counts, "validate", pause),
        )
        .build()
        .unwrap()
}

fn at(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, h, 0, 0).unwrap()
}

/// Records that the data pipeline last ran for 1 March 02:00.
fn seed_history(f: &Fixture) {
    let mut store = f.open();
    let mut first = NewPipelineRun::new("data", "2026-03-01", PipelineTrigger::Schedule);
    first.scheduled_for = Some(at(1, 2));
    store.skip_pipeline_run(&first).unwrap();
}

fn scheduler(
    f: &Fixture,
    holder: &str,
    counts: &Counts,
    catch_up: CatchUp,
    pause: Duration,
) -> Scheduler {
    let (runner, _) = f.runner(holder);
    let mut s = Scheduler::new(runner);
    s.add(
        data(counts, pause),
        Some(Schedule::new("data", "0 2 * * *", catch_up).unwrap()),
    )
    .unwrap();
    s
}

fn runs_by_date(f: &Fixture) -> Vec<(String, PipelineRunStatus)> {
    let mut store = f.open();
    let mut runs: Vec<_> = store
        .pipeline_runs(&PipelineRunQuery {
            pipeline: Some("data".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| (r.logical_date, r.status))
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    runs
}

fn catch_up_latest_runs_the_newest_and_records_the_skipped(f: &Fixture) {
    seed_history(f);
    let counts = Counts::default();
    let mut s = scheduler(f, "sched-a", &counts, CatchUp::Latest, Duration::ZERO);
    // Down from 1 March until noon on 4 March.
    let report = s.tick(f.now());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].logical_date, "2026-03-04");
    assert!(matches!(report.runs[0].result, Ok(RunOutcome::Ran(ref r)) if r.succeeded()));
    assert_eq!(
        report.skipped,
        [
            ("data".to_string(), "2026-03-02".to_string()),
            ("data".to_string(), "2026-03-03".to_string())
        ]
    );
    use PipelineRunStatus::*;
    assert_eq!(
        runs_by_date(f),
        [
            ("2026-03-01".to_string(), Skipped),
            ("2026-03-02".to_string(), Skipped),
            ("2026-03-03".to_string(), Skipped),
            ("2026-03-04".to_string(), Succeeded),
        ]
    );
    let mut store = f.open();
    let skipped = store
        .find_pipeline_run("data", "2026-03-02")
        .unwrap()
        .unwrap();
    assert_eq!(skipped.trigger, PipelineTrigger::Schedule);
    assert!(
        skipped.reason.contains("catch_up = \"latest\""),
        "{}",
        skipped.reason
    );
    let ran = store
        .find_pipeline_run("data", "2026-03-04")
        .unwrap()
        .unwrap();
    assert_eq!(ran.scheduled_for, Some(at(4, 2)));
    assert_eq!(ran.trigger, PipelineTrigger::Schedule);
    // Ticking again the same day runs nothing more.
    let again = s.tick(f.now() + chrono::Duration::hours(1));
    assert!(again.runs.is_empty() && again.skipped.is_empty());
    // The next day's occurrence runs.
    let next = s.tick(at(5, 2));
    assert_eq!(next.runs.len(), 1);
    assert_eq!(next.runs[0].logical_date, "2026-03-05");
    assert_eq!(counts.lock().unwrap().len(), 4); // 2 tasks × 2 dates
    // A skipped date can still be run by hand.
    let p = s.pipeline("data").unwrap().clone();
    let manual = s
        .runner()
        .run(
            &p,
            &fathom_pipeline::RunRequest::manual(LogicalDate::parse("2026-03-02").unwrap()),
        )
        .unwrap();
    assert!(matches!(manual, RunOutcome::Ran(ref r) if r.succeeded()));
}

fn catch_up_all_runs_every_missed_date_once(f: &Fixture) {
    seed_history(f);
    let counts = Counts::default();
    let mut s = scheduler(f, "sched-a", &counts, CatchUp::All, Duration::ZERO);
    let report = s.tick(f.now());
    let dates: Vec<_> = report
        .runs
        .iter()
        .map(|r| r.logical_date.as_str())
        .collect();
    assert_eq!(dates, ["2026-03-02", "2026-03-03", "2026-03-04"]);
    assert!(report.skipped.is_empty());
    let c = counts.lock().unwrap();
    assert_eq!(c.len(), 6);
    assert!(c.values().all(|&n| n == 1), "{c:?}");
}

fn a_first_start_runs_nothing_from_before_it(f: &Fixture) {
    let counts = Counts::default();
    let mut s = scheduler(f, "sched-a", &counts, CatchUp::All, Duration::ZERO);
    // No history: started at noon on 4 March, nothing earlier is due.
    let first = s.tick(f.now());
    assert!(first.runs.is_empty() && first.skipped.is_empty());
    assert_eq!(s.next_due(f.now()), Some(at(5, 2)));
    let later = s.tick(at(5, 2) + chrono::Duration::seconds(1));
    let dates: Vec<_> = later.runs.iter().map(|r| r.logical_date.as_str()).collect();
    assert_eq!(dates, ["2026-03-05"]);
}

fn queued_policy_runs_are_picked_up_with_their_reason(f: &Fixture) {
    let counts = Counts::default();
    let (runner, _) = f.runner("sched-a");
    let mut s = Scheduler::new(runner);
    let training = Pipeline::builder("training")
        .task(
            TaskSpec::new("train"),
            counting(&counts, "train", Duration::ZERO),
        )
        .build()
        .unwrap();
    s.add(training, None).unwrap();
    // The monitoring policy decides to retrain, twice for the same hour.
    let mut monitor = f.open();
    let hour = LogicalDate::parse("2026-03-04T11:00:00Z").unwrap();
    let reason = "retrain: 6 of 20 features drifted and AUC-PR fell 0.05";
    let params = json!({"monitoring_run": 12});
    let (queued, created) = enqueue(
        &mut monitor,
        "training",
        &hour,
        PipelineTrigger::Policy,
        reason,
        params.clone(),
    )
    .unwrap();
    assert!(created);
    assert_eq!(queued.status, PipelineRunStatus::Queued);
    let (_, created) = enqueue(
        &mut monitor,
        "training",
        &hour,
        PipelineTrigger::Policy,
        reason,
        params.clone(),
    )
    .unwrap();
    assert!(!created);
    // A queued run of a pipeline this scheduler does not know is left.
    enqueue(
        &mut monitor,
        "other",
        &hour,
        PipelineTrigger::Manual,
        "",
        json!({}),
    )
    .unwrap();

    let report = s.tick(f.now());
    assert_eq!(report.runs.len(), 1);
    let r = &report.runs[0];
    assert_eq!(
        (r.pipeline.as_str(), r.trigger),
        ("training", PipelineTrigger::Policy)
    );
    let RunOutcome::Ran(ref run) = *r.result.as_ref().unwrap() else {
        panic!("expected a run");
    };
    assert_eq!(run.run.reason, reason);
    // The task read the reason and params.
    assert_eq!(
        run.task("train").unwrap().output,
        Some(json!({"reason": reason, "params": params}))
    );
    assert!(s.tick(f.now()).runs.is_empty());
    assert_eq!(
        monitor.queued_pipeline_runs(None).unwrap().len(),
        1,
        "the unknown pipeline's run stays queued"
    );
    assert_eq!(counts.lock().unwrap().len(), 1);
}

fn the_loop_wakes_at_due_times_on_a_controllable_clock(f: &Fixture) {
    seed_history(f);
    let counts = Counts::default();
    let (runner, _) = f.runner("sched-loop");
    let mut s = Scheduler::new(runner).with_poll(Duration::from_secs(5 * 3600));
    s.add(
        data(&counts, Duration::ZERO),
        Some(Schedule::new("data", "0 2 * * *", CatchUp::Latest).unwrap()),
    )
    .unwrap();
    // A backfill asked for before the loop starts.
    enqueue(
        &mut f.open(),
        "data",
        &LogicalDate::parse("2026-02-27").unwrap(),
        PipelineTrigger::Manual,
        "backfill",
        json!({}),
    )
    .unwrap();
    let sleeper = ClockSleeper::new(f.clock.clone());
    let stop = AtomicBool::new(false);
    let mut ticks: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
    s.run_forever(f.clock.as_ref(), &sleeper, &stop, |tick| {
        assert!(tick.errors.is_empty(), "{:?}", tick.errors);
        let dates: Vec<String> = tick.runs.iter().map(|r| r.logical_date.clone()).collect();
        if dates.iter().any(|d| d == "2026-03-05") {
            stop.store(true, Ordering::SeqCst);
        }
        ticks.push((tick.at.unwrap(), dates));
    });
    // Noon on 4 March: the latest missed date and the backfill; then
    // every poll interval (5 h) until the next occurrence, 02:00 on
    // 5 March, comes sooner than the next poll.
    let expected: Vec<(DateTime<Utc>, Vec<String>)> = vec![
        (at(4, 12), vec!["2026-03-04".into(), "2026-02-27".into()]),
        (at(4, 17), vec![]),
        (at(4, 22), vec![]),
        (at(5, 2), vec!["2026-03-05".into()]),
    ];
    assert_eq!(ticks, expected);
    assert_eq!(sleeper.total(), Duration::from_secs(14 * 3600));
    assert_eq!(f.now(), at(5, 2));
    let c = counts.lock().unwrap();
    assert_eq!(c.len(), 6, "{c:?}"); // 2 tasks × 3 dates
    assert!(c.values().all(|&n| n == 1), "{c:?}");
}

fn two_schedulers_run_each_due_run_exactly_once(f: &Fixture) {
    seed_history(f);
    let counts = Counts::default();
    const SCHEDULERS: usize = 2;
    const ROUNDS: usize = 3;
    let mut schedulers: Vec<Scheduler> = (0..SCHEDULERS)
        .map(|i| {
            scheduler(
                f,
                &format!("sched-{i}"),
                &counts,
                CatchUp::All,
                Duration::from_millis(5),
            )
        })
        .collect();
    let barrier = Barrier::new(SCHEDULERS);
    // Both wake at the same moments: noon on 4 March (three missed
    // dates), then a second later, then at the next occurrence.
    let times = [f.now(), f.now() + chrono::Duration::seconds(1), at(5, 2)];
    let outcomes: Vec<Vec<(String, &'static str)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = schedulers
            .iter_mut()
            .map(|s| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    for now in times.iter().take(ROUNDS) {
                        barrier.wait();
                        let report = s.tick(*now);
                        assert!(report.errors.is_empty(), "{:?}", report.errors);
                        for r in report.runs {
                            let kind = match r.result.expect("run") {
                                RunOutcome::Ran(rep) => {
                                    assert!(rep.succeeded());
                                    "ran"
                                }
                                RunOutcome::AlreadySucceeded(_) => "done",
                                RunOutcome::Busy { .. } => "busy",
                            };
                            seen.push((r.logical_date, kind));
                        }
                    }
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every task ran exactly once per date, whoever ran it.
    let c = counts.lock().unwrap();
    let expected_dates = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"];
    assert_eq!(c.len(), 2 * expected_dates.len(), "{c:?}");
    assert!(c.values().all(|&n| n == 1), "{c:?}");
    let ran: Vec<&str> = {
        let mut v: Vec<&str> = outcomes
            .iter()
            .flatten()
            .filter(|(_, k)| *k == "ran")
            .map(|(d, _)| d.as_str())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ran, expected_dates);
    // And the store agrees: one succeeded run per date, one attempt per task.
    let mut store = f.open();
    for d in expected_dates {
        let run = store.find_pipeline_run("data", d).unwrap().unwrap();
        assert_eq!(run.status, PipelineRunStatus::Succeeded, "{d}");
        assert_eq!(run.invocations, 1, "{d}");
        let rows = store.pipeline_task_runs(run.id).unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.task.as_str(), r.attempt, r.status))
            .collect();
        assert_eq!(
            got,
            [
                ("ingest", 1, TaskRunStatus::Succeeded),
                ("validate", 1, TaskRunStatus::Succeeded)
            ],
            "{d}"
        );
    }
}

/// A run a runner left behind: ingest done, validate started, the lease
/// taken for 120 s by `holder`.
fn seed_abandoned_run(f: &Fixture, holder: &str) -> i64 {
    let mut dead = f.open();
    let d = LogicalDate::parse("2026-03-02").unwrap();
    assert!(
        dead.try_acquire_lease(
            &fathom_pipeline::lease_name("data", &d),
            holder,
            chrono::Duration::seconds(120)
        )
        .unwrap()
    );
    let (run, _) = dead
        .open_pipeline_run(&NewPipelineRun::new(
            "data",
            "2026-03-02",
            PipelineTrigger::Schedule,
        ))
        .unwrap();
    dead.start_pipeline_run(run.id).unwrap();
    let a = dead.start_task_attempt(run.id, "ingest").unwrap();
    dead.finish_task_attempt(
        a.id,
        &fathom_registry::TaskAttemptEnd {
            status: TaskRunStatus::Succeeded,
            error: None,
            output: Some(json!({"rows": 3})),
            stop: None,
            log: String::new(),
        },
    )
    .unwrap();
    dead.start_task_attempt(run.id, "validate").unwrap();
    run.id
}

/// Ticks before and after the abandoned run's lease expires: resumed
/// once, from the task that did not finish.
fn assert_resumed_after_the_lease(f: &Fixture, s: &mut Scheduler, run_id: i64) {
    // The lease still runs: the run is its holder's.
    let early = s.tick(f.now());
    assert!(early.errors.is_empty(), "{:?}", early.errors);
    assert!(early.runs.is_empty(), "{:?}", early.runs);
    f.clock.advance(chrono::Duration::seconds(121));
    let report = s.tick(f.now());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.runs.len(), 1, "{:?}", report.runs);
    let r = &report.runs[0];
    assert_eq!(
        (r.pipeline.as_str(), r.logical_date.as_str(), r.trigger),
        ("data", "2026-03-02", PipelineTrigger::Schedule)
    );
    let Ok(RunOutcome::Ran(rep)) = &r.result else {
        panic!("expected a run: {:?}", r.result);
    };
    assert!(rep.succeeded() && rep.resumed, "{:?}", rep.run);
    assert!(rep.task("ingest").unwrap().reused);
    let rows = s.runner().store().pipeline_task_runs(run_id).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.task.as_str(), r.attempt, r.status))
        .collect();
    assert_eq!(
        got,
        [
            ("ingest", 1, TaskRunStatus::Succeeded),
            ("validate", 1, TaskRunStatus::Failed),
            ("validate", 2, TaskRunStatus::Succeeded),
        ]
    );
    assert_eq!(
        rows[1].error.as_deref(),
        Some("interrupted: the runner stopped before the attempt ended")
    );
    // Done: the next tick leaves it.
    assert!(s.tick(f.now()).runs.is_empty());
}

fn a_run_left_running_is_resumed_once_its_lease_expires(f: &Fixture) {
    let run_id = seed_abandoned_run(f, "dead");
    let counts = Counts::default();
    let (runner, _) = f.runner("sched-a");
    let mut s = Scheduler::new(runner);
    s.add(data(&counts, Duration::ZERO), None).unwrap();
    assert_resumed_after_the_lease(f, &mut s, run_id);
    let c = counts.lock().unwrap();
    assert_eq!(
        c.keys().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["validate"],
        "ingest is not run again"
    );
}

const HELPER_STORE: &str = "FATHOM_PIPELINE_TEST_STORE";
const HELPER_MARKER: &str = "FATHOM_PIPELINE_TEST_MARKER";

/// In the helper process: runs the data pipeline with a validate task
/// that says it started and then hangs until the process is killed (or a
/// minute passes, should the test that started it be gone).
fn hang_in_validate(location: &str, marker: &str) {
    let store = fathom_registry::Store::open_location(
        &fathom_registry::StoreLocation::parse(location).unwrap(),
        &fathom_registry::SqliteOptions::default(),
    )
    .unwrap()
    .with_clock(Arc::new(fathom_registry::ManualClock::new(
        crate::common::start_time(),
    )));
    let mut runner =
        fathom_pipeline::Runner::new(store).with_options(fathom_pipeline::RunnerOptions {
            holder: "doomed".into(),
            lease_ttl: Duration::from_secs(120),
            cancel_grace: Duration::from_secs(1),
        });
    let marker = marker.to_owned();
    let p = Pipeline::builder("data")
        .task(TaskSpec::new("ingest"), |_| {
            Ok(TaskOutput::new(json!({"rows": 3})))
        })
        .task(
            TaskSpec::new("validate")
                .after(["ingest"])
                .timeout(Duration::from_secs(600)),
            move |ctx| {
                std::fs::write(&marker, "started").unwrap();
                let until = Instant::now() + Duration::from_secs(60);
                while !ctx.is_cancelled() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fathom_pipeline::TaskError::fatal("not killed in time"))
            },
        )
        .build()
        .unwrap();
    let _ = runner.run(
        &p,
        &fathom_pipeline::RunRequest::scheduled(
            LogicalDate::parse("2026-03-02").unwrap(),
            at(2, 2),
        ),
    );
}

fn a_killed_runner_process_is_resumed_by_the_next_tick(f: &Fixture) {
    // This same test, started again as the helper process.
    if let (Ok(location), Ok(marker)) = (std::env::var(HELPER_STORE), std::env::var(HELPER_MARKER))
    {
        hang_in_validate(&location, &marker);
        return;
    }
    // Create the schema before the helper opens the store.
    drop(f.open());
    let marker = f.dir.path().join("validate-started");
    let name = match f.kind {
        Kind::Sqlite => "sqlite::a_killed_runner_process_is_resumed_by_the_next_tick",
        Kind::Postgres => "postgres::a_killed_runner_process_is_resumed_by_the_next_tick",
    };
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads", "1", "--nocapture"])
        .env(HELPER_STORE, &f.location)
        .env(HELPER_MARKER, &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the helper process ended before validate started: {status}");
        }
        assert!(Instant::now() < deadline, "validate never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL in the middle of validate: no chance to record anything.
    child.kill().unwrap();
    child.wait().unwrap();

    let mut store = f.open();
    let run = store
        .find_pipeline_run("data", "2026-03-02")
        .unwrap()
        .unwrap();
    assert_eq!(run.status, PipelineRunStatus::Running);
    let rows = store.pipeline_task_runs(run.id).unwrap();
    assert_eq!(
        rows.last().map(|r| (r.task.as_str(), r.status)),
        Some(("validate", TaskRunStatus::Running))
    );
    let lease = store
        .lease(&fathom_pipeline::lease_name(
            "data",
            &LogicalDate::parse("2026-03-02").unwrap(),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, "doomed");

    let counts = Counts::default();
    let (runner, _) = f.runner("sched-after-restart");
    let mut s = Scheduler::new(runner);
    s.add(data(&counts, Duration::ZERO), None).unwrap();
    assert_resumed_after_the_lease(f, &mut s, run.id);
}

/// A webhook receiver that refuses connections until it is switched on.
#[derive(Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl fathom_registry::events::WebhookTransport for Receiver {
    fn post(
        &self,
        r: &fathom_registry::events::WebhookRequest<'_>,
    ) -> Result<fathom_registry::events::WebhookResponse, String> {
        if !self.up.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        self.seen
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(r.body).into_owned());
        Ok(fathom_registry::events::WebhookResponse {
            status: 200,
            body: String::new(),
        })
    }
}

fn the_loop_retries_event_deliveries_after_their_backoff(f: &Fixture) {
    use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore};
    use fathom_registry::events::{DeliveryPolicy, Webhook};

    let hooks = vec![Webhook::new("https://ci.example/fathom")];
    let mut store = f.open();
    store.subscribe(&hooks).unwrap();
    let artifact = LocalArtifactStore::new(f.dir.path().join("artifacts"))
        .unwrap()
        .put_bytes(b"model bytes")
        .unwrap();
    store
        .register_version(
            &fathom_registry::NewVersion {
                model: "fraud".into(),
                run_id: None,
                artifact_uri: artifact.uri,
                artifact_sha256: artifact.sha256,
                schema_hash: "s".into(),
                holdout_snapshot: None,
                metrics: [("auc_pr".to_string(), 0.7)].into(),
                owner: "ana".into(),
                description: String::new(),
            },
            &fathom_registry::Actor::new("ana", "build-7"),
            "test",
        )
        .unwrap();

    let up = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (runner, _) = f.runner("sched-events");
    let mut s = Scheduler::new(runner)
        .with_poll(Duration::from_secs(10))
        .with_events(fathom_pipeline::EventDelivery {
            webhooks: hooks,
            policy: DeliveryPolicy {
                max_attempts: 5,
                first_retry_secs: 30,
                max_retry_secs: 3600,
                batch: 100,
            },
            transport: Box::new(Receiver {
                up: up.clone(),
                seen: seen.clone(),
            }),
        });
    let start = f.now();
    let sleeper = ClockSleeper::new(f.clock.clone());
    let stop = AtomicBool::new(false);
    let log: RefCell<Vec<(i64, usize, usize)>> = RefCell::new(Vec::new());
    s.run_forever(f.clock.as_ref(), &sleeper, &stop, |tick| {
        assert!(tick.errors.is_empty(), "{:?}", tick.errors);
        let d = tick.deliveries.as_ref().expect("the tick delivers events");
        let secs = (tick.at.unwrap() - start).num_seconds();
        log.borrow_mut().push((secs, d.delivered, d.failures.len()));
        // The receiver comes back 15 s after the first failure.
        if secs >= 15 {
            up.store(true, Ordering::SeqCst);
        }
        if d.delivered > 0 {
            stop.store(true, Ordering::SeqCst);
        }
    });
    // Down at 0 s (attempt 1 fails, next after 30 s); up from 20 s, but
    // the retry waits for its backoff: delivered at the 30 s tick.
    assert_eq!(
        log.into_inner(),
        [(0, 0, 1), (10, 0, 0), (20, 0, 0), (30, 1, 0)]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("version_registered"), "{}", seen[0]);
}
