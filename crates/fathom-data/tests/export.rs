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
