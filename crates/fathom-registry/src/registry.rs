//! The model registry: registered models, their versions, aliases with
//! history, gated promotion, rollback and archiving.
//!
//! Every change runs in one write transaction that first locks the model
//! (SQLite: the write lock of `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR
//! UPDATE` on the model's row), so concurrent promotions are serialised:
//! an alias always names exactly one version and no move is lost. The
//! audit entry and the registry event are written in the same transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::actor::Actor;
use crate::artifacts::{ArtifactStore, check_sha256};
use crate::audit::{AuditAction, AuditRecord, append};
use crate::clock::from_micros;
use crate::error::{RegistryError, Result};
use crate::events::{self, EventKind, NewEvent};
use crate::gate::PromotionPolicy;
use crate::store::{Store, Tx};
use crate::tracking::{RunId, check_key, load_run_info};
use crate::value::{Row, params};

/// The alias the promotion gate guards by default.
pub const PRODUCTION: &str = "production";

/// A registered model: a name under which versions are kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModel {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What it is for (and not for), for the model card.
    pub intended_use: String,
    /// Known limitations, for the model card.
    pub limitations: String,
    /// Who answers for it.
    pub owner: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its aliases and the version each names.
    pub aliases: BTreeMap<String, i64>,
    /// Its highest version number (0 if none).
    pub latest_version: i64,
}

/// What a new registered model records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewModel {
    /// Unique name: letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What it is for (and not for).
    pub intended_use: String,
    /// Known limitations.
    pub limitations: String,
    /// Who answers for it.
    pub owner: String,
}

/// New text for a registered model's card fields; `None` leaves a field
/// as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelDescription {
    /// The model's name: letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// What it is for (and not for).
    pub intended_use: Option<String>,
    /// Known limitations.
    pub limitations: Option<String>,
    /// Who answers for it.
    pub owner: Option<String>,
}

impl ModelDescription {
    /// The fields given, by their stored names.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("description", &self.description),
            ("intended_use", &self.intended_use),
            ("limitations", &self.limitations),
            ("owner", &self.owner),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v.trim())))
        .collect()
    }
}

/// The most characters a model card field holds.
pub const MAX_CARD_FIELD_CHARS: usize = 8_000;

/// Whether a version can still be promoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Usable.
    Active,
    /// Kept, but no longer promotable.
    Archived,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    /// The model's name.
    pub model: String,
    /// Version number, from 1.
    pub version: i64,
    /// The run that produced it.
    pub run_id: Option<RunId>,
    /// Where the artifact is.
    pub artifact_uri: String,
    /// SHA-256 of the artifact, checked before every promotion and load.
    pub artifact_sha256: String,
    /// Hash of the input schema contract.
    pub schema_hash: String,
    /// Content hash of the snapshot it was evaluated on.
    pub holdout_snapshot: Option<String>,
    /// Evaluation metrics (on the holdout).
    pub metrics: BTreeMap<String, f64>,
    /// Who answers for it.
    pub owner: String,
    /// What changed in this version.
    pub description: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Active or archived.
    pub status: VersionStatus,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// Aliases naming it now.
    pub aliases: Vec<String>,
}

/// What a new version records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewVersion {
    /// The model's name; the model is created (owned by `owner`) if new.
    pub model: String,
    /// The run that produced it.
    pub run_id: Option<RunId>,
    /// Where the artifact is (`file:///…` for the local store).
    pub artifact_uri: String,
    /// SHA-256 of the artifact (64 lowercase hex digits).
    pub artifact_sha256: String,
    /// Hash of the input schema contract.
    pub schema_hash: String,
    /// Content hash of the snapshot it was evaluated on.
    pub holdout_snapshot: Option<String>,
    /// Evaluation metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Who answers for it.
    pub owner: String,
    /// What changed in this version.
    pub description: String,
}

/// A request to point an alias at a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// The model.
    pub model: String,
    /// The version.
    pub version: i64,
    /// The alias (`production`, `staging`, `candidate` or any name).
    pub alias: String,
    /// Move a gated alias even if the gate fails (audited with the
    /// failures it overrode). A changed artifact is refused regardless.
    pub force: bool,
}

/// The result of an alias change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasMove {
    /// The model.
    pub model: String,
    /// The alias.
    pub alias: String,
    /// The version it named before (`None` if new).
    pub from: Option<i64>,
    /// The version it names now (`None` if removed).
    pub to: Option<i64>,
    /// False when the alias already named the version (nothing written).
    pub changed: bool,
    /// Gate rules overridden by `force`.
    pub overridden: Vec<crate::gate::GateFailure>,
    /// The audit entry of the change.
    pub audit_id: Option<i64>,
}

