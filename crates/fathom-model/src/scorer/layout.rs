//! Quantising rows and laying out the compiled model.
//!
//! **Slots.** A row becomes one small integer per *slot* (a feature and
//! the kind of test made on it):
//!
//! * a numeric feature keeps the sorted distinct thresholds its nodes use
//!   across the whole ensemble (`-0.0` and `0.0` are one; `NaN` takes no
//!   place). A finite value becomes `x = 1 + #{thresholds < value}`, so
//!   `value <= thresholds[i]` holds exactly when `x <= i + 1`. A missing or
//!   infinite value becomes 0 — below every threshold — in the feature's
//!   *missing-low* slot, read by the nodes whose default side is left, and
//!   `len + 1` — above every threshold — in its *missing-high* slot, read
//!   by the others; so the one comparison `x <= limit` also sends it to the
//!   node's default side. (A node with a `NaN` threshold, which no finite
//!   value passes, has limit 0.)
//! * a categorical feature keeps its code when it is a valid code below
//!   `limit`, one past the largest code any of its nodes sends left, and
//!   becomes `limit` otherwise (missing, negative, non-integral, unseen),
//!   a position no bitset has set. The validity test is the ensemble's.
//!
//! **Tests** ([`Test`]) are these comparisons and bitset lookups.
//!
//! **Node numbering.** Internal nodes are numbered slot by slot: the nodes
//! reading slot `s` take the consecutive numbers from `32 × word(s)` on, a
//! range padded to whole 32-bit words. Leaf `i` (counting the leaves of all
//! trees in order) is numbered `LEAF | i`: the flag tells a walk to stay
//! there and makes "all lanes are at a leaf" one AND. When all numbers fit
//! in 15 bits the child table is stored as `u16` with the flag at bit 15
//! ([`NARROW_LEAF`]): half the cache footprint.
//!
//! **Answers.** For every slot and every value `x` the slot can take, the
//! *answer table* holds one bit per node reading the slot: whether `x`
//! goes left there. Thanks to the numbering, copying the answer vector of
//! each slot's value side by side gives every internal node's decision for
//! the row, bit `n` for node `n` — a few hundred bytes built with a few
//! dozen copies — and a walk step is one bit test and one child load.
//! Models whose table would exceed [`ANSWER_BUDGET`] words (features with
//! huge numbers of thresholds or categories) walk with the tests instead.

use super::Scorer;
use super::walk::LANES;
use crate::tree::{Ensemble, SplitKind, Tree};
use std::collections::HashMap;

/// Largest answer table, in 32-bit words (16 MiB).
const ANSWER_BUDGET: usize = 1 << 22;

/// The bit that marks a node number as a leaf's.
pub(super) const LEAF: u32 = 1 << 31;

/// The leaf flag of models stored with [`Children::Narrow`].
pub(super) const NARROW_LEAF: u32 = 1 << 15;

/// `[right, left]` child of each internal node, indexed by the decision.
#[derive(Clone, Debug)]
pub(super) enum Children {
    /// Node numbers below 2¹⁵, leaf flag [`NARROW_LEAF`].
    Narrow(Vec<[u16; 2]>),
    /// Leaf flag [`LEAF`].
    Wide(Vec<[u32; 2]>),
}

impl Children {
    /// The child of internal node `n` on the side of `left`.
    pub(super) fn get(&self, n: u32, left: bool) -> u32 {
        match self {
            Children::Narrow(c) => u32::from(c[n as usize][usize::from(left)]),
            Children::Wide(c) => c[n as usize][usize::from(left)],
        }
    }
}

/// A stored node number.
pub(super) trait Number: Copy {
    /// The leaf flag of numbers of this width.
    const LEAF: u32;
    /// The number as `u32`.
    fn widen(self) -> u32;
}

impl Number for u16 {
    const LEAF: u32 = NARROW_LEAF;
    #[inline(always)]
    fn widen(self) -> u32 {
        u32::from(self)
    }
}

