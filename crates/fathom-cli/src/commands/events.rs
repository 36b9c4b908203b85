//! `fathom events`: registry events and their delivery to the webhooks of
//! `[[registry.webhooks]]`; the HTTP client that delivers them; and the
//! best-effort delivery right after a command changed the registry.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use fathom_registry::Store;
use fathom_registry::events::{
    DeliveryReport, DeliveryStatus, EventKind, EventQuery, EventRecord, WebhookRequest,
    WebhookResponse, WebhookTransport, deliver_due,
};

use crate::config::Config;
use crate::store::open;
use crate::ui::{Ui, print_out, table};

/// Longest time one request may take when a command delivers right after
/// its change (the webhook's own `timeout_ms` if shorter).
const AFTER_CHANGE_TIMEOUT: Duration = Duration::from_secs(2);

/// `fathom events list`
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only events with a delivery that failed for good (every attempt
    /// used).
    #[arg(long)]
    pub failed: bool,
    /// Only this model's events.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Only this kind: version_registered, alias_moved, promotion_refused,
    /// rollback, alias_removed or version_archived.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Most events to show, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// `fathom events deliver`
#[derive(Args, Debug)]
pub struct DeliverArgs {
    /// Set deliveries that failed for good back to pending first, so they
    /// are sent again now.
    #[arg(long)]
    pub retry_failed: bool,
}

/// Sends webhook requests over HTTP(S): rustls with the aws-lc-rs
/// provider, the system's trusted roots, no redirects followed.
pub struct HttpTransport {
    agent: ureq::Agent,
    cap: Option<Duration>,
}

impl HttpTransport {
    /// A client; `cap` shortens every webhook's timeout to at most this.
    pub fn new(cap: Option<Duration>) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .unversioned_rustls_crypto_provider(provider)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(format!("fathom/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpTransport { agent, cap }
    }
}

impl WebhookTransport for HttpTransport {
    fn post(&self, r: &WebhookRequest<'_>) -> std::result::Result<WebhookResponse, String> {
        let timeout = self.cap.map_or(r.timeout, |c| c.min(r.timeout));
        let mut request = self
            .agent
            .post(r.url)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (k, v) in &r.headers {
            request = request.header(*k, v);
        }
        let mut response = request.send(r.body).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        // The answer's start, for the error message; a body that cannot be
        // read does not change the verdict of the status.
        let body = response
            .body_mut()
            .with_config()
            .limit(4096)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        Ok(WebhookResponse { status, body })
    }
}

/// Delivers the events that are due, right after a command changed the
/// registry: each request is cut short after two seconds, and a failure
/// only prints a warning naming the webhook and the error (the delivery
/// stays pending for `fathom events deliver` or the next command).
pub fn after_change(config: &Config, store: &mut Store) {
    let hooks = &config.registry.webhooks;
    if hooks.is_empty() {
        return;
    }
    let transport = HttpTransport::new(Some(AFTER_CHANGE_TIMEOUT));
    let now = chrono::Utc::now();
    match deliver_due(store, hooks, &config.registry.delivery, &transport, now) {
        Ok(report) => warn_failures(&report),
        Err(e) => eprintln!("warning: registry events were not delivered: {e}"),
    }
}

/// Prints a warning per failed delivery attempt, with when it is retried.
pub fn warn_failures(report: &DeliveryReport) {
    for f in &report.failures {
        let next = match f.next_attempt_at {
            Some(t) => format!("retried after {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
            None => "no attempts left; see `fathom events list --failed`, resend with `fathom events deliver --retry-failed`".to_string(),
        };
        eprintln!(
            "warning: event {} ({}) not delivered to {}: {} (attempt {}; {next})",
            f.event_id, f.kind, f.webhook, f.error, f.attempt
        );
    }
}

/// Runs `fathom events deliver`: sends every due event (retries
/// included) to the configured webhooks. Exits with status 1 when a
/// delivery failed, so cron and CI notice.
pub fn deliver(config: &Config, ui: &Ui, args: DeliverArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let hooks = &config.registry.webhooks;
    if hooks.is_empty() {
        anyhow::bail!(
            "no webhooks are configured; add a [[registry.webhooks]] table with a url to fathom.toml"
        );
    }
    let retried = if args.retry_failed {
        opened.store.retry_failed(None)?
    } else {
        0
    };
    let transport = HttpTransport::new(None);
    let report = deliver_due(
        &mut opened.store,
        hooks,
        &config.registry.delivery,
        &transport,
        chrono::Utc::now(),
    )?;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "retried_failed": retried,
            "delivered": report.delivered,
            "failures": report.failures,
            "deferred": report.deferred,
        }))?;
    } else {
        warn_failures(&report);
        print_out(&format!(
            "{} delivered, {} failed{}{}",
            report.delivered,
            report.failures.len(),
            if report.deferred > 0 {
                format!(
                    ", {} waiting for the next pass (their webhook failed)",
                    report.deferred
                )
            } else {
                String::new()
            },
            if retried > 0 {
                format!("; {retried} failed deliveries were set back to pending")
            } else {
                String::new()
            }
        ))?;
    }
    Ok(if report.failures.is_empty() { 0 } else { 1 })
}

fn delivery_cell(e: &EventRecord) -> String {
    if e.deliveries.is_empty() {
        return "–".into();
    }
    e.deliveries
        .iter()
        .map(|d| {
            let state = match d.status {
                DeliveryStatus::Delivered => "delivered".to_string(),
                DeliveryStatus::Pending if d.attempts == 0 => "pending".to_string(),
                DeliveryStatus::Pending => format!(
                    "pending, {} attempts, next {}: {}",
                    d.attempts,
                    d.next_attempt_at
                        .map_or_else(String::new, |t| t.format("%H:%M:%S").to_string()),
                    d.last_error.as_deref().unwrap_or("")
                ),
                DeliveryStatus::Failed => format!(
                    "FAILED after {} attempts: {}",
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                ),
            };
            format!("{} {state}", d.webhook)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `fathom events list`.
pub fn list(config: &Config, ui: &Ui, args: ListArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let kind = args.kind.as_deref().map(EventKind::parse).transpose()?;
    let events = opened.store.events(&EventQuery {
        model: args.model,
        kind,
        failed: args.failed,
        limit: args.limit,
        ..EventQuery::default()
    })?;
    if ui.json {
        ui.print_json(&events)?;
        return Ok(0);
    }
    let mut t = table(&[
        "id",
        "when",
        "kind",
        "model",
        "version",
        "alias",
        "deliveries",
    ]);
    for e in &events {
        let ev = &e.event;
        t.add_row(vec![
            ev.id.to_string(),
            ev.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ev.kind.to_string(),
            ev.model.clone(),
            ev.version.map_or_else(String::new, |v| v.to_string()),
            ev.alias.clone().unwrap_or_default(),
            delivery_cell(e),
        ]);
    }
    print_out(&t.to_string())?;
    let failed = events
        .iter()
        .filter(|e| {
            e.deliveries
                .iter()
                .any(|d| d.status == DeliveryStatus::Failed)
        })
        .count();
    print_out(&format!(
        "{} events, newest first{}",
        events.len(),
        if failed > 0 {
            format!(
                "; {failed} with a failed delivery (resend: `fathom events deliver --retry-failed`)"
            )
        } else {
            String::new()
        }
    ))?;
    Ok(0)
}
