//! Sends a check's alert notifications along their routes: webhooks get a
//! Slack-compatible message, logs a JSON line, the dashboard keeps them
//! (they are stored with the check's run as `alerts.json`, which the
//! server's `GET /dashboard` lists).

use crate::commands::events::HttpTransport;
use crate::config::Config;
use fathom_monitor::alert::{Notification, Route, all_routes, log_line, slack_payload};
use fathom_registry::events::{WebhookRequest, WebhookTransport};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How long one webhook request may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of one notification on one route.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `rule/instance`.
    pub alert: String,
    /// firing, handoff, reminder or resolved.
    pub kind: String,
    /// The route's name.
    pub route: String,
    /// Whether it arrived (a webhook answered 2xx, a line was appended, the
    /// dashboard kept it).
    pub delivered: bool,
    /// Where it went, or why it did not.
    pub detail: String,
}

/// The default alert log: `alerts.jsonl` in the store folder.
pub fn default_alert_log(config: &Config) -> PathBuf {
    config.store.path.join("alerts.jsonl")
}

/// Delivers every notification to each of its routes. A failed delivery
/// is reported, never an error: the check's findings are recorded anyway.
pub fn deliver(config: &Config, notes: &[Notification]) -> Vec<Delivery> {
    let routes = all_routes(&config.monitor.routes);
    let mut http: Option<HttpTransport> = None;
    let mut out = Vec::new();
    for n in notes {
        for name in &n.routes {
            let (delivered, detail) = match routes.get(name) {
                None => (false, format!("no route named '{name}'")),
                Some(Route::Dashboard {}) => (
                    true,
                    "kept with the check; shown on the server's /dashboard".into(),
                ),
                Some(Route::Log { path }) => {
                    let path = path
                        .as_ref()
                        .map_or_else(|| default_alert_log(config), PathBuf::from);
                    match append_line(&path, &log_line(n)) {
                        Ok(()) => (true, path.display().to_string()),
                        Err(e) => (false, format!("cannot append to {}: {e}", path.display())),
                    }
                }
                Some(route @ Route::Webhook { .. }) => {
                    match route.webhook_url(name, |v| std::env::var(v).ok()) {
                        Err(e) => (false, e.to_string()),
                        Ok(None) => (false, "not a webhook".into()),
                        Ok(Some(url)) => {
                            let body = slack_payload(n).to_string();
                            let transport = http.get_or_insert_with(|| HttpTransport::new(None));
                            let answer = transport.post(&WebhookRequest {
                                url: &url,
                                headers: vec![("content-type", "application/json".into())],
                                body: body.as_bytes(),
                                timeout: WEBHOOK_TIMEOUT,
                            });
                            match answer {
                                Ok(r) if (200..300).contains(&r.status) => {
                                    (true, format!("HTTP {}", r.status))
                                }
                                Ok(r) => (false, format!("HTTP {}: {}", r.status, r.body)),
                                Err(e) => (false, e),
                            }
                        }
                    }
                }
            };
            out.push(Delivery {
                alert: n.key(),
                kind: n.kind.name().into(),
                route: name.clone(),
                delivered,
                detail,
            });
        }
    }
    out
}

/// Appends one line to `path` (created with its folder when missing).
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write per line: concurrent appenders do not interleave lines.
    f.write_all(format!("{line}\n").as_bytes())
}
