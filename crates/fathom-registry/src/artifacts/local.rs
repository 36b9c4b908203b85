//! The local artifact store: a folder.
//!
//! It keeps `ROOT/sha256/ab/abcdef…` (the first two hex digits as a
//! folder). A file is written to a temporary file in `ROOT/tmp`, flushed to
//! disk and renamed into place, so a reader never sees half a file; the same
//! content stored twice is one file. Artifacts are named by `file://` URIs
//! with absolute paths.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{ArtifactStore, ListedArtifact, StoredArtifact, check_match, is_sha256, sha256_hex};
use crate::error::{RegistryError, Result};

/// Artifacts in a local folder.
#[derive(Debug, Clone)]
pub struct LocalArtifactStore {
    root: PathBuf,
}

impl LocalArtifactStore {
    /// A store in the folder `root` (created if missing).
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root.join("tmp")).map_err(|e| RegistryError::io(root, e))?;
        let root = std::fs::canonicalize(root).map_err(|e| RegistryError::io(root, e))?;
        Ok(LocalArtifactStore { root })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an artifact with this checksum lives.
    pub fn path_for(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2]).join(sha256)
    }

    fn put_reader(&self, mut input: impl Read, source: &Path) -> Result<StoredArtifact> {
        let tmp_dir = self.root.join("tmp");
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| RegistryError::io(&tmp_dir, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| RegistryError::io(source, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| RegistryError::io(tmp.path(), e))?;
            size += n as u64;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| RegistryError::io(tmp.path(), e))?;
        let sha256 = hex::encode(hasher.finalize());
        let target = self.path_for(&sha256);
        let parent = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(|e| RegistryError::io(parent, e))?;
        if target.exists() {
            // Same content already stored; make sure the copy is intact.
            let (found, _) = hash_file(&target)?;
            if found == sha256 {
                // Stored again now: a garbage collection that started
                // earlier leaves it alone (it spares recent artifacts).
                if let Ok(f) = File::options().write(true).open(&target) {
                    let _ = f.set_modified(std::time::SystemTime::now());
                }
                return Ok(StoredArtifact {
                    uri: file_uri(&target),
                    sha256,
                    size_bytes: size,
                });
            }
        }
        tmp.persist(&target)
            .map_err(|e| RegistryError::io(&target, e.error))?;
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
        Ok(StoredArtifact {
            uri: file_uri(&target),
            sha256,
            size_bytes: size,
        })
    }

    /// The path of `uri` if it is an artifact of this store.
    fn own_path(&self, uri: &str) -> Option<PathBuf> {
        let path = uri_path(uri).ok()?;
        let rel = path.strip_prefix(self.root.join("sha256")).ok()?;
        let mut parts = rel.components().map(|c| c.as_os_str().to_str());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Some(dir)), Some(Some(name)), None)
                if is_sha256(name) && name.starts_with(dir) && dir.len() == 2 =>
            {
                Some(path)
            }
            _ => None,
        }
    }
}

impl ArtifactStore for LocalArtifactStore {
    fn location(&self) -> String {
        file_uri(&self.root)
    }

    fn put_file(&self, path: &Path) -> Result<StoredArtifact> {
        let f = File::open(path).map_err(|e| RegistryError::io(path, e))?;
        self.put_reader(f, path)
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<StoredArtifact> {
        self.put_reader(bytes, Path::new("<bytes>"))
    }

    fn read_verified(&self, uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
        read_file_verified(uri, expected_sha256)
    }

    fn verify(&self, uri: &str, expected_sha256: &str) -> Result<()> {
        verify_file_uri(uri, expected_sha256)
    }

    fn owns(&self, uri: &str) -> bool {
        self.own_path(uri).is_some()
    }

    fn list(&self) -> Result<Vec<ListedArtifact>> {
        let top = self.root.join("sha256");
        let mut out = Vec::new();
        let dirs = match std::fs::read_dir(&top) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(RegistryError::io(&top, e)),
        };
        for dir in dirs {
            let dir = dir.map_err(|e| RegistryError::io(&top, e))?.path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).map_err(|e| RegistryError::io(&dir, e))? {
                let path = file.map_err(|e| RegistryError::io(&dir, e))?.path();
                let uri = file_uri(&path);
                if self.own_path(&uri).is_none() {
                    continue;
                }
                let meta = std::fs::metadata(&path).map_err(|e| RegistryError::io(&path, e))?;
                let modified = meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .map_err(|e| RegistryError::io(&path, e))?;
                let sha256 = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                out.push(ListedArtifact {
                    uri,
                    sha256,
                    size_bytes: meta.len(),
                    modified,
                });
            }
        }
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(out)
    }

    fn delete(&self, uri: &str) -> Result<()> {
        let Some(path) = self.own_path(uri) else {
            return Err(RegistryError::invalid(
                format!("artifact '{uri}'"),
                format!(
                    "is not in the artifact store {}; only the store's own artifacts can be deleted",
                    self.root.display()
                ),
            ));
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    // Drops the two-digit folder once it is empty.
                    let _ = std::fs::remove_dir(parent);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RegistryError::io(&path, e)),
        }
    }
}

