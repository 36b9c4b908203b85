//! Evaluating alert rules on a batch of signals: the life of each alert
//! instance, de-duplication, reminders, escalation and resolve messages.
//!
//! An alert instance is a rule and one signal it matched (a wildcard rule
//! has one instance per feature or KPI). Each evaluation moves it through
//!
//! ```text
//! inactive ──condition true──► pending ──held for `for`──► firing ──condition false──► resolved (removed)
//!     ▲                           │
//!     └──────condition false──────┘ (no message)
//! ```
//!
//! * **firing**: one notification (kind `firing`) to the on-call team.
//! * **de-duplication**: while it keeps firing, later evaluations send
//!   nothing, except a `reminder` each `repeat` (the rule's, else the
//!   escalation's; `0s` means none) to whoever holds the alert.
//! * **hand-off**: for data and model causes whose owner is not the
//!   on-call team, a `handoff` notification to the owner and the rule's
//!   routes, together with the firing one or `handoff_after` later.
//! * **resolved**: once the condition is false, one `resolved`
//!   notification to every route that was told, and the instance is gone.
//! * A signal absent from an evaluation (or NaN or infinite) leaves its
//!   instance unchanged: no data is not a resolution.
//!
//! The state is plain data ([`AlertState`]) that the caller saves between
//! evaluations; time is passed in (`now_ms`), never read.

use super::route::Escalation;
use super::rule::{AlertRule, Severity};
use super::signal::Cause;
use crate::MonitorError;
use crate::span::human;
use fathom_report::format::fmt_num;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// The alert fired: first notification, to the on-call team.
    Firing,
    /// The alert is handed to the team that owns its cause.
    Handoff,
    /// The alert still fires after `repeat`.
    Reminder,
    /// The condition no longer holds.
    Resolved,
}

impl NotificationKind {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Handoff => "handoff",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Resolved => "resolved",
        }
    }
}

/// One message to deliver to `routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// What happened.
    pub kind: NotificationKind,
    /// The rule's name.
    pub rule: String,
    /// The signal that triggered it (`auc_roc`, `null_rate:amount`).
    pub instance: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The cause class of the signal.
    pub cause: Cause,
    /// The team that owns the cause (the rule's owner).
    pub owner: String,
    /// The team addressed: the on-call team, or the owner after a hand-off.
    pub team: String,
    /// The route names to deliver to, in order, without repeats.
    pub routes: Vec<String>,
    /// The signal's value at this evaluation.
    pub value: f64,
    /// The rule's condition, e.g. `< 0.65`.
    pub threshold: String,
    /// When the condition started to hold (ms since the Unix epoch).
    pub since_ms: i64,
    /// The evaluation that produced it (ms since the Unix epoch).
    pub at_ms: i64,
    /// One sentence for people, with the number.
    pub message: String,
}

impl Notification {
    /// `rule/instance`: the same for every notification of one alert.
    pub fn key(&self) -> String {
        format!("{}/{}", self.rule, self.instance)
    }
}

/// Where an alert instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds, not yet for the rule's `for`.
    Pending,
    /// Notified.
    Firing,
}

/// One alert instance between evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInstance {
    /// The rule's name.
    pub rule: String,
    /// The signal's name.
    pub instance: String,
    /// Pending or firing.
    pub status: AlertStatus,
    /// When the condition started to hold.
    pub since_ms: i64,
    /// When it fired.
    pub fired_ms: Option<i64>,
    /// When its last notification was sent.
    pub notified_ms: Option<i64>,
    /// Whether it was handed off to the owner.
    pub handed_off: bool,
    /// The last value seen.
    pub value: f64,
    /// The last evaluation that had the signal.
    pub seen_ms: i64,
}

/// Every pending or firing alert instance, sorted by rule and signal.
/// Serialisable to JSON: the caller keeps it between evaluations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertState {
    /// The instances.
    pub alerts: Vec<AlertInstance>,
}

impl AlertState {
    /// No alert pending or firing.
    pub fn new() -> AlertState {
        AlertState::default()
    }

    /// Reads a state saved with [`AlertState::to_json`].
    pub fn from_json(text: &str) -> Result<AlertState, MonitorError> {
        serde_json::from_str(text).map_err(|e| {
            MonitorError::AlertState(format!(
                "the saved alert state is not readable ({e}); remove it to start from no alerts"
            ))
        })
    }

