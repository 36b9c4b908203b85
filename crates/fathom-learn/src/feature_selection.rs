//! Feature selection: a filter method (mutual information between each
//! feature and the label) and an embedded one (each feature's share of a
//! GBDT's total split gain), reported for every feature of the tree
//! pipeline and optionally applied by dropping weak input columns.
//!
//! Both are computed on the fitting rows only. Mutual information needs
//! discrete values: a numeric feature is cut into quantile bins of the
//! fitting rows (numpy's linear quantiles at `k / bins`, repeated edges
//! merged, a value equal to an edge in the lower bin as
//! `numpy.searchsorted(edges, x, side="left")`, missing values in a bin of
//! their own); a categorical feature uses its codes. The estimate is
//! scikit-learn's `mutual_info_score` on those values, in nats. As that
//! estimate is biased upwards (by about `(levels − 1) / 2n` for a feature
//! unrelated to the label), a feature also counts as weak by the filter
//! when its information is not significant: under independence, the
//! G-statistic `2n · MI` follows a χ² distribution with
//! `(levels − 1)(classes − 1)` degrees of freedom, and its p-value is
//! reported and compared with `max_p_value`.
//!
//! Neither method is enough alone: mutual information misses features
//! that only matter together with others, and split gain under-credits a
//! feature that a correlated stronger one shadows. So by default
//! ([`SelectionRule::Both`]) a feature is called weak only when both
//! methods find it so, and an input column is dropped (when
//! `apply = true`) only when all its features are weak. Dropping marks the
//! column `role = "ignore"` in a copy of the contract and fits the
//! pipelines again; the model's stored contract stays the one the data was
//! checked against.

use serde::{Deserialize, Serialize};

/// Settings of feature selection (`[train.feature_selection]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectionConfig {
    /// Quantile bins of a numeric feature for mutual information.
    pub bins: usize,
    /// A feature with less mutual information with the label (nats) is
    /// weak by the filter method.
    pub min_mutual_info: f64,
    /// A feature whose mutual information has a larger p-value (G-test of
    /// independence) is weak by the filter method.
    pub max_p_value: f64,
    /// A feature with a smaller share of the GBDT's total gain is weak by
    /// the embedded method.
    pub min_importance_share: f64,
    /// Which methods must call a feature weak.
    pub rule: SelectionRule,
    /// Drop input columns whose features are all weak (otherwise only report).
    pub apply: bool,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            bins: 10,
            min_mutual_info: 0.0,
            max_p_value: 0.01,
            min_importance_share: 0.005,
            rule: SelectionRule::Both,
            apply: false,
        }
    }
}

impl SelectionConfig {
    /// Checks the settings' ranges.
    pub fn check(&self) -> Result<(), String> {
        if self.bins < 2 {
            return Err(format!(
                "feature_selection.bins = {}: must be >= 2",
                self.bins
            ));
        }
        if !(self.min_mutual_info.is_finite() && self.min_mutual_info >= 0.0) {
            return Err(format!(
                "feature_selection.min_mutual_info = {}: must be a number >= 0 (nats)",
                self.min_mutual_info
            ));
        }
        if !(0.0..=1.0).contains(&self.max_p_value) {
            return Err(format!(
                "feature_selection.max_p_value = {}: must be in [0, 1]",
                self.max_p_value
            ));
        }
        if !(0.0..=1.0).contains(&self.min_importance_share) {
            return Err(format!(
                "feature_selection.min_importance_share = {}: must be in [0, 1]",
                self.min_importance_share
            ));
        }
        Ok(())
    }
}

/// Which methods must call a feature weak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectionRule {
    /// Weak by both methods (conservative; the default).
    #[default]
    Both,
    /// Weak by either method.
    Either,
    /// Weak by mutual information alone.
    MutualInfo,
    /// Weak by gain share alone.
    Importance,
}

