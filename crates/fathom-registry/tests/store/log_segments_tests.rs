//! Shipped prediction-log files: recorded once, found by time window and
//! kind, kept by garbage collection while recorded, forgotten by age.

use chrono::Duration;
use fathom_registry::artifacts::ArtifactStore;
use fathom_registry::{Clock, GcPolicy, NewLogSegment, RegistryError};

use crate::fixture::Fixture;
use crate::helpers::actor;

fn segment(replica: &str, seq: i64, kind: &str, min: i64, max: i64, uri: &str) -> NewLogSegment {
    NewLogSegment {
        replica: replica.into(),
        seq,
        kind: kind.into(),
        uri: uri.into(),
        sha256: "ab".repeat(32),
        bytes: 1_000 + seq,
        records: 10 * seq,
        min_time_ms: min,
        max_time_ms: max,
    }
}

pub fn shipped_files_are_recorded_once_and_found_by_window(f: &Fixture) {
    let mut store = f.open();
    let (a, b) = ("00000000000000aa", "00000000000000bb");
    for s in [
        segment(a, 1, "predictions", 0, 999, "file:///p/a1"),
        segment(a, 1, "feedback", 500, 1_500, "file:///p/a1f"),
        segment(a, 2, "predictions", 1_000, 1_999, "file:///p/a2"),
        segment(b, 1, "predictions", 900, 2_100, "file:///p/b1"),
        segment(b, 2, "feedback", 3_000, 3_000, "file:///p/b2f"),
    ] {
        assert!(store.record_log_segment(&s).unwrap());
    }
    // Shipping again after an interruption changes nothing.
    let mut again = segment(a, 2, "predictions", 1_000, 1_999, "file:///p/other");
    assert!(!store.record_log_segment(&again).unwrap());
    again.uri = "file:///p/a2".into();

    let names = |v: Vec<fathom_registry::LogSegment>| -> Vec<(String, i64, String)> {
        v.into_iter()
            .map(|s| (s.segment.replica, s.segment.seq, s.segment.kind))
            .collect()
    };
    // [1000, 2000): files with a record in it, in (replica, seq, kind) order.
    assert_eq!(
        names(store.log_segments(None, 1_000, 2_000).unwrap()),
        vec![
            (a.into(), 1, "feedback".into()),
            (a.into(), 2, "predictions".into()),
            (b.into(), 1, "predictions".into()),
        ]
    );
    // Half-open: a file starting at the window's end is outside it; one
    // ending at its start is inside.
    assert_eq!(
        names(store.log_segments(Some("predictions"), 999, 1_000).unwrap()),
        vec![
            (a.into(), 1, "predictions".into()),
            (b.into(), 1, "predictions".into())
        ]
    );
    assert_eq!(
        names(
            store
                .log_segments(Some("feedback"), 1_600, i64::MAX)
                .unwrap()
        ),
        vec![(b.into(), 2, "feedback".into())]
    );
    let one = store
        .log_segments(Some("predictions"), 1_000, 1_001)
        .unwrap();
    assert_eq!(one[0].segment, again);
    assert_eq!(one[0].shipped_at, f.clock.now());

    // Forgetting by age returns what it removed, for its files to go.
    let gone = store.forget_log_segments(1_600).unwrap();
    assert_eq!(
        names(gone),
        vec![
            (a.into(), 1, "feedback".into()),
            (a.into(), 1, "predictions".into()),
        ]
    );
    assert_eq!(
        store.log_segments(None, i64::MIN, i64::MAX).unwrap().len(),
        3
    );
}

pub fn bad_log_segments_are_refused_with_the_field(f: &Fixture) {
    let mut store = f.open();
    let good = segment("00000000000000aa", 1, "predictions", 0, 1, "file:///x");
    let cases = [
        (
            NewLogSegment {
                replica: "host-1".into(),
                ..good.clone()
            },
            "replica",
        ),
        (
            NewLogSegment {
                kind: "inputs".into(),
                ..good.clone()
            },
            "kind",
        ),
        (
            NewLogSegment {
                seq: 0,
                ..good.clone()
            },
            "seq",
        ),
        (
            NewLogSegment {
                min_time_ms: 5,
                max_time_ms: 4,
                ..good.clone()
            },
            "time range",
        ),
        (
            NewLogSegment {
                sha256: "00".into(),
                ..good.clone()
            },
            "SHA-256",
        ),
    ];
    for (bad, word) in cases {
        match store.record_log_segment(&bad) {
            Err(e @ RegistryError::InvalidInput { .. }) => {
                assert!(e.to_string().contains(word), "{word}: {e}")
            }
            other => panic!("{word}: {other:?}"),
        }
    }
    assert!(
        store
            .log_segments(None, i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
}

pub fn garbage_collection_keeps_recorded_log_files(f: &Fixture) {
    let artifacts = f.artifacts();
    let mut store = f.open();
    let kept = artifacts.put_bytes(b"a shipped parquet file").unwrap();
    let stray = artifacts.put_bytes(b"nothing records this").unwrap();
    let mut s = segment("00000000000000aa", 1, "predictions", 0, 10, &kept.uri);
    s.sha256 = kept.sha256.clone();
    store.record_log_segment(&s).unwrap();
    let policy = GcPolicy {
        min_artifact_age: Duration::zero(),
        ..GcPolicy::default()
    };
    let r = store
        .gc(&artifacts, &policy, true, &actor(), "tidy")
        .unwrap();
    let deleted: Vec<_> = r.plan.artifacts.iter().map(|a| a.uri.clone()).collect();
    assert_eq!(deleted, vec![stray.uri]);
    assert!(artifacts.verify(&kept.uri, &kept.sha256).is_ok());
    // Forgotten, it is collected.
    store.forget_log_segments(11).unwrap();
    let r = store
        .gc(&artifacts, &policy, true, &actor(), "tidy")
        .unwrap();
    assert_eq!(r.deleted_artifacts, 1);
    assert!(artifacts.verify(&kept.uri, &kept.sha256).is_err());
}
