//! fathom's data layer.
//!
//! * [`generate`]: the seeded synthetic card-transaction generator with
//!   drift scenarios;
//! * [`ingest`]: CSV and Parquet into typed [`fathom_core::Frame`] batches,
//!   streaming, with CSV type inference;
//! * [`export`]: frames to CSV or Parquet, atomically;
//! * [`contract`]: schema-contract inference;
//! * [`validate`]: checking data against a contract;
//! * [`snapshot`]: immutable, content-addressed data snapshots;
//! * [`profile`]: exploratory statistics and a self-contained HTML report.
//!
//! ```no_run
//! use fathom_data::ingest::{read_frame, ReadOptions};
//! let frame = read_frame("transactions.csv", &ReadOptions::default())?;
//! println!("{} rows", frame.num_rows());
//! # Ok::<(), fathom_data::DataError>(())
//! ```

mod arrow_bridge;
pub mod contract;
mod error;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod profile;
pub mod snapshot;
pub mod validate;

pub use error::{DataError, Location, Result};
