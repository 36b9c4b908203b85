//! A registry with trained fraud models, a running server and a plain
//! HTTP/1.1 client over TCP.

#![allow(dead_code)]

use fathom_core::{ColumnType, Frame};
use fathom_data::generate::{Generator, GeneratorConfig};
use fathom_learn::trainer::{TrainConfig, default_gbdt, train_binary};
use fathom_model::artifact::ModelArtifact;
use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore};
use fathom_registry::{Actor, NewVersion, Promotion, PromotionPolicy, Store};
use fathom_serve::{Running, ServeConfig, ServeOptions};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A store folder holding model `fraud` with `versions` trained versions
/// (v1 promoted to production), and the rows they were trained on.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub frame: Frame,
    pub artifacts: Vec<ModelArtifact>,
}

impl Fixture {
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join(".fathom")
    }
    pub fn store(&self) -> Store {
        let artifacts = LocalArtifactStore::new(self.store_dir().join("artifacts")).unwrap();
        Store::open(self.store_dir().to_str().unwrap())
            .unwrap()
            .with_artifact_store(Arc::new(artifacts))
    }
    pub fn options(&self, config: ServeConfig) -> ServeOptions {
        ServeOptions {
            config: ServeConfig {
                listen: "127.0.0.1:0".into(),
                poll_ms: 100,
                ..config
            },
            store: self.store_dir().display().to_string(),
            artifacts: Some(self.store_dir().join("artifacts").display().to_string()),
            model: "fraud".into(),
            default_log_dir: self.store_dir().join("predictions"),
            print_events: true,
            promotion: PromotionPolicy::default(),
        }
    }
    /// Registers `artifact` as the next version of `fraud`; returns its number.
    pub fn register(&self, artifact: &ModelArtifact) -> i64 {
        self.register_bytes(&artifact.to_bytes().unwrap(), &artifact.schema.hash())
    }
    /// Registers `bytes` (recorded with their own SHA-256, so the registry
    /// takes them whatever they hold) as the next version; returns its number.
    pub fn register_bytes(&self, bytes: &[u8], schema_hash: &str) -> i64 {
        let stored = LocalArtifactStore::new(self.store_dir().join("artifacts"))
            .unwrap()
            .put_bytes(bytes)
            .unwrap();
        self.store()
            .register_version(
                &NewVersion {
                    model: "fraud".into(),
                    artifact_uri: stored.uri,
                    artifact_sha256: stored.sha256,
                    schema_hash: schema_hash.to_string(),
                    owner: "test".into(),
                    ..NewVersion::default()
                },
                &Actor::new("test", "here"),
                "test version",
            )
            .unwrap()
            .version
    }
    /// Moves `alias` to `version` (forced: tests move aliases freely).
    pub fn set_alias(&self, alias: &str, version: i64) {
        let p = Promotion {
            model: "fraud".into(),
            version,
            alias: alias.into(),
            force: true,
        };
        self.store()
            .promote(
                &p,
                &PromotionPolicy::default(),
                &Actor::new("test", "here"),
                "test",
            )
            .unwrap();
    }
}

/// A runtime with two worker threads, as the server has on this machine.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Server settings with the prediction log off.
pub fn no_log() -> ServeConfig {
    let mut c = ServeConfig::default();
    c.log.enabled = false;
    c
}

