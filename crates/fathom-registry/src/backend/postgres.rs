//! The scale-out back end: PostgreSQL through the synchronous client over
//! tokio-postgres (it runs its own small runtime, so callers stay
//! synchronous).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, IsolationLevel, NoTls, Statement};

use super::{Backend, Dialect, Executor, Migration, TxMode};
use crate::error::{RegistryError, Result};
use crate::value::{Row, SqlValue};

/// The PostgreSQL migrations, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tracking",
        sql: include_str!("../../migrations/postgres/0001_tracking.sql"),
    },
    Migration {
        version: 2,
        name: "registry",
        sql: include_str!("../../migrations/postgres/0002_registry.sql"),
    },
    Migration {
        version: 3,
        name: "events",
        sql: include_str!("../../migrations/postgres/0003_events.sql"),
    },
    Migration {
        version: 4,
        name: "pipelines",
        sql: include_str!("../../migrations/postgres/0004_pipelines.sql"),
    },
    Migration {
        version: 5,
        name: "log_segments",
        sql: include_str!("../../migrations/postgres/0005_log_segments.sql"),
    },
];

/// A store in a PostgreSQL database.
pub struct PostgresBackend {
    client: Client,
    location: String,
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("location", &self.location)
            .finish()
    }
}

impl PostgresBackend {
    /// Connects to `url` (`postgres://user:password@host:port/database`).
    /// Without a `connect_timeout` in the URL, fathom waits 5 s at most.
    pub fn connect(url: &str) -> Result<Self> {
        let location = redact(url);
        let mut config = Config::from_str(url).map_err(|e| RegistryError::Unreachable {
            location: location.clone(),
            detail: format!("the URL is not valid: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| RegistryError::Unreachable {
                location: location.clone(),
                detail: error_text(&e),
            })?;
        Ok(PostgresBackend {
            client,
            location,
            statements: HashMap::new(),
        })
    }
}

impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn Executor) -> Result<()>,
    ) -> Result<()> {
        let location = &self.location;
        let err = |e: postgres::Error| db_error(location, e);
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(mode == TxMode::Read)
            .start()
            .map_err(err)?;
        let mut ex = PostgresExecutor {
            tx,
            location,
            statements: &mut self.statements,
        };
        body(&mut ex)?;
        ex.tx.commit().map_err(err)
    }
}

struct PostgresExecutor<'a> {
    tx: postgres::Transaction<'a>,
    location: &'a str,
    statements: &'a mut HashMap<String, Statement>,
}

impl PostgresExecutor<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .tx
            .prepare(sql)
            .map_err(|e| db_error(self.location, e))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

impl Executor for PostgresExecutor<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.tx
            .execute(&stmt, &refs)
            .map_err(|e| db_error(self.location, e))
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .tx
            .query(&stmt, &refs)
            .map_err(|e| db_error(self.location, e))?;
        let err = |e: postgres::Error| db_error(self.location, e);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let ty = col.type_();
                let v = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i).map_err(err)?.into()
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(i64::from)
                        .into()
                } else if *ty == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)
                        .map_err(err)?
                        .map(i64::from)
                        .into()
                } else if *ty == Type::FLOAT8 {
                    row.try_get::<_, Option<f64>>(i).map_err(err)?.into()
                } else if *ty == Type::FLOAT4 {
                    row.try_get::<_, Option<f32>>(i)
                        .map_err(err)?
                        .map(f64::from)
                        .into()
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)
                        .map_err(err)?
                        .map(i64::from)
                        .into()
                } else if *ty == Type::TEXT
                    || *ty == Type::VARCHAR
                    || *ty == Type::NAME
                    || *ty == Type::BPCHAR
                {
                    row.try_get::<_, Option<String>>(i).map_err(err)?.into()
                } else {
                    return Err(RegistryError::Database {
                        location: self.location.to_owned(),
                        detail: format!(
                            "column '{}' has type {ty}, which the store does not read; this is a bug in fathom, please report it",
                            col.name()
                        ),
                    });
                };
                values.push(v);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.tx
            .batch_execute(sql)
            .map_err(|e| db_error(self.location, e))
    }
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(v) => {
                if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*v as f64).to_sql(ty, out)
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                    v.to_string().to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            SqlValue::Real(v) => {
                if *ty == Type::FLOAT4 {
                    (*v as f32).to_sql(ty, out)
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                    v.to_string().to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            SqlValue::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match e.source() {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

fn db_error(location: &str, e: postgres::Error) -> RegistryError {
    if e.is_closed() {
        return RegistryError::Unreachable {
            location: location.to_owned(),
            detail: format!("the connection was closed: {}", error_text(&e)),
        };
    }
    RegistryError::Database {
        location: location.to_owned(),
        detail: error_text(&e),
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}://{}:***{}",
                    &url[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}
