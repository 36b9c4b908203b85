//! The store: opening it by location, migrating its schema, and running
//! each operation in one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::postgres::{PostgresBackend, redact};
use crate::backend::sqlite::{SqliteBackend, SqliteOptions};
use crate::backend::{Backend, Dialect, Executor, TxMode};
use crate::clock::{Clock, SystemClock, to_micros};
use crate::error::{RegistryError, Result};
use crate::value::{Row, SqlValue, params};

/// File name of the SQLite database inside a store folder.
pub const SQLITE_FILE_NAME: &str = "fathom.db";

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database URL.
    Postgres(String),
}

impl StoreLocation {
    /// Reads a location: a `postgres://` or `postgresql://` URL; a
    /// `sqlite:PATH` form; a path ending in `.db`, `.sqlite` or `.sqlite3`
    /// (the database file); or any other path, taken as the store folder
    /// holding `fathom.db`.
    pub fn parse(location: &str) -> Result<Self> {
        let s = location.trim();
        if s.is_empty() {
            return Err(RegistryError::BadLocation {
                location: location.into(),
            });
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(s.to_owned()));
        }
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(RegistryError::BadLocation {
                    location: location.into(),
                });
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if s.contains("://") {
            return Err(RegistryError::BadLocation {
                location: location.into(),
            });
        }
        Ok(StoreLocation::Sqlite(Self::sqlite_file(Path::new(s))))
    }

    /// The database file for a path: the path itself if it names a `.db`,
    /// `.sqlite` or `.sqlite3` file, else `fathom.db` inside it.
    pub fn sqlite_file(path: &Path) -> PathBuf {
        let is_file = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "db" | "sqlite" | "sqlite3"));
        if is_file {
            path.to_owned()
        } else {
            path.join(SQLITE_FILE_NAME)
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// The tracking store and model registry.
///
/// One value holds one connection; operations take `&mut self` and each
/// runs in its own transaction. Open one `Store` per thread or process:
/// they coordinate through the database.
pub struct Store {
    backend: Box<dyn Backend>,
    clock: Arc<dyn Clock>,
    pub(crate) artifacts: Option<Arc<dyn crate::artifacts::ArtifactStore>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.backend.location())
            .finish()
    }
}

impl Store {
    /// Opens the store at `location` (see [`StoreLocation::parse`]) with
    /// default settings, creating and migrating it as needed.
    pub fn open(location: &str) -> Result<Self> {
        Self::open_location(&StoreLocation::parse(location)?, &SqliteOptions::default())
    }

    /// Opens the store at a parsed location.
    pub fn open_location(location: &StoreLocation, options: &SqliteOptions) -> Result<Self> {
        match location {
            StoreLocation::Sqlite(path) => Self::open_sqlite(path, options),
            StoreLocation::Postgres(url) => Self::connect_postgres(url),
        }
    }

    /// Opens (or creates) an SQLite store in the file `path`.
    pub fn open_sqlite(path: &Path, options: &SqliteOptions) -> Result<Self> {
        Self::from_backend(Box::new(SqliteBackend::open(path, options)?))
    }

    /// Connects to a PostgreSQL store at `url`, creating its tables on
    /// first use.
    pub fn connect_postgres(url: &str) -> Result<Self> {
        Self::from_backend(Box::new(PostgresBackend::connect(url)?))
    }

    /// A store over any back end: applies the back end's pending
    /// migrations (in one transaction) and refuses a store whose schema is
    /// newer than this build knows.
    pub fn from_backend(backend: Box<dyn Backend>) -> Result<Self> {
        let mut store = Store {
            backend,
            clock: Arc::new(SystemClock),
            artifacts: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Uses `clock` for every timestamp the store writes from now on.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where the store is (file path, or URL without password).
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// The SQL dialect of the back end.
    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    /// The schema version the store is at.
    pub fn schema_version(&mut self) -> Result<i64> {
        self.read(|tx| {
            tx.one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                params![],
            )?
            .int(0)
        })
    }

    /// The highest schema version this build knows for the back end.
    pub fn latest_schema_version(&self) -> i64 {
        self.backend
            .migrations()
            .last()
            .map(|m| m.version)
            .unwrap_or(0)
    }

    fn migrate(&mut self) -> Result<()> {
        let migrations = self.backend.migrations();
        let supported = self.latest_schema_version();
        let location = self.backend.location();
        let now = self.now_micros();
        self.write(|tx| {
            if tx.dialect() == Dialect::Postgres {
                // Two processes opening a new database at once: one migrates,
                // the other waits here and then finds nothing to do.
                tx.exec("SELECT pg_advisory_xact_lock(7423786541)", params![])?;
            }
            tx.ex.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    BIGINT PRIMARY KEY,
                    name       TEXT   NOT NULL,
                    applied_at BIGINT NOT NULL
                )",
            )?;
            let found = tx
                .one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    params![],
                )?
                .int(0)?;
            if found > supported {
                return Err(RegistryError::NewerSchema {
                    location: location.clone(),
                    found,
                    supported,
                });
            }
            for m in migrations.iter().filter(|m| m.version > found) {
                tx.ex.execute_batch(m.sql).map_err(|e| match e {
                    RegistryError::Database { location, detail } => RegistryError::Database {
                        location,
                        detail: format!(
                            "schema migration {} ({}) failed: {detail}; no pending migration was applied and the store is as it was (at version {found})",
                            m.version, m.name
                        ),
                    },
                    other => other,
                })?;
                tx.exec(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    params![m.version, m.name, now],
                )?;
            }
            Ok(())
        })
    }

    /// Now, as stored.
    pub(crate) fn now_micros(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// Runs `body` in a write transaction (the write lock is taken first).
    pub(crate) fn write<T>(&mut self, mut body: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(TxMode::Write, &mut body)
    }

    /// Runs `body` in a read transaction (one consistent view).
    pub(crate) fn read<T>(&mut self, mut body: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(TxMode::Read, &mut body)
    }

    fn transaction<T>(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut out = None;
        self.backend.transaction(mode, &mut |ex| {
            let mut tx = Tx { ex };
            out = Some(body(&mut tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| RegistryError::Database {
            location: self.backend.location(),
            detail:
                "a transaction ended without a result; this is a bug in fathom, please report it"
                    .into(),
        })
    }
}

/// One transaction, with small conveniences over [`Executor`].
pub(crate) struct Tx<'a> {
    pub(crate) ex: &'a mut dyn Executor,
}

impl Tx<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        self.ex.dialect()
    }

    pub(crate) fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        self.ex.execute(sql, params)
    }

    pub(crate) fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        self.ex.query(sql, params)
    }

    /// The first row, if any.
    pub(crate) fn opt(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<Row>> {
        Ok(self.ex.query(sql, params)?.into_iter().next())
    }

    /// The first row; a query that returns none is a bug.
    pub(crate) fn one(&mut self, sql: &str, params: &[SqlValue]) -> Result<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| RegistryError::Database {
                location: "query".into(),
                detail: format!(
                    "expected a row from: {sql}; this is a bug in fathom, please report it"
                ),
            })
    }
}
