//! CSV output, formatted on all threads.

use fathom_core::{ColumnData, ColumnType, Frame};
use rayon::prelude::*;
use std::io::{self, BufWriter, Write};
use tempfile::NamedTempFile;

pub(super) struct CsvSink {
    out: BufWriter<NamedTempFile>,
    delimiter: u8,
}

fn needs_quotes(s: &str, delimiter: u8) -> bool {
    s.bytes()
        .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r')
        || s.starts_with(' ')
        || s.ends_with(' ')
}

fn push_text(buf: &mut Vec<u8>, s: &str, delimiter: u8) {
    if needs_quotes(s, delimiter) {
        buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Appends a number in its shortest round-trip form; whole numbers without
/// a fraction.
#[inline]
pub(crate) fn push_f64(buf: &mut Vec<u8>, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let mut b = itoa::Buffer::new();
        buf.extend_from_slice(b.format(v as i64).as_bytes());
    } else if v.is_finite() {
        let mut b = ryu::Buffer::new();
        buf.extend_from_slice(b.format_finite(v).as_bytes());
    } else if v.is_nan() {
        // A NaN that is not marked null is still written as empty.
    } else if v > 0.0 {
        buf.extend_from_slice(b"inf");
    } else {
        buf.extend_from_slice(b"-inf");
    }
}

fn format_rows(frame: &Frame, start: usize, end: usize, delimiter: u8) -> Vec<u8> {
    let mut buf = Vec::with_capacity((end - start) * frame.num_columns() * 8);
    let mut ts = String::with_capacity(32);
    for i in start..end {
        for (j, col) in frame.columns().iter().enumerate() {
            if j > 0 {
                buf.push(delimiter);
            }
            if !col.is_valid(i) {
                continue;
            }
            match &col.data {
                ColumnData::Numeric(v) => push_f64(&mut buf, v[i]),
                ColumnData::Bool(v) => buf.extend_from_slice(if v[i] { b"true" } else { b"false" }),
                ColumnData::Timestamp(v) => {
                    ts.clear();
                    fathom_core::time::write_micros(v[i], &mut ts);
                    buf.extend_from_slice(ts.as_bytes());
                }
                ColumnData::Categorical(c) => push_text(&mut buf, c.value(i), delimiter),
            }
        }
        buf.push(b'\n');
    }
    buf
}

impl CsvSink {
    pub(super) fn new(
        tmp: NamedTempFile,
        columns: &[(String, ColumnType)],
        delimiter: u8,
    ) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, tmp);
        let mut header = Vec::new();
        for (j, (name, _)) in columns.iter().enumerate() {
            if j > 0 {
                header.push(delimiter);
            }
            push_text(&mut header, name, delimiter);
        }
        header.push(b'\n');
        out.write_all(&header)?;
        Ok(CsvSink { out, delimiter })
    }

    pub(super) fn write(&mut self, frame: &Frame) -> io::Result<()> {
        let n = frame.num_rows();
        let step = 8192;
        let parts: Vec<Vec<u8>> = (0..n.div_ceil(step))
            .into_par_iter()
            .map(|k| format_rows(frame, k * step, ((k + 1) * step).min(n), self.delimiter))
            .collect();
        for p in parts {
            self.out.write_all(&p)?;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> io::Result<NamedTempFile> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
