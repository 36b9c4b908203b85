//! kill -9 under load: every record acknowledged under fsync durability
//! is in the log after a restart.

use crate::record;
use bytes::Bytes;
use fathom_predlog::{Durability, LogConfig, LogError, LogReader, PredictionLog};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the helper process: the log folder it appends to.
const CHILD_DIR: &str = "FATHOM_PREDLOG_CRASH_DIR";
/// Acknowledgements to see before killing the helper.
const KILL_AFTER: usize = 3_000;

/// The helper process: four threads append in fsync mode and print each
/// request id once its ticket has resolved. It runs only when started by
/// `acknowledged_records_survive_kill_9` (ignored otherwise).
#[test]
#[ignore = "helper process of acknowledged_records_survive_kill_9, which starts it"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let config = LogConfig {
        durability: Durability::Fsync,
        segment_max_bytes: 256 * 1024,
        ..LogConfig::new(dir)
    };
    let log = PredictionLog::open(config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let log = &log;
            s.spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let mut pending = Vec::new();
                    for _ in 0..32 {
                        let mut r = record(t << 32 | i, i as i64);
                        // About a kilobyte per record, so writes are sizeable.
                        r.inputs =
                            Bytes::from(format!(r#"{{"pad": "{}", "i": {i}}}"#, "x".repeat(1000)));
                        match log.append(r.clone()) {
                            Ok(ticket) => pending.push((r.request_id, ticket)),
                            Err(LogError::QueueFull) => {}
                            Err(e) => panic!("{e}"),
                        }
                        i += 1;
                    }
                    for (id, ticket) in pending {
                        ticket.wait().unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {id}").unwrap();
                        out.flush().unwrap();
                    }
                }
            });
        }
    });
}

/// Kills the helper if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "crash_test::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = HashSet::new();
    while acked.len() < KILL_AFTER {
        match lines.next() {
            Some(line) => {
                if let Some(id) = line.unwrap().strip_prefix("ACK ") {
                    acked.insert(id.to_string());
                }
            }
            None => panic!("helper ended after {} acknowledgements", acked.len()),
        }
    }
    // SIGKILL, while the helper is still appending.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Lines the helper printed before it died are acknowledgements too.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix("ACK ") {
            acked.insert(id.to_string());
        }
    }

    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let recovery = log.recovery().clone();
    log.shutdown().unwrap();
    let logged: HashSet<String> = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    eprintln!(
        "acknowledged {}, logged {}, recovery {recovery:?}",
        acked.len(),
        logged.len()
    );
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !logged.contains(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the log: {missing:?} (recovery {recovery:?})"
    );
    assert!(logged.len() >= acked.len());
}
