//! The segment file format: a header, then checksummed frames.
//!
//! ```text
//! segment  = "FTHMLOG1" frame*
//! frame    = len:u32le crc:u32le kind:u8 payload[len]     crc = CRC-32 of kind ‖ payload
//! kind     = 1 prediction | 2 feedback | 3 footer (segment summary, written on close)
//! ```
//!
//! Payloads are little-endian; strings are a length then UTF-8 bytes:
//!
//! ```text
//! prediction = time_ms:i64 version:i64 score:f64 latency_us:u32 variant:u8 flags:u8
//!              request_id:(u16,bytes) model:(u16,bytes) inputs:(u32,bytes)
//!              flags: bit0 degraded, bit1 decision present, bit2 decision
//! feedback   = time_ms:i64 label:f64 request_id:(u16,bytes)
//! footer     = "FPLOGEND" min_time_ms:i64 max_time_ms:i64 predictions:u64 feedback:u64
//! ```

use crate::record::{FeedbackRecord, PredictionRecord, Variant};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// The first bytes of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"FTHMLOG1";
/// Bytes before a frame's payload: length, checksum, kind.
pub(crate) const FRAME_HEADER: usize = 9;
/// The largest payload a frame may carry; longer lengths are corruption.
pub(crate) const MAX_PAYLOAD: usize = 16 << 20;

pub(crate) const KIND_PREDICTION: u8 = 1;
pub(crate) const KIND_FEEDBACK: u8 = 2;
pub(crate) const KIND_FOOTER: u8 = 3;

const FOOTER_MAGIC: &[u8; 8] = b"FPLOGEND";
const FOOTER_PAYLOAD: usize = 40;
/// Size of a whole footer frame.
pub(crate) const FOOTER_FRAME: usize = FRAME_HEADER + FOOTER_PAYLOAD;

/// The file name of segment `seq`.
pub(crate) fn segment_name(seq: u64) -> String {
    format!("seg-{seq:010}.log")
}

/// The folder name of compacted segment `seq`.
pub(crate) fn compacted_name(seq: u64) -> String {
    format!("seg-{seq:010}.compacted")
}

/// The sequence number in a segment or compacted-folder name.
pub(crate) fn parse_name(name: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix("seg-")?;
    let (digits, compacted) = if let Some(d) = rest.strip_suffix(".log") {
        (d, false)
    } else {
        (rest.strip_suffix(".compacted")?, true)
    };
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, compacted))
}

/// Time range and record counts of a segment or compacted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub predictions: u64,
    pub feedback: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            min_time_ms: i64::MAX,
            max_time_ms: i64::MIN,
            predictions: 0,
            feedback: 0,
        }
    }
}

impl Summary {
    pub(crate) fn records(&self) -> u64 {
        self.predictions + self.feedback
    }

    pub(crate) fn add_time(&mut self, t: i64) {
        self.min_time_ms = self.min_time_ms.min(t);
        self.max_time_ms = self.max_time_ms.max(t);
    }

    pub(crate) fn merge(&mut self, other: &Summary) {
        self.min_time_ms = self.min_time_ms.min(other.min_time_ms);
        self.max_time_ms = self.max_time_ms.max(other.max_time_ms);
        self.predictions += other.predictions;
        self.feedback += other.feedback;
    }

    /// Whether any record may fall in `[from_ms, to_ms)`.
    pub(crate) fn overlaps(&self, from_ms: i64, to_ms: i64) -> bool {
        self.records() > 0 && self.max_time_ms >= from_ms && self.min_time_ms < to_ms
    }
}

/// Appends one frame: `payload` writes the payload bytes into the buffer.
/// Returns the frame's size, or `None` (buffer unchanged) when the payload
/// is larger than [`MAX_PAYLOAD`].
pub(crate) fn push_frame(
    buf: &mut Vec<u8>,
    kind: u8,
    payload: impl FnOnce(&mut Vec<u8>),
) -> Option<usize> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 8]);
    buf.push(kind);
    payload(buf);
    let len = buf.len() - start - FRAME_HEADER;
    if len > MAX_PAYLOAD {
        buf.truncate(start);
        return None;
    }
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Some(buf.len() - start)
}

fn put_str16(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u16).to_le_bytes());
    buf.extend_from_slice(s);
}

