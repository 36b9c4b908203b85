//! `fathom models lineage`: what produced a version — its data snapshot,
//! holdout, input contract and fitted features, the run with all its
//! parameters, the code, seed and fathom version, and the artifact.

use crate::config::Config;
use crate::store::open;
use crate::ui::{Ui, print_out, table};
use anyhow::Result;
use clap::Args;
use fathom_data::snapshot::{SnapshotManifest, SnapshotStore};
use fathom_model::artifact::ModelArtifact;
use fathom_model::pipeline::{DerivedFeature, FeaturePipeline, Formula, InputTransform, Levels};
use fathom_registry::{ModelVersion, RunInfo};
use serde::Serialize;
use std::collections::BTreeMap;

/// `fathom models lineage`
#[derive(Args, Debug)]
pub struct LineageArgs {
    /// NAME@VERSION, NAME@ALIAS, or NAME (its production version).
    pub reference: String,
}

/// Everything that went into one version.
#[derive(Debug, Serialize)]
pub struct VersionLineage {
    /// The model.
    pub model: String,
    /// The version number.
    pub version: i64,
    /// The registered artifact.
    pub artifact: ArtifactLineage,
    /// Hash of the input schema contract the version was registered with.
    pub schema_hash: String,
    /// The snapshot the version was evaluated on, when recorded.
    pub holdout_snapshot: Option<String>,
    /// The training data.
    pub data: DataLineage,
    /// The run that produced it (`None` for a version registered from a
    /// file).
    pub run: Option<RunLineage>,
    /// The code version: the run's source version, else the artifact's
    /// git commit.
    pub code_version: Option<String>,
    /// The seed: the run's, else the artifact's.
    pub seed: Option<i64>,
    /// The fathom version that trained it.
    pub fathom_version: Option<String>,
    /// The input contract and fitted features, from the artifact.
    pub features: Option<FeatureLineage>,
    /// Why `features` is missing (the artifact cannot be read).
    pub features_unavailable: Option<String>,
}

/// Where the version's bytes are.
#[derive(Debug, Serialize)]
pub struct ArtifactLineage {
    /// Artifact URI.
    pub uri: String,
    /// SHA-256 of the artifact.
    pub sha256: String,
}

/// The training data snapshot.
#[derive(Debug, Serialize)]
pub struct DataLineage {
    /// Snapshot id (content hash), when recorded.
    pub snapshot: Option<String>,
    /// The snapshot's manifest, when it is in the store folder.
    pub manifest: Option<SnapshotManifest>,
    /// Why the manifest is missing.
    pub manifest_unavailable: Option<String>,
}

/// The producing run.
#[derive(Debug, Serialize)]
pub struct RunLineage {
    /// Its record (id, experiment, name, status, times, host).
    pub info: RunInfo,
    /// Every parameter it logged.
    pub params: BTreeMap<String, String>,
}

/// The model's input contract and fitted feature pipeline.
#[derive(Debug, Serialize)]
pub struct FeatureLineage {
    /// The contract's columns.
    pub columns: Vec<ContractColumn>,
    /// One fitted transform per input column.
    pub transforms: Vec<TransformLineage>,
    /// Features computed from other inputs.
    pub derived: Vec<DerivedLineage>,
    /// The estimator's input features, in order.
    pub feature_names: Vec<String>,
}

/// One column of the input contract.
#[derive(Debug, Serialize)]
pub struct ContractColumn {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub column_type: String,
    /// Role (feature, label, id, key, timestamp, ignore).
    pub role: String,
}

/// One fitted input transform.
#[derive(Debug, Serialize)]
pub struct TransformLineage {
    /// The input column.
    pub column: String,
    /// What it does, in words.
    pub summary: String,
    /// The features it produces.
    pub features: Vec<String>,
    /// The fitted transform as stored.
    pub fitted: InputTransform,
}

/// One derived feature.
#[derive(Debug, Serialize)]
pub struct DerivedLineage {
    /// The feature's name.
    pub name: String,
    /// Its formula over the input columns.
    pub formula: String,
}

