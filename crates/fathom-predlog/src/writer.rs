//! The writer thread: drains the queue in batches, sanitises and frames
//! each record, writes a batch with one write (and under `Fsync` one
//! fsync), resolves the batch's tickets, rotates segments, applies retention.

use crate::config::{Durability, LogConfig};
use crate::error::{LogError, Result};
use crate::purge::purge;
use crate::record::{FeedbackRecord, PredictionRecord};
use crate::sanitize::Sanitizer;
use crate::segment::{self, KIND_FEEDBACK, KIND_FOOTER, KIND_PREDICTION, MAGIC, Summary};
use crate::stats::Counters;
use crate::ticket::Ack;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Under buffered durability, gathered frames are written once they reach
/// this many bytes even before the flush interval ends.
const WRITE_CHUNK: usize = 256 << 10;

/// One queued record with the sender of its ticket (none when detached).
pub(crate) enum Msg {
    Prediction(PredictionRecord, Option<Ack>),
    Feedback(FeedbackRecord, Option<Ack>),
}

/// The segment being appended to.
struct Active {
    file: File,
    path: PathBuf,
    /// Bytes written and acknowledged so far.
    len: u64,
    /// When it was created (for `segment_max_age`).
    opened: Instant,
    summary: Summary,
}

pub(crate) struct Writer {
    /// After a failed write (a full disk, say), batches fail at once
    /// until this time instead of touching the disk again and again.
    backoff_until: Option<Instant>,
    dir: PathBuf,
    durability: Durability,
    max_batch: usize,
    flush_interval: Duration,
    segment_max_bytes: u64,
    segment_max_age: Option<Duration>,
    retention: Option<Duration>,
    sanitize: Sanitizer,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    active: Option<Active>,
    next_seq: u64,
    /// The frames of the batch being gathered.
    buf: Vec<u8>,
    /// The tickets of the records in `buf`, in order.
    acks: Vec<Option<Ack>>,
    /// Times and counts of the records in `buf`.
    pending: Summary,
    /// Sanitised inputs of the record being framed.
    scratch: Vec<u8>,
    /// Bytes written since the last fsync.
    dirty: bool,
    last_purge: Instant,
    /// Held for the writer's lifetime so that no other process writes here.
    _lock: File,
}

/// Milliseconds since the Unix epoch now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// fsyncs a folder so that files created or removed in it stay so after a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, "fsync folder", e))
}

impl Writer {
    pub(crate) fn new(
        config: &LogConfig,
        rx: Receiver<Msg>,
        counters: Arc<Counters>,
        next_seq: u64,
        lock: File,
    ) -> Writer {
        Writer {
            dir: config.dir.clone(),
            durability: config.durability,
            max_batch: config.max_batch,
            flush_interval: config.flush_interval,
            backoff_until: None,
            segment_max_bytes: config.segment_max_bytes,
            segment_max_age: config.segment_max_age,
            retention: config.retention,
            sanitize: config.sanitize.clone(),
            rx,
            counters,
            active: None,
            next_seq,
            buf: Vec::with_capacity(1 << 20),
            acks: Vec::with_capacity(config.max_batch),
            pending: Summary::default(),
            scratch: Vec::with_capacity(4096),
            dirty: false,
            last_purge: Instant::now(),
            _lock: lock,
        }
    }

    /// Runs until every sender is dropped and the queue is drained, then
    /// writes, fsyncs and closes the active segment.
    pub(crate) fn run(mut self) -> Result<()> {
        match self.durability {
            Durability::Fsync => self.run_fsync(),
            Durability::Buffered => self.run_buffered(),
        }
        self.commit(true);
        self.close_active()
    }

    /// How long the writer may sleep when the queue is empty.
    fn idle_wait(&self) -> Duration {
        let purge = self.purge_period();
        match self.segment_max_age {
            Some(age) => purge.min((age / 4).max(Duration::from_millis(5))),
            None => purge,
        }
    }

    /// How often retention is applied: a tenth of it, between 1 s and 1 min.
    fn purge_period(&self) -> Duration {
        match self.retention {
            Some(r) => (r / 10).clamp(Duration::from_secs(1), Duration::from_secs(60)),
            None => Duration::from_secs(60),
        }
    }

    /// Whether the active segment has records and is older than `segment_max_age`.
    fn active_too_old(&self) -> bool {
        match (&self.active, self.segment_max_age) {
            (Some(a), Some(age)) => a.summary.records() > 0 && a.opened.elapsed() >= age,
            _ => false,
        }
    }

