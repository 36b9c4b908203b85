//! A parallel, streaming CSV reader.
//!
//! The file is read in windows of [`ReadOptions::window_bytes`]. Each window
//! is cut at record boundaries (quote-aware) into parts that are parsed on
//! all threads; every part becomes one batch. Rows, lines and columns in
//! error messages are exact.

use super::records::Records;
use super::tokens::{
    is_null_category, is_null_token, parse_bool, parse_number, parse_time, show_cell,
};
use super::{BadValuePolicy, BadValues, ReadOptions, infer::infer_csv_types, owned};
use crate::error::{DataError, Location, Result};
use ahash::AHashMap;
use fathom_core::{Bitmap, CategoricalData, Column, ColumnData, ColumnType, Frame};
use rayon::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads a CSV file as a sequence of typed batches.
pub struct CsvReader {
    path: PathBuf,
    file: File,
    file_len: u64,
    consumed: u64,
    delimiter: u8,
    names: Vec<String>,
    types: Vec<ColumnType>,
    policy: BadValuePolicy,
    window: usize,
    buf: Vec<u8>,
    eof: bool,
    rows_done: u64,
    lines_done: u64,
    bad: BadValues,
    pending: VecDeque<Frame>,
    failed: bool,
}

impl CsvReader {
    /// Opens `path`, reads its header and settles the column types (from
    /// the schema in `options`, else by inference over the first rows).
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let delimiter = options.delimiter.unwrap_or_else(|| {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
            {
                b'\t'
            } else {
                b','
            }
        });
        // Read a first window to find the header and infer types.
        let window = options.window_bytes.max(1 << 16);
        let mut buf = Vec::with_capacity(window + (1 << 16));
        let mut eof = fill(&mut file, &mut buf, window, path)?;
        if buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        if buf.iter().all(u8::is_ascii_whitespace) && eof {
            return Err(DataError::EmptyFile { path: owned(path) });
        }
        // Make sure the first window holds the whole header line.
        while !eof && memchr::memchr(b'\n', &buf).is_none() {
            eof = fill(&mut file, &mut buf, window, path)?;
        }
        let (header_fields, header_len) = parse_header(&buf, delimiter, path)?;
        let names: Vec<String> = if options.has_header {
            header_fields
        } else {
            (1..=header_fields.len())
                .map(|i| format!("column_{i}"))
                .collect()
        };
        let mut seen = HashSet::new();
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() {
                return Err(malformed(
                    path,
                    Some(1),
                    None,
                    Some(format!("#{}", i + 1)),
                    "the header has an empty column name; name every column".into(),
                ));
            }
            if !seen.insert(n.as_str()) {
                return Err(malformed(
                    path,
                    Some(1),
                    None,
                    Some(n.clone()),
                    "this column name appears twice in the header; column names must be unique"
                        .into(),
                ));
            }
        }
        let header_lines = if options.has_header { 1 } else { 0 };
        if options.has_header {
            buf.drain(..header_len);
        }
        let inferred = infer_csv_types(&buf, delimiter, names.len(), options.infer_rows, eof);
        let types = names
            .iter()
            .zip(inferred)
            .map(|(n, t)| {
                options
                    .schema
                    .as_ref()
                    .and_then(|s| s.column(n))
                    .map_or(t, |c| c.column_type)
            })
            .collect();
        Ok(CsvReader {
            path: owned(path),
            file,
            file_len,
            consumed: 0,
            delimiter,
            names,
            types,
            policy: options.bad_values,
            window,
            buf,
            eof,
            rows_done: 0,
            lines_done: header_lines,
            bad: BadValues::default(),
            pending: VecDeque::new(),
            failed: false,
        })
    }

    /// Column names and types.
    pub fn columns(&self) -> Vec<(String, ColumnType)> {
        self.names
            .iter()
            .cloned()
            .zip(self.types.iter().copied())
            .collect()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Values read as null because they did not parse.
    pub fn bad_values(&self) -> &BadValues {
        &self.bad
    }

    /// Fraction of the file consumed.
    pub fn progress(&self) -> f64 {
        if self.file_len == 0 {
            1.0
        } else {
            (self.consumed as f64 / self.file_len as f64).min(1.0)
        }
    }

    fn next_window(&mut self) -> Result<bool> {
        loop {
            if self.buf.is_empty() && self.eof {
                return Ok(false);
            }
            if !self.eof && self.buf.len() < self.window {
                self.eof = fill(&mut self.file, &mut self.buf, self.window, &self.path)?;
            }
            let parts = (rayon::current_num_threads() * 2).max(1);
            let cuts = cut_points(&self.buf, parts, self.eof);
            let Some(&end) = cuts.last() else {
                // No complete record yet: read more.
                if self.eof {
                    return Ok(false);
                }
                let more = self.buf.len();
                self.eof = fill(
                    &mut self.file,
                    &mut self.buf,
                    more.max(self.window),
                    &self.path,
                )?;
                continue;
            };
            let mut starts = vec![0];
            starts.extend_from_slice(&cuts[..cuts.len() - 1]);
            let ranges: Vec<(usize, usize)> = starts
                .into_iter()
                .zip(cuts.iter().copied())
                .filter(|(a, b)| b > a)
                .collect();
            let data = &self.buf[..end];
            let outs: Vec<std::result::Result<PartOut, PartError>> = ranges
                .par_iter()
                .map(|&(a, b)| {
                    parse_part(
                        &data[a..b],
                        self.delimiter,
                        &self.names,
                        &self.types,
                        self.policy,
                    )
                })
                .collect();
            for out in outs {
                match out {
                    Ok(part) => {
                        for (col, local_row, cell) in part.bad {
                            self.bad.record(
                                &self.names[col],
                                self.types[col],
                                self.rows_done + local_row,
                                cell,
                            );
                        }
                        self.rows_done += part.rows;
                        self.lines_done += part.newlines;
                        if part.frame.num_rows() > 0 {
                            self.pending.push_back(part.frame);
                        }
                    }
                    Err(e) => {
                        return Err(malformed(
                            &self.path,
                            Some(self.rows_done + e.local_row),
                            Some(self.lines_done + e.local_line),
                            e.column.map(|c| self.names[c].clone()),
                            e.message,
                        ));
                    }
                }
            }
            self.consumed += end as u64;
            self.buf.drain(..end);
            return Ok(true);
        }
    }
}

