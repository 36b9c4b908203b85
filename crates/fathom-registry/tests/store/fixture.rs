//! A fresh store per test on either back end.
//!
//! SQLite stores are files in a temporary folder. PostgreSQL stores are
//! fresh schemas in the database named by `FATHOM_TEST_POSTGRES_URL`;
//! without that variable the PostgreSQL tests print that they were
//! SKIPPED and return (`. .ci/pg-setup.sh` starts a local server).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use fathom_registry::artifacts::LocalArtifactStore;
use fathom_registry::backend::postgres::PostgresBackend;
use fathom_registry::backend::sqlite::SqliteBackend;
use fathom_registry::backend::{Backend, Migration};
use fathom_registry::{ManualClock, SqliteOptions, Store, StoreLocation};

/// Which back end a fixture uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct Fixture {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    /// What `Store::open` takes: a file path or a URL with the schema.
    pub location: String,
    pg: Option<(String, String)>,
}

/// Prints a SKIPPED line straight to the process's stderr, which the test
/// harness does not capture, so it shows even when the test passes.
pub fn skipped(message: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{message}");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    pub fn new(kind: Kind, test: &str) -> Option<Fixture> {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        ));
        match kind {
            Kind::Sqlite => {
                let location = dir.path().join("store/fathom.db").display().to_string();
                Some(Fixture {
                    kind,
                    dir,
                    clock,
                    location,
                    pg: None,
                })
            }
            Kind::Postgres => {
                let Ok(base) = std::env::var("FATHOM_TEST_POSTGRES_URL") else {
                    skipped(format_args!(
                        "SKIPPED {test} on PostgreSQL: FATHOM_TEST_POSTGRES_URL is not set (run `. .ci/pg-setup.sh` to start a local server)"
                    ));
                    return None;
                };
                let schema = format!(
                    "t_{}_{}_{}",
                    test.to_ascii_lowercase(),
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = postgres::Client::connect(&base, postgres::NoTls)
                    .expect("connect to the test PostgreSQL");
                admin
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                    ))
                    .expect("create test schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                let location = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Some(Fixture {
                    kind,
                    dir,
                    clock,
                    location,
                    pg: Some((base, schema)),
                })
            }
        }
    }

    /// Opens the store (a new connection each call) on the test clock.
    pub fn open(&self) -> Store {
        self.try_open().expect("open store")
    }

    pub fn try_open(&self) -> fathom_registry::Result<Store> {
        let location = StoreLocation::parse(&self.location)?;
        Ok(Store::open_location(&location, &SqliteOptions::default())?
            .with_clock(self.clock.clone()))
    }

    /// Runs SQL on the database directly, bypassing the store.
    pub fn raw(&self, sql: &str) -> Result<(), String> {
        match self.kind {
            Kind::Sqlite => {
                if let Some(folder) = std::path::Path::new(&self.location).parent() {
                    std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
                }
                rusqlite::Connection::open(&self.location).and_then(|c| c.execute_batch(sql))
            }
            .map_err(|e| e.to_string()),
            Kind::Postgres => postgres::Client::connect(&self.location, postgres::NoTls)
                .and_then(|mut c| c.batch_execute(sql))
                .map_err(|e| match e.as_db_error() {
                    Some(db) => db.message().to_owned(),
                    None => e.to_string(),
                }),
        }
    }

    /// One integer from a raw query.
    pub fn raw_int(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Sqlite => rusqlite::Connection::open(&self.location)
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .expect("raw query"),
            Kind::Postgres => postgres::Client::connect(&self.location, postgres::NoTls)
                .and_then(|mut c| c.query_one(sql, &[]))
                .map(|r| r.get::<_, i64>(0))
                .expect("raw query"),
        }
    }

    /// This back end's production migrations.
    pub fn migrations(&self) -> &'static [Migration] {
        match self.kind {
            Kind::Sqlite => fathom_registry::backend::sqlite::MIGRATIONS,
            Kind::Postgres => fathom_registry::backend::postgres::MIGRATIONS,
        }
    }

    /// A new connection to the database, as a bare back end.
    pub fn backend(&self) -> Box<dyn Backend> {
        match self.kind {
            Kind::Sqlite => Box::new(
                SqliteBackend::open(
                    std::path::Path::new(&self.location),
                    &SqliteOptions::default(),
                )
                .expect("open sqlite back end"),
            ),
            Kind::Postgres => {
                Box::new(PostgresBackend::connect(&self.location).expect("connect to PostgreSQL"))
            }
        }
    }

    pub fn artifacts(&self) -> LocalArtifactStore {
        LocalArtifactStore::new(self.dir.path().join("artifacts")).expect("artifact store")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg
            && let Ok(mut c) = postgres::Client::connect(base, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}
