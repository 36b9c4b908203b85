//! Small builders shared by the tests.

use std::collections::BTreeMap;

use fathom_registry::artifacts::ArtifactStore;
use fathom_registry::{Actor, ModelVersion, NewVersion, Store};

use crate::fixture::Fixture;

pub fn actor() -> Actor {
    Actor::new("ana", "build-7")
}

/// Registers a version of `model` with its own artifact.
pub fn register(
    store: &mut Store,
    f: &Fixture,
    model: &str,
    auc_pr: f64,
    schema: &str,
    holdout: &str,
) -> ModelVersion {
    let bytes = format!(
        "model {model} auc_pr {auc_pr} schema {schema} {}",
        rand_tag()
    );
    let stored = f
        .artifacts()
        .put_bytes(bytes.as_bytes())
        .expect("store artifact");
    let metrics: BTreeMap<String, f64> =
        [("auc_pr".to_string(), auc_pr), ("logloss".to_string(), 0.1)].into();
    store
        .register_version(
            &NewVersion {
                model: model.into(),
                run_id: None,
                artifact_uri: stored.uri,
                artifact_sha256: stored.sha256,
                schema_hash: schema.into(),
                holdout_snapshot: Some(holdout.into()),
                metrics,
                owner: "ana".into(),
                description: String::new(),
            },
            &actor(),
            "test",
        )
        .expect("register version")
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) + (std::process::id() as u64) * 1_000_000
}
