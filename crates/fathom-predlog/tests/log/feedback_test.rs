use crate::{record, small_config};
use fathom_predlog::{FeedbackRecord, LogReader, PredictionLog};

fn label(id: &str, time_ms: i64, label: f64) -> FeedbackRecord {
    FeedbackRecord {
        request_id: id.into(),
        time_ms,
        label,
    }
}

#[test]
fn labels_join_by_request_id_including_labels_after_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(small_config(dir.path())).unwrap();
    let preds: Vec<_> = (0..40).map(|i| record(i, 1_000 + i as i64)).collect();
    for p in &preds {
        log.append_detached(p.clone()).unwrap();
    }
    // Labels for even requests arrive well after the window [1000, 1020).
    for p in preds.iter().step_by(2) {
        log.append_feedback_detached(label(&p.request_id, 50_000, 0.0))
            .unwrap();
    }
    // Request 4 is labelled again later: the last label logged wins.
    log.append_feedback_detached(label(&preds[4].request_id, 60_000, 1.0))
        .unwrap();
    // A label older than the window start is not considered.
    log.append_feedback_detached(label(&preds[6].request_id, 999, 1.0))
        .unwrap();
    // A label for an unknown request joins nothing.
    log.append_feedback_detached(label("unknown", 50_000, 1.0))
        .unwrap();
    log.shutdown().unwrap();

    let joined = LogReader::open(dir.path())
        .unwrap()
        .joined(1_000, 1_020)
        .unwrap();
    assert_eq!(joined.len(), 20);
    for (i, (p, f)) in joined.iter().enumerate() {
        assert_eq!(p, &preds[i]);
        match (i, f) {
            (4, Some(f)) => assert_eq!((f.label, f.time_ms), (1.0, 60_000)),
            (6, Some(f)) => assert_eq!((f.label, f.time_ms), (0.0, 50_000)),
            (i, Some(f)) if i.is_multiple_of(2) => {
                assert_eq!(f, &label(&p.request_id, 50_000, 0.0));
            }
            (i, None) if i % 2 == 1 => {}
            (i, f) => panic!("row {i}: unexpected label {f:?}"),
        }
    }
}
