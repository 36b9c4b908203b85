//! The signals alert rules are evaluated on, and the cause class of each.
//!
//! The monitoring reports expose flat named numbers `(name, value)`. Some
//! names are single values (`auc_roc`); others are families with one value
//! per feature or KPI (`null_rate:amount`, `kpi_drop:approval_rate`). A
//! rule names a signal exactly, or a whole family with a wildcard
//! (`null_rate:*`), which gives one alert instance per matching name.
//!
//! | cause | signals |
//! |---|---|
//! | system | `latency_p95_ms`, `latency_p99_ms`, `error_rate`, `degraded_rate`, `job_success_rate`, `freshness_minutes`, `volume_ratio`, `label_coverage`, `pending_predictions` |
//! | data | `drift_score`, `drift:*`, `null_rate:*`, `null_excess:*`, `null_rate_max`, `out_of_range_share:*`, `unseen_share:*`, `schema_changed`, `quality_findings` |
//! | model | `auc_roc`, `auc_pr`, `precision`, `recall`, `f1`, `brier`, `auc_roc_drop`, `prediction_drift`, `kpi:*`, `kpi_drop:*` |

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of fault an alert points at, which decides who handles it
/// after the on-call's first response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// Serving, jobs and data delivery: the platform's to fix.
    System,
    /// The inputs changed: quality or drift.
    Data,
    /// The model's predictions or their business effect got worse.
    Model,
}

impl Cause {
    /// The lower-case name used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Cause::System => "system",
            Cause::Data => "data",
            Cause::Model => "model",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every single-valued signal, with its cause.
pub const SIGNALS: [(&str, Cause); 21] = [
    ("latency_p95_ms", Cause::System),
    ("latency_p99_ms", Cause::System),
    ("error_rate", Cause::System),
    ("degraded_rate", Cause::System),
    ("job_success_rate", Cause::System),
    ("freshness_minutes", Cause::System),
    ("volume_ratio", Cause::System),
    ("label_coverage", Cause::System),
    ("pending_predictions", Cause::System),
    ("drift_score", Cause::Data),
    ("null_rate_max", Cause::Data),
    ("schema_changed", Cause::Data),
    ("quality_findings", Cause::Data),
    ("auc_roc", Cause::Model),
    ("auc_pr", Cause::Model),
    ("precision", Cause::Model),
    ("recall", Cause::Model),
    ("f1", Cause::Model),
    ("brier", Cause::Model),
    ("auc_roc_drop", Cause::Model),
    ("prediction_drift", Cause::Model),
];

/// Every family of signals (`family:name`, one per feature or KPI), with
/// its cause.
pub const FAMILIES: [(&str, Cause); 7] = [
    ("drift", Cause::Data),
    ("null_rate", Cause::Data),
    ("null_excess", Cause::Data),
    ("out_of_range_share", Cause::Data),
    ("unseen_share", Cause::Data),
    ("kpi", Cause::Model),
    ("kpi_drop", Cause::Model),
];

/// The signal a rule watches: one name, or every name of a family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalPattern {
    /// One signal, e.g. `auc_roc` or `null_rate:amount`.
    Exact(String),
    /// Every signal of a family, written `null_rate:*`; holds the family
    /// name without the colon.
    Family(String),
}

impl SignalPattern {
    /// Parses `name`, `family:name` or `family:*`; the error lists the
    /// valid names.
    pub fn parse(text: &str) -> Result<SignalPattern, String> {
        let t = text.trim();
        if let Some((family, rest)) = t.split_once(':') {
            if !FAMILIES.iter().any(|(f, _)| *f == family) {
                return Err(format!(
                    "signal \"{text}\" names the family '{family}', which does not exist; the families are: {}",
                    family_list()
                ));
            }
            return match rest {
                "*" => Ok(SignalPattern::Family(family.to_string())),
                "" => Err(format!(
                    "signal \"{text}\" names no member; write {family}:<name>, or {family}:* for all"
                )),
                r if r.contains('*') => Err(format!(
                    "signal \"{text}\": a wildcard stands alone after the colon ({family}:*)"
                )),
                _ => Ok(SignalPattern::Exact(t.to_string())),
            };
        }
        if SIGNALS.iter().any(|(s, _)| *s == t) {
            Ok(SignalPattern::Exact(t.to_string()))
        } else {
            Err(format!(
                "signal \"{text}\" is not known; the signals are: {}; and per feature or KPI: {}",
                SIGNALS
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(", "),
                family_list()
            ))
        }
    }

    /// Whether the signal `name` is one this pattern watches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            SignalPattern::Exact(s) => s == name,
            SignalPattern::Family(f) => name
                .strip_prefix(f.as_str())
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|member| !member.is_empty()),
        }
    }

    /// The cause class of the signals it watches (system for a name
    /// outside the catalogue, which [`SignalPattern::parse`] never gives).
    pub fn cause(&self) -> Cause {
        let name = match self {
            SignalPattern::Exact(s) => s.as_str(),
            SignalPattern::Family(f) => f.as_str(),
        };
        cause_of(name).unwrap_or(Cause::System)
    }
}

impl fmt::Display for SignalPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalPattern::Exact(s) => f.write_str(s),
            SignalPattern::Family(fam) => write!(f, "{fam}:*"),
        }
    }
}

/// The cause class of a signal name (`auc_roc`, `null_rate:amount`), or of
/// a family name (`null_rate`); `None` for unknown names.
pub fn cause_of(name: &str) -> Option<Cause> {
    let family = name.split_once(':').map_or(name, |(f, _)| f);
    SIGNALS
        .iter()
        .chain(FAMILIES.iter())
        .find(|(s, _)| *s == family)
        .map(|(_, c)| *c)
}

fn family_list() -> String {
    FAMILIES
        .iter()
        .map(|(f, _)| format!("{f}:*"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_and_families() {
        let fam = SignalPattern::parse("null_rate:*").unwrap();
        assert!(fam.matches("null_rate:amount"));
        assert!(!fam.matches("null_rate:"));
        assert!(!fam.matches("null_rate_max"));
        assert!(!fam.matches("drift:amount"));
        assert_eq!(fam.to_string(), "null_rate:*");
        let one = SignalPattern::parse("drift:amount").unwrap();
        assert!(one.matches("drift:amount") && !one.matches("drift:country"));
        assert_eq!(one.cause(), Cause::Data);
        assert_eq!(
            SignalPattern::parse("kpi_drop:*").unwrap().cause(),
            Cause::Model
        );
        assert_eq!(
            SignalPattern::parse("auc_roc").unwrap().cause(),
            Cause::Model
        );
        assert_eq!(cause_of("error_rate"), Some(Cause::System));
        assert_eq!(cause_of("nope"), None);
    }

    #[test]
    fn unknown_signals_list_the_valid_ones() {
        let err = SignalPattern::parse("auc").unwrap_err();
        assert!(
            err.contains("auc_roc") && err.contains("null_rate:*"),
            "{err}"
        );
        let err = SignalPattern::parse("nulls:*").unwrap_err();
        assert!(
            err.contains("'nulls'") && err.contains("kpi_drop:*"),
            "{err}"
        );
        assert!(SignalPattern::parse("drift:").is_err());
        assert!(SignalPattern::parse("drift:am*").is_err());
    }
}
