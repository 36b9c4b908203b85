//! Times generating into a file the way `fathom data generate` does
//! (windows of chunks generated in parallel while the previous window is
//! encoded): `cargo run --release --example write_timing -- OUT [ROWS]`.

use fathom_data::generate::{Generator, GeneratorConfig};
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
    let summary = fathom_data::export::write_generated(&generator, path.as_ref(), &|_| {})?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} rows, {} bytes in {secs:.3}s ({:.2} M rows/s)",
        summary.rows,
        summary.bytes,
        summary.rows as f64 / secs / 1e6
    );
    Ok(())
}
