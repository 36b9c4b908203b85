//! The artifact store: files addressed by their SHA-256, written
//! atomically, checked on every read.
//!
//! Two stores implement [`ArtifactStore`]:
//!
//! * [`LocalArtifactStore`] (the default): a folder, `ROOT/sha256/ab/abcdef…`,
//!   named by `file://` URIs with absolute paths;
//! * `S3ArtifactStore` (cargo feature `s3`): an S3-compatible bucket,
//!   `PREFIX/sha256/ab/abcdef…`, named by `s3://bucket/key` URIs.
//!
//! [`open_artifact_store`] picks one from a location (a path, `file://…` or
//! `s3://bucket/prefix`). Versions and runs keep the URI of each artifact
//! with its checksum; [`read_verified`] and [`verify`] read any such URI by
//! its scheme, so a version stored under one configuration stays readable
//! after the configured store changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

mod local;
#[cfg(feature = "s3")]
mod s3;

pub use local::{LocalArtifactStore, file_uri, hash_file, uri_path, verify_file_uri};
#[cfg(feature = "s3")]
pub use s3::{S3ArtifactStore, S3Options};

/// An artifact as stored: where it is, its checksum and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredArtifact {
    /// Where it is (`file:///…` or `s3://bucket/key`).
    pub uri: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// An artifact found by listing a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedArtifact {
    /// Where it is.
    pub uri: String,
    /// The SHA-256 its name claims (its content is not read by a listing).
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// When it was last written.
    pub modified: DateTime<Utc>,
}

/// A place to keep artifacts. Implementations must write atomically and
/// refuse bytes that do not match the expected checksum.
pub trait ArtifactStore: Send + Sync + std::fmt::Debug {
    /// Where the store is (`file:///root` or `s3://bucket/prefix`).
    fn location(&self) -> String;
    /// Stores a copy of the file at `path`. Content already stored is not
    /// written again.
    fn put_file(&self, path: &Path) -> Result<StoredArtifact>;
    /// Stores `bytes`.
    fn put_bytes(&self, bytes: &[u8]) -> Result<StoredArtifact>;
    /// Reads an artifact, refusing it unless its SHA-256 is `expected`.
    fn read_verified(&self, uri: &str, expected_sha256: &str) -> Result<Vec<u8>>;
    /// Checks that the artifact exists and its SHA-256 is `expected`.
    fn verify(&self, uri: &str, expected_sha256: &str) -> Result<()>;
    /// Whether `uri` names an artifact of this store (what [`list`] would
    /// show and [`delete`] may remove).
    ///
    /// [`list`]: ArtifactStore::list
    /// [`delete`]: ArtifactStore::delete
    fn owns(&self, uri: &str) -> bool;
    /// Every artifact in the store, by URI.
    fn list(&self) -> Result<Vec<ListedArtifact>>;
    /// Removes an artifact of this store; removing one that is already
    /// gone is not an error.
    fn delete(&self, uri: &str) -> Result<()>;
}

/// Where artifacts are kept, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactLocation {
    /// A local folder.
    Local(PathBuf),
    /// An S3-compatible bucket and a key prefix (without slashes at
    /// either end; may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
}

impl ArtifactLocation {
    /// Reads a location: `s3://bucket` or `s3://bucket/prefix`, a
    /// `file:///absolute/path`, or a path (relative paths are taken from the
    /// current folder).
    pub fn parse(location: &str) -> Result<Self> {
        let s = location.trim();
        let bad = |why: &str| {
            RegistryError::invalid(
                format!("artifact store '{location}'"),
                format!("{why}; use a folder path, file:///absolute/path or s3://bucket/prefix"),
            )
        };
        if s.is_empty() {
            return Err(bad("is empty"));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            check_bucket(bucket).map_err(|why| bad(&why))?;
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty()
                && prefix
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
            {
                return Err(bad("the key prefix has an empty, '.' or '..' part"));
            }
            return Ok(ArtifactLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file:// location needs an absolute path"));
            }
            return Ok(ArtifactLocation::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(bad(&format!("the scheme '{scheme}' is not supported")));
        }
        Ok(ArtifactLocation::Local(PathBuf::from(s)))
    }
}

impl std::fmt::Display for ArtifactLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactLocation::Local(p) => write!(f, "{}", p.display()),
            ArtifactLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            ArtifactLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// S3 bucket naming rules (3 to 63 lowercase letters, digits, `.` or `-`,
/// starting and ending with a letter or digit).
fn check_bucket(bucket: &str) -> std::result::Result<(), String> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{bucket}' is not a bucket name (3 to 63 lowercase letters, digits, '.' or '-')"
        ))
    }
}

/// Opens the artifact store at `location` (see [`ArtifactLocation::parse`]).
/// A local folder is created if missing. An S3 store takes its endpoint,
/// region and credentials from the standard `AWS_*` environment variables
/// (see [`S3Options`] when built with the `s3` feature).
pub fn open_artifact_store(location: &str) -> Result<Arc<dyn ArtifactStore>> {
    match ArtifactLocation::parse(location)? {
        ArtifactLocation::Local(path) => Ok(Arc::new(LocalArtifactStore::new(path)?)),
        ArtifactLocation::S3 { bucket, prefix } => open_s3(&bucket, &prefix),
    }
}

