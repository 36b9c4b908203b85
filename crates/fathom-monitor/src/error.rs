//! Why a drift computation could not be done.

use fathom_core::ColumnType;

/// Errors of the monitoring engine. Each says what is wrong, where, and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The drift configuration breaks a rule.
    #[error("drift configuration: {0}")]
    Config(String),
    /// The alert rules, routes or escalation break a rule.
    #[error("alert configuration: {0}")]
    Alert(String),
    /// The saved alert state cannot be read.
    #[error("alert state: {0}")]
    AlertState(String),
    /// The drift policy's settings break a rule.
    #[error("drift policy: {0}")]
    Policy(String),
    /// A schema column is absent from one of the two data sets.
    #[error(
        "column '{column}' is in the schema but not in the {side} data; the {side} columns are: {}. Pass data with the model's columns or a schema that matches the data",
        valid.join(", ")
    )]
    MissingColumn {
        /// The column looked for.
        column: String,
        /// `reference` or `current`.
        side: &'static str,
        /// The columns the data does have.
        valid: Vec<String>,
    },
    /// A column's type in the data differs from the schema's.
    #[error(
        "column '{column}' is {found} in the {side} data but the schema says {expected}; convert it or fix the schema"
    )]
    TypeMismatch {
        /// The column.
        column: String,
        /// `reference` or `current`.
        side: &'static str,
        /// The type the schema declares.
        expected: ColumnType,
        /// The type found in the data.
        found: ColumnType,
    },
    /// A test chosen for a feature cannot be applied to its values.
    #[error("feature '{feature}': the '{test}' test does not apply: {reason}")]
    TestNotApplicable {
        /// The feature.
        feature: String,
        /// The test's name.
        test: &'static str,
        /// Why not, and what to choose instead.
        reason: String,
    },
    /// A `[monitor.quality]`, `[monitor.performance]` or `[monitor.signals]`
    /// setting breaks a rule.
    #[error("[monitor.{section}]: {detail}")]
    Settings {
        /// The table: `quality`, `performance` or `signals`.
        section: &'static str,
        /// What is wrong and what to write instead.
        detail: String,
    },
    /// A feedback label is neither 0 nor 1.
    #[error(
        "outcome {position}{}: label {value} is not 0 or 1; send feedback with label 1 for the positive class (fraud) and 0 otherwise",
        request_label(request_id)
    )]
    LabelNotBinary {
        /// Position of the outcome in the input.
        position: usize,
        /// Its request id (may be empty).
        request_id: String,
        /// The label.
        value: f64,
    },
    /// A logged score is NaN or infinite.
    #[error(
        "outcome {position}{}: score {value} is not a finite number; leave such predictions out of the outcomes",
        request_label(request_id)
    )]
    ScoreNotFinite {
        /// Position of the outcome in the input.
        position: usize,
        /// Its request id (may be empty).
        request_id: String,
        /// The score.
        value: f64,
    },
    /// A monitoring input is inconsistent (e.g. more errors than requests).
    #[error("{0}")]
    InvalidInput(String),
}

/// ` (request ID)`, or nothing for an empty id.
fn request_label(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" (request {id})")
    }
}
