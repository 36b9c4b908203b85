//! What the drift computation is told: thresholds, the sample size that
//! separates hypothesis tests from distances, and per-feature overrides.
//! Read from the `[monitor.drift]` table of `fathom.toml`:
//!
//! ```toml
//! [monitor.drift]
//! warn_share = 0.15
//! severe_share = 0.2
//! prediction = "score"
//!
//! [monitor.drift.features]
//! amount = "psi"
//! country = { test = "chisquare", threshold = 0.01 }
//! ```

use crate::MonitorError;
use fathom_core::{Role, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A drift test or distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftTest {
    /// Two-sample Kolmogorov–Smirnov test (numbers); drift when p < threshold.
    Ks,
    /// Chi-squared test of homogeneity on level counts; drift when p < threshold.
    Chisquare,
    /// z-test for two proportions (at most two values); drift when p < threshold.
    Z,
    /// Population stability index over bins; drift when PSI ≥ threshold.
    Psi,
    /// Wasserstein distance divided by the reference's standard deviation
    /// (numbers); drift when it is ≥ threshold.
    Wasserstein,
    /// Jensen–Shannon distance (natural logarithm) over bins; drift when it
    /// is ≥ threshold.
    Jensenshannon,
}

impl DriftTest {
    /// Every test, in documentation order.
    pub const ALL: [DriftTest; 6] = [
        DriftTest::Ks,
        DriftTest::Chisquare,
        DriftTest::Z,
        DriftTest::Psi,
        DriftTest::Wasserstein,
        DriftTest::Jensenshannon,
    ];

    /// The name used in configuration files and reports.
    pub fn name(self) -> &'static str {
        match self {
            DriftTest::Ks => "ks",
            DriftTest::Chisquare => "chisquare",
            DriftTest::Z => "z",
            DriftTest::Psi => "psi",
            DriftTest::Wasserstein => "wasserstein",
            DriftTest::Jensenshannon => "jensenshannon",
        }
    }

    /// Whether the test yields a p-value (drift below the threshold) rather
    /// than a distance (drift at or above it).
    pub fn is_hypothesis_test(self) -> bool {
        matches!(self, DriftTest::Ks | DriftTest::Chisquare | DriftTest::Z)
    }

    /// Whether the test needs numbers (it cannot compare categories).
    pub fn needs_numbers(self) -> bool {
        matches!(self, DriftTest::Ks | DriftTest::Wasserstein)
    }
}

impl fmt::Display for DriftTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A per-feature override: a test name, or a table with a test and/or a
/// threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureRule {
    /// `amount = "psi"`.
    Test(DriftTest),
    /// `amount = { test = "psi", threshold = 0.25 }`.
    Detailed(FeatureSetting),
}

/// The table form of a [`FeatureRule`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetting {
    /// The test; the automatic choice when absent.
    #[serde(default)]
    pub test: Option<DriftTest>,
    /// The threshold; the default of the test's kind when absent.
    #[serde(default)]
    pub threshold: Option<f64>,
}

impl FeatureRule {
    /// The chosen test, if any.
    pub fn test(&self) -> Option<DriftTest> {
        match self {
            FeatureRule::Test(t) => Some(*t),
            FeatureRule::Detailed(s) => s.test,
        }
    }

    /// The chosen threshold, if any.
    pub fn threshold(&self) -> Option<f64> {
        match self {
            FeatureRule::Test(_) => None,
            FeatureRule::Detailed(s) => s.threshold,
        }
    }
}

/// Settings of the drift computation. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// Share of drifted features at or above which the verdict is `warn`.
    pub warn_share: f64,
    /// Share of drifted features at or above which the verdict is `severe`.
    pub severe_share: f64,
    /// Reference sizes (present values) up to this use hypothesis tests,
    /// larger ones use distances.
    pub small_sample: u64,
    /// Default threshold of the hypothesis tests (`ks`, `chisquare`, `z`).
    pub p_value: f64,
    /// Default threshold of the distances (`wasserstein`, `jensenshannon`, `psi`).
    pub distance: f64,
    /// Equal-width bins for `psi` and `jensenshannon` on numbers with more
    /// than 20 distinct reference values.
    pub bins: usize,
    /// Bins of the per-feature charts (numbers).
    pub chart_bins: usize,
    /// The column holding the model's score, for prediction drift.
    pub prediction: Option<String>,
    /// Per-feature overrides, by column name.
    pub features: BTreeMap<String, FeatureRule>,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            warn_share: 0.15,
            severe_share: 0.2,
            small_sample: 1000,
            p_value: 0.05,
            distance: 0.1,
            bins: 30,
            chart_bins: 24,
            prediction: None,
            features: BTreeMap::new(),
        }
    }
}

