//! Registry: versions, the promotion gate, rollback, archiving,
//! checksums, errors, the audit log, lineage and model cards.

use chrono::Duration;
use fathom_registry::{
    AuditAction, AuditQuery, GateFailure, MetricGoal, MetricPoint, NewModel, NewRun, NewVersion,
    Promotion, PromotionPolicy, RegistryError, RunBatch, VersionStatus,
};

use crate::fixture::Fixture;
use crate::helpers::{actor, register};

fn promotion(model: &str, version: i64, alias: &str, force: bool) -> Promotion {
    Promotion {
        model: model.into(),
        version,
        alias: alias.into(),
        force,
    }
}

pub fn versions_are_numbered_and_first_promotion_passes(f: &Fixture) {
    let mut store = f.open();
    let v1 = register(&mut store, f, "fraud", 0.70, "schema-a", "holdout-1");
    let v2 = register(&mut store, f, "fraud", 0.72, "schema-a", "holdout-1");
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.status, VersionStatus::Active);
    assert_eq!(v1.metrics["auc_pr"], 0.70);
    let policy = PromotionPolicy::default();
    let mv = store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "first",
        )
        .unwrap();
    assert_eq!((mv.from, mv.to, mv.changed), (None, Some(1), true));
    // Promoting the same version again changes nothing.
    let again = store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "again",
        )
        .unwrap();
    assert!(!again.changed);
    let mv = store
        .promote(
            &promotion("fraud", 2, "production", false),
            &policy,
            &actor(),
            "better",
        )
        .unwrap();
    assert_eq!((mv.from, mv.to), (Some(1), Some(2)));
    store
        .promote(
            &promotion("fraud", 1, "staging", false),
            &policy,
            &actor(),
            "keep warm",
        )
        .unwrap();
    let model = store.model("fraud").unwrap();
    assert_eq!(model.latest_version, 2);
    assert_eq!(model.aliases["production"], 2);
    assert_eq!(model.aliases["staging"], 1);
    assert_eq!(store.resolve("fraud").unwrap().version, 2);
    assert_eq!(store.resolve("fraud@staging").unwrap().version, 1);
    assert_eq!(
        store.resolve("fraud@1").unwrap().aliases,
        vec!["staging".to_string()]
    );
    assert_eq!(store.model_versions("fraud").unwrap().len(), 2);
    assert_eq!(store.models().unwrap().len(), 1);
    let history = store.alias_history("fraud", Some("production")).unwrap();
    let moves: Vec<(Option<i64>, Option<i64>, &str)> = history
        .iter()
        .map(|e| (e.from, e.to, e.kind.as_str()))
        .collect();
    assert_eq!(
        moves,
        vec![(None, Some(1), "promote"), (Some(1), Some(2), "promote")]
    );
    let audit = store.audit(&AuditQuery::default()).unwrap();
    let actions: Vec<AuditAction> = audit.iter().rev().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::ModelCreated,
            AuditAction::VersionRegistered,
            AuditAction::VersionRegistered,
            AuditAction::Promoted,
            AuditAction::Promoted,
            AuditAction::AliasSet,
        ]
    );
    assert_eq!(audit[0].actor, "ana");
    assert_eq!(audit[0].host, "build-7");
    assert_eq!(audit[0].reason, "keep warm");
    assert_eq!(audit[1].detail["from"], 1);
    assert_eq!(audit[1].detail["to"], 2);
    // A model created explicitly is refused a second time.
    let new = NewModel {
        name: "churn".into(),
        owner: "bo".into(),
        ..NewModel::default()
    };
    store.create_model(&new, &actor(), "new").unwrap();
    let err = store.create_model(&new, &actor(), "new").unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyExists { kind: "model", .. }),
        "{err}"
    );
}

