//! The S3 artifact store: an S3-compatible bucket (AWS S3, MinIO, Ceph,
//! R2, …) through `object_store`.
//!
//! Keys are content addresses, `PREFIX/sha256/ab/abcdef…`, named by
//! `s3://bucket/key` URIs. A PUT is atomic on S3 (an object appears whole
//! or not at all; a multipart upload appears when it is completed), and
//! uploads carry their SHA-256 (`x-amz-checksum-sha256`) so the server
//! refuses bytes damaged on the way. Content already stored (same key,
//! same size) is not uploaded again. Every read hashes what it received
//! and refuses a mismatch.
//!
//! The registry API is synchronous: the store owns a small current-thread
//! tokio runtime and waits on it. Called from a thread that is inside a
//! runtime already (a `tokio::task::spawn_blocking` task, which is where
//! async code should call it), it waits on a thread of its own, since
//! one runtime may not be waited on from inside another.

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, Checksum};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use sha2::{Digest, Sha256};

use super::{
    ArtifactStore, ListedArtifact, StoredArtifact, check_bucket, check_match, hash_file, is_sha256,
    sha256_hex,
};
use crate::error::{RegistryError, Result};

/// Part size of multipart uploads (S3 wants at least 5 MiB).
const PART_BYTES: usize = 8 << 20;

/// How to reach the object store. [`S3Options::from_env`] reads the
/// standard variables; fields set here override them.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Start from the `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, …).
    pub use_env: bool,
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Allow an `http://` endpoint (a local test server).
    pub allow_http: Option<bool>,
    /// Files larger than this are uploaded in parts of 8 MiB.
    pub multipart_threshold: u64,
    /// Retries of a failed request (with backoff), and how long to keep
    /// retrying one request.
    pub max_retries: usize,
    /// See `max_retries`.
    pub retry_timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            use_env: false,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
            multipart_threshold: 64 << 20,
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

impl S3Options {
    /// Settings from the `AWS_*` environment variables only.
    pub fn from_env() -> Self {
        S3Options {
            use_env: true,
            ..S3Options::default()
        }
    }
}

/// Artifacts in an S3-compatible bucket.
pub struct S3ArtifactStore {
    bucket: String,
    prefix: String,
    client: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    multipart_threshold: u64,
}

impl std::fmt::Debug for S3ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ArtifactStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// The bucket and key of an `s3://bucket/key` URI.
pub(super) fn split_uri(uri: &str) -> Result<(&str, &str)> {
    let bad = |why: String| {
        RegistryError::invalid(
            format!("artifact '{uri}'"),
            format!("{why}; expected s3://bucket/key"),
        )
    };
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an S3 URI".into()))?;
    let (bucket, key) = rest.split_once('/').ok_or_else(|| bad("no key".into()))?;
    check_bucket(bucket).map_err(bad)?;
    if key.is_empty() {
        return Err(bad("no key".into()));
    }
    Ok((bucket, key))
}

