//! Registry events: an outbox of every registry change, delivered to
//! webhooks so that CI/CD hears about changes instead of polling.
//!
//! Each change (a version registered, an alias moved by a promotion, a
//! promotion refused, a rollback, an alias removed, a version archived)
//! writes one event row in the same transaction as the change and its
//! audit entry, so there is never an event without its change or a change
//! without its event. A refused promotion changes nothing; its event is
//! written in its own transaction, like its audit entry.
//!
//! Delivery ([`deliver_due`]) is separate and may run anywhere that opens
//! the store: right after a command, from cron (`fathom events deliver`) or
//! in a server's background loop. Each (event, webhook) pair has its own
//! delivery state (pending, delivered, failed) with attempts, the last
//! error and the time of the next attempt; failed attempts are retried
//! with exponential backoff up to a maximum number of attempts
//! ([`DeliveryPolicy`]). Delivery is at least once: receivers should
//! ignore an event id they have already seen.

mod delivery;
mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::Actor;
use crate::clock::{from_micros, to_micros};
use crate::error::{RegistryError, Result};
use crate::filter::SqlBuilder;
use crate::store::{Store, Tx};
use crate::value::{Row, params};

pub use delivery::{
    DeliveryFailure, DeliveryReport, WebhookRequest, WebhookResponse, WebhookTransport, deliver_due,
};
pub use webhook::{DeliveryPolicy, SIGNATURE_HEADER, Webhook, signature};

/// What happened in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new model version was registered.
    VersionRegistered,
    /// An alias was pointed at a version: a promotion through the gate, a
    /// forced promotion, or an ungated alias set.
    AliasMoved,
    /// The promotion gate (or a changed artifact) refused a promotion;
    /// nothing else changed.
    PromotionRefused,
    /// An alias was moved back to the version it named before.
    Rollback,
    /// An alias was removed.
    AliasRemoved,
    /// A version was archived.
    VersionArchived,
}

impl EventKind {
    /// All kinds.
    pub const ALL: [EventKind; 6] = [
        EventKind::VersionRegistered,
        EventKind::AliasMoved,
        EventKind::PromotionRefused,
        EventKind::Rollback,
        EventKind::AliasRemoved,
        EventKind::VersionArchived,
    ];

    /// The stored (and sent) name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::VersionRegistered => "version_registered",
            EventKind::AliasMoved => "alias_moved",
            EventKind::PromotionRefused => "promotion_refused",
            EventKind::Rollback => "rollback",
            EventKind::AliasRemoved => "alias_removed",
            EventKind::VersionArchived => "version_archived",
        }
    }

    /// The kind with this name; the error lists the valid names.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| RegistryError::NotFound {
                kind: "event kind",
                name: s.to_owned(),
                hint: Some(format!(
                    "kinds are {}",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )),
            })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registry event, as stored and as sent to webhooks (the JSON body
/// of a delivery is this struct).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number (increasing); receivers use it to drop duplicates.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The registered model.
    pub model: String,
    /// The version concerned (for alias moves: the version it names now).
    pub version: Option<i64>,
    /// The alias concerned.
    pub alias: Option<String>,
    /// The audit entry of the change (who and why, in full).
    pub audit_id: Option<i64>,
    /// Details: `actor`, `host`, `reason` and, by kind, `from`/`to`
    /// versions, gate results, artifact checksum, metrics, …
    pub data: Value,
}

/// Whether an event has reached a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered; retried at `next_attempt_at`.
    Pending,
    /// The webhook answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made (see `fathom events deliver
    /// --retry-failed`).
    Failed,
}

impl DeliveryStatus {
    fn parse(s: &str) -> Self {
        match s {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// The delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The webhook's URL.
    pub webhook: String,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<i64>,
    /// What went wrong on the last failed attempt.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An event with the state of its deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// One entry per webhook it is meant for (empty until a delivery pass
    /// has matched it against the configured webhooks).
    pub deliveries: Vec<Delivery>,
}

/// Which events to read, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Only this model's.
    pub model: Option<String>,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only events with a delivery that failed for good.
    pub failed: bool,
    /// Only events older than this id (for the next page).
    pub before_id: Option<i64>,
    /// At most this many (1 to 10,000).
    pub limit: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        EventQuery {
            model: None,
            kind: None,
            failed: false,
            before_id: None,
            limit: 100,
        }
    }
}

/// What one event records, before it is written.
pub(crate) struct NewEvent<'a> {
    pub(crate) kind: EventKind,
    pub(crate) model: &'a str,
    pub(crate) version: Option<i64>,
    pub(crate) alias: Option<&'a str>,
    pub(crate) audit_id: Option<i64>,
    /// Kind-specific details (a JSON object); actor, host and reason are
    /// added.
    pub(crate) detail: Value,
}

/// Appends an event inside the caller's transaction; returns its id.
pub(crate) fn record(
    tx: &mut Tx<'_>,
    now: i64,
    actor: &Actor,
    reason: &str,
    event: NewEvent<'_>,
) -> Result<i64> {
    let mut data = serde_json::Map::new();
    data.insert("actor".into(), Value::from(actor.user.as_str()));
    data.insert("host".into(), Value::from(actor.host.as_str()));
    data.insert("reason".into(), Value::from(reason));
    if let Value::Object(detail) = event.detail {
        data.extend(detail);
    }
    tx.one(
        "INSERT INTO registry_events (at, kind, model, version, alias, audit_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        params![
            now,
            event.kind.as_str(),
            event.model,
            event.version,
            event.alias,
            event.audit_id,
            Value::Object(data).to_string()
        ],
    )?
    .int(0)
    .and_then(|id| {
        // Listeners (`fathom serve`) hear of the change at commit.
        if tx.dialect() == crate::backend::Dialect::Postgres {
            tx.exec(
                "SELECT pg_notify('fathom_registry', $1)",
                params![event.model],
            )?;
        }
        Ok(id)
    })
}

