//! CSV type inference over the leading rows of a file.

use super::records::Records;
use super::split::field_ends;
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
    let threads = rayon::current_num_threads();
    let cands = if memchr::memchr(b'"', buf).is_none() {
        // Without quotes a record is a non-blank line: the leading rows end
        // at a known byte, and pieces cut at newlines can be split without
        // the CSV state machine, scanned on all threads, and their
        // verdicts combined.
        let buf = &buf[..end_of_lines(buf, max_rows)];
        let pieces = split_at_newlines(buf, threads * 2);
        use rayon::prelude::*;
        pieces
            .par_iter()
            .map(|p| scan_lines(p, delimiter, ncols))
            .reduce(
                || fresh(ncols),
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        x.bool_ok &= y.bool_ok;
                        x.number_ok &= y.number_ok;
                        x.time_ok &= y.time_ok;
                        x.seen |= y.seen;
                    }
                    a
                },
            )
    } else {
        scan(buf, delimiter, ncols, max_rows)
    };
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

fn fresh(ncols: usize) -> Vec<Candidates> {
    vec![
        Candidates {
            bool_ok: true,
            number_ok: true,
            time_ok: true,
            seen: false
        };
        ncols
    ]
}

/// The byte offset just past the first `rows` non-blank lines.
fn end_of_lines(buf: &[u8], rows: usize) -> usize {
    let mut seen = 0;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
        let line = &buf[start..nl];
        start = nl + 1;
        if !(line.is_empty() || line == b"\r") {
            seen += 1;
            if seen == rows {
                return start;
            }
        }
    }
    buf.len()
}

/// About `parts` pieces of `buf`, each ending at a newline (or the end).
fn split_at_newlines(buf: &[u8], parts: usize) -> Vec<&[u8]> {
    let step = (buf.len() / parts.max(1)).max(1 << 16);
    let mut out = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let target = (start + step).min(buf.len());
        let end = match memchr::memchr(b'\n', &buf[target..]) {
            Some(i) => target + i + 1,
            None => buf.len(),
        };
        out.push(&buf[start..end]);
        start = end;
    }
    out
}

/// The candidate types of each column over up to `max_rows` records.
fn scan(buf: &[u8], delimiter: u8, ncols: usize, max_rows: usize) -> Vec<Candidates> {
    let mut cands = fresh(ncols);
    let mut records = Records::new(buf, delimiter, ncols);
    let mut rows = 0;
    while rows < max_rows {
        let Some(record) = records.next_record() else {
            break;
        };
        rows += 1;
        for (c, cell) in cands.iter_mut().zip(record.fields()) {
            c.see(cell);
        }
    }
    cands
}

/// [`scan`] of every record of a quote-free buffer, read as the reader's
/// quote-free path reads it: records are non-blank lines (a trailing
/// carriage return dropped), fields are split at the delimiter. The
/// delimiters and newlines are found eight bytes at a time first.
fn scan_lines(buf: &[u8], delimiter: u8, ncols: usize) -> Vec<Candidates> {
    let mut cands = fresh(ncols);
    if buf.len() >= u32::MAX as usize {
        // Offsets would not fit the index: split line by line instead.
        for line in buf.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            for (c, cell) in cands.iter_mut().zip(line.split(|&b| b == delimiter)) {
                c.see(cell);
            }
        }
        return cands;
    }
    let mut ends = Vec::new();
    let (count, _) = field_ends(buf, 0, buf.len(), delimiter, &mut ends);
    ends.truncate(count);
    // A last line without a newline ends at the end of the buffer.
    let open_line = !buf.is_empty() && buf[buf.len() - 1] != b'\n';
    let last = open_line.then_some(buf.len() as u32);
    let (mut start, mut column) = (0usize, 0usize);
    for end in ends.into_iter().chain(last) {
        let end = end as usize;
        let cell = &buf[start..end];
        if end == buf.len() || buf[end] == b'\n' {
            let cell = cell.strip_suffix(b"\r").unwrap_or(cell);
            // A blank line (nothing, or a lone carriage return) is no record.
            let blank = column == 0 && cell.is_empty();
            if !blank && let Some(c) = cands.get_mut(column) {
                c.see(cell);
            }
            column = 0;
        } else {
            if let Some(c) = cands.get_mut(column) {
                c.see(cell);
            }
            column += 1;
        }
        start = end + 1;
    }
    cands
}

impl Candidates {
    /// Narrows the candidates by one cell.
    #[inline]
    fn see(&mut self, cell: &[u8]) {
        // "NA" is null for numbers but a level for text; either way it
        // says nothing about which of the two the column is.
        if is_null_token(cell) || is_null_category(cell) {
            return;
        }
        self.seen = true;
        if self.bool_ok && parse_bool_strict(cell).is_none() {
            self.bool_ok = false;
        }
        if self.number_ok && parse_number(cell).is_none() {
            self.number_ok = false;
        }
        if self.time_ok && parse_time(cell).is_none() {
            self.time_ok = false;
        }
    }
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

    /// The indexed line scan narrows the candidates exactly as splitting
    /// line by line does: blank lines, carriage returns, short and long
    /// rows, a last line without newline, fields across 64-byte blocks.
    #[test]
    fn indexed_scan_matches_line_splitting() {
        let lines = [
            "1,true,2024-01-01",
            "",
            "\r",
            "2.5,false,2024-01-02T00:00:00Z\r",
            "x",
            "3,,2024-01-03,extra,fields",
            ",",
            "4,False,not a time",
            "55555555555555555555555555555555555555555555555555555555555555555,true,",
        ];
        let mut state = 7u64;
        for _ in 0..400 {
            let mut text = String::new();
            for _ in 0..(state % 9) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(lines[(state >> 33) as usize % lines.len()]);
                text.push('\n');
            }
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            if state.is_multiple_of(2) {
                text.pop();
            }
            let buf = text.as_bytes();
            let mut want = fresh(3);
            for line in buf.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    for (c, cell) in want.iter_mut().zip(line.split(|&b| b == b',')) {
                        c.see(cell);
                    }
                }
            }
            let got = scan_lines(buf, b',', 3);
            let key = |c: &[Candidates]| {
                c.iter()
                    .map(|c| (c.bool_ok, c.number_ok, c.time_ok, c.seen))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&got), key(&want), "{text:?}");
        }
    }

    #[test]
    fn parallel_inference_sees_exactly_the_leading_rows() {
        // 200,000 numeric rows, then text: the text lies beyond 100,000
        // rows, so it must not count, whichever threads scan the pieces.
        let mut buf = String::new();
        for i in 0..200_000 {
            buf.push_str(&format!("{i},{}\n\n", i % 2 == 0));
        }
        buf.push_str("x,maybe\n");
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let t = pool.install(|| infer_csv_types(buf.as_bytes(), b',', 2, 100_000, true));
            assert_eq!(
                t,
                vec![ColumnType::Numeric, ColumnType::Bool],
                "{threads} threads"
            );
            let t = pool.install(|| infer_csv_types(buf.as_bytes(), b',', 2, 400_001, true));
            assert_eq!(
                t,
                vec![ColumnType::Categorical, ColumnType::Categorical],
                "{threads} threads"
            );
        }
    }
}
