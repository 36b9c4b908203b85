//! Best-split search on one feature's histogram (LightGBM's rules).
//!
//! * **Numeric**: every threshold bin `t` (bins `<= t` left) is tried twice,
//!   with the missing bin on the right and on the left; the better choice is
//!   the learned default direction of missing values. When the leaf has no
//!   missing value, missing values follow the side with more rows.
//! * **Categorical** with at most `max_cat_to_onehot` bins: one category vs
//!   the rest. Otherwise categories with at least `cat_smooth` rows are
//!   sorted by `sum_grad / (sum_hess + cat_smooth)` and the best prefix of
//!   that order (from either end, at most `max_cat_threshold` categories,
//!   groups of at least `min_data_per_group` rows) goes left, with `cat_l2`
//!   added to the L2 regularisation. The "other" bin (rare, unseen and
//!   missing) always goes right.

use super::GbdtParams;
use super::histogram::HistBin;

/// Tiny hessian added to denominators so that an all-zero hessian never
/// divides by zero.
const EPS: f64 = 1e-15;

/// The knobs of the split search.
#[derive(Clone, Copy, Debug)]
pub struct SplitConfig {
    /// L1 regularisation.
    pub l1: f64,
    /// L2 regularisation.
    pub l2: f64,
    /// Minimum rows per child.
    pub min_data_in_leaf: u64,
    /// Minimum hessian sum per child.
    pub min_sum_hessian: f64,
    /// Minimum gain.
    pub min_gain_to_split: f64,
    /// Maximum categories on the left of a categorical split.
    pub max_cat_threshold: usize,
    /// Category ordering smoother and minimum category size.
    pub cat_smooth: f64,
    /// Extra L2 of categorical splits.
    pub cat_l2: f64,
    /// Minimum rows per group of categories.
    pub min_data_per_group: u64,
    /// One-vs-rest below this many bins.
    pub max_cat_to_onehot: usize,
}

impl SplitConfig {
    /// From the training parameters.
    pub fn from_params(p: &GbdtParams) -> Self {
        SplitConfig {
            l1: p.lambda_l1,
            l2: p.lambda_l2,
            min_data_in_leaf: p.min_data_in_leaf.max(1) as u64,
            min_sum_hessian: p.min_sum_hessian_in_leaf,
            min_gain_to_split: p.min_gain_to_split,
            max_cat_threshold: p.max_cat_threshold,
            cat_smooth: p.cat_smooth,
            cat_l2: p.cat_l2,
            min_data_per_group: p.min_data_per_group as u64,
            max_cat_to_onehot: p.max_cat_to_onehot,
        }
    }
}

#[inline]
fn threshold_l1(g: f64, l1: f64) -> f64 {
    if l1 > 0.0 {
        g.signum() * (g.abs() - l1).max(0.0)
    } else {
        g
    }
}

/// Loss reduction of a leaf with sums `g`, `h` (the larger the better).
#[inline]
pub fn leaf_gain(g: f64, h: f64, l1: f64, l2: f64) -> f64 {
    let t = threshold_l1(g, l1);
    t * t / (h + l2 + EPS)
}

/// Optimal (unshrunk) output of a leaf with sums `g`, `h`.
#[inline]
pub fn leaf_output(g: f64, h: f64, l1: f64, l2: f64) -> f64 {
    -threshold_l1(g, l1) / (h + l2 + EPS)
}

/// How the rows of a split leaf are divided, in bins.
#[derive(Clone, Debug, PartialEq)]
pub enum BinSplit {
    /// Bins `<= threshold_bin` go left; the missing bin follows
    /// `default_left`.
    Numeric {
        /// Last value bin on the left.
        threshold_bin: usize,
        /// Where the missing bin goes.
        default_left: bool,
    },
    /// These value bins (ascending) go left; all others right.
    Categorical {
        /// Bins on the left.
        left_bins: Vec<u32>,
    },
}

/// The best split found for a leaf.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitInfo {
    /// Feature index.
    pub feature: usize,
    /// Gain over not splitting (children's gains minus the leaf's).
    pub gain: f64,
    /// The partition in bins.
    pub split: BinSplit,
    /// Sums of the left child.
    pub left: HistBin,
    /// Sums of the right child.
    pub right: HistBin,
    /// Unshrunk output of the left child.
    pub left_output: f64,
    /// Unshrunk output of the right child.
    pub right_output: f64,
}