/// Columns of `registry_events` read by [`event_from_row`].
pub(crate) const EVENT_COLUMNS: &str = "id, at, kind, model, version, alias, audit_id, payload";

/// An event from a row of [`EVENT_COLUMNS`] starting at column `at`.
pub(crate) fn event_from_row(r: &Row, at: usize) -> Result<Event> {
    Ok(Event {
        id: r.int(at)?,
        at: from_micros(r.int(at + 1)?),
        kind: EventKind::parse(&r.text(at + 2)?)?,
        model: r.text(at + 3)?,
        version: r.opt_int(at + 4)?,
        alias: r.opt_text(at + 5)?,
        audit_id: r.opt_int(at + 6)?,
        data: serde_json::from_str(&r.text(at + 7)?).unwrap_or(Value::Null),
    })
}

impl Store {
    /// Events matching `query`, newest first, each with the state of its
    /// deliveries.
    pub fn events(&mut self, query: &EventQuery) -> Result<Vec<EventRecord>> {
        if query.limit == 0 || query.limit > 10_000 {
            return Err(RegistryError::invalid(
                "event limit",
                format!("{} is out of range; use 1 to 10000", query.limit),
            ));
        }
        let mut b = SqlBuilder {
            sql: format!("SELECT {EVENT_COLUMNS} FROM registry_events e WHERE 1 = 1"),
            params: Vec::new(),
        };
        if let Some(m) = &query.model {
            let p = b.param(m.as_str());
            b.sql.push_str(&format!(" AND model = {p}"));
        }
        if let Some(k) = query.kind {
            let p = b.param(k.as_str());
            b.sql.push_str(&format!(" AND kind = {p}"));
        }
        if query.failed {
            b.sql.push_str(
                " AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.status = 'failed')",
            );
        }
        if let Some(id) = query.before_id {
            let p = b.param(id);
            b.sql.push_str(&format!(" AND id < {p}"));
        }
        let p = b.param(query.limit as i64);
        b.sql.push_str(&format!(" ORDER BY id DESC LIMIT {p}"));
        self.read(|tx| {
            let events = tx
                .rows(&b.sql, &b.params)?
                .iter()
                .map(|r| event_from_row(r, 0))
                .collect::<Result<Vec<_>>>()?;
            let (Some(lo), Some(hi)) = (events.last(), events.first()) else {
                return Ok(Vec::new());
            };
            let mut deliveries: BTreeMap<i64, Vec<Delivery>> = BTreeMap::new();
            for r in tx.rows(
                "SELECT d.event_id, w.url, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
                        d.last_status, d.last_error, d.delivered_at
                 FROM event_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.event_id >= $1 AND d.event_id <= $2 ORDER BY d.event_id, w.url",
                params![lo.id, hi.id],
            )? {
                let status = DeliveryStatus::parse(&r.text(2)?);
                deliveries.entry(r.int(0)?).or_default().push(Delivery {
                    webhook: r.text(1)?,
                    status,
                    attempts: r.int(3)?,
                    next_attempt_at: (status == DeliveryStatus::Pending)
                        .then(|| r.int(4).map(from_micros))
                        .transpose()?,
                    last_attempt_at: r.opt_int(5)?.map(from_micros),
                    last_status: r.opt_int(6)?,
                    last_error: r.opt_text(7)?,
                    delivered_at: r.opt_int(8)?.map(from_micros),
                });
            }
            Ok(events
                .into_iter()
                .map(|event| EventRecord {
                    deliveries: deliveries.remove(&event.id).unwrap_or_default(),
                    event,
                })
                .collect())
        })
    }

    /// Makes sure each webhook is known to the store. A webhook seen for
    /// the first time receives the events recorded from now on, not the
    /// older ones. Commands that change the registry call this before the
    /// change, so that a newly configured webhook hears about it.
    pub fn subscribe(&mut self, webhooks: &[Webhook]) -> Result<()> {
        for w in webhooks {
            w.validate()?;
        }
        let known: Vec<String> = self.read(|tx| {
            tx.rows("SELECT url FROM webhooks", params![])?
                .iter()
                .map(|r| r.text(0))
                .collect()
        })?;
        if webhooks.iter().all(|w| known.contains(&w.url)) {
            return Ok(());
        }
        let now = self.now_micros();
        self.write(|tx| {
            for w in webhooks {
                delivery::webhook_id(tx, &w.url, now)?;
            }
            Ok(())
        })
    }

    /// Sets failed deliveries (of one webhook, or all) back to pending,
    /// due now, with their attempts counted from zero. Returns how many.
    pub fn retry_failed(&mut self, webhook: Option<&str>) -> Result<u64> {
        let now = self.now_micros();
        self.write(|tx| match webhook {
            Some(url) => tx.exec(
                "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1
                 WHERE status = 'failed' AND webhook_id IN (SELECT id FROM webhooks WHERE url = $2)",
                params![now, url],
            ),
            None => tx.exec(
                "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1
                 WHERE status = 'failed'",
                params![now],
            ),
        })
    }
}

/// A time as the store keeps it.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    to_micros(t)
}
