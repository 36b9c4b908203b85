//! GBDT speed check (run by bench/learn/run.sh): 1,000,000 × 30 synthetic fraud-like data (1.5% positives),
//! 200 rounds, 31 leaves, lr 0.1, 255 bins, 2 threads (THREADS to change it). Writes the data for
//! the LightGBM comparison (lightgbm_speed.py) as raw little-endian f64, row-major,
//! label in column 0, into $OUT (default bench/out/learn).
use std::io::Write;
use std::time::Instant;

use fathom_learn::gbdt::{Dataset, FeatureValues, GbdtParams, train};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const NUM: usize = 26;
const CAT_LEVELS: [u32; 4] = [10, 50, 200, 1000];

fn unit(r: &mut ChaCha8Rng) -> f64 {
    (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
fn normal(r: &mut ChaCha8Rng) -> f64 {
    let (a, b) = (unit(r).max(1e-300), unit(r));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

fn make(n: usize, seed: u64, shift: f64) -> (Dataset, Vec<f64>) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut num: Vec<Vec<f64>> = (0..NUM).map(|_| Vec::with_capacity(n)).collect();
    let mut cat: Vec<Vec<u32>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    let mut z = Vec::with_capacity(n);
    // Fixed per-level effects.
    let mut er = ChaCha8Rng::seed_from_u64(99);
    let effects: Vec<Vec<f64>> = CAT_LEVELS
        .iter()
        .map(|&l| (0..l).map(|_| normal(&mut er) * 0.7).collect())
        .collect();
    for _ in 0..n {
        let mut x = [0f64; NUM];
        for (j, v) in x.iter_mut().enumerate() {
            *v = match j % 4 {
                0 => normal(&mut r),
                1 => (normal(&mut r) * 0.8).exp(),
                2 => (unit(&mut r) * 20.0).floor(),
                _ => unit(&mut r),
            };
        }
        let mut c = [0u32; 4];
        for (k, cv) in c.iter_mut().enumerate() {
            // Zipf-like: squares of uniforms concentrate on low codes.
            let u = unit(&mut r);
            *cv = ((u * u) * CAT_LEVELS[k] as f64) as u32;
        }
        let zi = 1.2 * x[0]
            + (2.0 * x[4]).sin() * x[8] * 1.5
            + if x[3] > 0.7 { 1.5 * x[7] } else { -0.5 }
            + 0.4 * x[1].ln_1p() * x[5]
            - 0.3 * (x[2] - 10.0).abs() / 5.0
            + 0.6 * x[12] * x[16]
            + effects[0][c[0] as usize]
            + effects[2][c[2] as usize]
            + 0.5 * effects[3][c[3] as usize] * x[11];
        z.push(zi);
        for (j, col) in num.iter_mut().enumerate() {
            let missing = j % 7 == 6 && unit(&mut r) < 0.05;
            col.push(if missing { f64::NAN } else { x[j] });
        }
        for k in 0..4 {
            cat[k].push(c[k]);
        }
    }
    let label: Vec<f64> = z
        .iter()
        .map(|&zi| {
            if unit(&mut r) < 1.0 / (1.0 + (-(zi + shift)).exp()) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let mut features: Vec<(String, FeatureValues)> = num
        .into_iter()
        .enumerate()
        .map(|(j, c)| (format!("n{j}"), FeatureValues::Numeric(c)))
        .collect();
    for (k, c) in cat.into_iter().enumerate() {
        features.push((
            format!("c{k}"),
            FeatureValues::Categorical {
                codes: c,
                levels: CAT_LEVELS[k],
            },
        ));
    }
    (
        Dataset {
            features,
            label,
            weight: None,
        },
        z,
    )
}

fn auc(label: &[f64], pred: &[f64]) -> f64 {
    fathom_learn::metrics::roc_auc(label, pred, None).expect("both classes present")
}

fn write(path: &str, d: &Dataset) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..d.num_rows() {
        f.write_all(&d.label[i].to_le_bytes()).unwrap();
        for v in d.row(i) {
            f.write_all(&v.to_le_bytes()).unwrap();
        }
    }
}

/// Process CPU time (user + system), seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn main() {
    let dir = std::env::var("OUT").unwrap_or_else(|_| "bench/out/learn".into());
    std::fs::create_dir_all(&dir).unwrap();
    // Shift chosen so that about 1.5% of rows are positive.
    let shift = std::env::var("SHIFT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-6.6);
    let (train_set, _) = make(1_000_000, 1, shift);
    let (test, _) = make(200_000, 2, shift);
    let pos = train_set.label.iter().sum::<f64>() / train_set.num_rows() as f64;
    println!("positives: {:.3}%", pos * 100.0);
    if std::env::var("WRITE").is_ok() {
        write(&format!("{dir}/train.f64"), &train_set);
        write(&format!("{dir}/test.f64"), &test);
        println!("wrote {dir}");
    }
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let p = GbdtParams {
        objective: "binary".into(),
        num_rounds: rounds,
        learning_rate: 0.1,
        num_leaves: 31,
        max_bin: 255,
        min_data_in_leaf: 20,
        ..GbdtParams::default()
    };
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let c0 = cpu();
    let t = Instant::now();
    let out = pool.install(|| train(&p, &train_set, None)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu_secs = cpu() - c0;
    let preds: Vec<f64> = (0..test.num_rows())
        .map(|i| out.ensemble.predict_raw(&test.row(i)))
        .collect();
    // Scoring with the compiled scorer: single-row latency and batch throughput.
    let scorer = fathom_model::scorer::Scorer::compile(&out.ensemble).expect("compiles");
    let rows: Vec<Vec<f64>> = (0..test.num_rows()).map(|i| test.row(i)).collect();
    let mut lat: Vec<f64> = rows
        .iter()
        .map(|r| {
            let t = Instant::now();
            std::hint::black_box(scorer.predict_raw(std::hint::black_box(r)));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let mut scored = vec![0.0; rows.len()];
    let t = Instant::now();
    pool.install(|| scorer.predict_batch(&flat, &mut scored));
    let batch = t.elapsed().as_secs_f64();
    println!(
        "fathom score: single row p50 {:.2} µs, p99 {:.2} µs; batch {:.2} M rows/s on 2 threads",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        rows.len() as f64 / batch / 1e6
    );
    println!(
        "fathom train: {secs:.2} s (cpu {cpu_secs:.2} s), test AUC {:.5}, trees {}",
        auc(&test.label, &preds),
        out.ensemble.trees.len()
    );
}
