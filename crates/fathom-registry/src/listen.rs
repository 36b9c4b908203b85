//! Hearing about registry changes as they commit, instead of polling.
//!
//! On PostgreSQL every registry change (it always records an event) sends
//! `NOTIFY fathom_registry, '<model>'` in its own transaction, delivered at
//! commit. A [`ChangeListener`] holds a separate connection that listens
//! on that channel; `fathom serve` waits on it between polls, so a
//! promotion or rollback reaches it within milliseconds. SQLite has no
//! such mechanism: its readers poll.

use crate::backend::postgres::{error_text, redact};
use crate::{RegistryError, Result, StoreLocation};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use std::str::FromStr;
use std::time::Duration;

/// The notification channel registry changes are announced on.
pub const CHANNEL: &str = "fathom_registry";

/// A connection listening for registry changes.
pub struct ChangeListener {
    client: Client,
    location: String,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("location", &self.location)
            .finish()
    }
}

impl ChangeListener {
    /// Listens on the store at `location`: `Ok(None)` for SQLite (poll
    /// instead), a listener for PostgreSQL.
    pub fn open(location: &str) -> Result<Option<Self>> {
        let StoreLocation::Postgres(url) = StoreLocation::parse(location)? else {
            return Ok(None);
        };
        let location = redact(&url);
        let unreachable = |detail: String| RegistryError::Unreachable {
            location: location.clone(),
            detail,
        };
        let mut config = Config::from_str(&url)
            .map_err(|e| unreachable(format!("the URL is not valid: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let mut client = config
            .connect(NoTls)
            .map_err(|e| unreachable(error_text(&e)))?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| unreachable(error_text(&e)))?;
        Ok(Some(Self { client, location }))
    }

    /// Waits up to `timeout` for changes; returns the models changed (empty
    /// when none came). An error means the connection is lost: open a new
    /// listener (and poll meanwhile).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<String>> {
        let location = self.location.clone();
        let mut models = Vec::new();
        let mut notes = self.client.notifications();
        let first = notes
            .timeout_iter(timeout)
            .next()
            .map_err(|e| RegistryError::Unreachable {
                location: location.clone(),
                detail: error_text(&e),
            })?;
        if let Some(n) = first {
            models.push(n.payload().to_string());
            // Take whatever else is already there, without waiting.
            let mut rest = notes.iter();
            while let Some(n) = rest.next().map_err(|e| RegistryError::Unreachable {
                location: location.clone(),
                detail: error_text(&e),
            })? {
                models.push(n.payload().to_string());
            }
        }
        Ok(models)
    }
}