impl SplitInfo {
    /// Whether `self` beats `other`: higher gain, ties to the lower feature.
    pub fn better_than(&self, other: &SplitInfo) -> bool {
        self.gain > other.gain || (self.gain == other.gain && self.feature < other.feature)
    }
}

/// Picks the better of two optional splits (deterministic).
pub fn best_of(a: Option<SplitInfo>, b: Option<SplitInfo>) -> Option<SplitInfo> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.better_than(&a) { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

impl SplitConfig {
    #[inline]
    fn child_ok(&self, s: &HistBin) -> bool {
        s.c >= self.min_data_in_leaf && s.h >= self.min_sum_hessian
    }

    /// Best split of feature `feature` with histogram `hist` (last bin =
    /// missing/other) for a leaf with sums `total`.
    pub fn best_split(
        &self,
        feature: usize,
        categorical: bool,
        hist: &[HistBin],
        total: HistBin,
    ) -> Option<SplitInfo> {
        if hist.len() < 2 || total.c < 2 * self.min_data_in_leaf {
            return None;
        }
        if categorical {
            self.best_categorical(feature, hist, total)
        } else {
            self.best_numeric(feature, hist, total)
        }
    }

    fn best_numeric(&self, feature: usize, hist: &[HistBin], total: HistBin) -> Option<SplitInfo> {
        let (l1, l2) = (self.l1, self.l2);
        let parent = leaf_gain(total.g, total.h, l1, l2);
        let min_shift = parent + self.min_gain_to_split;
        let nb = hist.len() - 1;
        let miss = hist[nb];
        let has_missing = miss.c > 0;
        let mut best_gain = min_shift;
        let mut best: Option<(usize, bool, HistBin)> = None;
        let mut acc = HistBin::default();
        for (t, &bin) in hist[..nb].iter().enumerate() {
            acc = acc + bin;
            if bin.c == 0 && t > 0 {
                continue; // same partition as the previous threshold
            }
            if t + 1 == nb && !has_missing {
                break;
            }
            // Missing right.
            let right = total - acc;
            if right.c < self.min_data_in_leaf || right.h < self.min_sum_hessian {
                break; // right only shrinks from here on
            }
            if self.child_ok(&acc) {
                let g = leaf_gain(acc.g, acc.h, l1, l2) + leaf_gain(right.g, right.h, l1, l2);
                if g > best_gain {
                    best_gain = g;
                    best = Some((t, false, acc));
                }
            }
            // Missing left.
            if has_missing && t + 1 < nb {
                let left = acc + miss;
                let right = total - left;
                if self.child_ok(&left) && self.child_ok(&right) {
                    let g = leaf_gain(left.g, left.h, l1, l2) + leaf_gain(right.g, right.h, l1, l2);
                    if g > best_gain {
                        best_gain = g;
                        best = Some((t, true, left));
                    }
                }
            }
        }
        let (t, mut default_left, left) = best?;
        let right = total - left;
        if !has_missing {
            default_left = left.c >= right.c;
        }
        Some(SplitInfo {
            feature,
            gain: best_gain - parent,
            split: BinSplit::Numeric {
                threshold_bin: t,
                default_left,
            },
            left,
            right,
            left_output: leaf_output(left.g, left.h, l1, l2),
            right_output: leaf_output(right.g, right.h, l1, l2),
        })
    }

    fn best_categorical(
        &self,
        feature: usize,
        hist: &[HistBin],
        total: HistBin,
    ) -> Option<SplitInfo> {
        let l1 = self.l1;
        let parent = leaf_gain(total.g, total.h, l1, self.l2);
        let min_shift = parent + self.min_gain_to_split;
        let used = hist.len() - 1; // the last (other) bin never goes left
        let mut best_gain = min_shift;
        let mut best_left: Option<(Vec<u32>, HistBin, f64)> = None;
        if hist.len() <= self.max_cat_to_onehot {
            let l2 = self.l2;
            for (b, &left) in hist[..used].iter().enumerate() {
                let right = total - left;
                if !(self.child_ok(&left) && self.child_ok(&right)) {
                    continue;
                }
                let g = leaf_gain(left.g, left.h, l1, l2) + leaf_gain(right.g, right.h, l1, l2);
                if g > best_gain {
                    best_gain = g;
                    best_left = Some((vec![b as u32], left, l2));
                }
            }
        } else {
            let l2 = self.l2 + self.cat_l2;
            let mut sorted: Vec<usize> = (0..used)
                .filter(|&b| hist[b].c as f64 >= self.cat_smooth.max(1.0))
                .collect();
            let ctr = |b: usize| hist[b].g / (hist[b].h + self.cat_smooth);
            sorted.sort_by(|&a, &b| ctr(a).total_cmp(&ctr(b)).then(a.cmp(&b)));
            let n = sorted.len();
            let max_num_cat = self.max_cat_threshold.min(n.div_ceil(2).max(1));
            for forward in [true, false] {
                let mut left = HistBin::default();
                let mut group = 0u64;
                for i in 0..n.min(max_num_cat) {
                    let b = if forward {
                        sorted[i]
                    } else {
                        sorted[n - 1 - i]
                    };
                    left = left + hist[b];
                    group += hist[b].c;
                    if !self.child_ok(&left) {
                        continue;
                    }
                    let right = total - left;
                    if right.c < self.min_data_in_leaf.max(self.min_data_per_group)
                        || right.h < self.min_sum_hessian
                    {
                        break;
                    }
                    if group < self.min_data_per_group {
                        continue;
                    }
                    group = 0;
                    let g = leaf_gain(left.g, left.h, l1, l2) + leaf_gain(right.g, right.h, l1, l2);
                    if g > best_gain {
                        best_gain = g;
                        let mut bins: Vec<u32> = if forward {
                            sorted[..=i].iter().map(|&b| b as u32).collect()
                        } else {
                            sorted[n - 1 - i..].iter().map(|&b| b as u32).collect()
                        };
                        bins.sort_unstable();
                        best_left = Some((bins, left, l2));
                    }
                }
            }
        }
        let (left_bins, left, l2) = best_left?;
        let right = total - left;
        Some(SplitInfo {
            feature,
            gain: best_gain - parent,
            split: BinSplit::Categorical { left_bins },
            left,
            right,
            left_output: leaf_output(left.g, left.h, l1, l2),
            right_output: leaf_output(right.g, right.h, l1, l2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SplitConfig {
        SplitConfig::from_params(&GbdtParams {
            min_data_in_leaf: 1,
            min_data_per_group: 1,
            cat_smooth: 1.0,
            ..GbdtParams::default()
        })
    }

    fn bin(g: f64, c: u64) -> HistBin {
        HistBin { g, h: c as f64, c }
    }

    fn sum(h: &[HistBin]) -> HistBin {
        h.iter().fold(HistBin::default(), |a, b| a + *b)
    }

    #[test]
    fn numeric_step_and_missing_direction() {
        // Values in bins 0,1 have negative gradients, bin 2 positive, the
        // missing bin positive: missing should go with bin 2 (right).
        let h = vec![bin(-5.0, 5), bin(-5.0, 5), bin(5.0, 5), bin(4.0, 4)];
        let s = cfg().best_split(0, false, &h, sum(&h)).unwrap();
        assert_eq!(
            s.split,
            BinSplit::Numeric {
                threshold_bin: 1,
                default_left: false
            }
        );
        let h = vec![bin(-5.0, 5), bin(-5.0, 5), bin(5.0, 5), bin(-4.0, 4)];
        let s = cfg().best_split(0, false, &h, sum(&h)).unwrap();
        assert_eq!(
            s.split,
            BinSplit::Numeric {
                threshold_bin: 1,
                default_left: true
            }
        );
        assert_eq!(s.left.c, 14);
        assert!(s.gain > 0.0);
    }

    #[test]
    fn categorical_groups_by_gradient_ratio() {
        // Bins 1 and 3 push down, 0, 2, 4 up; the "other" bin is last.
        let h = vec![
            bin(5.0, 10),
            bin(-5.0, 10),
            bin(5.0, 10),
            bin(-5.0, 10),
            bin(5.0, 10),
            bin(0.0, 0),
        ];
        let s = cfg().best_split(0, true, &h, sum(&h)).unwrap();
        assert_eq!(
            s.split,
            BinSplit::Categorical {
                left_bins: vec![1, 3]
            }
        );
    }

    #[test]
    fn no_split_without_gain_or_data() {
        let h = vec![bin(1.0, 5), bin(1.0, 5), bin(0.0, 0)];
        assert!(cfg().best_split(0, false, &h, sum(&h)).is_none());
        let mut c = cfg();
        c.min_data_in_leaf = 6;
        let h = vec![bin(-5.0, 5), bin(5.0, 5), bin(0.0, 0)];
        assert!(c.best_split(0, false, &h, sum(&h)).is_none());
    }
}
