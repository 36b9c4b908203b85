//! `fathom models reproduce NAME@VERSION`: re-trains a registered version
//! from its recorded data snapshot, training settings and seed, and
//! compares the new artifact's bytes with the registered one's.

pub mod diff;

use crate::commands::train::train_frame;
use crate::config::Config;
use crate::store::{Opened, open};
use crate::tracking::source_version;
use crate::ui::{Ui, print_out, table};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::FrameHasher;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_data::snapshot::SnapshotStore;
use fathom_learn::trainer::TrainConfig;
use fathom_model::artifact::ModelArtifact;
use fathom_registry::{MetricPoint, ModelVersion, NewRun, RunBatch, RunId};
use serde::Serialize;

/// Exit status when the re-trained artifact differs from the registered one.
pub const EXIT_NOT_REPRODUCED: u8 = 5;

/// The name of the settings artifact a training's winning run keeps.
const SETTINGS_ARTIFACT: &str = "train_config.json";

/// `fathom models reproduce`
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// The version to re-train: NAME@VERSION (NAME@ALIAS works too).
    pub reference: String,
    /// Most differing places in the artifacts to list; the rest are
    /// counted.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_differences: usize,
}

/// What the training is repeated from.
struct Recipe {
    /// The recorded training settings.
    config: TrainConfig,
    /// Where they were read from.
    config_source: String,
    /// The data snapshot's id.
    snapshot: String,
    /// The version's source run.
    run: Option<RunId>,
    /// Disagreements between the records, for the reader.
    notes: Vec<String>,
}

/// The outcome, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Outcome {
    model: String,
    version: i64,
    /// `identical` or `different`.
    verdict: &'static str,
    registered_sha256: String,
    reproduced_sha256: String,
    source_run: Option<RunId>,
    settings_from: String,
    data_snapshot: String,
    seed: u64,
    notes: Vec<String>,
    /// Only when the verdict is `different`.
    #[serde(skip_serializing_if = "Option::is_none")]
    differences: Option<diff::Differences>,
    /// The run this check was recorded as, in experiment `NAME-reproduce`.
    run: RunId,
}

/// Runs `fathom models reproduce`.
pub fn run(config: &Config, ui: &Ui, args: ReproduceArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let version = opened.store.resolve(&args.reference)?;
    let name = format!("{}@{}", version.model, version.version);
    let bytes = opened
        .store
        .load_artifact(&version.model, version.version)
        .with_context(|| format!("reading the artifact of {name}"))?;
    let registered = ModelArtifact::from_bytes(&bytes, &name)?;
    let recipe = recipe(&mut opened, &version, &registered)?;

    let snapshots = SnapshotStore::new(&config.store.path);
    let manifest = snapshots.get(&recipe.snapshot).map_err(|e| {
        anyhow::anyhow!(
            "{name} was trained on data snapshot {} but the snapshot cannot be read from {} ({e}); \
             restore the folder snapshots/{} of the store (from a backup) and run this again",
            recipe.snapshot,
            snapshots.root().display(),
            recipe.snapshot
        )
    })?;
    let data = snapshots.data_path(&manifest.id);
    ui.note(format!(
        "re-training {name} on snapshot {} ({} rows) with the settings of {} (seed {}) …",
        &manifest.id[..manifest.id.len().min(12)],
        manifest.rows,
        recipe.config_source,
        recipe.config.seed
    ));
    let frame = read_frame(
        &data,
        &ReadOptions {
            schema: Some(registered.schema.clone()),
            ..Default::default()
        },
    )
    .with_context(|| {
        format!(
            "reading data snapshot {}; restore it from a backup of the store",
            manifest.id
        )
    })?;
    let mut hasher = FrameHasher::default();
    hasher.update(&frame)?;
    let content = hasher.finish();
    if content != manifest.id {
        bail!(
            "data snapshot {} is damaged: its data now hashes to {content}; restore the folder {} from a backup of the store",
            manifest.id,
            data.parent().unwrap_or(&data).display()
        );
    }
    let trained = train_frame(
        &frame,
        &registered.schema,
        &recipe.config,
        Some(manifest.id.clone()),
        ui,
    )
    .with_context(|| format!("re-training {name} on data snapshot {}", manifest.id))?;
    let again = trained.artifact.to_bytes()?;
    let reproduced_sha256 = fathom_core::sha256_hex(&again);
    let identical = again == bytes;
    let differences = if identical {
        None
    } else {
        Some(diff::compare(
            &registered,
            &trained.artifact,
            args.max_differences,
        )?)
    };
    let mut outcome = Outcome {
        model: version.model.clone(),
        version: version.version,
        verdict: if identical { "identical" } else { "different" },
        registered_sha256: version.artifact_sha256.clone(),
        reproduced_sha256,
        source_run: recipe.run,
        settings_from: recipe.config_source,
        data_snapshot: manifest.id,
        seed: recipe.config.seed,
        notes: recipe.notes,
        differences,
        run: 0,
    };
    outcome.run = record(&mut opened, &outcome)?;
    if ui.json {
        ui.print_json(&outcome)?;
    } else {
        print(&name, &outcome)?;
    }
    Ok(if identical { 0 } else { EXIT_NOT_REPRODUCED })
}

