use crate::{record, segment_files, small_config};
use fathom_predlog::ship::{
    LogFileKind, install_shipped, local_sequences, mark_shipped, replica_id, shipped_path,
    unshipped,
};
use fathom_predlog::{FeedbackRecord, LogReader, PredictionLog, compact};
use std::path::Path;
use std::time::Duration;

/// Copies every unshipped compacted segment of `dir` into `cache` the way
/// a shipper and a reader between them do (here without an object store),
/// and marks it shipped. Returns the files copied.
fn ship(dir: &Path, cache: &Path) -> usize {
    let mut copied = 0;
    for s in unshipped(dir).unwrap() {
        for f in &s.files {
            let bytes = std::fs::read(&f.path).unwrap();
            install_shipped(cache, s.seq, f.kind, &bytes).unwrap();
            copied += 1;
        }
        mark_shipped(dir, s.seq).unwrap();
    }
    copied
}

#[test]
fn two_replicas_shipped_read_as_one_log_with_labels_joined_across_them() {
    let (a, b, cache) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // Replica A answers the even requests, B the odd ones; every label
    // reaches the other replica than the one that answered.
    let (la, lb) = (
        PredictionLog::open(small_config(a.path())).unwrap(),
        PredictionLog::open(small_config(b.path())).unwrap(),
    );
    for i in 0..300u64 {
        let (answer, label) = if i % 2 == 0 { (&la, &lb) } else { (&lb, &la) };
        answer.append_detached(record(i, 1_000 + i as i64)).unwrap();
        if i % 4 < 2 {
            label
                .append_feedback_detached(FeedbackRecord {
                    request_id: record(i, 0).request_id,
                    time_ms: 10_000 + i as i64,
                    label: f64::from(u8::from(i.is_multiple_of(3))),
                })
                .unwrap();
        }
    }
    la.shutdown().unwrap();
    lb.shutdown().unwrap();
    let (ra, rb) = (replica_id(a.path()).unwrap(), replica_id(b.path()).unwrap());
    assert_ne!(ra, rb);

    for (dir, id) in [(a.path(), &ra), (b.path(), &rb)] {
        assert!(compact(dir).unwrap().segments > 1);
        let pending = unshipped(dir).unwrap();
        assert!(pending.iter().all(|s| !s.files.is_empty()));
        let rows: u64 = pending
            .iter()
            .flat_map(|s| &s.files)
            .filter(|f| f.kind == LogFileKind::Predictions)
            .map(|f| f.rows)
            .sum();
        assert_eq!(rows, 150);
        assert!(ship(dir, &cache.path().join(id)) >= pending.len());
        assert!(unshipped(dir).unwrap().is_empty(), "marked shipped");
        // Shipped folders stay readable where they are.
        assert_eq!(
            LogReader::open(dir)
                .unwrap()
                .predictions(i64::MIN, i64::MAX)
                .unwrap()
                .len(),
            150
        );
    }

    // The shipped copies alone, read as one log, in time order.
    let shipped = LogReader::open_many([cache.path().join(&ra), cache.path().join(&rb)]).unwrap();
    let all = shipped.predictions(i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        all,
        (0..300)
            .map(|i| record(i, 1_000 + i as i64))
            .collect::<Vec<_>>()
    );
    let joined = shipped.joined(1_000, 1_100).unwrap();
    assert_eq!(joined.len(), 100);
    for (p, label) in &joined {
        let i = (p.time_ms - 1_000) as u64;
        assert_eq!(
            label.as_ref().map(|f| f.label),
            (i % 4 < 2).then_some(f64::from(u8::from(i.is_multiple_of(3)))),
            "request {i}"
        );
    }
    // Each replica knows its own sequences, every one of them shipped (a
    // reader on a replica skips the shipped copies of its own).
    let seqs = local_sequences(a.path()).unwrap();
    assert!(seqs.len() > 1);
    for seq in seqs {
        let copy = |k| shipped_path(&cache.path().join(&ra), seq, k).exists();
        assert!(
            copy(LogFileKind::Predictions) || copy(LogFileKind::Feedback),
            "{seq}"
        );
    }
}

#[test]
fn a_quiet_log_closes_its_segment_by_age_so_it_can_be_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.segment_max_age = Some(Duration::from_millis(50));
    let log = PredictionLog::open(config).unwrap();
    log.append(record(1, 1)).unwrap().wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The writer closes the segment by itself, with no further record:
    // compaction (with the writer still holding the log) can then take it.
    loop {
        compact(dir.path()).unwrap();
        if segment_files(dir.path()).is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "segment never closed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second record goes to a new segment.
    log.append(record(2, 2)).unwrap().wait().unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(unshipped(dir.path()).unwrap().len(), 1);
    log.shutdown().unwrap();
    assert_eq!(
        LogReader::open(dir.path())
            .unwrap()
            .predictions(i64::MIN, i64::MAX)
            .unwrap(),
        vec![record(1, 1), record(2, 2)]
    );
}

#[test]
fn a_segment_age_under_ten_milliseconds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.segment_max_age = Some(Duration::from_millis(1));
    let e = PredictionLog::open(config).unwrap_err().to_string();
    assert!(e.contains("segment_max_age"), "{e}");
}