impl Number for u32 {
    const LEAF: u32 = LEAF;
    #[inline(always)]
    fn widen(self) -> u32 {
        self
    }
}

/// Sentinel for an absent slot of an [`Input`].
pub(super) const NO_SLOT: u32 = u32::MAX;

/// An internal node's test of its slot value `x`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Test {
    /// Left iff `x <= limit`.
    Numeric { slot: u32, limit: u32 },
    /// Left iff bit `x` of the bitset at word `base` of `cat_bits` is set.
    Categorical { slot: u32, base: u32 },
}

impl Test {
    /// Whether slot value `x` goes left; `cat_bits` as in [`Scorer`].
    #[inline(always)]
    pub(super) fn left(self, x: u32, cat_bits: &[u32]) -> bool {
        match self {
            Test::Numeric { limit, .. } => x <= limit,
            Test::Categorical { base, .. } => {
                (cat_bits[base as usize + (x >> 5) as usize] >> (x & 31)) & 1 != 0
            }
        }
    }

    /// The slot the test reads.
    #[inline(always)]
    pub(super) fn slot(self) -> u32 {
        match self {
            Test::Numeric { slot, .. } | Test::Categorical { slot, .. } => slot,
        }
    }
}

/// Where a slot's nodes and answers are.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SlotLayout {
    /// First word of the slot's node bits (its nodes are numbered from
    /// `32 × word`).
    pub word: u32,
    /// Words per answer vector.
    pub words: u32,
    /// Offset of the vector for value 0 in the answer table.
    pub answers: u32,
}

/// How a feature's value becomes slot values.
#[derive(Clone, Copy, Debug)]
pub(super) enum InputKind {
    /// `1 + #{cuts < value}` over `cuts[start..start + len]` into `low`
    /// and `high`; a missing or infinite value gives 0 in `low` and
    /// `len + 1` in `high`. Either slot may be [`NO_SLOT`].
    Numeric {
        start: u32,
        len: u32,
        low: u32,
        high: u32,
    },
    /// The code when valid and below `limit`, else `limit`, into `slot`.
    Categorical { limit: u32, slot: u32 },
}

/// One feature read from a row and the slots it fills.
#[derive(Clone, Copy, Debug)]
pub(super) struct Input {
    pub feature: u32,
    pub kind: InputKind,
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
    /// Writes the slot values of feature value `v` through
    /// `put(slot, value)`.
    #[inline(always)]
    pub(super) fn quantise_value(&self, input: &Input, v: f64, mut put: impl FnMut(u32, u32)) {
        match input.kind {
            InputKind::Numeric {
                start,
                len,
                low,
                high,
            } => {
                let (lo, hi) = if v.is_finite() {
                    let c = &self.cuts[start as usize..(start + len) as usize];
                    let x = 1 + c.partition_point(|&t| t < v) as u32;
                    (x, x)
                } else {
                    (0, len + 1)
                };
                if low != NO_SLOT {
                    put(low, lo);
                }
                if high != NO_SLOT {
                    put(high, hi);
                }
            }
            InputKind::Categorical { limit, slot } => {
                // Valid codes are the integers in [0, limit); -0.0 reads
                // as code 0, as in the ensemble's lookup.
                let x = if v >= 0.0 && v < f64::from(limit) && f64::from(v as u32) == v {
                    v as u32
                } else {
                    limit
                };
                put(slot, x);
            }
        }
    }

