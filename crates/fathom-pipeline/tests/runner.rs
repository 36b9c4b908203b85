//! The runner's state machine on both back ends: the success path, retry
//! then success, a fatal failure stopping downstream tasks and naming the
//! owner, timeouts, a re-run of a succeeded date doing nothing, resume
//! after a failure re-running only the failed and downstream tasks, a
//! task stopping the pipeline on purpose, panics, a busy lease, a run
//! left behind by a runner that died, and single tasks run on their own.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fathom_pipeline::{
    Backoff, LogicalDate, Pipeline, RunOutcome, RunReport, RunRequest, TaskContext, TaskError,
    TaskOutput, TaskSpec, lease_name,
};
use fathom_registry::{PipelineRunStatus, PipelineTrigger, TaskRunStatus};
use serde_json::json;

use crate::common::Fixture;

both!(
    success_path_runs_every_task_in_order_and_records_it,
    retryable_failures_are_retried_with_doubling_backoff,
    a_fatal_failure_stops_downstream_tasks_and_names_the_owner,
    exhausted_retries_fail_the_run,
    a_timed_out_attempt_is_cancelled_and_retried,
    an_attempt_that_ignores_cancellation_is_not_retried,
    a_succeeded_date_is_not_run_again,
    a_failed_run_resumes_from_the_failed_task,
    a_task_can_stop_the_pipeline_on_purpose,
    a_panicking_task_fails_without_retries,
    a_run_held_by_another_runner_is_left_alone,
    a_run_left_by_a_dead_runner_is_resumed_after_its_lease_expires,
    one_task_runs_on_its_own_on_the_recorded_upstream_outputs,
);

type Calls = Arc<Mutex<Vec<String>>>;

fn date(s: &str) -> LogicalDate {
    LogicalDate::parse(s).unwrap()
}

fn ran(outcome: RunOutcome) -> RunReport {
    match outcome {
        RunOutcome::Ran(r) => r,
        other => panic!("expected a run, got {other:?}"),
    }
}

fn quick(spec: TaskSpec) -> TaskSpec {
    spec.backoff(Backoff::NONE)
}

/// A task that records its call and returns `{"task": name}` plus the
/// names of the upstream outputs it saw.
fn recorder(
    calls: &Calls,
    name: &'static str,
) -> impl Fn(&TaskContext) -> Result<TaskOutput, TaskError> + Send + Sync + 'static {
    let calls = calls.clone();
    move |ctx| {
        calls.lock().unwrap().push(name.to_owned());
        ctx.log(format!("{name} for {}", ctx.logical_date));
        let seen: Vec<&String> = ctx.upstream_outputs().keys().collect();
        Ok(TaskOutput::new(json!({"task": name, "seen": seen})))
    }
}

/// The data pipeline's shape: ingest → validate → snapshot → reference →
/// report, with validate owned by the data-quality team.
fn data_pipeline(
    calls: &Calls,
    validate: impl Fn(&TaskContext) -> Result<TaskOutput, TaskError> + Send + Sync + 'static,
) -> Pipeline {
    let calls_v = calls.clone();
    Pipeline::builder("data")
        .owner("data-team")
        .task(quick(TaskSpec::new("ingest")), recorder(calls, "ingest"))
        .task(
            quick(
                TaskSpec::new("validate")
                    .after(["ingest"])
                    .owner("data-quality"),
            ),
            move |ctx| {
                calls_v.lock().unwrap().push("validate".into());
                validate(ctx)
            },
        )
        .task(
            quick(TaskSpec::new("snapshot").after(["validate"])),
            recorder(calls, "snapshot"),
        )
        .task(
            quick(TaskSpec::new("reference").after(["snapshot"])),
            recorder(calls, "reference"),
        )
        .task(
            quick(TaskSpec::new("report").after(["reference", "validate"])),
            recorder(calls, "report"),
        )
        .build()
        .unwrap()
}

