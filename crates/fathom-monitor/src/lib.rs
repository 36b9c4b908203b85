//! fathom's monitoring engine: is the data a model sees today still the
//! data it learned from?
//!
//! * [`drift`]: every feature of a current data set against a reference
//!   (the training data, a snapshot, or a window of the prediction log),
//!   with a test chosen per feature by [`choice::auto_test`] or by the
//!   configuration; the share of drifted features and a verdict; drift of
//!   the model's score and of the label reported apart.
//! * [`stats`]: the statistics themselves, equal to SciPy's to 1e-9
//!   relative: two-sample Kolmogorov–Smirnov (exact and asymptotic),
//!   chi-squared, proportion z-test, PSI, Wasserstein and Jensen–Shannon.
//! * [`report`]: the self-contained HTML drift report, and the page of a
//!   whole check ([`report::check`]).
//! * [`check`]: one monitoring check whole: drift, quality, performance,
//!   signals, the alerts raised and the decision.
//! * [`alert`]: alert rules with owners over the monitoring signals;
//!   routes, escalation, de-duplication and resolve messages.
//! * [`policy`]: the drift policy, turning drift, performance and the
//!   history of drifted features into a decision record.
//! * [`quality`](mod@quality): data quality of a window against the contract: null
//!   rates, out-of-range values, unseen categories, schema change, volume
//!   and freshness.
//! * [`performance`](mod@performance): live AUC-ROC, AUC-PR, precision, recall, F1, Brier
//!   score and calibration from late-arriving labels, over count and time
//!   windows, against the model's holdout figures.
//! * [`signals`](mod@signals): latency quantiles, error rate, job success rate and a
//!   business KPI with a relative-change rule.
//!
//! Each report's `signals()` gives flat named values for alert rules.
//!
//! A plain synchronous library: no I/O, no HTTP.
//!
//! ```
//! use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};
//! use fathom_monitor::{DriftConfig, Verdict, drift};
//!
//! let schema = Schema::new(vec![ColumnSpec::new("x", ColumnType::Numeric, Role::Feature)]);
//! let reference = Frame::new(vec![Column::numeric("x", (0..500).map(f64::from).collect())]).unwrap();
//! let current = Frame::new(vec![Column::numeric("x", (250..750).map(f64::from).collect())]).unwrap();
//! let report = drift(&reference, &current, &schema, &DriftConfig::default()).unwrap();
//! assert_eq!(report.features[0].test.unwrap().name(), "ks");
//! assert!(report.features[0].drifted);
//! assert_eq!(report.verdict, Verdict::Severe);
//! ```

pub mod alert;
pub mod check;
pub mod choice;
pub mod config;
mod drift;
mod error;
pub mod performance;
pub mod policy;
pub mod quality;
pub mod report;
pub mod sample;
pub mod signals;
pub mod span;
pub mod stats;

pub use config::{DriftConfig, DriftTest, FeatureRule, FeatureSetting};
pub use drift::{Chart, DriftReport, FeatureDrift, Summary, Verdict, drift};
pub use error::MonitorError;
pub use performance::{
    Outcome, PerformanceConfig, PerformanceReport, Window, WindowPerformance, WindowStatus,
    performance,
};
pub use quality::{
    QualityCheck, QualityConfig, QualityContext, QualityFinding, QualityReport, quality,
};
pub use signals::{SignalInput, SignalsConfig, SignalsReport, signals};
pub use span::Span;
