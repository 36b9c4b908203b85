//! Gradient histograms: per feature and bin, the sums of gradients and
//! hessians and the row count of the rows of one leaf.
//!
//! A leaf's histograms live in one flat buffer, feature `f` occupying
//! `offsets[f]..offsets[f + 1]`. Each feature's histogram is accumulated by
//! one task in row order (in `f64`, from `f32` gradients), so the result
//! does not depend on the number of threads.
//!
//! The kernels read [`Unit`]s: one feature's bin column, or a bundle's code
//! column, whose joint histogram is then summed out into its features'
//! ([`Target`]). Two kernels build them: [`build_group`] reads up to 8
//! columns in one pass over the rows (large leaves), [`build_gathered`]
//! reads rows gathered row by row (small leaves). Both add a unit's rows in
//! the same order, so they give the same histograms to the last bit. Above
//! [`SMALL_LEAF`] rows they accumulate into 256-bin scratch arrays on the
//! stack, whole bins (sums and count) at a time, and copy the used bins
//! out; when the caller already knows the counts (the root's),
//! [`build_group`] adds gradients and hessians only, which is about a third
//! cheaper.

use super::binning::{BinColumn, BinMappers};
use super::bundle::{JOINT_BINS, Unit};

/// Sums of one histogram bin.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HistBin {
    /// Sum of gradients.
    pub g: f64,
    /// Sum of hessians.
    pub h: f64,
    /// Number of rows.
    pub c: u64,
}

impl std::ops::Add for HistBin {
    type Output = HistBin;

    #[inline]
    fn add(self, o: HistBin) -> HistBin {
        HistBin {
            g: self.g + o.g,
            h: self.h + o.h,
            c: self.c + o.c,
        }
    }
}

impl std::ops::Sub for HistBin {
    type Output = HistBin;

    #[inline]
    fn sub(self, o: HistBin) -> HistBin {
        HistBin {
            g: self.g - o.g,
            h: self.h - o.h,
            c: self.c.wrapping_sub(o.c),
        }
    }
}

/// Where each feature's histogram sits in a leaf's buffer.
#[derive(Clone, Debug)]
pub struct HistLayout {
    /// `offsets[f]..offsets[f + 1]` is feature `f`; length = features + 1.
    pub offsets: Vec<usize>,
}

impl HistLayout {
    /// Layout for the given bin mappers.
    pub fn new(mappers: &BinMappers) -> Self {
        let mut offsets = Vec::with_capacity(mappers.mappers.len() + 1);
        let mut o = 0;
        offsets.push(0);
        for m in &mappers.mappers {
            o += m.num_bins;
            offsets.push(o);
        }
        HistLayout { offsets }
    }

    /// Total number of bins of a leaf's buffer.
    pub fn total(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// Splits `buf` into the histograms of `features` (ascending indices).
    pub fn split_mut<'a>(
        &self,
        mut buf: &'a mut [HistBin],
        features: &[usize],
    ) -> Vec<&'a mut [HistBin]> {
        let mut out = Vec::with_capacity(features.len());
        let mut pos = 0;
        for &f in features {
            let (a, b) = (self.offsets[f], self.offsets[f + 1]);
            let rest = std::mem::take(&mut buf);
            let (_, rest) = rest.split_at_mut(a - pos);
            let (mine, rest) = rest.split_at_mut(b - a);
            out.push(mine);
            buf = rest;
            pos = b;
        }
        out
    }
}

/// The rows a histogram is built over.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Rows `start..start + gh.len()` in order; `gh[i]` belongs to row
    /// `start + i` (`From(0)`: every row).
    From(usize),
    /// These rows; `gh[i]` belongs to row `rows[i]` (ordered gradients).
    Subset(&'a [u32]),
}

/// Below this many rows, the kernels accumulate into the output
/// histograms directly rather than into 256-bin scratch arrays.
pub const SMALL_LEAF: usize = 1024;

