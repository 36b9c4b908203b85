//! `fathom serve` as a process: killed with SIGKILL under load in fsync
//! mode, every prediction it acknowledged is in the log after restart; a
//! clean SIGTERM drains in-flight requests and flushes buffered records;
//! two replicas ship their logs (to the artifact folder, and to an S3
//! bucket when FATHOM_TEST_S3_ENDPOINT names one) and one check reads both;
//! tokens, a canary promoted through the API, its automatic rollback by
//! the guardrails, and promotions and rollbacks from the command line,
//! all followed by one running server.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One request on a fresh connection: status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    request_as(addr, None, method, path, body)
}

/// One request with a bearer token (when given) on a fresh connection.
fn request_as(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn start(dir: &std::path::Path, addr: SocketAddr, durability: &str) -> Child {
    spawn_ready(
        dir,
        addr,
        &["-q", "serve", "--durability", durability],
        &[],
        Stdio::null(),
    )
}

/// Runs `fathom ARGS --listen ADDR` in `dir` with extra environment
/// variables and waits until it is ready.
fn spawn_ready(
    dir: &std::path::Path,
    addr: SocketAddr,
    args: &[&str],
    env: &[(&str, String)],
    stderr: Stdio,
) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_fathom"))
        .args(args)
        .args(["--listen", &addr.to_string()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .env_remove("FATHOM_CONFIG")
        .env_remove("FATHOM_STORE")
        .env_remove("FATHOM_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let t = Instant::now();
    while request(addr, "GET", "/ready", "").is_none_or(|(s, _)| s != 200) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A store with model `fraud` in production, and request bodies.
fn setup() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &["-q", "quickstart", "--rows", "3000", "--requests", "0"],
    );
    ok(
        dir.path(),
        &[
            "-q", "data", "generate", "--rows", "50", "--seed", "5", "-o", "few.csv",
        ],
    );
    let text = std::fs::read_to_string(dir.path().join("few.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let bodies = lines
        .map(|l| {
            let mut m = serde_json::Map::new();
            for (k, v) in header.iter().zip(l.split(',')) {
                let value = if v.is_empty() {
                    serde_json::Value::Null
                } else if let Ok(n) = v.parse::<f64>() {
                    serde_json::json!(n)
                } else if v == "true" || v == "false" {
                    serde_json::Value::Bool(v == "true")
                } else {
                    serde_json::Value::String(v.to_string())
                };
                if *k != "is_fraud" {
                    m.insert(k.to_string(), value);
                }
            }
            serde_json::Value::Object(m).to_string()
        })
        .collect();
    (dir, bodies)
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_prediction_in_fsync_mode() {
    let (dir, bodies) = setup();
    let addr = free_addr();
    let mut child = start(dir.path(), addr, "fsync");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (acked, stop, bodies) = (acked.clone(), stop.clone(), bodies.clone());
            std::thread::spawn(move || {
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    match request(addr, "POST", "/v1/predict", &bodies[i % bodies.len()]) {
                        Some((200, body)) => {
                            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .push(v["request_id"].as_str().unwrap().to_string());
                        }
                        Some((status, body)) => panic!("{status}: {body}"),
                        None => break,
                    }
                    i += 4;
                }
            })
        })
        .collect();
    // Let acknowledged records pile up, then kill without warning.
    while acked.lock().unwrap().len() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // A restart recovers the log (cutting any torn tail) and serves again.
    let mut child = start(dir.path(), addr, "fsync");
    child.kill().unwrap();
    child.wait().unwrap();
    let reader = fathom_predlog::LogReader::open(dir.path().join(".fathom/predictions")).unwrap();
    let logged: std::collections::HashSet<String> = reader
        .predictions(0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged predictions lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigterm_drains_and_flushes_the_buffered_log() {
    let (dir, bodies) = setup();
    let addr = free_addr();
    let child = start(dir.path(), addr, "buffered");
    let mut ids = Vec::new();
    for b in bodies.iter().take(40) {
        let (status, body) = request(addr, "POST", "/v1/predict", b).unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        ids.push(v["request_id"].as_str().unwrap().to_string());
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    let reader = fathom_predlog::LogReader::open(dir.path().join(".fathom/predictions")).unwrap();
    let logged: Vec<String> = reader
        .predictions(0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    for id in &ids {
        assert!(logged.contains(id), "{id} was answered but not logged");
    }
}

#[test]
fn the_check_counts_the_requests_the_server_refused() {
    let (dir, bodies) = setup();
    let addr = free_addr();
    let child = start(dir.path(), addr, "buffered");
    for b in bodies.iter().take(30) {
        assert_eq!(request(addr, "POST", "/v1/predict", b).unwrap().0, 200);
    }
    for _ in 0..10 {
        let (status, _) = request(addr, "POST", "/v1/predict", r#"{"amount": "lots"}"#).unwrap();
        assert_eq!(status, 422);
    }
    // The server records its totals as it stops.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait_with_output().unwrap().status.success());
    let runs = ok_json(
        dir.path(),
        &["--json", "runs", "list", "--experiment", "fraud-serving"],
    );
    assert_eq!(runs["runs"][0]["metrics"]["requests"], 40.0, "{runs}");
    assert_eq!(runs["runs"][0]["metrics"]["errors"], 10.0, "{runs}");
    let done = ok_json(dir.path(), &["--json", "monitor", "--window", "1h"]);
    let signals = &done["report"]["signals"];
    assert_eq!(signals["requests"], 40, "{signals}");
    assert_eq!(signals["error_rate"], 0.25, "{signals}");
    // 25 % is far above the 1 % limit: a finding; the default alert rule
    // waits five minutes before it fires.
    assert_eq!(signals["findings"][0]["check"], "error_rate", "{signals}");
}

/// Starts `fathom serve` with the configuration file `config`.
fn start_with(
    dir: &std::path::Path,
    addr: SocketAddr,
    config: &str,
    env: &[(&str, String)],
) -> Child {
    // What it says (warnings print even when quiet) goes to CONFIG.stderr.
    let said = std::fs::File::create(dir.join(format!("{config}.stderr"))).unwrap();
    spawn_ready(
        dir,
        addr,
        &["-q", "--config", config, "serve"],
        env,
        Stdio::from(said),
    )
}

/// `fathom --json ARGS` with extra environment variables, which must succeed.
fn json_with(dir: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = fathom_with(dir, &all, &env);
    assert!(o.status.success(), "fathom {all:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, text) = request(addr, "GET", "/metrics", "").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn two_replicas_ship_their_logs_and_one_check_reads_both_with_labels_crossing_over() {
    replicas_ship_and_one_check_reads_both(None);
}

#[test]
fn two_replicas_ship_their_logs_to_an_s3_bucket() {
    let Ok(endpoint) = std::env::var("FATHOM_TEST_S3_ENDPOINT") else {
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED two_replicas_ship_their_logs_to_an_s3_bucket: FATHOM_TEST_S3_ENDPOINT is not set (run `. .ci/s3-setup.sh` to start a local S3-compatible server)"
            );
        }
        return;
    };
    replicas_ship_and_one_check_reads_both(Some(&endpoint));
}

/// Two servers on one store, each with its own log folder, shipping to the
/// local artifact folder or (with an endpoint) an S3-compatible bucket.
fn replicas_ship_and_one_check_reads_both(s3: Option<&str>) {
    let (dir, bodies) = setup();
    let d = dir.path();
    let (store, env) = match s3 {
        Some(endpoint) => {
            let bucket = format!("ship-{}", std::process::id());
            create_bucket(endpoint, &bucket);
            (
                format!("[store]\nartifacts = \"s3://{bucket}/fleet\"\n"),
                s3_env(endpoint),
            )
        }
        None => (String::new(), Vec::new()),
    };
    // A ships every 200 ms while it runs; B only as it stops (its last
    // round, after the log is closed).
    for (r, every) in [("a", 200), ("b", 3_600_000)] {
        std::fs::write(
            d.join(format!("{r}.toml")),
            format!("{store}[serve.log]\ndir = \"logs/{r}\"\nship = true\nship_ms = {every}\n"),
        )
        .unwrap();
    }
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let a = start_with(d, addr_a, "a.toml", &env);
    let b = start_with(d, addr_b, "b.toml", &env);
    // Requests alternate between the replicas; each label goes to the
    // other one, as a load balancer may send it.
    let mut ids = Vec::new();
    for (i, body) in bodies.iter().take(40).enumerate() {
        let addr = if i % 2 == 0 { addr_a } else { addr_b };
        let (status, text) = request(addr, "POST", "/v1/predict", body).unwrap();
        assert_eq!(status, 200, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        ids.push((v["request_id"].as_str().unwrap().to_string(), addr));
    }
    for (i, (id, answered_by)) in ids.iter().enumerate() {
        let other = if *answered_by == addr_a {
            addr_b
        } else {
            addr_a
        };
        let label = f64::from(u8::from(i % 5 == 0));
        let body = format!(r#"{{"request_id": "{id}", "label": {label}}}"#);
        let (status, text) = request(other, "POST", "/v1/feedback", &body).unwrap();
        assert!(status < 300, "{status} {text}");
    }
    // While they run, replica A ships by itself (segments close by age).
    let t = Instant::now();
    while metric(addr_a, "fathom_log_shipped_files_total") < 1.0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "replica A never shipped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // B stops cleanly and ships what is left as it goes.
    let stop = |child: Child| {
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
    };
    stop(b);
    stop(a);
    // What each replica said (a failed shipping round, say), shown with
    // any failure below.
    let said = ["b", "a"]
        .map(|r| {
            let text =
                std::fs::read_to_string(d.join(format!("{r}.toml.stderr"))).unwrap_or_default();
            format!("replica {r} said:\n{text}")
        })
        .join("\n");

    // A machine with neither replica's folder: the check reads what they
    // shipped, every answer with its label from the other replica.
    std::fs::rename(d.join("logs"), d.join("elsewhere")).unwrap();
    let done = json_with(d, &["monitor", "--window", "1h"], &env);
    let report = &done["report"];
    assert_eq!(report["predictions"], 40, "{said}\n{report}");
    assert_eq!(report["labelled"], 40, "{said}\n{report}");
    let run = done["run"].as_i64().unwrap().to_string();
    let shown = ok_json(d, &["--json", "runs", "show", &run]);
    let shipped = shown["metrics"]["shipped_log_files"]["value"]
        .as_f64()
        .unwrap();
    assert!(shipped >= 4.0, "both kinds from both replicas: {shipped}");
    // On replica A's machine (its folder back), its own segments are read
    // locally and B's from the cache: the same answer, nothing twice.
    std::fs::rename(d.join("elsewhere"), d.join("logs")).unwrap();
    let done = json_with(
        d,
        &["--config", "a.toml", "monitor", "--window", "1h"],
        &env,
    );
    assert_eq!(done["report"]["predictions"], 40);
    assert_eq!(done["report"]["labelled"], 40);
}

/// `fathom serve token`: a fresh token and its SHA-256.
fn make_token(dir: &std::path::Path, name: &str, role: &str) -> (String, String) {
    let t = ok_json(
        dir,
        &["--json", "serve", "token", "--name", name, "--role", role],
    );
    (
        t["token"].as_str().unwrap().to_string(),
        t["sha256"].as_str().unwrap().to_string(),
    )
}

/// Sends `bodies` as `token` until `want` holds for an answer (or 20 s pass).
fn until_answer(
    addr: SocketAddr,
    token: &str,
    bodies: &[String],
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t = Instant::now();
    for body in bodies.iter().cycle() {
        let (status, text) = request_as(addr, Some(token), "POST", "/v1/predict", body).unwrap();
        assert_eq!(status, 200, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if want(&v) {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no such answer; last: {v}"
        );
    }
    unreachable!("cycle never ends")
}

#[test]
fn tokens_a_canary_its_automatic_rollback_and_command_line_moves_reach_one_running_server() {
    let (dir, bodies) = setup();
    let d = dir.path();
    // A second version of fraud, trained on other rows.
    ok(
        d,
        &[
            "-q", "data", "generate", "--rows", "2000", "--seed", "9", "-o", "more.csv",
        ],
    );
    ok(
        d,
        &["-q", "train", "--data", "more.csv", "--model", "fraud"],
    );
    let (checkout, checkout_sha) = make_token(d, "checkout", "predict");
    let (deployer, deployer_sha) = make_token(d, "deployer", "operate");
    std::fs::write(
        d.join("acceptance.toml"),
        format!(
            r#"[serve]
canary_percent = 50
poll_ms = 100

[serve.guardrails]
min_requests = 30
max_latency_ratio = 1000000
max_score_psi = 0.000001

[serve.auth]
open_predict = false
open_read = false

[[serve.auth.tokens]]
name = "checkout"
sha256 = "{checkout_sha}"
roles = ["predict"]

[[serve.auth.tokens]]
name = "deployer"
sha256 = "{deployer_sha}"
roles = ["operate"]
"#
        ),
    )
    .unwrap();
    let addr = free_addr();
    let child = start_with(d, addr, "acceptance.toml", &[]);

    // Auth: no token 401, the predict token 200, reading with it 403,
    // and changes never open.
    let body = &bodies[0];
    assert_eq!(request(addr, "POST", "/v1/predict", body).unwrap().0, 401);
    let (status, text) = request_as(addr, Some(&checkout), "POST", "/v1/predict", body).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(r#""version":1"#) && text.contains(r#""variant":"production""#),
        "{text}"
    );
    assert_eq!(
        request_as(addr, Some(&checkout), "GET", "/v1/models", "")
            .unwrap()
            .0,
        403
    );
    let to_canary = r#"{"version": 2, "alias": "canary", "reason": "try the retrained model"}"#;
    assert_eq!(
        request_as(
            addr,
            Some(&checkout),
            "POST",
            "/v1/models/fraud/promote",
            to_canary
        )
        .unwrap()
        .0,
        403
    );

    // The operate token makes version 2 the canary; the server follows.
    let (status, text) = request_as(
        addr,
        Some(&deployer),
        "POST",
        "/v1/models/fraud/promote",
        to_canary,
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let v = until_answer(addr, &checkout, &bodies, |v| v["variant"] == "canary");
    assert_eq!(v["version"], 2);

    // Its scores depart from production's beyond the (tiny) PSI limit: once
    // both have 30 answers the guardrails remove it, audited.
    let t = Instant::now();
    while metric(addr, "fathom_canary_rollbacks_total") < 1.0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the canary was never rolled back"
        );
        for b in bodies.iter().take(10) {
            assert_eq!(
                request_as(addr, Some(&checkout), "POST", "/v1/predict", b)
                    .unwrap()
                    .0,
                200
            );
        }
    }
    // The server drops the canary at its next poll: then production
    // answers every card.
    let t = Instant::now();
    while !bodies.iter().all(|b| {
        let (_, text) = request_as(addr, Some(&checkout), "POST", "/v1/predict", b).unwrap();
        text.contains(r#""variant":"production""#)
    }) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the canary still answers"
        );
    }
    let audit = ok_json(d, &["--json", "audit", "--model", "fraud"]);
    assert!(audit.to_string().contains("canary guardrail"), "{audit}");

    // From the command line: version 2 to production (past the gate:
    // trained on other rows, its holdout differs), then rolled back.
    ok(
        d,
        &[
            "-q",
            "models",
            "promote",
            "fraud",
            "2",
            "--force",
            "--reason",
            "acceptance",
        ],
    );
    until_answer(addr, &checkout, &bodies, |v| {
        v["version"] == 2 && v["variant"] == "production"
    });
    ok(
        d,
        &[
            "-q",
            "models",
            "rollback",
            "fraud",
            "--reason",
            "acceptance",
        ],
    );
    until_answer(addr, &checkout, &bodies, |v| v["version"] == 1);

    // One process throughout: it stops cleanly.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn sigterm_with_requests_in_flight_answers_them_and_logs_every_answer() {
    let (dir, bodies) = setup();
    let addr = free_addr();
    let child = start(dir.path(), addr, "buffered");
    // One request in flight for the whole shutdown: its body half sent.
    let slow_body = bodies[0].clone();
    let (head, tail) = slow_body.split_at(slow_body.len() / 2);
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        slow,
        "POST /v1/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{head}",
        slow_body.len()
    )
    .unwrap();
    // Traffic from four clients.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (acked, bodies) = (acked.clone(), bodies.clone());
            std::thread::spawn(move || {
                let mut i = c;
                // Until the server stops taking connections.
                while let Some((status, body)) =
                    request(addr, "POST", "/v1/predict", &bodies[i % bodies.len()])
                {
                    assert_eq!(status, 200, "{body}");
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .push(v["request_id"].as_str().unwrap().to_string());
                    i += 4;
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 200 {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    // The server stops taking connections...
    let t = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
    for c in clients {
        c.join().unwrap();
    }
    // ...but answers the request that was in flight.
    slow.write_all(tail.as_bytes()).unwrap();
    let mut raw = String::new();
    slow.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let v: serde_json::Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap();
    let mut acked = acked.lock().unwrap().clone();
    acked.push(v["request_id"].as_str().unwrap().to_string());
    assert!(child.wait_with_output().unwrap().status.success());
    let reader = fathom_predlog::LogReader::open(dir.path().join(".fathom/predictions")).unwrap();
    let logged: std::collections::HashSet<String> = reader
        .predictions(0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered predictions not logged: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
