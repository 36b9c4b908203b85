//! fathom's learning engine: plain synchronous code with no server or
//! database dependency.
//!
//! * [`gbdt`]: histogram-based, leaf-wise gradient-boosted trees,
//!   bit-identical for any thread count;
//! * [`linear`]: L2 logistic regression equal to scikit-learn's;
//! * [`metrics`]: evaluation metrics equal to scikit-learn's;
//! * [`pipeline`]: fitting the feature pipeline on training rows only;
//! * [`trainer`]: the whole training run for a binary label: split,
//!   pipeline, candidates, comparison, artifact;
//! * [`split`]: seeded stratified, random and time-based splits and
//!   stratified k-fold cross-validation.

pub mod gbdt;
pub mod linear;
pub mod metrics;
pub mod pipeline;
pub mod split;
pub mod trainer;