/// Where the histogram of one [`Unit`] goes.
pub enum Target<'a> {
    /// The unit is one feature: its histogram.
    Feature(&'a mut [HistBin]),
    /// A bundle: the histograms of its features (`None`: not wanted),
    /// summed out of the joint histogram.
    Bundle(&'a Unit, Vec<Option<&'a mut [HistBin]>>),
}

impl Target<'_> {
    /// Bins of the unit's histogram (the joint one for a bundle).
    fn len(&self) -> usize {
        match self {
            Target::Feature(o) => o.len(),
            Target::Bundle(u, _) => u.size,
        }
    }

    /// Stores the unit's histogram, the first [`Target::len`] bins of `h`.
    fn put(&mut self, h: &[HistBin]) {
        match self {
            Target::Feature(o) => {
                let n = o.len();
                o.copy_from_slice(&h[..n]);
            }
            Target::Bundle(u, outs) => u.marginals(h, outs),
        }
    }

    /// Stores gradient and hessian sums `acc` (counts 0).
    fn put_sums(&mut self, acc: &[[f64; 2]]) {
        let to_bin = |a: &[f64; 2]| HistBin {
            g: a[0],
            h: a[1],
            c: 0,
        };
        match self {
            Target::Feature(o) => {
                for (o, a) in o.iter_mut().zip(acc) {
                    *o = to_bin(a);
                }
            }
            Target::Bundle(u, outs) => {
                let mut joint = [HistBin::default(); JOINT_BINS];
                for (j, a) in joint[..u.size].iter_mut().zip(acc) {
                    *j = to_bin(a);
                }
                u.marginals(&joint, outs);
            }
        }
    }

    /// Builds the unit's histogram with `fill`, which overwrites the slice
    /// it is given (the output itself, or a joint scratch for a bundle).
    fn fill_with(&mut self, fill: impl FnOnce(&mut [HistBin])) {
        match self {
            Target::Feature(o) => fill(o),
            Target::Bundle(u, outs) => {
                let mut joint = [HistBin::default(); JOINT_BINS];
                fill(&mut joint[..u.size]);
                u.marginals(&joint, outs);
            }
        }
    }
}

/// Builds one column's histogram into `out` (overwritten): a feature's
/// bins, or a bundle's codes (its joint histogram).
///
/// `gh` holds `[gradient, hessian]` pairs, ordered as `rows`.
pub fn build_feature(column: &BinColumn, rows: Rows<'_>, gh: &[[f32; 2]], out: &mut [HistBin]) {
    match column {
        BinColumn::U8(bins) if gh.len() < SMALL_LEAF => accumulate_direct(bins, rows, gh, out),
        BinColumn::U8(bins) => {
            let mut local = [HistBin::default(); 256];
            match rows {
                Rows::From(start) => {
                    for (&b, p) in bins[start..].iter().zip(gh) {
                        let e = &mut local[b as usize];
                        e.g += p[0] as f64;
                        e.h += p[1] as f64;
                        e.c += 1;
                    }
                }
                Rows::Subset(rows) => {
                    for (&r, p) in rows.iter().zip(gh) {
                        let e = &mut local[bins[r as usize] as usize];
                        e.g += p[0] as f64;
                        e.h += p[1] as f64;
                        e.c += 1;
                    }
                }
            }
            let n = out.len();
            out.copy_from_slice(&local[..n]);
        }
        BinColumn::U16(bins) => accumulate_direct(bins, rows, gh, out),
    }
}

/// Accumulates straight into `out` (cleared first); bins past its end
/// count in its last bin.
fn accumulate_direct<B: Copy + Into<usize>>(
    bins: &[B],
    rows: Rows<'_>,
    gh: &[[f32; 2]],
    out: &mut [HistBin],
) {
    out.fill(HistBin::default());
    let n = out.len();
    let mut add = |b: B, p: &[f32; 2]| {
        let e = &mut out[b.into().min(n - 1)];
        e.g += p[0] as f64;
        e.h += p[1] as f64;
        e.c += 1;
    };
    match rows {
        Rows::From(start) => bins[start..].iter().zip(gh).for_each(|(&b, p)| add(b, p)),
        Rows::Subset(rows) => rows
            .iter()
            .zip(gh)
            .for_each(|(&r, p)| add(bins[r as usize], p)),
    }
}

