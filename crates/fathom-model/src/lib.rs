//! What a trained fathom model is — everything serving needs and nothing
//! it does not: the artifact envelope with its checksum and the tree ensemble;
//! the compiled scorer and TreeSHAP explanations. No training code.

pub mod artifact;
pub mod container;
mod error;
pub mod pipeline;
pub mod predictor;
pub mod scorer;
pub mod shap;
pub mod tree;

pub use error::ModelError;
