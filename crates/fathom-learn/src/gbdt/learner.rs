//! Leaf-wise growth of one tree on binned data.
//!
//! The rows of every leaf are a contiguous range of one index array
//! (LightGBM's data partition), ascending within the leaf. Splitting a leaf
//! partitions its range stably; the smaller child's histograms are built
//! from its rows and ordered gradients, the larger child's are the parent's
//! minus the smaller's. The leaf whose best split gains most is split next,
//! until `num_leaves` leaves or no leaf can be split.
//!
//! **Where histograms are read from.** A leaf holding at least
//! [`DENSE_FRACTION`] of the rows reads the bin columns: its rows are close
//! together, so every cache line of a column it loads serves several rows.
//! A smaller leaf first gathers its rows' bins from the row-major copy
//! ([`RowBins`], one byte per unit) into a contiguous buffer, one short
//! copy per row, and builds from that; read from the columns, each of its
//! rows would cost one cache miss per unit. Both ways add every unit's rows
//! in row order, so they give the same sums to the last bit and the choice
//! never changes a model.
//!
//! **Root counts.** The row counts of the root's histograms depend only on
//! the root's rows (all rows, or the bag), not on the gradients, so they
//! are counted once per row set and copied afterwards; the root's
//! histograms then accumulate gradients and hessians only.
//!
//! **Parallelism.** Histograms are built by tasks over groups of at most
//! [`histogram::GROUP`] units (single features or
//! [bundles](super::bundle) of few-bin features; [`ROOT_GROUP`] at the
//! root, which then
//! reads the gradients in fewer passes), cut so that every thread gets as
//! many features, and, in a leaf of more than [`BLOCK_ROWS`] rows, over fixed
//! blocks of its rows, added in block order afterwards; each task adds its
//! rows in order. Gathering, partitioning and the row → leaf map run as
//! tasks over fixed row chunks. Results are merged in group, block or chunk
//! order, and a feature's histogram does not depend on its group, so a
//! tree does not depend on the number of threads.

use std::sync::atomic::{AtomicU32, Ordering};

use fathom_model::tree::{SplitKind, Tree};
use rayon::prelude::*;

use super::binning::{BinColumn, BinKind, BinMappers, BinnedData, RowBins};
use super::bundle::Units;
use super::histogram::{self, Gathered, HistBin, HistLayout, Rows, Target};
use super::split::{BinSplit, SplitConfig, SplitInfo, best_of, leaf_output};

/// Below this many rows × features, histograms are built on the calling
/// thread (same result, less scheduling overhead).
const PAR_MIN_WORK: usize = 16_384;

/// Units per task in the root's histograms (a smaller leaf's tasks take
/// [`histogram::GROUP`]).
pub const ROOT_GROUP: usize = 8;

/// Rows per block of a large leaf's histograms (see `build_and_search`).
pub const BLOCK_ROWS: usize = 1 << 16;

/// Partition chunk size (rows) for parallel partitioning.
const PART_CHUNK: usize = 1 << 13;

/// Chunk size (rows) of parallel gathers.
const GATHER_CHUNK: usize = 1 << 12;

/// Chunk size (rows) of the root's gradient sums: fixed, so that they are
/// added in the same order whatever the thread count.
const SUM_CHUNK: usize = 1 << 14;

/// Leaves with at least this fraction of all rows build their histograms
/// from the bin columns, smaller ones from gathered rows (see the module
/// documentation; measured on 1M × 30 data, the two ways cost the same
/// near 10 %).
pub const DENSE_FRACTION: f64 = 0.1;

/// A split in bin space, used to route binned rows (training, validation).
#[derive(Clone, Debug)]
pub struct BinNode {
    /// Feature index.
    pub feature: usize,
    /// `left[bin]` says whether a row with that bin goes left.
    pub left: Vec<bool>,
}

/// A grown tree: the serving form plus the bin-space routing.
#[derive(Clone, Debug)]
pub struct GrownTree {
    /// The serving tree.
    pub tree: Tree,
    /// Bin-space tests, one per internal node.
    pub bin_nodes: Vec<BinNode>,
}

impl GrownTree {
    /// Leaf of row `row` of binned data `data`, found by walking the tree.
    pub fn leaf_of(&self, data: &BinnedData, row: usize) -> usize {
        let t = &self.tree;
        if t.num_nodes() == 0 {
            return 0;
        }
        let mut node: i32 = 0;
        while node >= 0 {
            let n = node as usize;
            let b = &self.bin_nodes[n];
            node = if b.left[data.columns[b.feature].get(row)] {
                t.left_child[n]
            } else {
                t.right_child[n]
            };
        }
        !node as usize
    }
}

/// Row counts of the root's histograms, per feature, for the current row
/// set (they do not change while it does not).
struct RootCounts {
    /// One count per bin, laid out like a leaf's histograms.
    counts: Vec<u64>,
    /// Whether feature `f`'s counts are known.
    known: Vec<bool>,
}

