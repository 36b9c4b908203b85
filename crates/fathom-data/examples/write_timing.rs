//! Times generating and writing: `cargo run --release --example write_timing -- OUT.parquet [ROWS]`.

use fathom_data::export::write_frame;
use fathom_data::generate::{GeneratorConfig, generate_all};
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
    let frame = generate_all(GeneratorConfig {
        rows,
        ..GeneratorConfig::default()
    })?;
    let t_gen = t0.elapsed();
    write_frame(&path, &frame)?;
    let t_write = t0.elapsed();
    println!(
        "generate {:.3}s, write {:.3}s",
        t_gen.as_secs_f64(),
        (t_write - t_gen).as_secs_f64()
    );
    Ok(())
}