/// The recorded settings and snapshot: from the version's source run (its
/// `train_config.json` artifact, else its `train_config` param; its data
/// snapshot), else from the artifact's own lineage.
fn recipe(opened: &mut Opened, version: &ModelVersion, artifact: &ModelArtifact) -> Result<Recipe> {
    let lineage = &artifact.lineage;
    let mut notes = Vec::new();
    let (json, config_source, snapshot) = match version.run_id {
        Some(id) => {
            let run = opened.store.run(id).with_context(|| {
                format!(
                    "reading run {id}, the source of version {}",
                    version.version
                )
            })?;
            let (json, source) = match run.artifacts.iter().find(|a| a.name == SETTINGS_ARTIFACT) {
                Some(a) => {
                    let bytes = fathom_registry::artifacts::read_verified(&a.uri, &a.sha256)
                        .with_context(|| {
                            format!("reading the {SETTINGS_ARTIFACT} artifact of run {id}")
                        })?;
                    let json: serde_json::Value =
                        serde_json::from_slice(&bytes).with_context(|| {
                            format!("the {SETTINGS_ARTIFACT} artifact of run {id} is not JSON")
                        })?;
                    (json, format!("run {id} ({SETTINGS_ARTIFACT})"))
                }
                None => match run.params.get("train_config") {
                    Some(text) => (
                        serde_json::from_str(text).with_context(|| {
                            format!("the train_config param of run {id} is not JSON")
                        })?,
                        format!("run {id} (param train_config)"),
                    ),
                    None => {
                        notes.push(format!(
                            "run {id} records no training settings; the model's own lineage is used"
                        ));
                        (lineage.params.clone(), "the model's lineage".to_string())
                    }
                },
            };
            let snapshot = run
                .info
                .data_snapshot
                .clone()
                .or_else(|| run.params.get("data_snapshot").cloned());
            if let (Some(s), Some(seed)) =
                (&run.info.seed, json.get("seed").and_then(|v| v.as_i64()))
                && *s != seed
            {
                notes.push(format!(
                    "run {id} records seed {s} but its settings say {seed}; the settings are used"
                ));
            }
            (json, source, snapshot)
        }
        None => {
            notes.push(format!(
                "version {} has no source run (registered from a file); the model's own lineage is used",
                version.version
            ));
            (
                lineage.params.clone(),
                "the model's lineage".to_string(),
                None,
            )
        }
    };
    let snapshot = match (snapshot, &lineage.data_snapshot) {
        (Some(s), Some(l)) if s != *l => {
            notes.push(format!(
                "the source run records data snapshot {s} but the model's lineage says {l}; the run's is used"
            ));
            s
        }
        (Some(s), _) => s,
        (None, Some(l)) => l.clone(),
        (None, None) => bail!(
            "{}@{} records no data snapshot, so the data it was trained on is unknown and it cannot be re-trained; \
             models trained by `fathom train` or `fathom quickstart` record one",
            version.model,
            version.version
        ),
    };
    let config: TrainConfig = serde_json::from_value(json).with_context(|| {
        format!(
            "the training settings recorded in {config_source} cannot be read by this fathom ({}); \
             reproduce it with the fathom version that trained it ({})",
            env!("CARGO_PKG_VERSION"),
            lineage.fathom_version
        )
    })?;
    Ok(Recipe {
        config,
        config_source,
        snapshot,
        run: version.run_id,
        notes,
    })
}