/// Reusable buffers and fixed context of tree growth.
pub struct Learner<'a> {
    data: &'a BinnedData,
    units: Units,
    row_bins: Option<RowBins>,
    mappers: &'a BinMappers,
    layout: HistLayout,
    cfg: SplitConfig,
    num_leaves: usize,
    max_depth: usize,
    learning_rate: f64,
    bag: Option<Vec<u32>>,
    root_counts: RootCounts,
    pool: Vec<Vec<HistBin>>,
    indices: Vec<u32>,
    scratch: Vec<u32>,
    ordered: Vec<[f32; 2]>,
    gathered: Vec<[u8; 8]>,
    row_leaf: Vec<AtomicU32>,
    spare: Vec<Vec<HistBin>>,
}

/// Per-leaf state during growth.
struct LeafState {
    begin: usize,
    count: usize,
    sums: HistBin,
    output: f64,
    depth: usize,
    /// (node, is_left) pointing at this leaf; node -1 for the root leaf.
    parent: (i32, bool),
    hist: Option<Vec<HistBin>>,
    best: Option<SplitInfo>,
    /// Features that still vary within the leaf (more than one non-empty
    /// bin); a feature constant in a leaf is constant in its descendants,
    /// so their histograms skip it.
    features: Vec<usize>,
}

impl<'a> Learner<'a> {
    /// A learner over binned training data (all rows until [`set_bag`]).
    ///
    /// [`set_bag`]: Learner::set_bag
    pub fn new(
        data: &'a BinnedData,
        mappers: &'a BinMappers,
        cfg: SplitConfig,
        num_leaves: usize,
        max_depth: i32,
        learning_rate: f64,
    ) -> Self {
        let layout = HistLayout::new(mappers);
        let total = layout.total();
        let units = Units::new(data, mappers, true);
        let rb = units.row_major(data);
        Learner {
            data,
            units,
            row_bins: rb,
            mappers,
            layout,
            cfg,
            num_leaves,
            max_depth: if max_depth <= 0 {
                usize::MAX
            } else {
                max_depth as usize
            },
            learning_rate,
            bag: None,
            root_counts: RootCounts {
                counts: vec![0; total],
                known: vec![false; mappers.mappers.len()],
            },
            pool: Vec::new(),
            indices: Vec::new(),
            scratch: Vec::new(),
            ordered: Vec::new(),
            gathered: Vec::new(),
            row_leaf: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// For every row of the last tree's row set, its leaf (`u32::MAX` for
    /// rows outside the bag).
    pub fn row_leaf(&self) -> &[AtomicU32] {
        &self.row_leaf
    }

    /// Grows the next trees on rows `bag` (ascending; `None` = all rows).
    pub fn set_bag(&mut self, bag: Option<Vec<u32>>) {
        self.bag = bag;
        self.root_counts.known.fill(false);
    }

    fn take_buf(&mut self) -> Vec<HistBin> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![HistBin::default(); self.layout.total()])
    }

    /// Whether a leaf of `count` rows reads gathered rows.
    fn gathers(&self, count: usize) -> bool {
        self.row_bins.is_some() && (count as f64) < DENSE_FRACTION * self.data.num_rows as f64
    }

    /// Prepares the histogram source of the leaf whose rows are
    /// `indices[begin..begin + count]`: ordered gradients, and gathered
    /// bins for a small leaf.
    fn source(&mut self, begin: usize, count: usize, gh: &[[f32; 2]]) -> bool {
        let rows = &self.indices[begin..begin + count];
        match (&self.row_bins, self.gathers(count)) {
            (Some(rb), true) => {
                gather_rows(&mut self.gathered, &mut self.ordered, rows, rb, gh);
                true
            }
            _ => {
                gather(&mut self.ordered, rows, gh);
                false
            }
        }
    }