/// One move of an alias, from its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasEvent {
    /// The alias.
    pub alias: String,
    /// The version it named before.
    pub from: Option<i64>,
    /// The version it named after (`None` when removed).
    pub to: Option<i64>,
    /// `set`, `promote`, `force`, `rollback` or `remove`.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The audit entry (who and why).
    pub audit_id: i64,
}

/// Where a version came from: the run, data and code that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    /// The version.
    pub version: ModelVersion,
    /// The producing run, if recorded.
    pub run: Option<crate::tracking::Run>,
}

fn valid_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            format!("{what} '{name}'"),
            "use 1 to 128 letters, digits, '-', '_' or '.'",
        ))
    }
}

fn valid_alias(alias: &str) -> Result<()> {
    let ok = alias.len() <= 64
        && alias.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && alias
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            format!("alias '{alias}'"),
            "an alias starts with a lowercase letter and has up to 64 lowercase letters, digits, '-' or '_' (e.g. production, staging, candidate)",
        ))
    }
}

struct ModelRow {
    id: i64,
    name: String,
}

const MODEL_COLUMNS: &str =
    "id, name, description, intended_use, limitations, owner, created_at, updated_at";

fn model_not_found(tx: &mut Tx<'_>, name: &str) -> RegistryError {
    let names: Vec<String> = tx
        .rows(
            "SELECT name FROM registered_models ORDER BY name LIMIT 20",
            params![],
        )
        .map(|rows| rows.iter().filter_map(|r| r.text(0).ok()).collect())
        .unwrap_or_default();
    RegistryError::NotFound {
        kind: "model",
        name: name.to_owned(),
        hint: Some(if names.is_empty() {
            "no model is registered yet".into()
        } else {
            format!("registered models: {}", names.join(", "))
        }),
    }
}

/// Finds and locks the model's row until the transaction ends.
fn lock_model(tx: &mut Tx<'_>, name: &str) -> Result<ModelRow> {
    let sql = format!(
        "SELECT id, name FROM registered_models WHERE name = $1{}",
        tx.dialect().for_update()
    );
    match tx.opt(&sql, params![name])? {
        Some(r) => Ok(ModelRow {
            id: r.int(0)?,
            name: r.text(1)?,
        }),
        None => Err(model_not_found(tx, name)),
    }
}

fn load_model(tx: &mut Tx<'_>, name: &str) -> Result<RegisteredModel> {
    let row = match tx.opt(
        &format!("SELECT {MODEL_COLUMNS} FROM registered_models WHERE name = $1"),
        params![name],
    )? {
        Some(r) => r,
        None => return Err(model_not_found(tx, name)),
    };
    model_from_row(tx, &row)
}

fn model_from_row(tx: &mut Tx<'_>, row: &Row) -> Result<RegisteredModel> {
    let id = row.int(0)?;
    let aliases = tx
        .rows(
            "SELECT a.alias, v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id
             WHERE a.model_id = $1 ORDER BY a.alias",
            params![id],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect::<Result<_>>()?;
    let latest_version = tx
        .one(
            "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE model_id = $1",
            params![id],
        )?
        .int(0)?;
    Ok(RegisteredModel {
        id,
        name: row.text(1)?,
        description: row.text(2)?,
        intended_use: row.text(3)?,
        limitations: row.text(4)?,
        owner: row.text(5)?,
        created_at: from_micros(row.int(6)?),
        updated_at: from_micros(row.int(7)?),
        aliases,
        latest_version,
    })
}

const VERSION_COLUMNS: &str = "v.id, v.version, v.run_id, v.artifact_uri, v.artifact_sha256, v.schema_hash, \
     v.holdout_snapshot, v.owner, v.description, v.created_at, v.status, v.archived_at";

/// A version with its row id.
fn version_from_row(tx: &mut Tx<'_>, model: &str, row: &Row) -> Result<(i64, ModelVersion)> {
    let id = row.int(0)?;
    let metrics = tx
        .rows(
            "SELECT key, value FROM version_metrics WHERE version_id = $1 ORDER BY key",
            params![id],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.real(1)?)))
        .collect::<Result<_>>()?;
    let aliases = tx
        .rows(
            "SELECT alias FROM model_aliases WHERE version_id = $1 ORDER BY alias",
            params![id],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let status = match row.text(10)?.as_str() {
        "archived" => VersionStatus::Archived,
        _ => VersionStatus::Active,
    };
    Ok((
        id,
        ModelVersion {
            model: model.to_owned(),
            version: row.int(1)?,
            run_id: row.opt_int(2)?,
            artifact_uri: row.text(3)?,
            artifact_sha256: row.text(4)?,
            schema_hash: row.text(5)?,
            holdout_snapshot: row.opt_text(6)?,
            metrics,
            owner: row.text(7)?,
            description: row.text(8)?,
            created_at: from_micros(row.int(9)?),
            status,
            archived_at: row.opt_int(11)?.map(from_micros),
            aliases,
        },
    ))
}