    fn run_fsync(&mut self) {
        loop {
            match self.rx.recv_timeout(self.idle_wait()) {
                Ok(msg) => {
                    self.take(msg);
                    self.drain();
                    self.commit(true);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.housekeeping();
        }
    }

    /// Buffered mode never blocks on the queue: it wakes on a short tick,
    /// takes everything queued, and writes every flush interval or every
    /// [`WRITE_CHUNK`] bytes, whichever comes first. Senders therefore
    /// never have to wake it (no system call per record), which matters
    /// when the server answers tens of thousands of requests a second on
    /// the same cores; and the writes stay short bursts that fit the
    /// cache, rather than megabytes that hold a core for milliseconds
    /// while requests wait behind them.
    fn run_buffered(&mut self) {
        let tick = self.flush_interval.min(Duration::from_millis(5));
        let mut next_flush = Instant::now() + self.flush_interval;
        loop {
            let now = Instant::now();
            if now >= next_flush {
                self.commit(false);
                self.sync_if_dirty();
                self.housekeeping();
                next_flush = now + self.flush_interval;
            }
            std::thread::sleep(tick.min(next_flush.saturating_duration_since(now)));
            loop {
                match self.rx.try_recv() {
                    Ok(msg) => {
                        self.take(msg);
                        if self.acks.len() >= self.max_batch || self.buf.len() >= WRITE_CHUNK {
                            self.commit(false);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
        }
    }

    /// Takes queued records without waiting until the batch is full.
    fn drain(&mut self) {
        while self.acks.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(_) => return,
            }
        }
    }

    fn fail(&self, ack: Option<Ack>, detail: String) {
        Counters::add(&self.counters.failed, 1);
        if let Some(ack) = ack {
            let _ = ack.send(Err(detail));
        }
    }

    /// Sanitises and frames one record into the batch.
    fn take(&mut self, msg: Msg) {
        self.counters.queued.fetch_sub(1, Relaxed);
        match msg {
            Msg::Prediction(rec, ack) => {
                if let Err(detail) = segment::check_prediction(&rec) {
                    return self.fail(ack, detail);
                }
                self.scratch.clear();
                let ok = if self.sanitize.is_identity() {
                    std::str::from_utf8(&rec.inputs).is_ok()
                } else {
                    self.sanitize
                        .sanitize(&rec.inputs, &mut self.scratch)
                        .is_ok()
                };
                let inputs: &[u8] = match (ok, self.sanitize.is_identity()) {
                    (false, _) => {
                        Counters::add(&self.counters.invalid_inputs, 1);
                        b"null"
                    }
                    (true, true) => &rec.inputs,
                    (true, false) => &self.scratch,
                };
                let framed = segment::push_frame(&mut self.buf, KIND_PREDICTION, |b| {
                    segment::put_prediction(b, &rec, inputs)
                });
                if framed.is_none() {
                    return self.fail(
                        ack,
                        format!(
                            "record of {} input bytes exceeds the frame limit of 16 MiB",
                            inputs.len()
                        ),
                    );
                }
                self.pending.add_time(rec.time_ms);
                self.pending.predictions += 1;
                self.acks.push(ack);
            }
            Msg::Feedback(rec, ack) => {
                if let Err(detail) = segment::check_feedback(&rec) {
                    return self.fail(ack, detail);
                }
                segment::push_frame(&mut self.buf, KIND_FEEDBACK, |b| {
                    segment::put_feedback(b, &rec)
                });
                self.pending.add_time(rec.time_ms);
                self.pending.feedback += 1;
                self.acks.push(ack);
            }
        }
    }

    /// Writes the gathered batch (fsyncing it when `sync`), resolves its
    /// tickets, and rotates the segment once it is full.
    fn commit(&mut self, sync: bool) {
        if self.acks.is_empty() {
            if sync {
                self.sync_if_dirty();
            }
            return;
        }
        let n = self.acks.len() as u64;
        let written = match self.backoff_until {
            Some(t) if Instant::now() < t => Err(LogError::io(
                &self.dir,
                "write",
                std::io::Error::other("an earlier write failed; retrying in a moment"),
            )),
            _ => self.write_batch(sync),
        };
        self.backoff_until = written
            .is_err()
            .then(|| Instant::now() + Duration::from_secs(1));
        match written {
            Ok(()) => {
                Counters::add(&self.counters.written, n);
                for ack in self.acks.drain(..).flatten() {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(e) => {
                let detail = e.to_string();
                Counters::add(&self.counters.failed, n);
                for ack in self.acks.drain(..).flatten() {
                    let _ = ack.send(Err(detail.clone()));
                }
            }
        }
        self.buf.clear();
        self.pending = Summary::default();
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.len >= self.segment_max_bytes)
            || self.active_too_old()
        {
            // A failed close leaves a segment without footer, which readers
            // scan instead; the records in it are intact.
            let _ = self.close_active();
        }
    }

    fn write_batch(&mut self, sync: bool) -> Result<()> {
        if self.active.is_none() {
            self.active = Some(self.open_segment()?);
        }
        let Some(a) = self.active.as_mut() else {
            return Err(LogError::Internal);
        };
        let mut result = a
            .file
            .write_all(&self.buf)
            .map_err(|e| LogError::io(&a.path, "write", e));
        if result.is_ok() && sync {
            result = a
                .file
                .sync_data()
                .map_err(|e| LogError::io(&a.path, "fsync", e));
            Counters::add(&self.counters.fsyncs, 1);
        }
        match result {
            Ok(()) => {
                a.len += self.buf.len() as u64;
                a.summary.merge(&self.pending);
                Counters::add(&self.counters.bytes, self.buf.len() as u64);
                self.dirty = !sync;
                Ok(())
            }
            Err(e) => {
                // Cut what may have reached the file, then start a new
                // segment for the next batch.
                let _ = a.file.set_len(a.len);
                let _ = self.close_active();
                Err(e)
            }
        }
    }

    fn sync_if_dirty(&mut self) {
        if !self.dirty {
            return;
        }
        if let Some(a) = &self.active {
            let _ = a.file.sync_data();
            Counters::add(&self.counters.fsyncs, 1);
        }
        self.dirty = false;
    }

    /// Creates the next segment durably: header written, file and folder fsynced.
    fn open_segment(&mut self) -> Result<Active> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.dir.join(segment::segment_name(seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, "create segment", e))?;
        if let Err(e) = file.write_all(MAGIC).and_then(|()| file.sync_all()) {
            // Leave no empty segment behind (a full disk would otherwise
            // collect one per attempt).
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(LogError::io(&path, "write segment header", e));
        }
        sync_dir(&self.dir)?;
        Counters::add(&self.counters.fsyncs, 2);
        Counters::add(&self.counters.segments, 1);
        Ok(Active {
            file,
            path,
            len: MAGIC.len() as u64,
            opened: Instant::now(),
            summary: Summary::default(),
        })
    }

    /// Ends the active segment with its footer and fsyncs it, or removes it
    /// if it holds no record.
    fn close_active(&mut self) -> Result<()> {
        let Some(mut a) = self.active.take() else {
            return Ok(());
        };
        self.dirty = false;
        if a.summary.records() == 0 {
            drop(a.file);
            std::fs::remove_file(&a.path)
                .map_err(|e| LogError::io(&a.path, "remove empty segment", e))?;
            return sync_dir(&self.dir);
        }
        let mut footer = Vec::with_capacity(segment::FOOTER_FRAME);
        segment::push_frame(&mut footer, KIND_FOOTER, |b| {
            segment::put_footer(b, &a.summary)
        });
        a.file
            .write_all(&footer)
            .and_then(|()| a.file.sync_data())
            .map_err(|e| LogError::io(&a.path, "close segment", e))?;
        Counters::add(&self.counters.fsyncs, 1);
        Counters::add(&self.counters.bytes, footer.len() as u64);
        Ok(())
    }

    /// Closes a segment past its age (when nothing is pending: a batch
    /// being gathered goes into it first) and applies retention when it is
    /// due. A failing purge is tried again at the next period.
    fn housekeeping(&mut self) {
        if self.acks.is_empty() && self.active_too_old() {
            self.sync_if_dirty();
            // As in `commit`: a failed close leaves a segment readers scan.
            let _ = self.close_active();
        }
        let Some(retention) = self.retention else {
            return;
        };
        if self.last_purge.elapsed() < self.purge_period() {
            return;
        }
        self.last_purge = Instant::now();
        let _ = purge(
            &self.dir,
            now_ms().saturating_sub(retention.as_millis() as i64),
        );
    }
}