    /// Grows one tree with per-row gradients `gh`, splitting only on
    /// `features` (ascending, usable).
    pub fn grow(&mut self, gh: &[[f32; 2]], features: &[usize]) -> GrownTree {
        let n = self.data.num_rows;
        self.indices.clear();
        match &self.bag {
            Some(b) => self.indices.extend_from_slice(b),
            None => self.indices.extend(0..n as u32),
        }
        let bagged = self.bag.is_some();
        let root_count = self.indices.len();
        // Root sums: fixed chunks summed in order (thread-count independent).
        let parts: Vec<(f64, f64)> = self
            .indices
            .par_chunks(SUM_CHUNK)
            .map(|c| {
                c.iter().fold((0.0, 0.0), |(g, h), &r| {
                    let p = gh[r as usize];
                    (g + p[0] as f64, h + p[1] as f64)
                })
            })
            .collect();
        let mut sums = HistBin::default();
        for (g, h) in parts {
            sums.g += g;
            sums.h += h;
        }
        sums.c = root_count as u64;
        let (l1, l2) = (self.cfg.l1, self.cfg.l2);
        let mut leaves = vec![LeafState {
            begin: 0,
            count: root_count,
            sums,
            output: leaf_output(sums.g, sums.h, l1, l2),
            depth: 0,
            parent: (-1, false),
            hist: None,
            best: None,
            features: features.to_vec(),
        }];
        let mut tree = Tree::constant(0.0, root_count as u64, sums.h);
        let mut bin_nodes: Vec<BinNode> = Vec::new();

        if self.can_split(&leaves[0]) && !features.is_empty() {
            let mut buf = self.take_buf();
            let mut spare = std::mem::take(&mut self.spare);
            let gathered = bagged && self.source(0, root_count, gh);
            let src = if gathered {
                Source::Gathered(self.gathered_rows())
            } else if bagged {
                Source::Columns(Rows::Subset(&self.indices), Some(&self.root_counts))
            } else {
                Source::Columns(Rows::From(0), Some(&self.root_counts))
            };
            let g: &[[f32; 2]] = if bagged { &self.ordered } else { gh };
            let best = build_and_search(
                self.fixed(),
                features,
                src,
                g,
                &mut buf,
                &mut spare,
                None,
                sums,
                sums,
            );
            self.spare = spare;
            // Remember the counts for the next trees on the same rows.
            for &f in features {
                let (a, b) = (self.layout.offsets[f], self.layout.offsets[f + 1]);
                for (c, h) in self.root_counts.counts[a..b].iter_mut().zip(&buf[a..b]) {
                    *c = h.c;
                }
                self.root_counts.known[f] = true;
            }
            leaves[0].best = best.small;
            leaves[0].features = best.small_features;
            leaves[0].hist = Some(buf);
        }

        while leaves.len() < self.num_leaves {
            // The leaf with the best split (ties to the lower leaf index).
            let mut pick: Option<(usize, f64)> = None;
            for (i, l) in leaves.iter().enumerate() {
                if let Some(s) = &l.best
                    && pick.is_none_or(|(_, g)| s.gain > g)
                {
                    pick = Some((i, s.gain));
                }
            }
            let Some((li, _)) = pick else { break };
            let split = leaves[li].best.take().expect("picked");
            let parent_hist = leaves[li].hist.take();
            let (begin, count) = (leaves[li].begin, leaves[li].count);
            let bin_node = self.bin_node(&split);

            // Partition the leaf's rows.
            let left_count = partition(
                &mut self.indices[begin..begin + count],
                &mut self.scratch,
                &self.data.columns[split.feature],
                &bin_node.left,
            );
            debug_assert_eq!(left_count as u64, split.left.c);

            // Record the node.
            let node = tree.num_nodes() as i32;
            let right_leaf = leaves.len();
            self.push_node(&mut tree, &split, &leaves[li], li, right_leaf);
            bin_nodes.push(bin_node);
            let (pnode, is_left) = leaves[li].parent;
            if pnode >= 0 {
                if is_left {
                    tree.left_child[pnode as usize] = node;
                } else {
                    tree.right_child[pnode as usize] = node;
                }
            }
            let depth = leaves[li].depth + 1;
            let parent_features = std::mem::take(&mut leaves[li].features);
            leaves[li] = LeafState {
                begin,
                count: left_count,
                sums: split.left,
                output: split.left_output,
                depth,
                parent: (node, true),
                hist: None,
                best: None,
                features: Vec::new(),
            };
            leaves.push(LeafState {
                begin: begin + left_count,
                count: count - left_count,
                sums: split.right,
                output: split.right_output,
                depth,
                parent: (node, false),
                hist: None,
                best: None,
                features: Vec::new(),
            });

            // Histograms and best splits of the children.
            let (small, large) = if left_count <= count - left_count {
                (li, right_leaf)
            } else {
                (right_leaf, li)
            };
            let small_ok = self.can_split(&leaves[small]);
            let large_ok = self.can_split(&leaves[large]);
            let mut parent_hist = parent_hist;
            if (small_ok || large_ok) && leaves.len() < self.num_leaves {
                let mut sbuf = self.take_buf();
                let mut spare = std::mem::take(&mut self.spare);
                let (sb, sc) = (leaves[small].begin, leaves[small].count);
                let gathered = self.source(sb, sc, gh);
                let src = if gathered {
                    Source::Gathered(self.gathered_rows())
                } else {
                    Source::Columns(Rows::Subset(&self.indices[sb..sb + sc]), None)
                };
                let parent = if large_ok {
                    parent_hist.as_deref_mut()
                } else {
                    None
                };
                let found = build_and_search(
                    self.fixed(),
                    &parent_features,
                    src,
                    &self.ordered,
                    &mut sbuf,
                    &mut spare,
                    parent,
                    leaves[small].sums,
                    leaves[large].sums,
                );
                self.spare = spare;
                if small_ok {
                    leaves[small].best = found.small;
                    leaves[small].features = found.small_features;
                }
                leaves[small].hist = Some(sbuf);
                if large_ok {
                    leaves[large].best = found.large;
                    leaves[large].features = found.large_features;
                    leaves[large].hist = parent_hist.take();
                }
            }
            if let Some(h) = parent_hist {
                self.pool.push(h);
            }
            for l in leaves.iter_mut() {
                if l.best.is_none()
                    && let Some(h) = l.hist.take()
                {
                    self.pool.push(h);
                }
            }
            if leaves.len() >= self.num_leaves {
                break;
            }
        }

        // Leaf outputs and the row → leaf map.
        let lr = self.learning_rate;
        tree.leaf_value = leaves.iter().map(|l| l.output * lr).collect();
        tree.leaf_count = leaves.iter().map(|l| l.count as u64).collect();
        tree.leaf_hess = leaves.iter().map(|l| l.sums.h).collect();
        // Each row is written once, by the task holding its piece of a leaf.
        if self.row_leaf.len() != n {
            self.row_leaf = (0..n).map(|_| AtomicU32::new(u32::MAX)).collect();
        } else if bagged {
            self.row_leaf
                .par_chunks(GATHER_CHUNK)
                .for_each(|c| c.iter().for_each(|x| x.store(u32::MAX, Ordering::Relaxed)));
        }
        let mut pieces: Vec<(usize, usize, u32)> = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            for a in (l.begin..l.begin + l.count).step_by(GATHER_CHUNK) {
                pieces.push((a, (a + GATHER_CHUNK).min(l.begin + l.count), i as u32));
            }
        }
        let (indices, row_leaf) = (&self.indices, &self.row_leaf);
        pieces.par_iter().for_each(|&(a, b, leaf)| {
            for &r in &indices[a..b] {
                row_leaf[r as usize].store(leaf, Ordering::Relaxed);
            }
        });
        for l in leaves {
            if let Some(h) = l.hist {
                self.pool.push(h);
            }
        }
        GrownTree { tree, bin_nodes }
    }

    /// The fixed context of histogram building.
    fn fixed(&self) -> Fixed<'_> {
        Fixed {
            data: self.data,
            mappers: self.mappers,
            units: &self.units,
            layout: &self.layout,
            cfg: &self.cfg,
        }
    }

    /// The rows gathered by the last [`Learner::source`].
    fn gathered_rows(&self) -> Gathered<'_> {
        Gathered {
            stride: self.row_bins.as_ref().map_or(1, |r| r.stride),
            words: &self.gathered,
        }
    }

    fn can_split(&self, l: &LeafState) -> bool {
        l.depth < self.max_depth && l.count as u64 >= 2 * self.cfg.min_data_in_leaf
    }

    fn bin_node(&self, s: &SplitInfo) -> BinNode {
        let m = &self.mappers.mappers[s.feature];
        let mut left = vec![false; m.num_bins];
        match &s.split {
            BinSplit::Numeric {
                threshold_bin,
                default_left,
            } => {
                for l in left.iter_mut().take(threshold_bin + 1) {
                    *l = true;
                }
                left[m.missing_bin()] = *default_left;
            }
            BinSplit::Categorical { left_bins } => {
                for &b in left_bins {
                    left[b as usize] = true;
                }
            }
        }
        BinNode {
            feature: s.feature,
            left,
        }
    }

    fn push_node(
        &self,
        tree: &mut Tree,
        s: &SplitInfo,
        leaf: &LeafState,
        left_leaf: usize,
        right_leaf: usize,
    ) {
        let m = &self.mappers.mappers[s.feature];
        tree.split_feature.push(s.feature as u32);
        match (&s.split, &m.kind) {
            (
                BinSplit::Numeric {
                    threshold_bin,
                    default_left,
                },
                BinKind::Numeric { upper },
            ) => {
                tree.split_kind.push(SplitKind::Numeric);
                tree.threshold.push(upper[*threshold_bin]);
                tree.default_left.push(*default_left);
                tree.cat_index.push(u32::MAX);
            }
            (BinSplit::Categorical { left_bins }, BinKind::Categorical { codes, .. }) => {
                tree.split_kind.push(SplitKind::Categorical);
                tree.threshold.push(0.0);
                tree.default_left.push(false);
                let cats: Vec<u32> = left_bins.iter().map(|&b| codes[b as usize]).collect();
                let max = cats.iter().copied().max().unwrap_or(0) as usize;
                let mut words = vec![0u32; max / 32 + 1];
                for c in cats {
                    words[c as usize / 32] |= 1 << (c % 32);
                }
                tree.cat_index.push((tree.cat_boundaries.len() - 1) as u32);
                tree.cat_words.extend_from_slice(&words);
                tree.cat_boundaries.push(tree.cat_words.len() as u32);
            }
            _ => unreachable!("split kind follows the feature kind"),
        }
        tree.left_child.push(!(left_leaf as i32));
        tree.right_child.push(!(right_leaf as i32));
        tree.split_gain.push(s.gain);
        tree.internal_count.push(leaf.count as u64);
        tree.internal_hess.push(leaf.sums.h);
        tree.internal_value.push(leaf.output * self.learning_rate);
    }
}

