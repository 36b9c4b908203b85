//! Leaf-wise growth of one tree on binned data.
//!
//! The rows of every leaf are a contiguous range of one index array
//! (LightGBM's data partition), ascending within the leaf. Splitting a leaf
//! partitions its range stably; the smaller child's histograms are built
//! from its rows and ordered gradients, the larger child's are the parent's
//! minus the smaller's. The leaf whose best split gains most is split next,
//! until `num_leaves` leaves or no leaf can be split.

use fathom_model::tree::{SplitKind, Tree};
use rayon::prelude::*;

use super::binning::{BinColumn, BinKind, BinMappers, BinnedData};
use super::histogram::{self, HistBin, HistLayout, Rows};
use super::split::{BinSplit, SplitConfig, SplitInfo, best_of, leaf_output};

/// Below this many rows × features, histograms are built on the calling
/// thread (same result, less scheduling overhead).
const PAR_MIN_WORK: usize = 16_384;

/// Partition chunk size (rows) for parallel partitioning.
const PART_CHUNK: usize = 1 << 14;

/// Chunk size (rows) of parallel gathers and sums.
const GATHER_CHUNK: usize = 1 << 14;

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
    /// For every row of the tree's row set, its leaf (`row_leaf[row]`, or
    /// `u32::MAX` for rows outside the set).
    pub row_leaf: Vec<u32>,
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

