//! Helpers shared by the black-box tests of the `fathom` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `fathom args…` in `dir` with no FATHOM_* settings from outside.
pub fn fathom(dir: &Path, args: &[&str]) -> Output {
    fathom_with(dir, args, &[])
}

/// Runs `fathom args…` in `dir` with extra environment variables.
pub fn fathom_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fathom"));
    c.args(args)
        .current_dir(dir)
        .env_remove("FATHOM_ROWS")
        .env_remove("FATHOM_SEED")
        .env_remove("FATHOM_STORE")
        .env_remove("FATHOM_CONFIG")
        .env_remove("FATHOM_DATABASE_URL");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the fathom binary runs")
}

/// Stdout and stderr of a run, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `fathom args…` in `dir` and fails the test unless it succeeds.
pub fn ok(dir: &Path, args: &[&str]) -> Output {
    let o = fathom(dir, args);
    assert!(o.status.success(), "fathom {args:?} failed:\n{}", text(&o));
    o
}

/// SHA-256 of a file's bytes.
pub fn sha256_file(p: &Path) -> String {
    fathom_core::sha256_hex(&std::fs::read(p).unwrap())
}
