//! Trained decision trees and tree ensembles: what serving links.
//!
//! A [`Tree`] is stored as flattened struct-of-arrays node tables. Internal
//! nodes are numbered `0..num_nodes()`, leaves `0..num_leaves()`. A child
//! index `c >= 0` points at internal node `c`; a negative child `c` points at
//! leaf `!c` (bitwise not), as in LightGBM.
//!
//! Split semantics, for a row of raw feature values (`f64`, `NaN` = missing;
//! a categorical feature's value is its category code as `f64`):
//!
//! * **numeric** split: `value <= threshold` goes left, `value > threshold`
//!   goes right; a missing value — `NaN`, and also `±inf`, which training
//!   bins as missing too — goes left iff `default_left`;
//! * **categorical** split: a code whose bit is set in the node's bitset goes
//!   left; every other value goes right — codes not in the set, codes never
//!   seen in training, negative or non-integral values and missing (`NaN`).
//!
//! No training code lives here.

use serde::{Deserialize, Serialize};

/// The kind of test an internal node applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// `value <= threshold` goes left; missing (non-finite) goes to the
    /// default side.
    Numeric,
    /// Code in the node's bitset goes left; anything else goes right.
    Categorical,
}

/// One trained regression tree in flattened form.
///
/// All `Vec`s indexed by internal node have length [`Tree::num_nodes`]; all
/// indexed by leaf have length [`Tree::num_leaves`]. A tree with no internal
/// node is a single leaf (a constant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Feature index tested by each internal node.
    pub split_feature: Vec<u32>,
    /// Kind of test of each internal node.
    pub split_kind: Vec<SplitKind>,
    /// Numeric threshold of each internal node (`value <= threshold` goes
    /// left); for categorical nodes, unused and 0.
    pub threshold: Vec<f64>,
    /// Where a missing value goes at each internal node (numeric nodes only;
    /// categorical nodes always send missing right and store `false`).
    pub default_left: Vec<bool>,
    /// For categorical nodes, the index `i` of the node's bitset: its words
    /// are `cat_words[cat_boundaries[i]..cat_boundaries[i + 1]]`; `u32::MAX`
    /// for numeric nodes.
    pub cat_index: Vec<u32>,
    /// Boundaries of the categorical bitsets in `cat_words` (length = number
    /// of categorical nodes + 1, starting at 0).
    pub cat_boundaries: Vec<u32>,
    /// Concatenated bitset words: bit `c % 32` of word `c / 32` set means
    /// category code `c` goes left.
    pub cat_words: Vec<u32>,
    /// Left child of each internal node (`>= 0` node, `< 0` leaf `!c`).
    pub left_child: Vec<i32>,
    /// Right child of each internal node (`>= 0` node, `< 0` leaf `!c`).
    pub right_child: Vec<i32>,
    /// Loss reduction (gain) of each internal node's split.
    pub split_gain: Vec<f64>,
    /// Number of training rows that reached each internal node.
    pub internal_count: Vec<u64>,
    /// Sum of hessians of the training rows that reached each internal node.
    pub internal_hess: Vec<f64>,
    /// Output each internal node would have as a leaf (shrinkage applied).
    pub internal_value: Vec<f64>,
    /// Output of each leaf (shrinkage applied): added to the raw score.
    pub leaf_value: Vec<f64>,
    /// Number of training rows that reached each leaf.
    pub leaf_count: Vec<u64>,
    /// Sum of hessians of the training rows that reached each leaf.
    pub leaf_hess: Vec<f64>,
}

impl Tree {
    /// A tree made of one leaf with the given value, count and hessian sum.
    pub fn constant(value: f64, count: u64, hess: f64) -> Self {
        Tree {
            split_feature: Vec::new(),
            split_kind: Vec::new(),
            threshold: Vec::new(),
            default_left: Vec::new(),
            cat_index: Vec::new(),
            cat_boundaries: vec![0],
            cat_words: Vec::new(),
            left_child: Vec::new(),
            right_child: Vec::new(),
            split_gain: Vec::new(),
            internal_count: Vec::new(),
            internal_hess: Vec::new(),
            internal_value: Vec::new(),
            leaf_value: vec![value],
            leaf_count: vec![count],
            leaf_hess: vec![hess],
        }
    }

    /// Number of internal (split) nodes.
    pub fn num_nodes(&self) -> usize {
        self.split_feature.len()
    }

    /// Number of leaves (`num_nodes() + 1`).
    pub fn num_leaves(&self) -> usize {
        self.leaf_value.len()
    }

    /// The bitset words of categorical node `node` (empty for numeric nodes).
    pub fn cat_bitset(&self, node: usize) -> &[u32] {
        let i = self.cat_index[node];
        if i == u32::MAX {
            return &[];
        }
        let i = i as usize;
        let (a, b) = (self.cat_boundaries[i], self.cat_boundaries[i + 1]);
        &self.cat_words[a as usize..b as usize]
    }

    /// Whether `value` goes to the left child of internal node `node`.
    #[inline]
    pub fn goes_left(&self, node: usize, value: f64) -> bool {
        match self.split_kind[node] {
            SplitKind::Numeric => {
                if !value.is_finite() {
                    self.default_left[node]
                } else {
                    value <= self.threshold[node]
                }
            }
            SplitKind::Categorical => bitset_contains(self.cat_bitset(node), value),
        }
    }

