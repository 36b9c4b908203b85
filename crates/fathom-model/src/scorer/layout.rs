//! Quantising rows and laying out the compiled nodes.
//!
//! **Slots.** A row becomes one small integer `x` per slot:
//!
//! * a numeric feature keeps the sorted distinct thresholds its nodes use
//!   across the whole ensemble (`-0.0` and `0.0` are one; `NaN` takes no
//!   place). A finite value becomes `1 + #{thresholds < value}`, so
//!   `value <= thresholds[j]` holds exactly when `x <= j + 1`. A missing or
//!   infinite value becomes 0 in the feature's *missing-low* slot (read by
//!   nodes whose default side is left) and `len + 2` in its *missing-high*
//!   slot (read by the others), so one comparison `x <= limit` also sends
//!   it to the node's default side;
//! * a categorical feature keeps its code when it is a valid code below
//!   `limit`, one past the largest code any of its nodes sends left, and
//!   becomes `limit` otherwise (missing, negative, non-integral, unseen),
//!   a position no bitset has set. The validity test is the ensemble's.
//!
//! **Nodes.** Every node, internal or leaf, goes left exactly when bit `x`
//! of the bitset starting at word `base` of `bits` is set. A categorical
//! node has its own bitset. A numeric node with limit `32a + r` points into
//! the shared *staircase* for `r` (words: `M` of ones, one with bits `0..=r`
//! set, `M` of zeros) at `a` words before its middle word, so its bitset is
//! `x <= limit`. A leaf points at the all-zero prefix and is its own child
//! on both sides, so a walk that reaches it stays there. Internal nodes of
//! all trees come first and leaves after, so "is a leaf" is
//! `n >= first_leaf`.

use super::Scorer;
use super::walk::LANES;
use crate::tree::{Ensemble, SplitKind, Tree};
use std::collections::HashMap;

/// The `limits` entry of a categorical node.
pub(super) const CATEGORICAL: u32 = u32::MAX;

/// One node (internal or leaf), 16 bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    /// The slot whose value the node tests.
    pub slot: u32,
    /// First word of the node's bitset in `bits`.
    pub base: u32,
    /// `[right, left]`: indexed by the tested bit.
    pub child: [u32; 2],
}

/// How a slot's value is derived from a row.
#[derive(Clone, Copy, Debug)]
pub(super) enum SlotKind {
    /// `1 + #{cuts < value}` over `cuts[start..start + len]`; `missing`
    /// (0 or `len + 2`) for missing and infinite values.
    Numeric { start: u32, len: u32, missing: u32 },
    /// The code when valid and below `limit`, else `limit`.
    Categorical { limit: u32 },
}

/// One quantised input: a feature and the kind of test made on it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub feature: u32,
    pub kind: SlotKind,
}

/// Which slot of a feature a node reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Class {
    MissingLow,
    MissingHigh,
    Categorical,
}

fn class(kind: SplitKind, default_left: bool) -> Class {
    match (kind, default_left) {
        (SplitKind::Categorical, _) => Class::Categorical,
        (SplitKind::Numeric, true) => Class::MissingLow,
        (SplitKind::Numeric, false) => Class::MissingHigh,
    }
}

impl Scorer {
    /// Writes the slot values of `row` through `put(slot index, value)`.
    #[inline(always)]
    pub(super) fn quantise(&self, row: &[f64], mut put: impl FnMut(usize, u32)) {
        for (s, slot) in self.slots.iter().enumerate() {
            let v = row.get(slot.feature as usize).copied().unwrap_or(f64::NAN);
            put(
                s,
                match slot.kind {
                    SlotKind::Numeric {
                        start,
                        len,
                        missing,
                    } => {
                        if v.is_finite() {
                            let c = &self.cuts[start as usize..(start + len) as usize];
                            1 + c.partition_point(|&t| t < v) as u32
                        } else {
                            missing
                        }
                    }
                    SlotKind::Categorical { limit } => {
                        // Valid codes are the integers in [0, limit); -0.0
                        // reads as code 0, as in the ensemble's lookup.
                        if v >= 0.0 && v < f64::from(limit) && f64::from(v as u32) == v {
                            v as u32
                        } else {
                            limit
                        }
                    }
                },
            );
        }
    }
}

