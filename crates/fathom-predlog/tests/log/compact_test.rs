use crate::{record, segment_files, small_config};
use fathom_predlog::{FeedbackRecord, LogReader, PredictionLog, compact};
use std::path::Path;

fn fill(dir: &Path) {
    let log = PredictionLog::open(small_config(dir)).unwrap();
    for i in 0..400u64 {
        log.append_detached(record(i, 1_000 + i as i64)).unwrap();
        if i % 3 == 0 {
            let fb = FeedbackRecord {
                request_id: record(i, 0).request_id,
                time_ms: 5_000 + i as i64,
                label: (i % 2) as f64,
            };
            log.append_feedback_detached(fb).unwrap();
        }
    }
    log.shutdown().unwrap();
}

fn compacted_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "compacted"))
        .collect();
    out.sort();
    out
}

#[test]
fn compaction_keeps_every_record_and_the_reader_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let reader = LogReader::open(dir.path()).unwrap();
    let before = (
        reader.predictions(i64::MIN, i64::MAX).unwrap(),
        reader.feedback(i64::MIN, i64::MAX).unwrap(),
    );
    let window_before = reader.joined(1_100, 1_200).unwrap();
    let segments_before = segment_files(dir.path());
    assert!(segments_before.len() > 3);

    let report = compact(dir.path()).unwrap();
    // No process writes the log: every segment becomes Parquet, the
    // newest too.
    assert_eq!(report.segments, segments_before.len());
    assert!(segment_files(dir.path()).is_empty());
    assert_eq!(compacted_dirs(dir.path()).len(), report.segments);
    let after = (
        reader.predictions(i64::MIN, i64::MAX).unwrap(),
        reader.feedback(i64::MIN, i64::MAX).unwrap(),
    );
    assert_eq!(after, before);
    // The report counts what is in Parquet now.
    let parquet = parquet_only(dir.path());
    assert_eq!(
        (report.predictions, report.feedback),
        (parquet.0.len() as u64, parquet.1.len() as u64)
    );
    assert!(report.predictions > 0 && report.feedback > 0 && report.parquet_bytes > 0);
    assert_eq!(reader.joined(1_100, 1_200).unwrap(), window_before);
    // Windows are still half-open over Parquet.
    let w = reader.predictions(1_010, 1_020).unwrap();
    assert_eq!(
        w.iter().map(|r| r.time_ms).collect::<Vec<_>>(),
        (1_010..1_020).collect::<Vec<_>>()
    );

    // A second run has nothing to do.
    assert_eq!(compact(dir.path()).unwrap().segments, 0);
}

/// What a reader finds in the compacted folders alone (copied elsewhere).
fn parquet_only(dir: &Path) -> (Vec<fathom_predlog::PredictionRecord>, Vec<FeedbackRecord>) {
    let copy = tempfile::tempdir().unwrap();
    for p in compacted_dirs(dir) {
        let to = copy.path().join(p.file_name().unwrap());
        std::fs::create_dir(&to).unwrap();
        for f in std::fs::read_dir(&p).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    let r = LogReader::open(copy.path()).unwrap();
    (
        r.predictions(i64::MIN, i64::MAX).unwrap(),
        r.feedback(i64::MIN, i64::MAX).unwrap(),
    )
}

#[test]
fn a_compaction_interrupted_before_removing_its_segment_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let first = segment_files(dir.path())[0].clone();
    let saved = std::fs::read(&first).unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let before = reader.predictions(i64::MIN, i64::MAX).unwrap();
    compact(dir.path()).unwrap();
    // As if the process died after the rename, before removing the segment,
    // and left a half-written staging folder.
    std::fs::write(&first, saved).unwrap();
    std::fs::create_dir(dir.path().join(".tmp-compact-0000000099")).unwrap();
    assert_eq!(reader.predictions(i64::MIN, i64::MAX).unwrap(), before);
    let report = compact(dir.path()).unwrap();
    assert_eq!((report.segments, report.leftovers), (0, 2));
    assert!(!first.exists());
    assert_eq!(reader.predictions(i64::MIN, i64::MAX).unwrap(), before);
}

#[test]
fn compaction_runs_while_the_log_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(small_config(dir.path())).unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let mut n = 0u64;
    for round in 0..5 {
        for _ in 0..100 {
            log.append_detached(record(n, n as i64)).unwrap();
            n += 1;
        }
        log.append(record(n, n as i64)).unwrap().wait().unwrap();
        n += 1;
        compact(dir.path()).unwrap();
        let got = reader.predictions(i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.len() as u64, n, "round {round}");
    }
    log.shutdown().unwrap();
    let got = reader.predictions(i64::MIN, i64::MAX).unwrap();
    assert_eq!(got, (0..n).map(|i| record(i, i as i64)).collect::<Vec<_>>());
}

#[test]
fn the_newest_segment_waits_while_a_writer_holds_the_log_and_its_torn_tail_waits_for_recovery() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // A writer holds the folder: the segment it writes stays.
    let log = PredictionLog::open(small_config(dir.path())).unwrap();
    log.append(record(9_999, 9_999)).unwrap().wait().unwrap();
    compact(dir.path()).unwrap();
    let left = segment_files(dir.path());
    assert_eq!(left.len(), 1);
    // A log opened during a compaction of an idle folder would be refused;
    // while one is open, compaction leaves the folder to it.
    log.shutdown().unwrap();

    // A crash tore the tail of the newest segment: compaction leaves it for
    // the next open to cut.
    let mut bytes = std::fs::read(&left[0]).unwrap();
    bytes.extend_from_slice(&[1, 0, 0, 0, 99]);
    std::fs::write(&left[0], &bytes).unwrap();
    assert_eq!(compact(dir.path()).unwrap().segments, 0);
    assert_eq!(segment_files(dir.path()), left);
    let reopened = PredictionLog::open(small_config(dir.path())).unwrap();
    assert!(reopened.recovery().cut_bytes > 0);
    reopened.shutdown().unwrap();
    assert_eq!(compact(dir.path()).unwrap().segments, 1);
    assert!(segment_files(dir.path()).is_empty());
    let all = LogReader::open(dir.path())
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(all.len(), 401);
}

#[test]
fn a_compaction_lock_held_for_a_moment_is_waited_for_and_one_held_on_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let lock_path = dir.path().join("compact.lock");
    // Held for a moment (as by a child process between fork and exec):
    // compaction waits and then runs.
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(10));
        drop(holder);
    });
    let report = compact(dir.path()).unwrap();
    assert!(report.segments > 0, "{report:?}");
    release.join().unwrap();
    // Held on: compaction gives up with the busy error, naming the lock.
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    match compact(dir.path()) {
        Err(e @ fathom_predlog::LogError::CompactionBusy { .. }) => {
            assert!(e.to_string().contains("compact.lock"), "{e}")
        }
        other => panic!("expected CompactionBusy, got {other:?}"),
    }
    drop(holder);
}
