//! Times a drift report on two generated data files, from data loaded to
//! HTML written:
//!
//! `cargo run --release -p fathom-monitor --example drift_bench -- REFERENCE CURRENT OUT_DIR`
//!
//! Writes `OUT_DIR/drift.html` and `OUT_DIR/drift.json` and prints one JSON
//! line with the timings and the drifted features. The schema is the
//! generator's (id, key, timestamp and label columns are not features).

use fathom_core::{ColumnSpec, Role, Schema};
use fathom_data::generate::Generator;
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_monitor::{DriftConfig, drift, report};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [reference_path, current_path, out_dir] = args.as_slice() else {
        return Err("usage: drift_bench REFERENCE CURRENT OUT_DIR".into());
    };
    let schema = Schema::new(
        Generator::columns()
            .iter()
            .map(|&(name, ty)| {
                let role = match name {
                    "transaction_id" => Role::Id,
                    "card_id" => Role::Key,
                    "timestamp" => Role::Timestamp,
                    "is_fraud" => Role::Label,
                    _ => Role::Feature,
                };
                ColumnSpec::new(name, ty, role)
            })
            .collect(),
    );
    let t0 = Instant::now();
    let reference = read_frame(reference_path, &ReadOptions::default())?;
    let current = read_frame(current_path, &ReadOptions::default())?;
    let t_load = t0.elapsed();
    let t1 = Instant::now();
    let report = drift(&reference, &current, &schema, &DriftConfig::default())?;
    let t_drift = t1.elapsed();
    let html = report::render(&report, reference_path, current_path);
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(format!("{out_dir}/drift.html"), html)?;
    let t_total = t1.elapsed();
    std::fs::write(
        format!("{out_dir}/drift.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    let line = serde_json::json!({
        "tool": "fathom",
        "reference_rows": report.reference_rows,
        "current_rows": report.current_rows,
        "features": report.tested,
        "load_seconds": t_load.as_secs_f64(),
        "drift_seconds": t_drift.as_secs_f64(),
        "drift_and_html_seconds": t_total.as_secs_f64(),
        "share_drifted": report.share_drifted,
        "verdict": report.verdict.name(),
        "drifted": report.drifted_features(),
        "tests": report.features.iter().map(|f| (f.name.clone(), f.test.map(|t| t.name()), f.statistic)).collect::<Vec<_>>(),
    });
    println!("{line}");
    Ok(())
}
