//! Atomic writes leave a normal file: ordinary permissions, no temporary
//! file beside it.

#[cfg(unix)]
#[test]
fn written_files_get_the_usual_mode_not_the_temp_files_private_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    fathom_data::export::write_atomic(&path, b"<html></html>").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    // The process umask decides the exact bits; group or others can read
    // unless the umask forbids it, and the owner can always read and write.
    let umask = current_umask();
    assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.html")]);
}

/// The umask, read from /proc (Linux) or assumed to be the common 022.
#[cfg(unix)]
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Generating into a file (chunks generated a few ahead on every thread,
/// each written as soon as it is next in the file, written chunks synced
/// to disk on a thread of their own) writes exactly the table the
/// generator builds in memory, whatever the thread count, and leaves only
/// the finished file behind.
#[test]
fn generated_file_holds_the_generated_table_with_any_thread_count() {
    use fathom_data::generate::{Generator, GeneratorConfig};
    use fathom_data::ingest::{ReadOptions, read_frame};
    let config = GeneratorConfig {
        rows: 20_000,
        chunk_rows: 1_000,
        ..GeneratorConfig::default()
    };
    let generator = Generator::new(config).unwrap();
    let want = generator.generate_all();
    let dir = tempfile::tempdir().unwrap();
    for threads in [1, 3, 8] {
        let path = dir.path().join(format!("tx-{threads}.parquet"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let rows = std::sync::atomic::AtomicU64::new(0);
        let summary = pool
            .install(|| {
                fathom_data::export::write_generated(&generator, &path, &|n| {
                    rows.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                })
            })
            .unwrap();
        assert_eq!(summary.rows, 20_000);
        assert_eq!(rows.into_inner(), 20_000);
        assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
        let got = read_frame(&path, &ReadOptions::default()).unwrap();
        assert_eq!(got.num_rows(), want.num_rows());
        for (a, b) in got.columns().iter().zip(want.columns()) {
            assert_eq!(a.name, b.name);
            for i in 0..want.num_rows() {
                assert_eq!(a.is_valid(i), b.is_valid(i), "{} row {i}", a.name);
                if b.is_valid(i) {
                    assert_eq!(a.display_value(i), b.display_value(i), "{} row {i}", a.name);
                }
            }
        }
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["tx-1.parquet", "tx-3.parquet", "tx-8.parquet"]);
}

/// A target that is not a regular file (a named pipe here; `/dev/null`
/// and `/dev/stdout` alike) is written into, not renamed over: the pipe
/// survives and its reader gets the bytes. A folder is refused.
#[cfg(unix)]
#[test]
fn special_files_are_written_into_and_folders_refused() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED special_files_…: mkfifo is not available"
        );
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    fathom_data::export::write_atomic(&fifo, b"a,b\n1,2\n").unwrap();
    assert_eq!(reader.join().unwrap(), b"a,b\n1,2\n");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // Nothing else was left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("pipe.csv")]);

    let err = fathom_data::export::write_atomic(dir.path(), b"x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a folder; give a file name"), "{err}");
}