/// Builds the scorer (see the module documentation); `None` if a tree is
/// malformed or the ensemble too large for 32-bit indices.
pub(super) fn compile(ensemble: &Ensemble) -> Option<Scorer> {
    let trees = &ensemble.trees;
    if !trees.iter().all(well_formed) {
        return None;
    }

    // Slots in order of first use; thresholds and code limits per feature.
    let mut slot_of: HashMap<(u32, Class), usize> = HashMap::new();
    let mut slots: Vec<(u32, Class)> = Vec::new();
    let mut thresholds: HashMap<u32, Vec<f64>> = HashMap::new();
    let mut code_limit: HashMap<u32, u32> = HashMap::new();
    for tree in trees {
        for n in 0..tree.num_nodes() {
            let f = tree.split_feature[n];
            let c = class(tree.split_kind[n], tree.default_left[n]);
            slot_of.entry((f, c)).or_insert_with(|| {
                slots.push((f, c));
                slots.len() - 1
            });
            match tree.split_kind[n] {
                SplitKind::Numeric => {
                    let t = tree.threshold[n];
                    if !t.is_nan() {
                        thresholds.entry(f).or_default().push(t);
                    }
                }
                SplitKind::Categorical => {
                    let l = code_limit.entry(f).or_default();
                    *l = (*l).max(highest_code(tree.cat_bitset(n))?);
                }
            }
        }
    }
    let mut cuts = Vec::new();
    let mut cut_range: HashMap<u32, (u32, u32)> = HashMap::new();
    let mut features: Vec<u32> = thresholds.keys().copied().collect();
    features.sort_unstable();
    for f in features {
        let c = thresholds.get_mut(&f)?;
        // Sorted, -0.0 lands next to 0.0, and dedup (by ==) keeps one.
        c.sort_by(f64::total_cmp);
        c.dedup();
        let start = u32::try_from(cuts.len()).ok()?;
        let len = u32::try_from(c.len()).ok()?;
        len.checked_add(2)?;
        cuts.extend_from_slice(c);
        cut_range.insert(f, (start, len));
    }
    let mut slots: Vec<Slot> = slots
        .iter()
        .map(|&(feature, c)| {
            let (start, len) = cut_range.get(&feature).copied().unwrap_or((0, 0));
            let kind = match c {
                Class::MissingLow => SlotKind::Numeric {
                    start,
                    len,
                    missing: 0,
                },
                Class::MissingHigh => SlotKind::Numeric {
                    start,
                    len,
                    missing: len + 2,
                },
                Class::Categorical => SlotKind::Categorical {
                    limit: code_limit.get(&feature).copied().unwrap_or(0),
                },
            };
            Slot { feature, kind }
        })
        .collect();
    if slots.is_empty() {
        // No split at all: one slot keeps the walk well-defined.
        slots.push(Slot {
            feature: 0,
            kind: SlotKind::Numeric {
                start: 0,
                len: 0,
                missing: 0,
            },
        });
    }
    let max_x = |numeric_only: bool| {
        slots
            .iter()
            .map(|s| match s.kind {
                SlotKind::Numeric { len, .. } => len + 2,
                SlotKind::Categorical { limit } if !numeric_only => limit,
                SlotKind::Categorical { .. } => 0,
            })
            .max()
            .unwrap_or(0)
    };

    // The bitsets: the all-zero prefix, the staircases, then categorical.
    let zero_words = (max_x(false) >> 5) as usize + 1;
    let stair_words = (max_x(true) >> 5) as usize + 1;
    let mut bits = vec![0u32; zero_words];
    let stairs_at = bits.len();
    for r in 0..32u32 {
        bits.extend(std::iter::repeat_n(u32::MAX, stair_words));
        bits.push(if r == 31 { u32::MAX } else { (2 << r) - 1 });
        bits.extend(std::iter::repeat_n(0, stair_words));
    }
    let staircase = |limit: u32| {
        let (a, r) = ((limit >> 5) as usize, (limit & 31) as usize);
        stairs_at + r * (2 * stair_words + 1) + stair_words - a
    };

    let num_internal: usize = trees.iter().map(|t| t.num_nodes()).sum();
    let num_leaves: usize = trees.iter().map(|t| t.num_leaves()).sum::<usize>().max(1);
    let first_leaf = u32::try_from(num_internal).ok()?;
    u32::try_from(num_internal + num_leaves).ok()?;
    let mut nodes = Vec::with_capacity(num_internal + num_leaves);
    let mut limits = Vec::with_capacity(num_internal);
    let mut values = Vec::with_capacity(num_leaves);
    let mut roots = Vec::with_capacity(trees.len().next_multiple_of(LANES));
    let (mut node_base, mut leaf_base) = (0u32, first_leaf);
    for tree in trees {
        let at = |c: i32| {
            if c < 0 {
                leaf_base + !c as u32
            } else {
                node_base + c as u32
            }
        };
        for n in 0..tree.num_nodes() {
            let kind = tree.split_kind[n];
            let slot = slot_of[&(tree.split_feature[n], class(kind, tree.default_left[n]))];
            let (base, limit) = match (kind, slots[slot].kind) {
                (SplitKind::Numeric, SlotKind::Numeric { start, len, .. }) => {
                    let limit = numeric_limit(
                        &cuts[start as usize..(start + len) as usize],
                        tree.threshold[n],
                    );
                    (staircase(limit), limit)
                }
                (_, SlotKind::Categorical { limit }) => {
                    let base = bits.len();
                    let own = tree.cat_bitset(n);
                    let words = (limit >> 5) as usize + 1;
                    // Bits at and above `limit` are never set (highest_code).
                    bits.extend((0..words).map(|w| own.get(w).copied().unwrap_or(0)));
                    (base, CATEGORICAL)
                }
                (SplitKind::Categorical, SlotKind::Numeric { .. }) => return None,
            };
            nodes.push(Node {
                slot: slot as u32,
                base: u32::try_from(base).ok()?,
                child: [at(tree.right_child[n]), at(tree.left_child[n])],
            });
            limits.push(limit);
        }
        roots.push(if tree.num_nodes() == 0 {
            leaf_base
        } else {
            node_base
        });
        values.extend_from_slice(&tree.leaf_value);
        node_base += tree.num_nodes() as u32;
        leaf_base += tree.num_leaves() as u32;
    }
    if values.is_empty() {
        // No tree: one leaf that is never added keeps the walk defined.
        values.push(0.0);
    }
    for i in 0..values.len() {
        let me = first_leaf + i as u32;
        nodes.push(Node {
            slot: 0,
            base: 0,
            child: [me, me],
        });
    }
    // `base + (x >> 5)` must not overflow.
    u32::try_from(bits.len() + zero_words).ok()?;
    let num_trees = roots.len();
    roots.resize(num_trees.next_multiple_of(LANES), first_leaf);
    Some(Scorer {
        nodes,
        limits,
        first_leaf,
        roots,
        num_trees,
        values,
        bits,
        slots,
        cuts,
        base_score: ensemble.base_score,
        num_features: ensemble.num_features,
        binary: ensemble.objective == "binary",
    })
}

