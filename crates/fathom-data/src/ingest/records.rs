//! Records of a CSV buffer through `csv-core`'s state machine (quotes,
//! escaped quotes, blank lines), shared by header parsing, type inference
//! and the quoted-data path of the reader.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// One record: its fields and where it started in the input.
pub(crate) struct Record<'r> {
    /// Byte offset in the input where reading of this record began.
    pub(crate) start: usize,
    data: &'r [u8],
    ends: &'r [usize],
}

impl Record<'_> {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The fields' unquoted bytes.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let f = &self.data[start..end];
            start = end;
            f
        })
    }
}

/// Reads the records of a buffer that ends at a record boundary (or at
/// the end of the file): a last record without a newline is still read.
pub(crate) struct Records<'a> {
    reader: Reader,
    input: &'a [u8],
    total: usize,
    out: Vec<u8>,
    ends: Vec<usize>,
    done: bool,
}

impl<'a> Records<'a> {
    /// Records of `input`, expecting about `fields` fields each.
    pub(crate) fn new(input: &'a [u8], delimiter: u8, fields: usize) -> Self {
        Records {
            reader: ReaderBuilder::new().delimiter(delimiter).build(),
            input,
            total: input.len(),
            out: vec![0; 1 << 16],
            ends: vec![0; fields + 1],
            done: false,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn consumed(&self) -> usize {
        self.total - self.input.len()
    }

    /// The next record, or `None` at the end.
    pub(crate) fn next_record(&mut self) -> Option<Record<'_>> {
        if self.done {
            return None;
        }
        let start = self.consumed();
        let (mut o, mut e) = (0, 0);
        loop {
            let (res, nin, nout, nend) =
                self.reader
                    .read_record(self.input, &mut self.out[o..], &mut self.ends[e..]);
            self.input = &self.input[nin..];
            o += nout;
            e += nend;
            match res {
                // An empty input tells the reader the data has ended, which
                // flushes a last record that has no newline.
                ReadRecordResult::InputEmpty => continue,
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => break,
                ReadRecordResult::End => {
                    self.done = true;
                    return None;
                }
            }
        }
        Some(Record {
            start,
            data: &self.out[..o],
            ends: &self.ends[..e],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_blank_lines_and_a_last_line_without_newline() {
        let text = b"a,\"b,\"\"c\"\"\"\n\n\"multi\nline\",x\nlast,1";
        let mut r = Records::new(text, b',', 2);
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        while let Some(rec) = r.next_record() {
            rows.push((
                rec.start,
                rec.fields()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ));
        }
        assert_eq!(rows[0], (0, vec!["a".to_string(), "b,\"c\"".to_string()]));
        assert_eq!(rows[1].1, vec!["multi\nline", "x"]);
        assert_eq!(rows[2].1, vec!["last", "1"]);
        assert_eq!(rows.len(), 3);
        assert_eq!(r.consumed(), text.len());
    }
}
