//! Opening the tracking store, the artifact store and who is acting; the
//! holdout id that makes registered metrics comparable; how refused
//! promotions are shown.

use crate::config::Config;
use crate::ui::table;
use anyhow::{Context, Result};
use fathom_registry::artifacts::{ArtifactStore, open_artifact_store};
use fathom_registry::{Actor, GateFailure, MetricGoal, Store};
use std::sync::Arc;

/// Exit status when the promotion gate refuses a promotion.
pub const EXIT_REFUSED: u8 = 4;

/// The tracking store and registry, with the artifact store attached.
pub struct Opened {
    /// Runs and registry.
    pub store: Store,
    /// Checksummed artifacts: a local folder or an S3-compatible bucket.
    pub artifacts: Arc<dyn ArtifactStore>,
}

/// Opens the configured database (creating the SQLite file and applying
/// migrations as needed) and the artifact store.
pub fn open(config: &Config) -> Result<Opened> {
    let location = config.store.database_location();
    let where_ = config.store.artifacts_location();
    let artifacts = open_artifact_store(&where_)
        .with_context(|| format!("opening the artifact store {where_}"))?;
    let mut store = Store::open(&location)?.with_artifact_store(artifacts.clone());
    // A webhook newly added to fathom.toml hears about changes from now on.
    store.subscribe(&config.registry.webhooks)?;
    Ok(Opened { store, artifacts })
}

/// The person running fathom, on this host.
pub fn actor() -> Actor {
    Actor::current()
}

/// Identifies the rows a model was judged on: the data snapshot plus the
/// split settings (test and validation fractions and seed) that pick the
/// held-out rows from it. `None` without a snapshot. `params` is the
/// training configuration as JSON (the model's lineage parameters).
pub fn holdout_id(snapshot: Option<&str>, params: &serde_json::Value) -> Option<String> {
    let snapshot = snapshot?;
    let text = format!(
        "holdout/v1 snapshot={snapshot} test_fraction={} valid_fraction={} seed={}",
        params["test_fraction"], params["valid_fraction"], params["seed"]
    );
    Some(fathom_core::sha256_hex(text.as_bytes()))
}

/// A gate failure as three cells: rule, what was required, what was found.
pub fn failure_cells(f: &GateFailure) -> [String; 3] {
    let rel = |goal: &MetricGoal| match goal {
        MetricGoal::Maximize => "≥",
        MetricGoal::Minimize => "≤",
    };
    let short = |s: &str| s.chars().take(16).collect::<String>();
    let opt = |s: &Option<String>| s.as_deref().map_or_else(|| "(none)".into(), short);
    match f {
        GateFailure::MetricMissing { metric, version } => [
            "metric_missing".into(),
            format!("a value for {metric}"),
            format!("version {version} has none"),
        ],
        GateFailure::Threshold {
            metric,
            candidate,
            limit,
            goal,
        } => [
            "threshold".into(),
            format!("{metric} {} {limit:.6}", rel(goal)),
            format!("{candidate:.6}"),
        ],
        GateFailure::WorseThanCurrent {
            metric,
            candidate,
            current,
            current_version,
            tolerance,
            required,
            goal,
        } => [
            "worse_than_current".into(),
            format!(
                "{metric} {} {required:.6} (version {current_version}: {current:.6}, tolerance {tolerance})",
                rel(goal)
            ),
            format!("{candidate:.6}"),
        ],
        GateFailure::SchemaMismatch {
            candidate,
            current,
            current_version,
        } => [
            "schema_mismatch".into(),
            format!("schema {} (version {current_version})", short(current)),
            format!("schema {}", short(candidate)),
        ],
        GateFailure::HoldoutMismatch {
            candidate,
            current,
            current_version,
        } => [
            "holdout_mismatch".into(),
            format!("holdout {} (version {current_version})", opt(current)),
            format!("holdout {}", opt(candidate)),
        ],
    }
}

/// Prints a refused promotion, one row per failed rule, on stderr.
pub fn print_refusal(model: &str, version: i64, alias: &str, failures: &[GateFailure]) {
    let mut t = table(&["rule", "expected", "found"]);
    for f in failures {
        t.add_row(failure_cells(f).to_vec());
    }
    eprintln!(
        "promotion of {model} version {version} to '{alias}' refused by the gate:\n{t}\nNothing was changed. Fix the candidate, or pass --force --reason \"…\" to override (recorded in the audit log)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_id_follows_snapshot_and_split() {
        let p = serde_json::json!({"test_fraction": 0.2, "valid_fraction": 0.2, "seed": 42});
        let a = holdout_id(Some("abc"), &p).unwrap();
        assert_eq!(a, holdout_id(Some("abc"), &p).unwrap());
        assert_ne!(a, holdout_id(Some("abd"), &p).unwrap());
        let q = serde_json::json!({"test_fraction": 0.2, "valid_fraction": 0.2, "seed": 7});
        assert_ne!(a, holdout_id(Some("abc"), &q).unwrap());
        assert_eq!(holdout_id(None, &p), None);
    }
}