/// Units whose histograms one task builds in a single pass over the
/// columns (sharing the row index and gradient loads).
pub const GROUP: usize = 5;

/// Builds the histograms of up to 8 units in one pass over the rows:
/// `columns[k]` is unit `k`'s column, `targets[k]` receives its histogram.
/// Each unit's sums are still accumulated in row order, so the result is
/// exactly that of [`build_feature`] on each column (then, for a bundle,
/// [`Unit::marginals`]).
///
/// With `count == false` the row counts are not accumulated (a large leaf
/// then costs about a third less) and every `c` is left at 0 for the caller
/// to fill in.
pub fn build_group(
    columns: &[&BinColumn],
    rows: Rows<'_>,
    gh: &[[f32; 2]],
    targets: &mut [Target<'_>],
    count: bool,
) {
    let narrow: Option<Vec<&[u8]>> = columns
        .iter()
        .map(|c| match c {
            BinColumn::U8(v) => Some(v.as_slice()),
            BinColumn::U16(_) => None,
        })
        .collect();
    let nrows = match rows {
        Rows::From(_) => gh.len(),
        Rows::Subset(r) => r.len(),
    };
    let one_by_one = |targets: &mut [Target<'_>]| {
        for (c, t) in columns.iter().zip(targets.iter_mut()) {
            t.fill_with(|o| build_feature(c, rows, gh, o));
        }
    };
    if nrows < SMALL_LEAF {
        // Few rows: accumulate straight into the outputs rather than
        // clearing and copying full 256-bin scratch histograms.
        one_by_one(targets);
        return;
    }
    macro_rules! go {
        ($($k:literal => [$($i:literal),*]),*) => {
            match (narrow.as_deref(), count) {
                $(
                    (Some(n), true) if n.len() == $k => group_u8::<$k, true>([$(n[$i]),*], rows, gh, targets),
                    (Some(n), false) if n.len() == $k => group_u8::<$k, false>([$(n[$i]),*], rows, gh, targets),
                )*
                _ => one_by_one(targets),
            }
        };
    }
    go!(
        1 => [0],
        2 => [0, 1],
        3 => [0, 1, 2],
        4 => [0, 1, 2, 3],
        5 => [0, 1, 2, 3, 4],
        6 => [0, 1, 2, 3, 4, 5],
        7 => [0, 1, 2, 3, 4, 5, 6],
        8 => [0, 1, 2, 3, 4, 5, 6, 7]
    );
}

#[allow(clippy::needless_range_loop)] // k indexes parallel arrays
fn group_u8<const K: usize, const COUNT: bool>(
    cols: [&[u8]; K],
    rows: Rows<'_>,
    gh: &[[f32; 2]],
    targets: &mut [Target<'_>],
) {
    if COUNT {
        let mut acc = [[HistBin::default(); 256]; K];
        each_row(cols, rows, gh, |k, b, g| {
            let e = &mut acc[k][b as usize];
            e.g += g[0];
            e.h += g[1];
            e.c += 1;
        });
        for k in 0..K {
            targets[k].put(&acc[k]);
        }
        return;
    }
    let mut acc = [[[0f64; 2]; 256]; K];
    each_row(cols, rows, gh, |k, b, g| {
        let e = &mut acc[k][b as usize];
        e[0] += g[0];
        e[1] += g[1];
    });
    for k in 0..K {
        let n = targets[k].len();
        targets[k].put_sums(&acc[k][..n]);
    }
}

/// Calls `add(k, bin, [gradient, hessian])` for every row in order and,
/// within a row, for columns `k = 0..K`. Over a range of rows, the
/// columns are read 8 rows at a time (one bounds check per 8 rows).
#[allow(clippy::needless_range_loop)] // k indexes parallel arrays
#[inline(always)]
fn each_row<const K: usize>(
    cols: [&[u8]; K],
    rows: Rows<'_>,
    gh: &[[f32; 2]],
    mut add: impl FnMut(usize, u8, [f64; 2]),
) {
    const C: usize = 8;
    let pair = |p: &[f32; 2]| [p[0] as f64, p[1] as f64];
    match rows {
        Rows::From(start) => {
            let cols = cols.map(|c| &c[start..start + gh.len()]);
            let (chunks, tail) = gh.as_chunks::<C>();
            let col_chunks = cols.map(|c| c.as_chunks::<C>().0);
            for (q, ghs) in chunks.iter().enumerate() {
                let bins: [&[u8; C]; K] = std::array::from_fn(|k| &col_chunks[k][q]);
                for j in 0..C {
                    let g = pair(&ghs[j]);
                    for k in 0..K {
                        add(k, bins[k][j], g);
                    }
                }
            }
            let base = chunks.len() * C;
            for (j, p) in tail.iter().enumerate() {
                let g = pair(p);
                for k in 0..K {
                    add(k, cols[k][base + j], g);
                }
            }
        }
        Rows::Subset(rows) => {
            for (&r, p) in rows.iter().zip(gh) {
                let g = pair(p);
                let r = r as usize;
                for k in 0..K {
                    add(k, cols[k][r], g);
                }
            }
        }
    }
}

/// Bins of some rows gathered row by row: row `i` is
/// `words[i * stride..(i + 1) * stride]`, unit `u` being byte `u % 8` of
/// its word `u / 8` (the layout of [`RowBins`](super::binning::RowBins)).
#[derive(Clone, Copy, Debug)]
pub struct Gathered<'a> {
    /// Words per row.
    pub stride: usize,
    /// The gathered words.
    pub words: &'a [[u8; 8]],
}

/// Builds the histograms of up to 8 units from gathered rows: `at[k]` is
/// unit `k`'s byte in a row, `targets[k]` receives its histogram; `gh[i]`
/// belongs to gathered row `i`. Each unit's sums are accumulated in row
/// order, as by [`build_group`], so both give the same histograms.
pub fn build_gathered(
    rows: Gathered<'_>,
    at: &[usize],
    gh: &[[f32; 2]],
    targets: &mut [Target<'_>],
) {
    let bytes = rows.words.as_flattened();
    if gh.len() < SMALL_LEAF {
        for (t, &u) in targets.iter_mut().zip(at) {
            t.fill_with(|o| {
                o.fill(HistBin::default());
                let n = o.len();
                for (row, p) in bytes.chunks_exact(rows.stride * 8).zip(gh) {
                    let e = &mut o[(row[u] as usize).min(n - 1)];
                    e.g += p[0] as f64;
                    e.h += p[1] as f64;
                    e.c += 1;
                }
            });
        }
        return;
    }
    macro_rules! go {
        ($($k:literal => [$($i:literal),*]),*) => {
            match at.len() {
                $( $k => {
                    let at = [$(at[$i]),*];
                    match rows.stride {
                        1 => gathered_u8::<$k, 8>(at, bytes, gh, targets),
                        2 => gathered_u8::<$k, 16>(at, bytes, gh, targets),
                        3 => gathered_u8::<$k, 24>(at, bytes, gh, targets),
                        4 => gathered_u8::<$k, 32>(at, bytes, gh, targets),
                        s => gathered_wide::<$k>(at, bytes.chunks_exact(s * 8), gh, targets),
                    }
                } )*
                _ => unreachable!("groups hold at most 8 units"),
            }
        };
    }
    go!(
        1 => [0],
        2 => [0, 1],
        3 => [0, 1, 2],
        4 => [0, 1, 2, 3],
        5 => [0, 1, 2, 3, 4],
        6 => [0, 1, 2, 3, 4, 5],
        7 => [0, 1, 2, 3, 4, 5, 6],
        8 => [0, 1, 2, 3, 4, 5, 6, 7]
    );
}

/// [`build_gathered`] for rows of `N` bytes.
fn gathered_u8<const K: usize, const N: usize>(
    at: [usize; K],
    bytes: &[u8],
    gh: &[[f32; 2]],
    targets: &mut [Target<'_>],
) {
    let (rows, _) = bytes.as_chunks::<N>();
    gathered_wide::<K>(at, rows.iter().map(|r| r.as_slice()), gh, targets)
}

#[allow(clippy::needless_range_loop)] // k indexes parallel arrays
#[inline(always)]
fn gathered_wide<'a, const K: usize>(
    at: [usize; K],
    rows: impl Iterator<Item = &'a [u8]>,
    gh: &[[f32; 2]],
    targets: &mut [Target<'_>],
) {
    let mut acc = [[HistBin::default(); 256]; K];
    for (row, p) in rows.zip(gh) {
        let g = [p[0] as f64, p[1] as f64];
        for k in 0..K {
            let e = &mut acc[k][row[at[k]] as usize];
            e.g += g[0];
            e.h += g[1];
            e.c += 1;
        }
    }
    for k in 0..K {
        targets[k].put(&acc[k]);
    }
}

/// `parent -= child`, bin by bin: turns the parent's histogram into the
/// other child's.
pub fn subtract(parent: &mut [HistBin], child: &[HistBin]) {
    for (p, c) in parent.iter_mut().zip(child) {
        *p = *p - *c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::binning::BinnedData;

    /// Columns of `n` rows with skewed bins (runs of one bin, a few
    /// frequent bins, some columns with 256 bins).
    fn columns(n: u32, k: u32) -> Vec<BinColumn> {
        (0..k)
            .map(|f| {
                let bins = 256 - 40 * (f % 5);
                BinColumn::U8(
                    (0..n)
                        .map(|i| {
                            let x = i.wrapping_mul(2_654_435_761).rotate_left(f + 3) ^ (i / 9);
                            (if x % 3 == 0 { x % 4 } else { x % bins }) as u8
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn gathered_rows_give_the_column_histograms_bit_for_bit() {
        let n = 6000u32;
        let k = 19;
        let data = BinnedData {
            columns: columns(n, k),
            num_rows: n as usize,
        };
        let packed = data.row_major().expect("u8 bins");
        assert_eq!(packed.stride, 3);
        let gh: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                [
                    ((i * 37) % 101) as f32 / 7.0 - 7.0,
                    0.01 + (i % 11) as f32 / 3.0,
                ]
            })
            .collect();
        // A leaf above and one below SMALL_LEAF rows.
        for every in [2u32, 9] {
            let rows: Vec<u32> = (0..n).filter(|i| i % every != 1).collect();
            let ordered: Vec<[f32; 2]> = rows.iter().map(|&r| gh[r as usize]).collect();
            let mut words = Vec::new();
            for &r in &rows {
                let r = r as usize * packed.stride;
                words.extend_from_slice(&packed.words[r..r + packed.stride]);
            }
            let gathered = Gathered {
                stride: packed.stride,
                words: &words,
            };
            // Any group of up to 8 features, across words.
            let features = [0usize, 3, 7, 8, 13, 16, 17, 18];
            let mut bufs: Vec<Vec<HistBin>> = features
                .iter()
                .map(|&f| vec![HistBin::default(); 256 - 40 * (f % 5)])
                .collect();
            let mut outs: Vec<Target<'_>> = bufs
                .iter_mut()
                .map(|b| Target::Feature(b.as_mut_slice()))
                .collect();
            build_gathered(gathered, &features, &ordered, &mut outs);
            for (&f, got) in features.iter().zip(&bufs) {
                let mut want = vec![HistBin::default(); got.len()];
                build_feature(&data.columns[f], Rows::Subset(&rows), &ordered, &mut want);
                assert_eq!(got, &want, "feature {f}, every {every}");
            }
        }
    }

    #[test]
    fn sums_without_counts_equal_sums_with_counts() {
        let n = 5000u32;
        let cols = columns(n, 6);
        let refs: Vec<&BinColumn> = cols.iter().collect();
        let gh: Vec<[f32; 2]> = (0..n)
            .map(|i| [(i % 17) as f32 - 8.5, 0.5 + (i % 3) as f32])
            .collect();
        let size = |f: usize| 256 - 40 * (f % 5);
        let build = |count: bool| {
            let mut bufs: Vec<Vec<HistBin>> =
                (0..6).map(|f| vec![HistBin::default(); size(f)]).collect();
            let mut outs: Vec<Target<'_>> = bufs
                .iter_mut()
                .map(|b| Target::Feature(b.as_mut_slice()))
                .collect();
            build_group(&refs, Rows::From(0), &gh, &mut outs, count);
            bufs
        };
        let (with, without) = (build(true), build(false));
        for (a, b) in with.iter().zip(&without) {
            for (x, y) in a.iter().zip(b) {
                assert_eq!((x.g, x.h, 0), (y.g, y.h, y.c));
            }
            assert_eq!(a.iter().map(|b| b.c).sum::<u64>(), n as u64);
        }
    }

    #[test]
    fn subset_and_subtraction_agree_with_direct_build() {
        let bins: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 5) as u8).collect();
        let col = BinColumn::U8(bins);
        let gh: Vec<[f32; 2]> = (0..1000).map(|i| [i as f32 * 0.5 - 100.0, 1.0]).collect();
        let mut all = vec![HistBin::default(); 5];
        build_feature(&col, Rows::From(0), &gh, &mut all);
        let rows: Vec<u32> = (0..1000).filter(|i| i % 3 == 0).collect();
        let rest: Vec<u32> = (0..1000).filter(|i| i % 3 != 0).collect();
        let ordered: Vec<[f32; 2]> = rows.iter().map(|&r| gh[r as usize]).collect();
        let ordered_rest: Vec<[f32; 2]> = rest.iter().map(|&r| gh[r as usize]).collect();
        let mut a = vec![HistBin::default(); 5];
        build_feature(&col, Rows::Subset(&rows), &ordered, &mut a);
        let mut b = vec![HistBin::default(); 5];
        build_feature(&col, Rows::Subset(&rest), &ordered_rest, &mut b);
        subtract(&mut all, &a);
        for (x, y) in all.iter().zip(&b) {
            assert_eq!(x.c, y.c);
            assert!((x.g - y.g).abs() < 1e-9 && (x.h - y.h).abs() < 1e-9);
        }
        let wide = BinColumn::U16((0..1000u32).map(|i| (i * 7 % 5) as u16).collect());
        let mut w = vec![HistBin::default(); 5];
        build_feature(&wide, Rows::Subset(&rest), &ordered_rest, &mut w);
        assert_eq!(w, b);
    }

    #[test]
    fn grouped_build_equals_single_builds() {
        let n = 20_000u32;
        let cols: Vec<BinColumn> = (0..5u32)
            .map(|k| {
                BinColumn::U8(
                    (0..n)
                        .map(|i| ((i * (k + 3) + i / 7) % (40 + k)) as u8)
                        .collect(),
                )
            })
            .collect();
        let gh: Vec<[f32; 2]> = (0..n)
            .map(|i| [(i % 13) as f32 - 6.0, 0.25 + (i % 5) as f32])
            .collect();
        let rows: Vec<u32> = (0..n).filter(|i| i % 3 != 1).collect();
        let ordered: Vec<[f32; 2]> = rows.iter().map(|&r| gh[r as usize]).collect();
        for (rs, g) in [(Rows::From(0), &gh), (Rows::Subset(&rows), &ordered)] {
            let refs: Vec<&BinColumn> = cols.iter().collect();
            let mut bufs: Vec<Vec<HistBin>> = (0..5u32)
                .map(|k| vec![HistBin::default(); 40 + k as usize])
                .collect();
            let mut outs: Vec<Target<'_>> = bufs
                .iter_mut()
                .map(|b| Target::Feature(b.as_mut_slice()))
                .collect();
            build_group(&refs, rs, g, &mut outs, true);
            for (k, c) in cols.iter().enumerate() {
                let mut single = vec![HistBin::default(); 40 + k];
                build_feature(c, rs, g, &mut single);
                assert_eq!(single, bufs[k]);
            }
        }
    }
}