/// Why a record cannot be framed.
pub(crate) fn check_prediction(rec: &PredictionRecord) -> Result<(), String> {
    if rec.request_id.len() > u16::MAX as usize {
        return Err(format!(
            "request id of {} bytes is longer than 65535",
            rec.request_id.len()
        ));
    }
    if rec.model.len() > u16::MAX as usize {
        return Err(format!(
            "model name of {} bytes is longer than 65535",
            rec.model.len()
        ));
    }
    Ok(())
}

/// Writes a prediction payload whose inputs are `inputs` (already sanitised).
pub(crate) fn put_prediction(buf: &mut Vec<u8>, rec: &PredictionRecord, inputs: &[u8]) {
    buf.extend_from_slice(&rec.time_ms.to_le_bytes());
    buf.extend_from_slice(&rec.version.to_le_bytes());
    buf.extend_from_slice(&rec.score.to_bits().to_le_bytes());
    buf.extend_from_slice(&rec.latency_us.to_le_bytes());
    buf.push(rec.variant.code());
    let flags = u8::from(rec.degraded)
        | match rec.decision {
            None => 0,
            Some(false) => 2,
            Some(true) => 6,
        };
    buf.push(flags);
    put_str16(buf, rec.request_id.as_bytes());
    put_str16(buf, rec.model.as_bytes());
    buf.extend_from_slice(&(inputs.len() as u32).to_le_bytes());
    buf.extend_from_slice(inputs);
}

pub(crate) fn check_feedback(rec: &FeedbackRecord) -> Result<(), String> {
    if rec.request_id.len() > u16::MAX as usize {
        return Err(format!(
            "request id of {} bytes is longer than 65535",
            rec.request_id.len()
        ));
    }
    Ok(())
}

pub(crate) fn put_feedback(buf: &mut Vec<u8>, rec: &FeedbackRecord) {
    buf.extend_from_slice(&rec.time_ms.to_le_bytes());
    buf.extend_from_slice(&rec.label.to_bits().to_le_bytes());
    put_str16(buf, rec.request_id.as_bytes());
}

pub(crate) fn put_footer(buf: &mut Vec<u8>, s: &Summary) {
    buf.extend_from_slice(FOOTER_MAGIC);
    buf.extend_from_slice(&s.min_time_ms.to_le_bytes());
    buf.extend_from_slice(&s.max_time_ms.to_le_bytes());
    buf.extend_from_slice(&s.predictions.to_le_bytes());
    buf.extend_from_slice(&s.feedback.to_le_bytes());
}

/// A cursor over a payload; every read checks the remaining length.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end
            .ok_or_else(|| format!("payload ends early (needs {n} more bytes at {})", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(self.u64()? as i64)
    }

    fn str16(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("text is not UTF-8: {e}"))
    }

    fn end(&self) -> Result<(), String> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the record",
                self.bytes.len() - self.pos
            ))
        }
    }
}

pub(crate) fn decode_prediction(payload: &[u8]) -> Result<PredictionRecord, String> {
    let mut c = Cursor {
        bytes: payload,
        pos: 0,
    };
    let time_ms = c.i64()?;
    let version = c.i64()?;
    let score = f64::from_bits(c.u64()?);
    let latency_us = c.u32()?;
    let code = c.u8()?;
    let variant = Variant::from_code(code).ok_or_else(|| format!("unknown variant code {code}"))?;
    let flags = c.u8()?;
    if flags & !7 != 0 {
        return Err(format!("unknown flags {flags:#x}"));
    }
    let request_id = c.str16()?.to_string();
    let model = c.str16()?.to_string();
    let n = c.u32()? as usize;
    let inputs = Bytes::copy_from_slice(c.take(n)?);
    c.end()?;
    Ok(PredictionRecord {
        request_id,
        time_ms,
        model,
        version,
        variant,
        inputs,
        score,
        decision: (flags & 2 != 0).then_some(flags & 4 != 0),
        latency_us,
        degraded: flags & 1 != 0,
    })
}

pub(crate) fn decode_feedback(payload: &[u8]) -> Result<FeedbackRecord, String> {
    let mut c = Cursor {
        bytes: payload,
        pos: 0,
    };
    let time_ms = c.i64()?;
    let label = f64::from_bits(c.u64()?);
    let request_id = c.str16()?.to_string();
    c.end()?;
    Ok(FeedbackRecord {
        request_id,
        time_ms,
        label,
    })
}

