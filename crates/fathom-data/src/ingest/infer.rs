//! CSV type inference over the leading rows of a file.

use super::records::Records;
use super::tokens::{is_null_category, is_null_token, parse_bool_strict, parse_number, parse_time};
use fathom_core::ColumnType;

#[derive(Clone, Copy)]
struct Candidates {
    bool_ok: bool,
    number_ok: bool,
    time_ok: bool,
    seen: bool,
}

/// Infers each column's type from up to `max_rows` records of `buf` (which
/// starts after the header). A column is bool if every non-null cell is
/// `true`/`false`, else numeric if every one is a number, else timestamp if
/// every one is a timestamp, else categorical. A column with no values at
/// all is numeric. Unless `complete` (the buffer holds the rest of the
/// file), a row cut off at the end of `buf` is ignored.
pub fn infer_csv_types(
    buf: &[u8],
    delimiter: u8,
    ncols: usize,
    max_rows: usize,
    complete: bool,
) -> Vec<ColumnType> {
    let buf = if complete {
        buf
    } else {
        &buf[..memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1)]
    };
    let mut cands = vec![
        Candidates {
            bool_ok: true,
            number_ok: true,
            time_ok: true,
            seen: false
        };
        ncols
    ];
    let mut records = Records::new(buf, delimiter, ncols);
    let mut rows = 0;
    while rows < max_rows {
        let Some(record) = records.next_record() else {
            break;
        };
        rows += 1;
        for (c, cell) in cands.iter_mut().zip(record.fields()) {
            // "NA" is null for numbers but a level for text; either way it
            // says nothing about which of the two the column is.
            if is_null_token(cell) || is_null_category(cell) {
                continue;
            }
            c.seen = true;
            if c.bool_ok && parse_bool_strict(cell).is_none() {
                c.bool_ok = false;
            }
            if c.number_ok && parse_number(cell).is_none() {
                c.number_ok = false;
            }
            if c.time_ok && parse_time(cell).is_none() {
                c.time_ok = false;
            }
        }
    }
    cands
        .into_iter()
        .map(|c| match c {
            Candidates { seen: false, .. } => ColumnType::Numeric,
            Candidates { bool_ok: true, .. } => ColumnType::Bool,
            Candidates {
                number_ok: true, ..
            } => ColumnType::Numeric,
            Candidates { time_ok: true, .. } => ColumnType::Timestamp,
            _ => ColumnType::Categorical,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_each_type() {
        let buf = b"1,true,2024-01-01,red,\n2.5,False,2024-01-02T10:00:00Z,NA,\n,,,blue,\n";
        let t = infer_csv_types(buf, b',', 5, 100, true);
        use ColumnType::*;
        assert_eq!(t, vec![Numeric, Bool, Timestamp, Categorical, Numeric]);
    }
}
