//! Registry events from the command line: commands that change the
//! registry deliver their events to a real local HTTP receiver (signed,
//! with the event's headers); a receiver that is down never fails the
//! command, the failure is listed and can be sent again.

mod common;
use common::{fathom_with, text};
use fathom_registry::events::signature;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One request as the receiver read it off the socket.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

/// A plain HTTP/1.1 receiver on a std TcpListener, answering 200 to
/// every request and keeping them all.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(listener: TcpListener) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Some(r) = read_request(stream) {
                    keep.lock().unwrap().push(r);
                }
            }
        });
        Receiver { port, seen }
    }

    fn requests(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(stream: TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let mut out = stream;
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .ok()?;
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

const SECRET_ENV: (&str, &str) = ("FATHOM_TEST_HOOK_SECRET", "from-the-environment");

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    fathom_with(dir, args, &[("USER", "tester"), SECRET_ENV])
}

fn ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = run(dir, args);
    assert!(o.status.success(), "fathom {args:?} failed:\n{}", text(&o));
    o
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let o = ok(dir, &full);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// Generates a small data set and trains a baseline on it (registered as
/// `m`@1).
fn train(dir: &Path) {
    ok(
        dir,
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
    ok(
        dir,
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
    );
}

#[test]
fn commands_deliver_signed_events_to_each_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rx = Receiver::start(TcpListener::bind("127.0.0.1:0").unwrap());
    std::fs::write(
        d.join("fathom.toml"),
        format!(
            r#"
[[registry.webhooks]]
url = "http://127.0.0.1:{port}/all"
secret = "topsecret"

[[registry.webhooks]]
url = "http://127.0.0.1:{port}/moves"
events = ["alias_moved", "rollback"]
secret_env = "{env}"
"#,
            port = rx.port,
            env = SECRET_ENV.0
        ),
    )
    .unwrap();
    train(d);
    ok(d, &["models", "promote", "m", "1"]);
    ok(
        d,
        &[
            "models",
            "register",
            "--model-file",
            "m.fathom",
            "--name",
            "m",
        ],
    );
    ok(d, &["models", "promote", "m", "2"]);
    ok(d, &["models", "rollback", "m", "--reason", "night shift"]);

    let got = rx.requests();
    let at =
        |path: &str| -> Vec<Received> { got.iter().filter(|r| r.path == path).cloned().collect() };
    let kinds = |rs: &[Received]| -> Vec<String> {
        rs.iter()
            .map(|r| r.json()["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = at("/all");
    let moves = at("/moves");
    assert_eq!(
        kinds(&all),
        [
            "version_registered",
            "alias_moved",
            "version_registered",
            "alias_moved",
            "rollback"
        ]
    );
    assert_eq!(kinds(&moves), ["alias_moved", "alias_moved", "rollback"]);
    for (r, secret) in all
        .iter()
        .map(|r| (r, "topsecret"))
        .chain(moves.iter().map(|r| (r, SECRET_ENV.1)))
    {
        let body = r.json();
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.header("x-fathom-event"), body["kind"].as_str().unwrap());
        assert_eq!(r.header("x-fathom-event-id"), body["id"].to_string());
        assert_eq!(r.header("x-fathom-delivery-attempt"), "1");
        assert!(r.header("user-agent").starts_with("fathom/"));
        assert_eq!(
            r.header("x-fathom-signature"),
            signature(secret.as_bytes(), &r.body).unwrap(),
            "signature of {body}"
        );
        assert_eq!(body["model"], "m");
        assert_eq!(body["data"]["actor"], "tester");
    }
    let rollback = all.last().unwrap().json();
    assert_eq!(rollback["alias"], "production");
    assert_eq!(
        (
            rollback["data"]["from"].as_i64(),
            rollback["version"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(rollback["data"]["reason"], "night shift");

    // The store shows every delivery as delivered; nothing is due.
    let events = json(d, &["events", "list"]);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 5);
    for e in events {
        for dl in e["deliveries"].as_array().unwrap() {
            assert_eq!(dl["status"], "delivered", "{e}");
            assert_eq!(dl["attempts"], 1);
        }
    }
    let report = json(d, &["events", "deliver"]);
    assert_eq!(report["delivered"], 0);
    assert_eq!(rx.requests().len(), 8);
}

#[test]
fn receiver_down_warns_and_the_failure_is_listed_and_resent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A port with nothing listening (bound, then released).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/hook");
    std::fs::write(
        d.join("fathom.toml"),
        format!(
            "[[registry.webhooks]]\nurl = \"{url}\"\n\n[registry.delivery]\nmax_attempts = 2\nfirst_retry_secs = 1\n"
        ),
    )
    .unwrap();
    // The change is made and the command succeeds; the failed delivery is
    // a warning naming the webhook.
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
    let o = ok(
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
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "warning: event 1 (version_registered) not delivered to {url}"
        )) && err.contains("attempt 1; retried after"),
        "{err}"
    );
    // The next change attempts its own event; the first waits for its
    // backoff.
    let o = ok(d, &["models", "promote", "m", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("event 2 (alias_moved) not delivered"), "{err}");
    assert!(!err.contains("event 1 "), "{err}");
    assert_eq!(
        json(d, &["models", "show", "m@production"])["version"]["version"],
        1
    );
    let events = json(d, &["events", "list"]);
    let first = &events.as_array().unwrap()[1]["deliveries"][0];
    assert_eq!(
        (first["status"].as_str(), first["attempts"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert!(first["next_attempt_at"].is_string());
    assert!(first["last_error"].as_str().is_some_and(|e| !e.is_empty()));

    // After the backoff, the second and last attempt fails, and `events
    // deliver` says so with status 1. Once the webhook has failed in a
    // pass, its other due delivery waits for the next pass.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let o = run(d, &["events", "deliver"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("event 1 (version_registered)") && out.contains("no attempts left"),
        "{out}"
    );
    assert!(
        out.contains("0 delivered, 1 failed, 1 waiting for the next pass"),
        "{out}"
    );
    let o = run(d, &["events", "deliver"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("event 2 (alias_moved)"), "{}", text(&o));
    let failed = json(d, &["events", "list", "--failed"]);
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 2);
    for e in failed {
        let dl = &e["deliveries"][0];
        assert_eq!(dl["status"], "failed");
        assert_eq!(dl["attempts"], 2);
        assert_eq!(dl["webhook"], url.as_str());
    }
    let table = ok(d, &["events", "list", "--failed"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("FAILED after 2 attempts"), "{table}");

    // The receiver comes up: failed deliveries are sent again on request,
    // oldest first.
    let rx = Receiver::start(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let report = json(d, &["events", "deliver", "--retry-failed"]);
    assert_eq!(
        (
            report["retried_failed"].as_i64(),
            report["delivered"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let ids: Vec<i64> = rx
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert!(
        json(d, &["events", "list", "--failed"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}