pub fn gate_refuses_with_each_failed_rule_and_force_is_audited(f: &Fixture) {
    let mut store = f.open();
    register(&mut store, f, "fraud", 0.70, "schema-a", "holdout-1");
    let policy = PromotionPolicy {
        tolerance: 0.01,
        threshold: Some(0.5),
        ..PromotionPolicy::default()
    };
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "first",
        )
        .unwrap();
    // Within tolerance: passes.
    register(&mut store, f, "fraud", 0.695, "schema-a", "holdout-1");
    store
        .promote(
            &promotion("fraud", 2, "production", false),
            &policy,
            &actor(),
            "close enough",
        )
        .unwrap();
    // Worse by more than the tolerance, other schema, other holdout.
    register(&mut store, f, "fraud", 0.60, "schema-b", "holdout-2");
    let err = store
        .promote(
            &promotion("fraud", 3, "production", false),
            &policy,
            &actor(),
            "try",
        )
        .unwrap_err();
    let RegistryError::PromotionRefused {
        failures, version, ..
    } = &err
    else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(*version, 3);
    assert_eq!(failures.len(), 3, "{failures:?}");
    match &failures[0] {
        GateFailure::WorseThanCurrent {
            candidate,
            current,
            current_version,
            required,
            goal,
            ..
        } => {
            assert_eq!((*candidate, *current, *current_version), (0.60, 0.695, 2));
            assert!((required - 0.685).abs() < 1e-12);
            assert_eq!(*goal, MetricGoal::Maximize);
        }
        other => panic!("expected WorseThanCurrent, got {other:?}"),
    }
    assert!(
        matches!(&failures[1], GateFailure::SchemaMismatch { candidate, current, .. } if candidate == "schema-b" && current == "schema-a")
    );
    assert!(matches!(&failures[2], GateFailure::HoldoutMismatch { .. }));
    assert!(
        err.to_string()
            .contains("auc_pr 0.600000 must be at least 0.685000"),
        "{err}"
    );
    assert_eq!(store.resolve("fraud@production").unwrap().version, 2);
    let refused = store
        .audit(&AuditQuery {
            action: Some(AuditAction::PromotionRefused),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].detail["failures"][0]["rule"],
        "worse_than_current"
    );
    // Below the absolute threshold, with no metric: refused for each.
    let stored = {
        use fathom_registry::artifacts::ArtifactStore;
        f.artifacts().put_bytes(b"no metrics").unwrap()
    };
    store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                artifact_uri: stored.uri,
                artifact_sha256: stored.sha256,
                schema_hash: "schema-a".into(),
                holdout_snapshot: Some("holdout-1".into()),
                owner: "ana".into(),
                ..NewVersion::default()
            },
            &actor(),
            "no metrics",
        )
        .unwrap();
    let err = store
        .promote(
            &promotion("fraud", 4, "production", false),
            &policy,
            &actor(),
            "try",
        )
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::PromotionRefused { failures, .. } if matches!(failures[..], [GateFailure::MetricMissing { version: 4, .. }])),
        "{err}"
    );
    register(&mut store, f, "other", 0.4, "s", "h");
    let err = store
        .promote(
            &promotion("other", 1, "production", false),
            &policy,
            &actor(),
            "try",
        )
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::PromotionRefused { failures, .. } if matches!(failures[..], [GateFailure::Threshold { limit, .. }] if limit == 0.5)),
        "{err}"
    );
    // Ungated aliases take any version.
    store
        .promote(
            &promotion("fraud", 3, "candidate", false),
            &policy,
            &actor(),
            "look at it",
        )
        .unwrap();
    // Force moves production and records what it overrode.
    let mv = store
        .promote(
            &promotion("fraud", 3, "production", true),
            &policy,
            &actor(),
            "incident 42",
        )
        .unwrap();
    assert_eq!((mv.from, mv.to), (Some(2), Some(3)));
    assert_eq!(mv.overridden.len(), 3);
    let forced = store
        .audit(&AuditQuery {
            model: Some("fraud".into()),
            action: Some(AuditAction::PromotedForced),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(forced.len(), 1);
    assert_eq!(forced[0].reason, "incident 42");
    assert_eq!(forced[0].detail["overridden"].as_array().unwrap().len(), 3);
    let history = store.alias_history("fraud", Some("production")).unwrap();
    assert_eq!(history.last().unwrap().kind, "force");
    // Lower-is-better metrics use the other direction.
    let ll = PromotionPolicy {
        metric: "logloss".into(),
        tolerance: 0.0,
        require_same_schema: false,
        require_same_holdout: false,
        ..PromotionPolicy::default()
    };
    let v = store.model_version("fraud", 1).unwrap();
    let cur = store.model_version("fraud", 3).unwrap();
    assert!(ll.evaluate(&v, Some(&cur)).is_empty());
}

pub fn rollback_walks_back_through_promotions(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    for (i, auc) in [0.70, 0.71, 0.72].into_iter().enumerate() {
        register(&mut store, f, "fraud", auc, "s", "h");
        store
            .promote(
                &promotion("fraud", i as i64 + 1, "production", false),
                &policy,
                &actor(),
                "up",
            )
            .unwrap();
    }
    let mv = store
        .rollback("fraud", "production", &actor(), "v3 pages people")
        .unwrap();
    assert_eq!((mv.from, mv.to), (Some(3), Some(2)));
    let mv = store
        .rollback("fraud", "production", &actor(), "v2 too")
        .unwrap();
    assert_eq!((mv.from, mv.to), (Some(2), Some(1)));
    let err = store
        .rollback("fraud", "production", &actor(), "again")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("no earlier version")),
        "{err}"
    );
    assert_eq!(store.resolve("fraud@production").unwrap().version, 1);
    // A new promotion after rollbacks: rolling back returns to v1.
    store
        .promote(
            &promotion("fraud", 3, "production", true),
            &policy,
            &actor(),
            "fixed",
        )
        .unwrap();
    let mv = store
        .rollback("fraud", "production", &actor(), "not fixed")
        .unwrap();
    assert_eq!((mv.from, mv.to), (Some(3), Some(1)));
    let rolled = store
        .audit(&AuditQuery {
            action: Some(AuditAction::RolledBack),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(rolled.len(), 3);
    assert_eq!(rolled[2].reason, "v3 pages people");
    let err = store
        .rollback("fraud", "staging", &actor(), "x")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotFound { kind: "alias", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("has aliases production"), "{err}");
}

pub fn archive_keeps_rollback_targets_within_retention(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    let retention = Duration::days(30);
    register(&mut store, f, "fraud", 0.70, "s", "h");
    register(&mut store, f, "fraud", 0.71, "s", "h");
    register(&mut store, f, "fraud", 0.72, "s", "h");
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "",
        )
        .unwrap();
    let err = store
        .archive_version("fraud", 1, retention, &actor(), "")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("named by alias production")),
        "{err}"
    );
    store
        .promote(
            &promotion("fraud", 2, "production", false),
            &policy,
            &actor(),
            "",
        )
        .unwrap();
    f.clock.advance(Duration::days(10));
    let err = store
        .archive_version("fraud", 1, retention, &actor(), "")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("kept for rollback")),
        "{err}"
    );
    // Never aliased: archived at once, and then not promotable.
    let v3 = store
        .archive_version("fraud", 3, retention, &actor(), "superseded")
        .unwrap();
    assert_eq!(v3.status, VersionStatus::Archived);
    let err = store
        .promote(
            &promotion("fraud", 3, "production", true),
            &policy,
            &actor(),
            "",
        )
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("archived")),
        "{err}"
    );
    // After the retention window the old production version may go.
    f.clock.advance(Duration::days(21));
    let v1 = store
        .archive_version("fraud", 1, retention, &actor(), "old")
        .unwrap();
    assert_eq!(v1.status, VersionStatus::Archived);
    assert!(v1.archived_at.is_some());
    // It is still stored and readable; rollback to it is refused.
    assert!(!store.load_artifact("fraud", 1).unwrap().is_empty());
    let err = store
        .rollback("fraud", "production", &actor(), "")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("archived")),
        "{err}"
    );
    assert_eq!(store.resolve("fraud").unwrap().version, 2);
}