impl Iterator for CsvReader {
    type Item = Result<Frame>;
    fn next(&mut self) -> Option<Result<Frame>> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Some(Ok(f));
            }
            if self.failed {
                return None;
            }
            match self.next_window() {
                Ok(true) => continue,
                Ok(false) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Appends up to `want` bytes from the file; returns whether the end was reached.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize, path: &Path) -> Result<bool> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match file.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(path, e)),
        }
    }
    buf.truncate(start + got);
    Ok(got < want)
}

fn malformed(
    path: &Path,
    row: Option<u64>,
    line: Option<u64>,
    column: Option<String>,
    message: String,
) -> DataError {
    DataError::Malformed {
        path: owned(path),
        location: Location { row, line, column },
        message,
    }
}

fn parse_header(buf: &[u8], delimiter: u8, path: &Path) -> Result<(Vec<String>, usize)> {
    let mut records = Records::new(buf, delimiter, 64);
    let header = records
        .next_record()
        .ok_or_else(|| DataError::EmptyFile { path: owned(path) })?;
    let mut names = Vec::with_capacity(header.len());
    for (i, field) in header.fields().enumerate() {
        let name = std::str::from_utf8(field).map_err(|_| {
            malformed(
                path,
                None,
                Some(1),
                Some(format!("#{}", i + 1)),
                "the header is not valid UTF-8; save the file as UTF-8".into(),
            )
        })?;
        names.push(name.trim().to_string());
    }
    Ok((names, records.consumed()))
}

/// Record boundaries splitting `buf` into about `parts` pieces. The last
/// cut is the end of the last complete record (the whole buffer at end of
/// file). Empty when no record is complete yet.
fn cut_points(buf: &[u8], parts: usize, eof: bool) -> Vec<usize> {
    let len = buf.len();
    if len == 0 {
        return Vec::new();
    }
    let step = (len / parts).max(1 << 20);
    let mut cuts = Vec::new();
    if memchr::memchr(b'"', buf).is_none() {
        let last = if eof {
            len
        } else {
            memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1)
        };
        let mut target = step;
        while target < last {
            match memchr::memchr(b'\n', &buf[target..last]) {
                Some(i) if target + i + 1 < last => {
                    cuts.push(target + i + 1);
                    target = target + i + 1 + step;
                }
                _ => break,
            }
        }
        if last > 0 {
            cuts.push(last);
        }
        return cuts;
    }
    // Quote-aware scan: a newline inside quotes does not end a record.
    let mut in_quotes = false;
    let mut last_nl = 0;
    let mut target = step;
    for i in memchr::memchr2_iter(b'"', b'\n', buf) {
        if buf[i] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            last_nl = i + 1;
            if last_nl >= target && last_nl < len {
                cuts.push(last_nl);
                target = last_nl + step;
            }
        }
    }
    let last = if eof { len } else { last_nl };
    cuts.retain(|&c| c < last);
    if last > 0 {
        cuts.push(last);
    }
    cuts
}

struct PartOut {
    frame: Frame,
    rows: u64,
    newlines: u64,
    bad: Vec<(usize, u64, String)>,
}

struct PartError {
    local_row: u64,
    local_line: u64,
    column: Option<usize>,
    message: String,
}

