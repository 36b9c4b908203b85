//! The compiled scorer: a tree ensemble rewritten so that rows are scored
//! with small-integer tests, without unpredictable branches for a single
//! row and tree by tree over blocks of rows for a batch.
//!
//! * [`layout`] quantises a row — one small integer per *slot* (a feature
//!   and the kind of test made on it) — and builds the node array, in which
//!   every test is "bit `x` of a bitset";
//! * [`walk`] scores one row, advancing several trees in lockstep;
//! * [`block`] scores a batch, routing a block of rows through each tree
//!   node by node.
//!
//! Both give exactly [`Ensemble::predict_raw`]'s result, bit for bit: the
//! integer tests decide as the `f64` tests do, and leaf values are added in
//! tree order starting from `-0.0`, with the base score added last.

mod block;
mod layout;
mod walk;

use crate::tree::Ensemble;
use layout::{Node, Slot};
use rayon::prelude::*;

/// A tree ensemble compiled for fast scoring. Gives exactly
/// [`Ensemble::predict_raw`]'s and [`Ensemble::predict`]'s results.
#[derive(Clone, Debug)]
pub struct Scorer {
    /// Internal nodes of all trees, then all leaves.
    nodes: Vec<Node>,
    /// For each internal node, its numeric limit (left iff `x <= limit`),
    /// or [`layout::CATEGORICAL`].
    limits: Vec<u32>,
    /// Index of the first leaf in `nodes`.
    first_leaf: u32,
    /// Each tree's root node, padded with a leaf to a multiple of
    /// [`walk::LANES`] (padding is walked but never added).
    roots: Vec<u32>,
    /// Number of trees (without padding).
    num_trees: usize,
    /// Leaf values: leaf node `n` has value `values[n - first_leaf]`.
    values: Vec<f64>,
    /// The bitsets the nodes test: an all-zero prefix (leaves), shared
    /// staircases (numeric nodes), then each categorical node's own.
    bits: Vec<u32>,
    /// The quantised inputs; never empty.
    slots: Vec<Slot>,
    /// Sorted distinct thresholds of each numeric feature.
    cuts: Vec<f64>,
    base_score: f64,
    num_features: usize,
    binary: bool,
}

impl Scorer {
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
    /// missing. Allocates nothing for models that split on at most 256
    /// (feature, kind) pairs.
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
        out.par_chunks_mut(block::TASK)
            .enumerate()
            .for_each(|(k, chunk)| {
                let mut scratch = block::Scratch::new(self.slots.len());
                for (b, part) in chunk.chunks_mut(block::ROWS).enumerate() {
                    let first = k * block::TASK + b * block::ROWS;
                    let rows = (0..part.len()).map(|i| {
                        let r = (first + i) * width;
                        values.get(r..r + width).unwrap_or(&[])
                    });
                    let sums = self.score_block(rows, &mut scratch);
                    for (o, &s) in part.iter_mut().zip(sums) {
                        *o = self.link(s);
                    }
                }
            });
    }
}
