//! Times reading a file: `cargo run --release --example read_timing -- FILE [RUNS] [whole]`.
//! Prints the whole-table read (`read_frame`, what `fathom data inspect`
//! times) and the streaming batch read (what validation and profiling use).

use fathom_data::ingest::{ReadOptions, open, read_frame};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: read_timing FILE [RUNS] [whole]")?;
    let runs: usize = std::env::args().nth(2).map_or(Ok(3), |r| r.parse())?;
    for _ in 0..runs {
        let t0 = Instant::now();
        let frame = read_frame(&path, &ReadOptions::default())?;
        let whole = t0.elapsed().as_secs_f64();
        drop(frame);
        if std::env::args().nth(3).as_deref() == Some("whole") {
            println!("whole table {whole:.3}s");
            continue;
        }
        let t0 = Instant::now();
        let mut rows = 0;
        for batch in open(&path, &ReadOptions::default())? {
            rows += batch?.num_rows();
        }
        let streamed = t0.elapsed().as_secs_f64();
        println!("{rows} rows: whole table {whole:.3}s, batches {streamed:.3}s");
    }
    Ok(())
}
