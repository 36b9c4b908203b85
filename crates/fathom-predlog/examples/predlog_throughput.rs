//! Throughput of the prediction log: two threads append N records in each
//! durability mode; prints the caller-side cost of an append, end-to-end
//! records per second (until everything is written and fsynced), fsyncs
//! and bytes. Awaiting tickets under buffered durability waits for the
//! flush interval; that run uses a fiftieth of the records.
//!
//! ```text
//! cargo run --release -p fathom-predlog --example predlog_throughput -- [N] [folder]
//! ```
//!
//! The folder defaults to a temporary one under the system temp folder;
//! fsync cost depends on the disk under it.

use bytes::Bytes;
use fathom_predlog::{
    Durability, LogConfig, LogError, LogStats, PredictionLog, PredictionRecord, Sanitizer, Variant,
};
use std::path::Path;
use std::time::{Duration, Instant};

const THREADS: u64 = 2;
const QUEUE: u64 = 1 << 16;

fn record(t: u64, i: u64) -> PredictionRecord {
    PredictionRecord {
        request_id: format!("0190a1b2-{t:04x}-7000-8000-{i:012x}"),
        time_ms: 1_767_225_600_000 + i as i64,
        model: "fraud".into(),
        version: 7,
        variant: if i.is_multiple_of(20) {
            Variant::Canary
        } else {
            Variant::Production
        },
        inputs: Bytes::from(format!(
            r#"{{"amount": {}.{:02}, "merchant_category": "grocery", "merchant_id": "m-{}", "country": "ES", "is_online": {}, "hour": {}, "card_id": "c-{:08}", "distance_km": 3.25, "tx_count_1h": {}}}"#,
            i % 900,
            i % 100,
            i % 5000,
            i.is_multiple_of(3),
            i % 24,
            (i * 7919) % 100_000_000,
            i % 9
        )),
        score: (i as f64 * 0.618_033_988_749_895) % 1.0,
        decision: Some(i.is_multiple_of(50)),
        latency_us: 150 + (i % 300) as u32,
        degraded: false,
    }
}

struct Run {
    name: &'static str,
    durability: Durability,
    sanitize: bool,
    wait_tickets: bool,
}

fn run(dir: &Path, n: u64, r: &Run) -> (Duration, Duration, LogStats) {
    let sanitize = if r.sanitize {
        Sanitizer {
            hash: vec!["card_id".into()],
            drop: vec![],
            salt: "bench-salt".into(),
        }
    } else {
        Sanitizer::default()
    };
    let config = LogConfig {
        durability: r.durability,
        sanitize,
        queue_capacity: QUEUE as usize,
        ..LogConfig::new(dir)
    };
    let log = PredictionLog::open(config).expect("open log");
    let per_thread = n / THREADS;
    // Records are built before timing so the figures are the log's own.
    let inputs: Vec<Vec<PredictionRecord>> = (0..THREADS)
        .map(|t| (0..per_thread).map(|i| record(t, i)).collect())
        .collect();
    let start = Instant::now();
    let append_time: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .into_iter()
            .map(|recs| {
                let log = &log;
                s.spawn(move || {
                    let mut spent = Duration::ZERO;
                    let mut window = Vec::with_capacity(256);
                    for rec in recs {
                        // Back off while the writer is behind, as a server
                        // shedding load would; a full queue drops the record.
                        while log.stats().queued > QUEUE / 2 {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                        let t0 = Instant::now();
                        let result = if r.wait_tickets {
                            log.append(rec).map(|t| window.push(t))
                        } else {
                            log.append_detached(rec)
                        };
                        spent += t0.elapsed();
                        match result {
                            Ok(()) | Err(LogError::QueueFull) => {}
                            Err(e) => panic!("{e}"),
                        }
                        if window.len() == 256 {
                            for t in window.drain(..) {
                                t.wait().expect("logged");
                            }
                        }
                    }
                    for t in window.drain(..) {
                        t.wait().expect("logged");
                    }
                    spent
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    let stats = log.shutdown().expect("shutdown");
    (start.elapsed(), append_time, stats)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(400_000, |a| a.parse().expect("N is a number"));
    let base = args.next();
    let runs = [
        Run {
            name: "fsync, detached",
            durability: Durability::Fsync,
            sanitize: false,
            wait_tickets: false,
        },
        Run {
            name: "fsync, tickets awaited",
            durability: Durability::Fsync,
            sanitize: false,
            wait_tickets: true,
        },
        Run {
            name: "fsync, card_id hashed",
            durability: Durability::Fsync,
            sanitize: true,
            wait_tickets: false,
        },
        Run {
            name: "buffered, detached",
            durability: Durability::Buffered,
            sanitize: false,
            wait_tickets: false,
        },
        Run {
            name: "buffered, tickets awaited",
            durability: Durability::Buffered,
            sanitize: false,
            wait_tickets: true,
        },
    ];
    println!(
        "{n} records from {THREADS} threads, ~{} bytes of inputs each",
        record(0, 1).inputs.len()
    );
    println!(
        "{:<26} {:>9} {:>12} {:>14} {:>10} {:>8} {:>10} {:>8}",
        "mode", "records", "records/s", "append ns/rec", "fsyncs", "rec/fsync", "MiB", "dropped"
    );
    for r in &runs {
        let tmp = match &base {
            Some(b) => tempfile::tempdir_in(b),
            None => tempfile::tempdir(),
        }
        .expect("temporary folder");
        // Awaited buffered tickets resolve at the flush interval, so that
        // run is bounded by the interval, not the log: a fiftieth suffices.
        let records = if r.wait_tickets && r.durability == Durability::Buffered {
            n / 50
        } else {
            n
        };
        let (total, append, stats) = run(tmp.path(), records, r);
        println!(
            "{:<26} {:>9} {:>12.0} {:>14.0} {:>10} {:>8.0} {:>10.1} {:>8}",
            r.name,
            records,
            stats.written as f64 / total.as_secs_f64(),
            append.as_nanos() as f64 / records as f64,
            stats.fsyncs,
            stats.written as f64 / stats.fsyncs.max(1) as f64,
            stats.bytes as f64 / (1 << 20) as f64,
            stats.dropped,
        );
    }
}