fn load_version(tx: &mut Tx<'_>, model: &ModelRow, version: i64) -> Result<(i64, ModelVersion)> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.model_id = $1 AND v.version = $2"
    );
    match tx.opt(&sql, params![model.id, version])? {
        Some(r) => version_from_row(tx, &model.name, &r),
        None => {
            let latest = tx
                .one(
                    "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE model_id = $1",
                    params![model.id],
                )?
                .int(0)?;
            Err(RegistryError::NotFound {
                kind: "model version",
                name: format!("{}@{version}", model.name),
                hint: Some(if latest == 0 {
                    format!("{} has no versions yet", model.name)
                } else {
                    format!("{} has versions 1 to {latest}", model.name)
                }),
            })
        }
    }
}

fn version_by_id(tx: &mut Tx<'_>, model: &str, id: i64) -> Result<ModelVersion> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.id = $1");
    let row = tx.one(&sql, params![id])?;
    Ok(version_from_row(tx, model, &row)?.1)
}

/// The version id an alias names now.
fn alias_target(tx: &mut Tx<'_>, model_id: i64, alias: &str) -> Result<Option<i64>> {
    tx.opt(
        "SELECT version_id FROM model_aliases WHERE model_id = $1 AND alias = $2",
        params![model_id, alias],
    )?
    .map(|r| r.int(0))
    .transpose()
}

