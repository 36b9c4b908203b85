//! Scoring a batch: a block of rows is quantised once, then routed through
//! each tree node by node, as training partitions its rows.
//!
//! At a node, the rows that reached it (a range of an index list) are split
//! into those going left and those going right, without a branch per row;
//! the node's test stays in registers and each row costs a load, a
//! comparison and two stores, independent of the other rows. Rows reaching
//! a leaf add its value to their sums. Trees are taken in order, so each
//! row's sum is built in the ensemble's order.

use super::Scorer;
use super::layout::CATEGORICAL;

/// Rows quantised and routed together.
pub(super) const ROWS: usize = 256;
/// Rows per parallel work unit of a batch (a multiple of [`ROWS`]).
pub(super) const TASK: usize = 16 * ROWS;

/// Buffers reused from block to block.
pub(super) struct Scratch {
    /// Slot values, column-major: slot `s` of row `i` at `s * ROWS + i`.
    x: Vec<u32>,
    /// Two index lists of `ROWS` rows: a node reads its rows from one and
    /// writes them, split, to the same range of the other.
    index: Vec<u16>,
    /// Raw score of each row.
    sums: Vec<f64>,
    /// Nodes still to route: (node, range start, range end, list).
    pending: Vec<(u32, usize, usize, bool)>,
}

impl Scratch {
    /// Buffers for a model with `slots` slots.
    pub(super) fn new(slots: usize) -> Self {
        Scratch {
            x: vec![0; slots * ROWS],
            index: vec![0; 2 * ROWS],
            sums: vec![0.0; ROWS],
            pending: Vec::new(),
        }
    }
}

impl Scorer {
    /// Raw scores of up to [`ROWS`] rows.
    pub(super) fn score_block<'s, 'r>(
        &self,
        rows: impl Iterator<Item = &'r [f64]>,
        scratch: &'s mut Scratch,
    ) -> &'s [f64] {
        let Scratch {
            x,
            index,
            sums,
            pending,
        } = scratch;
        let mut count = 0;
        for (i, row) in rows.take(ROWS).enumerate() {
            self.quantise(row, |s, v| x[s * ROWS + i] = v);
            count = i + 1;
        }
        let sums = &mut sums[..count];
        sums.fill(-0.0);
        let fl = self.first_leaf;
        let (a, b) = index.split_at_mut(ROWS);
        for &root in &self.roots[..self.num_trees] {
            if root >= fl {
                let v = self.values[(root - fl) as usize];
                sums.iter_mut().for_each(|s| *s += v);
                continue;
            }
            for (i, r) in a[..count].iter_mut().enumerate() {
                *r = i as u16;
            }
            pending.push((root, 0, count, false));
            while let Some((n, lo, hi, second)) = pending.pop() {
                let (src, dst) = if second {
                    (&b[lo..hi], &mut a[lo..hi])
                } else {
                    (&a[lo..hi], &mut b[lo..hi])
                };
                let node = &self.nodes[n as usize];
                let at = node.slot as usize * ROWS;
                let col = &x[at..at + ROWS];
                let limit = self.limits[n as usize];
                let left = if limit != CATEGORICAL {
                    partition(src, dst, |r| col[r] <= limit)
                } else {
                    let bits = &self.bits[node.base as usize..];
                    partition(src, dst, |r| {
                        let v = col[r];
                        (bits[(v >> 5) as usize] >> (v & 31)) & 1 != 0
                    })
                };
                for (child, from, to) in [(node.child[1], 0, left), (node.child[0], left, hi - lo)]
                {
                    if from == to {
                        continue;
                    }
                    if child >= fl {
                        let v = self.values[(child - fl) as usize];
                        for &r in &dst[from..to] {
                            sums[r as usize] += v;
                        }
                    } else {
                        pending.push((child, lo + from, lo + to, !second));
                    }
                }
            }
        }
        for s in sums.iter_mut() {
            *s += self.base_score;
        }
        sums
    }
}

/// Copies `src` into `dst`, rows going left (by `go_left`) at the front and
/// the others at the back; returns the number going left.
#[inline(always)]
fn partition(src: &[u16], dst: &mut [u16], go_left: impl Fn(usize) -> bool) -> usize {
    let (mut l, mut r) = (0, dst.len());
    for &row in src {
        let left = go_left(row as usize);
        dst[l] = row;
        dst[r - 1] = row;
        l += usize::from(left);
        r -= usize::from(!left);
    }
    l
}
