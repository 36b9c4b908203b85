//! A fresh bucket per test on the S3-compatible server named by
//! `FATHOM_TEST_S3_ENDPOINT` (`. .ci/s3-setup.sh` starts moto's server
//! locally). Without that variable the S3 tests print that they were
//! SKIPPED and return.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};

use fathom_registry::artifacts::{S3ArtifactStore, S3Options};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A bucket of its own on the test server.
pub struct TestBucket {
    /// `http://host:port`.
    pub endpoint: String,
    /// The bucket's name.
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A new, empty bucket, or `None` (after saying SKIPPED) without a server.
pub fn bucket(test: &str) -> Option<TestBucket> {
    let Ok(endpoint) = std::env::var("FATHOM_TEST_S3_ENDPOINT") else {
        crate::fixture::skipped(format_args!(
            "SKIPPED {test} on S3: FATHOM_TEST_S3_ENDPOINT is not set (run `. .ci/s3-setup.sh` to start a local S3-compatible server)"
        ));
        return None;
    };
    let name: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(30)
        .collect();
    let b = TestBucket {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        bucket: format!(
            "t-{}-{}-{}",
            name.trim_matches('-'),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ),
        access_key_id: std::env::var("FATHOM_TEST_S3_ACCESS_KEY_ID")
            .unwrap_or_else(|_| "fathom-test".into()),
        secret_access_key: std::env::var("FATHOM_TEST_S3_SECRET_ACCESS_KEY")
            .unwrap_or_else(|_| "fathom-test-secret".into()),
    };
    let status = create_bucket(&b.endpoint, &b.bucket);
    assert_eq!(status, 200, "creating bucket {} failed", b.bucket);
    Some(b)
}

impl TestBucket {
    /// Connection settings for the store (no environment read).
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            allow_http: Some(true),
            ..S3Options::default()
        }
    }

    /// A store under `prefix` in this bucket.
    pub fn store(&self, prefix: &str) -> S3ArtifactStore {
        S3ArtifactStore::open(&self.bucket, prefix, &self.options()).expect("open S3 store")
    }

    /// The standard variables a `fathom` process reads to reach the bucket.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Writes `body` at `key` behind the store's back.
    pub fn raw_put(&self, key: &str, body: &[u8]) {
        use object_store::ObjectStoreExt;
        let client = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_allow_http(true)
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(client.put(&key.into(), body.to_vec().into()))
            .expect("raw put");
    }
}

/// Creates a bucket on the test server (which takes unsigned requests);
/// returns the HTTP status.
fn create_bucket(endpoint: &str, bucket: &str) -> u16 {
    let hostport = endpoint
        .strip_prefix("http://")
        .expect("the test endpoint is http://host:port");
    let mut s = TcpStream::connect(hostport).expect("connect to the S3 test server");
    let head = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
