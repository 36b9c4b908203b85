//! Garbage collection over both database back ends and both artifact
//! stores: kept things kept (alias targets, versions an alias moved to or
//! from within retention, lineage runs, content shared with a kept
//! version, recent files), deletable things deleted, a dry run deletes
//! nothing, and a second collection frees nothing.

#[path = "../store/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "../store/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[cfg(feature = "s3")]
#[path = "../store/s3_fixture.rs"]
mod s3_fixture;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use fathom_registry::artifacts::{ArtifactStore, StoredArtifact};
use fathom_registry::gc::{ArtifactReason, RunReason};
use fathom_registry::{
    ArtifactRecord, AuditAction, AuditQuery, Clock, GcPolicy, MetricPoint, NewRun, NewVersion,
    Promotion, PromotionPolicy, RegistryError, RunBatch, RunId, Store,
};

use crate::fixture::{Fixture, Kind};
use crate::helpers::actor;

fn policy(runs_older_than: Option<i64>) -> GcPolicy {
    GcPolicy {
        retention: Duration::days(30),
        runs_older_than: runs_older_than.map(Duration::days),
        min_artifact_age: Duration::zero(),
    }
}

/// How a test run ends.
#[derive(Clone, Copy)]
enum End {
    Finished,
    Failed,
    Never,
}

/// A run with a param, two metric values, a tag and one artifact per
/// entry of `files`, ended as `end` says.
fn run(
    store: &mut Store,
    a: &dyn ArtifactStore,
    name: &str,
    files: &[(&str, &[u8])],
    end: End,
) -> (RunId, Vec<StoredArtifact>) {
    let id = store.start_run(&NewRun::new("fraud", name)).unwrap();
    store
        .log_batch(
            id,
            &RunBatch {
                params: vec![("model".into(), name.into())],
                metrics: vec![
                    MetricPoint::new("auc_pr", 0.5),
                    MetricPoint {
                        key: "auc_pr".into(),
                        value: 0.6,
                        step: 1,
                    },
                ],
                tags: vec![("team".into(), "fraud".into())],
            },
        )
        .unwrap();
    let mut stored = Vec::new();
    for (n, bytes) in files {
        let s = a.put_bytes(bytes).unwrap();
        store
            .log_artifact(
                id,
                &ArtifactRecord {
                    name: (*n).into(),
                    uri: s.uri.clone(),
                    sha256: s.sha256.clone(),
                    size_bytes: s.size_bytes,
                },
            )
            .unwrap();
        stored.push(s);
    }
    match end {
        End::Finished => store.finish_run(id).unwrap(),
        End::Failed => store.fail_run(id, "out of memory").unwrap(),
        End::Never => {}
    }
    (id, stored)
}

fn version(store: &mut Store, a: &dyn ArtifactStore, run: Option<RunId>, bytes: &[u8]) -> i64 {
    let s = a.put_bytes(bytes).unwrap();
    store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                run_id: run,
                artifact_uri: s.uri,
                artifact_sha256: s.sha256,
                schema_hash: "s".into(),
                holdout_snapshot: Some("h".into()),
                metrics: [("auc_pr".to_string(), 0.7)].into(),
                owner: "ana".into(),
                description: String::new(),
            },
            &actor(),
            "test",
        )
        .unwrap()
        .version
}

fn promote(store: &mut Store, version: i64) {
    store
        .promote(
            &Promotion {
                model: "fraud".into(),
                version,
                alias: "production".into(),
                force: true,
            },
            &PromotionPolicy::default(),
            &actor(),
            "test",
        )
        .unwrap();
}

fn uris(a: &dyn ArtifactStore) -> BTreeSet<String> {
    a.list().unwrap().into_iter().map(|l| l.uri).collect()
}

fn gone(store: &mut Store, run: RunId) -> bool {
    matches!(store.run(run), Err(RegistryError::NotFound { .. }))
}