fn decode_footer(payload: &[u8]) -> Result<Summary, String> {
    let mut c = Cursor {
        bytes: payload,
        pos: 0,
    };
    if c.take(8)? != FOOTER_MAGIC {
        return Err("footer without its marker".into());
    }
    let s = Summary {
        min_time_ms: c.i64()?,
        max_time_ms: c.i64()?,
        predictions: c.u64()?,
        feedback: c.u64()?,
    };
    c.end()?;
    Ok(s)
}

/// The time of a prediction or feedback payload (its first field).
fn payload_time(payload: &[u8]) -> Result<i64, String> {
    Cursor {
        bytes: payload,
        pos: 0,
    }
    .i64()
}

/// One valid frame of a segment.
pub(crate) struct Frame<'a> {
    pub kind: u8,
    pub payload: &'a [u8],
}

/// The result of checking a segment's bytes frame by frame.
pub(crate) struct Scan<'a> {
    /// The valid record frames, in order (footers excluded).
    pub frames: Vec<Frame<'a>>,
    /// Bytes up to the end of the last valid frame.
    pub valid_len: u64,
    /// The first invalid frame, if any: its offset and what is wrong.
    pub bad: Option<(u64, String)>,
    /// The times and counts of the valid records.
    pub summary: Summary,
    /// Whether the valid part ends with a footer.
    pub ends_with_footer: bool,
}

/// Checks `bytes` (a whole segment file) frame by frame, stopping at the
/// first frame that is cut short, fails its checksum, or does not decode.
/// A bad header is reported at offset 0.
pub(crate) fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut out = Scan {
        frames: Vec::new(),
        valid_len: 0,
        bad: None,
        summary: Summary::default(),
        ends_with_footer: false,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        let what = if MAGIC.starts_with(bytes) {
            format!(
                "file of {} bytes ends inside the segment header",
                bytes.len()
            )
        } else {
            "not a fathom prediction-log segment (wrong header)".to_string()
        };
        out.bad = Some((0, what));
        return out;
    }
    let mut pos = MAGIC.len();
    out.valid_len = pos as u64;
    while pos < bytes.len() {
        match check_frame(&bytes[pos..]) {
            Ok((kind, payload)) => {
                match kind {
                    KIND_FOOTER => {
                        out.ends_with_footer = true;
                    }
                    _ => {
                        // check_frame decoded the payload, so it has a time.
                        let t = payload_time(payload).unwrap_or_default();
                        out.summary.add_time(t);
                        if kind == KIND_PREDICTION {
                            out.summary.predictions += 1;
                        } else {
                            out.summary.feedback += 1;
                        }
                        out.ends_with_footer = false;
                        out.frames.push(Frame { kind, payload });
                    }
                }
                pos += FRAME_HEADER + payload.len();
                out.valid_len = pos as u64;
            }
            Err(detail) => {
                out.bad = Some((pos as u64, detail));
                break;
            }
        }
    }
    out
}

/// Checks one frame at the start of `bytes`: complete, checksum right,
/// known kind, payload decodes.
fn check_frame(bytes: &[u8]) -> Result<(u8, &[u8]), String> {
    if bytes.len() < FRAME_HEADER {
        return Err(format!(
            "{} bytes left, a frame header needs {FRAME_HEADER}",
            bytes.len()
        ));
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
    if len > MAX_PAYLOAD {
        return Err(format!(
            "frame length {len} is larger than the limit {MAX_PAYLOAD}"
        ));
    }
    if bytes.len() < FRAME_HEADER + len {
        return Err(format!(
            "frame of {len} bytes is cut short ({} bytes present)",
            bytes.len() - FRAME_HEADER
        ));
    }
    let crc = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default());
    let body = &bytes[8..FRAME_HEADER + len];
    if crc32fast::hash(body) != crc {
        return Err("frame checksum does not match".into());
    }
    let kind = body[0];
    let payload = &body[1..];
    match kind {
        KIND_PREDICTION => decode_prediction(payload).map(|_| ()),
        KIND_FEEDBACK => decode_feedback(payload).map(|_| ()),
        KIND_FOOTER => decode_footer(payload).map(|_| ()),
        other => Err(format!("unknown frame kind {other}")),
    }
    .map_err(|e| format!("frame does not decode: {e}"))?;
    Ok((kind, payload))
}

