//! Realistic traffic against a running server: quickstart's serving step.
//! Records from a data file are sent over keep-alive HTTP/1.1 connections,
//! each answer timed at the client; a share of them later gets its true
//! label through `/v1/feedback`, as a fraud team's chargebacks would.

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use fathom_core::Frame;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use std::net::SocketAddr;
use std::time::Instant;

/// What a burst of traffic saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Burst {
    /// Predictions answered with 200.
    pub answered: u64,
    /// Answers that were not 200.
    pub failed: u64,
    /// Answers at or above the threshold.
    pub positives: u64,
    /// Feedback labels accepted.
    pub feedback: u64,
    /// Client-side latency percentiles, microseconds: p50, p90, p99, max.
    pub latency_us: [u64; 4],
    /// Requests per second over the burst.
    pub per_second: f64,
    /// Versions that answered, with their counts.
    pub versions: Vec<(i64, u64)>,
}

struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to the server at {addr}"))?;
        stream.set_nodelay(true).ok();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, serde_json::Value)> {
        self.sender.ready().await?;
        let req = Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    }
}

/// Sends `rows` of `frame` (label left out) from `connections` clients;
/// then sends the label of every `feedback_every`-th answered record.
pub async fn send(
    addr: SocketAddr,
    frame: &Frame,
    label: &str,
    connections: usize,
    feedback_every: usize,
) -> Result<Burst> {
    let n = frame.num_rows();
    let labels: Vec<Option<f64>> = match frame.column(label) {
        Some(c) => (0..n).map(|i| c.f64_at(i)).collect(),
        None => vec![None; n],
    };
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_json::to_vec(&fathom_serve::records::record_json(frame, i, &[label])))
        .collect::<Result<_, _>>()?;
    let connections = connections.clamp(1, n.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let mine: Vec<(usize, Vec<u8>)> = bodies
            .iter()
            .enumerate()
            .skip(c)
            .step_by(connections)
            .map(|(i, b)| (i, b.clone()))
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await?;
            let mut out = Vec::with_capacity(mine.len());
            for (i, body) in mine {
                let t = Instant::now();
                let (status, json) = client.post("/v1/predict", body).await?;
                out.push((i, status, json, t.elapsed().as_micros() as u64));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut answers = Vec::with_capacity(n);
    for t in tasks {
        answers.extend(
            t.await
                .map_err(|e| anyhow!("a client task failed: {e}"))??,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies: Vec<u64> = answers.iter().map(|a| a.3).collect();
    latencies.sort_unstable();
    let q = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    let mut versions = std::collections::BTreeMap::new();
    let (mut answered, mut failed, mut positives) = (0, 0, 0);
    for (_, status, json, _) in &answers {
        if *status == 200 {
            answered += 1;
            positives += u64::from(json["decision"].as_bool() == Some(true));
            *versions
                .entry(json["version"].as_i64().unwrap_or(0))
                .or_insert(0u64) += 1;
        } else {
            failed += 1;
        }
    }
    answers.sort_by_key(|a| a.0);
    let mut client = Client::connect(addr).await?;
    let mut feedback = 0;
    for (i, status, json, _) in answers.iter().step_by(feedback_every.max(1)) {
        let (Some(id), Some(y), 200) = (json["request_id"].as_str(), labels[*i], *status) else {
            continue;
        };
        let body = serde_json::to_vec(&serde_json::json!({"request_id": id, "label": y}))?;
        let (s, _) = client.post("/v1/feedback", body).await?;
        feedback += u64::from(s == 202);
    }
    Ok(Burst {
        answered,
        failed,
        positives,
        feedback,
        latency_us: [q(0.5), q(0.9), q(0.99), q(1.0)],
        per_second: answers.len() as f64 / seconds.max(1e-9),
        versions: versions.into_iter().collect(),
    })
}