/// One feature's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureScore {
    /// The pipeline feature.
    pub feature: String,
    /// The input column it comes from.
    pub column: String,
    /// Mutual information with the label, in nats.
    pub mutual_info: f64,
    /// p-value of the G-test of independence from the label.
    pub p_value: f64,
    /// Share of the GBDT's total split gain, in [0, 1].
    pub importance_share: f64,
    /// Below `min_mutual_info`, or a p-value above `max_p_value`.
    pub weak_by_mutual_info: bool,
    /// Below `min_importance_share`.
    pub weak_by_importance: bool,
}

/// The outcome of feature selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionReport {
    /// The settings used.
    pub config: SelectionConfig,
    /// Entropy of the label on the fitting rows (nats): the most mutual
    /// information any feature can have.
    pub label_entropy: f64,
    /// Every feature of the tree pipeline, in pipeline order.
    pub features: Vec<FeatureScore>,
    /// Input columns all of whose features are weak by the rule.
    pub weak_columns: Vec<String>,
    /// Input columns dropped from the pipelines (empty unless applied).
    pub dropped: Vec<String>,
    /// Why nothing was dropped although `apply` was set, if so.
    pub note: Option<String>,
}

/// numpy's default (linear) quantile of sorted values, with numpy's
/// interpolation arithmetic (from the upper neighbour when `t >= 0.5`).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Inner edges of `bins` quantile bins of the non-missing `values`
/// (`numpy.unique(numpy.quantile(x, [1/bins, …, (bins-1)/bins]))`).
pub fn quantile_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return Vec::new();
    }
    present.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..bins)
        .map(|k| quantile(&present, k as f64 / bins as f64))
        .collect();
    edges.dedup();
    edges
}

/// The bin of `value` given inner `edges`: the number of edges below it
/// (`numpy.searchsorted(edges, value, side="left")`), and `edges.len() + 1`
/// for a missing value.
pub fn bin_of(value: f64, edges: &[f64]) -> usize {
    if value.is_nan() {
        edges.len() + 1
    } else {
        edges.partition_point(|e| *e < value)
    }
}

/// Mutual information (nats) between discrete `codes` and binary labels
/// `y`, computed as scikit-learn's `mutual_info_score` does from the
/// contingency table. Zero for empty input.
pub fn mutual_information(codes: &[usize], y: &[f64]) -> f64 {
    let n = codes.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let levels = codes.iter().copied().max().unwrap_or(0) + 1;
    let mut table = vec![[0u64; 2]; levels];
    for (&c, &l) in codes.iter().zip(y) {
        table[c][usize::from(l == 1.0)] += 1;
    }
    let total = n as f64;
    let col = [0, 1].map(|j| table.iter().map(|r| r[j]).sum::<u64>() as f64);
    let mut mi = 0.0;
    for row in &table {
        let a = (row[0] + row[1]) as f64;
        for (j, &nij) in row.iter().enumerate() {
            if nij == 0 {
                continue;
            }
            let nij = nij as f64;
            let p = nij / total;
            let log_outer = -(a * col[j]).ln() + total.ln() + total.ln();
            mi += p * (nij.ln() - total.ln()) + p * log_outer;
        }
    }
    mi.max(0.0)
}

/// p-value of the G-test of independence of `codes` and binary labels `y`
/// whose mutual information is `mi` nats: `P(χ²(df) > 2n·mi)` with
/// `df = (levels present − 1)(classes present − 1)`; 1 when `df = 0`.
pub fn independence_p_value(mi: f64, codes: &[usize], y: &[f64]) -> f64 {
    let mut levels: Vec<usize> = codes.to_vec();
    levels.sort_unstable();
    levels.dedup();
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    let classes = 1 + usize::from(positives > 0 && positives < y.len());
    let df = (levels.len().saturating_sub(1) * (classes - 1)) as f64;
    if df == 0.0 {
        return 1.0;
    }
    chi2_sf(2.0 * codes.len() as f64 * mi, df)
}

/// Survival function of the χ² distribution with `df` degrees of freedom.
pub use fathom_core::special::chi2_sf;

/// Entropy (nats) of binary labels.
pub fn label_entropy(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    [pos, n - pos]
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / n) * (c / n).ln())
        .sum()
}

