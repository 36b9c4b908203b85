//! The audit log: every registry change, appended in the same transaction
//! as the change itself (so there is never a change without its entry, or
//! an entry without its change). The log is append-only: the database
//! refuses updates and deletes of its rows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::actor::Actor;
use crate::clock::{from_micros, to_micros};
use crate::error::{RegistryError, Result};
use crate::filter::SqlBuilder;
use crate::store::{Store, Tx};
use crate::value::params;

/// What a registry change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A registered model was created.
    ModelCreated,
    /// A registered model's description, intended use, limitations or
    /// owner changed.
    ModelUpdated,
    /// A model version was registered.
    VersionRegistered,
    /// An ungated alias was set or moved.
    AliasSet,
    /// A gated alias was moved after the gate passed.
    Promoted,
    /// A gated alias was moved with `force` although the gate failed.
    PromotedForced,
    /// A promotion was refused (nothing else changed).
    PromotionRefused,
    /// An alias was moved back to its previous version.
    RolledBack,
    /// An alias was removed.
    AliasRemoved,
    /// A version was archived.
    VersionArchived,
    /// A garbage collection deleted runs or artifacts.
    GarbageCollected,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ModelCreated => "model_created",
            AuditAction::ModelUpdated => "model_updated",
            AuditAction::VersionRegistered => "version_registered",
            AuditAction::AliasSet => "alias_set",
            AuditAction::Promoted => "promoted",
            AuditAction::PromotedForced => "promoted_forced",
            AuditAction::PromotionRefused => "promotion_refused",
            AuditAction::RolledBack => "rolled_back",
            AuditAction::AliasRemoved => "alias_removed",
            AuditAction::VersionArchived => "version_archived",
            AuditAction::GarbageCollected => "garbage_collected",
        }
    }

    /// All actions.
    pub const ALL: [AuditAction; 11] = [
        AuditAction::ModelCreated,
        AuditAction::ModelUpdated,
        AuditAction::VersionRegistered,
        AuditAction::AliasSet,
        AuditAction::Promoted,
        AuditAction::PromotedForced,
        AuditAction::PromotionRefused,
        AuditAction::RolledBack,
        AuditAction::AliasRemoved,
        AuditAction::VersionArchived,
        AuditAction::GarbageCollected,
    ];

    /// The action with this stored name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| RegistryError::NotFound {
                kind: "audit action",
                name: s.to_owned(),
                hint: Some(format!(
                    "actions are {}",
                    Self::ALL.map(|a| a.as_str()).join(", ")
                )),
            })
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Sequence number (increasing).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// From which host.
    pub host: String,
    /// What.
    pub action: AuditAction,
    /// Which model, if any.
    pub model: Option<String>,
    /// Which version, if any.
    pub version: Option<i64>,
    /// Which alias, if any.
    pub alias: Option<String>,
    /// Why (as given by the actor).
    pub reason: String,
    /// Details as JSON (previous and new version, gate results, …).
    pub detail: serde_json::Value,
}

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditQuery {
    /// Only this model's.
    pub model: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries older than this id (for the next page).
    pub before_id: Option<i64>,
    /// At most this many (1 to 10,000).
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            model: None,
            action: None,
            actor: None,
            since: None,
            before_id: None,
            limit: 100,
        }
    }
}

/// What one audit entry records about the change.
pub(crate) struct AuditRecord<'a> {
    pub(crate) action: AuditAction,
    pub(crate) model: Option<&'a str>,
    pub(crate) version: Option<i64>,
    pub(crate) alias: Option<&'a str>,
    pub(crate) detail: serde_json::Value,
}

/// Appends an entry inside the caller's transaction; returns its id.
pub(crate) fn append(
    tx: &mut Tx<'_>,
    now: i64,
    actor: &Actor,
    reason: &str,
    record: AuditRecord<'_>,
) -> Result<i64> {
    tx.one(
        "INSERT INTO audit_log (at, actor, host, action, model, version, alias, reason, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        params![
            now,
            actor.user.as_str(),
            actor.host.as_str(),
            record.action.as_str(),
            record.model,
            record.version,
            record.alias,
            reason,
            record.detail.to_string()
        ],
    )?
    .int(0)
}

impl Store {
    /// Audit entries matching `query`, newest first.
    pub fn audit(&mut self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        if query.limit == 0 || query.limit > 10_000 {
            return Err(RegistryError::invalid(
                "audit limit",
                format!("{} is out of range; use 1 to 10000", query.limit),
            ));
        }
        let mut b = SqlBuilder {
            sql: "SELECT id, at, actor, host, action, model, version, alias, reason, detail FROM audit_log WHERE 1 = 1".into(),
            params: Vec::new(),
        };
        if let Some(m) = &query.model {
            let p = b.param(m.as_str());
            b.sql.push_str(&format!(" AND model = {p}"));
        }
        if let Some(a) = query.action {
            let p = b.param(a.as_str());
            b.sql.push_str(&format!(" AND action = {p}"));
        }
        if let Some(a) = &query.actor {
            let p = b.param(a.as_str());
            b.sql.push_str(&format!(" AND actor = {p}"));
        }
        if let Some(t) = query.since {
            let p = b.param(to_micros(t));
            b.sql.push_str(&format!(" AND at >= {p}"));
        }
        if let Some(id) = query.before_id {
            let p = b.param(id);
            b.sql.push_str(&format!(" AND id < {p}"));
        }
        let p = b.param(query.limit as i64);
        b.sql.push_str(&format!(" ORDER BY id DESC LIMIT {p}"));
        self.read(|tx| {
            tx.rows(&b.sql, &b.params)?
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.int(0)?,
                        at: from_micros(r.int(1)?),
                        actor: r.text(2)?,
                        host: r.text(3)?,
                        action: AuditAction::parse(&r.text(4)?)?,
                        model: r.opt_text(5)?,
                        version: r.opt_int(6)?,
                        alias: r.opt_text(7)?,
                        reason: r.text(8)?,
                        detail: serde_json::from_str(&r.text(9)?)
                            .unwrap_or(serde_json::Value::Null),
                    })
                })
                .collect()
        })
    }
}
