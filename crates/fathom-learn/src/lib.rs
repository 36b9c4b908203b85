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
//!   stratified k-fold cross-validation;
//! * [`cv`]: cross-validation of the candidates (per-fold figures, mean ±
//!   standard deviation);
//! * [`search`]: grid and random hyper-parameter search over a declared
//!   space, scored by cross-validation;
//! * [`feature_selection`]: mutual information and GBDT gain shares,
//!   reported and optionally applied;
//! * [`ensemble`]: soft-voting and stacking ensembles of the candidates;
//! * [`progress`]: progress reporting for long runs, without a user interface.

mod candidates;
pub mod cv;
pub mod ensemble;
pub mod feature_selection;
pub mod gbdt;
pub mod linear;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod search;
pub mod split;
pub mod trainer;