pub fn changed_artifact_is_refused(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    register(&mut store, f, "fraud", 0.70, "s", "h");
    let v2 = register(&mut store, f, "fraud", 0.71, "s", "h");
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "",
        )
        .unwrap();
    let path = fathom_registry::artifacts::uri_path(&v2.artifact_uri).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    let err = store
        .promote(
            &promotion("fraud", 2, "production", true),
            &policy,
            &actor(),
            "",
        )
        .unwrap_err();
    match &err {
        RegistryError::ChecksumMismatch {
            expected,
            actual,
            uri,
        } => {
            assert_eq!(expected, &v2.artifact_sha256);
            // sha256("tampered"), from `printf tampered | sha256sum`.
            assert_eq!(
                actual,
                "d121be3103007b41edf96f8262925f8c7d61894afe9a041843b631f69445bc57"
            );
            assert_eq!(uri, &v2.artifact_uri);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert_eq!(store.resolve("fraud").unwrap().version, 1);
    let err = store.load_artifact("fraud", 2).unwrap_err();
    assert!(
        matches!(err, RegistryError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(store.load_artifact("fraud", 1).is_ok());
    let refused = store
        .audit(&AuditQuery {
            action: Some(AuditAction::PromotionRefused),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(refused.len(), 1);
}

pub fn unknown_names_give_clear_errors(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    register(&mut store, f, "fraud", 0.70, "s", "h");
    let err = store.model("frud").unwrap_err();
    assert!(
        err.to_string()
            .contains("model 'frud' does not exist; registered models: fraud"),
        "{err}"
    );
    let err = store.model_version("fraud", 7).unwrap_err();
    assert!(
        err.to_string().contains("fraud has versions 1 to 1"),
        "{err}"
    );
    let err = store.resolve("fraud@production").unwrap_err();
    assert!(err.to_string().contains("promote a version first"), "{err}");
    let err = store
        .promote(
            &promotion("fraud", 9, "production", false),
            &policy,
            &actor(),
            "",
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NotFound {
                kind: "model version",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .promote(
            &promotion("fraud", 1, "Prod!", false),
            &policy,
            &actor(),
            "",
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
    let err = store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                artifact_uri: "file:///nonexistent/model.fathom".into(),
                artifact_sha256: "0".repeat(64),
                schema_hash: "s".into(),
                ..NewVersion::default()
            },
            &actor(),
            "",
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ArtifactMissing { .. }),
        "{err}"
    );
    assert_eq!(store.model("fraud").unwrap().latest_version, 1);
}

pub fn audit_log_is_append_only(f: &Fixture) {
    let mut store = f.open();
    register(&mut store, f, "fraud", 0.70, "s", "h");
    let n = f.raw_int("SELECT COUNT(*) FROM audit_log");
    assert!(n >= 2);
    let err = f.raw("UPDATE audit_log SET actor = 'mallory'").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = f.raw("DELETE FROM audit_log").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM audit_log"), n);
    let page = store
        .audit(&AuditQuery {
            limit: 1,
            ..AuditQuery::default()
        })
        .unwrap();
    let older = store
        .audit(&AuditQuery {
            before_id: Some(page[0].id),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(older.len() as i64, n - 1);
}

pub fn lineage_and_model_card(f: &Fixture) {
    let mut store = f.open();
    let mut run = NewRun::new("fraud", "gbdt");
    run.seed = Some(7);
    run.source_version = Some("deadbeef".into());
    run.data_snapshot = Some("snap-train".into());
    let run_id = store.start_run(&run).unwrap();
    store
        .log_batch(
            run_id,
            &RunBatch {
                params: vec![("num_leaves".into(), "31".into())],
                metrics: vec![MetricPoint::new("auc_pr", 0.8)],
                tags: vec![],
            },
        )
        .unwrap();
    store.finish_run(run_id).unwrap();
    store
        .create_model(
            &NewModel {
                name: "fraud".into(),
                description: "Card fraud scores".into(),
                intended_use: "Rank card transactions for review.".into(),
                limitations: "Trained on synthetic data.".into(),
                owner: "risk-team".into(),
            },
            &actor(),
            "",
        )
        .unwrap();
    let stored = {
        use fathom_registry::artifacts::ArtifactStore;
        f.artifacts().put_bytes(b"m").unwrap()
    };
    store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                run_id: Some(run_id),
                artifact_uri: stored.uri,
                artifact_sha256: stored.sha256,
                schema_hash: "schema-a".into(),
                holdout_snapshot: Some("snap-holdout".into()),
                metrics: [("auc_pr".to_string(), 0.8)].into(),
                owner: "ana".into(),
                description: String::new(),
            },
            &actor(),
            "",
        )
        .unwrap();
    let lineage = store.lineage("fraud", 1).unwrap();
    let r = lineage.run.as_ref().unwrap();
    assert_eq!(r.info.id, run_id);
    assert_eq!(r.info.seed, Some(7));
    assert_eq!(r.info.data_snapshot.as_deref(), Some("snap-train"));
    assert_eq!(r.params["num_leaves"], "31");
    let card = store.model_card("fraud", 1).unwrap();
    for needle in [
        "# Model card: fraud version 1",
        "## Intended use\n\nRank card transactions for review.",
        "Training data snapshot: `snap-train`",
        "Evaluation (holdout) snapshot: `snap-holdout`",
        "Input schema hash: `schema-a`",
        "Code version: `deadbeef`",
        "Seed: 7",
        "| auc_pr | 0.800000 |",
        "| num_leaves | 31 |",
        "## Limitations\n\nTrained on synthetic data.",
        "## Owner\n\nrisk-team",
    ] {
        assert!(card.contains(needle), "missing {needle:?} in\n{card}");
    }
    let err = store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                run_id: Some(9999),
                artifact_uri: "file:///x".into(),
                artifact_sha256: "0".repeat(64),
                schema_hash: "s".into(),
                ..NewVersion::default()
            },
            &actor(),
            "",
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::ArtifactMissing { .. } | RegistryError::NotFound { .. }
        ),
        "{err}"
    );
}

pub fn describing_a_model_fills_its_card_and_is_audited(f: &Fixture) {
    use fathom_registry::ModelDescription;
    let mut store = f.open();
    // Describing a model that does not exist yet creates it.
    let m = store
        .describe_model(
            &ModelDescription {
                name: "fraud".into(),
                intended_use: Some("Rank card transactions for review.".into()),
                ..ModelDescription::default()
            },
            &actor(),
            "first words",
        )
        .unwrap();
    assert_eq!(m.intended_use, "Rank card transactions for review.");
    assert_eq!((m.limitations.as_str(), m.owner.as_str()), ("", ""));
    register(&mut store, f, "fraud", 0.7, "schema-a", "holdout-1");

    f.clock.advance(Duration::seconds(5));
    let m = store
        .describe_model(
            &ModelDescription {
                name: "fraud".into(),
                description: Some("Card fraud scores".into()),
                limitations: Some("  Trained on synthetic data.  ".into()),
                owner: Some("risk-team".into()),
                // Unchanged: not part of the audit entry.
                intended_use: Some("Rank card transactions for review.".into()),
            },
            &actor(),
            "card for the review",
        )
        .unwrap();
    assert_eq!(m.limitations, "Trained on synthetic data.");
    assert_eq!(m.owner, "risk-team");
    assert_eq!(m.updated_at, fathom_registry::Clock::now(f.clock.as_ref()));
    let card = store.model_card("fraud", 1).unwrap();
    for needle in [
        "## Intended use\n\nRank card transactions for review.",
        "## Limitations\n\nTrained on synthetic data.",
        "## Owner\n\nrisk-team",
    ] {
        assert!(card.contains(needle), "missing {needle:?} in\n{card}");
    }

    let entries = store
        .audit(&AuditQuery {
            model: Some("fraud".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    let updated = &entries[0];
    assert_eq!(updated.action, AuditAction::ModelUpdated);
    assert_eq!(updated.reason, "card for the review");
    assert_eq!(updated.actor, "ana");
    assert_eq!(
        updated.detail,
        serde_json::json!({
            "description": { "from": "", "to": "Card fraud scores" },
            "limitations": { "from": "", "to": "Trained on synthetic data." },
            "owner": { "from": "", "to": "risk-team" },
        })
    );
    let created = entries.last().unwrap();
    assert_eq!(created.action, AuditAction::ModelCreated);
    assert_eq!(
        created.detail,
        serde_json::json!({ "intended_use": "Rank card transactions for review." })
    );

    // The same text again changes nothing and writes no entry.
    let count = entries.len();
    store
        .describe_model(
            &ModelDescription {
                name: "fraud".into(),
                owner: Some("risk-team".into()),
                ..ModelDescription::default()
            },
            &actor(),
            "",
        )
        .unwrap();
    let again = store
        .audit(&AuditQuery {
            model: Some("fraud".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(again.len(), count);

    // Nothing to change, a bad name and an overlong text are refused.
    for (change, expected) in [
        (
            ModelDescription {
                name: "fraud".into(),
                ..ModelDescription::default()
            },
            "nothing to change",
        ),
        (
            ModelDescription {
                name: "no spaces".into(),
                owner: Some("x".into()),
                ..ModelDescription::default()
            },
            "model name 'no spaces'",
        ),
        (
            ModelDescription {
                name: "fraud".into(),
                limitations: Some("x".repeat(8_001)),
                ..ModelDescription::default()
            },
            "at most 8000",
        ),
    ] {
        let err = store.describe_model(&change, &actor(), "").unwrap_err();
        assert!(matches!(err, RegistryError::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert_eq!(store.model("fraud").unwrap().owner, "risk-team");
}
