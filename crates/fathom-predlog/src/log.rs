//! The prediction log: the callers' side of the queue, opening with
//! recovery, and shutdown.

use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::purge::purge;
use crate::record::{FeedbackRecord, PredictionRecord};
use crate::segment::{self, KIND_FOOTER, Listing, MAGIC};
use crate::stats::{Counters, LogStats};
use crate::ticket::Ticket;
use crate::writer::{Msg, Writer, now_ms, sync_dir};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

/// Name of the lock file a writing process holds in the log folder.
pub(crate) const LOCK_FILE: &str = "writer.lock";

/// What opening the log found at the end of the newest segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The newest segment that was checked, if there was one.
    pub segment: Option<PathBuf>,
    /// Intact records found in it.
    pub records: u64,
    /// Bytes cut from its end (a record torn by a crash, or damage).
    pub cut_bytes: u64,
    /// Where the cut was made and why; `None` when the segment was whole.
    pub detail: Option<String>,
}

/// An append-only log of answered predictions and feedback labels.
///
/// `append` costs the caller one channel send of the owned record: no
/// serialisation, hashing or file I/O happens on the caller's thread (at
/// most the wake-up of an idle writer thread). A
/// writer thread sanitises, frames and writes records in groups (see
/// [`crate::Durability`]). The log is closed by [`PredictionLog::shutdown`]
/// or on drop; both drain the queue and fsync before returning.
///
/// ```
/// use fathom_predlog::{LogConfig, LogReader, PredictionLog, PredictionRecord, Variant};
/// # let dir = tempfile::tempdir().unwrap();
/// let log = PredictionLog::open(LogConfig::new(dir.path()))?;
/// let ticket = log.append(PredictionRecord {
///     request_id: "0190a1b2-0000-7000-8000-000000000001".into(),
///     time_ms: 1_700_000_000_000,
///     model: "fraud".into(),
///     version: 3,
///     variant: Variant::Production,
///     inputs: bytes::Bytes::from_static(br#"{"amount": 12.5}"#),
///     score: 0.91,
///     decision: Some(true),
///     latency_us: 180,
///     degraded: false,
/// })?;
/// ticket.wait()?; // durable now (fsynced)
/// let stats = log.shutdown()?;
/// assert_eq!(stats.written, 1);
/// let read = LogReader::open(dir.path())?.predictions(i64::MIN, i64::MAX)?;
/// assert_eq!(read[0].score, 0.91);
/// # Ok::<(), fathom_predlog::LogError>(())
/// ```
pub struct PredictionLog {
    sender: Option<SyncSender<Msg>>,
    writer: Option<JoinHandle<Result<()>>>,
    counters: Arc<Counters>,
    recovery: Recovery,
    dir: PathBuf,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("dir", &self.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

impl PredictionLog {
    /// Opens (or creates) the log in `config.dir`: takes the folder's
    /// writer lock, recovers the newest segment (cutting a torn tail and
    /// closing it), applies retention, and starts the writer thread. New
    /// records go to a new segment.
    pub fn open(config: LogConfig) -> Result<PredictionLog> {
        config.check()?;
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| LogError::io(&dir, "create log folder", e))?;
        let lock = lock_dir(&dir)?;
        let recovery = recover(&dir)?;
        if let Some(retention) = config.retention {
            purge(&dir, now_ms().saturating_sub(retention.as_millis() as i64))?;
        }
        let listing = Listing::read(&dir).map_err(|e| LogError::io(&dir, "list log folder", e))?;
        let next_seq = listing.max_seq().map_or(1, |s| s + 1);
        let (tx, rx) = sync_channel(config.queue_capacity);
        let counters = Arc::new(Counters::default());
        let writer = Writer::new(&config, rx, Arc::clone(&counters), next_seq, lock);
        let handle = std::thread::Builder::new()
            .name("fathom-predlog".into())
            .spawn(move || writer.run())
            .map_err(|e| LogError::io(&dir, "start writer thread", e))?;
        Ok(PredictionLog {
            sender: Some(tx),
            writer: Some(handle),
            counters,
            recovery,
            dir,
        })
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let Some(tx) = &self.sender else {
            return Err(LogError::Closed);
        };
        self.counters.queued.fetch_add(1, Relaxed);
        match tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counters.queued.fetch_sub(1, Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        Counters::add(&self.counters.dropped, 1);
                        Err(LogError::QueueFull)
                    }
                    TrySendError::Disconnected(_) => Err(LogError::Closed),
                }
            }
        }
    }

    /// Queues a prediction. Never blocks: when the queue is full the record
    /// is refused with [`LogError::QueueFull`] and counted as dropped.
    pub fn append(&self, rec: PredictionRecord) -> Result<Ticket> {
        let (ack, ticket) = Ticket::new();
        self.send(Msg::Prediction(rec, Some(ack)))?;
        Ok(ticket)
    }

    /// Queues a prediction without a ticket, for callers that do not wait:
    /// it saves the ticket's allocation. A failed write is still counted in
    /// [`LogStats::failed`].
    pub fn append_detached(&self, rec: PredictionRecord) -> Result<()> {
        self.send(Msg::Prediction(rec, None))
    }

    /// Queues a feedback label, like [`PredictionLog::append`].
    pub fn append_feedback(&self, rec: FeedbackRecord) -> Result<Ticket> {
        let (ack, ticket) = Ticket::new();
        self.send(Msg::Feedback(rec, Some(ack)))?;
        Ok(ticket)
    }

    /// Queues a feedback label without a ticket, like [`PredictionLog::append_detached`].
    pub fn append_feedback_detached(&self, rec: FeedbackRecord) -> Result<()> {
        self.send(Msg::Feedback(rec, None))
    }

    /// The counters now.
    pub fn stats(&self) -> LogStats {
        self.counters.snapshot()
    }

    /// What opening found at the end of the newest segment.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The log folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops taking records, writes and fsyncs everything queued, closes the
    /// active segment and returns the final counters.
    pub fn shutdown(mut self) -> Result<LogStats> {
        self.close()
    }

    fn close(&mut self) -> Result<LogStats> {
        drop(self.sender.take());
        if let Some(handle) = self.writer.take() {
            handle.join().map_err(|_| LogError::Internal)??;
        }
        Ok(self.counters.snapshot())
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match lock_patiently(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(LogError::Locked { path }),
        Err(e) => Err(LogError::io(&path, "lock", e)),
    }
}

