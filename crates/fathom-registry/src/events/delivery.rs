//! Delivering due events to webhooks, with retries and backoff.
//!
//! The HTTP request itself is made through [`WebhookTransport`], so that
//! this crate needs no HTTP client: the program that runs the delivery
//! supplies one.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::webhook::{DeliveryPolicy, SIGNATURE_HEADER, Webhook, signature};
use super::{Event, EventKind, event_from_row, micros};
use crate::backend::Dialect;
use crate::clock::from_micros;
use crate::error::Result;
use crate::store::{Store, Tx};
use crate::value::params;

/// One POST of an event to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest<'a> {
    /// Where.
    pub url: &'a str,
    /// Headers to send besides those of the transport itself.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body (an [`Event`]); the signature covers these bytes.
    pub body: &'a [u8],
    /// How long the whole request may take.
    pub timeout: Duration,
}

/// What a webhook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status; 2xx counts as delivered.
    pub status: u16,
    /// The start of the response body, for error messages.
    pub body: String,
}

/// Sends webhook requests (an HTTP client).
pub trait WebhookTransport {
    /// POSTs `request`, following no redirects. `Err` carries why no
    /// answer came (refused, timed out, name not found, TLS, …).
    fn post(&self, request: &WebhookRequest<'_>) -> std::result::Result<WebhookResponse, String>;
}

/// One failed attempt of a delivery pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryFailure {
    /// The event.
    pub event_id: i64,
    /// Its kind.
    pub kind: EventKind,
    /// The webhook's URL.
    pub webhook: String,
    /// Which attempt this was (from 1).
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// True when this was the last attempt: the delivery is now failed.
    pub gave_up: bool,
    /// When it will be tried again (unless given up).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What a delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliveryReport {
    /// Deliveries that reached their webhook.
    pub delivered: usize,
    /// Attempts that failed.
    pub failures: Vec<DeliveryFailure>,
    /// Due deliveries left for the next pass, without an attempt counted,
    /// because their webhook had just failed in this pass.
    pub deferred: usize,
}

/// One claimed delivery: the event and how often it was tried before.
struct Claimed {
    hook: usize,
    webhook_id: i64,
    attempts: u32,
    due: i64,
    event: Event,
}

/// The webhook's row id, creating the row if the URL is new. A new
/// webhook has seen every event recorded so far: it receives only later
/// ones.
pub(super) fn webhook_id(tx: &mut Tx<'_>, url: &str, now: i64) -> Result<i64> {
    let find = |tx: &mut Tx<'_>| -> Result<Option<i64>> {
        tx.opt("SELECT id FROM webhooks WHERE url = $1", params![url])?
            .map(|r| r.int(0))
            .transpose()
    };
    if let Some(id) = find(tx)? {
        return Ok(id);
    }
    let last = tx
        .one(
            "SELECT COALESCE(MAX(id), 0) FROM registry_events",
            params![],
        )?
        .int(0)?;
    let created = tx.opt(
        "INSERT INTO webhooks (url, first_seen, scanned_to) VALUES ($1, $2, $3)
         ON CONFLICT (url) DO NOTHING RETURNING id",
        params![url, now, last],
    )?;
    match created {
        Some(r) => r.int(0),
        // Another process added it at the same moment.
        None => find(tx)?.ok_or_else(|| {
            crate::error::RegistryError::Conflict(format!(
                "webhook '{url}' could not be recorded; try again"
            ))
        }),
    }
}

/// Creates pending deliveries for the webhook's events recorded since the
/// last pass.
fn enqueue(tx: &mut Tx<'_>, id: i64, webhook: &Webhook) -> Result<()> {
    let sql = format!(
        "SELECT scanned_to FROM webhooks WHERE id = $1{}",
        tx.dialect().for_update()
    );
    let scanned = tx.one(&sql, params![id])?.int(0)?;
    let events = tx.rows(
        "SELECT id, kind, at FROM registry_events WHERE id > $1 ORDER BY id LIMIT 10000",
        params![scanned],
    )?;
    let Some(last) = events.last() else {
        return Ok(());
    };
    let last = last.int(0)?;
    for r in &events {
        let kind = EventKind::parse(&r.text(1)?)?;
        if webhook.wants(kind) {
            tx.exec(
                "INSERT INTO event_deliveries (event_id, webhook_id, status, attempts, next_attempt_at)
                 VALUES ($1, $2, 'pending', 0, $3) ON CONFLICT (event_id, webhook_id) DO NOTHING",
                params![r.int(0)?, id, r.int(2)?],
            )?;
        }
    }
    tx.exec(
        "UPDATE webhooks SET scanned_to = $1 WHERE id = $2",
        params![last, id],
    )?;
    Ok(())
}

