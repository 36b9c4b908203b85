//! Tracking: migrations, runs and their records, listing, comparison.

use chrono::Duration;
use fathom_registry::filter::{Field, SortKey};
use fathom_registry::{
    ArtifactRecord, Clock, MetricGoal, MetricPoint, NewRun, RegistryError, RunBatch, RunQuery,
    RunStatus,
};

use crate::fixture::{Fixture, Kind};

pub fn migrations_apply_once(f: &Fixture) {
    let mut store = f.open();
    let latest = store.latest_schema_version();
    assert_eq!(latest, 5);
    assert_eq!(store.schema_version().unwrap(), latest);
    store.create_experiment("kept", "").unwrap();
    drop(store);
    // Opening again applies nothing and keeps the data.
    let mut again = f.open();
    assert_eq!(again.schema_version().unwrap(), latest);
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM schema_migrations"), latest);
    assert_eq!(again.experiment("kept").unwrap().name, "kept");
}

pub fn newer_schema_is_refused_and_store_left_unchanged(f: &Fixture) {
    let mut store = f.open();
    store.create_experiment("e", "").unwrap();
    let latest = store.latest_schema_version();
    drop(store);
    f.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from the future', 0)")
        .unwrap();
    match f.try_open() {
        Err(RegistryError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (99, latest));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert_eq!(
        f.raw_int("SELECT COUNT(*) FROM schema_migrations"),
        latest + 1
    );
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM experiments"), 1);
}

pub fn run_records_everything_it_logged(f: &Fixture) {
    let mut store = f.open();
    let start = f.clock.now();
    let mut new = NewRun::new("fraud", "gbdt-1");
    new.source_version = Some("abc123".into());
    new.data_snapshot = Some("snap-1".into());
    new.seed = Some(42);
    new.host = "trainer-1".into();
    let id = store.start_run(&new).unwrap();
    store.log_param(id, "learning_rate", "0.05").unwrap();
    store.log_param(id, "learning_rate", "0.05").unwrap(); // same value: fine
    // Logged out of step order: the latest is the highest step.
    store.log_metric(id, "val_logloss", 0.30, 2).unwrap();
    f.clock.advance(Duration::seconds(1));
    store.log_metric(id, "val_logloss", 0.50, 0).unwrap();
    store.log_metric(id, "val_logloss", 0.40, 1).unwrap();
    store
        .log_batch(
            id,
            &RunBatch {
                params: vec![("model".into(), "gbdt".into())],
                metrics: vec![MetricPoint::new("auc_pr", 0.71)],
                tags: vec![("team".into(), "fraud".into())],
            },
        )
        .unwrap();
    store.set_tag(id, "team", "risk").unwrap();
    let sha = "a".repeat(64);
    store
        .log_artifact(
            id,
            &ArtifactRecord {
                name: "model.fathom".into(),
                uri: "file:///tmp/model.fathom".into(),
                sha256: sha.clone(),
                size_bytes: 123,
            },
        )
        .unwrap();
    f.clock.advance(Duration::seconds(9));
    store.finish_run(id).unwrap();

    let run = store.run(id).unwrap();
    assert_eq!(run.info.experiment, "fraud");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.start_time, start);
    assert_eq!(run.info.end_time, Some(start + Duration::seconds(10)));
    assert_eq!(run.info.source_version.as_deref(), Some("abc123"));
    assert_eq!(run.info.data_snapshot.as_deref(), Some("snap-1"));
    assert_eq!(run.info.seed, Some(42));
    assert_eq!(run.info.host, "trainer-1");
    assert_eq!(run.info.fathom_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(run.params["learning_rate"], "0.05");
    assert_eq!(run.params["model"], "gbdt");
    assert_eq!(run.metrics["val_logloss"].value, 0.30);
    assert_eq!(run.metrics["val_logloss"].step, 2);
    assert_eq!(run.metrics["auc_pr"].value, 0.71);
    assert_eq!(run.tags["team"], "risk");
    assert_eq!(run.artifacts.len(), 1);
    assert_eq!(run.artifacts[0].sha256, sha);
    let history = store.metric_history(id, "val_logloss").unwrap();
    let steps: Vec<(i64, f64)> = history.iter().map(|m| (m.step, m.value)).collect();
    assert_eq!(steps, vec![(0, 0.50), (1, 0.40), (2, 0.30)]);
    assert_eq!(store.experiments().unwrap().len(), 1);
}

pub fn bad_logging_is_refused_and_batches_are_atomic(f: &Fixture) {
    let mut store = f.open();
    let id = store.start_run(&NewRun::new("e", "r")).unwrap();
    store.log_param(id, "depth", "6").unwrap();
    let err = store.log_param(id, "depth", "7").unwrap_err();
    assert!(
        matches!(err, RegistryError::Conflict(ref m) if m.contains("already '6'")),
        "{err}"
    );
    let err = store.log_metric(id, "auc", f64::NAN, 0).unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    let err = store.log_param(id, "", "x").unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    // A batch with one bad value writes nothing.
    let err = store
        .log_batch(
            id,
            &RunBatch {
                params: vec![("a".into(), "1".into())],
                metrics: vec![
                    MetricPoint::new("ok", 1.0),
                    MetricPoint::new("bad", f64::INFINITY),
                ],
                tags: vec![],
            },
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    let run = store.run(id).unwrap();
    assert!(!run.params.contains_key("a"));
    assert!(run.metrics.is_empty());
    store.fail_run(id, "out of memory").unwrap();
    let err = store.log_metric(id, "auc", 0.5, 0).unwrap_err();
    assert!(
        matches!(err, RegistryError::Conflict(ref m) if m.contains("is failed")),
        "{err}"
    );
    assert_eq!(
        store.run(id).unwrap().info.failure.as_deref(),
        Some("out of memory")
    );
    let err = store.run(999_999).unwrap_err();
    assert!(
        matches!(err, RegistryError::NotFound { kind: "run", .. }),
        "{err}"
    );
    let err = store
        .list_runs(&RunQuery {
            experiment: Some("nope".into()),
            ..RunQuery::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("known experiments: e"), "{err}");
}

struct Reference {
    id: i64,
    model: &'static str,
    auc: Option<f64>,
    team: &'static str,
    status: RunStatus,
    minute: i64,
}

fn ids_of(page: &fathom_registry::RunPage) -> Vec<i64> {
    page.runs.iter().map(|r| r.info.id).collect()
}

fn all_pages(store: &mut fathom_registry::Store, mut q: RunQuery) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let page = store.list_runs(&q).unwrap();
        assert!(page.runs.len() <= q.limit);
        out.extend(ids_of(&page));
        match page.next_offset {
            Some(o) => q.offset = o,
            None => return out,
        }
    }
}

pub fn listing_filters_sorts_and_pages_like_a_reference(f: &Fixture) {
    let mut store = f.open();
    let base = f.clock.now();
    let models = ["gbdt", "logistic", "forest"];
    let mut reference = Vec::new();
    for i in 0..40i64 {
        let mut new = NewRun::new("exp", format!("run-{i}"));
        // Start times not in id order, to tell the two sorts apart.
        let minute = (i * 13) % 40;
        new.start_time = Some(base + Duration::minutes(minute));
        let id = store.start_run(&new).unwrap();
        let auc = (i % 7 != 0).then(|| ((i * 37) % 41) as f64 / 41.0);
        let team = if i % 2 == 0 { "fraud" } else { "risk" };
        let mut metrics = vec![MetricPoint::new("logloss", 1.0 / (i + 1) as f64)];
        if let Some(a) = auc {
            metrics.push(MetricPoint::new("auc_pr", a));
        }
        store
            .log_batch(
                id,
                &RunBatch {
                    params: vec![("model".into(), models[i as usize % 3].into())],
                    metrics,
                    tags: vec![("team".into(), team.into())],
                },
            )
            .unwrap();
        let status = if i % 11 == 0 {
            store.fail_run(id, "boom").unwrap();
            RunStatus::Failed
        } else if i % 5 == 0 {
            RunStatus::Running
        } else {
            store.finish_run(id).unwrap();
            RunStatus::Finished
        };
        reference.push(Reference {
            id,
            model: models[i as usize % 3],
            auc,
            team,
            status,
            minute,
        });
    }
    // Another experiment's runs must not show up.
    for i in 0..5 {
        let id = store
            .start_run(&NewRun::new("other", format!("o{i}")))
            .unwrap();
        store.log_metric(id, "auc_pr", 0.99, 0).unwrap();
    }
    let exp = Some("exp".to_string());

    // Filter and sort by a metric, largest first, in pages of 4.
    let mut want: Vec<&Reference> = reference
        .iter()
        .filter(|r| r.model == "gbdt" && r.auc.is_some_and(|a| a > 0.5))
        .collect();
    want.sort_by(|a, b| b.auc.partial_cmp(&a.auc).unwrap().then(b.id.cmp(&a.id)));
    let q = RunQuery {
        experiment: exp.clone(),
        filter: "metrics.auc_pr > 0.5 and params.model = 'gbdt'".into(),
        order_by: Some(SortKey::parse("metrics.auc_pr desc").unwrap()),
        limit: 4,
        offset: 0,
    };
    assert!(!want.is_empty());
    assert_eq!(
        all_pages(&mut store, q.clone()),
        want.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(store.count_runs(&q).unwrap(), want.len() as u64);

    // Sort ascending by a metric some runs lack: those come last, by id.
    let mut with: Vec<&Reference> = reference.iter().filter(|r| r.auc.is_some()).collect();
    with.sort_by(|a, b| a.auc.partial_cmp(&b.auc).unwrap().then(a.id.cmp(&b.id)));
    let mut want: Vec<i64> = with.iter().map(|r| r.id).collect();
    want.extend(reference.iter().filter(|r| r.auc.is_none()).map(|r| r.id));
    let q = RunQuery {
        experiment: exp.clone(),
        order_by: Some(SortKey {
            field: Field::Metric("auc_pr".into()),
            descending: false,
        }),
        limit: 7,
        ..RunQuery::default()
    };
    assert_eq!(all_pages(&mut store, q.clone()), want);
    // A page that starts past the runs with the metric.
    let page = store
        .list_runs(&RunQuery {
            offset: want.len() - 2,
            ..q
        })
        .unwrap();
    assert_eq!(ids_of(&page), want[want.len() - 2..].to_vec());
    assert_eq!(page.next_offset, None);

    // Default order: newest start first.
    let mut by_start: Vec<&Reference> = reference.iter().collect();
    by_start.sort_by(|a, b| b.minute.cmp(&a.minute).then(b.id.cmp(&a.id)));
    let page = store
        .list_runs(&RunQuery {
            experiment: exp.clone(),
            limit: 10,
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(
        ids_of(&page),
        by_start[..10].iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(page.next_offset, Some(10));
    let first = &page.runs[0];
    let r = reference.iter().find(|r| r.id == first.info.id).unwrap();
    assert_eq!(first.params["model"], r.model);
    assert_eq!(first.tags["team"], r.team);
    assert_eq!(first.metrics.get("auc_pr").copied(), r.auc);

    // Tags with like (case-insensitive), status and time attributes.
    let cutoff = base + Duration::minutes(20);
    let want: Vec<i64> = {
        let mut v: Vec<&Reference> = reference
            .iter()
            .filter(|r| r.team == "fraud" && r.status == RunStatus::Finished && r.minute >= 20)
            .collect();
        v.sort_by_key(|r| r.id);
        v.iter().map(|r| r.id).collect()
    };
    let q = RunQuery {
        experiment: exp.clone(),
        filter: format!(
            "tags.team like 'FR%' and status = 'finished' and start_time >= '{}'",
            cutoff.to_rfc3339()
        ),
        order_by: Some(SortKey::parse("id asc").unwrap()),
        limit: 1000,
        offset: 0,
    };
    assert!(!want.is_empty());
    assert_eq!(all_pages(&mut store, q), want);

    // Sort by a text param, then id.
    let mut by_model: Vec<&Reference> = reference.iter().collect();
    by_model.sort_by(|a, b| a.model.cmp(b.model).then(a.id.cmp(&b.id)));
    let q = RunQuery {
        experiment: exp.clone(),
        order_by: Some(SortKey::parse("params.model").unwrap()),
        limit: 9,
        ..RunQuery::default()
    };
    assert_eq!(
        all_pages(&mut store, q),
        by_model.iter().map(|r| r.id).collect::<Vec<_>>()
    );

    // Across experiments.
    let all = store.count_runs(&RunQuery::default()).unwrap();
    assert_eq!(all, 45);
    let err = store
        .list_runs(&RunQuery {
            limit: 0,
            ..RunQuery::default()
        })
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }));
}

pub fn filter_values_are_data_not_sql(f: &Fixture) {
    let mut store = f.open();
    let evil = "x'; DROP TABLE runs; --";
    let id = store.start_run(&NewRun::new("e", "r")).unwrap();
    store.log_param(id, "model", evil).unwrap();
    let q = RunQuery {
        filter: "params.model = 'x''; DROP TABLE runs; --'".into(),
        ..RunQuery::default()
    };
    let page = store.list_runs(&q).unwrap();
    assert_eq!(ids_of(&page), vec![id]);
    assert_eq!(store.count_runs(&RunQuery::default()).unwrap(), 1);
    let err = store
        .list_runs(&RunQuery {
            filter: "metrics.auc > 'x'".into(),
            ..RunQuery::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::BadFilter { position: 15, .. }),
        "{err}"
    );
    let _ = Kind::Sqlite;
}

pub fn compare_puts_runs_side_by_side(f: &Fixture) {
    let mut store = f.open();
    let mut ids = Vec::new();
    for (model, auc, logloss) in [
        ("gbdt", 0.7, 0.20),
        ("logistic", 0.6, 0.15),
        ("gbdt", 0.7, 0.30),
    ] {
        let id = store.start_run(&NewRun::new("e", model)).unwrap();
        store
            .log_batch(
                id,
                &RunBatch {
                    params: vec![("model".into(), model.into()), ("seed".into(), "1".into())],
                    metrics: vec![
                        MetricPoint::new("auc_pr", auc),
                        MetricPoint::new("logloss", logloss),
                    ],
                    tags: vec![],
                },
            )
            .unwrap();
        ids.push(id);
    }
    let only_first = store.start_run(&NewRun::new("e", "x")).unwrap();
    store.log_metric(only_first, "recall", 0.5, 0).unwrap();
    ids.push(only_first);
    let c = store.compare_runs(&ids).unwrap();
    assert_eq!(c.runs.len(), 4);
    let auc = c.metrics.iter().find(|m| m.key == "auc_pr").unwrap();
    assert_eq!(auc.values, vec![Some(0.7), Some(0.6), Some(0.7), None]);
    assert_eq!(auc.goal, MetricGoal::Maximize);
    assert_eq!(auc.best, Some(0)); // first of equals
    let ll = c.metrics.iter().find(|m| m.key == "logloss").unwrap();
    assert_eq!(ll.goal, MetricGoal::Minimize);
    assert_eq!(ll.best, Some(1));
    let model = c.params.iter().find(|p| p.key == "model").unwrap();
    assert!(model.differs);
    let seed = c.params.iter().find(|p| p.key == "seed").unwrap();
    assert_eq!(seed.values[3], None);
    assert!(store.compare_runs(&[]).is_err());
}

pub fn a_run_ends_when_its_work_ended(f: &Fixture) {
    let mut store = f.open();
    let start = f.clock.now();
    let id = store.start_run(&NewRun::new("fraud", "gbdt")).unwrap();
    // The work took 4 s; its results were logged 6 s later.
    f.clock.advance(Duration::seconds(10));
    let done = start + Duration::seconds(4);

    // An end before the start or after now is refused; the run stays running.
    let err = store
        .finish_run_at(id, start - Duration::seconds(1))
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("before the run's start"), "{err}");
    let err = store
        .finish_run_at(id, f.clock.now() + Duration::seconds(1))
        .unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");
    assert_eq!(store.run(id).unwrap().info.status, RunStatus::Running);

    store.finish_run_at(id, done).unwrap();
    let info = store.run(id).unwrap().info;
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.start_time, start);
    assert_eq!(info.end_time, Some(done));
    // Ended runs cannot be ended again.
    let err = store.finish_run_at(id, done).unwrap_err();
    assert!(matches!(err, RegistryError::Conflict(_)), "{err}");

    // A failed run keeps its reason and ends now.
    let failed = store.start_run(&NewRun::new("fraud", "logistic")).unwrap();
    f.clock.advance(Duration::seconds(3));
    store
        .fail_run(failed, "label column 'y': too few rows")
        .unwrap();
    let info = store.run(failed).unwrap().info;
    assert_eq!(info.status, RunStatus::Failed);
    assert_eq!(info.end_time, Some(f.clock.now()));
    assert_eq!(
        info.failure.as_deref(),
        Some("label column 'y': too few rows")
    );
}