/// The summary in the footer at the end of `path`, if the file ends with one.
pub(crate) fn read_footer(path: &Path) -> std::io::Result<Option<Summary>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len < (MAGIC.len() + FOOTER_FRAME) as u64 {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(len - FOOTER_FRAME as u64))?;
    let mut tail = [0u8; FOOTER_FRAME];
    f.read_exact(&mut tail)?;
    Ok(match check_frame(&tail) {
        Ok((KIND_FOOTER, payload)) => decode_footer(payload).ok(),
        _ => None,
    })
}

/// A segment or compacted folder found in the log folder.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub seq: u64,
    pub path: PathBuf,
}

/// What the log folder holds, by sequence number.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Segment files not yet compacted, by sequence number.
    pub segments: Vec<Entry>,
    /// Compacted folders, by sequence number.
    pub compacted: Vec<Entry>,
    /// Segment files whose compacted folder exists (left by an interrupted compaction).
    pub superseded: Vec<Entry>,
    /// Staging folders of interrupted compactions and purges.
    pub staging: Vec<PathBuf>,
}

/// Prefix of staging folders and files (ignored by readers).
pub(crate) const STAGING_PREFIX: &str = ".tmp-";

impl Listing {
    pub(crate) fn read(dir: &Path) -> std::io::Result<Listing> {
        let mut out = Listing::default();
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(STAGING_PREFIX) {
                out.staging.push(entry.path());
                continue;
            }
            match parse_name(name) {
                Some((seq, true)) => out.compacted.push(Entry {
                    seq,
                    path: entry.path(),
                }),
                Some((seq, false)) => segments.push(Entry {
                    seq,
                    path: entry.path(),
                }),
                None => {}
            }
        }
        out.compacted.sort_by_key(|e| e.seq);
        segments.sort_by_key(|e| e.seq);
        for s in segments {
            if out
                .compacted
                .binary_search_by_key(&s.seq, |c| c.seq)
                .is_ok()
            {
                out.superseded.push(s);
            } else {
                out.segments.push(s);
            }
        }
        Ok(out)
    }

    /// The highest sequence number in use.
    pub(crate) fn max_seq(&self) -> Option<u64> {
        let a = self.segments.last().map(|e| e.seq);
        let b = self.compacted.last().map(|e| e.seq);
        let c = self.superseded.last().map(|e| e.seq);
        a.max(b).max(c)
    }

    /// The segment a writer may be appending to: the newest one, if it is
    /// newer than every compacted folder.
    pub(crate) fn newest_segment(&self) -> Option<&Entry> {
        let s = self.segments.last()?;
        (Some(s.seq) == self.max_seq()).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PredictionRecord {
        PredictionRecord {
            request_id: "r-1".into(),
            time_ms: -5,
            model: "fraud".into(),
            version: 3,
            variant: Variant::Shadow,
            inputs: Bytes::from_static(br#"{"a":1}"#),
            score: 0.25,
            decision: Some(false),
            latency_us: 77,
            degraded: true,
        }
    }

    #[test]
    fn frames_round_trip_and_every_single_byte_flip_is_caught() {
        let mut buf = MAGIC.to_vec();
        let rec = sample();
        push_frame(&mut buf, KIND_PREDICTION, |b| {
            put_prediction(b, &rec, &rec.inputs)
        })
        .unwrap();
        let s = scan(&buf);
        assert!(s.bad.is_none());
        assert_eq!(decode_prediction(s.frames[0].payload).unwrap(), rec);
        assert_eq!((s.summary.min_time_ms, s.summary.max_time_ms), (-5, -5));
        for i in MAGIC.len()..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            let s = scan(&bad);
            assert!(
                s.frames.is_empty() && s.bad.is_some(),
                "flip at {i} not caught"
            );
            assert_eq!(s.valid_len, MAGIC.len() as u64);
        }
    }

    #[test]
    fn names_parse_back() {
        assert_eq!(parse_name(&segment_name(42)), Some((42, false)));
        assert_eq!(parse_name(&compacted_name(7)), Some((7, true)));
        assert_eq!(parse_name("seg-12.log"), None);
        assert_eq!(parse_name("seg-00000000x1.log"), None);
    }
}
