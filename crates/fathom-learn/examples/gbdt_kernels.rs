//! Histogram kernels on the fraud benchmark's data, one thread: the root's
//! histograms (every row, no counts, 8 columns per pass), a large leaf's
//! (a third of the rows, from the bin columns, counting, 4 columns per
//! pass) and a small leaf's (5 % of the rows, gathered row by row), each
//! with every feature read on its own and with few-bin features bundled.
//!
//! Reads the training matrix `bench/learn/fraud.sh` writes
//! (`$OUT/fraud_train.f64` and `fraud_meta.json`, default
//! `bench/out/learn`); prints the bins of every feature and, per kernel,
//! the best of `REPS` (default 3) measurements in ns per row × feature
//! (every feature's histogram is built, whatever the number of passes).
//! Times are the thread's time on a CPU (Linux schedstat), so that other
//! processes sharing the cores disturb them less; run it single-threaded
//! (`RAYON_NUM_THREADS=1`).
use std::time::Instant;

use fathom_learn::gbdt::binning::{BinColumn, BinMappers};
use fathom_learn::gbdt::bundle::Units;
use fathom_learn::gbdt::histogram::{self, Gathered, HistBin, HistLayout, Rows, Target};
use fathom_learn::gbdt::{Dataset, FeatureValues};

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn load(dir: &str) -> Dataset {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/fraud_meta.json")).expect("fraud_meta.json"),
    )
    .expect("meta");
    let names: Vec<String> = meta["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    let cats: Vec<usize> = meta["categorical"]
        .as_array()
        .expect("categorical")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect();
    let bytes = std::fs::read(format!("{dir}/fraud_train.f64")).expect("fraud_train.f64");
    let width = names.len() + 1;
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let n = values.len() / width;
    let values = &values;
    let col = |j: usize| (0..n).map(move |i| values[i * width + j]);
    let features = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let fv = if cats.contains(&j) {
                let codes: Vec<u32> = col(j + 1).map(|v| v as u32).collect();
                let levels = codes.iter().copied().max().unwrap_or(0) + 1;
                FeatureValues::Categorical { codes, levels }
            } else {
                FeatureValues::Numeric(col(j + 1).collect())
            };
            (name.clone(), fv)
        })
        .collect();
    Dataset {
        features,
        label: col(0).collect(),
        weight: None,
    }
}

/// Seconds this thread has run on a CPU (Linux schedstat; wall time
/// elsewhere), so that other processes sharing the cores count less.
fn on_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(
            || {
                static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                START.get_or_init(Instant::now).elapsed().as_secs_f64()
            },
            |ns| ns / 1e9,
        )
}

/// Best of `reps` measurements of `f`, each running it for at least
/// 0.2 s of CPU time (schedstat counts in scheduler ticks).
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = on_cpu();
            let mut k = 0;
            while on_cpu() - t < 0.2 {
                f();
                k += 1;
            }
            (on_cpu() - t) / k as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Every feature's histogram in `buf`, unit by unit: a target per unit.
fn targets<'a>(
    layout: &HistLayout,
    units: &'a Units,
    features: &[usize],
    buf: &'a mut [HistBin],
) -> Vec<Target<'a>> {
    let mut by_feature: Vec<Option<&mut [HistBin]>> = layout
        .split_mut(buf, features)
        .into_iter()
        .map(Some)
        .collect();
    units
        .units
        .iter()
        .map(|u| {
            let mut outs: Vec<Option<&mut [HistBin]>> =
                u.features.iter().map(|&f| by_feature[f].take()).collect();
            if u.is_single() {
                Target::Feature(outs[0].take().expect("slice"))
            } else {
                Target::Bundle(u, outs)
            }
        })
        .collect()
}

fn main() {
    let dir = std::env::var("OUT").unwrap_or_else(|_| "bench/out/learn".into());
    let reps: usize = env("REPS", 3);
    let d = load(&dir);
    let n = d.num_rows();
    let mappers = BinMappers::fit(&d, 255, 0);
    let data = mappers.bin(&d);
    let bins: Vec<usize> = mappers.mappers.iter().map(|m| m.num_bins).collect();
    println!("rows {n} features {} bins {bins:?}", bins.len());
    let layout = HistLayout::new(&mappers);
    let features: Vec<usize> = (0..bins.len()).collect();
    // Gradients of the binary log loss at a spread of scores.
    let gh: Vec<[f32; 2]> = (0..n)
        .map(|i| {
            let s = -4.0 + ((i * 2_654_435_761) % 1000) as f64 / 250.0;
            let p = 1.0 / (1.0 + (-s).exp());
            [(p - d.label[i]) as f32, (p * (1.0 - p)) as f32]
        })
        .collect();
    let mut buf = vec![HistBin::default(); layout.total()];
    for bundle in [false, true] {
        let units = Units::new(&data, &mappers, bundle);
        println!(
            "{} units: {:?}",
            units.units.len(),
            units.units.iter().map(|u| &u.features).collect::<Vec<_>>()
        );
        let all: Vec<usize> = (0..units.units.len()).collect();
        let report = |name: &str, rows: usize, secs: f64| {
            println!(
                "{name:40} {rows:>7} rows {:7.3} ms {:6.3} ns/row×feature",
                secs * 1e3,
                secs * 1e9 / (rows * features.len()) as f64
            );
        };
        let mut run = |name: &str, rows: Rows<'_>, g: &[[f32; 2]], group: usize, count: bool| {
            let secs = best(reps, || {
                let mut ts = targets(&layout, &units, &features, &mut buf);
                for (us, ts) in all.chunks(group).zip(ts.chunks_mut(group)) {
                    let cols: Vec<&BinColumn> =
                        us.iter().map(|&u| units.column(&data, u)).collect();
                    histogram::build_group(&cols, rows, g, ts, count);
                }
            });
            report(&format!("{name}, bundles {bundle}"), g.len(), secs);
        };
        run(
            "root, columns, no counts, 8/pass",
            Rows::From(0),
            &gh,
            8,
            false,
        );
        run("root, columns, counts, 4/pass", Rows::From(0), &gh, 4, true);
        let third: Vec<u32> = (0..n as u32).filter(|i| i % 3 == 0).collect();
        let g3: Vec<[f32; 2]> = third.iter().map(|&r| gh[r as usize]).collect();
        run(
            "1/3 leaf, columns, counts, 4/pass",
            Rows::Subset(&third),
            &g3,
            4,
            true,
        );
        let rb = units.row_major(&data).expect("u8 bins");
        let small: Vec<u32> = (0..n as u32).filter(|i| i % 20 == 7).collect();
        let g20: Vec<[f32; 2]> = small.iter().map(|&r| gh[r as usize]).collect();
        let mut words = Vec::new();
        for &r in &small {
            let r = r as usize * rb.stride;
            words.extend_from_slice(&rb.words[r..r + rb.stride]);
        }
        let gathered = Gathered {
            stride: rb.stride,
            words: &words,
        };
        let secs = best(reps, || {
            let mut ts = targets(&layout, &units, &features, &mut buf);
            for (us, ts) in all.chunks(4).zip(ts.chunks_mut(4)) {
                histogram::build_gathered(gathered, us, &g20, ts);
            }
        });
        report(
            &format!("1/20 leaf, gathered, counts, 4/pass, bundles {bundle}"),
            small.len(),
            secs,
        );
    }
}
