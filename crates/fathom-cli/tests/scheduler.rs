//! The long-running schedulers through the binary: `fathom serve
//! --with-scheduler` runs a queued run while the server answers and stops
//! on SIGTERM; `fathom scheduler` delivers a registry event whose first
//! delivery failed once the receiver is back. Also the normal output of
//! `fathom pipeline status` and `fathom pipeline history --tasks`.

mod common;

use common::{fathom_with, ok, ok_json, text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A local address with nothing listening on it (bound, then released).
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// `GET path` on `addr`: the status, or `None` when nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fathom"))
        .args(args)
        .current_dir(dir)
        .env_remove("FATHOM_CONFIG")
        .env_remove("FATHOM_STORE")
        .env_remove("FATHOM_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, then the process's stderr; asserts it stopped cleanly.
fn terminate(child: Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn data_run(dir: &Path, date: &str) -> serde_json::Value {
    let h = ok_json(dir, &["--json", "pipeline", "history", "data"]);
    h.as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"]["logical_date"] == date)
        .cloned()
        .unwrap_or_else(|| panic!("no data run for {date}: {h}"))
}

#[test]
fn serve_with_scheduler_runs_a_queued_run_while_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    std::fs::write(
        d.join("fathom.toml"),
        "[data]\nsource = \"landing/tx-{date}.csv\"\nschema = \"fathom-quickstart/schema.toml\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("landing")).unwrap();
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "2000",
            "--seed",
            "5",
            "--start",
            "2024-04-01",
            "--days",
            "30",
            "-o",
            "landing/tx-2026-03-02.csv",
        ],
    );
    let queued = ok(
        d,
        &[
            "pipeline",
            "trigger",
            "data",
            "--date",
            "2026-03-02",
            "--reason",
            "backfill",
        ],
    );
    assert!(
        text(&queued).contains("queued data 2026-03-02"),
        "{}",
        text(&queued)
    );
    assert_eq!(data_run(d, "2026-03-02")["run"]["status"], "queued");

    let addr = free_addr();
    let child = spawn(
        d,
        &["serve", "--with-scheduler", "--listen", &addr.to_string()],
    );
    // The server answers all along; the scheduler's first tick runs the
    // queued run.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answered = 0;
    let run = loop {
        if let Some(status) = get(addr, "/health") {
            assert_eq!(status, 200);
            answered += 1;
        }
        let run = data_run(d, "2026-03-02");
        if answered > 0 && !matches!(run["run"]["status"].as_str(), Some("queued" | "running")) {
            break run;
        }
        assert!(Instant::now() < deadline, "not run in time: {run}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["reason"], "backfill");
    assert_eq!(get(addr, "/ready"), Some(200));
    let err = terminate(child);
    assert!(
        err.contains("scheduler: data 2026-03-02 (manual): succeeded"),
        "{err}"
    );

    // `pipeline status`: the built-in schedules, the last run per pipeline.
    let status = text(&ok(d, &["pipeline", "status"]));
    let id = run["run"]["id"].as_i64().unwrap();
    let line = |name: &str| {
        status
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {status}"))
            .to_string()
    };
    let data = line("data");
    assert!(
        data.contains("0 2 * * *")
            && data.contains(&format!("2026-03-02 (run {id})"))
            && data.contains("succeeded"),
        "{status}"
    );
    assert!(
        line("training").contains("0 3 * * 0") && line("training").contains("never"),
        "{status}"
    );
    assert!(line("monitoring").contains("0 * * * *"), "{status}");

    // `pipeline history --tasks`: every attempt with its log.
    let history = text(&ok(d, &["pipeline", "history", "data", "--tasks"]));
    assert!(
        history.contains(&format!("run {id} (data 2026-03-02):")),
        "{history}"
    );
    for t in [
        "ingest",
        "validate",
        "snapshot",
        "reference",
        "quality_report",
    ] {
        assert!(
            history.contains(&format!("  {t} attempt 1: succeeded")),
            "{t}: {history}"
        );
    }
    assert!(
        history.contains("    | read 2000 rows and"),
        "the ingest log: {history}"
    );
}

/// A webhook receiver on `listener`: answers 200 and keeps each body.
fn receive(listener: TcpListener) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    break;
                }
                let h = h.trim_end().to_ascii_lowercase();
                if h.is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                keep.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let mut out = stream;
            let _ = out
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    seen
}

#[test]
fn the_scheduler_delivers_an_event_once_its_receiver_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = free_addr();
    std::fs::write(
        d.join("fathom.toml"),
        format!(
            "[[registry.webhooks]]\nurl = \"http://{addr}/hook\"\n\n[registry.delivery]\nmax_attempts = 5\nfirst_retry_secs = 1\nmax_retry_secs = 1\n"
        ),
    )
    .unwrap();
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "3000",
            "-o",
            "t.parquet",
        ],
    );
    // The receiver is down: the command's own delivery fails and waits.
    let o = fathom_with(
        d,
        &[
            "-q",
            "train",
            "--data",
            "t.parquet",
            "--candidates",
            "baseline",
            "-o",
            "m.fathom",
            "--model",
            "m",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("(version_registered) not delivered"),
        "{}",
        text(&o)
    );
    // Back up; only the scheduler runs from now on.
    let seen = receive(TcpListener::bind(addr).unwrap());
    let child = spawn(d, &["scheduler", "--poll", "1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the event was not delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = terminate(child);
    assert!(
        err.contains("registry event(s) delivered"),
        "the scheduler says so: {err}"
    );
    let body = seen.lock().unwrap()[0].clone();
    assert!(body.contains("version_registered"), "{body}");
    let events = ok_json(d, &["--json", "events", "list"]);
    let delivery = &events[0]["deliveries"][0];
    assert_eq!(delivery["status"], "delivered", "{events}");
    assert_eq!(delivery["attempts"], 2, "{events}");
}
