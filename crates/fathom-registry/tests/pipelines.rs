//! Pipeline state on both back ends: runs unique per (pipeline, logical
//! date), task attempts numbered across resumes, interrupted attempts
//! closed on restart, bounded logs and outputs, listings, and leases —
//! including threads racing for one lease, of which exactly one wins.
//! PostgreSQL cases print SKIPPED without `FATHOM_TEST_POSTGRES_URL`.

#[path = "store/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::sync::Barrier;

use chrono::{Duration, TimeZone, Utc};
use fathom_registry::pipelines::{MAX_TASK_LOG, MAX_TASK_OUTPUT, bound_log};
use fathom_registry::{
    NewPipelineRun, PipelineRunEnd, PipelineRunQuery, PipelineRunStatus, PipelineTrigger,
    RegistryError, Store, TaskAttemptEnd, TaskRunStatus,
};
use serde_json::json;

use crate::fixture::Fixture;

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let f = crate::fixture::Fixture::new(crate::fixture::Kind::Sqlite, stringify!($name))
                        .expect("sqlite fixture");
                    crate::$name(&f);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = crate::fixture::Fixture::new(crate::fixture::Kind::Postgres, stringify!($name)) {
                        crate::$name(&f);
                    }
                }
            )*
        }
    };
}

both!(
    a_date_has_one_run_and_a_second_open_finds_it,
    attempts_are_numbered_across_resumes_and_interrupted_ones_closed,
    a_succeeded_run_cannot_be_started_again,
    logs_are_bounded_and_large_outputs_refused,
    listings_are_newest_first_and_paged,
    leases_are_exclusive_until_they_expire,
    threads_racing_for_one_lease_exactly_one_wins,
);

fn new_run(pipeline: &str, date: &str) -> NewPipelineRun {
    NewPipelineRun::new(pipeline, date, PipelineTrigger::Manual)
}

fn ok_end(log: &str, output: serde_json::Value) -> TaskAttemptEnd {
    TaskAttemptEnd {
        status: TaskRunStatus::Succeeded,
        error: None,
        output: Some(output),
        stop: None,
        log: log.into(),
    }
}

fn succeeded() -> PipelineRunEnd {
    PipelineRunEnd {
        status: PipelineRunStatus::Succeeded,
        error: None,
        failed_task: None,
        alert_owner: None,
        note: None,
    }
}

