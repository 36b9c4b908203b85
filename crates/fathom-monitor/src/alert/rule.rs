//! Alert rules as declared in `fathom.toml` (`[[monitor.alerts]]`): the
//! signal watched, the condition, how long it must hold, the severity, the
//! team that owns the cause and where notifications go.
//!
//! ```toml
//! [[monitor.alerts]]
//! name = "rolling-auc-low"
//! signal = "auc_roc"
//! condition = "< 0.65"
//! for = "30m"
//! severity = "critical"
//! owner = "data-science"
//! routes = ["slack-ds", "log"]
//! ```

use super::signal::{Cause, SignalPattern};
use crate::MonitorError;
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a signal's value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
}

impl Comparison {
    /// Every comparison, longest symbols first (the order they are parsed in).
    const ALL: [Comparison; 6] = [
        Comparison::AtMost,
        Comparison::AtLeast,
        Comparison::Equal,
        Comparison::NotEqual,
        Comparison::Below,
        Comparison::Above,
    ];

    /// The symbol written in conditions.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }

    /// The words used in messages: "below", "at or above", …
    pub fn words(self) -> &'static str {
        match self {
            Comparison::Below => "below",
            Comparison::AtMost => "at or below",
            Comparison::Above => "above",
            Comparison::AtLeast => "at or above",
            Comparison::Equal => "equal to",
            Comparison::NotEqual => "not equal to",
        }
    }
}

/// A comparison and a threshold, written `"< 0.65"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// The comparison.
    pub comparison: Comparison,
    /// The number compared with.
    pub threshold: f64,
}

impl Condition {
    /// A condition.
    pub fn new(comparison: Comparison, threshold: f64) -> Condition {
        Condition {
            comparison,
            threshold,
        }
    }

    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.comparison {
            Comparison::Below => value < t,
            Comparison::AtMost => value <= t,
            Comparison::Above => value > t,
            Comparison::AtLeast => value >= t,
            Comparison::Equal => value == t,
            Comparison::NotEqual => value != t,
        }
    }
}

impl FromStr for Condition {
    type Err = String;

    /// Parses an operator (`<`, `<=`, `>`, `>=`, `==`, `!=`) and a finite
    /// number; the error says how to write it.
    fn from_str(text: &str) -> Result<Condition, String> {
        let advice = "write an operator (<, <=, >, >=, ==, !=) and a number, e.g. \"< 0.65\"";
        let t = text.trim();
        let Some(comparison) = Comparison::ALL
            .into_iter()
            .find(|c| t.starts_with(c.symbol()))
        else {
            return Err(format!(
                "condition \"{text}\" does not start with an operator; {advice}"
            ));
        };
        let number = t[comparison.symbol().len()..].trim();
        match number.parse::<f64>() {
            Ok(threshold) if threshold.is_finite() => Ok(Condition::new(comparison, threshold)),
            _ => Err(format!(
                "condition \"{text}\": \"{number}\" is not a finite number; {advice}"
            )),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.comparison.symbol(), self.threshold)
    }
}

/// How urgent an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nobody needs to act now.
    Info,
    /// Needs a look during working hours.
    #[default]
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// The lower-case name used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The routes a rule uses when it names none.
pub const DEFAULT_RULE_ROUTES: [&str; 2] = ["log", "dashboard"];

/// One alert rule (`[[monitor.alerts]]`).
///
/// Read from TOML, the signal, condition and durations are parsed at once,
/// and a mistake is reported with the rule's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleText", into = "RuleText")]
pub struct AlertRule {
    /// Unique name: letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// The signal watched, or a family of them (`null_rate:*`).
    pub signal: SignalPattern,
    /// When the signal is bad.
    pub condition: Condition,
    /// How long the condition must hold, over evaluations, before the
    /// alert fires; zero fires at the first evaluation where it holds.
    pub hold: Span,
    /// How urgent it is.
    pub severity: Severity,
    /// The team that owns the cause (receives the hand-off).
    pub owner: String,
    /// Route names for the owner's notifications (default `log`,
    /// `dashboard`).
    pub routes: Vec<String>,
    /// Reminder interval while firing; the escalation's `repeat` when
    /// absent.
    pub repeat: Option<Span>,
}

impl AlertRule {
    /// A rule with the default hold (`0s`), severity (`warning`), routes and
    /// repeat. Fails on an unknown signal or a bad condition.
    pub fn new(
        name: &str,
        signal: &str,
        condition: &str,
        owner: &str,
    ) -> Result<AlertRule, MonitorError> {
        RuleText {
            name: name.to_string(),
            signal: signal.to_string(),
            condition: condition.to_string(),
            owner: owner.to_string(),
            hold: zero_text(),
            routes: default_routes(),
            ..RuleText::default()
        }
        .try_into()
    }

    /// The same rule with another hold.
    pub fn held_for(mut self, hold: Span) -> AlertRule {
        self.hold = hold;
        self
    }

    /// The same rule with another severity.
    pub fn with_severity(mut self, severity: Severity) -> AlertRule {
        self.severity = severity;
        self
    }

    /// The same rule with other routes.
    pub fn with_routes(mut self, routes: &[&str]) -> AlertRule {
        self.routes = routes.iter().map(|r| r.to_string()).collect();
        self
    }

    /// The same rule with its own reminder interval.
    pub fn with_repeat(mut self, repeat: Span) -> AlertRule {
        self.repeat = Some(repeat);
        self
    }

