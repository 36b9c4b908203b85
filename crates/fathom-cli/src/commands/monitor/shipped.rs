//! The prediction log of every replica: this machine's log folder plus the
//! files servers shipped to the artifact store (`[serve.log] ship`), kept
//! in a download cache under the store folder.
//!
//! A shipped file is skipped when the local folder still holds the same
//! segment of the same replica; every other file with records at or after
//! the window's start is downloaded once (checksum verified) into
//! `predictions-shipped/<replica>/`, a folder the log reader reads like a
//! replica's own (delete the folder to download everything again). Cached files not needed by this read and unused for a
//! day are removed.

use super::log_dir;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use fathom_predlog::LogReader;
use fathom_predlog::ship::{
    LogFileKind, install_shipped, is_replica_id, local_sequences, replica_id, shipped_path,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The cache folder of shipped log files, under the store folder.
const CACHE: &str = "predictions-shipped";
/// Cached files unused for this long (and not needed now) are removed.
const KEEP_UNUSED: Duration = Duration::from_secs(86_400);

/// What [`open_log`] found.
#[derive(Debug)]
pub struct OpenedLog {
    /// The local folder and the replica caches, read as one log.
    pub reader: LogReader,
    /// The local log folder (named in messages, even when absent).
    pub dir: PathBuf,
    /// Shipped files read from the cache (downloaded or already there).
    pub shipped_files: usize,
}

/// Opens the prediction log for reading records from `from_ms` on: the
/// local folder when it exists, and every shipped file with records at or
/// after `from_ms`. Says what to do when there is neither.
pub fn open_log(config: &Config, from_ms: i64) -> Result<OpenedLog> {
    let dir = log_dir(config);
    let local = dir.is_dir();
    let mut opened = crate::store::open(config)?;
    let shipped = opened
        .store
        .log_segments(None, from_ms, i64::MAX)
        .context("cannot list the shipped prediction-log files in the store")?;
    if !local && shipped.is_empty() {
        bail!(
            "no prediction log at {} and none shipped to the store; serve a model (`fathom serve`), set [serve.log] dir, or turn on [serve.log] ship on the servers",
            dir.display()
        );
    }
    // This machine's own replica: segments it still holds are read locally.
    let own = if local && dir.join("replica.id").exists() {
        Some((replica_id(&dir)?, local_sequences(&dir)?))
    } else {
        None
    };
    let cache_root = config.store.path.join(CACHE);
    let mut wanted = BTreeSet::new();
    let mut replicas = BTreeSet::new();
    for s in &shipped {
        let seg = &s.segment;
        if let Some((id, seqs)) = &own
            && *id == seg.replica
            && seqs.contains(&(seg.seq as u64))
        {
            continue;
        }
        let (Some(kind), true, Ok(seq)) = (
            LogFileKind::parse(&seg.kind),
            is_replica_id(&seg.replica),
            u64::try_from(seg.seq),
        ) else {
            bail!(
                "the store records a shipped log file that is not one ({} {} {}); it was not written by fathom serve",
                seg.replica,
                seg.seq,
                seg.kind
            );
        };
        let cache = cache_root.join(&seg.replica);
        let path = shipped_path(&cache, seq, kind);
        // Files are verified as they are downloaded and installed whole
        // (renamed into place), so a cached file of the recorded size is
        // the file; a damaged one fails to decode, naming its path.
        let cached =
            std::fs::metadata(&path).is_ok_and(|m| i64::try_from(m.len()) == Ok(seg.bytes));
        if cached {
            // Marks it used, so that pruning spares it.
            if let Ok(f) = std::fs::File::options().write(true).open(&path) {
                let _ = f.set_modified(SystemTime::now());
            }
        } else {
            let bytes = fathom_registry::artifacts::read_verified(&seg.uri, &seg.sha256)
                .with_context(|| {
                    format!(
                        "cannot fetch the log file replica {} shipped ({} segment {}) from {}",
                        seg.replica, seg.kind, seg.seq, seg.uri
                    )
                })?;
            install_shipped(&cache, seq, kind, &bytes)?;
        }
        wanted.insert(path);
        replicas.insert(seg.replica.clone());
    }
    prune(&cache_root, &wanted);
    let mut dirs = Vec::new();
    if local {
        dirs.push(dir.clone());
    }
    dirs.extend(replicas.iter().map(|r| cache_root.join(r)));
    let reader = LogReader::open_many(&dirs)
        .with_context(|| format!("cannot open the prediction log at {}", dir.display()))?;
    Ok(OpenedLog {
        reader,
        dir,
        shipped_files: wanted.len(),
    })
}

/// Removes cached files not in `wanted` and unused for a day, and the
/// folders they leave empty. Failures are left for the next read.
fn prune(root: &Path, wanted: &BTreeSet<PathBuf>) {
    let Ok(replicas) = std::fs::read_dir(root) else {
        return;
    };
    for replica in replicas.flatten() {
        let Ok(segments) = std::fs::read_dir(replica.path()) else {
            continue;
        };
        for segment in segments.flatten() {
            let Ok(files) = std::fs::read_dir(segment.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                let old = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > KEEP_UNUSED);
                if old && !wanted.contains(&path) {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let _ = std::fs::remove_dir(segment.path());
        }
        let _ = std::fs::remove_dir(replica.path());
    }
}
