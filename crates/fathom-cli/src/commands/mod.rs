//! One module per command group.

pub mod data;
pub mod quickstart;
pub mod train;
