//! Keeping the pool's threads at hand while a model trains.
//!
//! Growing a tree alternates short parallel steps (partitioning a leaf,
//! gathering its rows, building its histograms) with short sequential ones
//! (choosing the next split). Between two parallel steps rayon's idle
//! threads go to sleep, and waking one takes longer than many of the steps
//! last. [`with_ready_workers`] runs training while the pool's other threads
//! poll for work instead of sleeping; they run the very jobs training
//! spawns, so the results do not change, only the wall time (and, on a busy
//! machine, the CPU time spent waiting).

use std::sync::atomic::{AtomicBool, Ordering};

/// Idle polls between two yields of the thread to the OS.
const POLLS_PER_YIELD: u32 = 64;

/// Runs `f` while the other threads of the current rayon pool wait for its
/// jobs by polling.
pub fn with_ready_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    let helpers = rayon::current_num_threads().saturating_sub(1);
    with_helpers(helpers, &done, f)
}

/// Sets `done` when dropped, also when training panics, so that the
/// polling threads stop.
struct Finish<'a>(&'a AtomicBool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Queues `k` polling jobs, then runs `f`. Each `join` queues its polling
/// job before `f` queues any of its own, and idle threads steal the oldest
/// job first, so a polling job is always taken by another thread, never by
/// the thread running `f` while it waits.
fn with_helpers<R: Send>(k: usize, done: &AtomicBool, f: impl FnOnce() -> R + Send) -> R {
    if k == 0 {
        let _finish = Finish(done);
        return f();
    }
    rayon::join(|| with_helpers(k - 1, done, f), || poll(done)).0
}

/// Runs pool jobs as they come until `done`.
fn poll(done: &AtomicBool) {
    let mut idle = 0u32;
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle = 0,
            Some(rayon::Yield::Idle) => {
                idle += 1;
                if idle.is_multiple_of(POLLS_PER_YIELD) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn work_runs_in_any_pool_and_a_panic_comes_back() {
        let n = 100_000u64;
        let want = (n - 1) * n * (2 * n - 1) / 6;
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let sum = pool.install(|| {
                with_ready_workers(|| (0..n).into_par_iter().map(|x| x * x).sum::<u64>())
            });
            assert_eq!(sum, want, "{threads} threads");
            let caught = pool.install(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    with_ready_workers(|| -> u64 { panic!("training failed") })
                }))
            });
            assert!(caught.is_err(), "{threads} threads");
        }
        // Outside any pool: rayon's global pool.
        assert_eq!(with_ready_workers(|| 7), 7);
    }
}
