//! Gradient histograms: per feature and bin, the sums of gradients and
//! hessians and the row count of the rows of one leaf.
//!
//! A leaf's histograms live in one flat buffer, feature `f` occupying
//! `offsets[f]..offsets[f + 1]`. Each feature's histogram is accumulated by
//! one task in row order (in `f64`, from `f32` gradients), so the result
//! does not depend on the number of threads.

use super::binning::{BinColumn, BinMappers};

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

impl HistBin {
    /// `self + o`.
    #[inline]
    pub fn add(self, o: HistBin) -> HistBin {
        HistBin {
            g: self.g + o.g,
            h: self.h + o.h,
            c: self.c + o.c,
        }
    }

    /// `self - o`.
    #[inline]
    pub fn sub(self, o: HistBin) -> HistBin {
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
    pub fn split_mut<'a>(&self, mut buf: &'a mut [HistBin], features: &[usize]) -> Vec<&'a mut [HistBin]> {
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
    /// Every row `0..n` in order; `gh[i]` belongs to row `i`.
    All,
    /// These rows; `gh[i]` belongs to row `rows[i]` (ordered gradients).
    Subset(&'a [u32]),
}

/// Builds one feature's histogram into `out` (overwritten).
///
/// `gh` holds `[gradient, hessian]` pairs, ordered as `rows`.
pub fn build_feature(column: &BinColumn, rows: Rows<'_>, gh: &[[f32; 2]], out: &mut [HistBin]) {
    match column {
        BinColumn::U8(bins) => {
            let mut local = [HistBin::default(); 256];
            match rows {
                Rows::All => {
                    for (&b, p) in bins.iter().zip(gh) {
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
        BinColumn::U16(bins) => {
            out.fill(HistBin::default());
            let n = out.len();
            let mut add = |b: usize, p: &[f32; 2]| {
                let e = &mut out[b.min(n - 1)];
                e.g += p[0] as f64;
                e.h += p[1] as f64;
                e.c += 1;
            };
            match rows {
                Rows::All => bins.iter().zip(gh).for_each(|(&b, p)| add(b as usize, p)),
                Rows::Subset(rows) => rows
                    .iter()
                    .zip(gh)
                    .for_each(|(&r, p)| add(bins[r as usize] as usize, p)),
            }
        }
    }
}

/// `parent -= child`, bin by bin: turns the parent's histogram into the
/// other child's.
pub fn subtract(parent: &mut [HistBin], child: &[HistBin]) {
    for (p, c) in parent.iter_mut().zip(child) {
        *p = p.sub(*c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_and_subtraction_agree_with_direct_build() {
        let bins: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 5) as u8).collect();
        let col = BinColumn::U8(bins);
        let gh: Vec<[f32; 2]> = (0..1000).map(|i| [i as f32 * 0.5 - 100.0, 1.0]).collect();
        let mut all = vec![HistBin::default(); 5];
        build_feature(&col, Rows::All, &gh, &mut all);
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
}
