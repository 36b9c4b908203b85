//! Immutable, content-addressed snapshots of data sets.
//!
//! A snapshot is a Parquet copy of a table plus a manifest, stored under
//! `<store>/snapshots/<id>/` where `id` is the [`FrameHasher`] content hash
//! of the canonical column data: the same table read from CSV or Parquet,
//! in any batching, is one snapshot. Creating a snapshot writes into a
//! temporary folder and renames it into place, so a snapshot either exists
//! whole or not at all.

use crate::error::{DataError, Result};
use crate::export::{TableWriter, write_atomic};
use crate::ingest::{ReadOptions, open};
use fathom_core::{ColumnSpec, ColumnType, FrameHasher, Role, Schema};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest stored beside each snapshot's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// Content hash of the canonical column data; the snapshot's id.
    pub id: String,
    /// Rows in the table.
    pub rows: u64,
    /// Column names and types, in order.
    pub columns: Vec<SnapshotColumn>,
    /// Hash of the schema contract given when the snapshot was made, or
    /// else of the columns' names and types.
    pub schema_hash: String,
    /// Whether `schema_hash` is of a contract (`contract`) or of the
    /// column structure alone (`structure`).
    pub schema_source: String,
    /// The file the data came from.
    pub source: String,
    /// When the snapshot was made (RFC 3339, UTC).
    pub created_at: String,
    /// Size of the stored Parquet data in bytes.
    pub bytes: u64,
    /// The fathom version that made it.
    pub fathom_version: String,
}

/// A column of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotColumn {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// The folder of snapshots inside a fathom store.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: PathBuf,
}

/// The outcome of [`SnapshotStore::create`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The manifest of the snapshot (new or already present).
    pub manifest: SnapshotManifest,
    /// False when an identical snapshot already existed.
    pub is_new: bool,
}

const MANIFEST: &str = "manifest.json";
const DATA: &str = "data.parquet";

impl SnapshotStore {
    /// The snapshot folder of the store at `store_root` (e.g. `.fathom`).
    pub fn new(store_root: impl AsRef<Path>) -> Self {
        SnapshotStore {
            root: store_root.as_ref().join("snapshots"),
        }
    }

    /// Where snapshots live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data file of snapshot `id`.
    pub fn data_path(&self, id: &str) -> PathBuf {
        self.root.join(id).join(DATA)
    }

    /// Snapshots `source`, or finds the identical one already stored.
    /// `progress` is called with the fraction of the source read.
    pub fn create(
        &self,
        source: &Path,
        schema: Option<&Schema>,
        mut progress: impl FnMut(f64),
    ) -> Result<Created> {
        std::fs::create_dir_all(&self.root).map_err(|e| DataError::io(&self.root, e))?;
        let options = ReadOptions {
            schema: schema.cloned(),
            ..Default::default()
        };
        let mut reader = open(source, &options)?;
        let columns = reader.columns();
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&self.root)
            .map_err(|e| DataError::io(&self.root, e))?;
        let mut writer = TableWriter::create(staging.path().join(DATA), &columns)?;
        let mut hasher = FrameHasher::default();
        #[allow(clippy::while_let_on_iterator)] // the reader is asked for progress inside the loop
        while let Some(batch) = reader.next() {
            let batch = batch?;
            hasher.update(&batch)?;
            writer.write(&batch)?;
            progress(reader.progress());
        }
        let rows = hasher.rows();
        if rows == 0 {
            return Err(DataError::NoDataRows {
                path: source.to_path_buf(),
                what: "a snapshot",
            });
        }
        let summary = writer.finish()?;
        let id = hasher.finish();
        let final_dir = self.root.join(&id);
        if final_dir.join(MANIFEST).is_file() {
            return Ok(Created {
                manifest: self.get(&id)?,
                is_new: false,
            });
        }
        let (schema_hash, schema_source) = match schema {
            Some(s) => (s.hash(), "contract"),
            None => (
                Schema::new(
                    columns
                        .iter()
                        .map(|(n, t)| ColumnSpec::new(n.clone(), *t, Role::Feature))
                        .collect(),
                )
                .hash(),
                "structure",
            ),
        };
        let manifest = SnapshotManifest {
            id: id.clone(),
            rows,
            columns: columns
                .iter()
                .map(|(n, t)| SnapshotColumn {
                    name: n.clone(),
                    column_type: *t,
                })
                .collect(),
            schema_hash,
            schema_source: schema_source.into(),
            source: source.display().to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            bytes: summary.bytes,
            fathom_version: env!("CARGO_PKG_VERSION").into(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| DataError::Snapshot {
            id: id.clone(),
            message: e.to_string(),
        })?;
        write_atomic(staging.path().join(MANIFEST), &json)?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &final_dir) {
            let _ = std::fs::remove_dir_all(&staged);
            // Another process may have made the same snapshot meanwhile.
            if final_dir.join(MANIFEST).is_file() {
                return Ok(Created {
                    manifest: self.get(&id)?,
                    is_new: false,
                });
            }
            return Err(DataError::io(&final_dir, e));
        }
        Ok(Created {
            manifest,
            is_new: true,
        })
    }

    /// The manifest of snapshot `id` (a unique prefix of at least 6 characters will do).
    pub fn get(&self, id: &str) -> Result<SnapshotManifest> {
        let full = self.resolve(id)?;
        let path = self.root.join(&full).join(MANIFEST);
        let text = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| DataError::Snapshot {
            id: full,
            message: format!("manifest is damaged: {e}"),
        })
    }

    fn resolve(&self, id: &str) -> Result<String> {
        if self.root.join(id).join(MANIFEST).is_file() {
            return Ok(id.to_string());
        }
        let matches: Vec<String> = self
            .list()?
            .into_iter()
            .map(|m| m.id)
            .filter(|m| id.len() >= 6 && m.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(DataError::Snapshot {
                id: id.into(),
                message: format!(
                    "no such snapshot in {}; `fathom data snapshots` lists them",
                    self.root.display()
                ),
            }),
            _ => Err(DataError::Snapshot {
                id: id.into(),
                message: "the prefix matches several snapshots; give more characters".into(),
            }),
        }
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<SnapshotManifest>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(out);
        };
        for entry in entries.flatten() {
            let path = entry.path().join(MANIFEST);
            if let Ok(text) = std::fs::read(&path)
                && let Ok(m) = serde_json::from_slice::<SnapshotManifest>(&text)
            {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}