/// Reusable buffers and fixed context of tree growth.
pub struct Learner<'a> {
    data: &'a BinnedData,
    mappers: &'a BinMappers,
    layout: HistLayout,
    cfg: SplitConfig,
    num_leaves: usize,
    max_depth: usize,
    learning_rate: f64,
    pool: Vec<Vec<HistBin>>,
    indices: Vec<u32>,
    ordered: Vec<[f32; 2]>,
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
    /// A learner over binned training data.
    pub fn new(
        data: &'a BinnedData,
        mappers: &'a BinMappers,
        cfg: SplitConfig,
        num_leaves: usize,
        max_depth: i32,
        learning_rate: f64,
    ) -> Self {
        Learner {
            data,
            mappers,
            layout: HistLayout::new(mappers),
            cfg,
            num_leaves,
            max_depth: if max_depth <= 0 {
                usize::MAX
            } else {
                max_depth as usize
            },
            learning_rate,
            pool: Vec::new(),
            indices: Vec::new(),
            ordered: Vec::new(),
        }
    }

    fn take_buf(&mut self) -> Vec<HistBin> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![HistBin::default(); self.layout.total()])
    }

    /// Grows one tree on rows `bag` (`None` = all rows) with per-row
    /// gradients `gh`, splitting only on `features` (ascending, usable).
    pub fn grow(&mut self, gh: &[[f32; 2]], bag: Option<&[u32]>, features: &[usize]) -> GrownTree {
        let n = self.data.num_rows;
        self.indices.clear();
        match bag {
            Some(b) => self.indices.extend_from_slice(b),
            None => self.indices.extend(0..n as u32),
        }
        let root_count = self.indices.len();
        // Root sums: fixed chunks summed in order (thread-count independent).
        let parts: Vec<(f64, f64)> = self
            .indices
            .par_chunks(GATHER_CHUNK)
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
            let rows = match bag {
                None => Rows::All,
                Some(_) => {
                    gather(&mut self.ordered, &self.indices, gh);
                    Rows::Subset(&self.indices)
                }
            };
            let g: &[[f32; 2]] = if bag.is_none() { gh } else { &self.ordered };
            let best = build_and_search(
                self.data,
                self.mappers,
                &self.layout,
                &self.cfg,
                features,
                rows,
                g,
                &mut buf,
                None,
                sums,
                sums,
            );
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
                let (sb, sc) = (leaves[small].begin, leaves[small].count);
                let rows = &self.indices[sb..sb + sc];
                gather(&mut self.ordered, rows, gh);
                let parent = if large_ok {
                    parent_hist.as_deref_mut()
                } else {
                    None
                };
                let found = build_and_search(
                    self.data,
                    self.mappers,
                    &self.layout,
                    &self.cfg,
                    &parent_features,
                    Rows::Subset(rows),
                    &self.ordered,
                    &mut sbuf,
                    parent,
                    leaves[small].sums,
                    leaves[large].sums,
                );
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
        let mut row_leaf = vec![u32::MAX; n];
        for (i, l) in leaves.iter().enumerate() {
            for &r in &self.indices[l.begin..l.begin + l.count] {
                row_leaf[r as usize] = i as u32;
            }
        }
        for l in leaves {
            if let Some(h) = l.hist {
                self.pool.push(h);
            }
        }
        GrownTree {
            tree,
            bin_nodes,
            row_leaf,
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

/// A task of [`build_and_search`]: features, their histograms in the leaf
/// being built and (optionally) in the parent being turned into the sibling.
type Group<'a> = (
    &'a [usize],
    Vec<&'a mut [HistBin]>,
    Vec<Option<&'a mut [HistBin]>>,
);

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

/// Builds the histograms of `features` for a leaf (`rows`, ordered `gh`)
/// into `buf` and finds its best split (given its sums `small_sums`). With
/// `parent`, also turns `parent` into the sibling's histograms by
/// subtraction and finds the sibling's best split (`large_sums`).
#[allow(clippy::too_many_arguments)]
fn build_and_search(
    data: &BinnedData,
    mappers: &BinMappers,
    layout: &HistLayout,
    cfg: &SplitConfig,
    features: &[usize],
    rows: Rows<'_>,
    gh: &[[f32; 2]],
    buf: &mut [HistBin],
    parent: Option<&mut [HistBin]>,
    small_sums: HistBin,
    large_sums: HistBin,
) -> Found {
    let small = layout.split_mut(buf, features);
    let large: Vec<Option<&mut [HistBin]>> = match parent {
        Some(p) => layout
            .split_mut(p, features)
            .into_iter()
            .map(Some)
            .collect(),
        None => features.iter().map(|_| None).collect(),
    };
    let nrows = match rows {
        Rows::All => data.num_rows,
        Rows::Subset(r) => r.len(),
    };
    // Group features so that one task builds several histograms per pass.
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut small = small.into_iter();
    let mut large = large.into_iter();
    for fs in features.chunks(histogram::GROUP) {
        groups.push((
            fs,
            small.by_ref().take(fs.len()).collect(),
            large.by_ref().take(fs.len()).collect(),
        ));
    }
    let task = |(fs, mut s, l): Group<'_>| {
        let cols: Vec<&BinColumn> = fs.iter().map(|&f| &data.columns[f]).collect();
        histogram::build_group(&cols, rows, gh, &mut s);
        let mut found = Found::default();
        for ((&f, s), l) in fs.iter().zip(s).zip(l) {
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
    let parts: Vec<Found> = if nrows * features.len() < PAR_MIN_WORK {
        groups.into_iter().map(task).collect()
    } else {
        groups.into_par_iter().with_max_len(1).map(task).collect()
    };
    parts.into_iter().fold(Found::default(), Found::merge)
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
    if rows.len() < 4 * GATHER_CHUNK {
        one((out, rows));
    } else {
        out.par_chunks_mut(GATHER_CHUNK)
            .zip(rows.par_chunks(GATHER_CHUNK))
            .for_each(one);
    }
}

/// Stable partition of `rows` by `left[bin of row]`; returns the left count.
fn partition(rows: &mut [u32], column: &BinColumn, left: &[bool]) -> usize {
    match column {
        BinColumn::U8(bins) => {
            let mut table = [0u8; 256];
            for (t, &l) in table.iter_mut().zip(left) {
                *t = l as u8;
            }
            partition_by(rows, |r| table[bins[r as usize] as usize] as usize)
        }
        BinColumn::U16(bins) => {
            let table: Vec<usize> = left.iter().map(|&l| l as usize).collect();
            partition_by(rows, |r| {
                table.get(bins[r as usize] as usize).copied().unwrap_or(0)
            })
        }
    }
}

/// Stable, branch-free partition of `rows` by `goes_left(row)` (0 or 1).
fn partition_by(rows: &mut [u32], goes_left: impl Fn(u32) -> usize + Sync) -> usize {
    let split = |c: &[u32], l: &mut Vec<u32>, r: &mut Vec<u32>| {
        l.clear();
        r.clear();
        l.resize(c.len(), 0);
        r.resize(c.len(), 0);
        let (mut nl, mut nr) = (0, 0);
        for &x in c {
            let m = goes_left(x);
            l[nl] = x;
            r[nr] = x;
            nl += m;
            nr += 1 - m;
        }
        l.truncate(nl);
        r.truncate(nr);
    };
    let parts: Vec<(Vec<u32>, Vec<u32>)> = if rows.len() < 2 * PART_CHUNK {
        let (mut l, mut r) = (Vec::new(), Vec::new());
        split(rows, &mut l, &mut r);
        vec![(l, r)]
    } else {
        rows.par_chunks(PART_CHUNK)
            .map(|c| {
                let (mut l, mut r) = (Vec::new(), Vec::new());
                split(c, &mut l, &mut r);
                (l, r)
            })
            .collect()
    };
    let mut pos = 0;
    for (l, _) in &parts {
        rows[pos..pos + l.len()].copy_from_slice(l);
        pos += l.len();
    }
    let nl = pos;
    for (_, r) in &parts {
        rows[pos..pos + r.len()].copy_from_slice(r);
        pos += r.len();
    }
    nl
}
