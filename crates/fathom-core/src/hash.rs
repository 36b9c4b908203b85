use crate::{ColumnData, ColumnType, CoreError, Frame};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content hash of a table: SHA-256 over canonical column data.
///
/// The hash depends on the column names, types, order and values only: not
/// on the file format the data came from, on how it was split into
/// batches, or on categorical dictionary order. Each value is encoded as a
/// presence byte followed, for a present value, by its canonical bytes
/// (`-0.0` as `0.0`; a category as its length and UTF-8 bytes).
///
/// ```
/// use fathom_core::{Column, Frame, FrameHasher};
/// let whole = Frame::new(vec![Column::numeric("x", vec![1.0, 2.0, 3.0])]).unwrap();
/// let mut a = FrameHasher::default();
/// a.update(&whole).unwrap();
/// let mut b = FrameHasher::default();
/// b.update(&whole.slice(0, 1)).unwrap();
/// b.update(&whole.slice(1, 2)).unwrap();
/// assert_eq!(a.finish(), b.finish());
/// ```
#[derive(Default, Clone)]
pub struct FrameHasher {
    columns: Vec<(String, ColumnType, Sha256)>,
    rows: u64,
}

impl FrameHasher {
    /// Feeds the next batch. Batches must have the same columns in the same order.
    pub fn update(&mut self, frame: &Frame) -> Result<(), CoreError> {
        if self.columns.is_empty() && self.rows == 0 {
            self.columns = frame
                .columns()
                .iter()
                .map(|c| (c.name.clone(), c.column_type(), Sha256::new()))
                .collect();
        }
        if self.columns.len() != frame.num_columns()
            || self
                .columns
                .iter()
                .zip(frame.columns())
                .any(|(h, c)| h.0 != c.name || h.1 != c.column_type())
        {
            return Err(CoreError::SchemaInvalid(format!(
                "batch columns [{}] differ from the first batch's [{}]",
                frame.column_names().join(", "),
                self.columns
                    .iter()
                    .map(|c| c.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.columns
            .par_iter_mut()
            .zip(frame.columns().par_iter())
            .for_each(|((_, _, hasher), col)| {
                let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
                let n = col.len();
                let flush = |buf: &mut Vec<u8>, hasher: &mut Sha256| {
                    if buf.len() >= 60 * 1024 {
                        hasher.update(&buf[..]);
                        buf.clear();
                    }
                };
                match &col.data {
                    ColumnData::Numeric(v) => {
                        for (i, &x) in v.iter().enumerate() {
                            if col.is_valid(i) {
                                let x = if x == 0.0 { 0.0 } else { x };
                                buf.push(1);
                                buf.extend_from_slice(&x.to_bits().to_le_bytes());
                            } else {
                                buf.push(0);
                            }
                            flush(&mut buf, hasher);
                        }
                    }
                    ColumnData::Timestamp(v) => {
                        for (i, &x) in v.iter().enumerate() {
                            if col.is_valid(i) {
                                buf.push(1);
                                buf.extend_from_slice(&x.to_le_bytes());
                            } else {
                                buf.push(0);
                            }
                            flush(&mut buf, hasher);
                        }
                    }
                    ColumnData::Bool(v) => {
                        for (i, &x) in v.iter().enumerate() {
                            buf.push(if col.is_valid(i) { 1 + u8::from(x) } else { 0 });
                            flush(&mut buf, hasher);
                        }
                    }
                    ColumnData::Categorical(c) => {
                        let encoded: Vec<Vec<u8>> = c
                            .dictionary
                            .iter()
                            .map(|s| {
                                let mut e = vec![1];
                                e.extend_from_slice(&(s.len() as u32).to_le_bytes());
                                e.extend_from_slice(s.as_bytes());
                                e
                            })
                            .collect();
                        for i in 0..n {
                            if col.is_valid(i) {
                                buf.extend_from_slice(&encoded[c.codes[i] as usize]);
                            } else {
                                buf.push(0);
                            }
                            flush(&mut buf, hasher);
                        }
                    }
                }
                hasher.update(&buf[..]);
            });
        self.rows += frame.num_rows() as u64;
        Ok(())
    }

    /// Rows fed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The hash as lower-case hex.
    pub fn finish(self) -> String {
        let mut top = Sha256::new();
        top.update(b"fathom-frame-v1\0");
        top.update(self.rows.to_le_bytes());
        for (name, ty, h) in self.columns {
            top.update((name.len() as u32).to_le_bytes());
            top.update(name.as_bytes());
            top.update(ty.name().as_bytes());
            top.update(h.finalize());
        }
        hex::encode(top.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CategoricalData, Column};
    use std::sync::Arc;

    fn hash(f: &Frame) -> String {
        let mut h = FrameHasher::default();
        h.update(f).unwrap();
        h.finish()
    }

    #[test]
    fn dictionary_order_and_negative_zero_do_not_matter_but_values_do() {
        let a = Frame::new(vec![
            Column::numeric("x", vec![0.0, 1.5]),
            Column::categorical("c", &["a", "b"]),
        ])
        .unwrap();
        let reordered = CategoricalData {
            codes: vec![1, 0],
            dictionary: Arc::new(vec!["b".into(), "a".into()]),
        };
        let b = Frame::new(vec![
            Column::numeric("x", vec![-0.0, 1.5]),
            Column::new("c", ColumnData::Categorical(reordered), None),
        ])
        .unwrap();
        assert_eq!(hash(&a), hash(&b));
        let c = Frame::new(vec![
            Column::numeric("x", vec![0.0, 1.5000001]),
            Column::categorical("c", &["a", "b"]),
        ])
        .unwrap();
        assert_ne!(hash(&a), hash(&c));
        let d = Frame::new(vec![
            Column::numeric("x", vec![f64::NAN, 1.5]),
            Column::categorical("c", &["a", "b"]),
        ])
        .unwrap();
        assert_ne!(hash(&a), hash(&d));
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