fn a_date_has_one_run_and_a_second_open_finds_it(f: &Fixture) {
    let mut store = f.open();
    let mut first = new_run("training", "2026-03-02T14:00:00Z");
    first.trigger = PipelineTrigger::Policy;
    first.reason = "drift in amount and merchant_category with AUC-PR down 0.04".into();
    first.params = json!({"reason": "drift", "monitoring_run": 7});
    let (run, created) = store.open_pipeline_run(&first).unwrap();
    assert!(created);
    assert_eq!(run.status, PipelineRunStatus::Queued);
    assert_eq!(run.trigger, PipelineTrigger::Policy);
    assert_eq!(run.params["monitoring_run"], 7);
    assert_eq!(run.created_at, f.clock_now());
    assert_eq!(run.invocations, 0);
    assert!(run.started_at.is_none() && run.scheduled_for.is_none());

    // The same date again, with other details: the first run is found,
    // its trigger, reason and params kept; a missing scheduled time is
    // filled in.
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap();
    let mut again = new_run("training", "2026-03-02T14:00:00Z");
    again.scheduled_for = Some(at);
    again.params = json!({"other": true});
    let (found, created) = store.open_pipeline_run(&again).unwrap();
    assert!(!created);
    assert_eq!(found.id, run.id);
    assert_eq!(found.trigger, PipelineTrigger::Policy);
    assert_eq!(found.reason, first.reason);
    assert_eq!(found.params, first.params);
    assert_eq!(found.scheduled_for, Some(at));
    assert_eq!(store.last_scheduled("training").unwrap(), Some(at));
    assert_eq!(store.last_scheduled("data").unwrap(), None);

    // Another date, or another pipeline on the same date, is another run.
    let (other, created) = store
        .open_pipeline_run(&new_run("training", "2026-03-03"))
        .unwrap();
    assert!(created && other.id != run.id);
    let (other, created) = store
        .open_pipeline_run(&new_run("data", "2026-03-02T14:00:00Z"))
        .unwrap();
    assert!(created && other.id != run.id);
    assert_eq!(
        store
            .find_pipeline_run("training", "2026-03-02T14:00:00Z")
            .unwrap()
            .map(|r| r.id),
        Some(run.id)
    );
    assert!(
        store
            .find_pipeline_run("training", "2026-01-01")
            .unwrap()
            .is_none()
    );
    // A skip never replaces an existing run; on a free date it records one.
    let (kept, recorded) = store
        .skip_pipeline_run(&new_run("training", "2026-03-03"))
        .unwrap();
    assert!(!recorded);
    assert_eq!(kept.status, PipelineRunStatus::Queued);
    let (skipped, recorded) = store
        .skip_pipeline_run(&new_run("training", "2026-03-04"))
        .unwrap();
    assert!(recorded);
    assert_eq!(skipped.status, PipelineRunStatus::Skipped);

    // Queued runs, oldest first, per pipeline or all.
    let queued: Vec<_> = store
        .queued_pipeline_runs(Some("training"))
        .unwrap()
        .iter()
        .map(|r| r.logical_date.clone())
        .collect();
    assert_eq!(queued, ["2026-03-02T14:00:00Z", "2026-03-03"]);
    assert_eq!(store.queued_pipeline_runs(None).unwrap().len(), 3);

    // Bad input is refused with what to do.
    let mut bad = new_run("training", "2026-03-05");
    bad.params = json!([1, 2]);
    let err = store.open_pipeline_run(&bad).unwrap_err();
    assert!(err.to_string().contains("JSON object"), "{err}");
    let err = store
        .open_pipeline_run(&new_run(" ", "2026-03-05"))
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
}

