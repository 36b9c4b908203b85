//! Bundles of few-bin features: one histogram pass for several features.
//!
//! A feature with few bins (a flag, a weekday, a small category) costs a
//! histogram update per row like a feature with 255 bins. Features whose
//! bin counts multiply to at most [`JOINT_BINS`] are bundled: their bins
//! are combined into one `u8` code per row (`code = Σ bin_i × stride_i`),
//! the histogram kernels accumulate the bundle's joint histogram over the
//! codes, and each feature's histogram is then summed out of it (bin `b`
//! of feature `i` adds the joint bins whose code has digit `b`, in code
//! order). On the fraud data (29 features, 17 of them with fewer than 80
//! bins) this makes 19 passes out of 29.
//!
//! The sums of a bundled feature are added in another order than a single
//! feature's (per code in row order, then the codes in order), but the
//! order depends only on the data: bundling is decided from the bin counts
//! alone, the same for every leaf and thread count. Counts are exact.
//!
//! The kernels read [`Unit`]s: a bundle, or one feature on its own.

use rayon::prelude::*;

use super::binning::{BinColumn, BinMappers, BinnedData, RowBins};
use super::histogram::HistBin;

/// Largest joint histogram of a bundle (codes are `u8`).
pub const JOINT_BINS: usize = 256;

/// Rows per task when combining bins into codes.
const CODE_CHUNK: usize = 1 << 14;

/// A column the histogram kernels read: one feature's bins, or the
/// combined bins of a bundle of features.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// The features, ascending.
    pub features: Vec<usize>,
    /// Number of bins of each feature.
    pub bins: Vec<usize>,
    /// Code stride of each feature (the last feature's is 1).
    pub strides: Vec<usize>,
    /// Number of codes: the product of `bins`.
    pub size: usize,
}

impl Unit {
    /// Whether the unit is a single feature (its codes are its bins).
    pub fn is_single(&self) -> bool {
        self.features.len() == 1
    }

    /// Sums the joint histogram `joint` (`size` bins) into the histograms
    /// of the unit's features: `outs[i]` is feature `features[i]`'s (or
    /// `None` when it is not wanted), overwritten. Bin `b` of feature `i`
    /// adds the joint bins whose code has digit `b`, in code order.
    pub fn marginals(&self, joint: &[HistBin], outs: &mut [Option<&mut [HistBin]>]) {
        for (i, o) in outs.iter_mut().enumerate() {
            let Some(o) = o else { continue };
            o.fill(HistBin::default());
            let (n, s) = (self.bins[i], self.strides[i]);
            // The digit of each code, counted along (no divisions).
            let (mut digit, mut left) = (0, s);
            for &j in &joint[..self.size] {
                let e = &mut o[digit];
                *e = *e + j;
                left -= 1;
                if left == 0 {
                    left = s;
                    digit += 1;
                    if digit == n {
                        digit = 0;
                    }
                }
            }
        }
    }
}

/// The units of a data set: every feature in exactly one unit.
#[derive(Clone, Debug)]
pub struct Units {
    /// The units, ordered by their first feature.
    pub units: Vec<Unit>,
    /// `unit_of[f]`: the unit holding feature `f`.
    pub unit_of: Vec<usize>,
    /// The code columns of bundles (`None` for single features, which read
    /// their own bin column).
    codes: Vec<Option<BinColumn>>,
}