/// `file://` URI of an absolute path.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The path of a `file://` URI.
pub fn uri_path(uri: &str) -> Result<PathBuf> {
    match uri.strip_prefix("file://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        _ => Err(RegistryError::invalid(
            format!("artifact '{uri}'"),
            "not a local artifact: expected file:///absolute/path",
        )),
    }
}

/// SHA-256 (hex) and size of a file, read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| RegistryError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| RegistryError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// A missing file is named as a missing artifact.
fn missing_or_io(uri: &str, path: &Path, e: RegistryError) -> RegistryError {
    match e {
        RegistryError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            RegistryError::ArtifactMissing {
                uri: uri.to_owned(),
            }
        }
        RegistryError::Io { source, .. } => RegistryError::io(path, source),
        other => other,
    }
}

/// Checks a local artifact against its recorded checksum.
pub fn verify_file_uri(uri: &str, expected_sha256: &str) -> Result<()> {
    let path = uri_path(uri)?;
    let (actual, _) = hash_file(&path).map_err(|e| missing_or_io(uri, &path, e))?;
    check_match(uri, expected_sha256, actual)
}

/// Reads a local artifact, refusing it if its checksum is not `expected`.
pub(super) fn read_file_verified(uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
    let path = uri_path(uri)?;
    let bytes =
        std::fs::read(&path).map_err(|e| missing_or_io(uri, &path, RegistryError::io(&path, e)))?;
    check_match(uri, expected_sha256, sha256_hex(&bytes))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    /// Gives `good` bytes, then fails.
    struct FailingReader {
        good: usize,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.good == 0 {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = self.good.min(buf.len());
            buf[..n].fill(7);
            self.good -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_source_failing_midway_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifactStore::new(dir.path()).unwrap();
        // More than one read's worth, so the staging file holds a part
        // when the source fails.
        let reader = FailingReader {
            good: (1 << 20) + 10,
        };
        let err = store.put_reader(reader, Path::new("big.bin")).unwrap_err();
        assert!(matches!(err, RegistryError::Io { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("big.bin") && text.contains("the disk went away"),
            "{text}"
        );
        assert_eq!(files_under(dir.path()), Vec::<PathBuf>::new());
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn a_put_whose_key_cannot_be_written_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifactStore::new(dir.path()).unwrap();
        let bytes = b"model bytes";
        let sha = sha256_hex(bytes);
        let target = store.path_for(&sha);

        // The key's folder is taken by a file: the staged copy cannot be
        // moved into place.
        let shard = target.parent().unwrap();
        std::fs::create_dir_all(shard.parent().unwrap()).unwrap();
        std::fs::write(shard, b"in the way").unwrap();
        let err = store.put_bytes(bytes).unwrap_err();
        assert!(matches!(err, RegistryError::Io { .. }), "{err:?}");
        assert!(!target.exists());
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
        std::fs::remove_file(shard).unwrap();

        // The key itself is taken by a folder that is not the artifact.
        std::fs::create_dir_all(target.join("inside")).unwrap();
        let err = store.put_bytes(bytes).unwrap_err();
        assert!(matches!(err, RegistryError::Io { .. }), "{err:?}");
        assert!(target.is_dir(), "the obstacle is left as it was");
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
        assert_eq!(
            files_under(&dir.path().join("sha256")),
            Vec::<PathBuf>::new()
        );
        std::fs::remove_dir_all(&target).unwrap();

        // Once the way is clear the same put stores the artifact whole.
        let stored = store.put_bytes(bytes).unwrap();
        assert_eq!(stored.sha256, sha);
        assert_eq!(std::fs::read(&target).unwrap(), bytes);
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
    }
}