/// The whole story on one database and one artifact store.
fn collects_what_nothing_needs(f: &Fixture, shared: Arc<dyn ArtifactStore>) {
    let mut store = f.open().with_artifact_store(shared.clone());
    let a = shared.as_ref();
    let t0 = f.clock.now();
    let me = actor();

    // Version 1 (run r1) goes to production; version 2 (run r2) follows
    // it there later. Version 3 (run r3) and version 5 (no run) are
    // archived at once; version 4 is active and holds the same bytes as
    // version 3.
    let (r1, r1_files) = run(
        &mut store,
        a,
        "r1",
        &[("model", b"m1"), ("report", b"rep1")],
        End::Finished,
    );
    let v1 = version(&mut store, a, Some(r1), b"m1");
    promote(&mut store, v1);
    let (r2, _) = run(&mut store, a, "r2", &[("model", b"m2")], End::Finished);
    let v2 = version(&mut store, a, Some(r2), b"m2");
    let (r3, r3_files) = run(
        &mut store,
        a,
        "r3",
        &[("model", b"m3"), ("report", b"rep3")],
        End::Finished,
    );
    let v3 = version(&mut store, a, Some(r3), b"m3");
    let v4 = version(&mut store, a, None, b"m3");
    let v5 = version(&mut store, a, None, b"m5");
    let m5_uri = store.model_version("fraud", v5).unwrap().artifact_uri;
    for v in [v3, v5] {
        store
            .archive_version("fraud", v, Duration::days(30), &me, "test")
            .unwrap();
    }
    // A failed run, a finished run nobody registered, a run never ended,
    // and a file nothing records.
    let (r_fail, fail_files) = run(&mut store, a, "failed", &[("model", b"fail")], End::Failed);
    let (r_old, old_files) = run(
        &mut store,
        a,
        "unregistered",
        &[("model", b"old")],
        End::Finished,
    );
    let (r_running, _) = run(&mut store, a, "killed", &[], End::Never);
    let orphan = a.put_bytes(b"orphan").unwrap();

    // Day 35: version 2 replaces version 1 in production; version 1 is
    // archived with a date before that (as a store migrated from elsewhere
    // might hold), so only the alias move keeps it.
    f.clock.advance(Duration::days(35));
    promote(&mut store, v2);
    f.raw(&format!(
        "UPDATE model_versions SET status = 'archived', archived_at = {} WHERE version = {v1}",
        t0.timestamp_micros()
    ))
    .unwrap();

    // Day 40. A dry run shows the plan and deletes nothing.
    f.clock.advance(Duration::days(5));
    let before = uris(a);
    let dry = store.gc(a, &policy(None), false, &me, "dry").unwrap();
    assert!(!dry.applied);
    assert_eq!(
        (dry.deleted_runs, dry.deleted_artifacts, dry.freed_bytes),
        (0, 0, 0)
    );
    assert_eq!(uris(a), before);
    assert!(!gone(&mut store, r_fail));
    let plan = &dry.plan;
    assert_eq!(plan.artifact_store, a.location());
    assert_eq!(plan.expired_versions, ["fraud@3", "fraud@5"]);
    assert_eq!(
        plan.runs
            .iter()
            .map(|r| (r.id, r.reason))
            .collect::<Vec<_>>(),
        [(r_fail, RunReason::Failed)]
    );
    // One param, two metric values, one tag, one artifact record.
    assert_eq!(plan.runs[0].records, 5);
    let mut found: Vec<(String, ArtifactReason)> = plan
        .artifacts
        .iter()
        .map(|x| (x.uri.clone(), x.reason))
        .collect();
    found.sort();
    let mut expected = vec![
        (m5_uri.clone(), ArtifactReason::ArchivedVersion),
        (r3_files[1].uri.clone(), ArtifactReason::ArchivedVersion),
        (fail_files[0].uri.clone(), ArtifactReason::DeletedRun),
        (orphan.uri.clone(), ArtifactReason::Unreferenced),
    ];
    expected.sort();
    assert_eq!(found, expected);
    let m5 = plan.artifacts.iter().find(|x| x.uri == m5_uri).unwrap();
    assert_eq!(m5.versions, ["fraud@5"]);
    let rep3 = plan
        .artifacts
        .iter()
        .find(|x| x.uri == r3_files[1].uri)
        .unwrap();
    assert_eq!(rep3.runs, [r3]);
    assert_eq!(plan.bytes(), 2 + 4 + 4 + 6);
    assert_eq!(plan.kept_artifacts as usize, before.len() - 4);

    // Applied: exactly that is deleted, with one audit entry.
    let applied = store.gc(a, &policy(None), true, &me, "tidy up").unwrap();
    assert!(applied.applied);
    assert_eq!(applied.plan.artifacts.len(), 4);
    assert_eq!(
        (
            applied.deleted_runs,
            applied.deleted_artifacts,
            applied.freed_bytes
        ),
        (1, 4, 16)
    );
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    let after = uris(a);
    assert_eq!(after.len(), before.len() - 4);
    for (u, _) in &expected {
        assert!(!after.contains(u), "{u} should be deleted");
    }
    assert!(gone(&mut store, r_fail));
    for kept in [r1, r2, r3, r_old, r_running] {
        assert!(!gone(&mut store, kept), "run {kept} should be kept");
    }
    let entries = store
        .audit(&AuditQuery {
            action: Some(AuditAction::GarbageCollected),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(Some(entries[0].id), applied.audit_id);
    assert_eq!(entries[0].reason, "tidy up");
    assert_eq!(
        entries[0].detail["runs_deleted"],
        serde_json::json!([r_fail])
    );
    assert_eq!(entries[0].detail["bytes_freed"], 16);
    // Kept: production, the version an alias left within retention, the
    // active version sharing bytes with an expired one, lineage.
    assert_eq!(store.load_artifact("fraud", v2).unwrap(), b"m2");
    assert_eq!(store.load_artifact("fraud", v1).unwrap(), b"m1");
    assert_eq!(store.load_artifact("fraud", v4).unwrap(), b"m3");
    assert_eq!(store.load_artifact("fraud", v3).unwrap(), b"m3");
    assert_eq!(store.lineage("fraud", v3).unwrap().run.unwrap().info.id, r3);
    assert!(matches!(
        store.load_artifact("fraud", v5),
        Err(RegistryError::ArtifactMissing { .. })
    ));

    // A second collection frees nothing and writes no entry.
    let again = store.gc(a, &policy(None), true, &me, "again").unwrap();
    assert!(again.plan.is_empty(), "{:?}", again.plan);
    assert_eq!(
        (again.deleted_artifacts, again.freed_bytes, again.audit_id),
        (0, 0, None)
    );

    // With an age limit, the unregistered and the killed run go too; the
    // runs behind versions stay (lineage).
    let old = store
        .gc(a, &policy(Some(7)), true, &me, "old runs")
        .unwrap();
    let mut runs: Vec<(RunId, RunReason)> =
        old.plan.runs.iter().map(|r| (r.id, r.reason)).collect();
    runs.sort();
    assert_eq!(
        runs,
        [(r_old, RunReason::Old), (r_running, RunReason::Abandoned)]
    );
    assert_eq!(
        old.plan
            .artifacts
            .iter()
            .map(|x| x.uri.as_str())
            .collect::<Vec<_>>(),
        [old_files[0].uri.as_str()]
    );
    for r in [r_old, r_running] {
        assert!(gone(&mut store, r));
    }
    for r in [r1, r2, r3] {
        assert!(!gone(&mut store, r));
    }

    // Day 70: version 1's retention has passed too. Its artifact and its
    // run's files go; the run's record stays for lineage.
    f.clock.advance(Duration::days(30));
    let late = store.gc(a, &policy(None), true, &me, "later").unwrap();
    let mut late_uris: Vec<&str> = late.plan.artifacts.iter().map(|x| x.uri.as_str()).collect();
    late_uris.sort();
    let mut want = vec![r1_files[0].uri.as_str(), r1_files[1].uri.as_str()];
    want.sort();
    assert_eq!(late_uris, want);
    assert!(
        late.plan
            .artifacts
            .iter()
            .all(|x| x.reason == ArtifactReason::ArchivedVersion)
    );
    let lineage = store.lineage("fraud", v1).unwrap();
    assert_eq!(lineage.run.unwrap().params["model"], "r1");
    assert!(matches!(
        store.load_artifact("fraud", v1),
        Err(RegistryError::ArtifactMissing { .. })
    ));
    assert_eq!(store.load_artifact("fraud", v2).unwrap(), b"m2");
    assert_eq!(store.resolve("fraud@production").unwrap().version, v2);
    assert!(
        store
            .gc(a, &policy(None), true, &me, "again")
            .unwrap()
            .plan
            .is_empty()
    );
}

/// Files written within the minimum age are spared.
fn recent_artifacts_are_spared(f: &Fixture, shared: Arc<dyn ArtifactStore>) {
    let mut store = f.open().with_artifact_store(shared.clone());
    let a = shared.as_ref();
    let fresh = a.put_bytes(b"just written").unwrap();
    let policy = GcPolicy::default();
    assert_eq!(policy.min_artifact_age, Duration::hours(1));
    let r = store.gc(a, &policy, true, &actor(), "test").unwrap();
    assert!(r.plan.artifacts.is_empty());
    assert_eq!(r.plan.spared_recent, 1);
    assert!(uris(a).contains(&fresh.uri));
    let r = store
        .gc(
            a,
            &GcPolicy {
                min_artifact_age: Duration::zero(),
                ..policy
            },
            true,
            &actor(),
            "test",
        )
        .unwrap();
    assert_eq!(r.deleted_artifacts, 1);
    assert!(uris(a).is_empty());
}

fn local(f: &Fixture) -> Arc<dyn ArtifactStore> {
    Arc::new(f.artifacts())
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[test]
                fn $name() {
                    let f = crate::Fixture::new(crate::Kind::Sqlite, stringify!($name)).unwrap();
                    crate::$name(&f, crate::local(&f));
                }
            )*
        }
        mod postgres_local {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = crate::Fixture::new(crate::Kind::Postgres, stringify!($name)) {
                        crate::$name(&f, crate::local(&f));
                    }
                }
            )*
        }
        #[cfg(feature = "s3")]
        mod sqlite_s3 {
            $(
                #[test]
                fn $name() {
                    let f = crate::Fixture::new(crate::Kind::Sqlite, stringify!($name)).unwrap();
                    if let Some(b) = crate::s3_fixture::bucket(stringify!($name)) {
                        crate::$name(&f, std::sync::Arc::new(b.store("fathom")));
                    }
                }
            )*
        }
    };
}

on_every_store!(collects_what_nothing_needs, recent_artifacts_are_spared);
