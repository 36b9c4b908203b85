//! The artifact store: files addressed by their SHA-256, written
//! atomically, checked on every read.
//!
//! The local store keeps `ROOT/sha256/ab/abcdef…` (the first two hex digits
//! as a folder). A file is written to a temporary file in `ROOT/tmp`,
//! flushed to disk and renamed into place, so a reader never sees half a
//! file; the same content stored twice is one file. Artifacts are named
//! by `file://` URIs with absolute paths.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

/// An artifact as stored: where it is, its checksum and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredArtifact {
    /// Where it is (`file:///…`).
    pub uri: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// A place to keep artifacts. Implementations must write atomically and
/// refuse bytes that do not match the expected checksum.
pub trait ArtifactStore: Send + Sync {
    /// Stores a copy of the file at `path`.
    fn put_file(&self, path: &Path) -> Result<StoredArtifact>;
    /// Stores `bytes`.
    fn put_bytes(&self, bytes: &[u8]) -> Result<StoredArtifact>;
    /// Reads an artifact, refusing it unless its SHA-256 is `expected`.
    fn read_verified(&self, uri: &str, expected_sha256: &str) -> Result<Vec<u8>>;
    /// Checks that the artifact exists and its SHA-256 is `expected`.
    fn verify(&self, uri: &str, expected_sha256: &str) -> Result<()>;
}

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
}

impl ArtifactStore for LocalArtifactStore {
    fn put_file(&self, path: &Path) -> Result<StoredArtifact> {
        let f = File::open(path).map_err(|e| RegistryError::io(path, e))?;
        self.put_reader(f, path)
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<StoredArtifact> {
        self.put_reader(bytes, Path::new("<bytes>"))
    }

    fn read_verified(&self, uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
        read_verified(uri, expected_sha256)
    }

    fn verify(&self, uri: &str, expected_sha256: &str) -> Result<()> {
        verify_file_uri(uri, expected_sha256)
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
            "not a local artifact: expected file:///absolute/path (object storage needs its artifact store configured)",
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

/// Checks a local artifact against its recorded checksum.
pub fn verify_file_uri(uri: &str, expected_sha256: &str) -> Result<()> {
    let path = uri_path(uri)?;
    let (actual, _) = hash_file(&path)?;
    if actual != expected_sha256 {
        return Err(RegistryError::ChecksumMismatch {
            uri: uri.to_owned(),
            expected: expected_sha256.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Reads a local artifact, refusing it if its checksum is not `expected`.
pub fn read_verified(uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
    let path = uri_path(uri)?;
    let bytes = std::fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected_sha256 {
        return Err(RegistryError::ChecksumMismatch {
            uri: uri.to_owned(),
            expected: expected_sha256.to_owned(),
            actual,
        });
    }
    Ok(bytes)
}

/// Refuses anything but 64 lowercase hex digits.
pub(crate) fn check_sha256(s: &str) -> Result<()> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            format!("checksum '{s}'"),
            "expected a SHA-256 as 64 lowercase hex digits",
        ))
    }
}