/// How many trained levels `levels` holds (they serialise as their list).
fn level_count(levels: &Levels) -> usize {
    serde_json::to_value(levels)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn formula_text(f: &Formula, pipeline: &FeaturePipeline) -> String {
    let col = |i: usize| {
        pipeline
            .inputs
            .get(i)
            .map_or_else(|| format!("input {i}"), |t| t.column().to_string())
    };
    match f {
        Formula::Log1p { of } => format!("log1p({})", col(*of)),
        Formula::Ratio { a, b } => format!("{} / {}", col(*a), col(*b)),
        Formula::Difference { a, b } => format!("{} − {}", col(*a), col(*b)),
        Formula::Product { a, b } => format!("{} · {}", col(*a), col(*b)),
        Formula::Frequency { of, levels, .. } => {
            format!("frequency of {} ({} levels)", col(*of), level_count(levels))
        }
    }
}

fn derived(d: &DerivedFeature, pipeline: &FeaturePipeline) -> DerivedLineage {
    DerivedLineage {
        name: d.name.clone(),
        formula: formula_text(&d.formula, pipeline),
    }
}

/// The input contract and fitted features of an artifact.
pub fn feature_lineage(a: &ModelArtifact) -> FeatureLineage {
    FeatureLineage {
        columns: a
            .schema
            .columns
            .iter()
            .map(|c| ContractColumn {
                name: c.name.clone(),
                column_type: c.column_type.name().to_string(),
                role: c.role.name().to_string(),
            })
            .collect(),
        transforms: a
            .pipeline
            .inputs
            .iter()
            .map(|t| TransformLineage {
                column: t.column().to_string(),
                summary: crate::commands::model::describe_transform(t),
                features: t.feature_names(),
                fitted: t.clone(),
            })
            .collect(),
        derived: a
            .pipeline
            .derived
            .iter()
            .map(|d| derived(d, &a.pipeline))
            .collect(),
        feature_names: a.pipeline.feature_names(),
    }
}

/// Collects the lineage of `v` from the store, its artifact and the
/// snapshot folder.
pub fn collect(
    config: &Config,
    store: &mut fathom_registry::Store,
    v: &ModelVersion,
) -> Result<VersionLineage> {
    let recorded = store.lineage(&v.model, v.version)?;
    let artifact = store
        .load_artifact(&v.model, v.version)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| {
            Ok(ModelArtifact::from_bytes(
                &bytes,
                &format!("{}@{}", v.model, v.version),
            )?)
        });
    let (artifact, features_unavailable) = match artifact {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let run = recorded.run.map(|r| RunLineage {
        info: r.info,
        params: r.params,
    });
    let snapshot = run
        .as_ref()
        .and_then(|r| r.info.data_snapshot.clone())
        .or_else(|| {
            artifact
                .as_ref()
                .and_then(|a| a.lineage.data_snapshot.clone())
        });
    let (manifest, manifest_unavailable) = match &snapshot {
        Some(id) => match SnapshotStore::new(&config.store.path).get(id) {
            Ok(m) => (Some(m), None),
            Err(e) => (
                None,
                Some(format!(
                    "not readable from {} ({e})",
                    SnapshotStore::new(&config.store.path).root().display()
                )),
            ),
        },
        None => (None, Some("no snapshot was recorded".into())),
    };
    let code_version = run
        .as_ref()
        .and_then(|r| r.info.source_version.clone())
        .or_else(|| artifact.as_ref().and_then(|a| a.lineage.git_commit.clone()));
    let seed = run.as_ref().and_then(|r| r.info.seed).or_else(|| {
        artifact
            .as_ref()
            .and_then(|a| i64::try_from(a.lineage.seed).ok())
    });
    let fathom_version = run
        .as_ref()
        .map(|r| r.info.fathom_version.clone())
        .or_else(|| artifact.as_ref().map(|a| a.lineage.fathom_version.clone()));
    Ok(VersionLineage {
        model: v.model.clone(),
        version: v.version,
        artifact: ArtifactLineage {
            uri: v.artifact_uri.clone(),
            sha256: v.artifact_sha256.clone(),
        },
        schema_hash: v.schema_hash.clone(),
        holdout_snapshot: v.holdout_snapshot.clone(),
        data: DataLineage {
            snapshot,
            manifest,
            manifest_unavailable,
        },
        run,
        code_version,
        seed,
        fathom_version,
        features: artifact.as_ref().map(feature_lineage),
        features_unavailable,
    })
}

/// Long parameter values are cut for the table (`--json` has them whole).
fn cell(v: &str) -> String {
    if v.chars().count() > 80 {
        format!(
            "{}… ({} bytes; whole with --json)",
            v.chars().take(77).collect::<String>(),
            v.len()
        )
    } else {
        v.to_string()
    }
}

/// Runs `fathom models lineage`.
pub fn run(config: &Config, ui: &Ui, args: LineageArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let v = opened.store.resolve(&args.reference)?;
    let l = collect(config, &mut opened.store, &v)?;
    if ui.json {
        ui.print_json(&l)?;
        return Ok(0);
    }
    let none = || "–".to_string();
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(none);
    let mut t = table(&[&format!("{}@{}", l.model, l.version), "lineage"]);
    let m = l.data.manifest.as_ref();
    let mut rows = vec![
        ("data snapshot", opt(&l.data.snapshot)),
        (
            "  rows",
            m.map_or_else(|| opt(&l.data.manifest_unavailable), |m| m.rows.to_string()),
        ),
        ("  source", m.map_or_else(none, |m| m.source.clone())),
        (
            "  schema hash",
            m.map_or_else(none, |m| format!("{} ({})", m.schema_hash, m.schema_source)),
        ),
        ("  made", m.map_or_else(none, |m| m.created_at.clone())),
        ("holdout snapshot", opt(&l.holdout_snapshot)),
        ("schema hash", l.schema_hash.clone()),
    ];
    match &l.run {
        Some(r) => rows.extend([
            ("run", format!("{} ({})", r.info.id, r.info.name)),
            ("experiment", r.info.experiment.clone()),
            ("run status", r.info.status.as_str().to_string()),
            ("host", r.info.host.clone()),
        ]),
        None => rows.push(("run", "none (registered from a file)".into())),
    }
    rows.extend([
        ("code version", opt(&l.code_version)),
        ("seed", l.seed.map_or_else(none, |s| s.to_string())),
        ("fathom", opt(&l.fathom_version)),
        ("artifact", l.artifact.uri.clone()),
        ("sha256", l.artifact.sha256.clone()),
    ]);
    for (k, x) in rows {
        t.add_row(vec![k.to_string(), x]);
    }
    print_out(&t.to_string())?;

    match &l.features {
        Some(f) => {
            let mut c = table(&[
                "input column",
                "type",
                "role",
                "fitted transform",
                "features",
            ]);
            for col in &f.columns {
                let fitted = f.transforms.iter().find(|t| t.column == col.name);
                c.add_row(vec![
                    col.name.clone(),
                    col.column_type.clone(),
                    col.role.clone(),
                    fitted.map_or_else(|| "not used".into(), |t| t.summary.clone()),
                    fitted.map_or_else(String::new, |t| t.features.len().to_string()),
                ]);
            }
            print_out(&format!(
                "features ({} into the model):\n{c}",
                f.feature_names.len()
            ))?;
            if !f.derived.is_empty() {
                let mut d = table(&["derived feature", "formula"]);
                for x in &f.derived {
                    d.add_row(vec![x.name.clone(), x.formula.clone()]);
                }
                print_out(&d.to_string())?;
            }
        }
        None => print_out(&format!(
            "features: unavailable, {}",
            opt(&l.features_unavailable)
        ))?,
    }
    if let Some(r) = &l.run {
        let mut p = table(&["parameter", "value"]);
        for (k, x) in &r.params {
            p.add_row(vec![k.clone(), cell(x)]);
        }
        print_out(&format!("parameters of run {}:\n{p}", r.info.id))?;
    }
    Ok(0)
}