/// Whether `t` is a proper tree the walk can rely on: consistent lengths,
/// bitset ranges inside `cat_words`, and every leaf and every internal node
/// but the root the child of exactly one node (so walks end).
fn well_formed(t: &Tree) -> bool {
    let k = t.num_nodes();
    let lengths = [
        t.split_kind.len(),
        t.threshold.len(),
        t.default_left.len(),
        t.cat_index.len(),
        t.left_child.len(),
        t.right_child.len(),
    ];
    if lengths.iter().any(|&l| l != k) || t.leaf_value.len() != k + 1 {
        return false;
    }
    let bitset_ok = |n: usize| {
        let i = t.cat_index[n];
        if i == u32::MAX {
            return true;
        }
        let i = i as usize;
        match (t.cat_boundaries.get(i), t.cat_boundaries.get(i + 1)) {
            (Some(&a), Some(&b)) => a <= b && b as usize <= t.cat_words.len(),
            _ => false,
        }
    };
    if !(0..k).all(|n| t.split_kind[n] == SplitKind::Numeric || bitset_ok(n)) {
        return false;
    }
    let mut node_seen = vec![false; k];
    let mut leaf_seen = vec![false; k + 1];
    for &c in t.left_child.iter().chain(&t.right_child) {
        let seen = if c >= 0 {
            node_seen.get_mut(c as usize).filter(|_| c != 0)
        } else {
            leaf_seen.get_mut(!c as usize)
        };
        match seen {
            Some(s) if !*s => *s = true,
            _ => return false,
        }
    }
    true
}

/// The limit of a numeric node with threshold `t` among its feature's
/// sorted distinct thresholds `cuts`: left iff `x <= limit`.
fn numeric_limit(cuts: &[f64], t: f64) -> u32 {
    if t.is_nan() {
        // No finite value is <= NaN: only a missing value (x = 0 in the
        // missing-low slot) goes left.
        return 0;
    }
    cuts.partition_point(|&c| c < t) as u32 + 1
}

/// One past the highest code set in `bits` (0 if none), or `None` beyond
/// 32-bit codes.
fn highest_code(bits: &[u32]) -> Option<u32> {
    match bits.iter().rposition(|&w| w != 0) {
        None => Some(0),
        Some(w) => u32::try_from(w * 32 + 32 - bits[w].leading_zeros() as usize).ok(),
    }
}