fn alias_not_found(tx: &mut Tx<'_>, model: &ModelRow, alias: &str) -> RegistryError {
    let names: Vec<String> = tx
        .rows(
            "SELECT alias FROM model_aliases WHERE model_id = $1 ORDER BY alias",
            params![model.id],
        )
        .map(|rows| rows.iter().filter_map(|r| r.text(0).ok()).collect())
        .unwrap_or_default();
    RegistryError::NotFound {
        kind: "alias",
        name: format!("{}@{alias}", model.name),
        hint: Some(if names.is_empty() {
            format!("{} has no aliases yet; promote a version first", model.name)
        } else {
            format!("{} has aliases {}", model.name, names.join(", "))
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn move_alias(
    tx: &mut Tx<'_>,
    model: &ModelRow,
    alias: &str,
    from: Option<i64>,
    to: Option<i64>,
    kind: &str,
    now: i64,
    audit_id: i64,
) -> Result<()> {
    match to {
        Some(v) => {
            tx.exec(
                "INSERT INTO model_aliases (model_id, alias, version_id, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id, updated_at = excluded.updated_at",
                params![model.id, alias, v, now],
            )?;
        }
        None => {
            tx.exec(
                "DELETE FROM model_aliases WHERE model_id = $1 AND alias = $2",
                params![model.id, alias],
            )?;
        }
    }
    tx.exec(
        "INSERT INTO alias_history (model_id, alias, version_id, previous_version_id, kind, moved_at, audit_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![model.id, alias, to, from, kind, now, audit_id],
    )?;
    tx.exec(
        "UPDATE registered_models SET updated_at = $1 WHERE id = $2",
        params![now, model.id],
    )?;
    Ok(())
}

fn version_number(tx: &mut Tx<'_>, id: Option<i64>) -> Result<Option<i64>> {
    match id {
        None => Ok(None),
        Some(id) => Ok(Some(
            tx.one(
                "SELECT version FROM model_versions WHERE id = $1",
                params![id],
            )?
            .int(0)?,
        )),
    }
}

impl Store {
    /// Uses `store` to read and check the artifacts it holds; other URIs
    /// are read by their scheme (`file://`, `s3://`).
    pub fn with_artifact_store(mut self, store: Arc<dyn ArtifactStore>) -> Self {
        self.artifacts = Some(store);
        self
    }

    fn verifier(&self) -> impl Fn(&str, &str) -> Result<()> + use<> {
        let store = self.artifacts.clone();
        move |uri: &str, sha: &str| crate::artifacts::verify_with(store.as_deref(), uri, sha)
    }

    /// Creates a registered model.
    pub fn create_model(
        &mut self,
        model: &NewModel,
        actor: &Actor,
        reason: &str,
    ) -> Result<RegisteredModel> {
        valid_name("model name", &model.name)?;
        let now = self.now_micros();
        self.write(|tx| {
            let created = tx.opt(
                "INSERT INTO registered_models (name, description, intended_use, limitations, owner, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING RETURNING id",
                params![
                    model.name.as_str(),
                    model.description.as_str(),
                    model.intended_use.as_str(),
                    model.limitations.as_str(),
                    model.owner.as_str(),
                    now
                ],
            )?;
            if created.is_none() {
                return Err(RegistryError::AlreadyExists {
                    kind: "model",
                    name: model.name.clone(),
                });
            }
            append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::ModelCreated,
                    model: Some(&model.name),
                    version: None,
                    alias: None,
                    detail: json!({ "owner": model.owner }),
                },
            )?;
            load_model(tx, &model.name)
        })
    }

    /// Sets the description, intended use, limitations and owner given in
    /// `change` (what the model card says), creating the model if it is new.
    /// Audited as `model_updated` with each changed field's old and new
    /// text (`model_created` for a new model); a change that changes
    /// nothing writes nothing.
    pub fn describe_model(
        &mut self,
        change: &ModelDescription,
        actor: &Actor,
        reason: &str,
    ) -> Result<RegisteredModel> {
        valid_name("model name", &change.name)?;
        let fields = change.fields();
        if fields.is_empty() {
            return Err(RegistryError::invalid(
                format!("description of model '{}'", change.name),
                "nothing to change: give a description, intended use, limitations or owner",
            ));
        }
        for (field, text) in &fields {
            let chars = text.chars().count();
            if chars > MAX_CARD_FIELD_CHARS {
                return Err(RegistryError::invalid(
                    format!("{field} of model '{}'", change.name),
                    format!(
                        "has {chars} characters; at most {MAX_CARD_FIELD_CHARS} are kept: shorten it or link to a document"
                    ),
                ));
            }
        }
        let now = self.now_micros();
        self.write(|tx| {
            let sql = format!(
                "SELECT {MODEL_COLUMNS} FROM registered_models WHERE name = $1{}",
                tx.dialect().for_update()
            );
            let Some(row) = tx.opt(&sql, params![change.name.as_str()])? else {
                let text = |k: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| *f == k)
                        .map_or("", |(_, v)| *v)
                };
                tx.exec(
                    "INSERT INTO registered_models (name, description, intended_use, limitations, owner, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    params![
                        change.name.as_str(),
                        text("description"),
                        text("intended_use"),
                        text("limitations"),
                        text("owner"),
                        now
                    ],
                )?;
                let detail: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect();
                append(
                    tx,
                    now,
                    actor,
                    reason,
                    AuditRecord {
                        action: AuditAction::ModelCreated,
                        model: Some(&change.name),
                        version: None,
                        alias: None,
                        detail: serde_json::Value::Object(detail),
                    },
                )?;
                return load_model(tx, &change.name);
            };
            let before = model_from_row(tx, &row)?;
            let old = |k: &str| match k {
                "description" => before.description.as_str(),
                "intended_use" => before.intended_use.as_str(),
                "limitations" => before.limitations.as_str(),
                _ => before.owner.as_str(),
            };
            let changed: Vec<(&str, &str)> = fields
                .iter()
                .copied()
                .filter(|(k, v)| old(k) != *v)
                .collect();
            if changed.is_empty() {
                return Ok(before);
            }
            let mut detail = serde_json::Map::new();
            for (k, v) in &changed {
                // `k` is one of the four column names above, never input.
                tx.exec(
                    &format!("UPDATE registered_models SET {k} = $1 WHERE id = $2"),
                    params![*v, before.id],
                )?;
                detail.insert((*k).to_owned(), json!({ "from": old(k), "to": v }));
            }
            tx.exec(
                "UPDATE registered_models SET updated_at = $1 WHERE id = $2",
                params![now, before.id],
            )?;
            append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::ModelUpdated,
                    model: Some(&change.name),
                    version: None,
                    alias: None,
                    detail: serde_json::Value::Object(detail),
                },
            )?;
            load_model(tx, &change.name)
        })
    }

    /// A registered model, with its aliases.
    pub fn model(&mut self, name: &str) -> Result<RegisteredModel> {
        self.read(|tx| load_model(tx, name))
    }

    /// All registered models, by name.
    pub fn models(&mut self) -> Result<Vec<RegisteredModel>> {
        self.read(|tx| {
            let rows = tx.rows(
                &format!("SELECT {MODEL_COLUMNS} FROM registered_models ORDER BY name"),
                params![],
            )?;
            rows.iter().map(|r| model_from_row(tx, r)).collect()
        })
    }

    /// Registers a new version (numbered one past the highest), creating
    /// the model if it is new. The artifact must exist and match its
    /// checksum.
    pub fn register_version(
        &mut self,
        new: &NewVersion,
        actor: &Actor,
        reason: &str,
    ) -> Result<ModelVersion> {
        valid_name("model name", &new.model)?;
        check_sha256(&new.artifact_sha256)?;
        if new.schema_hash.is_empty() {
            return Err(RegistryError::invalid(
                "schema hash",
                "is empty; a version must name the input schema it expects",
            ));
        }
        for (k, v) in &new.metrics {
            check_key("metric", k)?;
            if !v.is_finite() {
                return Err(RegistryError::invalid(
                    format!("metric '{k}'"),
                    format!("the value is {v}; only finite numbers are stored"),
                ));
            }
        }
        (self.verifier())(&new.artifact_uri, &new.artifact_sha256)?;
        let now = self.now_micros();
        self.write(|tx| {
            if let Some(run) = new.run_id {
                load_run_info(tx, run)?;
            }
            let created = tx.opt(
                "INSERT INTO registered_models (name, description, intended_use, limitations, owner, created_at, updated_at)
                 VALUES ($1, '', '', '', $2, $3, $3) ON CONFLICT (name) DO NOTHING RETURNING id",
                params![new.model.as_str(), new.owner.as_str(), now],
            )?;
            if created.is_some() {
                append(
                    tx,
                    now,
                    actor,
                    reason,
                    AuditRecord {
                        action: AuditAction::ModelCreated,
                        model: Some(&new.model),
                        version: None,
                        alias: None,
                        detail: json!({ "owner": new.owner }),
                    },
                )?;
            }
            let model = lock_model(tx, &new.model)?;
            let version = tx
                .one(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = $1",
                    params![model.id],
                )?
                .int(0)?;
            let id = tx
                .one(
                    "INSERT INTO model_versions (model_id, version, run_id, artifact_uri, artifact_sha256, schema_hash,
                         holdout_snapshot, owner, description, created_at, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active') RETURNING id",
                    params![
                        model.id,
                        version,
                        new.run_id,
                        new.artifact_uri.as_str(),
                        new.artifact_sha256.as_str(),
                        new.schema_hash.as_str(),
                        new.holdout_snapshot.clone(),
                        new.owner.as_str(),
                        new.description.as_str(),
                        now
                    ],
                )?
                .int(0)?;
            for (k, v) in &new.metrics {
                tx.exec(
                    "INSERT INTO version_metrics (version_id, key, value) VALUES ($1, $2, $3)",
                    params![id, k.as_str(), *v],
                )?;
            }
            tx.exec(
                "UPDATE registered_models SET updated_at = $1 WHERE id = $2",
                params![now, model.id],
            )?;
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::VersionRegistered,
                    model: Some(&model.name),
                    version: Some(version),
                    alias: None,
                    detail: json!({
                        "run_id": new.run_id,
                        "artifact_uri": new.artifact_uri,
                        "artifact_sha256": new.artifact_sha256,
                        "schema_hash": new.schema_hash,
                    }),
                },
            )?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::VersionRegistered,
                    model: &model.name,
                    version: Some(version),
                    alias: None,
                    audit_id: Some(audit_id),
                    detail: json!({
                        "run_id": new.run_id,
                        "artifact_uri": new.artifact_uri,
                        "artifact_sha256": new.artifact_sha256,
                        "schema_hash": new.schema_hash,
                        "holdout_snapshot": new.holdout_snapshot,
                        "metrics": new.metrics,
                        "owner": new.owner,
                        "description": new.description,
                    }),
                },
            )?;
            version_by_id(tx, &model.name, id)
        })
    }

    /// One version.
    pub fn model_version(&mut self, model: &str, version: i64) -> Result<ModelVersion> {
        self.read(|tx| {
            let m = model_row(tx, model)?;
            Ok(load_version(tx, &m, version)?.1)
        })
    }

    /// All versions of a model, newest first.
    pub fn model_versions(&mut self, model: &str) -> Result<Vec<ModelVersion>> {
        self.read(|tx| {
            let m = model_row(tx, model)?;
            let rows = tx.rows(
                &format!("SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.model_id = $1 ORDER BY v.version DESC"),
                params![m.id],
            )?;
            rows.iter()
                .map(|r| Ok(version_from_row(tx, &m.name, r)?.1))
                .collect()
        })
    }

    /// The version an alias names now.
    pub fn version_by_alias(&mut self, model: &str, alias: &str) -> Result<ModelVersion> {
        self.read(|tx| {
            let m = model_row(tx, model)?;
            match alias_target(tx, m.id, alias)? {
                Some(id) => version_by_id(tx, &m.name, id),
                None => Err(alias_not_found(tx, &m, alias)),
            }
        })
    }

    /// A version by reference: `NAME@3`, `NAME@production` or `NAME`
    /// (its `production` alias).
    pub fn resolve(&mut self, reference: &str) -> Result<ModelVersion> {
        let (model, which) = reference.split_once('@').unwrap_or((reference, PRODUCTION));
        match which.parse::<i64>() {
            Ok(v) => self.model_version(model, v),
            Err(_) => self.version_by_alias(model, which),
        }
    }

    /// Reads a version's artifact, refusing it if its bytes no longer
    /// match the recorded checksum.
    pub fn load_artifact(&mut self, model: &str, version: i64) -> Result<Vec<u8>> {
        let v = self.model_version(model, version)?;
        crate::artifacts::read_with(
            self.artifacts.as_deref(),
            &v.artifact_uri,
            &v.artifact_sha256,
        )
    }

    /// Points an alias at a version. For an alias the policy guards (by
    /// default `production`) the candidate must pass the gate against the
    /// alias's current version, or `force` must be set (audited). The
    /// artifact's checksum is checked first; a changed artifact is always
    /// refused. A refused promotion changes nothing but is recorded in the
    /// audit log.
    pub fn promote(
        &mut self,
        request: &Promotion,
        policy: &PromotionPolicy,
        actor: &Actor,
        reason: &str,
    ) -> Result<AliasMove> {
        valid_alias(&request.alias)?;
        let verify = self.verifier();
        let now = self.now_micros();
        let gated = policy.guards(&request.alias);
        let result = self.write(|tx| {
            let model = lock_model(tx, &request.model)?;
            let (cand_id, cand) = load_version(tx, &model, request.version)?;
            if cand.status == VersionStatus::Archived {
                return Err(RegistryError::Conflict(format!(
                    "{}@{} is archived and cannot get an alias; register the model again to use it",
                    model.name, cand.version
                )));
            }
            let current_id = alias_target(tx, model.id, &request.alias)?;
            if current_id == Some(cand_id) {
                return Ok(AliasMove {
                    model: model.name.clone(),
                    alias: request.alias.clone(),
                    from: Some(cand.version),
                    to: Some(cand.version),
                    changed: false,
                    overridden: Vec::new(),
                    audit_id: None,
                });
            }
            verify(&cand.artifact_uri, &cand.artifact_sha256)?;
            let current = current_id.map(|id| version_by_id(tx, &model.name, id)).transpose()?;
            let failures = if gated {
                policy.evaluate(&cand, current.as_ref())
            } else {
                Vec::new()
            };
            if !failures.is_empty() && !request.force {
                return Err(RegistryError::PromotionRefused {
                    model: model.name.clone(),
                    version: cand.version,
                    alias: request.alias.clone(),
                    failures,
                });
            }
            let (action, kind) = match (gated, failures.is_empty()) {
                (false, _) => (AuditAction::AliasSet, "set"),
                (true, true) => (AuditAction::Promoted, "promote"),
                (true, false) => (AuditAction::PromotedForced, "force"),
            };
            let from = current.as_ref().map(|v| v.version);
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action,
                    model: Some(&model.name),
                    version: Some(cand.version),
                    alias: Some(&request.alias),
                    detail: json!({
                        "from": from,
                        "to": cand.version,
                        "gated": gated,
                        "policy": if gated { serde_json::to_value(policy).unwrap_or_default() } else { serde_json::Value::Null },
                        "overridden": failures,
                    }),
                },
            )?;
            move_alias(tx, &model, &request.alias, current_id, Some(cand_id), kind, now, audit_id)?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::AliasMoved,
                    model: &model.name,
                    version: Some(cand.version),
                    alias: Some(&request.alias),
                    audit_id: Some(audit_id),
                    detail: json!({
                        "from": from,
                        "to": cand.version,
                        "move": kind,
                        "gated": gated,
                        "forced": !failures.is_empty(),
                        "overridden": failures,
                    }),
                },
            )?;
            Ok(AliasMove {
                model: model.name.clone(),
                alias: request.alias.clone(),
                from,
                to: Some(cand.version),
                changed: true,
                overridden: failures,
                audit_id: Some(audit_id),
            })
        });
        if let Err(
            e @ (RegistryError::PromotionRefused { .. } | RegistryError::ChecksumMismatch { .. }),
        ) = &result
        {
            let detail = match e {
                RegistryError::PromotionRefused { failures, .. } => json!({
                    "failures": failures,
                    "policy": policy,
                    "message": e.to_string(),
                }),
                _ => json!({ "message": e.to_string() }),
            };
            self.record_refusal(request, actor, reason, detail, now);
        }
        result
    }

    fn record_refusal(
        &mut self,
        request: &Promotion,
        actor: &Actor,
        reason: &str,
        detail: serde_json::Value,
        now: i64,
    ) {
        // The refusal itself changed nothing; its record (audit entry and
        // event, together) is best effort so that the caller always gets
        // the refusal, not a logging error.
        let _ = self.write(|tx| {
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::PromotionRefused,
                    model: Some(&request.model),
                    version: Some(request.version),
                    alias: Some(&request.alias),
                    detail: detail.clone(),
                },
            )?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::PromotionRefused,
                    model: &request.model,
                    version: Some(request.version),
                    alias: Some(&request.alias),
                    audit_id: Some(audit_id),
                    detail: detail.clone(),
                },
            )
        });
    }

    /// Moves `alias` back to the version it named before the current one
    /// was promoted, in one transaction. Repeated rollbacks walk further
    /// back through the promotions; the target's artifact is checked.
    pub fn rollback(
        &mut self,
        model: &str,
        alias: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<AliasMove> {
        valid_alias(alias)?;
        let verify = self.verifier();
        let now = self.now_micros();
        self.write(|tx| {
            let m = lock_model(tx, model)?;
            let Some(current_id) = alias_target(tx, m.id, alias)? else {
                return Err(alias_not_found(tx, &m, alias));
            };
            // Replay the alias's history: promotions push, rollbacks pop.
            let mut stack: Vec<i64> = Vec::new();
            for r in tx.rows(
                "SELECT version_id, kind FROM alias_history WHERE model_id = $1 AND alias = $2 ORDER BY id",
                params![m.id, alias],
            )? {
                match (r.text(1)?.as_str(), r.opt_int(0)?) {
                    ("rollback", _) => {
                        stack.pop();
                    }
                    ("remove", _) | (_, None) => stack.clear(),
                    (_, Some(v)) => stack.push(v),
                }
            }
            if stack.last() != Some(&current_id) {
                stack.push(current_id);
            }
            let target_id = match stack.len() {
                n if n >= 2 => stack[n - 2],
                _ => {
                    let cur = version_number(tx, Some(current_id))?.unwrap_or(0);
                    return Err(RegistryError::Conflict(format!(
                        "{model}@{alias} names version {cur} and has no earlier version to roll back to"
                    )));
                }
            };
            let target = version_by_id(tx, &m.name, target_id)?;
            if target.status == VersionStatus::Archived {
                return Err(RegistryError::Conflict(format!(
                    "cannot roll {model}@{alias} back to version {}: it is archived",
                    target.version
                )));
            }
            verify(&target.artifact_uri, &target.artifact_sha256)?;
            let from = version_number(tx, Some(current_id))?;
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::RolledBack,
                    model: Some(&m.name),
                    version: Some(target.version),
                    alias: Some(alias),
                    detail: json!({ "from": from, "to": target.version }),
                },
            )?;
            move_alias(tx, &m, alias, Some(current_id), Some(target_id), "rollback", now, audit_id)?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::Rollback,
                    model: &m.name,
                    version: Some(target.version),
                    alias: Some(alias),
                    audit_id: Some(audit_id),
                    detail: json!({ "from": from, "to": target.version }),
                },
            )?;
            Ok(AliasMove {
                model: m.name.clone(),
                alias: alias.to_owned(),
                from,
                to: Some(target.version),
                changed: true,
                overridden: Vec::new(),
                audit_id: Some(audit_id),
            })
        })
    }

    /// Removes an alias.
    pub fn remove_alias(
        &mut self,
        model: &str,
        alias: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<AliasMove> {
        let now = self.now_micros();
        self.write(|tx| {
            let m = lock_model(tx, model)?;
            let Some(current_id) = alias_target(tx, m.id, alias)? else {
                return Err(alias_not_found(tx, &m, alias));
            };
            let from = version_number(tx, Some(current_id))?;
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::AliasRemoved,
                    model: Some(&m.name),
                    version: from,
                    alias: Some(alias),
                    detail: json!({ "from": from }),
                },
            )?;
            move_alias(
                tx,
                &m,
                alias,
                Some(current_id),
                None,
                "remove",
                now,
                audit_id,
            )?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::AliasRemoved,
                    model: &m.name,
                    version: from,
                    alias: Some(alias),
                    audit_id: Some(audit_id),
                    detail: json!({ "from": from }),
                },
            )?;
            Ok(AliasMove {
                model: m.name.clone(),
                alias: alias.to_owned(),
                from,
                to: None,
                changed: true,
                overridden: Vec::new(),
                audit_id: Some(audit_id),
            })
        })
    }

    /// Archives a version: it stays stored but can no longer be promoted.
    /// Refused while an alias names it, or if an alias moved away from it
    /// less than `retention` ago (it is a rollback target).
    pub fn archive_version(
        &mut self,
        model: &str,
        version: i64,
        retention: chrono::Duration,
        actor: &Actor,
        reason: &str,
    ) -> Result<ModelVersion> {
        let now = self.now_micros();
        let cutoff = now - retention.num_microseconds().unwrap_or(i64::MAX);
        self.write(|tx| {
            let m = lock_model(tx, model)?;
            let (id, v) = load_version(tx, &m, version)?;
            if v.status == VersionStatus::Archived {
                return Ok(v);
            }
            if !v.aliases.is_empty() {
                return Err(RegistryError::Conflict(format!(
                    "{model}@{version} is named by alias {}; move the alias first",
                    v.aliases.join(", ")
                )));
            }
            if let Some(r) = tx.opt(
                "SELECT alias, moved_at FROM alias_history WHERE previous_version_id = $1 AND moved_at >= $2 ORDER BY moved_at DESC",
                params![id, cutoff],
            )? {
                let until = from_micros(r.int(1)? + (now - cutoff));
                return Err(RegistryError::Conflict(format!(
                    "{model}@{version} was named by alias '{}' until {}; it is kept for rollback until {} (retention {} days)",
                    r.text(0)?,
                    from_micros(r.int(1)?).format("%Y-%m-%d %H:%M UTC"),
                    until.format("%Y-%m-%d %H:%M UTC"),
                    retention.num_days()
                )));
            }
            tx.exec(
                "UPDATE model_versions SET status = 'archived', archived_at = $1 WHERE id = $2",
                params![now, id],
            )?;
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::VersionArchived,
                    model: Some(&m.name),
                    version: Some(version),
                    alias: None,
                    detail: json!({ "retention_days": retention.num_days() }),
                },
            )?;
            events::record(
                tx,
                now,
                actor,
                reason,
                NewEvent {
                    kind: EventKind::VersionArchived,
                    model: &m.name,
                    version: Some(version),
                    alias: None,
                    audit_id: Some(audit_id),
                    detail: json!({ "retention_days": retention.num_days() }),
                },
            )?;
            version_by_id(tx, &m.name, id)
        })
    }

    /// The moves of a model's aliases (one alias, or all), oldest first.
    pub fn alias_history(&mut self, model: &str, alias: Option<&str>) -> Result<Vec<AliasEvent>> {
        self.read(|tx| {
            let m = model_row(tx, model)?;
            let rows = tx.rows(
                "SELECT h.alias, p.version, v.version, h.kind, h.moved_at, h.audit_id
                 FROM alias_history h
                 LEFT JOIN model_versions v ON v.id = h.version_id
                 LEFT JOIN model_versions p ON p.id = h.previous_version_id
                 WHERE h.model_id = $1 ORDER BY h.id",
                params![m.id],
            )?;
            rows.iter()
                .filter(|r| alias.is_none_or(|a| r.text(0).is_ok_and(|x| x == a)))
                .map(|r| {
                    Ok(AliasEvent {
                        alias: r.text(0)?,
                        from: r.opt_int(1)?,
                        to: r.opt_int(2)?,
                        kind: r.text(3)?,
                        at: from_micros(r.int(4)?),
                        audit_id: r.int(5)?,
                    })
                })
                .collect()
        })
    }

    /// Where a version came from: its record and the run that produced it
    /// (params, metrics, tags, data snapshot, code version, seed).
    pub fn lineage(&mut self, model: &str, version: i64) -> Result<Lineage> {
        let v = self.model_version(model, version)?;
        let run = match v.run_id {
            Some(id) => Some(self.run(id)?),
            None => None,
        };
        Ok(Lineage { version: v, run })
    }

    /// The model card of a version, as Markdown.
    pub fn model_card(&mut self, model: &str, version: i64) -> Result<String> {
        let m = self.model(model)?;
        let lineage = self.lineage(model, version)?;
        Ok(crate::card::render(&m, &lineage))
    }
}

/// The model's id and name, without locking.
fn model_row(tx: &mut Tx<'_>, name: &str) -> Result<ModelRow> {
    match tx.opt(
        "SELECT id, name FROM registered_models WHERE name = $1",
        params![name],
    )? {
        Some(r) => Ok(ModelRow {
            id: r.int(0)?,
            name: r.text(1)?,
        }),
        None => Err(model_not_found(tx, name)),
    }
}