/// Where [`build_and_search`] reads a leaf's bins.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The bin columns at these rows. With root counts, features whose
    /// counts are known skip counting and copy them.
    Columns(Rows<'a>, Option<&'a RootCounts>),
    /// The leaf's rows gathered row by row.
    Gathered(Gathered<'a>),
}

/// The fixed context of [`build_and_search`].
#[derive(Clone, Copy)]
struct Fixed<'a> {
    data: &'a BinnedData,
    mappers: &'a BinMappers,
    units: &'a Units,
    layout: &'a HistLayout,
    cfg: &'a SplitConfig,
}

/// Units of a task, each with its wanted features (ascending).
type UnitGroup<'a> = &'a [(usize, Vec<usize>)];

/// A task of [`build_and_search`]: units, their features' histograms in the
/// leaf being built and (optionally) in the parent being turned into the
/// sibling, in unit order.
type Group<'a> = (
    UnitGroup<'a>,
    Vec<&'a mut [HistBin]>,
    Vec<Option<&'a mut [HistBin]>>,
);

/// A task of [`build_and_search`] building one block of a large leaf: the
/// block, units and their features' histograms in that block's buffer.
type BlockTask<'a> = (usize, UnitGroup<'a>, Vec<&'a mut [HistBin]>);

/// What [`build_and_search`] finds for a leaf and (optionally) its sibling.
#[derive(Default)]
struct Found {
    small: Option<SplitInfo>,
    large: Option<SplitInfo>,
    small_features: Vec<usize>,
    large_features: Vec<usize>,
}

