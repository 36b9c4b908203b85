//! The scheduler on both back ends: catch-up after downtime through the
//! store's history, nothing run for the time before a first start, queued
//! (policy-triggered) runs picked up with their reason, the loop stopping
//! on request, and two schedulers on two connections running each due
//! run exactly once.

mod common;

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
    NewPipelineRun, PipelineRunQuery, PipelineRunStatus, PipelineTrigger, SystemClock,
    TaskRunStatus,
};
use serde_json::json;

use crate::common::Fixture;

both!(
    catch_up_latest_runs_the_newest_and_records_the_skipped,
    catch_up_all_runs_every_missed_date_once,
    a_first_start_runs_nothing_from_before_it,
    queued_policy_runs_are_picked_up_with_their_reason,
    the_loop_runs_queued_work_and_stops_on_request,
    two_schedulers_run_each_due_run_exactly_once,
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

fn the_loop_runs_queued_work_and_stops_on_request(f: &Fixture) {
    let counts = Counts::default();
    let (runner, _) = f.runner("sched-loop");
    let mut s = Scheduler::new(runner).with_poll(Duration::from_millis(20));
    s.add(data(&counts, Duration::ZERO), None).unwrap();
    let stop = AtomicBool::new(false);
    let ticks = Mutex::new(0usize);
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            s.run_forever(&SystemClock, &stop, |_| *ticks.lock().unwrap() += 1);
        });
        let mut store = f.open();
        enqueue(
            &mut store,
            "data",
            &LogicalDate::parse("2026-03-02").unwrap(),
            PipelineTrigger::Manual,
            "backfill",
            json!({}),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let run = store
                .find_pipeline_run("data", "2026-03-02")
                .unwrap()
                .unwrap();
            if run.status == PipelineRunStatus::Succeeded {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the loop did not run the queued run"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
    });
    assert!(*ticks.lock().unwrap() >= 1);
    assert_eq!(counts.lock().unwrap().len(), 2);
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
