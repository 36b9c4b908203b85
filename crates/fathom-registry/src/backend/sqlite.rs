//! The embedded back end: one SQLite file (WAL mode) under the store folder.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::{Backend, Dialect, Executor, Migration, TxMode};
use crate::error::{RegistryError, Result};
use crate::value::{Row, SqlValue};

/// The SQLite migrations, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tracking",
        sql: include_str!("../../migrations/sqlite/0001_tracking.sql"),
    },
    Migration {
        version: 2,
        name: "registry",
        sql: include_str!("../../migrations/sqlite/0002_registry.sql"),
    },
    Migration {
        version: 3,
        name: "events",
        sql: include_str!("../../migrations/sqlite/0003_events.sql"),
    },
    Migration {
        version: 4,
        name: "pipelines",
        sql: include_str!("../../migrations/sqlite/0004_pipelines.sql"),
    },
    Migration {
        version: 5,
        name: "log_segments",
        sql: include_str!("../../migrations/sqlite/0005_log_segments.sql"),
    },
];

/// Settings of the SQLite back end.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a writer waits for another process's write lock before it
    /// gives up with [`RegistryError::Locked`].
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A store in one SQLite file.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteBackend {
    /// Opens (or creates) the database file at `path`, creating its folder
    /// if needed, and sets WAL mode, the busy timeout and foreign keys.
    ///
    /// A file marked read-only, a file that is not an SQLite database and
    /// a file locked by another process each give their own error, and the
    /// file is not changed.
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| RegistryError::io(parent, e))?;
            let meta = std::fs::metadata(parent).map_err(|e| RegistryError::io(parent, e))?;
            if meta.permissions().readonly() {
                return Err(RegistryError::ReadOnly {
                    path: path.to_owned(),
                    detail: format!("its folder {} is not writable", parent.display()),
                });
            }
        }
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.is_dir() {
                return Err(RegistryError::invalid(
                    path.display().to_string(),
                    "is a folder; give the database file, or the store folder without a .db name",
                ));
            }
            if meta.permissions().readonly() {
                return Err(RegistryError::ReadOnly {
                    path: path.to_owned(),
                    detail: "the file is marked read-only".into(),
                });
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| map_error(path, options.busy_timeout, e))?;
        let backend = SqliteBackend {
            conn,
            path: path.to_owned(),
            busy_timeout: options.busy_timeout,
        };
        backend.configure()?;
        Ok(backend)
    }

    fn configure(&self) -> Result<()> {
        let err = |e| map_error(&self.path, self.busy_timeout, e);
        self.conn.busy_timeout(self.busy_timeout).map_err(err)?;
        self.conn.set_prepared_statement_cache_capacity(128);
        // Reading the journal mode reads the header: a file that is not a
        // database fails here, before anything is written.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(RegistryError::Database {
                    location: self.path.display().to_string(),
                    detail: format!("cannot switch to WAL mode (journal mode stays '{mode}')"),
                });
            }
        }
        // WAL with synchronous=NORMAL: a crash never corrupts the store or
        // loses a committed change; a power cut may lose the last commits.
        // The page cache may grow to 64 MiB (indexes of large stores).
        self.conn
            .execute_batch(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
            )
            .map_err(err)?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn Executor) -> Result<()>,
    ) -> Result<()> {
        let behavior = match mode {
            TxMode::Read => TransactionBehavior::Deferred,
            TxMode::Write => TransactionBehavior::Immediate,
        };
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let tx = self
            .conn
            .transaction_with_behavior(behavior)
            .map_err(|e| map_error(&path, timeout, e))?;
        let mut ex = SqliteExecutor {
            conn: &tx,
            path: &path,
            timeout,
        };
        body(&mut ex)?;
        tx.commit().map_err(|e| map_error(&path, timeout, e))
    }
}

struct SqliteExecutor<'a> {
    conn: &'a Connection,
    path: &'a Path,
    timeout: Duration,
}

impl Executor for SqliteExecutor<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let err = |e| map_error(self.path, self.timeout, e);
        let sql = placeholders(sql);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        let err = |e| map_error(self.path, self.timeout, e);
        let sql = placeholders(sql);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let ncol = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(ncol);
            for i in 0..ncol {
                values.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(v) => SqlValue::Int(v),
                    ValueRef::Real(v) => SqlValue::Real(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| map_error(self.path, self.timeout, e))
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            SqlValue::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Rewrites `$1` placeholders to SQLite's `?1`.
fn placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    for (i, c) in sql.char_indices() {
        if c == '$' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Maps an SQLite error to the store's error, by its code.
pub(crate) fn map_error(path: &Path, timeout: Duration, e: rusqlite::Error) -> RegistryError {
    if let rusqlite::Error::SqliteFailure(ffi, message) = &e {
        let detail = message.clone().unwrap_or_else(|| ffi.to_string());
        match ffi.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return RegistryError::Locked {
                    path: path.to_owned(),
                    waited_ms: timeout.as_millis() as u64,
                };
            }
            ErrorCode::ReadOnly => {
                return RegistryError::ReadOnly {
                    path: path.to_owned(),
                    detail,
                };
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return RegistryError::Corrupt {
                    path: path.to_owned(),
                    detail,
                };
            }
            ErrorCode::CannotOpen => {
                return RegistryError::Io {
                    path: path.to_owned(),
                    source: std::io::Error::other(format!("cannot open the database: {detail}")),
                };
            }
            _ => {}
        }
    }
    RegistryError::Database {
        location: path.display().to_string(),
        detail: e.to_string(),
    }
}
