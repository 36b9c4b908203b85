//! What a trained fathom model is — everything serving needs and nothing
//! it does not: the artifact envelope with its checksum, and (being built)
//! the tree ensemble, the compiled scorer and TreeSHAP. No training code.

pub mod container;
mod error;

pub use error::ModelError;