#[cfg(feature = "s3")]
fn open_s3(bucket: &str, prefix: &str) -> Result<Arc<dyn ArtifactStore>> {
    Ok(Arc::new(S3ArtifactStore::open(
        bucket,
        prefix,
        &S3Options::from_env(),
    )?))
}

#[cfg(not(feature = "s3"))]
fn open_s3(bucket: &str, _prefix: &str) -> Result<Arc<dyn ArtifactStore>> {
    Err(no_s3(&format!("s3://{bucket}")))
}

#[cfg(not(feature = "s3"))]
fn no_s3(what: &str) -> RegistryError {
    RegistryError::invalid(
        format!("artifact '{what}'"),
        "this fathom was built without S3 support; build fathom-registry with the cargo feature `s3` (fathom-cli enables it by default)",
    )
}

/// Reads the artifact at `uri` by its scheme (`file://` or `s3://`),
/// refusing it unless its SHA-256 is `expected_sha256`. `s3://` URIs are
/// read with the `AWS_*` environment settings.
pub fn read_verified(uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
    if uri.starts_with("file://") {
        local::read_file_verified(uri, expected_sha256)
    } else if uri.starts_with("s3://") {
        read_s3(uri, expected_sha256)
    } else {
        Err(unknown_scheme(uri))
    }
}

/// Checks the artifact at `uri` by its scheme against its recorded
/// checksum (see [`read_verified`]).
pub fn verify(uri: &str, expected_sha256: &str) -> Result<()> {
    if uri.starts_with("file://") {
        verify_file_uri(uri, expected_sha256)
    } else if uri.starts_with("s3://") {
        verify_s3(uri, expected_sha256)
    } else {
        Err(unknown_scheme(uri))
    }
}

#[cfg(feature = "s3")]
fn read_s3(uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
    let (bucket, _) = s3::split_uri(uri)?;
    S3ArtifactStore::open(bucket, "", &S3Options::from_env())?.read_verified(uri, expected_sha256)
}

#[cfg(feature = "s3")]
fn verify_s3(uri: &str, expected_sha256: &str) -> Result<()> {
    let (bucket, _) = s3::split_uri(uri)?;
    S3ArtifactStore::open(bucket, "", &S3Options::from_env())?.verify(uri, expected_sha256)
}

#[cfg(not(feature = "s3"))]
fn read_s3(uri: &str, _expected_sha256: &str) -> Result<Vec<u8>> {
    Err(no_s3(uri))
}

#[cfg(not(feature = "s3"))]
fn verify_s3(uri: &str, _expected_sha256: &str) -> Result<()> {
    Err(no_s3(uri))
}

fn unknown_scheme(uri: &str) -> RegistryError {
    RegistryError::invalid(
        format!("artifact '{uri}'"),
        "cannot be read: artifact URIs are file:///absolute/path or s3://bucket/key",
    )
}

/// Reads through `store` when it holds `uri`, else by the URI's scheme.
pub(crate) fn read_with(
    store: Option<&dyn ArtifactStore>,
    uri: &str,
    expected_sha256: &str,
) -> Result<Vec<u8>> {
    match store {
        Some(s) if s.owns(uri) => s.read_verified(uri, expected_sha256),
        _ => read_verified(uri, expected_sha256),
    }
}

/// Checks through `store` when it holds `uri`, else by the URI's scheme.
pub(crate) fn verify_with(
    store: Option<&dyn ArtifactStore>,
    uri: &str,
    expected_sha256: &str,
) -> Result<()> {
    match store {
        Some(s) if s.owns(uri) => s.verify(uri, expected_sha256),
        _ => verify(uri, expected_sha256),
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `Ok` if `actual` is `expected`, else the mismatch error for `uri`.
pub(crate) fn check_match(uri: &str, expected: &str, actual: String) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::ChecksumMismatch {
            uri: uri.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// Whether `s` is 64 lowercase hex digits.
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Refuses anything but 64 lowercase hex digits.
pub(crate) fn check_sha256(s: &str) -> Result<()> {
    if is_sha256(s) {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            format!("checksum '{s}'"),
            "expected a SHA-256 as 64 lowercase hex digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_or_say_what_is_accepted() {
        assert_eq!(
            ArtifactLocation::parse("s3://models/fathom/prod/").unwrap(),
            ArtifactLocation::S3 {
                bucket: "models".into(),
                prefix: "fathom/prod".into()
            }
        );
        assert_eq!(
            ArtifactLocation::parse("s3://models").unwrap(),
            ArtifactLocation::S3 {
                bucket: "models".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            ArtifactLocation::parse(".fathom/artifacts").unwrap(),
            ArtifactLocation::Local(".fathom/artifacts".into())
        );
        assert_eq!(
            ArtifactLocation::parse("file:///srv/a").unwrap(),
            ArtifactLocation::Local("/srv/a".into())
        );
        for bad in [
            "",
            "s3://",
            "s3://Models/x",
            "s3://ab",
            "s3://models/a//b",
            "s3://models/../x",
            "gs://models/x",
            "file://relative",
        ] {
            let e = ArtifactLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("s3://bucket/prefix"), "{bad}: {e}");
        }
        assert_eq!(
            ArtifactLocation::parse("s3://models/a/b")
                .unwrap()
                .to_string(),
            "s3://models/a/b"
        );
    }
}