/// Opens (creating if needed) a lock file without truncating it.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io(path, "open lock file", e))
}

/// Takes `file`'s exclusive lock, trying again for up to about 100 ms
/// while it is held. `false` if it stays held.
///
/// A lock is shared with any child process forked while the file is open,
/// until the child's `exec` closes its copy; a short wait outlasts that
/// moment, so a process starting a helper never makes the lock look taken.
pub(crate) fn lock_patiently(file: &File) -> std::io::Result<bool> {
    const TRIES: u32 = 20;
    for attempt in 0..TRIES {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(std::fs::TryLockError::WouldBlock) if attempt + 1 < TRIES => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Ok(false)
}

/// The folder's writer lock if no process holds it (nobody is writing the
/// log), else `None`.
pub(crate) fn try_writer_lock(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io(&path, "lock", e)),
    }
}

/// Checks the newest segment, which a crash may have left with a torn
/// record at its end: cuts the tail after the last intact frame, then
/// closes the segment with its footer (or removes it if it holds nothing).
fn recover(dir: &Path) -> Result<Recovery> {
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    let Some(newest) = listing.newest_segment() else {
        return Ok(Recovery::default());
    };
    let path = newest.path.clone();
    let bytes = std::fs::read(&path).map_err(|e| LogError::io(&path, "read", e))?;
    let scan = segment::scan(&bytes);
    let mut out = Recovery {
        segment: Some(path.clone()),
        records: scan.summary.records(),
        cut_bytes: 0,
        detail: None,
    };
    if let Some((offset, detail)) = &scan.bad {
        if *offset == 0 && bytes.len() >= MAGIC.len() {
            return Err(LogError::Corrupt {
                path,
                offset: 0,
                detail: detail.clone(),
            });
        }
        out.cut_bytes = bytes.len() as u64 - scan.valid_len;
        out.detail = Some(format!(
            "cut {} bytes at offset {offset}: {detail}",
            out.cut_bytes
        ));
    }
    if scan.summary.records() == 0 {
        std::fs::remove_file(&path).map_err(|e| LogError::io(&path, "remove empty segment", e))?;
        sync_dir(dir)?;
        return Ok(out);
    }
    if scan.bad.is_none() && scan.ends_with_footer {
        return Ok(out);
    }
    let mut file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| LogError::io(&path, "open for recovery", e))?;
    let mut footer = Vec::new();
    if !scan.ends_with_footer {
        segment::push_frame(&mut footer, KIND_FOOTER, |b| {
            segment::put_footer(b, &scan.summary)
        });
    }
    file.set_len(scan.valid_len)
        .and_then(|()| file.write_all(&footer))
        .and_then(|()| file.sync_all())
        .map_err(|e| LogError::io(&path, "recover segment tail", e))?;
    Ok(out)
}

// The server shares one log between its worker threads and moves tickets
// into async tasks.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    const fn sent<T: Send>() {}
    shared::<PredictionLog>();
    sent::<Ticket>();
    sent::<LogError>();
};
