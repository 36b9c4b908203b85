//! Integration tests of the prediction log, on real files in temporary
//! folders. One test binary; each module is one concern.

mod compact_test;
mod crash_test;
mod durability_test;
mod feedback_test;
mod inputs_test;
mod purge_test;
mod recovery_test;
mod roundtrip_test;
mod sanitize_test;
mod ship_test;

use bytes::Bytes;
use fathom_predlog::{LogConfig, PredictionRecord, Variant};
use std::path::Path;

/// A prediction whose fields all depend on `i`.
pub fn record(i: u64, time_ms: i64) -> PredictionRecord {
    let variants = [
        Variant::Production,
        Variant::Canary,
        Variant::Shadow,
        Variant::Fallback,
    ];
    PredictionRecord {
        request_id: format!("0190a1b2-{i:04x}-7000-8000-{i:012x}"),
        time_ms,
        model: if i.is_multiple_of(2) {
            "fraud".into()
        } else {
            "fraud-v2".into()
        },
        version: (i % 5) as i64 + 1,
        variant: variants[(i % 4) as usize],
        inputs: Bytes::from(format!(
            r#"{{"amount": {}.25, "merchant": "m-{}", "is_online": {}, "note": "line\nbreak \u00e9"}}"#,
            i * 3,
            i % 7,
            i.is_multiple_of(2)
        )),
        score: (i as f64 * 0.618_033_988_749_895) % 1.0,
        decision: match i % 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        },
        latency_us: (i * 37 % 100_000) as u32,
        degraded: i.is_multiple_of(11),
    }
}

/// A configuration with small batches and segments, so tests cross
/// segment boundaries.
pub fn small_config(dir: &Path) -> LogConfig {
    let mut c = LogConfig::new(dir);
    c.max_batch = 64;
    c.segment_max_bytes = 8 * 1024;
    c
}

/// The segment files (`seg-*.log`) in `dir`, sorted.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    out.sort();
    out
}
