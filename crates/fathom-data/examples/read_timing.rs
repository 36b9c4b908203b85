//! Times the phases of reading a file: `cargo run --release --example read_timing -- FILE`.

use fathom_data::ingest::{ReadOptions, open};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_timing FILE")?;
    let t0 = Instant::now();
    let reader = open(&path, &ReadOptions::default())?;
    let t_open = t0.elapsed();
    let batches: Vec<_> = reader.collect::<Result<_, _>>()?;
    let t_read = t0.elapsed();
    let frame = fathom_core::Frame::concat(&batches)?;
    let t_concat = t0.elapsed();
    println!(
        "{} rows in {} batches: open {:.3}s, batches {:.3}s, concat {:.3}s",
        frame.num_rows(),
        batches.len(),
        t_open.as_secs_f64(),
        (t_read - t_open).as_secs_f64(),
        (t_concat - t_read).as_secs_f64()
    );
    Ok(())
}