impl DriftConfig {
    /// The default threshold for `test`.
    pub fn default_threshold(&self, test: DriftTest) -> f64 {
        if test.is_hypothesis_test() {
            self.p_value
        } else {
            self.distance
        }
    }

    /// Checks the settings against the rules and the schema: overrides must
    /// name a feature, the label or the prediction column.
    pub fn check(&self, schema: &Schema) -> Result<(), MonitorError> {
        let bad = |m: String| Err(MonitorError::Config(m));
        if !(self.warn_share > 0.0
            && self.warn_share <= self.severe_share
            && self.severe_share <= 1.0)
        {
            return bad(format!(
                "warn_share {} and severe_share {} must satisfy 0 < warn_share ≤ severe_share ≤ 1",
                self.warn_share, self.severe_share
            ));
        }
        if !(self.p_value > 0.0 && self.p_value < 1.0) {
            return bad(format!(
                "p_value is {}, it must lie strictly between 0 and 1 (e.g. 0.05)",
                self.p_value
            ));
        }
        if !(self.distance > 0.0 && self.distance.is_finite()) {
            return bad(format!(
                "distance is {}, it must be a positive number (e.g. 0.1)",
                self.distance
            ));
        }
        if self.bins < 2 || self.chart_bins < 2 {
            return bad(format!(
                "bins ({}) and chart_bins ({}) must be at least 2",
                self.bins, self.chart_bins
            ));
        }
        let mut valid: Vec<&str> = schema
            .columns
            .iter()
            .filter(|c| matches!(c.role, Role::Feature | Role::Label))
            .map(|c| c.name.as_str())
            .collect();
        if let Some(p) = &self.prediction {
            valid.push(p);
        }
        for (name, rule) in &self.features {
            if !valid.contains(&name.as_str()) {
                return bad(format!(
                    "[monitor.drift.features] names '{name}', which is not a feature, the label or the prediction; valid names are: {}",
                    valid.join(", ")
                ));
            }
            if let Some(t) = rule.threshold() {
                let test = rule.test();
                let p_like = test.is_some_and(DriftTest::is_hypothesis_test);
                if !(t > 0.0 && t.is_finite()) || (p_like && t >= 1.0) {
                    return bad(format!(
                        "feature '{name}': threshold {t} must be positive{}",
                        if p_like {
                            " and below 1 for a p-value"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fathom_core::{ColumnSpec, ColumnType};

    fn schema() -> Schema {
        Schema::new(vec![
            ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
            ColumnSpec::new("country", ColumnType::Categorical, Role::Feature),
            ColumnSpec::new("id", ColumnType::Numeric, Role::Id),
        ])
    }

    #[test]
    fn overrides_read_from_toml_in_both_forms() {
        let cfg: DriftConfig = toml::from_str(
            "warn_share = 0.1\n[features]\namount = \"psi\"\ncountry = { test = \"chisquare\", threshold = 0.01 }\n",
        )
        .unwrap();
        assert_eq!(cfg.warn_share, 0.1);
        assert_eq!(cfg.severe_share, 0.2);
        assert_eq!(cfg.features["amount"].test(), Some(DriftTest::Psi));
        assert_eq!(cfg.features["country"].threshold(), Some(0.01));
        cfg.check(&schema()).unwrap();
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let err = toml::from_str::<DriftConfig>("[features]\namount = \"t-test\"\n").unwrap_err();
        assert!(err.to_string().contains("amount"), "{err}");
        let err = toml::from_str::<DriftConfig>("warn = 0.1\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let mut cfg = DriftConfig::default();
        cfg.features
            .insert("id".into(), FeatureRule::Test(DriftTest::Ks));
        let err = cfg.check(&schema()).unwrap_err().to_string();
        assert!(
            err.contains("'id'") && err.contains("amount, country"),
            "{err}"
        );
        let cfg = DriftConfig {
            warn_share: 0.3,
            ..DriftConfig::default()
        };
        assert!(cfg.check(&schema()).is_err());
    }
}
