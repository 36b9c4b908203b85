//! The store trait: what a database back end must provide.
//!
//! Tracking and registry logic is written once, in SQL that both back
//! ends understand, over [`Executor`]. A back end supplies connections,
//! transactions with the right locking, its migrations and the mapping of
//! its errors. Parameters are written `$1`, `$2`, … in every statement;
//! the SQLite back end rewrites them to `?1`, `?2`, ….

use crate::error::Result;
use crate::value::{Row, SqlValue};

pub mod postgres;
pub mod sqlite;

/// Which SQL dialect a back end speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35 or newer.
    Sqlite,
    /// PostgreSQL 12 or newer.
    Postgres,
}

impl Dialect {
    /// Suffix that locks the selected rows until the transaction ends.
    /// SQLite's write transactions already hold the whole database.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Case-insensitive pattern match operator.
    pub fn like(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }
}

/// Whether a transaction reads only or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Reads a consistent view; never blocks writers.
    Read,
    /// Takes the write lock at the start (SQLite `BEGIN IMMEDIATE`), so two
    /// writers never interleave and no update is lost.
    Write,
}

/// Runs statements inside one transaction.
pub trait Executor {
    /// The dialect of this connection.
    fn dialect(&self) -> Dialect;
    /// Runs one statement and returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64>;
    /// Runs one query and returns all its rows.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>>;
    /// Runs several statements without parameters (migrations).
    fn execute_batch(&mut self, sql: &str) -> Result<()>;
}

/// One versioned schema migration: plain SQL for one back end.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version number, from 1, without gaps.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// A database back end of the store.
pub trait Backend: Send {
    /// The dialect it speaks.
    fn dialect(&self) -> Dialect;
    /// Where it is, for messages (file path, or URL without password).
    fn location(&self) -> String;
    /// Its migrations, in version order.
    fn migrations(&self) -> &'static [Migration];
    /// Runs `body` in one transaction: committed if it returns `Ok`, rolled
    /// back otherwise (also if the process dies before the commit).
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn Executor) -> Result<()>,
    ) -> Result<()>;
}