fn statuses(report: &RunReport) -> Vec<(String, TaskRunStatus)> {
    report
        .tasks
        .iter()
        .map(|t| (t.task.clone(), t.status))
        .collect()
}

fn pairs(list: &[(&str, TaskRunStatus)]) -> Vec<(String, TaskRunStatus)> {
    list.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

fn success_path_runs_every_task_in_order_and_records_it(f: &Fixture) {
    let calls = Calls::default();
    let p = data_pipeline(&calls, |ctx| {
        let rows = ctx.upstream("ingest").unwrap()["task"].clone();
        ctx.log("3 rules checked");
        Ok(TaskOutput::new(json!({"after": rows})))
    });
    let (mut runner, sleeper) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert!(report.succeeded());
    assert!(!report.resumed);
    assert!(report.alerts.is_empty());
    assert_eq!(
        *calls.lock().unwrap(),
        ["ingest", "validate", "snapshot", "reference", "report"]
    );
    use TaskRunStatus::Succeeded as S;
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("ingest", S),
            ("validate", S),
            ("snapshot", S),
            ("reference", S),
            ("report", S)
        ])
    );
    // Each task saw the outputs of everything upstream of it, directly or not.
    let report_task = report.task("report").unwrap();
    assert_eq!(
        report_task.output.as_ref().unwrap()["seen"],
        json!(["ingest", "reference", "snapshot", "validate"])
    );
    assert_eq!(
        report.task("validate").unwrap().output,
        Some(json!({"after": "ingest"}))
    );
    assert!(sleeper.waits().is_empty());

    // The store holds the run and one attempt per task, with logs.
    let run = &report.run;
    assert_eq!(run.status, PipelineRunStatus::Succeeded);
    assert_eq!(run.trigger, PipelineTrigger::Manual);
    assert_eq!(run.logical_date, "2026-03-02");
    assert_eq!((run.invocations, run.note.as_deref()), (1, None));
    let store = runner.store();
    let rows = store.pipeline_task_runs(run.id).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|t| (t.task.as_str(), t.attempt, t.status))
        .collect();
    assert_eq!(
        got,
        [
            ("ingest", 1, S),
            ("validate", 1, S),
            ("snapshot", 1, S),
            ("reference", 1, S),
            ("report", 1, S)
        ]
    );
    assert_eq!(rows[0].log, "ingest for 2026-03-02\n");
    assert_eq!(rows[1].log, "3 rules checked\n");
    // The lease is given back.
    assert!(
        store
            .lease(&lease_name("data", &date("2026-03-02")))
            .unwrap()
            .is_none()
    );
}

fn retryable_failures_are_retried_with_doubling_backoff(f: &Fixture) {
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let p = Pipeline::builder("data")
        .task(
            TaskSpec::new("ingest").retries(2).backoff(Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            }),
            move |ctx| {
                let n = t.fetch_add(1, Ordering::SeqCst) + 1;
                ctx.log(format!("try {n}"));
                if n < 3 {
                    Err(TaskError::retryable(format!("source not ready (try {n})")))
                } else {
                    Ok(TaskOutput::new(json!({"rows": 10})))
                }
            },
        )
        .build()
        .unwrap();
    let (mut runner, sleeper) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert!(report.succeeded());
    assert_eq!(report.task("ingest").unwrap().attempts, 3);
    // Waits of 1 s then 2 s before the second and third attempts.
    assert_eq!(
        sleeper.waits(),
        [Duration::from_secs(1), Duration::from_secs(2)]
    );
    let rows = runner.store().pipeline_task_runs(report.run.id).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.attempt, r.status, r.error.clone(), r.log.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                TaskRunStatus::Failed,
                Some("source not ready (try 1)".to_string()),
                "try 1\nerror: source not ready (try 1)\n".to_string()
            ),
            (
                2,
                TaskRunStatus::Failed,
                Some("source not ready (try 2)".to_string()),
                "try 2\nerror: source not ready (try 2)\n".to_string()
            ),
            (3, TaskRunStatus::Succeeded, None, "try 3\n".to_string()),
        ]
    );
    assert_eq!(rows[2].output, Some(json!({"rows": 10})));
}