impl Found {
    fn merge(mut self, o: Found) -> Found {
        self.small = best_of(self.small, o.small);
        self.large = best_of(self.large, o.large);
        self.small_features.extend(o.small_features);
        self.large_features.extend(o.large_features);
        self
    }
}

/// Whether a histogram has more than one non-empty bin.
fn varies(h: &[HistBin]) -> bool {
    h.iter().filter(|b| b.c > 0).nth(1).is_some()
}

/// The features of a group of units, in unit order.
fn group_features(group: UnitGroup<'_>) -> impl Iterator<Item = usize> + '_ {
    group.iter().flat_map(|(_, fs)| fs.iter().copied())
}

/// Cuts `buf` into the histograms of the features of `groups`, per group
/// in unit order (`features`, ascending, are all the groups' features).
fn group_slices<'b>(
    layout: &HistLayout,
    buf: &'b mut [HistBin],
    features: &[usize],
    groups: &[UnitGroup<'_>],
) -> Vec<Vec<&'b mut [HistBin]>> {
    let mut parts: Vec<Option<&'b mut [HistBin]>> = layout
        .split_mut(buf, features)
        .into_iter()
        .map(Some)
        .collect();
    groups
        .iter()
        .map(|g| {
            group_features(g)
                .map(|f| {
                    let i = features.binary_search(&f).expect("wanted feature");
                    parts[i].take().expect("each feature once")
                })
                .collect()
        })
        .collect()
}

/// The targets of a group's units over its features' histograms `slices`
/// (in unit order).
fn targets<'t>(
    units: &'t Units,
    group: UnitGroup<'_>,
    slices: &'t mut [&mut [HistBin]],
) -> Vec<Target<'t>> {
    let mut it = slices.iter_mut();
    group
        .iter()
        .map(|(u, fs)| {
            let unit = &units.units[*u];
            if unit.is_single() {
                Target::Feature(it.next().expect("one slice per feature"))
            } else {
                let outs = unit
                    .features
                    .iter()
                    .map(|f| {
                        fs.contains(f)
                            .then(|| &mut **it.next().expect("one slice per feature"))
                    })
                    .collect();
                Target::Bundle(unit, outs)
            }
        })
        .collect()
}

