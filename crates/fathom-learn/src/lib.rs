//! fathom's learning engine: plain synchronous code with no server or
//! database dependency.
//!
//! * [`metrics`]: evaluation metrics equal to scikit-learn's.

pub mod metrics;