    /// The state as JSON, for [`AlertState::from_json`].
    pub fn to_json(&self) -> Result<String, MonitorError> {
        serde_json::to_string(self).map_err(|e| MonitorError::AlertState(e.to_string()))
    }

    /// The firing instances.
    pub fn firing(&self) -> impl Iterator<Item = &AlertInstance> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    /// The instance of `rule` on `signal`, if pending or firing.
    pub fn get(&self, rule: &str, signal: &str) -> Option<&AlertInstance> {
        self.alerts
            .iter()
            .find(|a| a.rule == rule && a.instance == signal)
    }
}

/// Evaluates `rules` on `signals` at `now_ms`, updates `state` and returns
/// the notifications to deliver, ordered by rule (as listed), then signal
/// name, then kind (firing before hand-off).
///
/// A signal given twice counts with its last value. Instances of rules no
/// longer listed (or whose signal no longer matches) are dropped without a
/// message.
pub fn evaluate(
    rules: &[AlertRule],
    escalation: &Escalation,
    signals: &[(String, f64)],
    now_ms: i64,
    state: &mut AlertState,
) -> Vec<Notification> {
    let present: BTreeMap<&str, f64> = signals
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let mut old: BTreeMap<(String, String), AlertInstance> = std::mem::take(&mut state.alerts)
        .into_iter()
        .map(|a| ((a.rule.clone(), a.instance.clone()), a))
        .collect();
    let mut kept: BTreeMap<(String, String), AlertInstance> = BTreeMap::new();
    let mut out = Vec::new();
    for rule in rules {
        let mut names: Vec<&str> = present
            .keys()
            .copied()
            .filter(|n| rule.signal.matches(n))
            .collect();
        // Instances of this rule whose signal is absent now stay as they are.
        let absent: Vec<(String, String)> = old
            .keys()
            .filter(|(r, i)| {
                r == &rule.name && rule.signal.matches(i) && !present.contains_key(i.as_str())
            })
            .cloned()
            .collect();
        for key in absent {
            if let Some(a) = old.remove(&key) {
                kept.insert(key, a);
            }
        }
        names.sort_unstable();
        for name in names {
            let value = present[name];
            let key = (rule.name.clone(), name.to_string());
            let prev = old.remove(&key);
            let step = Step {
                rule,
                escalation,
                instance: name,
                value,
                now_ms,
            };
            if let Some(next) = step.advance(prev, &mut out) {
                kept.insert(key, next);
            }
        }
    }
    state.alerts = kept.into_values().collect();
    out
}

/// One instance at one evaluation.
struct Step<'a> {
    rule: &'a AlertRule,
    escalation: &'a Escalation,
    instance: &'a str,
    value: f64,
    now_ms: i64,
}

