//! One monitoring check of a deployed model, whole: input and prediction
//! drift, data quality, live performance, system and business signals, the
//! alerts they raised and the policy's decision. The CLI fills it from a
//! window of the prediction log; [`crate::report::check`] renders it.

use crate::alert::Notification;
use crate::policy::Decision;
use crate::{DriftReport, PerformanceReport, QualityReport, SignalsReport};
use serde::{Deserialize, Serialize};

/// Everything one check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The registered model.
    pub model: String,
    /// The version checked.
    pub version: i64,
    /// What the window was compared with (e.g. the training snapshot).
    pub reference: String,
    /// The window as written (`1h`).
    pub window: String,
    /// Start of the window, ms since the Unix epoch.
    pub from_ms: i64,
    /// End of the window (the time of the check).
    pub to_ms: i64,
    /// Answered predictions in the window.
    pub predictions: u64,
    /// Of which labelled by feedback so far.
    pub labelled: u64,
    /// Input and prediction drift; `None` for an empty window.
    pub drift: Option<DriftReport>,
    /// Data quality of the window.
    pub quality: QualityReport,
    /// Live performance from the labels.
    pub performance: PerformanceReport,
    /// Latency, degraded answers, the business KPI.
    pub signals: SignalsReport,
    /// Notifications the alert rules raised at this check.
    pub notifications: Vec<Notification>,
    /// Alerts firing after this check, as `rule/signal`.
    pub firing: Vec<String>,
    /// What the policy decided.
    pub decision: Decision,
}

impl CheckReport {
    /// Every flat named value the alert rules read: the drift signals
    /// ([`drift_signals`]) and each report's own.
    pub fn signals(&self) -> Vec<(String, f64)> {
        let mut out = self.drift.as_ref().map(drift_signals).unwrap_or_default();
        out.extend(self.quality.signals());
        out.extend(self.performance.signals());
        out.extend(self.signals.signals());
        out
    }

    /// One line: what the check concluded.
    pub fn summary(&self) -> String {
        let drift = match &self.drift {
            None => format!(
                "no predictions of {} in the last {}",
                self.model, self.window
            ),
            Some(d) => {
                let names = d.drifted_features();
                format!(
                    "drift {}: {} of {} features drifted ({:.1}%){}",
                    d.verdict.name(),
                    d.drifted,
                    d.tested,
                    d.share_drifted * 100.0,
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", names.join(", "))
                    }
                )
            }
        };
        let performance = if self.performance.degraded {
            "performance degraded".to_string()
        } else {
            match self.performance.windows.first().and_then(|w| w.auc_roc) {
                Some(auc) => format!("AUC-ROC {auc:.3}"),
                None => "performance not measured".to_string(),
            }
        };
        format!(
            "{drift}; {} quality finding{}; {performance}; decision: {}",
            self.quality.findings.len(),
            if self.quality.findings.len() == 1 {
                ""
            } else {
                "s"
            },
            self.decision.action.name()
        )
    }
}

/// The drift report as flat named values: `drift_score` (the share of
/// drifted features), `drift:<feature>` (1 drifted, 0 not) for every tested
/// feature, and `prediction_drift` (1 or 0) when the score was compared.
pub fn drift_signals(d: &DriftReport) -> Vec<(String, f64)> {
    let mut out = vec![("drift_score".to_string(), d.share_drifted)];
    for f in d.features.iter().filter(|f| f.test.is_some()) {
        out.push((format!("drift:{}", f.name), f64::from(u8::from(f.drifted))));
    }
    if let Some(p) = d.prediction.as_ref().filter(|p| p.test.is_some()) {
        out.push((
            "prediction_drift".to_string(),
            f64::from(u8::from(p.drifted)),
        ));
    }
    out
}
