//! Times generating into a file the way `fathom data generate` does
//! (windows of chunks generated in parallel while the previous window is
//! encoded): `cargo run --release --example write_timing -- OUT [ROWS]`.

use fathom_core::{ColumnType, Frame};
use fathom_data::export::TableWriter;
use fathom_data::generate::{Generator, GeneratorConfig};
use rayon::prelude::*;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: write_timing OUT [ROWS]")?;
    let rows = std::env::args()
        .nth(2)
        .map_or(Ok(1_000_000), |r| r.parse())?;
    let t0 = Instant::now();
    let generator = Generator::new(GeneratorConfig {
        rows,
        ..GeneratorConfig::default()
    })?;
    let columns: Vec<(String, ColumnType)> = Generator::columns()
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
    let mut writer = TableWriter::create(&path, &columns)?;
    let window = rayon::current_num_threads().max(1) * 2;
    let chunks = generator.num_chunks();
    let make = |start: usize| -> Vec<Frame> {
        let end = (start + window).min(chunks);
        (start..end)
            .into_par_iter()
            .map(|i| generator.chunk(i))
            .collect()
    };
    let mut current = make(0);
    let mut start = 0;
    while !current.is_empty() {
        start += window;
        let (next, written) = rayon::join(
            || {
                if start < chunks {
                    make(start)
                } else {
                    Vec::new()
                }
            },
            || -> Result<(), fathom_data::DataError> {
                for f in &current {
                    writer.write(f)?;
                }
                Ok(())
            },
        );
        written?;
        current = next;
    }
    let summary = writer.finish()?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} rows, {} bytes in {secs:.3}s ({:.2} M rows/s)",
        summary.rows,
        summary.bytes,
        summary.rows as f64 / secs / 1e6
    );
    Ok(())
}
