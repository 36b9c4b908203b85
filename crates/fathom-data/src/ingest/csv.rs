//! A parallel, streaming CSV reader.
//!
//! The file is read in windows of [`ReadOptions::window_bytes`]. Each window
//! is cut at record boundaries (quote-aware) into parts that are parsed on
//! all threads; every part becomes one batch. Rows, lines and columns in
//! error messages are exact.

use super::assemble::{self, PartColumn, Slot, Store};
use super::records::Records;
use super::split::{LineStats, field_ends, line_stats};
use super::tokens::{
    DateCache, cell_word, is_null_category, is_null_token, low_bytes, parse_bool, parse_bool_word,
    parse_number, parse_short_decimal, parse_time, parse_time_cached, show_cell, word_at,
};
use super::{BadValuePolicy, BadValues, ReadOptions, infer::infer_csv_types, owned};
use crate::error::{DataError, Location, Result};
use ahash::AHashMap;
use fathom_core::{Bitmap, ColumnType, Frame};
use rayon::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// At most this much of a file is held to infer its column types from
/// its leading rows (64 MiB: 20,000 rows of up to 3,300 bytes).
const INFER_BYTES: usize = 64 << 20;

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
    /// Whether the current window holds a quote character anywhere.
    quoted: bool,
    /// Whether the buffer holds a quote, when the thread that read it
    /// ahead has already looked (while the previous window was parsed);
    /// `None` when it must be looked for.
    quoted_ahead: Option<bool>,
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
        // Inference looks at the first `infer_rows` rows: read on until the
        // buffer holds them (up to a bound on memory), unless a schema
        // gives every column's type.
        let schema_covers = options
            .schema
            .as_ref()
            .is_some_and(|s| names.iter().all(|n| s.column(n).is_some()));
        if !schema_covers {
            let mut lines = memchr::memchr_iter(b'\n', &buf).count();
            while !eof && lines < options.infer_rows && buf.len() < INFER_BYTES {
                let before = buf.len();
                eof = fill(&mut file, &mut buf, window, path)?;
                lines += memchr::memchr_iter(b'\n', &buf[before..]).count();
            }
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
            quoted: true,
            quoted_ahead: None,
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

    /// Reads up to the next window of whole records and cuts it into parts;
    /// `None` at the end of the file. The caller parses
    /// `self.buf[..end]` and then calls [`CsvReader::consume`].
    ///
    /// `split` says how finely: a whole-table read takes many small parts,
    /// so that the threads finish a window together; a batch read takes a
    /// few larger ones, as each part becomes a batch.
    fn next_ranges(&mut self, split: Split) -> Result<Option<Window>> {
        loop {
            if self.buf.is_empty() && self.eof {
                return Ok(None);
            }
            if !self.eof && self.buf.len() < self.window {
                self.eof = fill(&mut self.file, &mut self.buf, self.window, &self.path)?;
                self.quoted_ahead = None;
            }
            let parts = (rayon::current_num_threads() * split.parts_per_thread).max(1);
            self.quoted = match self.quoted_ahead.take() {
                Some(quoted) => quoted,
                None => memchr::memchr(b'"', &self.buf).is_some(),
            };
            let cuts = cut_points(&self.buf, parts, split.min_bytes, self.eof, self.quoted);
            let Some(&end) = cuts.last() else {
                // No complete record yet: read more.
                if self.eof {
                    return Ok(None);
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
            let ranges = starts
                .into_iter()
                .zip(cuts.iter().copied())
                .filter(|(a, b)| b > a)
                .collect();
            return Ok(Some((ranges, end)));
        }
    }

    fn consume(&mut self, end: usize) {
        self.consumed += end as u64;
        self.buf.drain(..end);
    }

    /// Counts the records of every part of a window, in parallel.
    fn count_parts(&self, ranges: &[(usize, usize)]) -> Vec<PartCount> {
        let ncols = self.names.len();
        ranges
            .par_iter()
            .map(|&(a, b)| count_part(&self.buf[a..b], self.delimiter, ncols, self.quoted))
            .collect()
    }

    /// Parses the parts of a window into their slots, in parallel, and
    /// books their rows, lines and bad values; returns what each part found.
    fn parse_window(
        &mut self,
        ranges: &[(usize, usize)],
        counts: &[PartCount],
        slots: Vec<Vec<Slot<'_>>>,
    ) -> Result<Vec<Vec<PartColumn>>> {
        let outs: Vec<std::result::Result<PartOut, PartError>> = ranges
            .par_iter()
            .zip(slots)
            .map(|(&(a, b), slots)| {
                parse_part(
                    &self.buf[a..b],
                    self.delimiter,
                    &self.types,
                    self.policy,
                    slots,
                    self.quoted,
                )
            })
            .collect();
        let mut found = Vec::with_capacity(outs.len());
        for (out, count) in outs.into_iter().zip(counts) {
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
                    self.rows_done += count.rows;
                    self.lines_done += count.newlines;
                    found.push(part.found);
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
        Ok(found)
    }

    /// Parses the next window into batches, one per part.
    fn next_window(&mut self) -> Result<bool> {
        let Some((ranges, end)) = self.next_ranges(Split::BATCHES)? else {
            return Ok(false);
        };
        let counts = self.count_parts(&ranges);
        let mut stores: Vec<Vec<Store>> = counts
            .iter()
            .map(|c| {
                self.types
                    .iter()
                    .map(|&t| Store::new(t, c.rows as usize))
                    .collect()
            })
            .collect();
        let slots: Vec<Vec<Slot<'_>>> = stores
            .iter_mut()
            .zip(&counts)
            .map(|(s, c)| {
                assemble::split_parts(s, &[c.rows as usize])
                    .pop()
                    .unwrap_or_default()
            })
            .collect();
        let found = self.parse_window(&ranges, &counts, slots)?;
        for ((stores, found), count) in stores.into_iter().zip(found).zip(&counts) {
            if count.rows > 0 {
                let rows = count.rows as usize;
                self.pending.push_back(assemble::finish(
                    &self.names,
                    stores,
                    vec![found],
                    &[rows],
                )?);
            }
        }
        self.consume(end);
        Ok(true)
    }

    /// Reads the rest of the file into one frame. Each column grows in
    /// place window by window: the parts of a window are counted, the
    /// columns extended by that many rows, and the parts parsed in
    /// parallel straight into their slices, so no batch is copied again.
    pub fn read_all(mut self) -> Result<Frame> {
        let mut stores: Vec<Store> = Vec::new();
        let mut found: Vec<Vec<PartColumn>> = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        let mut filled = 0;
        let mut spare: Vec<u8> = Vec::new();
        while let Some((ranges, end)) = self.next_ranges(Split::WHOLE)? {
            let counts = self.count_parts(&ranges);
            let part_sizes: Vec<usize> = counts.iter().map(|c| c.rows as usize).collect();
            let window_rows: usize = part_sizes.iter().sum();
            if stores.is_empty() {
                // Room for the whole file at this window's density: the
                // zeroed allocation is paged in by the threads that fill
                // it, and the columns rarely need to move.
                let left = self.file_len.saturating_sub(self.consumed) as f64;
                let estimate = (left / end.max(1) as f64 * window_rows as f64 * 1.05) as usize;
                stores = self
                    .types
                    .par_iter()
                    .map(|&t| Store::new(t, estimate.max(window_rows)))
                    .collect();
            }
            for s in &mut stores {
                s.ensure(filled + window_rows);
            }
            let slots = assemble::window_parts(&mut stores, filled, &part_sizes);
            // The next window is read while this one is parsed, through a
            // second handle on the same open file (which shares its
            // position, so reads stay in order).
            // The next window is read behind this one's unfinished last
            // record, so that the buffer needs no copy afterwards.
            let mut ahead = std::mem::take(&mut spare);
            ahead.clear();
            ahead.extend_from_slice(&self.buf[end..]);
            let read_ahead = if self.eof {
                None
            } else {
                Some(
                    self.file
                        .try_clone()
                        .map_err(|e| DataError::io(&self.path, e))?,
                )
            };
            let (window, path) = (self.window, self.path.clone());
            let (parsed, read) = rayon::join(
                || self.parse_window(&ranges, &counts, slots),
                move || {
                    let eof = read_ahead.map(|mut file| fill(&mut file, &mut ahead, window, &path));
                    // Looked for here, on the reading thread, rather than
                    // by the next window's serial start.
                    let quoted = memchr::memchr(b'"', &ahead).is_some();
                    (eof, ahead, quoted)
                },
            );
            found.extend(parsed?);
            filled += window_rows;
            sizes.extend(part_sizes);
            let (eof, ahead, quoted) = read;
            if let Some(eof) = eof {
                self.eof = eof?;
                self.consumed += end as u64;
                spare = std::mem::replace(&mut self.buf, ahead);
                self.quoted_ahead = Some(quoted);
            } else {
                self.consume(end);
                spare = ahead;
            }
        }
        if sizes.is_empty() {
            return Ok(super::empty_frame(&self.columns()));
        }
        for s in &mut stores {
            s.truncate(filled);
        }
        Ok(assemble::finish(&self.names, stores, found, &sizes)?)
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
    // Read into spare capacity: the buffer is not zeroed first.
    buf.reserve(want);
    let got = file
        .take(want as u64)
        .read_to_end(buf)
        .map_err(|e| DataError::io(path, e))?;
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
    // The state machine stops after the `\r` of a CRLF header; its `\n`
    // belongs to the header too, not to the first part's line count.
    let mut len = records.consumed();
    if len > 0 && buf[len - 1] == b'\r' && buf.get(len) == Some(&b'\n') {
        len += 1;
    }
    Ok((names, len))
}

/// How finely a window is cut into parts.
#[derive(Clone, Copy)]
struct Split {
    parts_per_thread: usize,
    /// No part is cut shorter than this (but the last).
    min_bytes: usize,
}

impl Split {
    /// For a whole-table read: parts of a quarter MiB or more, eight per
    /// thread, so that no thread waits long for the others at the end
    /// of a window (with two parts per thread, a window's last part
    /// often ran alone).
    const WHOLE: Split = Split {
        parts_per_thread: 8,
        min_bytes: 1 << 18,
    };
    /// For a batch read: each part is a batch, so fewer, larger ones.
    const BATCHES: Split = Split {
        parts_per_thread: 2,
        min_bytes: 1 << 20,
    };
}

/// Record boundaries splitting `buf` into about `parts` pieces of at least
/// `min_bytes`. The last cut is the end of the last complete record (the
/// whole buffer at end of file). Empty when no record is complete yet.
fn cut_points(buf: &[u8], parts: usize, min_bytes: usize, eof: bool, quoted: bool) -> Vec<usize> {
    let len = buf.len();
    if len == 0 {
        return Vec::new();
    }
    let step = (len / parts).max(min_bytes);
    let mut cuts = Vec::new();
    if !quoted {
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

/// A window of whole records: its parts as byte ranges, and where it ends.
type Window = (Vec<(usize, usize)>, usize);

/// What parsing one part produced besides the values in its slots.
struct PartOut {
    found: Vec<PartColumn>,
    bad: Vec<(usize, u64, String)>,
}

struct PartError {
    local_row: u64,
    local_line: u64,
    column: Option<usize>,
    message: String,
}

/// Records and newlines of a part, counted before it is parsed so that
/// its values can be written straight into their final place.
#[derive(Clone, Copy)]
struct PartCount {
    rows: u64,
    newlines: u64,
}

/// Counts the records of a part: non-blank lines when it has no quotes,
/// else the records of the CSV state machine.
fn count_part(part: &[u8], delimiter: u8, ncols: usize, quoted: bool) -> PartCount {
    if quoted && memchr::memchr(b'"', part).is_some() {
        let mut records = Records::new(part, delimiter, ncols);
        let mut rows = 0;
        while records.next_record().is_some() {
            rows += 1;
        }
        let newlines = memchr::memchr_iter(b'\n', part).count() as u64;
        return PartCount { rows, newlines };
    }
    // One vectorised pass counts the newlines and looks for a blank line.
    let LineStats {
        newlines,
        blank_inside,
    } = line_stats(part);
    let blank_first = part.starts_with(b"\n") || part.starts_with(b"\r\n");
    if !blank_inside && !blank_first {
        // Every line holds a record; a last line without newline does too
        // unless it is empty or a lone carriage return.
        let tail = memchr::memrchr(b'\n', part).map_or(part, |i| &part[i + 1..]);
        let open_line = u64::from(!(tail.is_empty() || tail == b"\r"));
        return PartCount {
            rows: newlines + open_line,
            newlines,
        };
    }
    let (mut rows, mut newlines, mut start) = (0u64, 0u64, 0usize);
    for nl in memchr::memchr_iter(b'\n', part) {
        let line = &part[start..nl];
        rows += u64::from(!(line.is_empty() || line == b"\r"));
        newlines += 1;
        start = nl + 1;
    }
    let last = &part[start..];
    rows += u64::from(!(last.is_empty() || last == b"\r"));
    PartCount { rows, newlines }
}

/// Dictionaries up to this size are searched by comparing bytes, which
/// beats hashing for the short, few levels typical of categorical columns.
const SCAN_LEVELS: usize = 16;

/// Where one column's cells of one part go.
enum Sink<'s> {
    Numeric(&'s mut [f64]),
    Bool(&'s mut [bool]),
    Timestamp(&'s mut [i64]),
    Categorical {
        codes: &'s mut [u32],
        levels: Vec<Box<[u8]>>,
        index: AHashMap<Box<[u8]>, u32>,
        dict: Vec<String>,
        recent: Box<[Recent; RECENT_SLOTS]>,
    },
}

/// Slots of the cache of recently seen levels of a categorical column:
/// enough that a few dozen levels (countries, say) seldom share a slot.
const RECENT_SLOTS: usize = 256;

/// A level seen recently, by its first eight bytes and its length; a
/// level of nine to sixteen bytes by its last eight bytes too, which
/// together with the first eight cover it.
#[derive(Clone, Copy)]
struct Recent {
    head: u64,
    tail: u64,
    len: u32,
    code: u32,
}

impl Recent {
    const EMPTY: Recent = Recent {
        head: 0,
        tail: 0,
        len: u32::MAX,
        code: 0,
    };

    /// The cache slot of a cell with these first bytes and length.
    #[inline(always)]
    fn slot(head: u64, len: usize) -> usize {
        ((head ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
    }
}

struct Builder<'s> {
    sink: Sink<'s>,
    valid: Vec<u64>,
    rows: usize,
}

impl<'s> Builder<'s> {
    fn new(slot: Slot<'s>) -> Self {
        let (sink, rows) = match slot {
            Slot::Numeric(v) => {
                let n = v.len();
                (Sink::Numeric(v), n)
            }
            Slot::Bool(v) => {
                let n = v.len();
                (Sink::Bool(v), n)
            }
            Slot::Timestamp(v) => {
                let n = v.len();
                (Sink::Timestamp(v), n)
            }
            Slot::Categorical(v) => {
                let n = v.len();
                (
                    Sink::Categorical {
                        codes: v,
                        levels: Vec::new(),
                        index: AHashMap::new(),
                        dict: Vec::new(),
                        recent: Box::new([Recent::EMPTY; RECENT_SLOTS]),
                    },
                    n,
                )
            }
        };
        Builder {
            sink,
            valid: vec![0; rows.div_ceil(64)],
            rows,
        }
    }

    /// Stores the cell of row `row` (0-based within the part). `Ok(false)`
    /// means the cell did not parse and was stored as null.
    #[inline]
    fn put(&mut self, row: usize, cell: &[u8]) -> std::result::Result<bool, &'static str> {
        let (present, ok) = match &mut self.sink {
            Sink::Numeric(v) => put_typed(&mut v[row], cell, f64::NAN, parse_number),
            Sink::Bool(v) => put_typed(&mut v[row], cell, false, parse_bool),
            Sink::Timestamp(v) => put_typed(&mut v[row], cell, 0, parse_time),
            Sink::Categorical {
                codes,
                levels,
                index,
                dict,
                ..
            } => {
                if is_null_category(cell) {
                    codes[row] = 0;
                    (false, true)
                } else {
                    let known = if levels.len() <= SCAN_LEVELS {
                        // Length and last byte first: most levels differ
                        // there, and the full comparison is a call.
                        let last = cell.last().copied();
                        levels
                            .iter()
                            .position(|l| {
                                l.len() == cell.len() && l.last().copied() == last && **l == *cell
                            })
                            .map(|k| k as u32)
                    } else {
                        index.get(cell).copied()
                    };
                    codes[row] = match known {
                        Some(k) => k,
                        None => {
                            let s = std::str::from_utf8(cell).map_err(
                                |_| "the value is not valid UTF-8; save the file as UTF-8",
                            )?;
                            let k = dict.len() as u32;
                            dict.push(s.to_string());
                            levels.push(cell.into());
                            index.insert(cell.into(), k);
                            k
                        }
                    };
                    (true, true)
                }
            }
        };
        set_bit(&mut self.valid, row, present);
        Ok(ok)
    }

    /// Stores the cells of one column for `rows` rows from `row0`, the
    /// cell of row `row0 + r` being `part[span(r)]`. `false` as soon as a
    /// cell does not parse or is not UTF-8: the caller then redoes the
    /// rows one by one, which reports or records it exactly.
    #[inline]
    fn fill_column(
        &mut self,
        row0: usize,
        rows: usize,
        part: &[u8],
        span: impl Fn(usize) -> (usize, usize),
    ) -> bool {
        let valid = &mut self.valid;
        let cell = |r: usize| {
            let (s, e) = span(r);
            &part[s..e]
        };
        match &mut self.sink {
            // Short plain decimals, the usual cells, a word at a time.
            Sink::Numeric(v) => fill_words(
                &mut v[row0..row0 + rows],
                valid,
                row0,
                part,
                span,
                f64::NAN,
                parse_short_decimal,
                parse_number,
            ),
            // `true` and `false`, the usual cells, as one word.
            Sink::Bool(v) => fill_words(
                &mut v[row0..row0 + rows],
                valid,
                row0,
                part,
                span,
                false,
                parse_bool_word,
                parse_bool,
            ),
            Sink::Timestamp(v) => {
                let mut date = DateCache::default();
                fill_typed(&mut v[row0..row0 + rows], valid, row0, cell, 0, |c| {
                    parse_time_cached(c, &mut date)
                })
            }
            Sink::Categorical { .. } => self.fill_categorical(row0, rows, part, &span),
        }
    }

    /// [`Builder::fill_column`] for a categorical column: a cell is first
    /// looked up by its first eight bytes and length in a small cache of
    /// recent levels (a cell of at most eight bytes is then known exactly;
    /// a longer one is compared with the level once), and only on a miss
    /// searched for among all levels.
    fn fill_categorical(
        &mut self,
        row0: usize,
        rows: usize,
        part: &[u8],
        span: impl Fn(usize) -> (usize, usize),
    ) -> bool {
        for r in 0..rows {
            let (s, e) = span(r);
            let n = e - s;
            let head = word_at(part, s).map(|w| low_bytes(w, n));
            if let (
                Some(head),
                Sink::Categorical {
                    codes,
                    levels,
                    recent,
                    ..
                },
            ) = (head, &mut self.sink)
            {
                let hit = recent[Recent::slot(head, n)];
                if hit.head == head
                    && hit.len as usize == n
                    && (n <= 8
                        || (n <= 16 && word_at(part, e - 8) == Some(hit.tail))
                        || *levels[hit.code as usize] == part[s..e])
                {
                    codes[row0 + r] = hit.code;
                    set_bit(&mut self.valid, row0 + r, true);
                    continue;
                }
            }
            match self.put(row0 + r, &part[s..e]) {
                Ok(true) => {}
                _ => return false,
            }
            if let (Some(head), Sink::Categorical { codes, recent, .. }) = (head, &mut self.sink)
                && get_bit(&self.valid, row0 + r)
            {
                recent[Recent::slot(head, n)] = Recent {
                    head,
                    tail: if n > 8 {
                        word_at(part, e - 8).unwrap_or(!0)
                    } else {
                        0
                    },
                    len: n as u32,
                    code: codes[row0 + r],
                };
            }
        }
        true
    }

    fn finish(self) -> PartColumn {
        let dictionary = match self.sink {
            Sink::Categorical { dict, .. } => dict,
            _ => Vec::new(),
        };
        PartColumn {
            validity: Bitmap::from_words(&self.valid, self.rows),
            dictionary,
        }
    }
}

#[inline]
fn get_bit(words: &[u64], i: usize) -> bool {
    words[i >> 6] >> (i & 63) & 1 == 1
}

#[inline]
fn set_bit(words: &mut [u64], i: usize, value: bool) {
    let w = &mut words[i >> 6];
    *w = (*w & !(1u64 << (i & 63))) | (u64::from(value) << (i & 63));
}

/// [`put_typed`] over a run of rows; `false` at the first cell that does
/// not parse.
#[inline]
fn fill_typed<'c, T: Copy>(
    out: &mut [T],
    valid: &mut [u64],
    row0: usize,
    cell: impl Fn(usize) -> &'c [u8],
    placeholder: T,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> bool {
    let mut bits = ValidRun::new(valid, row0);
    for (r, o) in out.iter_mut().enumerate() {
        let (present, ok) = put_typed(o, cell(r), placeholder, &mut parse);
        if !ok {
            return false;
        }
        bits.push(present);
    }
    true
}

/// [`fill_typed`] for a column whose usual cells fit one word: a cell of
/// at most eight bytes goes to `word` first (as the word and its length),
/// and to `parse`, the general parser, when that declines it.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fill_words<T: Copy>(
    out: &mut [T],
    valid: &mut [u64],
    row0: usize,
    part: &[u8],
    span: impl Fn(usize) -> (usize, usize),
    placeholder: T,
    word: impl Fn(u64, usize) -> Option<T>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> bool {
    let mut bits = ValidRun::new(valid, row0);
    for (r, o) in out.iter_mut().enumerate() {
        let (s, e) = span(r);
        if let Some(x) = cell_word(part, s, e).and_then(|(w, n)| word(w, n)) {
            *o = x;
            bits.push(true);
            continue;
        }
        let (present, ok) = put_typed(o, &part[s..e], placeholder, &parse);
        if !ok {
            return false;
        }
        bits.push(present);
    }
    true
}

/// Validity bits of consecutive rows, gathered in a register and stored a
/// word at a time (a bit set in memory per row would chain every row
/// through a load and a store of the same word). Rows not pushed keep
/// their bits; the pending word is stored when dropped, whichever way the
/// loop ends.
struct ValidRun<'v> {
    words: &'v mut [u64],
    /// The next row to push.
    row: usize,
    /// The first row of the pending word.
    first: usize,
    bits: u64,
}

impl<'v> ValidRun<'v> {
    fn new(words: &'v mut [u64], row0: usize) -> Self {
        ValidRun {
            words,
            row: row0,
            first: row0,
            bits: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, present: bool) {
        self.bits |= u64::from(present) << (self.row & 63);
        self.row += 1;
        if self.row & 63 == 0 {
            self.flush();
        }
    }

    #[inline]
    fn flush(&mut self) {
        if self.row == self.first {
            return;
        }
        let w = self.first >> 6;
        let (lo, hi) = (self.first & 63, (self.row - 1) & 63);
        // Bits lo..=hi of the word are this run's.
        let mask = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
        self.words[w] = (self.words[w] & !mask) | self.bits;
        self.first = self.row;
        self.bits = 0;
    }
}

impl Drop for ValidRun<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Stores a cell of a numeric, bool or timestamp column: a null marker or
/// an unparseable cell becomes `placeholder`. Returns (present, parsed or
/// null).
#[inline]
fn put_typed<T: Copy>(
    out: &mut T,
    cell: &[u8],
    placeholder: T,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> (bool, bool) {
    if is_null_token(cell) {
        *out = placeholder;
        return (false, true);
    }
    match parse(cell) {
        Some(x) => {
            *out = x;
            (true, true)
        }
        None => {
            *out = placeholder;
            (false, false)
        }
    }
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

/// Handles one cell's outcome; `Err` stops the part. `rows` is 1-based.
#[inline]
#[allow(clippy::too_many_arguments)]
fn push_cell(
    b: &mut Builder<'_>,
    cell: &[u8],
    j: usize,
    rows: u64,
    line: u64,
    types: &[ColumnType],
    policy: BadValuePolicy,
    bad: &mut Vec<(usize, u64, String)>,
) -> std::result::Result<(), PartError> {
    match b.put(rows as usize - 1, cell) {
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

/// A part that holds more records than were counted: cannot happen, as
/// counting and parsing split records alike, but never writes out of
/// bounds if it did.
fn overflow(rows: u64) -> PartError {
    PartError {
        local_row: rows,
        local_line: 0,
        column: None,
        message: "internal error: the part holds more records than were counted".into(),
    }
}

/// Bytes of a part split and parsed column by column at a time.
const BLOCK_BYTES: usize = 1 << 14;

/// Parses a part with no quote characters: records are lines and fields
/// are split at the delimiter, without the general CSV state machine.
/// Blocks of lines are first split into fields and then parsed column by
/// column (one type, one loop); a block with anything unusual (a blank or
/// ragged line, a cell that does not parse) is redone line by line, which
/// reports it exactly.
fn parse_plain_part(
    part: &[u8],
    delimiter: u8,
    types: &[ColumnType],
    policy: BadValuePolicy,
    mut builders: Vec<Builder<'_>>,
    capacity: u64,
) -> std::result::Result<PartOut, PartError> {
    let mut at = Cursor {
        pos: 0,
        rows: 0,
        line: 0,
    };
    let mut bad = Vec::new();
    // The field-end scratch of this thread's previous part: it is sized
    // for a block's worst case (every byte an end), so a fresh one per
    // part would be zeroed again each time.
    let mut ends = ENDS.take();
    let columnar = types.len() > 1 && part.len() < u32::MAX as usize;
    while at.pos < part.len() {
        let target = (at.pos + BLOCK_BYTES).min(part.len());
        let to = memchr::memchr(b'\n', &part[target..]).map_or(part.len(), |i| target + i + 1);
        let done = columnar
            && columnar_block(
                part,
                at.pos,
                to,
                delimiter,
                &mut builders,
                at.rows,
                capacity,
                &mut ends,
            )
            .map(|rows| {
                at.rows += rows;
                at.line += rows;
                at.pos = to;
            })
            .is_some();
        if !done {
            lines(
                part,
                to,
                delimiter,
                types,
                policy,
                &mut builders,
                capacity,
                &mut at,
                &mut bad,
            )?;
        }
    }
    ENDS.set(ends);
    Ok(PartOut {
        found: builders.into_iter().map(Builder::finish).collect(),
        bad,
    })
}

thread_local! {
    /// [`parse_plain_part`]'s field-end scratch, kept between parts.
    static ENDS: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Where line-by-line parsing of a part stands.
struct Cursor {
    pos: usize,
    rows: u64,
    line: u64,
}

/// Splits `part[from..to]` (whole lines) into fields and parses them column
/// by column into rows `row0..`. `None`, having stored nothing that line by
/// line parsing would not store again, unless every line has exactly one
/// field per column and every cell parses; else the number of rows.
#[allow(clippy::too_many_arguments)]
fn columnar_block(
    part: &[u8],
    from: usize,
    to: usize,
    delimiter: u8,
    builders: &mut [Builder<'_>],
    row0: u64,
    capacity: u64,
    ends: &mut Vec<u32>,
) -> Option<u64> {
    let ncols = builders.len();
    let (mut count, mut newlines) = field_ends(part, from, to, delimiter, ends);
    if to > from && part[to - 1] != b'\n' {
        // The last line of the file, without a newline (`ends` has room
        // for one end per byte and then some).
        ends[count] = to as u32;
        count += 1;
        newlines += 1;
    }
    let ends = &ends[..count];
    if ends.len() != newlines * ncols || row0 + newlines as u64 > capacity {
        return None;
    }
    let rows = newlines;
    // Every line's last field must end the line: then the newlines are
    // exactly there, and every other end is a delimiter.
    for r in 0..rows {
        let e = ends[r * ncols + ncols - 1] as usize;
        if e < part.len() && part[e] != b'\n' {
            return None;
        }
    }
    let row0 = row0 as usize;
    for (j, b) in builders.iter_mut().enumerate() {
        let ok = if j == 0 {
            b.fill_column(row0, rows, part, |r| {
                let s = if r == 0 {
                    from
                } else {
                    ends[r * ncols - 1] as usize + 1
                };
                (s, ends[r * ncols] as usize)
            })
        } else if j + 1 < ncols {
            b.fill_column(row0, rows, part, |r| {
                let k = r * ncols + j;
                (ends[k - 1] as usize + 1, ends[k] as usize)
            })
        } else {
            b.fill_column(row0, rows, part, |r| {
                let k = r * ncols + j;
                let (s, e) = (ends[k - 1] as usize + 1, ends[k] as usize);
                if e > s && part[e - 1] == b'\r' {
                    (s, e - 1)
                } else {
                    (s, e)
                }
            })
        };
        if !ok {
            return None;
        }
    }
    Some(rows as u64)
}

/// Parses the lines of `part[at.pos..to]` one by one.
#[allow(clippy::too_many_arguments)]
fn lines(
    part: &[u8],
    to: usize,
    delimiter: u8,
    types: &[ColumnType],
    policy: BadValuePolicy,
    builders: &mut [Builder<'_>],
    capacity: u64,
    at: &mut Cursor,
    bad: &mut Vec<(usize, u64, String)>,
) -> std::result::Result<(), PartError> {
    let ncols = types.len();
    let last = ncols - 1;
    while at.pos < to {
        let end = memchr::memchr(b'\n', &part[at.pos..to]).map_or(to, |i| at.pos + i);
        let mut rec = &part[at.pos..end];
        at.pos = end + 1;
        at.line += 1;
        if let [head @ .., b'\r'] = rec {
            rec = head;
        }
        if rec.is_empty() {
            continue;
        }
        at.rows += 1;
        let (rows, line) = (at.rows, at.line);
        if rows > capacity {
            return Err(overflow(rows));
        }
        let mut start = 0;
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
            push_cell(b, &rec[start..stop], j, rows, line, types, policy, bad)?;
            start = stop + 1;
        }
    }
    at.pos = at.pos.max(to);
    Ok(())
}

/// Parses one part into its slots (one per column, each exactly as long
/// as the part's counted records); `quoted` is false when the window
/// holding the part has no quote character.
fn parse_part(
    part: &[u8],
    delimiter: u8,
    types: &[ColumnType],
    policy: BadValuePolicy,
    slots: Vec<Slot<'_>>,
    quoted: bool,
) -> std::result::Result<PartOut, PartError> {
    let builders: Vec<Builder<'_>> = slots.into_iter().map(Builder::new).collect();
    let capacity = builders.first().map_or(0, |b| b.rows as u64);
    if !quoted || memchr::memchr(b'"', part).is_none() {
        return parse_plain_part(part, delimiter, types, policy, builders, capacity);
    }
    let mut builders = builders;
    let ncols = types.len();
    let mut records = Records::new(part, delimiter, ncols);
    let mut rows = 0u64;
    let mut bad = Vec::new();
    let line_of = |offset: usize| memchr::memchr_iter(b'\n', &part[..offset]).count() as u64 + 1;
    while let Some(record) = records.next_record() {
        rows += 1;
        if record.len() != ncols {
            return Err(ragged(rows, line_of(record.start), record.len(), ncols));
        }
        if rows > capacity {
            return Err(overflow(rows));
        }
        for (j, (b, cell)) in builders.iter_mut().zip(record.fields()).enumerate() {
            if let Err(mut e) = push_cell(b, cell, j, rows, 0, types, policy, &mut bad) {
                e.local_line = line_of(record.start);
                return Err(e);
            }
        }
    }
    Ok(PartOut {
        found: builders.into_iter().map(Builder::finish).collect(),
        bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_counts_skip_blank_lines_only() {
        for (text, rows, newlines) in [
            (&b"a,b\nc,d\n"[..], 2, 2),
            (b"a,b\nc,d", 2, 1),
            (b"a,b\r\nc,d\r\n", 2, 2),
            (b"\na,b\n\nc,d\n\n", 2, 5),
            (b"\r\na,b\r\n\r\nc,d\r", 2, 3),
            (b"a,b\n\r", 1, 1),
            (b"", 0, 0),
            (b"\"x\ny\",1\n\nz,2", 2, 3),
        ] {
            let quoted = memchr::memchr(b'"', text).is_some();
            let c = count_part(text, b',', 2, quoted);
            assert_eq!(
                (c.rows, c.newlines),
                (rows, newlines),
                "{:?}",
                show_cell(text)
            );
        }
    }

    #[test]
    fn valid_runs_store_exactly_their_rows() {
        for row0 in [0, 1, 63, 64, 70] {
            for rows in [0, 1, 5, 63, 64, 65, 130] {
                let mut words = vec![0xAAAA_AAAA_AAAA_AAAAu64; 5];
                let mut want = words.clone();
                {
                    let mut run = ValidRun::new(&mut words, row0);
                    for r in 0..rows {
                        let present = (r * 7 + row0) % 3 != 0;
                        run.push(present);
                        set_bit(&mut want, row0 + r, present);
                    }
                }
                assert_eq!(words, want, "rows {row0}..{}", row0 + rows);
            }
        }
    }

    #[test]
    fn cuts_respect_quotes_and_partial_records() {
        let buf = b"a,b\n\"x\ny\",2\nc,3";
        let cuts = cut_points(buf, 4, 1 << 20, false, true);
        assert_eq!(cuts, vec![12]);
        let cuts = cut_points(buf, 4, 1 << 20, true, true);
        assert_eq!(cuts, vec![buf.len()]);
        assert!(cut_points(b"abc", 2, 1 << 20, false, false).is_empty());
    }
}