fn a_fatal_failure_stops_downstream_tasks_and_names_the_owner(f: &Fixture) {
    let calls = Calls::default();
    let calls_side = calls.clone();
    let p = data_pipeline(&calls, |_| {
        Err(TaskError::fatal(
            "validation failed: amount has 12% nulls (at most 1%)",
        ))
    });
    // A branch that does not depend on validate still runs.
    let mut tasks = p.tasks().to_vec();
    let side = Arc::new(move |_: &TaskContext| {
        calls_side.lock().unwrap().push("side".into());
        Ok(TaskOutput::none())
    });
    tasks.push(fathom_pipeline::Task {
        spec: TaskSpec::new("side").after(["ingest"]),
        body: side,
    });
    let p = Pipeline::new("data".into(), Some("data-team".into()), tasks).unwrap();
    let (mut runner, sleeper) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert!(!report.succeeded());
    use TaskRunStatus::*;
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("ingest", Succeeded),
            ("validate", Failed),
            ("snapshot", UpstreamFailed),
            ("reference", UpstreamFailed),
            ("report", UpstreamFailed),
            ("side", Succeeded),
        ])
    );
    // Fatal: one attempt, no wait.
    assert_eq!(report.task("validate").unwrap().attempts, 1);
    assert!(sleeper.waits().is_empty());
    assert_eq!(*calls.lock().unwrap(), ["ingest", "validate", "side"]);
    assert_eq!(
        report.task("reference").unwrap().error.as_deref(),
        Some("upstream task 'validate' failed")
    );
    // The alert names the task's owner.
    assert_eq!(report.alerts.len(), 1);
    let alert = &report.alerts[0];
    assert_eq!(alert.owner.as_deref(), Some("data-quality"));
    assert_eq!(
        (alert.task.as_str(), alert.logical_date.as_str()),
        ("validate", "2026-03-02")
    );
    assert!(alert.error.contains("12% nulls"), "{}", alert.error);
    let run = &report.run;
    assert_eq!(run.status, PipelineRunStatus::Failed);
    assert_eq!(run.failed_task.as_deref(), Some("validate"));
    assert_eq!(run.alert_owner.as_deref(), Some("data-quality"));
    assert_eq!(
        run.error.as_deref(),
        Some(
            "task 'validate' failed: validation failed: amount has 12% nulls (at most 1%) (1 attempt)"
        )
    );
    let rows = runner.store().pipeline_task_runs(run.id).unwrap();
    let not_run: Vec<_> = rows
        .iter()
        .filter(|r| r.status == UpstreamFailed)
        .map(|r| (r.task.as_str(), r.started_at.is_none()))
        .collect();
    assert_eq!(
        not_run,
        [("snapshot", true), ("reference", true), ("report", true)]
    );
}

fn exhausted_retries_fail_the_run(f: &Fixture) {
    let p = Pipeline::builder("data")
        .owner("data-team")
        .task(TaskSpec::new("ingest").retries(3), |_| {
            Err(TaskError::retryable("connection refused"))
        })
        .task(TaskSpec::new("validate").after(["ingest"]), |_| {
            Ok(TaskOutput::none())
        })
        .build()
        .unwrap();
    let (mut runner, sleeper) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert_eq!(report.task("ingest").unwrap().attempts, 4);
    assert_eq!(sleeper.waits(), [1, 2, 4].map(Duration::from_secs).to_vec());
    assert_eq!(
        report.run.error.as_deref(),
        Some("task 'ingest' failed: connection refused (4 attempts)")
    );
    // No owner on the task: the pipeline's.
    assert_eq!(report.alerts[0].owner.as_deref(), Some("data-team"));
    assert_eq!(
        report.task("validate").unwrap().status,
        TaskRunStatus::UpstreamFailed
    );
}