    /// The leaf that `row` (raw feature values, `NaN` = missing) falls into.
    ///
    /// A row shorter than the largest split feature reads the absent
    /// features as missing.
    pub fn leaf_index(&self, row: &[f64]) -> usize {
        if self.num_nodes() == 0 {
            return 0;
        }
        let mut node: i32 = 0;
        while node >= 0 {
            let n = node as usize;
            let f = self.split_feature[n] as usize;
            let v = row.get(f).copied().unwrap_or(f64::NAN);
            node = if self.goes_left(n, v) {
                self.left_child[n]
            } else {
                self.right_child[n]
            };
        }
        !node as usize
    }

    /// The tree's output for one row of raw feature values.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.leaf_value[self.leaf_index(row)]
    }

    /// Depth of the deepest leaf (0 for a single-leaf tree).
    pub fn depth(&self) -> usize {
        fn go(t: &Tree, c: i32) -> usize {
            if c < 0 {
                0
            } else {
                let n = c as usize;
                1 + go(t, t.left_child[n]).max(go(t, t.right_child[n]))
            }
        }
        if self.num_nodes() == 0 {
            0
        } else {
            go(self, 0)
        }
    }
}

/// Whether the categorical value `value` (a code as `f64`) is in `bits`.
/// Missing, negative, non-integral and out-of-range values are not.
#[inline]
pub(crate) fn bitset_contains(bits: &[u32], value: f64) -> bool {
    if value.is_nan() || value < 0.0 || value.fract() != 0.0 || value >= (bits.len() as f64) * 32.0
    {
        return false;
    }
    let c = value as usize;
    bits[c / 32] >> (c % 32) & 1 == 1
}

/// A boosted ensemble: `raw score = base_score + Σ tree outputs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// The trees, in boosting order.
    pub trees: Vec<Tree>,
    /// Initial raw score (e.g. the log-odds of the base rate for "binary").
    pub base_score: f64,
    /// Number of features a row must provide.
    pub num_features: usize,
    /// Name of the training objective ("binary", "regression").
    pub objective: String,
}

impl Ensemble {
    /// Raw score (margin) of one row: log-odds for "binary", the prediction
    /// itself for "regression".
    pub fn predict_raw(&self, row: &[f64]) -> f64 {
        self.base_score + self.trees.iter().map(|t| t.predict_row(row)).sum::<f64>()
    }

    /// Prediction on the objective's scale: the probability of class 1 for
    /// "binary" (sigmoid of the raw score), the raw score otherwise.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let raw = self.predict_raw(row);
        if self.objective == "binary" {
            1.0 / (1.0 + (-raw).exp())
        } else {
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x0 <= 0.5 → leaf 0 (-1); else categorical x1 in {1, 33} → leaf 1 (2),
    /// otherwise leaf 2 (5).
    fn sample() -> Tree {
        Tree {
            split_feature: vec![0, 1],
            split_kind: vec![SplitKind::Numeric, SplitKind::Categorical],
            threshold: vec![0.5, 0.0],
            default_left: vec![true, false],
            cat_index: vec![u32::MAX, 0],
            cat_boundaries: vec![0, 2],
            cat_words: vec![1 << 1, 1 << 1],
            left_child: vec![!0, !1],
            right_child: vec![1, !2],
            split_gain: vec![3.0, 1.0],
            internal_count: vec![10, 6],
            internal_hess: vec![10.0, 6.0],
            internal_value: vec![0.0, 0.0],
            leaf_value: vec![-1.0, 2.0, 5.0],
            leaf_count: vec![4, 3, 3],
            leaf_hess: vec![4.0, 3.0, 3.0],
        }
    }

    #[test]
    fn numeric_and_categorical_routing() {
        let t = sample();
        assert_eq!(t.predict_row(&[0.5, 1.0]), -1.0);
        assert_eq!(t.predict_row(&[f64::NAN, 1.0]), -1.0);
        assert_eq!(t.predict_row(&[f64::INFINITY, 1.0]), -1.0);
        assert_eq!(t.predict_row(&[0.6, 1.0]), 2.0);
        assert_eq!(t.predict_row(&[0.6, 33.0]), 2.0);
        assert_eq!(t.predict_row(&[0.6, 2.0]), 5.0);
        assert_eq!(t.predict_row(&[0.6, f64::NAN]), 5.0);
        assert_eq!(t.predict_row(&[0.6, 1000.0]), 5.0);
        assert_eq!(t.predict_row(&[0.6, -1.0]), 5.0);
        assert_eq!(t.predict_row(&[0.6, 1.5]), 5.0);
        assert_eq!(t.predict_row(&[0.6]), 5.0);
        assert_eq!(t.depth(), 2);
        let e = Ensemble {
            trees: vec![t.clone(), Tree::constant(0.25, 10, 10.0)],
            base_score: 1.0,
            num_features: 2,
            objective: "binary".into(),
        };
        assert_eq!(e.predict_raw(&[0.0, 0.0]), 0.25);
        assert!((e.predict(&[0.0, 0.0]) - 1.0 / (1.0 + (-0.25f64).exp())).abs() < 1e-15);
        let json = serde_json::to_string(&e).unwrap();
        let back: Ensemble = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
