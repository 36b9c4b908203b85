use crate::{record, segment_files, small_config};
use fathom_predlog::{LogConfig, LogReader, PredictionLog, compact, purge};
use std::path::Path;
use std::time::Duration;

/// Milliseconds in a day.
const DAY: i64 = 86_400_000;

fn session(dir: &Path, ids: std::ops::Range<u64>, time_ms: i64) {
    let log = PredictionLog::open(small_config(dir)).unwrap();
    for i in ids {
        log.append_detached(record(i, time_ms + i as i64)).unwrap();
    }
    log.shutdown().unwrap();
}

fn times(dir: &Path) -> Vec<i64> {
    let reader = LogReader::open(dir).unwrap();
    reader
        .predictions(i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|r| r.time_ms)
        .collect()
}

#[test]
fn purge_removes_whole_segments_and_parquet_whose_newest_record_is_older() {
    let dir = tempfile::tempdir().unwrap();
    let old = 10 * DAY;
    let new = 20 * DAY;
    session(dir.path(), 0..100, old);
    session(dir.path(), 100..200, new);
    // Compact some of it so both kinds of file are purged.
    compact(dir.path()).unwrap();
    session(dir.path(), 200..300, old);
    session(dir.path(), 300..310, new);

    let report = purge(dir.path(), 15 * DAY).unwrap();
    assert!(
        report.segments > 0 && report.compacted > 0 && report.bytes > 0,
        "{report:?}"
    );
    let mut want: Vec<i64> = (100..200).chain(300..310).map(|i| new + i).collect();
    want.sort();
    let mut got = times(dir.path());
    got.sort();
    assert_eq!(got, want);
    // Nothing left to purge at the same cut-off.
    assert_eq!(purge(dir.path(), 15 * DAY).unwrap().segments, 0);
}

#[test]
fn the_newest_segment_is_never_purged() {
    let dir = tempfile::tempdir().unwrap();
    session(dir.path(), 0..5, 1_000);
    let report = purge(dir.path(), i64::MAX).unwrap();
    assert_eq!((report.segments, report.compacted), (0, 0));
    assert_eq!(times(dir.path()).len(), 5);
}

#[test]
fn retention_in_the_configuration_purges_at_open() {
    let dir = tempfile::tempdir().unwrap();
    // Records from 1970 and from now.
    session(dir.path(), 0..50, 0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    session(dir.path(), 50..60, now_ms);
    let segments = segment_files(dir.path()).len();
    let config = LogConfig {
        retention: Some(Duration::from_secs(86_400)),
        ..small_config(dir.path())
    };
    let log = PredictionLog::open(config).unwrap();
    log.shutdown().unwrap();
    assert!(segment_files(dir.path()).len() < segments);
    assert_eq!(
        times(dir.path()),
        (50..60).map(|i| now_ms + i).collect::<Vec<_>>()
    );
}
