//! The compiled scorer: a tree ensemble rewritten so that a row is scored
//! with small-integer tests and bit lookups, without unpredictable branches.
//!
//! * [`layout`] quantises a row — one small integer per *slot* (a feature
//!   and the kind of test made on it) — and lays out the nodes, their tests
//!   and the answer table from which a row's decisions at every node are
//!   copied;
//! * [`walk`] scores one row: its decisions first, then several trees
//!   walked in lockstep. A batch scores its rows this way on all threads.
//!
//! The result is exactly [`Ensemble::predict_raw`]'s, bit for bit: the
//! integer tests decide as the `f64` tests do, and leaf values are added in
//! tree order starting from `-0.0`, with the base score added last.

mod layout;
mod walk;

use crate::tree::Ensemble;
use layout::{Children, Input, SlotLayout, Test};
use rayon::prelude::*;

/// Rows per parallel work unit of a batch.
const BATCH_TASK: usize = 1024;

/// A tree ensemble compiled for fast scoring. Gives exactly
/// [`Ensemble::predict_raw`]'s and [`Ensemble::predict`]'s results.
#[derive(Clone, Debug)]
pub struct Scorer {
    /// `[right, left]` child of each internal node, numbered slot by slot
    /// (with gaps), padded to a power of two.
    children: Children,
    /// The flag that marks a leaf's number.
    leaf: u32,
    /// Each internal node's test (a dummy in the gaps); kept only when
    /// there is no answer table.
    tests: Vec<Test>,
    /// The bitsets of the categorical tests; as `tests`.
    cat_bits: Vec<u32>,
    /// The answer table (empty when `answered` is false).
    answers: Vec<u32>,
    /// Whether the model has an answer table (else single rows are walked
    /// with the tests).
    answered: bool,
    /// Where each slot's node bits and answers are.
    slots: Vec<SlotLayout>,
    /// Internal nodes are numbered below this (a multiple of 32).
    num_internal: u32,
    /// Each tree's root node, padded with a leaf to a multiple of
    /// [`walk::LANES`] (padding is walked but never added).
    roots: Vec<u32>,
    /// Number of trees (without padding).
    num_trees: usize,
    /// Leaf values: leaf `leaf | i` has value `values[i]`.
    values: Vec<f64>,
    /// The features read from a row, each filling one or two slots.
    inputs: Vec<Input>,
    /// Sorted distinct thresholds of each numeric feature.
    cuts: Vec<f64>,
    base_score: f64,
    num_features: usize,
    binary: bool,
}

impl Scorer {
    /// The value of leaf number `n`.
    #[inline(always)]
    fn leaf_value(&self, n: u32) -> f64 {
        self.values[(n & !self.leaf) as usize]
    }

    /// Compiles an ensemble. Fails (`None`) if a tree is malformed (a
    /// child index out of range or reached twice, lengths that disagree, a
    /// bitset outside its words), or if the ensemble is too large to index
    /// with 32-bit integers, which no sensible model is.
    pub fn compile(ensemble: &Ensemble) -> Option<Scorer> {
        layout::compile(ensemble)
    }

    /// Number of features a row must provide.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Number of trees.
    pub fn num_trees(&self) -> usize {
        self.num_trees
    }

    /// The raw score (margin) of one row. A row shorter than
    /// [`num_features`](Self::num_features) reads the absent features as
    /// missing. Allocates nothing (models with more than about 16,000
    /// internal nodes reuse one buffer per thread, allocated on first use).
    #[inline]
    pub fn predict_raw(&self, row: &[f64]) -> f64 {
        self.walk_row(row)
    }

    /// The prediction on the objective's scale (probability for binary).
    #[inline]
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.link(self.predict_raw(row))
    }

    /// Applies the objective's link to a raw score.
    #[inline]
    fn link(&self, raw: f64) -> f64 {
        if self.binary {
            1.0 / (1.0 + (-raw).exp())
        } else {
            raw
        }
    }

    /// Scores a row-major batch (`values.len() == rows × num_features`)
    /// on all threads, writing one prediction per row into `out`. A row
    /// not wholly inside `values` reads as all missing. The result does not
    /// depend on the number of threads.
    pub fn predict_batch(&self, values: &[f64], out: &mut [f64]) {
        let width = self.num_features.max(1);
        out.par_chunks_mut(BATCH_TASK)
            .enumerate()
            .for_each(|(k, chunk)| {
                for (i, o) in chunk.iter_mut().enumerate() {
                    let r = (k * BATCH_TASK + i) * width;
                    *o = self.predict(values.get(r..r + width).unwrap_or(&[]));
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{SplitKind, Tree};

    /// One tree: categorical split on feature 0 sending `codes` left.
    fn categorical(codes: &[u32]) -> Ensemble {
        let words = codes.iter().max().map_or(1, |&c| c as usize / 32 + 1);
        let mut bits = vec![0u32; words];
        for &c in codes {
            bits[c as usize / 32] |= 1 << (c % 32);
        }
        let mut t = Tree::constant(1.0, 1, 1.0);
        t.split_feature = vec![0];
        t.split_kind = vec![SplitKind::Categorical];
        t.threshold = vec![0.0];
        t.default_left = vec![false];
        t.cat_index = vec![0];
        t.cat_boundaries = vec![0, words as u32];
        t.cat_words = bits;
        t.left_child = vec![!0];
        t.right_child = vec![!1];
        t.leaf_value = vec![1.0, 2.0];
        Ensemble {
            trees: vec![t],
            base_score: 0.0,
            num_features: 1,
            objective: "regression".into(),
        }
    }

    #[test]
    fn child_tables_are_narrow_when_the_numbers_fit() {
        let small = categorical(&[3, 900]);
        assert!(matches!(
            Scorer::compile(&small).unwrap().children,
            Children::Narrow(_)
        ));
        // 40,000 leaves need more than 15 bits.
        let mut many = small.clone();
        many.trees
            .extend((0..40_000).map(|i| Tree::constant(f64::from(i % 7), 1, 1.0)));
        many.trees.push(small.trees[0].clone());
        let s = Scorer::compile(&many).unwrap();
        assert!(matches!(s.children, Children::Wide(_)));
        for code in [3.0, 4.0, 900.0, f64::NAN] {
            assert_eq!(
                s.predict(&[code]).to_bits(),
                many.predict(&[code]).to_bits()
            );
        }
    }

    #[test]
    fn the_answer_table_is_built_within_its_budget_only() {
        let small = Scorer::compile(&categorical(&[3, 900])).unwrap();
        assert!(small.answered);
        // Codes 0..=901 (901 is "not a left code") × one word.
        assert_eq!(small.answers.len(), 902);
        let huge = Scorer::compile(&categorical(&[3, 5_000_000])).unwrap();
        assert!(!huge.answered);
        for (code, want) in [(3.0, 1.0), (5e6, 1.0), (4.0, 2.0), (5e6 + 1.0, 2.0)] {
            assert_eq!(huge.predict(&[code]), want);
            assert_eq!(small.predict(&[code]), if code == 3.0 { 1.0 } else { 2.0 });
        }
    }
}
