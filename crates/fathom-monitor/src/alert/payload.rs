//! What a notification looks like on each kind of route: a Slack
//! incoming-webhook message for `webhook` routes, one JSON line for `log`
//! routes. The dashboard keeps the [`Notification`] itself.

use super::engine::{Notification, NotificationKind};
use fathom_report::format::fmt_num;
use serde_json::{Value, json};

/// Slack's limit on a section's text.
const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on one field of a section.
const FIELD_TEXT_MAX: usize = 2000;

/// The body of a POST to a Slack-compatible incoming webhook:
///
/// ```json
/// {"text": "…",
///  "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "…"}},
///             {"type": "section", "fields": [{"type": "mrkdwn", "text": "…"}, …]}]}
/// ```
///
/// `text` (the message) is what notifications and clients that do not draw
/// blocks show; the first block is the headline and the message,
/// the second the signal, value, condition, cause, owner and team. `&`,
/// `<` and `>` are escaped as Slack requires.
pub fn slack_payload(n: &Notification) -> Value {
    let headline = match n.kind {
        NotificationKind::Firing => "FIRING".to_string(),
        NotificationKind::Handoff => format!("HANDED OFF to {}", n.team),
        NotificationKind::Reminder => "STILL FIRING".to_string(),
        NotificationKind::Resolved => "RESOLVED".to_string(),
    };
    let head = format!(
        "*{} · {} · {}*\n{}",
        escape(&n.severity.name().to_uppercase()),
        escape(&headline),
        escape(&n.rule),
        escape(&n.message)
    );
    let field = |name: &str, value: &str| {
        json!({
            "type": "mrkdwn",
            "text": clip(&format!("*{name}*\n{}", escape(value)), FIELD_TEXT_MAX),
        })
    };
    json!({
        "text": clip(&escape(&n.message), SECTION_TEXT_MAX),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(&head, SECTION_TEXT_MAX)},
            },
            {
                "type": "section",
                "fields": [
                    field("Signal", &n.instance),
                    field("Value", &fmt_num(n.value)),
                    field("Condition", &n.threshold),
                    field("Cause", n.cause.name()),
                    field("Owner", &n.owner),
                    field("Team", &n.team),
                ],
            },
        ],
    })
}

/// The notification as one line of JSON (no line break), for `log` routes.
pub fn log_line(n: &Notification) -> String {
    serde_json::to_string(n).unwrap_or_else(|e| {
        json!({"kind": n.kind.name(), "rule": n.rule, "instance": n.instance, "message": n.message, "error": e.to_string()})
            .to_string()
    })
}

/// Escapes the three characters Slack's text format reserves.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}