/// One feature's values on the fitting rows, as selection needs them.
pub struct FeatureColumn<'a> {
    /// Feature name.
    pub feature: String,
    /// The input column it comes from.
    pub column: String,
    /// Values on the fitting rows.
    pub values: &'a [f64],
    /// Whether the values are category codes (used as they are).
    pub categorical: bool,
}

/// Scores every feature and decides which input columns are weak.
/// `importance_gain` holds each feature's total split gain, in the order
/// of `features`; `y` the labels of the fitting rows.
pub fn score_features(
    config: &SelectionConfig,
    features: &[FeatureColumn<'_>],
    importance_gain: &[f64],
    y: &[f64],
) -> SelectionReport {
    let total_gain: f64 = importance_gain.iter().sum();
    let scores: Vec<FeatureScore> = features
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let codes: Vec<usize> = if f.categorical {
                f.values
                    .iter()
                    .map(|&v| {
                        if v.is_nan() || v < 0.0 {
                            usize::MAX
                        } else {
                            v as usize
                        }
                    })
                    .collect::<Vec<_>>()
            } else {
                let edges = quantile_edges(f.values, config.bins);
                f.values.iter().map(|&v| bin_of(v, &edges)).collect()
            };
            // Missing codes become one level past the largest.
            let top = codes
                .iter()
                .copied()
                .filter(|&c| c != usize::MAX)
                .max()
                .unwrap_or(0);
            let codes: Vec<usize> = codes
                .into_iter()
                .map(|c| if c == usize::MAX { top + 1 } else { c })
                .collect();
            let mutual_info = mutual_information(&codes, y);
            let p_value = independence_p_value(mutual_info, &codes, y);
            let gain = importance_gain.get(j).copied().unwrap_or(0.0);
            let importance_share = if total_gain > 0.0 {
                gain / total_gain
            } else {
                0.0
            };
            FeatureScore {
                feature: f.feature.clone(),
                column: f.column.clone(),
                mutual_info,
                p_value,
                importance_share,
                weak_by_mutual_info: mutual_info < config.min_mutual_info
                    || p_value > config.max_p_value,
                weak_by_importance: importance_share < config.min_importance_share,
            }
        })
        .collect();
    let weak = |s: &FeatureScore| match config.rule {
        SelectionRule::Both => s.weak_by_mutual_info && s.weak_by_importance,
        SelectionRule::Either => s.weak_by_mutual_info || s.weak_by_importance,
        SelectionRule::MutualInfo => s.weak_by_mutual_info,
        SelectionRule::Importance => s.weak_by_importance,
    };
    let mut columns: Vec<&str> = Vec::new();
    for s in &scores {
        if !columns.contains(&s.column.as_str()) {
            columns.push(&s.column);
        }
    }
    let weak_columns: Vec<String> = columns
        .iter()
        .filter(|c| scores.iter().filter(|s| s.column == **c).all(weak))
        .map(|c| c.to_string())
        .collect();
    let (dropped, note) = if !config.apply {
        (Vec::new(), None)
    } else if weak_columns.len() == columns.len() {
        (
            Vec::new(),
            Some(format!(
                "every input column is weak by the '{}' rule, so none was dropped; lower the thresholds",
                serde_json::to_value(config.rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )),
        )
    } else {
        (weak_columns.clone(), None)
    };
    SelectionReport {
        config: config.clone(),
        label_entropy: label_entropy(y),
        features: scores,
        weak_columns,
        dropped,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_entropy_of_a_fair_coin_is_ln2() {
        assert!((label_entropy(&[0.0, 1.0, 1.0, 0.0]) - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(label_entropy(&[1.0, 1.0]), 0.0);
    }

    #[test]
    fn a_copy_of_the_label_has_all_its_information() {
        let y = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let codes: Vec<usize> = y.iter().map(|&v| v as usize).collect();
        assert!((mutual_information(&codes, &y) - label_entropy(&y)).abs() < 1e-15);
        assert_eq!(mutual_information(&[3; 6], &y), 0.0);
    }
}
