//! The shared vocabulary of fathom.
//!
//! Everything the other crates agree on lives here, free of any I/O:
//!
//! * [`ColumnType`] and [`Role`]: what a column holds and what it is for;
//! * [`Frame`], [`Column`] and [`Bitmap`]: a typed columnar batch with nulls;
//! * [`Schema`] and [`ColumnSpec`]: the schema contract a data set, a model
//!   and a serving endpoint agree on, with a stable [`Schema::hash`];
//! * [`FrameHasher`]: the content hash of canonical column data, used to
//!   address snapshots independently of file format and batching;
//! * [`time`]: fast, dependency-free timestamp parsing and formatting.
//!
//! ```
//! use fathom_core::{Column, Frame};
//!
//! let frame = Frame::new(vec![
//!     Column::numeric("amount", vec![12.5, 3.0]),
//!     Column::boolean("is_online", vec![true, false]),
//! ])
//! .unwrap();
//! assert_eq!(frame.num_rows(), 2);
//! assert_eq!(frame.column("amount").unwrap().null_count(), 0);
//! ```

mod bitmap;
mod error;
mod frame;
mod hash;
mod schema;
pub mod special;
pub mod time;
mod types;

pub use bitmap::Bitmap;
pub use error::CoreError;
pub use frame::{CategoricalData, Column, ColumnData, Frame};
pub use hash::{FrameHasher, sha256_hex};
pub use schema::{ColumnSpec, SCHEMA_FORMAT, Schema};
pub use types::{ColumnType, Role};