/// Delivers the events that are due to `webhooks`, as of `now`.
///
/// First, events recorded since the last pass are matched against each
/// webhook's `events` filter and get a pending delivery. Then each due
/// delivery (at most `policy.batch` per webhook, oldest event first) is
/// claimed for the length of its request, so that another process running
/// the same loop does not send it too, and POSTed through `transport`.
/// A 2xx answer marks it delivered; anything else counts an attempt and
/// schedules the next one after [`DeliveryPolicy::retry_delay`], or marks
/// it failed after `policy.max_attempts`. Once a webhook has failed in a
/// pass, its other due deliveries wait for the next pass (not counted).
///
/// Errors are the store's, or a webhook whose settings are invalid or
/// whose `secret_env` variable is not set; a webhook that cannot be
/// reached is not an error but a [`DeliveryFailure`] in the report.
pub fn deliver_due(
    store: &mut Store,
    webhooks: &[Webhook],
    policy: &DeliveryPolicy,
    transport: &dyn WebhookTransport,
    now: DateTime<Utc>,
) -> Result<DeliveryReport> {
    policy.validate()?;
    let mut secrets = Vec::with_capacity(webhooks.len());
    for w in webhooks {
        w.validate()?;
        secrets.push(w.resolve_secret()?);
    }
    let mut report = DeliveryReport::default();
    if webhooks.is_empty() {
        return Ok(report);
    }
    let now_us = micros(now);
    let claimed = store.write(|tx| {
        let mut out = Vec::new();
        for (hook, w) in webhooks.iter().enumerate() {
            let id = webhook_id(tx, &w.url, now_us)?;
            enqueue(tx, id, w)?;
            let lock = match tx.dialect() {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            };
            let sql = format!(
                "SELECT d.attempts, d.next_attempt_at,
                        e.id, e.at, e.kind, e.model, e.version, e.alias, e.audit_id, e.payload
                 FROM event_deliveries d JOIN registry_events e ON e.id = d.event_id
                 WHERE d.webhook_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
                 ORDER BY d.event_id LIMIT $3{lock}"
            );
            let rows = tx.rows(&sql, params![id, now_us, i64::from(policy.batch)])?;
            // Claimed for the request's length and a margin.
            let lease = now_us + (w.timeout_ms as i64 + 60_000) * 1000;
            for r in rows {
                let c = Claimed {
                    hook,
                    webhook_id: id,
                    attempts: u32::try_from(r.int(0)?).unwrap_or(u32::MAX),
                    due: r.int(1)?,
                    event: event_from_row(&r, 2)?,
                };
                tx.exec(
                    "UPDATE event_deliveries SET next_attempt_at = $1 WHERE event_id = $2 AND webhook_id = $3",
                    params![lease, c.event.id, id],
                )?;
                out.push(c);
            }
        }
        Ok(out)
    })?;

    let mut failed_hooks = HashSet::new();
    for c in claimed {
        let w = &webhooks[c.hook];
        if failed_hooks.contains(&c.hook) {
            store.write(|tx| {
                tx.exec(
                    "UPDATE event_deliveries SET next_attempt_at = $1 WHERE event_id = $2 AND webhook_id = $3",
                    params![c.due, c.event.id, c.webhook_id],
                )
            })?;
            report.deferred += 1;
            continue;
        }
        let attempt = c.attempts.saturating_add(1);
        let body = serde_json::to_vec(&c.event).map_err(|e| {
            crate::error::RegistryError::invalid(format!("event {}", c.event.id), e.to_string())
        })?;
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            (
                "User-Agent",
                format!("fathom/{}", env!("CARGO_PKG_VERSION")),
            ),
            ("X-Fathom-Event", c.event.kind.as_str().to_string()),
            ("X-Fathom-Event-Id", c.event.id.to_string()),
            ("X-Fathom-Delivery-Attempt", attempt.to_string()),
        ];
        if let Some(secret) = &secrets[c.hook] {
            headers.push((SIGNATURE_HEADER, signature(secret.as_bytes(), &body)?));
        }
        let request = WebhookRequest {
            url: &w.url,
            headers,
            body: &body,
            timeout: w.timeout(),
        };
        let outcome = match transport.post(&request) {
            Ok(r) if (200..300).contains(&r.status) => Ok(r.status),
            Ok(r) => Err((Some(r.status), http_error(&r))),
            Err(e) => Err((None, clip(&e, 500))),
        };
        match outcome {
            Ok(status) => {
                store.write(|tx| {
                    tx.exec(
                        "UPDATE event_deliveries SET status = 'delivered', attempts = $1, last_attempt_at = $2,
                             last_status = $3, delivered_at = $2 WHERE event_id = $4 AND webhook_id = $5",
                        params![i64::from(attempt), now_us, i64::from(status), c.event.id, c.webhook_id],
                    )
                })?;
                report.delivered += 1;
            }
            Err((status, error)) => {
                failed_hooks.insert(c.hook);
                let gave_up = attempt >= policy.max_attempts;
                let next = now_us + policy.retry_delay(attempt).as_micros() as i64;
                store.write(|tx| {
                    tx.exec(
                        "UPDATE event_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
                             last_attempt_at = $4, last_status = $5, last_error = $6
                         WHERE event_id = $7 AND webhook_id = $8",
                        params![
                            if gave_up { "failed" } else { "pending" },
                            i64::from(attempt),
                            next,
                            now_us,
                            status.map(i64::from),
                            error.as_str(),
                            c.event.id,
                            c.webhook_id
                        ],
                    )
                })?;
                report.failures.push(DeliveryFailure {
                    event_id: c.event.id,
                    kind: c.event.kind,
                    webhook: w.url.clone(),
                    attempt,
                    error,
                    gave_up,
                    next_attempt_at: (!gave_up).then(|| from_micros(next)),
                });
            }
        }
    }
    Ok(report)
}

fn http_error(r: &WebhookResponse) -> String {
    let body = r.body.trim();
    if body.is_empty() {
        format!("HTTP {}", r.status)
    } else {
        format!("HTTP {}: {}", r.status, clip(body, 200))
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
