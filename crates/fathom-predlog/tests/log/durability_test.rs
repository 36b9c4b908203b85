use crate::record;
use fathom_predlog::{Durability, LogConfig, LogError, LogReader, PredictionLog};
use std::time::Duration;

#[test]
fn a_full_queue_refuses_without_blocking_and_counts_the_drop() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        queue_capacity: 2,
        max_batch: 1,
        ..LogConfig::new(dir.path())
    };
    let log = PredictionLog::open(config).unwrap();
    let (mut accepted, mut refused) = (Vec::new(), 0u64);
    // One fsync per record against a queue of two: the queue fills at once.
    let mut i = 0;
    while refused < 50 && i < 1_000_000 {
        match log.append(record(i, i as i64)) {
            Ok(t) => accepted.push((i, t)),
            Err(LogError::QueueFull) => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
        i += 1;
    }
    assert!(refused > 0, "the queue never filled");
    assert_eq!(log.stats().dropped, refused);
    let stats = log.shutdown().unwrap();
    assert_eq!(stats.dropped, refused);
    assert_eq!(stats.written, accepted.len() as u64);
    assert_eq!(stats.written + stats.dropped, i);
    let want: Vec<_> = accepted
        .iter()
        .map(|(i, _)| record(*i, 0).request_id)
        .collect();
    for (_, t) in accepted {
        t.wait().unwrap();
    }
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    let ids: Vec<_> = read.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(ids, want, "exactly the accepted records, in order");
}

#[test]
fn shutdown_drains_every_queued_record_in_buffered_mode() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        durability: Durability::Buffered,
        // Nothing would be written for a minute but for the shutdown.
        flush_interval: Duration::from_secs(60),
        max_batch: 100_000,
        ..LogConfig::new(dir.path())
    };
    let log = PredictionLog::open(config).unwrap();
    let tickets: Vec<_> = (0..5_000)
        .map(|i| log.append(record(i, i as i64)).unwrap())
        .collect();
    let stats = log.shutdown().unwrap();
    assert_eq!((stats.written, stats.queued, stats.dropped), (5_000, 0, 0));
    for t in tickets {
        t.wait().unwrap();
    }
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(
        read,
        (0..5_000).map(|i| record(i, i as i64)).collect::<Vec<_>>()
    );
}

#[test]
fn dropping_the_log_drains_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        durability: Durability::Buffered,
        flush_interval: Duration::from_secs(60),
        ..LogConfig::new(dir.path())
    };
    {
        let log = PredictionLog::open(config).unwrap();
        for i in 0..300 {
            log.append_detached(record(i, i as i64)).unwrap();
        }
    }
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(read.len(), 300);
}

#[test]
fn buffered_tickets_resolve_after_the_write_to_the_os() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        durability: Durability::Buffered,
        flush_interval: Duration::from_millis(20),
        ..LogConfig::new(dir.path())
    };
    let log = PredictionLog::open(config).unwrap();
    let tickets: Vec<_> = (0..1_000)
        .map(|i| log.append(record(i, i as i64)).unwrap())
        .collect();
    for t in tickets {
        t.wait().unwrap();
    }
    // Written to the OS: visible to a reader before shutdown.
    assert_eq!(
        LogReader::open(dir.path())
            .unwrap()
            .predictions(0, 1_000)
            .unwrap()
            .len(),
        1_000
    );
    assert_eq!(log.shutdown().unwrap().written, 1_000);
}

#[test]
fn concurrent_appenders_each_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig {
        max_batch: 16,
        ..LogConfig::new(dir.path())
    })
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let log = &log;
            s.spawn(move || {
                let tickets: Vec<_> = (0..500)
                    .map(|i| log.append(record(t * 1_000 + i, i as i64)).unwrap())
                    .collect();
                for t in tickets {
                    t.wait().unwrap();
                }
            });
        }
    });
    let stats = log.shutdown().unwrap();
    assert_eq!(stats.written, 2_000);
    assert!(
        stats.fsyncs >= 2_000 / 16,
        "at most max_batch records per fsync: {stats:?}"
    );
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    for t in 0..4u64 {
        let mine: Vec<_> = read
            .iter()
            .filter(|r| {
                r.request_id
                    .ends_with(&format!("{:012x}", t * 1_000 + r.time_ms as u64))
            })
            .map(|r| r.time_ms)
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>(), "appender {t}");
    }
}

#[test]
fn an_empty_session_leaves_no_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let stats = log.shutdown().unwrap();
    assert_eq!(stats.written, 0);
    assert!(crate::segment_files(dir.path()).is_empty());
}

#[test]
fn one_fsync_covers_the_records_appended_meanwhile_in_fsync_mode() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        durability: Durability::Fsync,
        ..LogConfig::new(dir.path())
    };
    let log = PredictionLog::open(config).unwrap();
    let (threads, each) = (8u64, 250u64);
    // Eight appenders at once, as request handlers append: every ticket
    // resolves only once its record is fsynced.
    std::thread::scope(|s| {
        for t in 0..threads {
            let log = &log;
            s.spawn(move || {
                let tickets: Vec<_> = (0..each)
                    .map(|i| log.append(record(t * each + i, 0)).unwrap())
                    .collect();
                for ticket in tickets {
                    ticket.wait().unwrap();
                }
            });
        }
    });
    let before_shutdown = log.stats();
    let total = threads * each;
    assert_eq!(before_shutdown.written, total);
    // Group commit: fewer fsyncs than records (one per record without it).
    assert!(
        before_shutdown.fsyncs < total,
        "{} fsyncs for {total} records",
        before_shutdown.fsyncs
    );
    assert!(before_shutdown.fsyncs > 0);
    log.shutdown().unwrap();
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    let mut ids: Vec<_> = read.iter().map(|r| r.request_id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = (0..total).map(|i| record(i, 0).request_id).collect();
    want.sort();
    assert_eq!(ids, want);
}