    /// The cause class of its signal.
    pub fn cause(&self) -> Cause {
        self.signal.cause()
    }

    /// Checks what the types cannot: the name's characters, a non-empty
    /// owner, non-empty route names.
    pub fn check(&self) -> Result<(), MonitorError> {
        let bad = |m: String| Err(MonitorError::Alert(m));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(format!(
                "rule name \"{}\" must be non-empty and use only letters, digits, '-', '_' and '.'",
                self.name
            ));
        }
        if self.owner.trim().is_empty() {
            return bad(format!(
                "rule '{}' has no owner; name the team that owns the cause (e.g. owner = \"data-science\")",
                self.name
            ));
        }
        if self.routes.is_empty() {
            return bad(format!(
                "rule '{}' has an empty routes list; name at least one route (e.g. routes = [\"log\"]) or leave the key out for log and dashboard",
                self.name
            ));
        }
        Ok(())
    }
}

/// The written form of a rule, as in `fathom.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    signal: String,
    condition: String,
    #[serde(rename = "for", default = "zero_text")]
    hold: String,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    owner: String,
    #[serde(default = "default_routes")]
    routes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat: Option<String>,
}

fn zero_text() -> String {
    "0s".into()
}

fn default_routes() -> Vec<String> {
    DEFAULT_RULE_ROUTES.iter().map(|r| r.to_string()).collect()
}

impl TryFrom<RuleText> for AlertRule {
    type Error = MonitorError;

    fn try_from(t: RuleText) -> Result<AlertRule, MonitorError> {
        let name = t.name;
        let at = |m: String| MonitorError::Alert(format!("rule '{name}': {m}"));
        let hold = if t.hold.is_empty() {
            Span::ZERO
        } else {
            t.hold.parse().map_err(|e| at(format!("for: {e}")))?
        };
        let repeat = match t.repeat {
            Some(r) => Some(r.parse().map_err(|e| at(format!("repeat: {e}")))?),
            None => None,
        };
        Ok(AlertRule {
            signal: SignalPattern::parse(&t.signal).map_err(at)?,
            condition: t.condition.parse().map_err(at)?,
            hold,
            severity: t.severity,
            owner: t.owner,
            routes: t.routes,
            repeat,
            name,
        })
    }
}

impl From<AlertRule> for RuleText {
    fn from(r: AlertRule) -> RuleText {
        RuleText {
            signal: r.signal.to_string(),
            condition: r.condition.to_string(),
            hold: r.hold.to_string(),
            severity: r.severity,
            owner: r.owner,
            routes: r.routes,
            repeat: r.repeat.map(|s| s.to_string()),
            name: r.name,
        }
    }
}

/// The rules used when `fathom.toml` declares none. Owners are
/// `data-science` for model and data signals and `platform` for system
/// ones; every rule routes to the log and the dashboard.
///
/// | name | signal | condition | for | severity | owner |
/// |---|---|---|---|---|---|
/// | `rolling-auc-low` | `auc_roc` | `< 0.65` | 0s | critical | data-science |
/// | `drift-share-high` | `drift_score` | `>= 0.15` | 0s | warning | data-science |
/// | `null-rate-high` | `null_excess:*` | `> 0` | 0s | warning | data-science |
/// | `data-stale` | `freshness_minutes` | `> 15` | 0s | critical | platform |
/// | `latency-p95-high` | `latency_p95_ms` | `> 50` | 10m | warning | platform |
/// | `error-rate-high` | `error_rate` | `> 0.01` | 5m | critical | platform |
/// | `kpi-drop` | `kpi_drop:*` | `> 0.1` | 0s | warning | data-science |
pub fn default_rules() -> Vec<AlertRule> {
    use Comparison::{Above, AtLeast, Below};
    let table = [
        (
            "rolling-auc-low",
            "auc_roc",
            Below,
            0.65,
            0,
            Severity::Critical,
            "data-science",
        ),
        (
            "drift-share-high",
            "drift_score",
            AtLeast,
            0.15,
            0,
            Severity::Warning,
            "data-science",
        ),
        (
            "null-rate-high",
            "null_excess:*",
            Above,
            0.0,
            0,
            Severity::Warning,
            "data-science",
        ),
        (
            "data-stale",
            "freshness_minutes",
            Above,
            15.0,
            0,
            Severity::Critical,
            "platform",
        ),
        (
            "latency-p95-high",
            "latency_p95_ms",
            Above,
            50.0,
            10,
            Severity::Warning,
            "platform",
        ),
        (
            "error-rate-high",
            "error_rate",
            Above,
            0.01,
            5,
            Severity::Critical,
            "platform",
        ),
        (
            "kpi-drop",
            "kpi_drop:*",
            Above,
            0.1,
            0,
            Severity::Warning,
            "data-science",
        ),
    ];
    table
        .into_iter()
        .map(
            |(name, signal, comparison, threshold, minutes, severity, owner)| AlertRule {
                name: name.to_string(),
                signal: match signal.strip_suffix(":*") {
                    Some(family) => SignalPattern::Family(family.to_string()),
                    None => SignalPattern::Exact(signal.to_string()),
                },
                condition: Condition::new(comparison, threshold),
                hold: Span::minutes(minutes),
                severity,
                owner: owner.to_string(),
                routes: default_routes(),
                repeat: None,
            },
        )
        .collect()
}