pub fn fixture(versions: usize) -> Fixture {
    let frame = fathom_data::generate::generate_all(GeneratorConfig {
        rows: 3000,
        seed: 11,
        fraud_rate: 0.05,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let columns: Vec<(String, ColumnType)> = Generator::columns()
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
    let schema = fathom_data::contract::infer_schema(
        std::iter::once(Ok(frame.clone())),
        columns,
        fathom_data::contract::InferOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join(".fathom");
    let artifact_store = LocalArtifactStore::new(store_dir.join("artifacts")).unwrap();
    let mut store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let me = Actor::new("test", "here");
    let mut artifacts = Vec::new();
    for v in 0..versions {
        let config = TrainConfig {
            candidates: vec!["gbdt".into()],
            seed: 3 + v as u64,
            gbdt: fathom_learn::gbdt::GbdtParams {
                num_rounds: 10 + 10 * v,
                ..default_gbdt()
            },
            ..TrainConfig::default()
        };
        let result = train_binary(&frame, &schema, &config).unwrap();
        let bytes = result.artifact.to_bytes().unwrap();
        let stored = artifact_store.put_bytes(&bytes).unwrap();
        store
            .register_version(
                &NewVersion {
                    model: "fraud".into(),
                    artifact_uri: stored.uri,
                    artifact_sha256: stored.sha256,
                    schema_hash: schema.hash(),
                    owner: "test".into(),
                    ..NewVersion::default()
                },
                &me,
                "test version",
            )
            .unwrap();
        artifacts.push(result.artifact);
    }
    let f = Fixture {
        dir,
        frame,
        artifacts,
    };
    f.set_alias("production", 1);
    f
}

/// Row `i` of `frame` as a JSON record (nulls as null).
pub fn record(frame: &Frame, i: usize) -> Map<String, Value> {
    let mut m = Map::new();
    for c in frame.columns() {
        let v = if !c.is_valid(i) {
            Value::Null
        } else {
            match c.column_type() {
                ColumnType::Numeric => serde_json::json!(c.f64_at(i).unwrap()),
                ColumnType::Bool => Value::Bool(c.display_value(i) == "true"),
                _ => Value::String(c.display_value(i)),
            }
        };
        m.insert(c.name.clone(), v);
    }
    m
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange on a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 4 + size..];
    }
}

/// A writer the access log can be sent to, read back by the test.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The lines written so far, parsed as JSON.
    pub fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    http(addr, "POST", path, &[], &serde_json::to_vec(body).unwrap()).await
}

/// Starts a server on an ephemeral port; returns it serving in the
/// background and a handle that stops it.
pub async fn serve(
    options: ServeOptions,
) -> (
    SocketAddr,
    Arc<fathom_serve::state::AppState>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<fathom_serve::ServeReport>,
) {
    let running: Running = fathom_serve::start(options).await.unwrap();
    let addr = running.addr;
    let state = running.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        running
            .serve(async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
    });
    (addr, state, tx, handle)
}

/// Polls `f` until it holds, for up to five seconds.
pub async fn eventually<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

pub fn artifact_file(store_dir: &Path, sha256: &str) -> PathBuf {
    LocalArtifactStore::new(store_dir.join("artifacts"))
        .unwrap()
        .path_for(sha256)
}

/// The fixture's versions of `fraud` (same artifacts) registered in a fresh
/// PostgreSQL schema, version 1 in production; dropped with the value.
pub struct PgCopy {
    /// `FATHOM_TEST_POSTGRES_URL`.
    pub base: String,
    /// The schema.
    pub schema: String,
    /// The store location: the base URL with the schema as search path.
    pub location: String,
    /// The store, with the fixture's artifact store attached.
    pub store: Store,
    admin: postgres::Client,
}

impl Drop for PgCopy {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

impl PgCopy {
    /// Moves `alias` to `version` (forced).
    pub fn set_alias(&mut self, alias: &str, version: i64) {
        let p = Promotion {
            model: "fraud".into(),
            version,
            alias: alias.into(),
            force: true,
        };
        self.store
            .promote(
                &p,
                &PromotionPolicy::default(),
                &Actor::new("test", "here"),
                "test",
            )
            .unwrap();
    }
}

/// [`PgCopy`] of `f` in schema `serve_<tag>_<pid>`; `None`, after printing
/// SKIPPED for `test`, when no PostgreSQL server is configured.
pub fn pg_copy(f: &Fixture, tag: &str, test: &str) -> Option<PgCopy> {
    let Ok(base) = std::env::var("FATHOM_TEST_POSTGRES_URL") else {
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: FATHOM_TEST_POSTGRES_URL is not set (run `. .ci/pg-setup.sh`)"
            );
        }
        return None;
    };
    let schema = format!("serve_{tag}_{}", std::process::id());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let location = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let artifacts = LocalArtifactStore::new(f.store_dir().join("artifacts")).unwrap();
    let mut store = Store::open(&location)
        .unwrap()
        .with_artifact_store(Arc::new(artifacts));
    let me = Actor::new("test", "here");
    for v in f.store().model_versions("fraud").unwrap() {
        store
            .register_version(
                &NewVersion {
                    model: "fraud".into(),
                    artifact_uri: v.artifact_uri.clone(),
                    artifact_sha256: v.artifact_sha256.clone(),
                    schema_hash: v.schema_hash.clone(),
                    owner: "test".into(),
                    ..NewVersion::default()
                },
                &me,
                "test",
            )
            .unwrap();
    }
    let mut copy = PgCopy {
        base,
        schema,
        location,
        store,
        admin,
    };
    copy.set_alias("production", 1);
    Some(copy)
}