enum Builder {
    Numeric(Vec<f64>, Bitmap),
    Bool(Vec<bool>, Bitmap),
    Timestamp(Vec<i64>, Bitmap),
    Categorical {
        codes: Vec<u32>,
        valid: Bitmap,
        index: AHashMap<Box<[u8]>, u32>,
        dict: Vec<String>,
    },
}

impl Builder {
    fn new(ty: ColumnType, cap: usize) -> Self {
        match ty {
            ColumnType::Numeric => {
                Builder::Numeric(Vec::with_capacity(cap), Bitmap::with_capacity(cap))
            }
            ColumnType::Bool => Builder::Bool(Vec::with_capacity(cap), Bitmap::with_capacity(cap)),
            ColumnType::Timestamp => {
                Builder::Timestamp(Vec::with_capacity(cap), Bitmap::with_capacity(cap))
            }
            ColumnType::Categorical => Builder::Categorical {
                codes: Vec::with_capacity(cap),
                valid: Bitmap::with_capacity(cap),
                index: AHashMap::new(),
                dict: Vec::new(),
            },
        }
    }

    /// Pushes one cell. `Ok(false)` means the cell did not parse and was pushed as null.
    #[inline]
    fn push(&mut self, cell: &[u8]) -> std::result::Result<bool, &'static str> {
        match self {
            Builder::Numeric(v, valid) => Ok(push_typed(v, valid, cell, f64::NAN, parse_number)),
            Builder::Bool(v, valid) => Ok(push_typed(v, valid, cell, false, parse_bool)),
            Builder::Timestamp(v, valid) => Ok(push_typed(v, valid, cell, 0, parse_time)),
            Builder::Categorical {
                codes,
                valid,
                index,
                dict,
            } => {
                if is_null_category(cell) {
                    codes.push(0);
                    valid.push(false);
                    return Ok(true);
                }
                let code = match index.get(cell) {
                    Some(&c) => c,
                    None => {
                        let s = std::str::from_utf8(cell)
                            .map_err(|_| "the value is not valid UTF-8; save the file as UTF-8")?;
                        let c = dict.len() as u32;
                        dict.push(s.to_string());
                        index.insert(cell.into(), c);
                        c
                    }
                };
                codes.push(code);
                valid.push(true);
                Ok(true)
            }
        }
    }

    fn finish(self, name: &str) -> Column {
        let (data, valid) = match self {
            Builder::Numeric(v, b) => (ColumnData::Numeric(v), b),
            Builder::Bool(v, b) => (ColumnData::Bool(v), b),
            Builder::Timestamp(v, b) => (ColumnData::Timestamp(v), b),
            Builder::Categorical {
                codes, valid, dict, ..
            } => (
                ColumnData::Categorical(CategoricalData {
                    codes,
                    dictionary: Arc::new(dict),
                }),
                valid,
            ),
        };
        Column::new(name, data, Some(valid))
    }
}

