//! The statistics: each a plain function on sorted samples or counts,
//! equal to SciPy's on the committed fixtures.

pub mod chi2;
pub mod distance;
pub mod kolmogorov;
pub mod ks;
pub mod proportion;
pub mod special;
