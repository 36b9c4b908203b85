//! Column storage: vectors allocated once at their final size, filled in
//! place through per-chunk slices (so [`super::Generator::generate_all`]
//! never copies a chunk), then moved into a [`Frame`] without copying.

use super::columns::{COLUMNS, COUNTRY_DICT, DEVICE_DICT, ENTRY_DICT, MERCHANT_DICT};
use fathom_core::{Bitmap, CategoricalData, Column, ColumnData, Frame};
use rayon::prelude::*;
use std::sync::{Arc, LazyLock};

/// Numeric columns, by slot.
pub(crate) mod num {
    pub const TRANSACTION_ID: usize = 0;
    pub const CARD_ID: usize = 1;
    pub const AMOUNT: usize = 2;
    pub const HOUR: usize = 3;
    pub const DAY_OF_WEEK: usize = 4;
    pub const DISTANCE: usize = 5;
    pub const TXN_1H: usize = 6;
    pub const TXN_24H: usize = 7;
    pub const SUM_24H: usize = 8;
    pub const AVG_30D: usize = 9;
    pub const MERCHANTS_7D: usize = 10;
    pub const COUNTRIES_30D: usize = 11;
    pub const SINCE_LAST: usize = 12;
    pub const FAILED: usize = 13;
    pub const CARD_AGE: usize = 14;
    pub const CUSTOMER_AGE: usize = 15;
    pub const CREDIT_LIMIT: usize = 16;
    pub const UTILIZATION: usize = 17;
    pub const CHARGEBACKS: usize = 18;
    pub const IP_RISK: usize = 19;
    pub const EMAIL_AGE: usize = 20;
    pub const MERCHANT_RISK: usize = 21;
    pub const VELOCITY: usize = 22;
    pub const IS_FRAUD: usize = 23;
    pub const COUNT: usize = 24;
}

/// Categorical columns, by slot.
pub(crate) mod cat {
    pub const MERCHANT: usize = 0;
    pub const COUNTRY: usize = 1;
    pub const DEVICE: usize = 2;
    pub const ENTRY: usize = 3;
    pub const COUNT: usize = 4;
}

/// Boolean columns, by slot.
pub(crate) mod flag {
    pub const ONLINE: usize = 0;
    pub const INTERNATIONAL: usize = 1;
    pub const THREE_DS: usize = 2;
    pub const CVV: usize = 3;
    pub const COUNT: usize = 4;
}

/// Validity vectors, by slot (`true` = present).
pub(crate) mod valid {
    pub const DEVICE: usize = 0;
    pub const DISTANCE: usize = 1;
    pub const CUSTOMER_AGE: usize = 2;
    /// Shared by `ip_risk_score` and `email_age_days`, which exist exactly
    /// for online payments.
    pub const ONLINE: usize = 3;
    pub const COUNT: usize = 4;
}