impl Step<'_> {
    /// The next state of the instance (`None`: inactive), pushing the
    /// notifications it sends.
    fn advance(
        &self,
        prev: Option<AlertInstance>,
        out: &mut Vec<Notification>,
    ) -> Option<AlertInstance> {
        let holds = self.rule.condition.holds(self.value);
        let mut a = match (prev, holds) {
            (None, false) => return None,
            (Some(a), false) => {
                if a.status == AlertStatus::Firing {
                    out.push(self.notify(NotificationKind::Resolved, &a));
                }
                return None;
            }
            (None, true) => AlertInstance {
                rule: self.rule.name.clone(),
                instance: self.instance.to_string(),
                status: AlertStatus::Pending,
                since_ms: self.now_ms,
                fired_ms: None,
                notified_ms: None,
                handed_off: false,
                value: self.value,
                seen_ms: self.now_ms,
            },
            (Some(a), true) => a,
        };
        a.value = self.value;
        a.seen_ms = self.now_ms;
        let now = self.now_ms;
        match a.status {
            AlertStatus::Pending => {
                if now.saturating_sub(a.since_ms) >= self.rule.hold.ms() {
                    a.status = AlertStatus::Firing;
                    a.fired_ms = Some(now);
                    a.notified_ms = Some(now);
                    out.push(self.notify(NotificationKind::Firing, &a));
                    if self.hands_off() && self.escalation.handoff_after.is_zero() {
                        a.handed_off = true;
                        out.push(self.notify(NotificationKind::Handoff, &a));
                    }
                }
            }
            AlertStatus::Firing => {
                let fired = a.fired_ms.unwrap_or(a.since_ms);
                let notified = a.notified_ms.unwrap_or(fired);
                let repeat = self.rule.repeat.unwrap_or(self.escalation.repeat);
                if self.hands_off()
                    && !a.handed_off
                    && now.saturating_sub(fired) >= self.escalation.handoff_after.ms()
                {
                    a.handed_off = true;
                    a.notified_ms = Some(now);
                    out.push(self.notify(NotificationKind::Handoff, &a));
                } else if !repeat.is_zero() && now.saturating_sub(notified) >= repeat.ms() {
                    a.notified_ms = Some(now);
                    out.push(self.notify(NotificationKind::Reminder, &a));
                }
            }
        }
        Some(a)
    }

    /// Whether the alert goes on to its owner: a data or model cause owned
    /// by another team than the on-call one.
    fn hands_off(&self) -> bool {
        self.rule.cause() != Cause::System && self.rule.owner != self.escalation.oncall
    }

    /// The on-call team's routes, plus the rule's when it stays with the
    /// on-call team.
    fn oncall_routes(&self) -> Vec<String> {
        let mut routes = self.escalation.oncall_routes.clone();
        if !self.hands_off() {
            routes.extend(self.rule.routes.iter().cloned());
        }
        dedup(routes)
    }

    fn notify(&self, kind: NotificationKind, a: &AlertInstance) -> Notification {
        let rule = self.rule;
        let (team, routes) = match kind {
            NotificationKind::Firing => (self.escalation.oncall.clone(), self.oncall_routes()),
            NotificationKind::Handoff => (rule.owner.clone(), dedup(rule.routes.clone())),
            NotificationKind::Reminder if a.handed_off => {
                (rule.owner.clone(), dedup(rule.routes.clone()))
            }
            NotificationKind::Reminder => (self.escalation.oncall.clone(), self.oncall_routes()),
            NotificationKind::Resolved => {
                let mut routes = self.oncall_routes();
                let team = if a.handed_off {
                    routes.extend(rule.routes.iter().cloned());
                    rule.owner.clone()
                } else {
                    self.escalation.oncall.clone()
                };
                (team, dedup(routes))
            }
        };
        Notification {
            kind,
            rule: rule.name.clone(),
            instance: self.instance.to_string(),
            severity: rule.severity,
            cause: rule.cause(),
            owner: rule.owner.clone(),
            team,
            routes,
            value: self.value,
            threshold: rule.condition.to_string(),
            since_ms: a.since_ms,
            at_ms: self.now_ms,
            message: self.message(kind, a),
        }
    }

    fn message(&self, kind: NotificationKind, a: &AlertInstance) -> String {
        let rule = self.rule;
        let c = rule.condition;
        let reading = format!(
            "{} is {}, {} {}",
            self.instance,
            fmt_num(self.value),
            c.comparison.words(),
            fmt_num(c.threshold)
        );
        let held = self.now_ms.saturating_sub(a.since_ms);
        let for_held = if held > 0 {
            format!(" for {}", human(held))
        } else {
            String::new()
        };
        match kind {
            NotificationKind::Firing => format!(
                "{} ({}): {reading}{for_held}; cause {}, owner {}, first response {}.",
                rule.name,
                rule.severity,
                rule.cause(),
                rule.owner,
                self.escalation.oncall
            ),
            NotificationKind::Handoff => format!(
                "{} ({}) handed off to {}, the cause is the {}: {reading}{for_held}.",
                rule.name,
                rule.severity,
                rule.owner,
                rule.cause()
            ),
            NotificationKind::Reminder => format!(
                "{} ({}) still firing: {reading}{for_held}; held by {}.",
                rule.name,
                rule.severity,
                if a.handed_off {
                    &rule.owner
                } else {
                    &self.escalation.oncall
                }
            ),
            NotificationKind::Resolved => format!(
                "{} resolved: {} is {}, no longer {} {}, after {} of alert.",
                rule.name,
                self.instance,
                fmt_num(self.value),
                c.comparison.words(),
                fmt_num(c.threshold),
                human(self.now_ms.saturating_sub(a.fired_ms.unwrap_or(a.since_ms)))
            ),
        }
    }
}

/// The names in order, each once.
fn dedup(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}
