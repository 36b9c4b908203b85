use crate::{record, segment_files};
use fathom_predlog::{LogConfig, LogError, LogReader, PredictionLog, PredictionRecord, compact};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Size of the footer frame a clean shutdown writes at the end of a segment.
const FOOTER: u64 = 9 + 40;

fn write_session(dir: &Path, range: std::ops::Range<u64>) -> Vec<PredictionRecord> {
    let log = PredictionLog::open(LogConfig::new(dir)).unwrap();
    let recs: Vec<_> = range.map(|i| record(i, i as i64)).collect();
    for r in &recs {
        log.append_detached(r.clone()).unwrap();
    }
    log.shutdown().unwrap();
    recs
}

fn cut_to(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn all(dir: &Path) -> Result<Vec<PredictionRecord>, LogError> {
    LogReader::open(dir)
        .unwrap()
        .predictions(i64::MIN, i64::MAX)
}

#[test]
fn a_record_cut_mid_frame_is_cut_and_reported_and_earlier_records_are_intact() {
    let dir = tempfile::tempdir().unwrap();
    let recs = write_session(dir.path(), 0..100);
    let seg = &segment_files(dir.path())[0];
    let len = std::fs::metadata(seg).unwrap().len();
    // Remove the footer and the last 10 bytes of the last record.
    cut_to(seg, len - FOOTER - 10);

    // Before recovery, a reader stops at the torn tail of the newest segment.
    assert_eq!(all(dir.path()).unwrap(), recs[..99]);

    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let rec = log.recovery().clone();
    assert_eq!(rec.segment.as_deref(), Some(seg.as_path()));
    assert_eq!(rec.records, 99);
    assert!(rec.cut_bytes > 0);
    assert!(
        rec.detail.as_deref().unwrap().contains("cut short"),
        "{rec:?}"
    );
    // The log goes on in a new segment.
    log.append(record(500, 500)).unwrap().wait().unwrap();
    log.shutdown().unwrap();

    let mut expected = recs[..99].to_vec();
    expected.push(record(500, 500));
    assert_eq!(all(dir.path()).unwrap(), expected);
    // Reopening again finds nothing to cut.
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    assert_eq!(
        (log.recovery().cut_bytes, log.recovery().detail.clone()),
        (0, None)
    );
}

#[test]
fn garbage_after_the_last_record_is_cut_without_losing_a_record() {
    for (name, garbage) in [
        ("random bytes", vec![0xAB; 37]),
        // A plausible frame header (length 20) whose checksum is wrong.
        (
            "bad checksum",
            [20u32.to_le_bytes(), 7u32.to_le_bytes()]
                .concat()
                .into_iter()
                .chain([1u8; 21])
                .collect(),
        ),
        ("a lone length", vec![3, 0]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let recs = write_session(dir.path(), 0..50);
        let seg = &segment_files(dir.path())[0];
        let len = std::fs::metadata(seg).unwrap().len();
        cut_to(seg, len - FOOTER);
        OpenOptions::new()
            .append(true)
            .open(seg)
            .unwrap()
            .write_all(&garbage)
            .unwrap();

        let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
        assert_eq!(log.recovery().records, 50, "{name}");
        assert_eq!(log.recovery().cut_bytes, garbage.len() as u64, "{name}");
        log.shutdown().unwrap();
        assert_eq!(all(dir.path()).unwrap(), recs, "{name}");
        assert_eq!(
            std::fs::metadata(seg).unwrap().len(),
            len,
            "{name}: footer written again"
        );
    }
}

#[test]
fn a_segment_torn_inside_its_header_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let recs = write_session(dir.path(), 0..5);
    let torn = dir.path().join("seg-0000000009.log");
    std::fs::write(&torn, b"FTH").unwrap();
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    assert_eq!(log.recovery().segment.as_deref(), Some(torn.as_path()));
    assert!(log.recovery().detail.as_deref().unwrap().contains("header"));
    log.shutdown().unwrap();
    assert!(!torn.exists());
    assert_eq!(all(dir.path()).unwrap(), recs);
}

#[test]
fn damage_inside_a_closed_segment_is_an_error_never_a_silent_misread() {
    let dir = tempfile::tempdir().unwrap();
    write_session(dir.path(), 0..20);
    write_session(dir.path(), 20..40);
    let older = &segment_files(dir.path())[0];
    let mut bytes = std::fs::read(older).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(older, &bytes).unwrap();

    match all(dir.path()) {
        Err(e @ LogError::Corrupt { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("seg-0000000001.log") && msg.contains("corrupt"),
                "{msg}"
            );
        }
        other => panic!("expected a corrupt-data error, got {other:?}"),
    }
    assert!(matches!(compact(dir.path()), Err(LogError::Corrupt { .. })));
    // The damaged segment is left in place for inspection.
    assert!(older.exists());
}

#[test]
fn a_file_that_is_not_a_segment_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seg-0000000001.log"),
        b"PAR1 definitely not a log",
    )
    .unwrap();
    match PredictionLog::open(LogConfig::new(dir.path())) {
        Err(e @ LogError::Corrupt { .. }) => assert!(e.to_string().contains("wrong header"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened over a foreign file"),
    }
}