/// Pushes a cell of a numeric, bool or timestamp column: a null marker or
/// an unparseable cell becomes `placeholder` with a cleared validity bit.
/// Returns false when the cell did not parse.
#[inline]
fn push_typed<T: Copy>(
    values: &mut Vec<T>,
    valid: &mut Bitmap,
    cell: &[u8],
    placeholder: T,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> bool {
    let (value, ok, parsed) = if is_null_token(cell) {
        (placeholder, true, false)
    } else {
        match parse(cell) {
            Some(x) => (x, true, true),
            None => (placeholder, false, false),
        }
    };
    values.push(value);
    valid.push(parsed);
    ok
}

fn type_message(ty: ColumnType, cell: &[u8]) -> String {
    let what = match ty {
        ColumnType::Numeric => "a number",
        ColumnType::Bool => "a boolean (true/false)",
        ColumnType::Timestamp => "a timestamp (e.g. 2024-01-31T12:00:00Z)",
        ColumnType::Categorical => "text",
    };
    format!(
        "'{}' is not {what}, but the column is {ty}; fix the value, or declare the column's type in a schema contract (--schema) if {ty} is wrong",
        show_cell(cell)
    )
}

/// Handles one cell's outcome; `Err` stops the part.
#[inline]
#[allow(clippy::too_many_arguments)]
fn push_cell(
    b: &mut Builder,
    cell: &[u8],
    j: usize,
    rows: u64,
    line: u64,
    types: &[ColumnType],
    policy: BadValuePolicy,
    bad: &mut Vec<(usize, u64, String)>,
) -> std::result::Result<(), PartError> {
    match b.push(cell) {
        Ok(true) => Ok(()),
        Ok(false) => match policy {
            BadValuePolicy::Fail => Err(PartError {
                local_row: rows,
                local_line: line,
                column: Some(j),
                message: type_message(types[j], cell),
            }),
            BadValuePolicy::RecordAsNull => {
                bad.push((j, rows, show_cell(cell)));
                Ok(())
            }
        },
        Err(msg) => Err(PartError {
            local_row: rows,
            local_line: line,
            column: Some(j),
            message: msg.to_string(),
        }),
    }
}

fn ragged(rows: u64, line: u64, found: usize, ncols: usize) -> PartError {
    PartError {
        local_row: rows,
        local_line: line,
        column: None,
        message: format!(
            "the row has {found} fields but the header has {ncols}; every row needs exactly one value per column (check for a stray or missing delimiter or an unclosed quote)"
        ),
    }
}

/// Parses a part with no quote characters: records are lines and fields
/// are split at the delimiter, without the general CSV state machine.
fn parse_plain_part(
    part: &[u8],
    delimiter: u8,
    names: &[String],
    types: &[ColumnType],
    policy: BadValuePolicy,
) -> std::result::Result<PartOut, PartError> {
    let ncols = names.len();
    let est_rows = part.len() / (ncols * 6).max(1) + 16;
    let mut builders: Vec<Builder> = types.iter().map(|&t| Builder::new(t, est_rows)).collect();
    let mut rows = 0u64;
    let mut line = 0u64;
    let mut bad = Vec::new();
    let mut pos = 0;
    while pos < part.len() {
        let end = memchr::memchr(b'\n', &part[pos..]).map_or(part.len(), |i| pos + i);
        let mut rec = &part[pos..end];
        pos = end + 1;
        line += 1;
        if let [head @ .., b'\r'] = rec {
            rec = head;
        }
        if rec.is_empty() {
            continue;
        }
        rows += 1;
        let mut start = 0;
        let last = builders.len() - 1;
        for (j, b) in builders.iter_mut().enumerate() {
            // Fields are short: a plain scan beats a vectorised search here.
            let stop = match rec[start..].iter().position(|&c| c == delimiter) {
                Some(i) if j < last => start + i,
                None if j == last => rec.len(),
                Some(_) => {
                    return Err(ragged(
                        rows,
                        line,
                        rec.split(|&c| c == delimiter).count(),
                        ncols,
                    ));
                }
                None => return Err(ragged(rows, line, j + 1, ncols)),
            };
            push_cell(b, &rec[start..stop], j, rows, line, types, policy, &mut bad)?;
            start = stop + 1;
        }
    }
    finish_part(builders, names, part, rows, bad)
}

/// Turns a parsed part's builders into its batch.
fn finish_part(
    builders: Vec<Builder>,
    names: &[String],
    part: &[u8],
    rows: u64,
    bad: Vec<(usize, u64, String)>,
) -> std::result::Result<PartOut, PartError> {
    let columns = builders
        .into_iter()
        .zip(names)
        .map(|(b, n)| b.finish(n))
        .collect();
    let frame = Frame::new(columns).map_err(|err| PartError {
        local_row: 0,
        local_line: 0,
        column: None,
        message: err.to_string(),
    })?;
    let newlines = memchr::memchr_iter(b'\n', part).count() as u64;
    Ok(PartOut {
        frame,
        rows,
        newlines,
        bad,
    })
}

fn parse_part(
    part: &[u8],
    delimiter: u8,
    names: &[String],
    types: &[ColumnType],
    policy: BadValuePolicy,
) -> std::result::Result<PartOut, PartError> {
    if memchr::memchr(b'"', part).is_none() {
        return parse_plain_part(part, delimiter, names, types, policy);
    }
    let ncols = names.len();
    let est_rows = part.len() / (ncols * 6).max(1) + 16;
    let mut builders: Vec<Builder> = types.iter().map(|&t| Builder::new(t, est_rows)).collect();
    let mut records = Records::new(part, delimiter, ncols);
    let mut rows = 0u64;
    let mut bad = Vec::new();
    let line_of = |offset: usize| memchr::memchr_iter(b'\n', &part[..offset]).count() as u64 + 1;
    while let Some(record) = records.next_record() {
        rows += 1;
        if record.len() != ncols {
            return Err(ragged(rows, line_of(record.start), record.len(), ncols));
        }
        for (j, (b, cell)) in builders.iter_mut().zip(record.fields()).enumerate() {
            if let Err(mut e) = push_cell(b, cell, j, rows, 0, types, policy, &mut bad) {
                e.local_line = line_of(record.start);
                return Err(e);
            }
        }
    }
    finish_part(builders, names, part, rows, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_respect_quotes_and_partial_records() {
        let buf = b"a,b\n\"x\ny\",2\nc,3";
        let cuts = cut_points(buf, 4, false);
        assert_eq!(cuts, vec![12]);
        let cuts = cut_points(buf, 4, true);
        assert_eq!(cuts, vec![buf.len()]);
        assert!(cut_points(b"abc", 2, false).is_empty());
    }
}