fn attempts_are_numbered_across_resumes_and_interrupted_ones_closed(f: &Fixture) {
    let mut store = f.open();
    let (run, _) = store
        .open_pipeline_run(&new_run("data", "2026-03-02"))
        .unwrap();
    // Attempts need a running run.
    let err = store.start_task_attempt(run.id, "ingest").unwrap_err();
    assert!(matches!(err, RegistryError::Conflict(_)), "{err}");

    let started = store.start_pipeline_run(run.id).unwrap();
    assert_eq!(started.status, PipelineRunStatus::Running);
    assert_eq!(started.invocations, 1);
    let first_start = started.started_at;
    assert_eq!(first_start, Some(f.clock_now()));

    let a1 = store.start_task_attempt(run.id, "ingest").unwrap();
    assert_eq!((a1.attempt, a1.status), (1, TaskRunStatus::Running));
    f.clock.advance(Duration::seconds(3));
    let a1 = store
        .finish_task_attempt(
            a1.id,
            &TaskAttemptEnd {
                status: TaskRunStatus::Failed,
                error: Some("connection reset".into()),
                output: None,
                stop: None,
                log: "reading s3://bucket/tx.csv\n".into(),
            },
        )
        .unwrap();
    assert_eq!(a1.status, TaskRunStatus::Failed);
    assert_eq!(
        a1.ended_at.unwrap() - a1.started_at.unwrap(),
        Duration::seconds(3)
    );
    // An attempt ends once.
    let err = store
        .finish_task_attempt(a1.id, &ok_end("", json!({})))
        .unwrap_err();
    assert!(matches!(err, RegistryError::Conflict(_)), "{err}");

    let a2 = store.start_task_attempt(run.id, "ingest").unwrap();
    assert_eq!(a2.attempt, 2);
    store
        .finish_task_attempt(
            a2.id,
            &TaskAttemptEnd {
                stop: Some("no new rows since the last run".into()),
                ..ok_end("42 rows\n", json!({"rows": 42}))
            },
        )
        .unwrap();
    let v = store.start_task_attempt(run.id, "validate").unwrap();
    store
        .mark_task_not_run(
            run.id,
            "snapshot",
            TaskRunStatus::UpstreamFailed,
            "upstream task 'validate' failed",
        )
        .unwrap();
    // The runner dies here: validate is left running. A new runner starts
    // the run again: the attempt is closed as interrupted.
    f.clock.advance(Duration::minutes(10));
    let resumed = store.start_pipeline_run(run.id).unwrap();
    assert_eq!(resumed.invocations, 2);
    assert_eq!(resumed.started_at, first_start);
    let tasks = store.pipeline_task_runs(run.id).unwrap();
    let v = tasks.iter().find(|t| t.id == v.id).unwrap();
    assert_eq!(v.status, TaskRunStatus::Failed);
    assert!(v.error.as_deref().unwrap().contains("interrupted"));
    // Numbering goes on across the resume, also past a not-run record.
    let v2 = store.start_task_attempt(run.id, "validate").unwrap();
    assert_eq!(v2.attempt, 2);
    let s = store.start_task_attempt(run.id, "snapshot").unwrap();
    assert_eq!(s.attempt, 2);

    let order: Vec<_> = store
        .pipeline_task_runs(run.id)
        .unwrap()
        .iter()
        .map(|t| (t.task.clone(), t.attempt, t.status))
        .collect();
    assert_eq!(
        order,
        [
            ("ingest".to_string(), 1, TaskRunStatus::Failed),
            ("ingest".to_string(), 2, TaskRunStatus::Succeeded),
            ("validate".to_string(), 1, TaskRunStatus::Failed),
            ("snapshot".to_string(), 1, TaskRunStatus::UpstreamFailed),
            ("validate".to_string(), 2, TaskRunStatus::Running),
            ("snapshot".to_string(), 2, TaskRunStatus::Running),
        ]
    );
    let ingest = &store.pipeline_task_runs(run.id).unwrap()[1];
    assert_eq!(ingest.output, Some(json!({"rows": 42})));
    assert_eq!(ingest.log, "42 rows\n");
    assert_eq!(
        ingest.stop.as_deref(),
        Some("no new rows since the last run")
    );

    // Not-run records take only the not-run statuses; ends only end states.
    let err = store
        .mark_task_not_run(run.id, "x", TaskRunStatus::Succeeded, "")
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    let err = store
        .finish_task_attempt(
            v2.id,
            &TaskAttemptEnd {
                status: TaskRunStatus::Running,
                error: None,
                output: None,
                stop: None,
                log: String::new(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
}

fn a_succeeded_run_cannot_be_started_again(f: &Fixture) {
    let mut store = f.open();
    let (run, _) = store
        .open_pipeline_run(&new_run("data", "2026-03-02"))
        .unwrap();
    // Only a running run ends.
    let err = store.finish_pipeline_run(run.id, &succeeded()).unwrap_err();
    assert!(matches!(err, RegistryError::Conflict(_)), "{err}");
    store.start_pipeline_run(run.id).unwrap();
    let failed = store
        .finish_pipeline_run(
            run.id,
            &PipelineRunEnd {
                status: PipelineRunStatus::Failed,
                error: Some("validation failed: 3 rules".into()),
                failed_task: Some("validate".into()),
                alert_owner: Some("data-team".into()),
                note: None,
            },
        )
        .unwrap();
    assert_eq!(failed.status, PipelineRunStatus::Failed);
    assert_eq!(failed.alert_owner.as_deref(), Some("data-team"));
    assert_eq!(failed.ended_at, Some(f.clock_now()));
    // A failed run starts again (a resume), its failure cleared.
    let resumed = store.start_pipeline_run(run.id).unwrap();
    assert_eq!(resumed.error, None);
    assert_eq!(resumed.ended_at, None);
    let done = store.finish_pipeline_run(run.id, &succeeded()).unwrap();
    assert_eq!(done.status, PipelineRunStatus::Succeeded);
    let err = store.start_pipeline_run(run.id).unwrap_err();
    assert!(err.to_string().contains("already succeeded"), "{err}");
    // Ends are succeeded or failed only.
    let err = store
        .finish_pipeline_run(
            run.id,
            &PipelineRunEnd {
                status: PipelineRunStatus::Queued,
                ..succeeded()
            },
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    let err = store.pipeline_run(9999).unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

fn logs_are_bounded_and_large_outputs_refused(f: &Fixture) {
    let mut store = f.open();
    let (run, _) = store
        .open_pipeline_run(&new_run("data", "2026-03-02"))
        .unwrap();
    store.start_pipeline_run(run.id).unwrap();
    let a = store.start_task_attempt(run.id, "profile").unwrap();
    // A log of 10,000 numbered lines (about 110 KB) keeps its end.
    let log: String = (0..10_000).map(|i| format!("line {i:05}\n")).collect();
    let big = json!({"blob": "x".repeat(MAX_TASK_OUTPUT)});
    let err = store
        .finish_task_attempt(a.id, &ok_end(&log, big))
        .unwrap_err();
    assert!(err.to_string().contains("small values"), "{err}");
    let done = store
        .finish_task_attempt(a.id, &ok_end(&log, json!({"ok": true})))
        .unwrap();
    assert!(done.log.len() <= MAX_TASK_LOG);
    assert!(done.log.ends_with("line 09999\n"));
    let first = done.log.lines().next().unwrap();
    assert!(first.contains("bytes of earlier log dropped"), "{first}");
    // Whole lines only after the note.
    assert!(done.log.lines().nth(1).unwrap().starts_with("line "));
    assert_eq!(bound_log("short\n"), "short\n");
    // Multi-byte characters are never cut.
    let wide = "é".repeat(MAX_TASK_LOG);
    assert!(bound_log(&wide).len() <= MAX_TASK_LOG);
}

fn listings_are_newest_first_and_paged(f: &Fixture) {
    let mut store = f.open();
    let mut ids = Vec::new();
    for (p, d) in [
        ("data", "2026-03-01"),
        ("data", "2026-03-02"),
        ("training", "2026-03-01"),
        ("data", "2026-03-03"),
        ("monitoring", "2026-03-03T01:00:00Z"),
    ] {
        let (r, _) = store.open_pipeline_run(&new_run(p, d)).unwrap();
        ids.push(r.id);
        f.clock.advance(Duration::minutes(1));
    }
    store.start_pipeline_run(ids[1]).unwrap();
    store.finish_pipeline_run(ids[1], &succeeded()).unwrap();

    let all = store.pipeline_runs(&PipelineRunQuery::default()).unwrap();
    let got: Vec<_> = all.iter().map(|r| r.id).collect();
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(got, expected);

    let data: Vec<_> = store
        .pipeline_runs(&PipelineRunQuery {
            pipeline: Some("data".into()),
            limit: 2,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.logical_date.clone())
        .collect();
    assert_eq!(data, ["2026-03-03", "2026-03-02"]);
    let next: Vec<_> = store
        .pipeline_runs(&PipelineRunQuery {
            pipeline: Some("data".into()),
            before_id: Some(ids[1]),
            limit: 2,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.logical_date.clone())
        .collect();
    assert_eq!(next, ["2026-03-01"]);
    let ok = store
        .pipeline_runs(&PipelineRunQuery {
            status: Some(PipelineRunStatus::Succeeded),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].id, ids[1]);

    let latest: Vec<_> = store
        .latest_pipeline_runs()
        .unwrap()
        .iter()
        .map(|r| (r.pipeline.clone(), r.logical_date.clone()))
        .collect();
    assert_eq!(
        latest,
        [
            ("data".to_string(), "2026-03-03".to_string()),
            ("monitoring".to_string(), "2026-03-03T01:00:00Z".to_string()),
            ("training".to_string(), "2026-03-01".to_string()),
        ]
    );
    let err = store
        .pipeline_runs(&PipelineRunQuery {
            limit: 0,
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("1 to 1000"), "{err}");
    assert!(PipelineRunStatus::parse("done").is_err());
}

fn leases_are_exclusive_until_they_expire(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    let name = "pipeline:data:2026-03-02";
    let ttl = Duration::seconds(60);
    assert!(a.try_acquire_lease(name, "sched-a", ttl).unwrap());
    let held = a.lease(name).unwrap().unwrap();
    assert_eq!(held.holder, "sched-a");
    assert_eq!(held.expires_at, f.clock_now() + ttl);
    assert!(!b.try_acquire_lease(name, "sched-b", ttl).unwrap());
    // Taking it again extends one's own lease, keeping when it was taken.
    f.clock.advance(Duration::seconds(30));
    assert!(a.try_acquire_lease(name, "sched-a", ttl).unwrap());
    let held2 = a.lease(name).unwrap().unwrap();
    assert_eq!(held2.acquired_at, held.acquired_at);
    assert_eq!(held2.expires_at, f.clock_now() + ttl);
    // Renewal keeps others out past the first expiry.
    f.clock.advance(Duration::seconds(50));
    assert!(a.renew_lease(name, "sched-a", ttl).unwrap());
    assert!(!b.renew_lease(name, "sched-b", ttl).unwrap());
    f.clock.advance(Duration::seconds(59));
    assert!(!b.try_acquire_lease(name, "sched-b", ttl).unwrap());
    // Expired: the other one takes it; the first has lost it.
    f.clock.advance(Duration::seconds(1));
    assert!(b.try_acquire_lease(name, "sched-b", ttl).unwrap());
    assert_eq!(a.lease(name).unwrap().unwrap().holder, "sched-b");
    assert!(!a.renew_lease(name, "sched-a", ttl).unwrap());
    assert!(!a.release_lease(name, "sched-a").unwrap());
    assert!(b.release_lease(name, "sched-b").unwrap());
    assert!(a.lease(name).unwrap().is_none());
    // Released: free for anyone at once.
    assert!(a.try_acquire_lease(name, "sched-a", ttl).unwrap());
    // Other names are independent.
    assert!(
        b.try_acquire_lease("pipeline:data:2026-03-03", "sched-b", ttl)
            .unwrap()
    );
    let err = a
        .try_acquire_lease(name, "sched-a", Duration::zero())
        .unwrap_err();
    assert!(err.to_string().contains("not positive"), "{err}");
}

fn threads_racing_for_one_lease_exactly_one_wins(f: &Fixture) {
    const THREADS: usize = 6;
    const ROUNDS: usize = 5;
    let mut stores: Vec<Store> = (0..THREADS).map(|_| f.open()).collect();
    let barrier = Barrier::new(THREADS);
    let wins: Vec<Vec<bool>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter_mut()
            .enumerate()
            .map(|(i, store)| {
                let barrier = &barrier;
                s.spawn(move || {
                    (0..ROUNDS)
                        .map(|round| {
                            barrier.wait();
                            store
                                .try_acquire_lease(
                                    &format!("pipeline:data:round-{round}"),
                                    &format!("scheduler-{i}"),
                                    Duration::seconds(60),
                                )
                                .expect("lease attempt")
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for round in 0..ROUNDS {
        let winners: Vec<usize> = wins
            .iter()
            .enumerate()
            .filter(|(_, w)| w[round])
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let holder = stores[0]
            .lease(&format!("pipeline:data:round-{round}"))
            .unwrap()
            .unwrap()
            .holder;
        assert_eq!(holder, format!("scheduler-{}", winners[0]));
    }
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<Utc>;
}

impl ClockNow for Fixture {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        use fathom_registry::Clock;
        self.clock.now()
    }
}