impl S3ArtifactStore {
    /// A store in `bucket` under the key prefix `prefix` (may be empty).
    /// Nothing is sent until the first call; the bucket must exist.
    pub fn open(bucket: &str, prefix: &str, options: &S3Options) -> Result<Self> {
        let location = format!("s3://{bucket}");
        check_bucket(bucket).map_err(|why| RegistryError::invalid(&location, why))?;
        let mut builder = if options.use_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        builder = builder.with_bucket_name(bucket);
        if let Some(e) = &options.endpoint {
            builder = builder.with_endpoint(e);
        }
        if let Some(r) = &options.region {
            builder = builder.with_region(r);
        }
        if let Some(k) = &options.access_key_id {
            builder = builder.with_access_key_id(k);
        }
        if let Some(k) = &options.secret_access_key {
            builder = builder.with_secret_access_key(k);
        }
        if let Some(h) = options.allow_http {
            builder = builder.with_allow_http(h);
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_default();
        let allow_http = builder
            .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if endpoint.starts_with("http://") && !allow_http {
            return Err(RegistryError::ObjectStore {
                location,
                detail: format!(
                    "the endpoint {endpoint} is plain HTTP, which is refused unless AWS_ALLOW_HTTP=true (use that only for a local test server)"
                ),
            });
        }
        let client = builder
            .with_checksum_algorithm(Checksum::SHA256)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: options.max_retries,
                retry_timeout: options.retry_timeout,
            })
            .build()
            .map_err(|e| RegistryError::ObjectStore {
                location: location.clone(),
                detail: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistryError::ObjectStore {
                location,
                detail: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(S3ArtifactStore {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            client: Arc::new(client),
            runtime,
            multipart_threshold: options.multipart_threshold,
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (empty for the bucket's top).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of the folder holding the artifacts.
    fn top(&self) -> String {
        if self.prefix.is_empty() {
            "sha256".to_owned()
        } else {
            format!("{}/sha256", self.prefix)
        }
    }

    /// The key an artifact with this checksum has.
    pub fn key_for(&self, sha256: &str) -> String {
        format!("{}/{}/{sha256}", self.top(), &sha256[..2])
    }

    /// The URI of an artifact with this checksum.
    pub fn uri_for(&self, sha256: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key_for(sha256))
    }

    /// Waits for `f` on the store's runtime. A thread that is inside a
    /// runtime already (a `spawn_blocking` task, say) may not wait on
    /// another one, so there the wait happens on a short-lived thread of
    /// its own.
    fn block_on<F>(&self, f: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(self.runtime.block_on(f));
        }
        std::thread::scope(|s| s.spawn(|| self.runtime.block_on(f)).join()).map_err(|_| {
            RegistryError::invalid(
                format!("s3://{}", self.bucket),
                "an S3 request stopped with a panic",
            )
        })
    }

    fn error(&self, uri: &str, e: object_store::Error) -> RegistryError {
        match e {
            object_store::Error::NotFound { .. } => RegistryError::ArtifactMissing {
                uri: uri.to_owned(),
            },
            other => RegistryError::ObjectStore {
                location: uri.to_owned(),
                detail: other.to_string(),
            },
        }
    }

    /// An error of a write or a listing: a missing bucket is not a missing
    /// artifact.
    fn write_error(&self, uri: &str, e: object_store::Error) -> RegistryError {
        let detail = match e {
            object_store::Error::NotFound { .. } => {
                format!("bucket '{}' does not exist", self.bucket)
            }
            other => other.to_string(),
        };
        RegistryError::ObjectStore {
            location: uri.to_owned(),
            detail,
        }
    }

    /// The object key of a URI in this store's bucket.
    fn key_of(&self, uri: &str) -> Result<ObjectPath> {
        let (bucket, key) = split_uri(uri)?;
        if bucket != self.bucket {
            return Err(RegistryError::invalid(
                format!("artifact '{uri}'"),
                format!(
                    "is in bucket '{bucket}', not in this store's bucket '{}'",
                    self.bucket
                ),
            ));
        }
        ObjectPath::parse(key).map_err(|e| {
            RegistryError::invalid(format!("artifact '{uri}'"), format!("bad key: {e}"))
        })
    }

    /// The size of the object at `key`, or `None` if there is none.
    fn stored_size(&self, key: &ObjectPath, uri: &str) -> Result<Option<u64>> {
        match self.block_on(self.client.head(key))? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(uri, e)),
        }
    }

    fn stored(&self, sha256: String, size: u64) -> StoredArtifact {
        StoredArtifact {
            uri: self.uri_for(&sha256),
            sha256,
            size_bytes: size,
        }
    }

    /// Uploads a large file in parts, hashing it again on the way; the
    /// upload is abandoned if the file changed since it was hashed.
    fn put_multipart(&self, path: &Path, key: &ObjectPath, sha256: &str, uri: &str) -> Result<()> {
        let mut file = std::fs::File::open(path).map_err(|e| RegistryError::io(path, e))?;
        let client = self.client.clone();
        self.block_on(async move {
            let upload = client
                .put_multipart(key)
                .await
                .map_err(|e| self.write_error(uri, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(RegistryError::io(path, e));
                    }
                };
                hasher.update(&buf[..n]);
                writer.write(&buf[..n]);
                writer
                    .wait_for_capacity(2)
                    .await
                    .map_err(|e| self.write_error(uri, e))?;
            }
            let actual = hex::encode(hasher.finalize());
            if actual != sha256 {
                let _ = writer.abort().await;
                return Err(RegistryError::Conflict(format!(
                    "{}: the file changed while it was being stored; store it again once it is complete",
                    path.display()
                )));
            }
            writer
                .finish()
                .await
                .map_err(|e| self.write_error(uri, e))?;
            Ok(())
        })?
    }
}

impl ArtifactStore for S3ArtifactStore {
    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn put_file(&self, path: &Path) -> Result<StoredArtifact> {
        let size = std::fs::metadata(path)
            .map_err(|e| RegistryError::io(path, e))?
            .len();
        if size <= self.multipart_threshold {
            let bytes = std::fs::read(path).map_err(|e| RegistryError::io(path, e))?;
            return self.put_bytes(&bytes);
        }
        let (sha256, size) = hash_file(path)?;
        let uri = self.uri_for(&sha256);
        let key = ObjectPath::from(self.key_for(&sha256));
        if self.stored_size(&key, &uri)? != Some(size) {
            self.put_multipart(path, &key, &sha256, &uri)?;
        }
        Ok(self.stored(sha256, size))
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<StoredArtifact> {
        let sha256 = sha256_hex(bytes);
        let size = bytes.len() as u64;
        let uri = self.uri_for(&sha256);
        let key = ObjectPath::from(self.key_for(&sha256));
        if self.stored_size(&key, &uri)? != Some(size) {
            let payload = PutPayload::from(bytes.to_vec());
            self.block_on(self.client.put(&key, payload))?
                .map_err(|e| self.write_error(&uri, e))?;
        }
        Ok(self.stored(sha256, size))
    }

    fn read_verified(&self, uri: &str, expected_sha256: &str) -> Result<Vec<u8>> {
        let key = self.key_of(uri)?;
        let bytes: Bytes = self
            .block_on(async {
                let got = self.client.get(&key).await?;
                got.bytes().await
            })?
            .map_err(|e| self.error(uri, e))?;
        check_match(uri, expected_sha256, sha256_hex(&bytes))?;
        Ok(bytes.to_vec())
    }

    fn verify(&self, uri: &str, expected_sha256: &str) -> Result<()> {
        let key = self.key_of(uri)?;
        let actual = self
            .block_on(async {
                let mut stream = self.client.get(&key).await?.into_stream();
                let mut hasher = Sha256::new();
                while let Some(chunk) = stream.next().await {
                    hasher.update(&chunk?);
                }
                Ok::<_, object_store::Error>(hex::encode(hasher.finalize()))
            })?
            .map_err(|e| self.error(uri, e))?;
        check_match(uri, expected_sha256, actual)
    }

    fn owns(&self, uri: &str) -> bool {
        let Ok((bucket, key)) = split_uri(uri) else {
            return false;
        };
        let Some(rest) = key
            .strip_prefix(self.top().as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        match rest.split_once('/') {
            Some((dir, name)) => {
                bucket == self.bucket && dir.len() == 2 && is_sha256(name) && name.starts_with(dir)
            }
            None => false,
        }
    }

    fn list(&self) -> Result<Vec<ListedArtifact>> {
        let top = ObjectPath::from(self.top());
        let location = self.location();
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(self.client.list(Some(&top)).try_collect())?
            .map_err(|e| self.write_error(&location, e))?;
        let mut out: Vec<ListedArtifact> = metas
            .into_iter()
            .filter_map(|m| {
                let uri = format!("s3://{}/{}", self.bucket, m.location);
                let sha256 = m.location.filename()?.to_owned();
                self.owns(&uri).then_some(ListedArtifact {
                    uri,
                    sha256,
                    size_bytes: m.size,
                    modified: m.last_modified,
                })
            })
            .collect();
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(out)
    }

    fn delete(&self, uri: &str) -> Result<()> {
        if !self.owns(uri) {
            return Err(RegistryError::invalid(
                format!("artifact '{uri}'"),
                format!(
                    "is not in the artifact store {}; only the store's own artifacts can be deleted",
                    self.location()
                ),
            ));
        }
        let key = self.key_of(uri)?;
        match self.block_on(self.client.delete(&key))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(uri, e)),
        }
    }
}
