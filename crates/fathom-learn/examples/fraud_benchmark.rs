//! fathom's side of `bench/learn/fraud.sh`: GBDT on generated card
//! transactions, the settings (200 rounds, 31 leaves, learning rate
//! 0.1, 255 bins, 2 threads, stratified 80/20 split).
//!
//! Generates `ROWS` (default 1,000,000) transactions with seed 7, fits the
//! tree feature pipeline on the training rows, and prints one line per
//! figure: training time (binning included) and its CPU time, the binning
//! time alone, holdout AUC-ROC, peak memory
//! during training, batch scoring rows/s and single-row latency of the
//! compiled scorer. With `WRITE=1` it also writes the feature matrices for
//! the peers (`$OUT/fraud_{train,test}.f64`: little-endian f64, row-major,
//! label first) and `$OUT/fraud_meta.json` (columns, categorical ones).
use std::io::Write;
use std::time::Instant;

use fathom_core::{ColumnData, Role};
use fathom_data::contract::{InferOptions, infer_schema};
use fathom_data::generate::{Generator, GeneratorConfig, generate_all};
use fathom_learn::gbdt::binning::BinMappers;
use fathom_learn::gbdt::{Dataset, GbdtParams, train};
use fathom_learn::pipeline::{PipelineOptions, fit_pipeline};
use fathom_learn::split::stratified_split;
use fathom_model::pipeline::InputTransform;
use fathom_model::scorer::Scorer;

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/self/status` field in MiB.
fn status_mib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU seconds (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux; NaN elsewhere).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    if f.len() == 2 {
        (f[0] + f[1]) / 100.0
    } else {
        f64::NAN
    }
}

fn write_matrix(path: &str, x: &[f64], width: usize, rows: &[usize], y: &[f64]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for &r in rows {
        f.write_all(&y[r].to_le_bytes()).expect("write");
        for v in &x[r * width..(r + 1) * width] {
            f.write_all(&v.to_le_bytes()).expect("write");
        }
    }
}

fn main() {
    let rows: u64 = env("ROWS", 1_000_000);
    let threads: usize = env("THREADS", 2);
    let out_dir = std::env::var("OUT").unwrap_or_else(|_| "bench/out/learn".into());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");

    let frame = generate_all(GeneratorConfig {
        rows,
        seed: 7,
        ..GeneratorConfig::default()
    })
    .expect("generate");
    let columns = Generator::columns()
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
    let schema = infer_schema(
        std::iter::once(Ok(frame.clone())),
        columns,
        InferOptions::default(),
    )
    .expect("schema");
    let label = schema.with_role(Role::Label).expect("label").name.clone();
    let y: Vec<f64> = match &frame.column(&label).expect("label column").data {
        ColumnData::Numeric(v) => v.clone(),
        ColumnData::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
        _ => panic!("label type"),
    };
    let split = stratified_split(&y, 0.2, 7).expect("split");
    let pipeline =
        fit_pipeline(&frame, &schema, &split.train, &PipelineOptions::default()).expect("pipeline");
    let x = pipeline.transform_frame(&frame);
    let width = pipeline.width();
    drop(frame);
    if std::env::var("WRITE").is_ok() {
        std::fs::create_dir_all(&out_dir).expect("out dir");
        write_matrix(
            &format!("{out_dir}/fraud_train.f64"),
            &x,
            width,
            &split.train,
            &y,
        );
        write_matrix(
            &format!("{out_dir}/fraud_test.f64"),
            &x,
            width,
            &split.test,
            &y,
        );
        let mut categorical = Vec::new();
        let mut at = 0;
        for t in &pipeline.inputs {
            if matches!(t, InputTransform::Categorical { one_hot: false, .. }) {
                categorical.push(at);
            }
            at += t.width();
        }
        let meta = serde_json::json!({
            "features": pipeline.feature_names(),
            "categorical": categorical,
        });
        std::fs::write(format!("{out_dir}/fraud_meta.json"), meta.to_string()).expect("meta");
        println!("wrote {out_dir}/fraud_*.f64 ({width} features)");
    }
    let train_set = Dataset::from_pipeline_rows(&pipeline, &x, &split.train, &y);
    let test_rows: Vec<f64> = split
        .test
        .iter()
        .flat_map(|&r| x[r * width..(r + 1) * width].iter().copied())
        .collect();
    let test_y: Vec<f64> = split.test.iter().map(|&r| y[r]).collect();
    drop(x);

    let params = GbdtParams {
        objective: "binary".into(),
        num_rounds: env("ROUNDS", 200),
        learning_rate: 0.1,
        num_leaves: 31,
        max_bin: 255,
        min_data_in_leaf: 20,
        ..GbdtParams::default()
    };
    // Peak resident memory is measured from here: reset the kernel's
    // high-water mark (Linux: writing 5 to clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_mib("VmRSS:");
    let cpu = cpu_seconds();
    let t = Instant::now();
    let out = pool
        .install(|| train(&params, &train_set, None))
        .expect("train");
    let train_secs = t.elapsed().as_secs_f64();
    let train_cpu = cpu_seconds() - cpu;
    let peak = status_mib("VmHWM:");
    // Binning alone (part of the training time above), for comparison with
    // the peers' Dataset construction, which their training time excludes.
    let t = Instant::now();
    pool.install(|| {
        let mappers = BinMappers::fit(&train_set, params.max_bin, params.seed);
        std::hint::black_box(mappers.bin(&train_set));
    });
    let bin_secs = t.elapsed().as_secs_f64();

    let scorer = Scorer::compile(&out.ensemble).expect("compile");
    let mut scores = vec![0.0; test_y.len()];
    let mut batch = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        pool.install(|| scorer.predict_batch(&test_rows, &mut scores));
        batch.push(test_y.len() as f64 / t.elapsed().as_secs_f64());
    }
    batch.sort_by(f64::total_cmp);
    let auc = fathom_learn::metrics::roc_auc(&test_y, &scores, None).expect("auc");
    let mut lat: Vec<f64> = test_rows
        .chunks(width)
        .map(|row| {
            let t = Instant::now();
            std::hint::black_box(scorer.predict(std::hint::black_box(row)));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    println!("fathom rows {} features {width} threads {threads}", y.len());
    println!("fathom train_seconds {train_secs:.3}");
    println!("fathom train_cpu_seconds {train_cpu:.2}");
    println!("fathom binning_seconds {bin_secs:.3} (part of train_seconds)");
    println!("fathom auc_roc {auc:.5}");
    println!("fathom train_peak_rss_mib {peak:.0} (before training {before:.0})");
    println!("fathom batch_rows_per_s {:.0}", batch[batch.len() / 2]);
    println!(
        "fathom single_row_us p50 {:.2} p99 {:.2}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
}
