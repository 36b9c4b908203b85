//! fathom's monitoring engine.
pub mod stats;
