//! Helpers shared by the black-box tests of the `fathom` binary.

#![allow(dead_code)]

use fathom_predlog::{FeedbackRecord, LogConfig, PredictionLog, PredictionRecord, Variant};
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

/// Runs `fathom args…` (which must ask for `--json`) in `dir`, fails the
/// test unless it succeeds, and reads what it printed.
pub fn ok_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let o = ok(dir, args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
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

/// One CSV row as the JSON object a client would have sent (the label
/// left out: it arrives as feedback).
pub fn row_json(header: &[&str], line: &str) -> String {
    let mut obj = serde_json::Map::new();
    for (name, cell) in header.iter().zip(line.split(',')) {
        let v = if cell.is_empty() || *name == "is_fraud" {
            continue;
        } else if let Ok(x) = cell.parse::<f64>() {
            serde_json::Value::from(x)
        } else if let Ok(b) = cell.parse::<bool>() {
            serde_json::Value::Bool(b)
        } else {
            serde_json::Value::String(cell.to_string())
        };
        obj.insert(name.to_string(), v);
    }
    serde_json::Value::Object(obj).to_string()
}

/// Generates `rows` transactions of `scenario` after the training period,
/// keeps those after its half-way switch, scores them with the production
/// model (`fathom predict`), and writes them to the prediction log as
/// served answers, each with its true label as feedback.
pub fn serve_scenario(d: &Path, scenario: &str, seed: &str, rows: usize) -> usize {
    let all = format!("{scenario}.csv");
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            seed,
            "--scenario",
            scenario,
            "--start",
            "2024-04-01",
            "--days",
            "60",
            "-o",
            &all,
        ],
    );
    let text = std::fs::read_to_string(d.join(&all)).unwrap();
    let mut lines = text.lines();
    let header_line = lines.next().unwrap();
    let body: Vec<&str> = lines.skip(rows / 2).collect();
    let after = format!("{scenario}_after.csv");
    std::fs::write(
        d.join(&after),
        format!("{header_line}\n{}\n", body.join("\n")),
    )
    .unwrap();
    let scores = format!("{scenario}_scores.csv");
    ok(
        d,
        &[
            "-q",
            "predict",
            "--model",
            "fraud@production",
            "--input",
            &after,
            "--output",
            &scores,
        ],
    );
    let scored = std::fs::read_to_string(d.join(&scores)).unwrap();
    let mut scored = scored.lines();
    let cols: Vec<&str> = scored.next().unwrap().split(',').collect();
    let (si, di) = (
        cols.iter().position(|c| *c == "score").unwrap(),
        cols.iter().position(|c| *c == "decision").unwrap(),
    );
    let header: Vec<&str> = header_line.split(',').collect();
    let li = header.iter().position(|c| *c == "is_fraud").unwrap();
    // The version that scored them: production's now.
    let version =
        ok_json(d, &["--json", "models", "show", "fraud@production"])["version"]["version"]
            .as_i64()
            .unwrap();
    let log = PredictionLog::open(LogConfig::new(d.join(".fathom").join("predictions"))).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (i, (line, s)) in body.iter().zip(scored).enumerate() {
        let s: Vec<&str> = s.split(',').collect();
        let id = format!("{scenario}-{seed}-{i}");
        log.append_detached(PredictionRecord {
            request_id: id.clone(),
            time_ms: now - 600_000 + i as i64,
            model: "fraud".into(),
            version,
            variant: Variant::Production,
            inputs: bytes::Bytes::from(row_json(&header, line)),
            score: s[si].parse().unwrap(),
            decision: Some(s[di] == "true"),
            latency_us: 300,
            degraded: false,
        })
        .unwrap();
        let label: f64 = if matches!(line.split(',').nth(li).unwrap(), "true" | "1") {
            1.0
        } else {
            0.0
        };
        log.append_feedback_detached(FeedbackRecord {
            request_id: id,
            time_ms: now - 60_000,
            label,
        })
        .unwrap();
    }
    log.shutdown().unwrap();
    body.len()
}

/// Creates a bucket on the S3 test server (which takes unsigned requests).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    use std::io::{Read, Write};
    let hostport = endpoint
        .trim_end_matches('/')
        .strip_prefix("http://")
        .unwrap();
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// The S3 test server's settings for the `fathom` binary.
pub fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "fathom-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "fathom-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}