/// Builds the histograms of `features` for a leaf (bins from `src`,
/// ordered gradients `gh`) into `buf` and finds its best split (given its
/// sums `small_sums`). With `parent`, also turns `parent` into the
/// sibling's histograms by subtraction and finds the sibling's best split
/// (`large_sums`). Features are read by [`Units`]: a bundle's features in
/// one pass.
///
/// A leaf of more than [`BLOCK_ROWS`] rows is built block by block (fixed
/// blocks of its rows), every block by its own tasks into its own buffer
/// (`spare` holds them), and the blocks are then added in order: the tasks
/// stay short and many, so that threads finish together, and the sums do
/// not depend on the thread count.
#[allow(clippy::too_many_arguments)]
fn build_and_search(
    fx: Fixed<'_>,
    features: &[usize],
    src: Source<'_>,
    gh: &[[f32; 2]],
    buf: &mut [HistBin],
    spare: &mut Vec<Vec<HistBin>>,
    parent: Option<&mut [HistBin]>,
    small_sums: HistBin,
    large_sums: HistBin,
) -> Found {
    let Fixed {
        data,
        mappers,
        units,
        layout,
        cfg,
    } = fx;
    // The root reads every row (or the whole bag) without counting: there,
    // fewer passes over the gradients pay more than smaller scratch arrays.
    let size = match src {
        Source::Columns(_, Some(_)) => ROOT_GROUP,
        _ => histogram::GROUP,
    };
    let wanted = units.wanted(features);
    let groups = task_groups(&wanted, size);
    let blocks = gh.len().div_ceil(BLOCK_ROWS).max(1);
    let parallel = gh.len() * wanted.len() >= PAR_MIN_WORK;
    let known = |g: UnitGroup<'_>| -> Option<&RootCounts> {
        match src {
            Source::Columns(_, counts) => counts.filter(|c| group_features(g).all(|f| c.known[f])),
            Source::Gathered(_) => None,
        }
    };
    // The histograms of group `g` over block `b` into `slices`.
    let build = |b: usize, g: UnitGroup<'_>, slices: &mut [&mut [HistBin]]| {
        let (lo, hi) = (b * BLOCK_ROWS, ((b + 1) * BLOCK_ROWS).min(gh.len()));
        let gh = &gh[lo..hi];
        let mut targets = targets(units, g, slices);
        match src {
            Source::Columns(rows, _) => {
                let rows = match rows {
                    Rows::From(start) => Rows::From(start + lo),
                    Rows::Subset(r) => Rows::Subset(&r[lo..hi]),
                };
                let cols: Vec<&BinColumn> = g.iter().map(|(u, _)| units.column(data, *u)).collect();
                histogram::build_group(&cols, rows, gh, &mut targets, known(g).is_none());
            }
            Source::Gathered(rows) => {
                let s = rows.stride;
                let rows = Gathered {
                    stride: s,
                    words: &rows.words[lo * s..hi * s],
                };
                let at: Vec<usize> = g.iter().map(|(u, _)| *u).collect();
                histogram::build_gathered(rows, &at, gh, &mut targets);
            }
        }
    };
    // Block 0 goes to `buf`, block b > 0 to `spare[b - 1]`.
    if blocks > 1 {
        while spare.len() < blocks - 1 {
            spare.push(vec![HistBin::default(); layout.total()]);
        }
        let mut tasks: Vec<BlockTask<'_>> = Vec::new();
        let targets = std::iter::once(&mut *buf)
            .chain(spare[..blocks - 1].iter_mut().map(|b| b.as_mut_slice()));
        for (b, target) in targets.enumerate() {
            let slices = group_slices(layout, target, features, &groups);
            for (&g, s) in groups.iter().zip(slices) {
                tasks.push((b, g, s));
            }
        }
        tasks
            .into_par_iter()
            .with_max_len(1)
            .for_each(|(b, g, mut s)| build(b, g, &mut s));
    }
    let spare: &[Vec<HistBin>] = &spare[..blocks - 1];
    let small = group_slices(layout, buf, features, &groups);
    let large: Vec<Vec<Option<&mut [HistBin]>>> = match parent {
        Some(p) => group_slices(layout, p, features, &groups)
            .into_iter()
            .map(|v| v.into_iter().map(Some).collect())
            .collect(),
        None => groups
            .iter()
            .map(|g| group_features(g).map(|_| None).collect())
            .collect(),
    };
    let tasks: Vec<Group<'_>> = groups
        .iter()
        .zip(small)
        .zip(large)
        .map(|((&g, s), l)| (g, s, l))
        .collect();
    let task = |(g, mut s, l): Group<'_>| {
        if blocks == 1 {
            build(0, g, &mut s);
        } else {
            // Add the other blocks, in order.
            for (f, s) in group_features(g).zip(s.iter_mut()) {
                let (a, z) = (layout.offsets[f], layout.offsets[f + 1]);
                for block in spare {
                    for (x, &y) in s.iter_mut().zip(&block[a..z]) {
                        *x = *x + y;
                    }
                }
            }
        }
        if let Some(c) = known(g) {
            for (f, s) in group_features(g).zip(s.iter_mut()) {
                let counts = &c.counts[layout.offsets[f]..layout.offsets[f + 1]];
                for (b, &n) in s.iter_mut().zip(counts) {
                    b.c = n;
                }
            }
        }
        let mut found = Found::default();
        for ((f, s), l) in group_features(g).zip(s).zip(l) {
            let cat = mappers.mappers[f].is_categorical();
            if varies(s) {
                found.small_features.push(f);
                found.small = best_of(found.small.take(), cfg.best_split(f, cat, s, small_sums));
            }
            if let Some(l) = l {
                histogram::subtract(l, s);
                if varies(l) {
                    found.large_features.push(f);
                    found.large =
                        best_of(found.large.take(), cfg.best_split(f, cat, l, large_sums));
                }
            }
        }
        found
    };
    // Collected in group order, merged in order: deterministic.
    let parts: Vec<Found> = if parallel {
        tasks.into_par_iter().with_max_len(1).map(task).collect()
    } else {
        tasks.into_iter().map(task).collect()
    };
    let mut found = parts.into_iter().fold(Found::default(), Found::merge);
    found.small_features.sort_unstable();
    found.large_features.sort_unstable();
    found
}

/// Groups of at most `size` items (units), one task each: the items are
/// first cut into one run per thread, then each run into groups, so that
/// rayon's halving hands every thread the same number of items. (A
/// histogram is the same whatever its group, so the grouping may follow
/// the thread count.)
fn task_groups<T>(items: &[T], size: usize) -> Vec<&[T]> {
    let threads = rayon::current_num_threads().max(1);
    let mut groups = Vec::new();
    let mut rest = items;
    for t in 0..threads {
        let (mut run, tail) = rest.split_at(rest.len().div_ceil(threads - t));
        rest = tail;
        let parts = run.len().div_ceil(size);
        for p in 0..parts {
            let (g, tail) = run.split_at(run.len().div_ceil(parts - p));
            run = tail;
            groups.push(g);
        }
    }
    groups
}

