//! Progress reporting without a user interface: long steps call a
//! [`Progress`] the caller supplies (the command line drives progress bars
//! from it; tests and libraries pass [`Silent`]).

/// Receives progress of a long training run. Implementations must be
/// `Sync`, as steps may report from worker threads.
pub trait Progress: Sync {
    /// A new stage begins with `total` steps, e.g. `("cross-validation", 20)`.
    fn stage(&self, name: &str, total: u64) {
        let _ = (name, total);
    }

    /// What is being worked on now, e.g. `"fold 2/5 · gbdt trial 3/10"`.
    fn item(&self, label: &str) {
        let _ = label;
    }

    /// `n` more steps of the current stage are done.
    fn inc(&self, n: u64) {
        let _ = n;
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
