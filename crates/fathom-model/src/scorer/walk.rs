//! Scoring one row.
//!
//! The row's decision at every internal node is assembled first — bit `n`
//! for node `n`, one copy from the answer table per slot (see [`layout`])
//! — so that a walk step is a bit test and a child load. A walk's steps
//! still depend on each other (the next node is known only after the
//! current one's child is loaded), so [`LANES`] trees are walked in
//! lockstep and their loads overlap; a lane that reaches its leaf first
//! stays there until all lanes are done. Leaf values are then added in
//! tree order.
//!
//! [`layout`]: super::layout

use super::Scorer;
use super::layout::{Children, Number};
use std::cell::RefCell;

/// Trees walked together for one row.
pub(super) const LANES: usize = 8;
/// Decision words kept on the stack (models of up to 16,384 internal node
/// numbers); larger models use a buffer kept per thread.
const STACK_WORDS: usize = 512;

thread_local! {
    /// Decision words (or slot values) of single rows of large models.
    static SCRATCH: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

impl Scorer {
    /// The raw score of one row. Allocates nothing, except once per thread
    /// for models too large for the stack buffer.
    #[inline]
    pub(super) fn walk_row(&self, row: &[f64]) -> f64 {
        if !self.answered {
            return self.walk_tests(row);
        }
        let words = (self.num_internal / 32) as usize;
        if words <= STACK_WORDS {
            let mut d = [0u32; STACK_WORDS];
            self.decide(row, &mut d);
            self.walk_decided(&d)
        } else {
            SCRATCH.with_borrow_mut(|d| {
                d.resize(words.next_power_of_two(), 0);
                self.decide(row, d);
                self.walk_decided(d)
            })
        }
    }

    /// Writes the row's decision at every internal node into `d`: for each
    /// slot, the answer vector of the row's value.
    #[inline(always)]
    fn decide(&self, row: &[f64], d: &mut [u32]) {
        self.quantise_row(row, |s, x| {
            let slot = self.slots[s as usize];
            let (w, to) = (slot.words as usize, slot.word as usize);
            let from = slot.answers as usize + x as usize * w;
            for (k, &word) in self.answers[from..from + w].iter().enumerate() {
                d[to + k] = word;
            }
        });
    }

    /// Walks all trees on the decisions `d` (`d.len()` a power of two).
    #[inline]
    fn walk_decided(&self, d: &[u32]) -> f64 {
        match &self.children {
            Children::Narrow(c) => self.walk_on(c, d),
            Children::Wide(c) => self.walk_on(c, d),
        }
    }

    /// [`walk_decided`](Self::walk_decided) for one child-table width.
    #[inline(always)]
    fn walk_on<T: Number>(&self, children: &[[T; 2]], d: &[u32]) -> f64 {
        // Both tables have power-of-two lengths and every internal node's
        // indices are in range by construction; masking the indices lets
        // the compiler drop the bounds checks from the loop. A lane at a
        // leaf reads some entry too and keeps its number; the choice is
        // made without a branch, which would be mispredicted half the time.
        let (cm, dm) = (children.len() - 1, d.len() - 1);
        let (children, d) = (&children[..=cm], &d[..=dm]);
        self.walk_with(
            |n| {
                let word = d[(n >> 5) as usize & dm];
                let next = children[n as usize & cm][((word >> (n & 31)) & 1) as usize].widen();
                std::hint::select_unpredictable(n & T::LEAF != 0, n, next)
            },
            T::LEAF,
        )
    }

    /// The raw score of one row of a model without an answer table: the
    /// walk evaluates each node's test.
    fn walk_tests(&self, row: &[f64]) -> f64 {
        SCRATCH.with_borrow_mut(|x| {
            x.resize(self.slots.len(), 0);
            self.quantise_row(row, |s, v| x[s as usize] = v);
            self.walk_with(
                |n| {
                    if n & self.leaf != 0 {
                        return n;
                    }
                    let test = self.tests[n as usize];
                    let left = test.left(x[test.slot() as usize], &self.cat_bits);
                    self.children.get(n, left)
                },
                self.leaf,
            )
        })
    }

    /// Walks every tree with `step` and adds the leaf values; `leaf` is
    /// the leaf flag.
    #[inline(always)]
    fn walk_with(&self, step: impl Fn(u32) -> u32, leaf: u32) -> f64 {
        // Same order as Ensemble::predict_raw: trees in order from -0.0,
        // then the base score.
        let mut sum = -0.0;
        for (g, group) in self.roots.chunks_exact(LANES).enumerate() {
            let mut n: [u32; LANES] = std::array::from_fn(|k| group[k]);
            loop {
                for a in &mut n {
                    *a = step(*a);
                }
                if n.iter().fold(leaf, |all, &a| all & a) != 0 {
                    break;
                }
            }
            let live = (self.num_trees - g * LANES).min(LANES);
            for &a in &n[..live] {
                sum += self.leaf_value(a);
            }
        }
        self.base_score + sum
    }
}
