//! Shipping the prediction log to the artifact store (`[serve.log] ship`).
//!
//! Every `ship_ms` the shipper compacts the closed segments of this
//! server's log folder, copies each compacted Parquet file to the artifact
//! store (checksummed, content-addressed), records it in the registry
//! store under this folder's replica id with its time range, and marks the
//! folder shipped. A monitoring check on any machine then reads the log of
//! every replica. A round that fails (the store or the bucket away) is
//! counted and tried again at the next one: nothing is marked shipped
//! before it is recorded, and recording twice changes nothing. With a
//! retention, shipped files older than it are forgotten and deleted.

use crate::ServeError;
use fathom_predlog::LogError;
use fathom_predlog::ship::{mark_shipped, replica_id, unshipped};
use fathom_registry::artifacts::ArtifactStore;
use fathom_registry::{NewLogSegment, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often shipped files past the retention are looked for.
const FORGET_EVERY: Duration = Duration::from_secs(3_600);

/// What one round shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipRound {
    /// Compacted segments shipped.
    pub segments: u64,
    /// Files copied and recorded.
    pub files: u64,
    /// Shipped files forgotten by retention.
    pub forgotten: u64,
}

/// Ships one log folder (see the module documentation).
pub struct Shipper {
    dir: PathBuf,
    replica: String,
    store: Store,
    artifacts: Arc<dyn ArtifactStore>,
    retention: Option<Duration>,
    next_forget: Instant,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper")
            .field("dir", &self.dir)
            .field("replica", &self.replica)
            .finish()
    }
}

impl Shipper {
    /// A shipper of the log in `dir` (which must exist) to `artifacts`,
    /// recording in the store at `location`.
    pub fn open(
        location: &str,
        artifacts: &str,
        dir: PathBuf,
        retention: Option<Duration>,
    ) -> Result<Shipper, ServeError> {
        let replica = replica_id(&dir)?;
        let store = Store::open(location)?;
        let artifacts = fathom_registry::artifacts::open_artifact_store(artifacts)?;
        Ok(Shipper {
            dir,
            replica,
            store,
            artifacts,
            retention,
            next_forget: Instant::now(),
        })
    }

    /// This folder's replica id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// One round: compact, ship what is not shipped, apply retention.
    pub fn round(&mut self) -> Result<ShipRound, String> {
        match fathom_predlog::compact(&self.dir) {
            Ok(_) | Err(LogError::CompactionBusy { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut out = ShipRound::default();
        for s in unshipped(&self.dir).map_err(|e| e.to_string())? {
            for f in &s.files {
                let stored = self
                    .artifacts
                    .put_file(&f.path)
                    .map_err(|e| format!("shipping {}: {e}", f.path.display()))?;
                self.store
                    .record_log_segment(&NewLogSegment {
                        replica: self.replica.clone(),
                        seq: s.seq as i64,
                        kind: f.kind.as_str().into(),
                        uri: stored.uri,
                        sha256: stored.sha256,
                        bytes: stored.size_bytes as i64,
                        records: f.rows as i64,
                        min_time_ms: f.min_time_ms,
                        max_time_ms: f.max_time_ms,
                    })
                    .map_err(|e| format!("recording {}: {e}", f.path.display()))?;
                out.files += 1;
            }
            mark_shipped(&self.dir, s.seq).map_err(|e| e.to_string())?;
            out.segments += 1;
        }
        if let Some(retention) = self.retention
            && Instant::now() >= self.next_forget
        {
            let cutoff = now_ms().saturating_sub(retention.as_millis() as i64);
            let gone = self
                .store
                .forget_log_segments(cutoff)
                .map_err(|e| e.to_string())?;
            for g in &gone {
                // One left behind is found by `fathom gc` (nothing records it).
                let _ = self.artifacts.delete(&g.segment.uri);
            }
            out.forgotten = gone.len() as u64;
            self.next_forget = Instant::now() + FORGET_EVERY;
        }
        Ok(out)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