    /// Calls `put(slot, value)` for every slot of `row`.
    #[inline(always)]
    pub(super) fn quantise_row(&self, row: &[f64], mut put: impl FnMut(u32, u32)) {
        for input in &self.inputs {
            let v = row.get(input.feature as usize).copied().unwrap_or(f64::NAN);
            self.quantise_value(input, v, &mut put);
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

    // Slots in order of first use, their node counts; thresholds and code
    // limits per feature.
    let mut slot_of: HashMap<(u32, Class), u32> = HashMap::new();
    let mut slot_nodes: Vec<u32> = Vec::new();
    let mut features: Vec<u32> = Vec::new();
    let mut thresholds: HashMap<u32, Vec<f64>> = HashMap::new();
    let mut code_limit: HashMap<u32, u32> = HashMap::new();
    for tree in trees {
        for n in 0..tree.num_nodes() {
            let f = tree.split_feature[n];
            let c = class(tree.split_kind[n], tree.default_left[n]);
            let next = u32::try_from(slot_of.len()).ok()?;
            let s = *slot_of.entry((f, c)).or_insert_with(|| {
                features.push(f);
                slot_nodes.push(0);
                next
            });
            slot_nodes[s as usize] += 1;
            match tree.split_kind[n] {
                SplitKind::Numeric => {
                    let t = tree.threshold[n];
                    let c = thresholds.entry(f).or_default();
                    if !t.is_nan() {
                        c.push(t);
                    }
                }
                SplitKind::Categorical => {
                    let l = code_limit.entry(f).or_default();
                    *l = (*l).max(highest_code(tree.cat_bitset(n))?);
                }
            }
        }
    }
    if slot_nodes.is_empty() {
        // No split at all: one slot (always 0) keeps the walk well-defined.
        slot_nodes.push(0);
    }
    let num_slots = slot_nodes.len();
    features.sort_unstable();
    features.dedup();
    let mut cuts = Vec::new();
    let mut inputs = Vec::new();
    // The largest value each slot can take.
    let mut slot_max = vec![0u32; num_slots];
    for &feature in &features {
        if let Some(c) = thresholds.get_mut(&feature) {
            // Sorted, -0.0 lands next to 0.0, and dedup (by ==) keeps one.
            c.sort_by(f64::total_cmp);
            c.dedup();
            let start = u32::try_from(cuts.len()).ok()?;
            let len = u32::try_from(c.len()).ok()?;
            let top = len.checked_add(1)?;
            cuts.extend_from_slice(c);
            let slot = |class| slot_of.get(&(feature, class)).copied().unwrap_or(NO_SLOT);
            let (low, high) = (slot(Class::MissingLow), slot(Class::MissingHigh));
            for s in [low, high] {
                if s != NO_SLOT {
                    slot_max[s as usize] = top;
                }
            }
            inputs.push(Input {
                feature,
                kind: InputKind::Numeric {
                    start,
                    len,
                    low,
                    high,
                },
            });
        }
        if let Some(&limit) = code_limit.get(&feature) {
            let slot = slot_of[&(feature, Class::Categorical)];
            slot_max[slot as usize] = limit;
            inputs.push(Input {
                feature,
                kind: InputKind::Categorical { limit, slot },
            });
        }
    }

    // Node numbers: slot by slot, each slot's range whole words.
    let mut slots = Vec::with_capacity(num_slots);
    let mut word = 0u32;
    for &count in &slot_nodes {
        let words = count.div_ceil(32).max(1);
        slots.push(SlotLayout {
            word,
            words,
            answers: 0,
        });
        word = word.checked_add(words)?;
    }
    let num_internal = word.checked_mul(32).filter(|&n| n < LEAF)?;
    let num_leaves: usize = trees.iter().map(|t| t.num_leaves()).sum::<usize>().max(1);
    if num_leaves > LEAF as usize {
        return None;
    }
    let mut next_in_slot: Vec<u32> = slots.iter().map(|s| s.word * 32).collect();

    // Children, tests and categorical bitsets, tree by tree.
    let mut children = vec![[0u32; 2]; num_internal.next_power_of_two() as usize];
    let mut tests = vec![Test::Numeric { slot: 0, limit: 0 }; num_internal as usize];
    let mut cat_bits = Vec::new();
    let mut values = Vec::with_capacity(num_leaves);
    let mut roots = Vec::with_capacity(trees.len().next_multiple_of(LANES));
    let mut number = Vec::new();
    for tree in trees {
        let leaf_base = LEAF | values.len() as u32;
        number.clear();
        for n in 0..tree.num_nodes() {
            let kind = tree.split_kind[n];
            let f = tree.split_feature[n];
            let slot = slot_of[&(f, class(kind, tree.default_left[n]))];
            let at = &mut next_in_slot[slot as usize];
            number.push(*at);
            tests[*at as usize] = match kind {
                SplitKind::Numeric => Test::Numeric {
                    slot,
                    limit: numeric_limit(&thresholds[&f], tree.threshold[n]),
                },
                SplitKind::Categorical => {
                    let base = u32::try_from(cat_bits.len()).ok()?;
                    let own = tree.cat_bitset(n);
                    let words = (code_limit[&f] >> 5) as usize + 1;
                    // Bits at and above the limit are never set (highest_code).
                    cat_bits.extend((0..words).map(|w| own.get(w).copied().unwrap_or(0)));
                    Test::Categorical { slot, base }
                }
            };
            *at += 1;
        }
        let at = |c: i32| {
            if c < 0 {
                leaf_base + !c as u32
            } else {
                number[c as usize]
            }
        };
        for n in 0..tree.num_nodes() {
            children[number[n] as usize] = [at(tree.right_child[n]), at(tree.left_child[n])];
        }
        roots.push(if tree.num_nodes() == 0 {
            leaf_base
        } else {
            number[0]
        });
        values.extend_from_slice(&tree.leaf_value);
    }
    u32::try_from(cat_bits.len()).ok()?;
    if values.is_empty() {
        // No tree: one leaf that is never added keeps the walk defined.
        values.push(0.0);
    }
    let answers = answer_table(&mut slots, &slot_max, &slot_nodes, &tests, &cat_bits);
    let answered = answers.is_some();
    if answered {
        // The answers replace the tests.
        tests = Vec::new();
        cat_bits = Vec::new();
    }
    let num_trees = roots.len();
    roots.resize(num_trees.next_multiple_of(LANES), LEAF);
    let (children, leaf) = if num_internal <= NARROW_LEAF && values.len() <= NARROW_LEAF as usize {
        let narrow = |c: u32| {
            if c & LEAF != 0 {
                (NARROW_LEAF | (c & !LEAF)) as u16
            } else {
                c as u16
            }
        };
        roots.iter_mut().for_each(|r| *r = u32::from(narrow(*r)));
        let children = children.iter().map(|&[r, l]| [narrow(r), narrow(l)]);
        (Children::Narrow(children.collect()), NARROW_LEAF)
    } else {
        (Children::Wide(children), LEAF)
    };
    Some(Scorer {
        children,
        leaf,
        tests,
        cat_bits,
        answered,
        answers: answers.unwrap_or_default(),
        slots,
        num_internal,
        roots,
        num_trees,
        values,
        inputs,
        cuts,
        base_score: ensemble.base_score,
        num_features: ensemble.num_features,
        binary: ensemble.objective == "binary",
    })
}

/// The answer table (see the module documentation), filling in each slot's
/// offset; `None` beyond [`ANSWER_BUDGET`].
fn answer_table(
    slots: &mut [SlotLayout],
    slot_max: &[u32],
    slot_nodes: &[u32],
    tests: &[Test],
    cat_bits: &[u32],
) -> Option<Vec<u32>> {
    let mut size = 0usize;
    for (slot, &top) in slots.iter_mut().zip(slot_max) {
        slot.answers = u32::try_from(size).ok()?;
        size = size.checked_add((top as usize + 1).checked_mul(slot.words as usize)?)?;
        if size > ANSWER_BUDGET {
            return None;
        }
    }
    let mut table = vec![0u32; size];
    for ((slot, &top), &count) in slots.iter().zip(slot_max).zip(slot_nodes) {
        let first = slot.word as usize * 32;
        let own = &tests[first..first + count as usize];
        for x in 0..=top {
            let vector = slot.answers as usize + x as usize * slot.words as usize;
            for (b, test) in own.iter().enumerate() {
                if test.left(x, cat_bits) {
                    table[vector + b / 32] |= 1 << (b % 32);
                }
            }
        }
    }
    Some(table)
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