/// Records the check as a run of `NAME-reproduce`: the version, both
/// checksums and the settings' source as params, the number of differing
/// places as a metric, the verdict as a tag.
fn record(opened: &mut Opened, outcome: &Outcome) -> Result<RunId> {
    let experiment = format!("{}-reproduce", outcome.model);
    let mut new = NewRun::new(
        &experiment,
        format!("reproduce {}@{}", outcome.model, outcome.version),
    );
    new.source_version = Some(source_version());
    new.data_snapshot = Some(outcome.data_snapshot.clone());
    new.seed = i64::try_from(outcome.seed).ok();
    let store = &mut opened.store;
    let id = store
        .start_run(&new)
        .with_context(|| format!("recording the check in experiment {experiment}"))?;
    let differing = outcome
        .differences
        .as_ref()
        .map_or(0, |d| d.paths.len() + d.more);
    let mut params = vec![
        (
            "model_version".to_string(),
            format!("{}@{}", outcome.model, outcome.version),
        ),
        (
            "registered_sha256".into(),
            outcome.registered_sha256.clone(),
        ),
        (
            "reproduced_sha256".into(),
            outcome.reproduced_sha256.clone(),
        ),
        ("settings_from".into(), outcome.settings_from.clone()),
        ("data_snapshot".into(), outcome.data_snapshot.clone()),
        ("seed".into(), outcome.seed.to_string()),
    ];
    if let Some(r) = outcome.source_run {
        params.push(("source_run".into(), r.to_string()));
    }
    let batch = RunBatch {
        params,
        metrics: vec![MetricPoint::new("differing_places", differing as f64)],
        tags: vec![
            ("verdict".to_string(), outcome.verdict.to_string()),
            ("model".to_string(), outcome.model.clone()),
            ("version".to_string(), outcome.version.to_string()),
        ],
    };
    let logged = store
        .log_batch(id, &batch)
        .and_then(|()| store.finish_run(id));
    if let Err(e) = logged {
        let _ = store.fail_run(id, &e.to_string());
        return Err(e).with_context(|| format!("recording the check as run {id}"));
    }
    Ok(id)
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(name: &str, o: &Outcome) -> Result<()> {
    for n in &o.notes {
        print_out(&format!("note: {n}"))?;
    }
    let from = format!(
        "data snapshot {}, settings of {}, seed {}",
        o.data_snapshot, o.settings_from, o.seed
    );
    let Some(d) = &o.differences else {
        return print_out(&format!(
            "{name} reproduced bit for bit: sha256 {} ({from}); recorded as run {} in experiment {}-reproduce",
            o.reproduced_sha256, o.run, o.model
        ));
    };
    print_out(&format!(
        "{name} NOT reproduced ({from}):\n  registered sha256 {}\n  reproduced sha256 {}",
        o.registered_sha256, o.reproduced_sha256
    ))?;
    let mut t = table(&["", "what", "registered", "reproduced"]);
    for c in &d.checks {
        t.add_row(vec![
            if c.same { "=" } else { "≠" }.to_string(),
            c.what.clone(),
            c.registered.clone(),
            c.reproduced.clone(),
        ]);
    }
    print_out(&t.to_string())?;
    if !d.paths.is_empty() {
        let mut t = table(&["where", "registered", "reproduced"]);
        for p in &d.paths {
            t.add_row(vec![
                p.path.clone(),
                text(&p.registered),
                text(&p.reproduced),
            ]);
        }
        print_out(&format!("differing places in the artifact:\n{t}"))?;
    }
    if d.more > 0 {
        print_out(&format!(
            "… and {} more differing places (--max-differences N lists more)",
            d.more
        ))?;
    }
    print_out(&format!(
        "recorded as run {} in experiment {}-reproduce",
        o.run, o.model
    ))
}
