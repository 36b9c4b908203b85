//! Concurrent promotions, from threads and from processes, and a process
//! killed with SIGKILL in the middle of promoting.
//!
//! The invariant checked after each: the `production` alias names exactly
//! one version; its history is an unbroken chain (each move starts from
//! where the previous one ended, so no update was lost); every move has
//! its audit entry and no audit entry lacks its move.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fathom_registry::{Actor, AuditAction, AuditQuery, Promotion, PromotionPolicy, Store};

use crate::fixture::Fixture;
use crate::helpers::register;

const WORKER: &str = "concurrency_tests::worker_promote_loop";

fn setup(f: &Fixture) {
    let mut store = f.open();
    for _ in 0..3 {
        register(&mut store, f, "fraud", 0.70, "s", "h");
    }
}

/// Promotes versions 1, 2, 3, 1, … (starting at `offset`) to production,
/// `iterations` times (0: for 30 s); returns how many moved the alias.
fn promote_loop(store: &mut Store, offset: usize, iterations: usize, started: impl Fn()) -> usize {
    let policy = PromotionPolicy::default();
    let me = Actor::new(format!("worker-{offset}"), "test");
    let mut changed = 0;
    let mut i = 0;
    // Unbounded loops (for the kill test) still end by themselves.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (iterations == 0 && std::time::Instant::now() < deadline) || i < iterations {
        let version = ((i + offset) % 3) as i64 + 1;
        let mv = store
            .promote(
                &Promotion {
                    model: "fraud".into(),
                    version,
                    alias: "production".into(),
                    force: false,
                },
                &policy,
                &me,
                "load",
            )
            .expect("promotion");
        if mv.changed {
            changed += 1;
        }
        if i == 0 {
            started();
        }
        i += 1;
    }
    changed
}

/// Checks the invariant; returns the number of alias moves.
fn check_invariants(f: &Fixture) -> usize {
    let mut store = f.open();
    let history = store.alias_history("fraud", Some("production")).unwrap();
    let mut previous = None;
    for (i, e) in history.iter().enumerate() {
        assert_eq!(
            e.from, previous,
            "move {i} starts from {:?}, the one before ended at {previous:?}",
            e.from
        );
        previous = e.to;
    }
    assert_eq!(
        f.raw_int("SELECT COUNT(*) FROM model_aliases WHERE alias = 'production'"),
        i64::from(!history.is_empty())
    );
    if let Some(last) = history.last() {
        assert_eq!(
            Some(store.resolve("fraud@production").unwrap().version),
            last.to
        );
    }
    let promoted = store
        .audit(&AuditQuery {
            action: Some(AuditAction::Promoted),
            limit: 10_000,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(promoted.len(), history.len());
    let audit_ids: std::collections::BTreeSet<i64> = promoted.iter().map(|e| e.id).collect();
    assert!(history.iter().all(|e| audit_ids.contains(&e.audit_id)));
    history.len()
}

pub fn threads_promoting_at_once_lose_no_update(f: &Fixture) {
    setup(f);
    let changed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                s.spawn(move || {
                    let mut store = f.open();
                    promote_loop(&mut store, t, 25, || {})
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(check_invariants(f), changed);
    assert!(changed > 0);
}

fn worker(f: &Fixture, offset: usize, iterations: usize) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        WORKER,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FATHOM_TEST_WORKER_STORE", &f.location)
    .env("FATHOM_TEST_WORKER_OFFSET", offset.to_string())
    .env("FATHOM_TEST_WORKER_ITERATIONS", iterations.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

pub fn processes_promoting_at_once_lose_no_update(f: &Fixture) {
    setup(f);
    let children: Vec<_> = (0..2)
        .map(|i| worker(f, i, 25).spawn().expect("start worker"))
        .collect();
    let mut changed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "worker failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let n: usize = stdout
            .lines()
            .find_map(|l| l.strip_prefix("changed="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count from worker: {stdout}"));
        changed += n;
    }
    assert_eq!(check_invariants(f), changed);
    assert!(changed > 0);
}

pub fn kill_during_promotions_leaves_old_or_new_alias(f: &Fixture) {
    setup(f);
    for (round, wait_ms) in [20u64, 55, 90].into_iter().enumerate() {
        let mut child = worker(f, round, 0).spawn().expect("start worker");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = lines.any(|l| l.is_ok_and(|l| l.contains("started")));
        assert!(started, "worker did not start");
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().expect("SIGKILL the worker");
        let _ = child.wait();
        let moves = check_invariants(f);
        assert!(moves > round, "round {round}: only {moves} moves");
    }
}

/// Helper process for the tests above; they start it with the store's
/// location in the environment. Run alone it does nothing.
#[test]
#[ignore = "helper process started by the concurrency tests"]
fn worker_promote_loop() {
    let Ok(location) = std::env::var("FATHOM_TEST_WORKER_STORE") else {
        eprintln!(
            "worker_promote_loop: FATHOM_TEST_WORKER_STORE not set; it runs only as a helper process"
        );
        return;
    };
    let offset: usize = std::env::var("FATHOM_TEST_WORKER_OFFSET")
        .unwrap()
        .parse()
        .unwrap();
    let iterations: usize = std::env::var("FATHOM_TEST_WORKER_ITERATIONS")
        .unwrap()
        .parse()
        .unwrap();
    let mut store = Store::open(&location).expect("open store");
    let changed = promote_loop(&mut store, offset, iterations, || {
        use std::io::Write;
        println!("started");
        let _ = std::io::stdout().flush();
    });
    println!("changed={changed}");
}