/// Where a column's values live.
#[derive(Clone, Copy)]
enum Slot {
    Num(usize),
    Cat(usize, &'static LazyLock<Arc<Vec<String>>>),
    Flag(usize),
    Time,
}

/// Storage of each column of [`COLUMNS`], in order, with its validity slot.
const LAYOUT: [(Slot, Option<usize>); 33] = [
    (Slot::Num(num::TRANSACTION_ID), None),
    (Slot::Num(num::CARD_ID), None),
    (Slot::Time, None),
    (Slot::Num(num::AMOUNT), None),
    (Slot::Cat(cat::MERCHANT, &MERCHANT_DICT), None),
    (Slot::Cat(cat::COUNTRY, &COUNTRY_DICT), None),
    (Slot::Cat(cat::DEVICE, &DEVICE_DICT), Some(valid::DEVICE)),
    (Slot::Cat(cat::ENTRY, &ENTRY_DICT), None),
    (Slot::Flag(flag::ONLINE), None),
    (Slot::Flag(flag::INTERNATIONAL), None),
    (Slot::Num(num::HOUR), None),
    (Slot::Num(num::DAY_OF_WEEK), None),
    (Slot::Num(num::DISTANCE), Some(valid::DISTANCE)),
    (Slot::Num(num::TXN_1H), None),
    (Slot::Num(num::TXN_24H), None),
    (Slot::Num(num::SUM_24H), None),
    (Slot::Num(num::AVG_30D), None),
    (Slot::Num(num::MERCHANTS_7D), None),
    (Slot::Num(num::COUNTRIES_30D), None),
    (Slot::Num(num::SINCE_LAST), None),
    (Slot::Num(num::FAILED), None),
    (Slot::Num(num::CARD_AGE), None),
    (Slot::Num(num::CUSTOMER_AGE), Some(valid::CUSTOMER_AGE)),
    (Slot::Num(num::CREDIT_LIMIT), None),
    (Slot::Num(num::UTILIZATION), None),
    (Slot::Num(num::CHARGEBACKS), None),
    (Slot::Num(num::IP_RISK), Some(valid::ONLINE)),
    (Slot::Num(num::EMAIL_AGE), Some(valid::ONLINE)),
    (Slot::Flag(flag::THREE_DS), None),
    (Slot::Flag(flag::CVV), None),
    (Slot::Num(num::MERCHANT_RISK), None),
    (Slot::Num(num::VELOCITY), None),
    (Slot::Num(num::IS_FRAUD), None),
];

/// The rows of one chunk inside [`Storage`]: one slice per column.
pub(crate) struct Slots<'a> {
    pub num: [&'a mut [f64]; num::COUNT],
    pub cat: [&'a mut [u32]; cat::COUNT],
    pub flag: [&'a mut [bool]; flag::COUNT],
    pub time: &'a mut [i64],
    pub valid: [&'a mut [bool]; valid::COUNT],
}

/// Every column's values, at their final length.
pub(crate) struct Storage {
    num: [Vec<f64>; num::COUNT],
    cat: [Vec<u32>; cat::COUNT],
    flag: [Vec<bool>; flag::COUNT],
    time: Vec<i64>,
    valid: [Vec<bool>; valid::COUNT],
}

impl Storage {
    /// Storage for `n` rows (zeroed; every row valid).
    pub(crate) fn new(n: usize) -> Storage {
        Storage {
            num: std::array::from_fn(|_| vec![0.0; n]),
            cat: std::array::from_fn(|_| vec![0; n]),
            flag: std::array::from_fn(|_| vec![false; n]),
            time: vec![0; n],
            valid: std::array::from_fn(|_| vec![true; n]),
        }
    }

    /// All rows as one chunk.
    pub(crate) fn slots(&mut self) -> Slots<'_> {
        Slots {
            num: self.num.each_mut().map(Vec::as_mut_slice),
            cat: self.cat.each_mut().map(Vec::as_mut_slice),
            flag: self.flag.each_mut().map(Vec::as_mut_slice),
            time: &mut self.time,
            valid: self.valid.each_mut().map(Vec::as_mut_slice),
        }
    }

    /// The rows cut into consecutive chunks of `chunk_rows` (the last one
    /// possibly shorter).
    pub(crate) fn split(&mut self, chunk_rows: usize) -> Vec<Slots<'_>> {
        let mut num = self.num.each_mut().map(|v| v.chunks_mut(chunk_rows));
        let mut cat = self.cat.each_mut().map(|v| v.chunks_mut(chunk_rows));
        let mut flag = self.flag.each_mut().map(|v| v.chunks_mut(chunk_rows));
        let mut valid = self.valid.each_mut().map(|v| v.chunks_mut(chunk_rows));
        let next = "columns have equal lengths";
        self.time
            .chunks_mut(chunk_rows)
            .map(|time| Slots {
                num: std::array::from_fn(|k| num[k].next().expect(next)),
                cat: std::array::from_fn(|k| cat[k].next().expect(next)),
                flag: std::array::from_fn(|k| flag[k].next().expect(next)),
                time,
                valid: std::array::from_fn(|k| valid[k].next().expect(next)),
            })
            .collect()
    }

    /// The frame of [`COLUMNS`], moving the vectors in.
    pub(crate) fn into_frame(self) -> Frame {
        let Storage {
            num,
            cat,
            flag,
            time,
            valid,
        } = self;
        let bitmaps: Vec<Option<Bitmap>> = valid
            .par_iter()
            .map(|v| v.contains(&false).then(|| Bitmap::from_bools(v)))
            .collect();
        let mut num = num.map(Some);
        let mut cat = cat.map(Some);
        let mut flag = flag.map(Some);
        let mut time = Some(time);
        let taken = "each slot backs one column";
        let columns = COLUMNS
            .iter()
            .zip(LAYOUT)
            .map(|(&(name, _), (slot, validity))| {
                let data = match slot {
                    Slot::Num(k) => ColumnData::Numeric(num[k].take().expect(taken)),
                    Slot::Cat(k, dictionary) => ColumnData::Categorical(CategoricalData {
                        codes: cat[k].take().expect(taken),
                        dictionary: Arc::clone(dictionary),
                    }),
                    Slot::Flag(k) => ColumnData::Bool(flag[k].take().expect(taken)),
                    Slot::Time => ColumnData::Timestamp(time.take().expect(taken)),
                };
                Column::new(name, data, validity.and_then(|k| bitmaps[k].clone()))
            })
            .collect();
        Frame::new(columns).expect("generator columns have equal lengths and unique names")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_declared_columns() {
        for ((name, ty), (slot, _)) in COLUMNS.iter().zip(LAYOUT) {
            let kind = match slot {
                Slot::Num(_) => fathom_core::ColumnType::Numeric,
                Slot::Cat(..) => fathom_core::ColumnType::Categorical,
                Slot::Flag(_) => fathom_core::ColumnType::Bool,
                Slot::Time => fathom_core::ColumnType::Timestamp,
            };
            assert_eq!(kind, *ty, "{name}");
        }
        let mut storage = Storage::new(10);
        let parts = storage.split(4);
        assert_eq!(
            parts.iter().map(|p| p.time.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        drop(parts);
        assert_eq!(storage.into_frame().num_rows(), 10);
    }
}