/// `out = rows.map(|r| gh[r])`, in parallel for large leaves.
fn gather(out: &mut Vec<[f32; 2]>, rows: &[u32], gh: &[[f32; 2]]) {
    out.clear();
    out.resize(rows.len(), [0.0; 2]);
    let one = |(o, r): (&mut [[f32; 2]], &[u32])| {
        for (o, &r) in o.iter_mut().zip(r) {
            *o = gh[r as usize];
        }
    };
    if rows.len() < 2 * GATHER_CHUNK {
        one((out, rows));
    } else {
        out.par_chunks_mut(GATHER_CHUNK)
            .zip(rows.par_chunks(GATHER_CHUNK))
            .for_each(one);
    }
}

/// Gathers the bins (`words`, row by row) and the gradients (`ordered`)
/// of `rows`, in parallel for large leaves.
fn gather_rows(
    words: &mut Vec<[u8; 8]>,
    ordered: &mut Vec<[f32; 2]>,
    rows: &[u32],
    bins: &RowBins,
    gh: &[[f32; 2]],
) {
    let s = bins.stride;
    words.clear();
    words.resize(rows.len() * s, [0; 8]);
    ordered.clear();
    ordered.resize(rows.len(), [0.0; 2]);
    let src = &bins.words;
    let one = |w: &mut [[u8; 8]], o: &mut [[f32; 2]], r: &[u32]| {
        match s {
            1 => copy_rows::<1>(w, r, src),
            2 => copy_rows::<2>(w, r, src),
            3 => copy_rows::<3>(w, r, src),
            4 => copy_rows::<4>(w, r, src),
            _ => {
                for (w, &r) in w.chunks_exact_mut(s).zip(r) {
                    let r = r as usize * s;
                    w.copy_from_slice(&src[r..r + s]);
                }
            }
        }
        for (o, &r) in o.iter_mut().zip(r) {
            *o = gh[r as usize];
        }
    };
    if rows.len() < 2 * GATHER_CHUNK {
        one(words, ordered, rows);
    } else {
        words
            .par_chunks_mut(GATHER_CHUNK * s)
            .zip(ordered.par_chunks_mut(GATHER_CHUNK))
            .zip(rows.par_chunks(GATHER_CHUNK))
            .for_each(|((w, o), r)| one(w, o, r));
    }
}

/// Copies rows of `S` words: `out[i] = src[rows[i]]`.
fn copy_rows<const S: usize>(out: &mut [[u8; 8]], rows: &[u32], src: &[[u8; 8]]) {
    for (o, &r) in out.chunks_exact_mut(S).zip(rows) {
        let r = r as usize * S;
        let row: &[[u8; 8]; S] = src[r..r + S].try_into().expect("S words");
        let o: &mut [[u8; 8]; S] = o.try_into().expect("S words");
        *o = *row;
    }
}

/// Stable partition of `rows` by `left[bin of row]`; returns the left count.
/// `scratch` is working space.
fn partition(rows: &mut [u32], scratch: &mut Vec<u32>, column: &BinColumn, left: &[bool]) -> usize {
    match column {
        BinColumn::U8(bins) => {
            let mut table = [0u8; 256];
            for (t, &l) in table.iter_mut().zip(left) {
                *t = l as u8;
            }
            partition_by(rows, scratch, |r| table[bins[r as usize] as usize] as usize)
        }
        BinColumn::U16(bins) => {
            let table: Vec<usize> = left.iter().map(|&l| l as usize).collect();
            partition_by(rows, scratch, |r| {
                table.get(bins[r as usize] as usize).copied().unwrap_or(0)
            })
        }
    }
}

