//! fathom's model server.
//!
//! `fathom serve` answers predictions over HTTP for one registered model,
//! following its registry aliases: `production` takes the traffic, an
//! optional `canary` a sticky share of it, `shadow` versions score the same
//! requests without answering. Alias moves (promote, rollback) take effect
//! within one poll interval without a restart or a dropped request: the
//! next deployment is built aside and swapped in atomically.
//!
//! * [`contract`]: the request contract and the one record parser;
//! * [`model`]: a loaded version (compiled [`fathom_model::predictor::Predictor`]);
//! * [`rollout`]: slots, sticky routing, per-slot counters;
//! * [`follow`]: reading aliases, loading versions, canary guardrails;
//! * [`api`] and [`docs`]: the endpoints and their OpenAPI description;
//! * [`operate`]: the state-changing endpoints (promote, rollback);
//! * [`dashboard`]: the web page of what is served and how it is doing;
//! * [`ship`]: the prediction log shipped to the artifact store;
//! * [`auth`], [`metrics`], [`state`], [`server`], [`limits`] (body
//!   size and time per request), [`access`] (every answer counted and
//!   logged once).

pub mod access;
pub mod api;
pub mod auth;
pub mod config;
pub mod contract;
pub mod dashboard;
pub mod docs;
pub mod follow;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod operate;
pub mod records;
pub mod rollout;
pub mod server;
pub mod ship;
pub mod state;

pub use config::ServeConfig;
pub use server::{Running, ServeOptions, ServeReport, shutdown_signal, start};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
    /// The token configuration is wrong.
    #[error(transparent)]
    Auth(#[from] auth::AuthConfigError),
    /// The registry store could not be opened.
    #[error(transparent)]
    Registry(#[from] fathom_registry::RegistryError),
    /// The prediction log could not be opened or flushed.
    #[error("prediction log: {0}")]
    Log(#[from] fathom_predlog::LogError),
    /// The address could not be bound, or serving failed.
    #[error(
        "cannot listen on {addr}: {source} (is another server using it? set [serve] listen or --listen)"
    )]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}
