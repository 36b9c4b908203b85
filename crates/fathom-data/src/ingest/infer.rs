//! CSV type inference over the leading rows of a file.

use super::tokens::{is_null_category, is_null_token, parse_bool_strict, parse_number, parse_time};
use csv_core::{ReadRecordResult, ReaderBuilder};
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
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; ncols + 1];
    let (mut o, mut e) = (0, 0);
    let mut input = buf;
    let mut rows = 0;
    while rows < max_rows {
        let (res, nin, nout, nend) = rdr.read_record(input, &mut out[o..], &mut ends[e..]);
        input = &input[nin..];
        o += nout;
        e += nend;
        match res {
            ReadRecordResult::InputEmpty => {
                // The buffer ends at a record boundary: flush the last record.
                let (res, _, _, nend) = rdr.read_record(&[], &mut out[o..], &mut ends[e..]);
                e += nend;
                if !matches!(res, ReadRecordResult::Record) {
                    break;
                }
            }
            ReadRecordResult::OutputFull => {
                out.resize(out.len() * 2, 0);
                continue;
            }
            ReadRecordResult::OutputEndsFull => {
                ends.resize(ends.len() * 2, 0);
                continue;
            }
            ReadRecordResult::Record => {}
            ReadRecordResult::End => break,
        }
        rows += 1;
        let mut start = 0;
        for (j, &end) in ends[..e.min(ncols)].iter().enumerate() {
            let cell = &out[start..end];
            start = end;
            let c = &mut cands[j];
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
        o = 0;
        e = 0;
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
