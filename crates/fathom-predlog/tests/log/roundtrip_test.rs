use crate::{record, small_config};
use bytes::Bytes;
use fathom_predlog::{
    FeedbackRecord, LogConfig, LogError, LogReader, PredictionLog, PredictionRecord, Variant,
};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[test]
fn every_field_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(small_config(dir.path())).unwrap();
    let mut written: Vec<PredictionRecord> = (0..300)
        .map(|i| record(i, 1_700_000_000_000 + i as i64))
        .collect();
    // Edge values: negative time, extreme numbers, signed zero, empty text.
    written.push(PredictionRecord {
        request_id: String::new(),
        time_ms: -1,
        model: "m".repeat(300),
        version: i64::MIN,
        variant: Variant::Fallback,
        inputs: Bytes::from_static(b"{}"),
        score: -0.0,
        decision: Some(false),
        latency_us: u32::MAX,
        degraded: true,
    });
    written.push(PredictionRecord {
        score: f64::MAX,
        version: i64::MAX,
        time_ms: i64::MAX - 1,
        ..record(9999, 0)
    });
    let tickets: Vec<_> = written
        .iter()
        .map(|r| log.append(r.clone()).unwrap())
        .collect();
    for t in tickets {
        t.wait().unwrap();
    }
    let stats = log.shutdown().unwrap();
    assert_eq!(stats.written, written.len() as u64);
    assert_eq!((stats.dropped, stats.failed, stats.queued), (0, 0, 0));
    assert!(stats.segments > 1, "small segments rotate: {stats:?}");

    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(read, written);
    assert_eq!(read[300].score.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn windows_are_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(small_config(dir.path())).unwrap();
    for i in 0..100 {
        log.append_detached(record(i, 1000 + i as i64)).unwrap();
    }
    log.shutdown().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let got = reader.predictions(1010, 1020).unwrap();
    let times: Vec<i64> = got.iter().map(|r| r.time_ms).collect();
    assert_eq!(times, (1010..1020).collect::<Vec<_>>());
    assert!(reader.predictions(5000, 6000).unwrap().is_empty());
}

#[test]
fn feedback_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let labels: Vec<FeedbackRecord> = (0..50)
        .map(|i| FeedbackRecord {
            request_id: format!("r{i}"),
            time_ms: 10 * i,
            label: if i % 3 == 0 { 1.0 } else { 0.0 } + i as f64 * 1e-9,
        })
        .collect();
    for l in &labels {
        log.append_feedback_detached(l.clone()).unwrap();
    }
    log.shutdown().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.feedback(0, i64::MAX).unwrap(), labels);
    assert!(reader.predictions(i64::MIN, i64::MAX).unwrap().is_empty());
}

#[test]
fn a_ticket_is_a_future_that_needs_no_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let ticket = log.append(record(1, 5)).unwrap();
    let mut ticket = pin!(ticket);
    let mut cx = Context::from_waker(Waker::noop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let result = loop {
        if let Poll::Ready(r) = ticket.as_mut().poll(&mut cx) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticket never resolved"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    result.unwrap();
    // Resolved means fsynced: the record is readable before shutdown.
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(0, 10)
        .unwrap();
    assert_eq!(read, vec![record(1, 5)]);
    log.shutdown().unwrap();
}

#[test]
fn a_second_writer_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    match PredictionLog::open(LogConfig::new(dir.path())) {
        Err(e @ LogError::Locked { .. }) => assert!(e.to_string().contains("already open")),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second writer was allowed"),
    }
    first.shutdown().unwrap();
    PredictionLog::open(LogConfig::new(dir.path()))
        .unwrap()
        .shutdown()
        .unwrap();
}

#[test]
fn bad_configuration_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(LogConfig, &str)> = vec![
        (
            LogConfig {
                queue_capacity: 0,
                ..LogConfig::new(dir.path())
            },
            "queue_capacity",
        ),
        (
            LogConfig {
                max_batch: 0,
                ..LogConfig::new(dir.path())
            },
            "max_batch",
        ),
        (
            LogConfig {
                segment_max_bytes: 100,
                ..LogConfig::new(dir.path())
            },
            "segment_max_bytes",
        ),
        (
            LogConfig {
                retention: Some(std::time::Duration::ZERO),
                ..LogConfig::new(dir.path())
            },
            "retention",
        ),
    ];
    for (config, word) in cases {
        match PredictionLog::open(config) {
            Err(e @ LogError::Config { .. }) => assert!(e.to_string().contains(word), "{e}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("{word}: accepted"),
        }
    }
}
