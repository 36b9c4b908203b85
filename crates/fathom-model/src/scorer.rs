//! The compiled scorer: every tree of an ensemble packed into one
//! contiguous node array, walked without allocation for a single row and
//! across threads for a batch.

use crate::tree::{Ensemble, SplitKind, bitset_contains};
use rayon::prelude::*;

const DEFAULT_LEFT: u8 = 1;
const CATEGORICAL: u8 = 2;

/// One internal node, 24 bytes.
#[derive(Clone, Copy, Debug)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Child index in `nodes`, or `!leaf` (negative) into `leaves`.
    left: i32,
    right: i32,
    /// For categorical nodes, the index of its bitset in `bitsets`.
    bitset: u16,
    flags: u8,
}

/// A tree ensemble compiled for fast scoring. Gives exactly
/// [`Ensemble::predict_raw`]'s results.
#[derive(Clone, Debug)]
pub struct Scorer {
    nodes: Vec<Node>,
    /// Each tree's root: a node index, or `!leaf` for a single-leaf tree.
    roots: Vec<i32>,
    leaves: Vec<f64>,
    bitsets: Vec<Vec<u32>>,
    base_score: f64,
    num_features: usize,
    binary: bool,
}

impl Scorer {
    /// Packs an ensemble. Fails only if it has more than 65,535 categorical
    /// splits or 2³¹ nodes, which no sensible model has.
    pub fn compile(ensemble: &Ensemble) -> Option<Scorer> {
        let mut s = Scorer {
            nodes: Vec::new(),
            roots: Vec::with_capacity(ensemble.trees.len()),
            leaves: Vec::new(),
            bitsets: Vec::new(),
            base_score: ensemble.base_score,
            num_features: ensemble.num_features,
            binary: ensemble.objective == "binary",
        };
        for tree in &ensemble.trees {
            let node_base = i32::try_from(s.nodes.len()).ok()?;
            let leaf_base = i32::try_from(s.leaves.len()).ok()?;
            let remap = |c: i32| {
                if c < 0 {
                    !(leaf_base + !c)
                } else {
                    node_base + c
                }
            };
            for n in 0..tree.num_nodes() {
                let mut flags = 0;
                let mut bitset = 0u16;
                if tree.default_left[n] {
                    flags |= DEFAULT_LEFT;
                }
                if tree.split_kind[n] == SplitKind::Categorical {
                    flags |= CATEGORICAL;
                    bitset = u16::try_from(s.bitsets.len()).ok()?;
                    s.bitsets.push(tree.cat_bitset(n).to_vec());
                }
                s.nodes.push(Node {
                    threshold: tree.threshold[n],
                    feature: tree.split_feature[n],
                    left: remap(tree.left_child[n]),
                    right: remap(tree.right_child[n]),
                    bitset,
                    flags,
                });
            }
            s.roots.push(if tree.num_nodes() == 0 {
                !leaf_base
            } else {
                node_base
            });
            s.leaves.extend_from_slice(&tree.leaf_value);
        }
        Some(s)
    }

    /// Number of features a row must provide.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// The raw score (margin) of one row. Allocates nothing.
    #[inline]
    pub fn predict_raw(&self, row: &[f64]) -> f64 {
        // Same order as Ensemble::predict_raw: trees first, then the base.
        let mut sum = -0.0;
        for &root in &self.roots {
            let mut at = root;
            while at >= 0 {
                let node = &self.nodes[at as usize];
                let v = row.get(node.feature as usize).copied().unwrap_or(f64::NAN);
                let left = if node.flags & CATEGORICAL != 0 {
                    bitset_contains(&self.bitsets[node.bitset as usize], v)
                } else if v.is_finite() {
                    v <= node.threshold
                } else {
                    node.flags & DEFAULT_LEFT != 0
                };
                at = if left { node.left } else { node.right };
            }
            sum += self.leaves[!at as usize];
        }
        self.base_score + sum
    }

    /// The prediction on the objective's scale (probability for binary).
    #[inline]
    pub fn predict(&self, row: &[f64]) -> f64 {
        let raw = self.predict_raw(row);
        if self.binary {
            1.0 / (1.0 + (-raw).exp())
        } else {
            raw
        }
    }

    /// Scores a row-major batch (`values.len() == rows × num_features`)
    /// on all threads, writing one prediction per row into `out`.
    pub fn predict_batch(&self, values: &[f64], out: &mut [f64]) {
        let width = self.num_features.max(1);
        out.par_chunks_mut(1024).enumerate().for_each(|(k, chunk)| {
            for (i, o) in chunk.iter_mut().enumerate() {
                let r = (k * 1024 + i) * width;
                *o = self.predict(values.get(r..r + width).unwrap_or(&[]));
            }
        });
    }
}
