//! One module per command group.

pub mod config_show;
pub mod data;
pub mod events;
pub mod gc;
pub mod model;
pub mod models;
pub mod monitor;
pub mod pipeline;
pub mod predict;
pub mod quickstart;
pub mod reproduce;
pub mod runs;
pub mod serve;
pub mod traffic;
pub mod train;
