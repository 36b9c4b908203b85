//! Scoring one row: trees walked [`LANES`] at a time in lockstep.
//!
//! A walk's steps depend on each other (the next node is known only after
//! the current one is tested), so one walk at a time leaves the core
//! waiting on loads. Walking several trees together overlaps them; a lane
//! that reaches its leaf first stays there (leaves are their own children)
//! until all lanes of the group are done.

use super::Scorer;

/// Trees walked together for one row.
pub(super) const LANES: usize = 8;
/// Slots quantised on the stack; models with more use the heap.
const STACK_SLOTS: usize = 256;

impl Scorer {
    /// The node a walk at `n` moves to, for slot values `x`.
    #[inline(always)]
    pub(super) fn step(&self, x: &[u32], n: u32) -> u32 {
        let node = &self.nodes[n as usize];
        let v = x[node.slot as usize];
        let word = self.bits[(node.base + (v >> 5)) as usize];
        node.child[((word >> (v & 31)) & 1) as usize]
    }

    /// The raw score of one row.
    #[inline]
    pub(super) fn walk_row(&self, row: &[f64]) -> f64 {
        let ns = self.slots.len();
        if ns <= STACK_SLOTS {
            let mut x = [0u32; STACK_SLOTS];
            self.quantise(row, |s, v| x[s] = v);
            self.walk_quantised(&x[..ns])
        } else {
            let mut x = vec![0u32; ns];
            self.quantise(row, |s, v| x[s] = v);
            self.walk_quantised(&x)
        }
    }

    /// The raw score of one quantised row.
    #[inline]
    fn walk_quantised(&self, x: &[u32]) -> f64 {
        // Same order as Ensemble::predict_raw: trees in order from -0.0,
        // then the base score.
        let mut sum = -0.0;
        for (g, group) in self.roots.chunks_exact(LANES).enumerate() {
            let mut n: [u32; LANES] = group.try_into().expect("LANES roots");
            loop {
                for a in &mut n {
                    *a = self.step(x, *a);
                }
                if n.iter().all(|&a| a >= self.first_leaf) {
                    break;
                }
            }
            let live = (self.num_trees - g * LANES).min(LANES);
            for &a in &n[..live] {
                sum += self.values[(a - self.first_leaf) as usize];
            }
        }
        self.base_score + sum
    }
}
