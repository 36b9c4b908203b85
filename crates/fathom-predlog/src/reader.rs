//! Reading windows of the log back: predictions, feedback, and the two
//! joined by request id.

use crate::error::{LogError, Result};
use crate::inputs;
use crate::parquet_io::{self, FEEDBACK_FILE, PREDICTIONS_FILE};
use crate::record::{FeedbackRecord, PredictionRecord};
use crate::segment::{self, KIND_FEEDBACK, KIND_PREDICTION, Listing};
use fathom_core::{Frame, Schema};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How often a read lists the folder again when a file it listed was
/// removed meanwhile (by compaction or retention).
const RELIST_ATTEMPTS: usize = 8;

/// Reads a prediction log folder: its segments (including the one being
/// written) and its compacted Parquet files; or several such folders as
/// one log (the folders of several replicas, or shipped copies of them).
///
/// Every read lists the folders afresh, so it sees what was logged up to
/// that moment. Windows are half-open, `from_ms <= time_ms < to_ms`, and
/// records of one folder come in log order (the order they were written);
/// those of several folders in time order, log order among equal times.
#[derive(Debug, Clone)]
pub struct LogReader {
    dirs: Vec<PathBuf>,
}

#[derive(Clone, Copy)]
struct Want {
    predictions: bool,
    feedback: bool,
}

impl LogReader {
    /// A reader of the log in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<LogReader> {
        Self::open_many([dir.as_ref()])
    }

    /// A reader of the logs in `dirs` together, each an existing folder
    /// (with no folder, every read is empty).
    pub fn open_many<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>) -> Result<LogReader> {
        let mut out = Vec::new();
        for dir in dirs {
            let dir = dir.as_ref();
            if !dir.is_dir() {
                return Err(LogError::io(
                    dir,
                    "open prediction log",
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
                ));
            }
            out.push(dir.to_path_buf());
        }
        Ok(LogReader { dirs: out })
    }

    /// The predictions answered in `[from_ms, to_ms)`, inputs sanitised.
    pub fn predictions(&self, from_ms: i64, to_ms: i64) -> Result<Vec<PredictionRecord>> {
        let want = Want {
            predictions: true,
            feedback: false,
        };
        Ok(self.read(from_ms, to_ms, want)?.0)
    }

    /// The feedback labels received in `[from_ms, to_ms)`.
    pub fn feedback(&self, from_ms: i64, to_ms: i64) -> Result<Vec<FeedbackRecord>> {
        let want = Want {
            predictions: false,
            feedback: true,
        };
        Ok(self.read(from_ms, to_ms, want)?.1)
    }

    /// The predictions of `[from_ms, to_ms)`, each with its label if one
    /// has arrived.
    ///
    /// Labels usually arrive after the window: every label in the log now
    /// whose time is at or after `from_ms` is considered, up to the present.
    /// When a request has several labels the last one logged wins.
    pub fn joined(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(PredictionRecord, Option<FeedbackRecord>)>> {
        let predictions = self.predictions(from_ms, to_ms)?;
        let feedback = self.feedback(from_ms, i64::MAX)?;
        let mut by_id: HashMap<String, FeedbackRecord> = HashMap::with_capacity(feedback.len());
        for f in feedback {
            by_id.insert(f.request_id.clone(), f);
        }
        Ok(predictions
            .into_iter()
            .map(|p| {
                let label = by_id.get(&p.request_id).cloned();
                (p, label)
            })
            .collect())
    }

    /// The inputs of `records` as typed columns, one per schema column
    /// except the label (which arrives as feedback, not as an input).
    /// See [`crate::inputs_frame`] for how values are typed.
    pub fn inputs_frame(&self, records: &[PredictionRecord], schema: &Schema) -> Result<Frame> {
        inputs::inputs_frame(records, schema)
    }

    fn read(
        &self,
        from_ms: i64,
        to_ms: i64,
        want: Want,
    ) -> Result<(Vec<PredictionRecord>, Vec<FeedbackRecord>)> {
        let mut attempt = 0;
        loop {
            match self.read_once(from_ms, to_ms, want) {
                Err(LogError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && attempt + 1 < RELIST_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn read_once(
        &self,
        from_ms: i64,
        to_ms: i64,
        want: Want,
    ) -> Result<(Vec<PredictionRecord>, Vec<FeedbackRecord>)> {
        let (mut preds, mut fbs) = (Vec::new(), Vec::new());
        for dir in &self.dirs {
            read_folder(dir, from_ms, to_ms, want, &mut preds, &mut fbs)?;
        }
        if self.dirs.len() > 1 {
            preds.sort_by_key(|p| p.time_ms);
            fbs.sort_by_key(|f| f.time_ms);
        }
        Ok((preds, fbs))
    }
}

/// Adds the records of one log folder in the window to `preds` and `fbs`.
fn read_folder(
    dir: &Path,
    from_ms: i64,
    to_ms: i64,
    want: Want,
    preds: &mut Vec<PredictionRecord>,
    fbs: &mut Vec<FeedbackRecord>,
) -> Result<()> {
    let listing = Listing::read(dir).map_err(|e| LogError::io(dir, "list log folder", e))?;
    let newest = listing.newest_segment().map(|e| e.seq);
    let mut sources: Vec<(u64, bool, &Path)> = listing
        .segments
        .iter()
        .map(|e| (e.seq, false, e.path.as_path()))
        .chain(
            listing
                .compacted
                .iter()
                .map(|e| (e.seq, true, e.path.as_path())),
        )
        .collect();
    sources.sort_by_key(|s| s.0);
    for (seq, compacted, path) in sources {
        if compacted {
            for (wanted, name) in [
                (want.predictions, PREDICTIONS_FILE),
                (want.feedback, FEEDBACK_FILE),
            ] {
                let file = path.join(name);
                if !wanted || !file.exists() {
                    continue;
                }
                if name == PREDICTIONS_FILE {
                    parquet_io::read_predictions(&file, from_ms, to_ms, preds)?;
                } else {
                    parquet_io::read_feedback(&file, from_ms, to_ms, fbs)?;
                }
            }
            if !path.exists() {
                // Purged while being read: list again.
                return Err(LogError::io(
                    path,
                    "read",
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
            continue;
        }
        let is_newest = Some(seq) == newest;
        if !is_newest
            && let Some(summary) =
                segment::read_footer(path).map_err(|e| LogError::io(path, "read", e))?
            && !summary.overlaps(from_ms, to_ms)
        {
            continue;
        }
        let bytes = std::fs::read(path).map_err(|e| LogError::io(path, "read", e))?;
        let scan = segment::scan(&bytes);
        if let Some((offset, detail)) = scan.bad {
            // The newest segment may end in a record being written now,
            // or torn by a crash and not yet recovered: stop there.
            if !is_newest {
                return Err(LogError::Corrupt {
                    path: path.to_path_buf(),
                    offset,
                    detail,
                });
            }
        }
        for frame in scan.frames {
            let decoded = match frame.kind {
                KIND_PREDICTION if want.predictions => segment::decode_prediction(frame.payload)
                    .map(|p| {
                        if p.time_ms >= from_ms && p.time_ms < to_ms {
                            preds.push(p);
                        }
                    }),
                KIND_FEEDBACK if want.feedback => {
                    segment::decode_feedback(frame.payload).map(|f| {
                        if f.time_ms >= from_ms && f.time_ms < to_ms {
                            fbs.push(f);
                        }
                    })
                }
                _ => Ok(()),
            };
            // scan() decoded every frame already; a failure here is a bug.
            decoded.map_err(|_| LogError::Internal)?;
        }
    }
    Ok(())
}
