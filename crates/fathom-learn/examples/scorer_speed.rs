//! Compiled scorer speed (run by bench/score/run.sh): trains a 200-round,
//! 31-leaf binary GBDT on 1,000,000 × 30 synthetic fraud-like rows (26
//! numeric, 4 categorical, ~1.5 % positives) on 2 threads, then scores the
//! 200,000 test rows with [`Scorer`]:
//!
//! * single row: `Scorer::predict` timed call by call over every test row
//!   (after one warm-up pass), p50 and p99 of each pass, median over passes;
//! * batch: `Scorer::predict_batch` over all test rows on a 2-thread pool,
//!   median rows/s over several passes.
//!
//! Every test row is first checked to score bit-identically to
//! `Ensemble::predict`. The data are written for the LightGBM side
//! (score_lightgbm.py) as raw little-endian f64, row-major, label in column
//! 0, into $OUT (default bench/out/score) when `WRITE` is set. The model is
//! kept in $OUT/model.json; `REUSE=1` scores that one instead of training
//! again.
use std::io::Write;
use std::time::Instant;

use fathom_learn::gbdt::{Dataset, FeatureValues, GbdtParams, train};
use fathom_model::scorer::Scorer;
use fathom_model::tree::Ensemble;
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

/// `n` rows drawn from seed `seed`; `shift` moves the log-odds.
fn make(n: usize, seed: u64, shift: f64) -> Dataset {
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
        .map(|&zi| f64::from(unit(&mut r) < 1.0 / (1.0 + (-(zi + shift)).exp())))
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
    Dataset {
        features,
        label,
        weight: None,
    }
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

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Trains the model on `train_set` and keeps it in `dir`.
fn model(dir: &str, train_set: &Dataset, pool: &rayon::ThreadPool) -> Ensemble {
    let p = GbdtParams {
        objective: "binary".into(),
        num_rounds: 200,
        learning_rate: 0.1,
        num_leaves: 31,
        max_bin: 255,
        min_data_in_leaf: 20,
        ..GbdtParams::default()
    };
    let t = Instant::now();
    let out = pool.install(|| train(&p, train_set, None)).unwrap();
    println!("trained in {:.2} s", t.elapsed().as_secs_f64());
    let path = format!("{dir}/model.json");
    std::fs::write(&path, serde_json::to_string(&out.ensemble).unwrap()).unwrap();
    out.ensemble
}

fn main() {
    let dir = std::env::var("OUT").unwrap_or_else(|_| "bench/out/score".into());
    std::fs::create_dir_all(&dir).unwrap();
    let threads = env("THREADS", 2usize);
    let passes = env("PASSES", 7usize);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // Shift chosen so that about 1.5 % of rows are positive.
    let test = make(200_000, 2, -6.6);
    let kept = std::fs::read_to_string(format!("{dir}/model.json"))
        .ok()
        .filter(|_| std::env::var("REUSE").is_ok() && std::env::var("WRITE").is_err());
    let ensemble = match kept {
        Some(text) => serde_json::from_str(&text).expect("a model written by this example"),
        None => {
            let train_set = make(1_000_000, 1, -6.6);
            if std::env::var("WRITE").is_ok() {
                write(&format!("{dir}/train.f64"), &train_set);
                write(&format!("{dir}/test.f64"), &test);
                println!("wrote {dir}/train.f64 and {dir}/test.f64");
            }
            model(&dir, &train_set, &pool)
        }
    };
    let depths: Vec<usize> = ensemble.trees.iter().map(|t| t.depth()).collect();
    println!(
        "model: {} trees, {} leaves, depth mean {:.1} max {}",
        ensemble.trees.len(),
        ensemble.trees.iter().map(|t| t.num_leaves()).sum::<usize>(),
        depths.iter().sum::<usize>() as f64 / depths.len() as f64,
        depths.iter().max().unwrap_or(&0)
    );

    let t = Instant::now();
    let scorer = Scorer::compile(&ensemble).expect("compiles");
    println!("compiled in {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    let rows: Vec<Vec<f64>> = (0..test.num_rows()).map(|i| test.row(i)).collect();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let expected: Vec<f64> = rows.iter().map(|r| ensemble.predict(r)).collect();
    for (i, (r, e)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(
            scorer.predict(r).to_bits(),
            e.to_bits(),
            "row {i}: compiled scorer differs from the ensemble"
        );
    }

    // Single row: every call timed on its own, one warm-up pass first.
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for pass in 0..=passes.min(5) {
        let mut lat: Vec<f64> = rows
            .iter()
            .map(|r| {
                let t = Instant::now();
                std::hint::black_box(scorer.predict(std::hint::black_box(r)));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        if pass == 0 {
            continue;
        }
        lat.sort_by(f64::total_cmp);
        p50.push(lat[lat.len() / 2]);
        p99.push(lat[lat.len() * 99 / 100]);
    }

    // Batch: the whole test set per pass, one warm-up pass first.
    let mut out = vec![0.0; rows.len()];
    let mut rates = Vec::new();
    for pass in 0..=passes {
        let t = Instant::now();
        pool.install(|| scorer.predict_batch(&flat, &mut out));
        let secs = t.elapsed().as_secs_f64();
        if pass > 0 {
            rates.push(rows.len() as f64 / secs);
        }
    }
    for (o, e) in out.iter().zip(&expected) {
        assert_eq!(o.to_bits(), e.to_bits(), "batch differs from the ensemble");
    }
    let (p50, p99, rate) = (median(p50), median(p99), median(rates));
    println!(
        "fathom score: single row p50 {p50:.2} µs, p99 {p99:.2} µs ({} calls × {} passes); batch {:.3} M rows/s on {threads} threads (median of {passes})",
        rows.len(),
        passes.min(5),
        rate / 1e6
    );
    println!(
        "RESULT side=fathom batch_rows_per_s={rate:.0} single_p50_us={p50:.3} single_p99_us={p99:.3}"
    );
}