fn a_timed_out_attempt_is_cancelled_and_retried(f: &Fixture) {
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let p = Pipeline::builder("monitoring")
        .task(
            quick(
                TaskSpec::new("collect")
                    .retries(1)
                    .timeout(Duration::from_millis(100)),
            ),
            move |ctx| {
                let n = t.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 2 {
                    return Ok(TaskOutput::new(json!({"rows": 5})));
                }
                // The first attempt hangs until cancelled.
                loop {
                    ctx.check_cancelled()?;
                    std::thread::sleep(Duration::from_millis(5));
                }
            },
        )
        .build()
        .unwrap();
    let (mut runner, _) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02T14:00:00Z")))
        .unwrap());
    assert!(report.succeeded());
    let rows = runner.store().pipeline_task_runs(report.run.id).unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.attempt, r.status)).collect();
    assert_eq!(
        got,
        [(1, TaskRunStatus::TimedOut), (2, TaskRunStatus::Succeeded)]
    );
    assert_eq!(rows[0].error.as_deref(), Some("timed out after 100ms"));
    assert!(
        rows[0].log.contains("stopped when cancelled"),
        "{}",
        rows[0].log
    );
    assert_eq!(report.run.logical_date, "2026-03-02T14:00:00Z");
}

fn an_attempt_that_ignores_cancellation_is_not_retried(f: &Fixture) {
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let p = Pipeline::builder("training")
        .owner("ml-team")
        .task(
            quick(
                TaskSpec::new("train")
                    .retries(3)
                    .timeout(Duration::from_millis(30)),
            ),
            move |_| {
                t.fetch_add(1, Ordering::SeqCst);
                // Never looks at the cancellation flag.
                std::thread::sleep(Duration::from_millis(300));
                Ok(TaskOutput::none())
            },
        )
        .build()
        .unwrap();
    let (runner, _) = f.runner("runner-1");
    let mut options = runner.options().clone();
    options.cancel_grace = Duration::from_millis(20);
    let mut runner = runner.with_options(options);
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert!(!report.succeeded());
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    let train = report.task("train").unwrap();
    assert_eq!((train.status, train.attempts), (TaskRunStatus::TimedOut, 1));
    let error = train.error.as_deref().unwrap();
    assert!(error.contains("did not stop within 20ms"), "{error}");
    assert!(error.contains("not retried"), "{error}");
    assert_eq!(report.alerts[0].owner.as_deref(), Some("ml-team"));
    // Let the abandoned thread end before the store goes away.
    std::thread::sleep(Duration::from_millis(300));
}

fn a_succeeded_date_is_not_run_again(f: &Fixture) {
    let calls = Calls::default();
    let p = data_pipeline(&calls, |_| Ok(TaskOutput::none()));
    let (mut runner, _) = f.runner("runner-1");
    let first = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    let n = calls.lock().unwrap().len();
    assert_eq!(n, 5);
    match runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap()
    {
        RunOutcome::AlreadySucceeded(run) => {
            assert_eq!(run.id, first.run.id);
            assert_eq!(run.invocations, 1);
        }
        other => panic!("expected no-op, got {other:?}"),
    }
    assert_eq!(calls.lock().unwrap().len(), n);
    // Another date is another run.
    let second = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-03")))
        .unwrap());
    assert_ne!(second.run.id, first.run.id);
    assert_eq!(calls.lock().unwrap().len(), 2 * n);
}