/// Stable, branch-free partition of `rows` by `goes_left(row)` (0 or 1):
/// every chunk of [`PART_CHUNK`] rows writes its left and right rows to
/// two halves of `scratch`, then the lefts of all chunks, in chunk order,
/// and the rights are copied back.
fn partition_by(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    goes_left: impl Fn(u32) -> usize + Send + Sync + Copy,
) -> usize {
    let n = rows.len();
    if scratch.len() < 2 * n {
        scratch.resize(2 * n, 0);
    }
    let (lefts, rights) = scratch.split_at_mut(n);
    let rights = &mut rights[..n];
    let split = move |((c, l), r): ((&[u32], &mut [u32]), &mut [u32])| {
        // A copy of the test's references in registers, not reloaded
        // through the closure for every row.
        let goes_left = goes_left;
        let (mut nl, mut nr) = (0, 0);
        for &x in c {
            let m = goes_left(x);
            l[nl] = x;
            r[nr] = x;
            nl += m;
            nr += 1 - m;
        }
        nl
    };
    // One chunk for a small leaf, else fixed chunks (in parallel).
    let chunk = if n < 2 * PART_CHUNK {
        n.max(1)
    } else {
        PART_CHUNK
    };
    let counts: Vec<usize> = if chunk == n.max(1) {
        vec![split(((&*rows, &mut *lefts), &mut *rights))]
    } else {
        rows.par_chunks(chunk)
            .zip(lefts.par_chunks_mut(chunk))
            .zip(rights.par_chunks_mut(chunk))
            .map(split)
            .collect()
    };
    // Copy back: each chunk's lefts and rights to their places, in
    // parallel over chunks for a large leaf.
    let total_left: usize = counts.iter().sum();
    let mut pieces: Vec<(&mut [u32], &[u32])> = Vec::with_capacity(2 * counts.len());
    let (mut to_left, mut to_right) = rows.split_at_mut(total_left);
    for (c, &nl) in counts.iter().enumerate() {
        let start = c * chunk;
        let nr = (n - start).min(chunk) - nl;
        let (l, rest) = std::mem::take(&mut to_left).split_at_mut(nl);
        to_left = rest;
        pieces.push((l, &lefts[start..start + nl]));
        let (r, rest) = std::mem::take(&mut to_right).split_at_mut(nr);
        to_right = rest;
        pieces.push((r, &rights[start..start + nr]));
    }
    if counts.len() > 1 {
        pieces
            .into_par_iter()
            .for_each(|(to, from)| to.copy_from_slice(from));
    } else {
        pieces
            .into_iter()
            .for_each(|(to, from)| to.copy_from_slice(from));
    }
    total_left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::dataset::{Dataset, FeatureValues};

    #[test]
    fn a_leaf_built_in_blocks_has_the_histograms_of_one_pass() {
        let n = 2 * BLOCK_ROWS + 123;
        // Two features with 255 bins, four with 4 to 12 (two bundles).
        let features: Vec<(String, FeatureValues)> = [301u64, 3, 7, 301, 5, 11]
            .iter()
            .enumerate()
            .map(|(k, &m)| {
                let v = (0..n as u64)
                    .map(|i| ((i * (k as u64 + 7) + i / 3) % m) as f64)
                    .collect();
                (format!("x{k}"), FeatureValues::Numeric(v))
            })
            .collect();
        let d = Dataset {
            features,
            label: vec![0.0; n],
            weight: None,
        };
        let mappers = BinMappers::fit(&d, 255, 0);
        let data = mappers.bin(&d);
        let layout = HistLayout::new(&mappers);
        let gh: Vec<[f32; 2]> = (0..n)
            .map(|i| [((i * 13) % 29) as f32 - 14.0, 0.125 + (i % 5) as f32])
            .collect();
        let all: Vec<usize> = (0..6).collect();
        let cfg = SplitConfig::from_params(&crate::gbdt::GbdtParams::default());
        let sums = HistBin {
            c: n as u64,
            ..HistBin::default()
        };
        let idx: Vec<u32> = (0..n as u32).collect();
        for bundle in [false, true] {
            let units = Units::new(&data, &mappers, bundle);
            assert_eq!(units.units.len(), if bundle { 4 } else { 6 });
            let rows = units.row_major(&data).expect("u8 bins");
            let mut words = Vec::new();
            let mut ordered = Vec::new();
            gather_rows(&mut words, &mut ordered, &idx, &rows, &gh);
            let gathered = Gathered {
                stride: rows.stride,
                words: &words,
            };
            let fx = Fixed {
                data: &data,
                mappers: &mappers,
                units: &units,
                layout: &layout,
                cfg: &cfg,
            };
            let mut built = Vec::new();
            for src in [
                Source::Columns(Rows::From(0), None),
                Source::Gathered(gathered),
            ] {
                let mut buf = vec![HistBin::default(); layout.total()];
                let mut spare = Vec::new();
                build_and_search(fx, &all, src, &gh, &mut buf, &mut spare, None, sums, sums);
                assert_eq!(spare.len(), 2, "three blocks");
                for f in 0..6 {
                    let got = &buf[layout.offsets[f]..layout.offsets[f + 1]];
                    let mut want = vec![HistBin::default(); got.len()];
                    histogram::build_feature(&data.columns[f], Rows::From(0), &gh, &mut want);
                    for (a, b) in got.iter().zip(&want) {
                        assert_eq!(a.c, b.c);
                        assert!(
                            (a.g - b.g).abs() <= 1e-9 * b.g.abs().max(1.0),
                            "{a:?} {b:?}"
                        );
                        assert!(
                            (a.h - b.h).abs() <= 1e-9 * b.h.abs().max(1.0),
                            "{a:?} {b:?}"
                        );
                    }
                }
                built.push(buf);
            }
            // Columns and gathered rows: the same sums to the last bit.
            assert!(built[0] == built[1], "bundle = {bundle}");
        }
    }

    #[test]
    fn partition_is_stable_across_chunks() {
        // Sizes below one chunk, at two chunks, and spanning several
        // chunks with a partial last one.
        for n in [0usize, 1, 5_000, 2 * PART_CHUNK, 3 * PART_CHUNK + 77] {
            let rows: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
            let left = |r: u32| (r / 7).is_multiple_of(3) as usize;
            let mut got = rows.clone();
            let mut scratch = Vec::new();
            let nl = partition_by(&mut got, &mut scratch, left);
            let want: Vec<u32> = rows
                .iter()
                .copied()
                .filter(|&r| left(r) == 1)
                .chain(rows.iter().copied().filter(|&r| left(r) == 0))
                .collect();
            assert_eq!(nl, rows.iter().filter(|&&r| left(r) == 1).count());
            assert_eq!(got, want, "n = {n}");
        }
    }
}
