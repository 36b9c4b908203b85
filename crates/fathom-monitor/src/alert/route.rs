//! Where notifications go (`[monitor.routes.NAME]`) and who answers first
//! (`[monitor.escalation]`).
//!
//! ```toml
//! [monitor.routes.slack-ds]
//! kind = "webhook"                 # Slack-compatible JSON
//! url_env = "FATHOM_SLACK_DS_URL"  # or url = "https://hooks.example/…"
//!
//! [monitor.routes.audit-file]
//! kind = "log"
//! path = "alerts/audit.jsonl"
//!
//! [monitor.escalation]
//! oncall = "platform-oncall"
//! oncall_routes = ["log", "dashboard"]
//! handoff_after = "0s"
//! repeat = "4h"
//! ```
//!
//! Two routes exist without being declared: `log` (the alert log, a
//! JSON-lines file whose place the program chooses) and `dashboard`
//! (notifications kept with the check, listed on the server's
//! `GET /dashboard`). Declaring a route of the same name replaces the
//! built-in one, e.g. to give the log a path.

use crate::MonitorError;
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One destination of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Route {
    /// An HTTP POST of a Slack incoming-webhook message
    /// ([`slack_payload`](super::slack_payload)).
    Webhook {
        /// The `http://` or `https://` URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The environment variable holding the URL (webhook URLs are
        /// secrets; this keeps them out of files).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
    },
    /// One JSON object per line ([`log_line`](super::log_line)) appended
    /// to a file.
    Log {
        /// The file; the program's default alert log when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// Kept for the dashboard to show.
    Dashboard {},
}

impl Route {
    /// `webhook`, `log` or `dashboard`.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Webhook { .. } => "webhook",
            Route::Log { .. } => "log",
            Route::Dashboard {} => "dashboard",
        }
    }

    /// Checks a route's settings; `name` is used in the message.
    pub fn check(&self, name: &str) -> Result<(), MonitorError> {
        let bad = |m: String| Err(MonitorError::Alert(format!("route '{name}': {m}")));
        match self {
            Route::Webhook { url, url_env } => match (url, url_env) {
                (Some(_), Some(_)) => bad("give either url or url_env, not both".into()),
                (None, None) => bad(
                    "a webhook needs url = \"https://…\" or url_env = \"VARIABLE\" naming the environment variable that holds it".into(),
                ),
                (Some(u), None) => check_url(u).map_err(|m| MonitorError::Alert(format!("route '{name}': {m}"))),
                (None, Some(var)) => {
                    if var.is_empty()
                        || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        bad(format!(
                            "url_env \"{var}\" is not an environment variable name; use letters, digits and '_'"
                        ))
                    } else {
                        Ok(())
                    }
                }
            },
            Route::Log { path: Some(p) } if p.trim().is_empty() => {
                bad("path is empty; give a file, or leave the key out for the default alert log".into())
            }
            Route::Log { .. } | Route::Dashboard {} => Ok(()),
        }
    }

    /// A webhook's URL, read from `url` or from the environment variable
    /// named by `url_env` through `lookup` (e.g. `|v| std::env::var(v).ok()`).
    /// `None` for routes that are not webhooks.
    pub fn webhook_url(
        &self,
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, MonitorError> {
        let Route::Webhook { url, url_env } = self else {
            return Ok(None);
        };
        let url = match (url, url_env) {
            (Some(u), _) => u.clone(),
            (None, Some(var)) => lookup(var).filter(|u| !u.is_empty()).ok_or_else(|| {
                MonitorError::Alert(format!(
                    "route '{name}': url_env names the environment variable {var}, which is not set (or empty); set it to the webhook's URL"
                ))
            })?,
            (None, None) => {
                return Err(MonitorError::Alert(format!("route '{name}': no url")));
            }
        };
        check_url(&url).map_err(|m| MonitorError::Alert(format!("route '{name}': {m}")))?;
        Ok(Some(url))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        Err(format!(
            "url \"{url}\" must start with http:// or https:// and name a host"
        ))
    } else {
        Ok(())
    }
}

/// The routes that exist without being declared: `log` and `dashboard`.
pub fn builtin_routes() -> BTreeMap<String, Route> {
    BTreeMap::from([
        ("dashboard".to_string(), Route::Dashboard {}),
        ("log".to_string(), Route::Log { path: None }),
    ])
}

/// The declared routes over the built-in ones: every name a rule or the
/// escalation may use.
pub fn all_routes(declared: &BTreeMap<String, Route>) -> BTreeMap<String, Route> {
    let mut all = builtin_routes();
    all.extend(declared.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// Who answers an alert first, and how often a firing alert is repeated
/// (`[monitor.escalation]`).
///
/// Every alert first goes to the on-call team. An alert whose cause is the
/// data or the model is then handed off to the rule's owner (at once, or
/// after `handoff_after` if it still fires), unless the owner is the
/// on-call team itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Escalation {
    /// The first-responder team.
    pub oncall: String,
    /// Routes of the on-call team.
    pub oncall_routes: Vec<String>,
    /// How long after firing a data or model alert is handed off to its
    /// owner; `0s` hands off together with the first notification.
    pub handoff_after: Span,
    /// Reminder interval of a firing alert, for rules without their own;
    /// `0s` sends no reminders.
    pub repeat: Span,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation {
            oncall: "platform-oncall".into(),
            oncall_routes: vec!["log".into(), "dashboard".into()],
            handoff_after: Span::ZERO,
            repeat: Span::hours(4),
        }
    }
}