fn a_failed_run_resumes_from_the_failed_task(f: &Fixture) {
    let calls = Calls::default();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let p = data_pipeline(&calls, move |ctx| {
        if h.load(Ordering::SeqCst) {
            Ok(TaskOutput::new(
                json!({"ok": true, "ingest": ctx.upstream("ingest").cloned()}),
            ))
        } else {
            Err(TaskError::fatal("validation failed: schema hash differs"))
        }
    });
    let (mut runner, _) = f.runner("runner-1");
    let request = RunRequest::policy(date("2026-03-02"), "drift on amount")
        .with_params(json!({"window_days": 7}));
    let failed = ran(runner.run(&p, &request).unwrap());
    assert!(!failed.succeeded());
    assert_eq!(*calls.lock().unwrap(), ["ingest", "validate"]);

    // The data is fixed; the same date runs again (this time by hand).
    healthy.store(true, Ordering::SeqCst);
    calls.lock().unwrap().clear();
    let resumed = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    assert!(resumed.succeeded());
    assert!(resumed.resumed);
    assert_eq!(resumed.run.id, failed.run.id);
    assert_eq!(resumed.run.invocations, 2);
    // The run keeps what it was first created with.
    assert_eq!(resumed.run.trigger, PipelineTrigger::Policy);
    assert_eq!(resumed.run.reason, "drift on amount");
    assert_eq!(resumed.run.params, json!({"window_days": 7}));
    assert_eq!(resumed.run.error, None);
    // Only the failed task and those after it ran; ingest's recorded
    // output fed validate.
    assert_eq!(
        *calls.lock().unwrap(),
        ["validate", "snapshot", "reference", "report"]
    );
    let ingest = resumed.task("ingest").unwrap();
    assert!(ingest.reused);
    assert_eq!(ingest.attempts, 0);
    assert_eq!(
        resumed.task("validate").unwrap().output.as_ref().unwrap()["ingest"],
        json!({"task": "ingest", "seen": []})
    );
    // Attempts are numbered across the two invocations.
    let rows = runner.store().pipeline_task_runs(resumed.run.id).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.task.as_str(), r.attempt, r.status))
        .collect();
    use TaskRunStatus::*;
    assert_eq!(
        got,
        [
            ("ingest", 1, Succeeded),
            ("validate", 1, Failed),
            ("snapshot", 1, UpstreamFailed),
            ("reference", 1, UpstreamFailed),
            ("report", 1, UpstreamFailed),
            ("validate", 2, Succeeded),
            ("snapshot", 2, Succeeded),
            ("reference", 2, Succeeded),
            ("report", 2, Succeeded),
        ]
    );
    // And now it is done.
    assert!(matches!(
        runner
            .run(&p, &RunRequest::manual(date("2026-03-02")))
            .unwrap(),
        RunOutcome::AlreadySucceeded(_)
    ));
}

fn a_task_can_stop_the_pipeline_on_purpose(f: &Fixture) {
    let calls = Calls::default();
    let c = calls.clone();
    let p = Pipeline::builder("training")
        .task(quick(TaskSpec::new("train")), recorder(&calls, "train"))
        .task(quick(TaskSpec::new("gate").after(["train"])), move |_| {
            c.lock().unwrap().push("gate".into());
            Ok(TaskOutput::stop(
                json!({"passed": false}),
                "candidate AUC-PR 0.70 is below production's 0.72",
            ))
        })
        .task(
            quick(TaskSpec::new("canary").after(["gate"])),
            recorder(&calls, "canary"),
        )
        .task(
            quick(TaskSpec::new("announce").after(["canary"])),
            recorder(&calls, "announce"),
        )
        .build()
        .unwrap();
    let (mut runner, _) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-08")))
        .unwrap());
    assert!(report.succeeded());
    assert_eq!(*calls.lock().unwrap(), ["train", "gate"]);
    use TaskRunStatus::*;
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("train", Succeeded),
            ("gate", Succeeded),
            ("canary", Skipped),
            ("announce", Skipped)
        ])
    );
    let why = "task 'gate' stopped the pipeline: candidate AUC-PR 0.70 is below production's 0.72";
    assert_eq!(report.task("announce").unwrap().error.as_deref(), Some(why));
    assert_eq!(
        report.run.note.as_deref(),
        Some("stopped at task 'gate': candidate AUC-PR 0.70 is below production's 0.72")
    );
    let rows = runner.store().pipeline_task_runs(report.run.id).unwrap();
    assert_eq!(
        rows[1].stop.as_deref(),
        Some("candidate AUC-PR 0.70 is below production's 0.72")
    );
}