impl Units {
    /// Bundles the usable `u8` features of `data` whose bin counts multiply
    /// to at most [`JOINT_BINS`] (first fit, fewest-bin bundles last; see
    /// the module documentation). With `u16` bins, or `bundle == false`,
    /// every feature is a unit of its own.
    pub fn new(data: &BinnedData, mappers: &BinMappers, bundle: bool) -> Units {
        let nf = mappers.mappers.len();
        let mut bundles: Vec<(Vec<usize>, usize)> = Vec::new();
        if bundle && !mappers.wide {
            let mut few: Vec<usize> = (0..nf)
                .filter(|&f| {
                    let m = &mappers.mappers[f];
                    m.usable && 2 * m.num_bins <= JOINT_BINS
                })
                .collect();
            // Most bins first (ties by index), each into the first bundle
            // it fits.
            few.sort_by_key(|&f| (std::cmp::Reverse(mappers.mappers[f].num_bins), f));
            for f in few {
                let nb = mappers.mappers[f].num_bins;
                match bundles.iter_mut().find(|(_, size)| size * nb <= JOINT_BINS) {
                    Some((fs, size)) => {
                        fs.push(f);
                        *size *= nb;
                    }
                    None => bundles.push((vec![f], nb)),
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = bundles.into_iter().map(|(fs, _)| fs).collect();
        let bundled: Vec<bool> = {
            let mut b = vec![false; nf];
            for fs in &groups {
                for &f in fs {
                    b[f] = true;
                }
            }
            b
        };
        groups.extend((0..nf).filter(|&f| !bundled[f]).map(|f| vec![f]));
        for fs in &mut groups {
            fs.sort_unstable();
        }
        groups.sort_by_key(|fs| fs[0]);
        let mut unit_of = vec![0; nf];
        let units: Vec<Unit> = groups
            .into_iter()
            .enumerate()
            .map(|(u, features)| {
                let bins: Vec<usize> = features
                    .iter()
                    .map(|&f| mappers.mappers[f].num_bins)
                    .collect();
                let mut strides = vec![1; bins.len()];
                for i in (0..bins.len().saturating_sub(1)).rev() {
                    strides[i] = strides[i + 1] * bins[i + 1];
                }
                for &f in &features {
                    unit_of[f] = u;
                }
                Unit {
                    size: bins.iter().product(),
                    features,
                    bins,
                    strides,
                }
            })
            .collect();
        let codes = units
            .iter()
            .map(|u| (!u.is_single()).then(|| codes(data, u)))
            .collect();
        Units {
            units,
            unit_of,
            codes,
        }
    }

    /// The column unit `u` reads: its codes, or its feature's bins.
    pub fn column<'a>(&'a self, data: &'a BinnedData, u: usize) -> &'a BinColumn {
        match &self.codes[u] {
            Some(c) => c,
            None => &data.columns[self.units[u].features[0]],
        }
    }

    /// The units' columns row by row, when every one is `u8`.
    pub fn row_major(&self, data: &BinnedData) -> Option<RowBins> {
        let cols: Vec<&[u8]> = (0..self.units.len())
            .map(|u| match self.column(data, u) {
                BinColumn::U8(v) => Some(v.as_slice()),
                BinColumn::U16(_) => None,
            })
            .collect::<Option<_>>()?;
        Some(RowBins::from_columns(&cols, data.num_rows))
    }

    /// The wanted `features` (ascending) by unit, in unit order: each unit
    /// holding one of them, with those of its features that are wanted.
    pub fn wanted(&self, features: &[usize]) -> Vec<(usize, Vec<usize>)> {
        let mut by_unit: Vec<Vec<usize>> = vec![Vec::new(); self.units.len()];
        for &f in features {
            by_unit[self.unit_of[f]].push(f);
        }
        by_unit
            .into_iter()
            .enumerate()
            .filter(|(_, fs)| !fs.is_empty())
            .collect()
    }
}

/// The code column of a bundle.
fn codes(data: &BinnedData, unit: &Unit) -> BinColumn {
    let cols: Vec<&[u8]> = unit
        .features
        .iter()
        .map(|&f| match &data.columns[f] {
            BinColumn::U8(v) => v.as_slice(),
            BinColumn::U16(_) => unreachable!("bundles hold u8 features only"),
        })
        .collect();
    let mut out = vec![0u8; data.num_rows];
    out.par_chunks_mut(CODE_CHUNK)
        .enumerate()
        .for_each(|(c, o)| {
            let first = c * CODE_CHUNK;
            for (col, &s) in cols.iter().zip(&unit.strides) {
                for (o, &b) in o.iter_mut().zip(&col[first..]) {
                    // size <= 256: every partial code fits in a u8.
                    *o = (*o as usize + b as usize * s) as u8;
                }
            }
        });
    BinColumn::U8(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::dataset::{Dataset, FeatureValues};

    fn data(levels: &[u32], n: usize) -> (BinnedData, BinMappers) {
        let features = levels
            .iter()
            .enumerate()
            .map(|(k, &l)| {
                let v = (0..n as u64)
                    .map(|i| ((i * (2 * k as u64 + 3) + i / 5) % l as u64) as f64)
                    .collect();
                (format!("x{k}"), FeatureValues::Numeric(v))
            })
            .collect();
        let d = Dataset {
            features,
            label: vec![0.0; n],
            weight: None,
        };
        let m = BinMappers::fit(&d, 255, 0);
        (m.bin(&d), m)
    }

    #[test]
    fn few_bin_features_are_bundled_and_their_codes_decode() {
        // 4, 201, 3, 8, 51 and 4 bins (the values and the missing bin).
        let (data, m) = data(&[3, 200, 2, 7, 50, 3], 3000);
        let bins: Vec<usize> = m.mappers.iter().map(|b| b.num_bins).collect();
        let units = Units::new(&data, &m, true);
        // Every feature exactly once; joint sizes within a byte.
        let mut seen: Vec<usize> = units
            .units
            .iter()
            .flat_map(|u| u.features.clone())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
        for u in &units.units {
            assert!(u.size <= JOINT_BINS, "{u:?}");
            assert_eq!(
                u.size,
                u.features.iter().map(|&f| bins[f]).product::<usize>()
            );
        }
        // 201 bins stay alone; 51 × 4 and 8 × 4 × 3 bundle.
        let fs: Vec<Vec<usize>> = units.units.iter().map(|u| u.features.clone()).collect();
        assert_eq!(fs, vec![vec![0, 4], vec![1], vec![2, 3, 5]], "{bins:?}");
        assert!(units.units[units.unit_of[1]].is_single());
        for (u, unit) in units.units.iter().enumerate() {
            let col = units.column(&data, u);
            for r in [0, 1, 17, 2999] {
                let code = col.get(r);
                for (i, &f) in unit.features.iter().enumerate() {
                    let digit = (code / unit.strides[i]) % unit.bins[i];
                    assert_eq!(digit, data.columns[f].get(r), "unit {u} row {r}");
                }
            }
        }
        // Without bundling: one unit per feature, reading the bins.
        let single = Units::new(&data, &m, false);
        assert_eq!(single.units.len(), 6);
        assert!(single.units.iter().all(Unit::is_single));
    }

    #[test]
    fn marginals_sum_the_joint_histogram() {
        let unit = Unit {
            features: vec![2, 5],
            bins: vec![3, 4],
            strides: vec![4, 1],
            size: 12,
        };
        let joint: Vec<HistBin> = (0..12u64)
            .map(|c| HistBin {
                g: c as f64 - 5.5,
                h: 1.0 + c as f64,
                c,
            })
            .collect();
        let mut a = vec![HistBin::default(); 3];
        let mut b = vec![HistBin::default(); 4];
        unit.marginals(&joint, &mut [Some(&mut a), Some(&mut b)]);
        for (x, want) in a.iter().enumerate() {
            let cells = (0..4).map(|y| joint[x * 4 + y]);
            assert_eq!(*want, cells.fold(HistBin::default(), |s, j| s + j));
        }
        for (y, want) in b.iter().enumerate() {
            let cells = (0..3).map(|x| joint[x * 4 + y]);
            assert_eq!(*want, cells.fold(HistBin::default(), |s, j| s + j));
        }
        // An unwanted feature is left alone.
        let mut c = vec![HistBin::default(); 4];
        unit.marginals(&joint, &mut [None, Some(&mut c)]);
        assert_eq!(b, c);
    }
}
