//! Alerts: rules over the monitoring signals, each owned by a team, routed
//! to webhooks, a log and the dashboard, with escalation, de-duplication and
//! resolve messages.
//!
//! * [`rule`]: the rules (`[[monitor.alerts]]`) and [`default_rules`].
//! * [`route`]: the routes (`[monitor.routes.NAME]`) and the escalation
//!   (`[monitor.escalation]`).
//! * [`signal`]: the signal names and their cause classes.
//! * [`engine`]: [`evaluate`], the state machine of each alert instance.
//! * [`payload`]: the Slack-compatible message and the log line.
//!
//! A pure library: the caller passes the time and keeps the
//! [`AlertState`]; delivery is the program's.
//!
//! ```
//! use fathom_monitor::alert::{AlertState, Escalation, NotificationKind, default_rules, evaluate};
//!
//! let rules = default_rules();
//! let escalation = Escalation::default();
//! let mut state = AlertState::new();
//! let signals = vec![("auc_roc".to_string(), 0.61)];
//! let sent = evaluate(&rules, &escalation, &signals, 1_700_000_000_000, &mut state);
//! assert_eq!(sent[0].kind, NotificationKind::Firing);
//! assert_eq!(sent[0].team, "platform-oncall");
//! assert_eq!(sent[1].kind, NotificationKind::Handoff);
//! assert_eq!(sent[1].team, "data-science");
//! // The same reading an hour later sends nothing: the alert is already known.
//! assert!(evaluate(&rules, &escalation, &signals, 1_700_003_600_000, &mut state).is_empty());
//! ```

pub mod engine;
pub mod payload;
pub mod route;
pub mod rule;
pub mod signal;

pub use crate::span::Span;
pub use engine::{
    AlertInstance, AlertState, AlertStatus, Notification, NotificationKind, evaluate,
};
pub use payload::{log_line, slack_payload};
pub use route::{Escalation, Route, all_routes, builtin_routes};
pub use rule::{AlertRule, Comparison, Condition, Severity, default_rules};
pub use signal::{Cause, SignalPattern, cause_of};

use crate::MonitorError;
use std::collections::{BTreeMap, BTreeSet};

/// Checks the alert settings together: each rule and route on its own,
/// unique rule names, and every route named by a rule or the escalation
/// declared (or built in: `log`, `dashboard`). The message names the rule
/// or route and lists the valid route names.
pub fn check_alerting(
    rules: &[AlertRule],
    routes: &BTreeMap<String, Route>,
    escalation: &Escalation,
) -> Result<(), MonitorError> {
    let bad = |m: String| Err(MonitorError::Alert(m));
    for (name, route) in routes {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(format!(
                "route name \"{name}\" must be non-empty and use only letters, digits, '-', '_' and '.'"
            ));
        }
        route.check(name)?;
    }
    let all = all_routes(routes);
    let valid = || all.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut seen = BTreeSet::new();
    for rule in rules {
        rule.check()?;
        if !seen.insert(rule.name.as_str()) {
            return bad(format!(
                "two rules are named '{}'; give each rule its own name",
                rule.name
            ));
        }
        if let Some(r) = rule.routes.iter().find(|r| !all.contains_key(*r)) {
            return bad(format!(
                "rule '{}' names the route '{r}', which is not declared; declare [monitor.routes.{r}] or use one of: {}",
                rule.name,
                valid()
            ));
        }
    }
    if escalation.oncall.trim().is_empty() {
        return bad(
            "[monitor.escalation] oncall is empty; name the first-responder team (e.g. \"platform-oncall\")".into(),
        );
    }
    if escalation.oncall_routes.is_empty() {
        return bad(format!(
            "[monitor.escalation] oncall_routes is empty; name at least one of: {}",
            valid()
        ));
    }
    if let Some(r) = escalation
        .oncall_routes
        .iter()
        .find(|r| !all.contains_key(*r))
    {
        return bad(format!(
            "[monitor.escalation] oncall_routes names the route '{r}', which is not declared; declare [monitor.routes.{r}] or use one of: {}",
            valid()
        ));
    }
    Ok(())
}

/// The rules in force: the declared ones, or [`default_rules`] when none
/// are declared.
pub fn rules_in_force(declared: &[AlertRule]) -> Vec<AlertRule> {
    if declared.is_empty() {
        default_rules()
    } else {
        declared.to_vec()
    }
}