fn a_panicking_task_fails_without_retries(f: &Fixture) {
    let p = Pipeline::builder("data")
        .task(quick(TaskSpec::new("ingest").retries(5)), |_| {
            let v: Vec<u8> = Vec::new();
            Ok(TaskOutput::new(json!(v[3])))
        })
        .build()
        .unwrap();
    let (mut runner, sleeper) = f.runner("runner-1");
    let report = ran(runner
        .run(&p, &RunRequest::manual(date("2026-03-02")))
        .unwrap());
    let ingest = report.task("ingest").unwrap();
    assert_eq!((ingest.status, ingest.attempts), (TaskRunStatus::Failed, 1));
    let error = ingest.error.as_deref().unwrap();
    assert!(
        error.starts_with("panicked: index out of bounds"),
        "{error}"
    );
    assert!(sleeper.waits().is_empty());
}

fn a_run_held_by_another_runner_is_left_alone(f: &Fixture) {
    let calls = Calls::default();
    let p = data_pipeline(&calls, |_| Ok(TaskOutput::none()));
    let d = date("2026-03-02");
    let mut other = f.open();
    assert!(
        other
            .try_acquire_lease(
                &lease_name("data", &d),
                "scheduler-b",
                chrono::Duration::seconds(60)
            )
            .unwrap()
    );
    let (mut runner, _) = f.runner("runner-1");
    match runner.run(&p, &RunRequest::manual(d)).unwrap() {
        RunOutcome::Busy { lease, holder } => {
            assert_eq!(lease, "pipeline:data:2026-03-02");
            assert_eq!(holder.as_deref(), Some("scheduler-b"));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(calls.lock().unwrap().is_empty());
    assert!(
        runner
            .store()
            .find_pipeline_run("data", "2026-03-02")
            .unwrap()
            .is_none()
    );
}

fn a_run_left_by_a_dead_runner_is_resumed_after_its_lease_expires(f: &Fixture) {
    let calls = Calls::default();
    let p = data_pipeline(&calls, |_| Ok(TaskOutput::none()));
    let d = date("2026-03-02");
    // A runner took the lease, finished ingest, started validate, and died.
    let mut dead = f.open();
    let lease = lease_name("data", &d);
    assert!(
        dead.try_acquire_lease(&lease, "dead", chrono::Duration::seconds(120))
            .unwrap()
    );
    let (run, _) = dead
        .open_pipeline_run(&fathom_registry::NewPipelineRun::new(
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
    drop(dead);

    let (mut runner, _) = f.runner("runner-2");
    assert!(matches!(
        runner.run(&p, &RunRequest::manual(d)).unwrap(),
        RunOutcome::Busy { .. }
    ));
    f.clock.advance(chrono::Duration::seconds(121));
    let report = ran(runner.run(&p, &RunRequest::manual(d)).unwrap());
    assert!(report.succeeded());
    assert!(report.resumed);
    assert_eq!(
        *calls.lock().unwrap(),
        ["validate", "snapshot", "reference", "report"]
    );
    let rows = runner.store().pipeline_task_runs(run.id).unwrap();
    let validate: Vec<_> = rows
        .iter()
        .filter(|r| r.task == "validate")
        .map(|r| (r.attempt, r.status, r.error.clone()))
        .collect();
    assert_eq!(
        validate,
        [
            (
                1,
                TaskRunStatus::Failed,
                Some("interrupted: the runner stopped before the attempt ended".to_string())
            ),
            (2, TaskRunStatus::Succeeded, None),
        ]
    );
}

fn one_task_runs_on_its_own_on_the_recorded_upstream_outputs(f: &Fixture) {
    let calls = Calls::default();
    let p = data_pipeline(&calls, |_| Ok(TaskOutput::new(json!({"checked": true}))));
    let d = date("2026-03-02");
    let (mut runner, _) = f.runner("runner-1");
    let req = RunRequest::manual(d);

    // Its upstream has not run: refused, nothing recorded.
    let err = runner.run_one(&p, &req, "snapshot").unwrap_err();
    assert_eq!(
        err.to_string(),
        "pipeline 'data' for 2026-03-02: task 'snapshot' needs the output of ingest, validate first, which has not succeeded for this date; run them first, or the whole pipeline"
    );
    assert!(
        runner
            .store()
            .find_pipeline_run("data", "2026-03-02")
            .unwrap()
            .is_none()
    );
    let err = runner.run_one(&p, &req, "snapshto").unwrap_err();
    assert!(
        err.to_string()
            .contains("its tasks are ingest, validate, snapshot, reference, report"),
        "{err}"
    );

    // The first task: it runs, and the run waits in the queue for the rest.
    let r = ran(runner.run_one(&p, &req, "ingest").unwrap());
    assert_eq!(statuses(&r), [("ingest".into(), TaskRunStatus::Succeeded)]);
    assert_eq!(r.run.status, PipelineRunStatus::Queued);
    assert_eq!(
        r.run.note.as_deref(),
        Some(
            "task 'ingest' was run on its own; left to run: validate, snapshot, reference, report"
        )
    );
    // Again: done already, not run.
    let again = ran(runner.run_one(&p, &req, "ingest").unwrap());
    assert!(again.tasks[0].reused);
    assert_eq!(again.tasks[0].attempts, 0);
    assert_eq!(*calls.lock().unwrap(), ["ingest"]);

    // The next ones read the recorded outputs of every task before them.
    ran(runner.run_one(&p, &req, "validate").unwrap());
    let snap = ran(runner.run_one(&p, &req, "snapshot").unwrap());
    assert_eq!(
        snap.tasks[0].output,
        Some(json!({"task": "snapshot", "seen": ["ingest", "validate"]}))
    );
    assert_eq!(snap.run.invocations, 3);

    // The whole run finishes the rest only.
    let rest = ran(runner.run(&p, &req).unwrap());
    assert!(rest.succeeded());
    assert_eq!(
        *calls.lock().unwrap(),
        ["ingest", "validate", "snapshot", "reference", "report"]
    );
    assert!(matches!(
        runner.run_one(&p, &req, "report").unwrap(),
        RunOutcome::AlreadySucceeded(_)
    ));

    // A task that fails on its own fails the run and alerts its owner.
    let bad = data_pipeline(&calls, |_| {
        Err(TaskError::fatal("the amount column is text"))
    });
    let d3 = RunRequest::manual(date("2026-03-03"));
    ran(runner.run_one(&bad, &d3, "ingest").unwrap());
    let failed = ran(runner.run_one(&bad, &d3, "validate").unwrap());
    assert_eq!(failed.run.status, PipelineRunStatus::Failed);
    assert_eq!(failed.run.failed_task.as_deref(), Some("validate"));
    assert_eq!(failed.alerts[0].owner.as_deref(), Some("data-quality"));

    // The last task, run on its own after all the others: the run succeeds.
    let (mut other, _) = f.runner("runner-2");
    let d4 = RunRequest::manual(date("2026-03-04"));
    for t in ["ingest", "validate", "snapshot", "reference"] {
        ran(other.run_one(&p, &d4, t).unwrap());
    }
    let last = ran(other.run_one(&p, &d4, "report").unwrap());
    assert!(last.succeeded(), "{:?}", last.run);
    assert_eq!(last.run.invocations, 5);
}
