//! The server end to end over real HTTP: answers equal batch scoring,
//! the contract, alias moves without restarts, canary stickiness,
//! shadows, fallbacks, auth, explanations, metrics and the API description.

mod common;

use common::*;
use fathom_model::predictor::Predictor;
use fathom_serve::ServeConfig;
use fathom_serve::config::{AuthConfig, Fallback, TokenConfig};
use fathom_serve::contract::UnknownFields;
use serde_json::{Value, json};

#[test]
fn predictions_equal_batch_scoring_bit_for_bit() {
    let f = fixture(1);
    let expected = Predictor::new(f.artifacts[0].clone())
        .unwrap()
        .score_frame(&f.frame)
        .unwrap();
    let threshold = f.artifacts[0].threshold;
    rt().block_on(async {
        let (addr, _state, stop, done) = serve(f.options(no_log())).await;
        let mut records = Vec::new();
        for (i, want) in expected.iter().enumerate().take(40) {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            assert_eq!(
                j["score"].as_f64().unwrap().to_bits(),
                want.to_bits(),
                "row {i}"
            );
            assert_eq!(j["decision"].as_bool().unwrap(), *want >= threshold);
            assert_eq!(j["version"], 1);
            assert_eq!(j["variant"], "production");
            assert_eq!(j["model"], "fraud");
            assert_eq!(r.header("x-request-id"), j["request_id"].as_str());
            records.push(Value::Object(record(&f.frame, i)));
        }
        let b = post_json(addr, "/v1/predict/batch", &json!({"records": records})).await;
        assert_eq!(b.status, 200, "{}", b.text());
        let preds = b.json()["predictions"].as_array().unwrap().clone();
        assert_eq!(preds.len(), 40);
        for (i, p) in preds.iter().enumerate() {
            assert_eq!(
                p["score"].as_f64().unwrap().to_bits(),
                expected[i].to_bits()
            );
        }
        // A caller's request id is kept.
        let r = http(
            addr,
            "POST",
            "/v1/predict",
            &[("x-request-id", "order-7")],
            &serde_json::to_vec(&record(&f.frame, 0)).unwrap(),
        )
        .await;
        assert_eq!(r.json()["request_id"], "order-7");
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn contract_violations_get_422_with_one_entry_per_problem() {
    let f = fixture(1);
    rt().block_on(async {
        let config = ServeConfig {
            unknown_fields: UnknownFields::Reject,
            max_batch: 3,
            max_body_bytes: 64 * 1024,
            timeout_ms: 1000,
            ..no_log()
        };
        let (addr, _s, stop, done) = serve(f.options(config)).await;
        let mut rec = record(&f.frame, 0);
        rec.insert("amount".into(), json!("a lot"));
        rec.insert("is_online".into(), json!(3));
        rec.insert("merchant_category".into(), json!({"nested": true}));
        rec.insert("favourite_colour".into(), json!("blue"));
        let r = post_json(addr, "/v1/predict", &Value::Object(rec)).await;
        assert_eq!(r.status, 422, "{}", r.text());
        let j = r.json();
        assert_eq!(j["error"]["code"], "invalid_record");
        let problems = j["error"]["problems"].as_array().unwrap();
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        // One entry per field: a wrongly typed required field is a type
        // problem, not also a missing one.
        for want in [
            "amount",
            "is_online",
            "merchant_category",
            "favourite_colour",
        ] {
            let n = fields.iter().filter(|f| **f == want).count();
            assert_eq!(n, 1, "{want} listed {n} times in {fields:?}");
        }
        assert_eq!(problems.len(), 4, "{fields:?}");
        assert!(
            j["error"]["message"].as_str().unwrap().contains("4 problems"),
            "{j}"
        );
        let amount = problems.iter().find(|p| p["field"] == "amount").unwrap();
        assert_eq!(amount["expected"], "number");
        assert!(amount["got"].as_str().unwrap().contains("a lot"));

        // A required (non-nullable) input left out.
        let mut rec = record(&f.frame, 0);
        rec.remove("amount");
        let r = post_json(addr, "/v1/predict", &Value::Object(rec)).await;
        assert_eq!(r.status, 422);
        assert!(r.text().contains("\"field\":\"amount\""), "{}", r.text());

        // Not JSON, not an object.
        for body in [&b"{not json"[..], b"[1,2]", b""] {
            let r = http(addr, "POST", "/v1/predict", &[], body).await;
            assert_eq!(r.status, 422, "{}", r.text());
        }
        // A bad record in a batch is named by its index; nothing is scored.
        let mut bad = record(&f.frame, 1);
        bad.insert("amount".into(), json!(true));
        let records = json!({"records": [record(&f.frame, 0), bad]});
        let r = post_json(addr, "/v1/predict/batch", &records).await;
        assert_eq!(r.status, 422);
        assert!(r.text().contains("records[1].amount"), "{}", r.text());
        // Too many records, too large a body.
        let four: Vec<_> = (0..4).map(|i| Value::Object(record(&f.frame, i))).collect();
        let r = post_json(addr, "/v1/predict/batch", &json!({"records": four})).await;
        assert_eq!(r.status, 413, "{}", r.text());
        let big = vec![b' '; 70 * 1024];
        let r = http(addr, "POST", "/v1/predict", &[], &big).await;
        assert_eq!(r.status, 413);
        assert!(r.text().contains("[serve] max_body_bytes"), "{}", r.text());
        // A chunked body (no declared length) is cut off at the limit too.
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
            for _ in 0..9 {
                if tcp.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = tcp.write_all(b"0\r\n\r\n").await;
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&answer).contains("}") {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed without an answer");
                answer.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 413"), "{text}");
            assert!(text.contains("max_body_bytes"), "{text}");
        }
        // A client that sends half its body and stalls gets 408 once the
        // time limit has passed (the timer is armed only when a request waits).
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let started = std::time::Instant::now();
            tcp.write_all(b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"amount\":")
                .await
                .unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            while !answer.ends_with(b"}") {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed without an answer");
                answer.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            assert!(text.contains("limit of 1000 ms ([serve] timeout_ms)"), "{text}");
            assert!(started.elapsed() >= std::time::Duration::from_millis(1000), "{text}");
        }
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn alias_moves_take_effect_without_restart_or_failed_requests() {
    let f = fixture(2);
    rt().block_on(async {
        let (addr, _s, stop, done) = serve(f.options(no_log())).await;
        let body = serde_json::to_vec(&record(&f.frame, 5)).unwrap();
        let version = |r: Reply| {
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["version"].as_i64().unwrap()
        };
        assert_eq!(
            version(http(addr, "POST", "/v1/predict", &[], &body).await),
            1
        );
        // Traffic keeps flowing while the alias moves.
        let traffic = {
            let body = body.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..150 {
                    let r = http(addr, "POST", "/v1/predict", &[], &body).await;
                    assert_eq!(
                        r.status,
                        200,
                        "a request failed during the move: {}",
                        r.text()
                    );
                    seen.push(r.json()["version"].as_i64().unwrap());
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                seen
            })
        };
        f.set_alias("production", 2);
        assert!(
            eventually(|| {
                let body = body.clone();
                async move { version(http(addr, "POST", "/v1/predict", &[], &body).await) == 2 }
            })
            .await,
            "the promotion did not reach the server"
        );
        let seen = traffic.await.unwrap();
        // Once version 2 answered, version 1 never did again.
        let first2 = seen.iter().position(|&v| v == 2).unwrap_or(seen.len());
        assert!(seen[first2..].iter().all(|&v| v == 2), "{seen:?}");
        // Rollback.
        let mut store = f.store();
        store
            .rollback(
                "fraud",
                "production",
                &fathom_registry::Actor::new("test", "here"),
                "bad",
            )
            .unwrap();
        assert!(
            eventually(|| {
                let body = body.clone();
                async move { version(http(addr, "POST", "/v1/predict", &[], &body).await) == 1 }
            })
            .await
        );
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn canary_is_sticky_by_card_and_takes_its_share() {
    let f = fixture(2);
    f.set_alias("canary", 2);
    rt().block_on(async {
        let config = ServeConfig {
            canary_percent: 50.0,
            ..no_log()
        };
        let (addr, state, stop, done) = serve(f.options(config)).await;
        let mut by_card = std::collections::HashMap::new();
        let mut canary = 0;
        for i in 0..200 {
            let mut rec = record(&f.frame, i);
            let card = 1000 + i % 50;
            rec.insert("card_id".into(), json!(card));
            let r = post_json(addr, "/v1/predict", &Value::Object(rec)).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            let variant = j["variant"].as_str().unwrap().to_string();
            let version = j["version"].as_i64().unwrap();
            assert_eq!(version, if variant == "canary" { 2 } else { 1 });
            if variant == "canary" {
                canary += 1;
            }
            let prev = by_card.insert(card, variant.clone());
            assert!(prev.is_none_or(|p| p == variant), "{card} switched variant");
        }
        // 50 cards at 50 %: the canary's card count is Binomial(50, 0.5);
        // 12..=38 holds with probability > 0.9999.
        let canary_cards = by_card.values().filter(|v| *v == "canary").count();
        assert!(
            (12..=38).contains(&canary_cards),
            "{canary_cards} of 50 cards"
        );
        assert_eq!(canary, canary_cards * 4);
        let d = state.deployment.load_full().unwrap();
        assert_eq!(
            d.canary.as_ref().unwrap().0.stats.snapshot().requests,
            canary as u64
        );
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn shadows_score_without_answering_and_fallback_answers_a_corrupt_version() {
    let f = fixture(2);
    f.set_alias("shadow", 2);
    rt().block_on(async {
        let (addr, state, stop, done) = serve(f.options(no_log())).await;
        for i in 0..20 {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.json()["variant"], "production");
            assert_eq!(r.json()["version"], 1);
        }
        let d = state.deployment.load_full().unwrap();
        assert_eq!(d.shadows[0].model.version, 2);
        assert_eq!(d.shadows[0].stats.snapshot().requests, 20);
        let m = http(addr, "GET", "/metrics", &[], b"").await.text();
        assert!(
            m.contains("fathom_predictions_total{variant=\"shadow\""),
            "{m}"
        );

        // Version 2 is promoted, then its artifact is damaged before the
        // server loads it: version 1 keeps answering, marked degraded.
        f.set_alias("shadow", 1);
        let sha = f.store().model_version("fraud", 2).unwrap().artifact_sha256;
        let path = artifact_file(&f.store_dir(), &sha);
        // A fresh server has not loaded version 2 yet.
        stop.send(()).unwrap();
        done.await.unwrap();
        f.set_alias("production", 2);
        std::fs::write(&path, b"damaged").unwrap();
        let (addr, _state, stop, done) = serve(f.options(no_log())).await;
        let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        assert_eq!(j["version"], 1);
        assert_eq!(j["variant"], "fallback");
        assert!(j["degraded"].as_str().unwrap().contains("version 2"), "{j}");
        let ready = http(addr, "GET", "/ready", &[], b"").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.json()["status"], "degraded");
        let m = http(addr, "GET", "/metrics", &[], b"").await.text();
        assert!(m.contains("fathom_model_load_failures_total 1"), "{m}");
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn the_configured_fallback_answers_a_broken_production_the_baseline_or_the_previous_or_none() {
    let f = fixture(3);
    // Version 1 is the baseline; production went 2, then 3, whose
    // artifact is damaged before any server loads it.
    f.set_alias("baseline", 1);
    f.set_alias("production", 2);
    f.set_alias("production", 3);
    let sha = f.store().model_version("fraud", 3).unwrap().artifact_sha256;
    std::fs::write(artifact_file(&f.store_dir(), &sha), b"damaged").unwrap();
    rt().block_on(async {
        for (fallback, answers) in [
            (Fallback::Baseline, Some(1)),
            (Fallback::Previous, Some(2)),
            (Fallback::None, None),
        ] {
            let config = ServeConfig {
                fallback,
                ..no_log()
            };
            let (addr, _state, stop, done) = serve(f.options(config)).await;
            let ready = http(addr, "GET", "/ready", &[], b"").await;
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
            match answers {
                Some(v) => {
                    assert_eq!(ready.json()["status"], "degraded", "{fallback:?}");
                    assert_eq!(r.status, 200, "{fallback:?}: {}", r.text());
                    let j = r.json();
                    assert_eq!(j["version"], v, "{fallback:?}");
                    assert_eq!(j["variant"], "fallback");
                    assert!(j["degraded"].as_str().unwrap().contains("version 3"), "{j}");
                }
                None => {
                    assert_eq!(ready.status, 503, "{fallback:?}");
                    assert_eq!(r.status, 503, "{fallback:?}: {}", r.text());
                }
            }
            stop.send(()).unwrap();
            done.await.unwrap();
        }
    });
    // A baseline alias that names nothing leaves the server not ready.
    let mut store = f.store();
    store
        .remove_alias(
            "fraud",
            "baseline",
            &fathom_registry::Actor::new("t", "h"),
            "gone",
        )
        .unwrap();
    rt().block_on(async {
        let config = ServeConfig {
            fallback: Fallback::Baseline,
            ..no_log()
        };
        let (addr, _state, stop, done) = serve(f.options(config)).await;
        assert_eq!(http(addr, "GET", "/ready", &[], b"").await.status, 503);
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn tokens_roles_and_open_predict() {
    let f = fixture(1);
    rt().block_on(async {
        let config = ServeConfig {
            auth: AuthConfig {
                open_predict: false,
                open_read: false,
                tokens: vec![
                    TokenConfig {
                        name: "checkout".into(),
                        sha256: fathom_serve::auth::token_hash("tok-predict"),
                        roles: vec!["predict".into()],
                        rate_per_second: 0.0,
                    },
                    TokenConfig {
                        name: "dashboard".into(),
                        sha256: fathom_serve::auth::token_hash("tok-read"),
                        roles: vec!["read".into()],
                        rate_per_second: 0.0,
                    },
                ],
            },
            ..no_log()
        };
        let (addr, _s, stop, done) = serve(f.options(config)).await;
        let body = serde_json::to_vec(&record(&f.frame, 0)).unwrap();
        assert_eq!(
            http(addr, "POST", "/v1/predict", &[], &body).await.status,
            401
        );
        let auth = |t: &'static str| [("authorization", t)];
        assert_eq!(
            http(addr, "POST", "/v1/predict", &auth("Bearer nope"), &body)
                .await
                .status,
            401
        );
        assert_eq!(
            http(addr, "POST", "/v1/predict", &auth("Bearer tok-read"), &body)
                .await
                .status,
            403
        );
        assert_eq!(
            http(
                addr,
                "POST",
                "/v1/predict",
                &auth("Bearer tok-predict"),
                &body
            )
            .await
            .status,
            200
        );
        assert_eq!(
            http(addr, "GET", "/v1/models", &auth("Bearer tok-predict"), b"")
                .await
                .status,
            403
        );
        let models = http(addr, "GET", "/v1/models", &auth("Bearer tok-read"), b"").await;
        assert_eq!(models.status, 200);
        assert_eq!(models.json()["deployed"][0]["version"], 1);
        // Liveness, readiness and metrics stay open.
        assert_eq!(http(addr, "GET", "/health", &[], b"").await.status, 200);
        assert_eq!(http(addr, "GET", "/ready", &[], b"").await.status, 200);
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn explanations_add_up_to_the_raw_score() {
    let f = fixture(1);
    rt().block_on(async {
        let (addr, _s, stop, done) = serve(f.options(no_log())).await;
        for i in [0, 7, 19] {
            let r = post_json(
                addr,
                "/v1/explain?top=1000",
                &Value::Object(record(&f.frame, i)),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            let sum: f64 = j["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contribution"].as_f64().unwrap())
                .sum();
            let raw = j["raw_score"].as_f64().unwrap();
            assert!((j["base_value"].as_f64().unwrap() + sum - raw).abs() < 1e-9);
            // Binary trees: the score is the logistic of the raw score.
            let p = 1.0 / (1.0 + (-raw).exp());
            assert!((p - j["score"].as_f64().unwrap()).abs() < 1e-12, "{j}");
            let c = j["contributions"].as_array().unwrap();
            assert!(
                c.windows(2)
                    .all(|w| w[0]["contribution"].as_f64().unwrap().abs()
                        >= w[1]["contribution"].as_f64().unwrap().abs())
            );
        }
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn metrics_pass_promtool_and_openapi_describes_the_record() {
    let f = fixture(1);
    // A finished monitoring check, as `fathom monitor` records it: its
    // findings show on /metrics.
    {
        let mut store = f.store();
        let run = store
            .start_run(&fathom_registry::NewRun::new(
                "fraud-monitoring",
                "check 1h",
            ))
            .unwrap();
        let metrics = [
            ("drift_score", 0.25),
            ("drift:amount", 1.0),
            ("drift:country", 0.0),
            ("null_rate:amount", 0.0125),
            ("auc_roc", 0.875),
            ("predictions", 400.0),
        ];
        store
            .log_batch(
                run,
                &fathom_registry::RunBatch {
                    params: Vec::new(),
                    metrics: metrics
                        .iter()
                        .map(|(k, v)| fathom_registry::MetricPoint::new(*k, *v))
                        .collect(),
                    tags: Vec::new(),
                },
            )
            .unwrap();
        store.finish_run(run).unwrap();
    }
    rt().block_on(async {
        let (addr, _s, stop, done) = serve(f.options(no_log())).await;
        for i in 0..5 {
            post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
        }
        post_json(addr, "/v1/predict", &json!({"amount": "x"})).await;
        let m = http(addr, "GET", "/metrics", &[], b"").await;
        assert_eq!(m.status, 200);
        let text = m.text();
        for family in [
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"200\",variant=\"production\"} 5",
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"422\",variant=\"none\"} 1",
            "fathom_http_request_duration_seconds_bucket",
            "fathom_prediction_score_bucket",
            "fathom_model_info{model=\"fraud\",version=\"1\",variant=\"production\"} 1",
            "fathom_build_info",
            "fathom_drift_score{model=\"fraud\"} 0.25",
            "fathom_feature_drift{model=\"fraud\",feature=\"amount\"} 1.0",
            "fathom_feature_drift{model=\"fraud\",feature=\"country\"} 0.0",
            "fathom_feature_null_rate{model=\"fraud\",feature=\"amount\"} 0.0125",
            "fathom_rolling_auc{model=\"fraud\"} 0.875",
            "fathom_monitor_last_check_timestamp_seconds{model=\"fraud\"}",
        ] {
            assert!(text.contains(family), "{family} not in:\n{text}");
        }
        match std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            Ok(mut child) => {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "promtool: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(_) => { use std::io::Write as _; let _ = writeln!(std::io::stderr(), "SKIPPED promtool check: promtool is not installed (.ci/run installs Debian's prometheus package)"); },
        }

        let spec = http(addr, "GET", "/openapi.json", &[], b"").await.json();
        assert_eq!(spec["openapi"], "3.1.0");
        let record_schema = &spec["components"]["schemas"]["Record"];
        assert_eq!(record_schema["properties"]["amount"]["type"][0], "number");
        assert!(record_schema["required"].as_array().unwrap().contains(&json!("amount")));
        for p in ["/v1/predict", "/v1/predict/batch", "/v1/explain", "/v1/feedback", "/v1/models", "/health", "/ready", "/metrics"] {
            assert!(spec["paths"][p].is_object(), "{p}");
        }
        let docs = http(addr, "GET", "/docs", &[], b"").await;
        assert!(docs.header("content-type").unwrap().starts_with("text/html"));
        assert!(docs.text().contains("<code>amount</code>"));
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn not_ready_without_a_production_alias() {
    let f = fixture(1);
    let mut store = f.store();
    store
        .remove_alias(
            "fraud",
            "production",
            &fathom_registry::Actor::new("t", "h"),
            "test",
        )
        .unwrap();
    rt().block_on(async {
        let (addr, _s, stop, done) = serve(f.options(no_log())).await;
        assert_eq!(http(addr, "GET", "/health", &[], b"").await.status, 200);
        let r = http(addr, "GET", "/ready", &[], b"").await;
        assert_eq!(r.status, 503);
        let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["error"]["code"], "not_ready");
        f.set_alias("production", 1);
        assert!(
            eventually(|| async { http(addr, "GET", "/ready", &[], b"").await.status == 200 })
                .await
        );
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn guardrails_remove_a_canary_whose_scores_depart_and_audit_why() {
    let f = fixture(2);
    f.set_alias("canary", 2);
    rt().block_on(async {
        let config = ServeConfig {
            canary_percent: 50.0,
            guardrails: fathom_serve::config::Guardrails {
                min_requests: 20,
                // Any visible difference between the two score
                // distributions is too much here.
                max_score_psi: 1e-6,
                max_latency_ratio: 1e9,
                ..Default::default()
            },
            ..no_log()
        };
        let (addr, state, stop, done) = serve(f.options(config)).await;
        for i in 0..200 {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.status, 200);
        }
        assert!(
            eventually(|| {
                let state = state.clone();
                async move { state.deployment.load().as_ref().unwrap().canary.is_none() }
            })
            .await,
            "the canary was not removed"
        );
        let mut store = f.store();
        let v2 = store.model_version("fraud", 2).unwrap();
        assert!(!v2.aliases.contains(&"canary".to_string()));
        let audit = store
            .audit(&fathom_registry::AuditQuery {
                model: Some("fraud".into()),
                ..Default::default()
            })
            .unwrap();
        let entry = audit
            .iter()
            .find(|e| e.reason.contains("canary guardrail"))
            .expect("an audit entry for the automatic rollback");
        assert!(entry.reason.contains("PSI"), "{}", entry.reason);
        assert_eq!(entry.actor, "fathom-serve");
        let m = http(addr, "GET", "/metrics", &[], b"").await.text();
        assert!(m.contains("fathom_canary_rollbacks_total 1"), "{m}");
        // Every request is answered by production now.
        let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
        assert_eq!(r.json()["variant"], "production");
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn every_answer_and_label_lands_in_the_prediction_log_sanitised() {
    let f = fixture(2);
    f.set_alias("shadow", 2);
    let log_dir = f.dir.path().join("log");
    let batch_id = rt().block_on(async {
        let mut config = ServeConfig::default();
        config.log.dir = Some(log_dir.clone());
        config.log.durability = "fsync".into();
        config.log.hash_fields = vec!["card_id".into()];
        config.log.drop_fields = vec!["customer_age".into()];
        config.log.salt = "pepper".into();
        let (addr, state, stop, done) = serve(f.options(config)).await;
        let mut ids = Vec::new();
        for i in 0..30 {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.status, 200);
            ids.push((
                r.json()["request_id"].as_str().unwrap().to_string(),
                r.json()["score"].as_f64().unwrap(),
            ));
        }
        let b = post_json(
            addr,
            "/v1/predict/batch",
            &json!({"records": [record(&f.frame, 0), record(&f.frame, 1)]}),
        )
        .await;
        let batch_id = b.json()["request_id"].as_str().unwrap().to_string();
        for (id, _) in ids.iter().take(10) {
            let r = post_json(addr, "/v1/feedback", &json!({"request_id": id, "label": 1})).await;
            assert_eq!(r.status, 202, "{}", r.text());
        }
        let bad = post_json(
            addr,
            "/v1/feedback",
            &json!({"request_id": "x", "label": 7}),
        )
        .await;
        assert_eq!(bad.status, 422);
        drop(state);
        stop.send(()).unwrap();
        let report = done.await.unwrap();
        // 30 answers + 30 shadow answers + 2 batch records + 2 shadow.
        assert_eq!(report.logged, 30 + 30 + 2 + 2 + 10, "{report:?}");
        batch_id
    });
    let reader = fathom_predlog::LogReader::open(&log_dir).unwrap();
    let all = reader.predictions(0, i64::MAX).unwrap();
    assert_eq!(all.len(), 64);
    let joined = reader.joined(0, i64::MAX).unwrap();
    let labelled = joined
        .iter()
        .filter(|(p, fb)| fb.is_some() && p.variant == fathom_predlog::Variant::Production)
        .count();
    assert_eq!(labelled, 10);
    let first = all
        .iter()
        .find(|p| {
            p.request_id == all[0].request_id && p.variant == fathom_predlog::Variant::Production
        })
        .unwrap();
    assert_eq!(first.version, 1);
    let inputs: Value = serde_json::from_slice(&first.inputs).unwrap();
    assert!(
        inputs.get("customer_age").is_none(),
        "dropped field kept: {inputs}"
    );
    // Hashed: hex SHA-256 of salt followed by the value as sent.
    let card = record(&f.frame, 0)["card_id"].to_string();
    let want = fathom_serve::auth::token_hash(&format!("pepper{card}"));
    assert_eq!(inputs["card_id"], json!(want), "{inputs}");
    assert!(
        all.iter()
            .any(|p| p.request_id.starts_with(&format!("{batch_id}/")))
    );
    assert!(
        all.iter()
            .filter(|p| p.variant == fathom_predlog::Variant::Shadow)
            .all(|p| p.version == 2)
    );
}

#[test]
fn https_with_a_configured_certificate() {
    let f = fixture(1);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = f.dir.path().join("cert.pem");
    let key_path = f.dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    rt().block_on(async {
        let config = ServeConfig {
            tls: Some(fathom_serve::config::TlsConfig {
                cert: cert_path.clone(),
                key: key_path.clone(),
            }),
            ..no_log()
        };
        let (addr, _s, stop, done) = serve(f.options(config)).await;
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let client = tokio_rustls::rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = serde_json::to_vec(&record(&f.frame, 0)).unwrap();
        let head = format!(
            "POST /v1/predict HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("\"variant\":\"production\""), "{text}");
        // Plain HTTP on the TLS port gets no answer.
        let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut got)).await;
        assert!(!got.starts_with(b"HTTP/1.1 200"));
        stop.send(()).unwrap();
        done.await.unwrap();
    });
    // A wrong key path is refused at start, naming the file.
    rt().block_on(async {
        let config = ServeConfig {
            tls: Some(fathom_serve::config::TlsConfig {
                cert: cert_path,
                key: f.dir.path().join("missing.pem"),
            }),
            ..no_log()
        };
        let e = fathom_serve::start(f.options(config))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
    });
}

#[test]
fn on_postgresql_a_promotion_reaches_the_server_by_notification() {
    let f = fixture(2);
    let Some(mut pg) = pg_copy(
        &f,
        "notify",
        "on_postgresql_a_promotion_reaches_the_server_by_notification",
    ) else {
        return;
    };
    rt().block_on(async {
        let mut options = f.options(no_log());
        options.store = pg.location.clone();
        // Polling alone would take ten minutes.
        options.config.poll_ms = 600_000;
        let (addr, _s, stop, done) = serve(options).await;
        let body = serde_json::to_vec(&record(&f.frame, 3)).unwrap();
        let version = |r: Reply| r.json()["version"].as_i64().unwrap();
        assert_eq!(
            version(http(addr, "POST", "/v1/predict", &[], &body).await),
            1
        );
        tokio::task::block_in_place(|| pg.set_alias("production", 2));
        assert!(
            eventually(|| {
                let body = body.clone();
                async move { version(http(addr, "POST", "/v1/predict", &[], &body).await) == 2 }
            })
            .await,
            "the notification did not reach the server"
        );
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

/// A TCP forwarder to `target` that can be cut: every connection through
/// it is closed and new ones are refused.
struct Cuttable {
    addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Cuttable {
    fn new(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, k) = (cut.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                k.lock().unwrap().push(client.try_clone().unwrap());
                k.lock().unwrap().push(server.try_clone().unwrap());
                for (mut a, mut b) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut a, &mut b);
                        let _ = b.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Cuttable { addr, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn an_unreachable_registry_leaves_the_loaded_model_serving_and_ready_says_so() {
    let f = fixture(1);
    let Some(pg_store) = pg_copy(
        &f,
        "cut",
        "an_unreachable_registry_leaves_the_loaded_model_serving_and_ready_says_so",
    ) else {
        return;
    };
    let (base, schema) = (pg_store.base.clone(), pg_store.schema.clone());
    // The server reaches PostgreSQL through a forwarder the test can cut.
    let pg: url_parts::Parts = url_parts::parse(&base);
    let proxy = Cuttable::new(pg.addr);
    let through = format!(
        "postgres://{}@{}/{}?options=-c%20search_path%3D{schema}",
        pg.user, proxy.addr, pg.database
    );
    rt().block_on(async {
        let mut options = f.options(no_log());
        options.store = through;
        let (addr, _s, stop, done) = serve(options).await;
        let ready = http(addr, "GET", "/ready", &[], b"").await.json();
        assert_eq!(ready["store"]["reachable"], true, "{ready}");
        proxy.cut();
        assert!(
            eventually(|| async {
                http(addr, "GET", "/ready", &[], b"").await.json()["store"]["reachable"] == false
            })
            .await,
            "/ready did not notice"
        );
        let ready = http(addr, "GET", "/ready", &[], b"").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.json()["status"], "degraded");
        assert!(
            !ready.json()["store"]["error"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        );
        let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["version"], 1);
        let m = http(addr, "GET", "/metrics", &[], b"").await.text();
        assert!(m.contains("fathom_registry_up 0"), "{m}");
        stop.send(()).unwrap();
        done.await.unwrap();
    });
    drop(pg_store);
}

/// Just enough of a `postgres://user@host:port/db` URL for the forwarder.
mod url_parts {
    pub struct Parts {
        pub user: String,
        pub addr: std::net::SocketAddr,
        pub database: String,
    }

    pub fn parse(url: &str) -> Parts {
        let rest = url.split_once("://").unwrap().1;
        let rest = rest.split('?').next().unwrap();
        let (auth, hostdb) = rest.split_once('@').unwrap();
        let (host, db) = hostdb.split_once('/').unwrap();
        use std::net::ToSocketAddrs;
        Parts {
            user: auth.to_string(),
            addr: host.to_socket_addrs().unwrap().next().unwrap(),
            database: db.to_string(),
        }
    }
}

#[test]
fn a_shipping_interval_under_100_ms_is_refused_with_what_to_give() {
    let f = fixture(1);
    let mut config = ServeConfig::default();
    config.log.ship = true;
    config.log.ship_ms = 10;
    let mut options = f.options(config);
    options.default_log_dir = f.store_dir().join("log");
    let err = match rt().block_on(fathom_serve::start(options)) {
        Ok(_) => panic!("a 10 ms shipping interval was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("ship_ms = 10 is too short") && err.contains("at least 100"),
        "{err}"
    );
}

/// The audit entries of `fraud`.
fn audit(f: &Fixture) -> Vec<fathom_registry::AuditEntry> {
    f.store()
        .audit(&fathom_registry::AuditQuery {
            model: Some("fraud".into()),
            ..Default::default()
        })
        .unwrap()
}

/// The value of one sample line of `/metrics` (0 when absent).
async fn sample(addr: std::net::SocketAddr, series: &str) -> f64 {
    let text = http(addr, "GET", "/metrics", &[], b"").await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn guardrails_remove_a_canary_that_fails_its_requests_and_audit_why() {
    let f = fixture(1);
    // Version 2 is version 1 with one nullable input made required: its
    // contract refuses the records that leave it out, after routing.
    let mut strict = f.artifacts[0].clone();
    let inputs: Vec<String> = strict
        .pipeline
        .inputs
        .iter()
        .map(|t| t.column().to_string())
        .collect();
    let column = strict
        .schema
        .columns
        .iter_mut()
        .find(|c| c.nullable && inputs.contains(&c.name))
        .expect("a nullable model input");
    column.nullable = false;
    let field = column.name.clone();
    let v2 = f.register(&strict);
    f.set_alias("canary", v2);
    rt().block_on(async {
        let config = ServeConfig {
            canary_percent: 50.0,
            guardrails: fathom_serve::config::Guardrails {
                min_requests: 20,
                max_latency_ratio: 1e9,
                max_score_psi: 1e9,
                ..Default::default()
            },
            ..no_log()
        };
        let (addr, state, stop, done) = serve(f.options(config)).await;
        let canary = state.deployment.load_full().unwrap().canary.clone().unwrap().0;
        let (mut ok, mut refused) = (0, 0);
        for i in 0..200 {
            let mut rec = record(&f.frame, i);
            rec.insert(field.clone(), Value::Null);
            let r = post_json(addr, "/v1/predict", &Value::Object(rec)).await;
            match r.status {
                200 => {
                    assert_eq!(r.json()["variant"], "production");
                    ok += 1;
                }
                422 => {
                    assert!(r.text().contains(&field), "{}", r.text());
                    refused += 1;
                }
                s => panic!("{s}: {}", r.text()),
            }
            if state.deployment.load().as_ref().unwrap().canary.is_none() {
                break;
            }
        }
        // Every refusal was the canary's: counted as its errors.
        assert!(refused > 0 && ok > 0, "{ok} answered, {refused} refused");
        let s = canary.stats.snapshot();
        assert_eq!(s.errors, refused as u64);
        assert_eq!(s.requests, 0);
        assert_eq!(
            sample(
                addr,
                "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"422\",variant=\"canary\"}"
            )
            .await,
            refused as f64
        );
        assert!(
            eventually(|| {
                let state = state.clone();
                async move { state.deployment.load().as_ref().unwrap().canary.is_none() }
            })
            .await,
            "the canary was not removed"
        );
        let entry = audit(&f)
            .into_iter()
            .find(|e| e.reason.contains("canary guardrail"))
            .expect("an audit entry for the automatic rollback");
        assert!(entry.reason.contains("error rate 1.0000"), "{}", entry.reason);
        assert_eq!(entry.actor, "fathom-serve");
        assert_eq!(entry.version, Some(v2));
        // With the canary gone the same records are answered.
        let mut rec = record(&f.frame, 0);
        rec.insert(field.clone(), Value::Null);
        let r = post_json(addr, "/v1/predict", &Value::Object(rec)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn guardrails_remove_a_canary_whose_p95_latency_departs_and_audit_why() {
    let f = fixture(2);
    f.set_alias("canary", 2);
    rt().block_on(async {
        let config = ServeConfig {
            canary_percent: 50.0,
            guardrails: fathom_serve::config::Guardrails {
                min_requests: 20,
                max_latency_ratio: 3.0,
                min_latency_us: 2_000,
                max_score_psi: 1e9,
                ..Default::default()
            },
            ..no_log()
        };
        let (addr, state, stop, done) = serve(f.options(config)).await;
        // The canary's counters get the answers a slow model records:
        // 40 answers of 60 ms (the latency bucket up to 100 ms). Measured
        // latency depends on the machine; the rule's decision on the
        // counters does not.
        let canary = state
            .deployment
            .load_full()
            .unwrap()
            .canary
            .clone()
            .unwrap()
            .0;
        for _ in 0..40 {
            canary.stats.observe(0.01, 60_000);
        }
        // Production answers real requests (the canary answers its share).
        for i in 0..60 {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
        assert!(
            eventually(|| {
                let state = state.clone();
                async move { state.deployment.load().as_ref().unwrap().canary.is_none() }
            })
            .await,
            "the canary was not removed"
        );
        let entry = audit(&f)
            .into_iter()
            .find(|e| e.reason.contains("canary guardrail"))
            .expect("an audit entry for the automatic rollback");
        assert!(
            entry.reason.contains("p95 latency ≤100000 µs"),
            "{}",
            entry.reason
        );
        assert_eq!(entry.actor, "fathom-serve");
        assert!(
            !f.store()
                .model_version("fraud", 2)
                .unwrap()
                .aliases
                .contains(&"canary".to_string())
        );
        assert_eq!(sample(addr, "fathom_canary_rollbacks_total").await, 1.0);
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

/// Version 1 changed so that every score is +∞: a regression whose leaves
/// and base score are each 1e308 (finite in the artifact, infinite summed).
fn infinite_scores(f: &Fixture) -> fathom_model::artifact::ModelArtifact {
    let mut a = f.artifacts[0].clone();
    let fathom_model::artifact::Estimator::Trees { ensemble } = &mut a.estimator else {
        panic!("the fixture trains trees");
    };
    ensemble.objective = "regression".into();
    ensemble.base_score = 1e308;
    for t in &mut ensemble.trees {
        for v in &mut t.leaf_value {
            *v = 1e308;
        }
    }
    a
}

#[test]
fn a_version_that_cannot_score_is_answered_for_by_the_fallback_or_503() {
    let f = fixture(1);
    let broken = f.register(&infinite_scores(&f));
    f.set_alias("production", broken);
    rt().block_on(async {
        // The previous production version (1) is the fallback.
        let (addr, state, stop, done) = serve(f.options(no_log())).await;
        let d = state.deployment.load_full().unwrap();
        assert_eq!(d.primary.model.version, broken);
        assert_eq!(d.fallback.as_ref().unwrap().model.version, 1);
        for i in 0..5 {
            let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, i))).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            assert_eq!(j["version"], 1, "{j}");
            assert_eq!(j["variant"], "fallback");
            let why = j["degraded"].as_str().unwrap();
            assert!(
                why.contains(&format!("version {broken}")) && why.contains("not a finite number"),
                "{why}"
            );
        }
        let batch = json!({"records": [record(&f.frame, 0), record(&f.frame, 1)]});
        let b = post_json(addr, "/v1/predict/batch", &batch).await;
        assert_eq!(b.status, 200, "{}", b.text());
        assert!(b.json()["predictions"].as_array().unwrap().iter().all(|p| p["variant"] == "fallback"));
        // Errors of the version that failed; answers of the fallback.
        assert_eq!(d.primary.stats.snapshot().errors, 7);
        assert_eq!(d.primary.stats.snapshot().requests, 0);
        assert_eq!(d.fallback.as_ref().unwrap().stats.snapshot().requests, 7);
        assert_eq!(
            sample(addr, "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"200\",variant=\"fallback\"}").await,
            5.0
        );
        stop.send(()).unwrap();
        done.await.unwrap();

        // Without a fallback: 503, saying why.
        let config = ServeConfig {
            fallback: Fallback::None,
            ..no_log()
        };
        let (addr, _state, stop, done) = serve(f.options(config)).await;
        let r = post_json(addr, "/v1/predict", &Value::Object(record(&f.frame, 0))).await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "scoring_failed");
        assert!(r.text().contains("not a finite number"), "{}", r.text());
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn every_answer_is_counted_once_with_its_variant_and_logged_with_its_request_id() {
    let f = fixture(1);
    rt().block_on(async {
        let config = ServeConfig {
            access_log: true,
            max_body_bytes: 64 * 1024,
            timeout_ms: 300,
            auth: AuthConfig {
                open_predict: false,
                open_read: false,
                tokens: vec![TokenConfig {
                    name: "checkout".into(),
                    sha256: fathom_serve::auth::token_hash("tok-predict"),
                    roles: vec!["predict".into()],
                    rate_per_second: 0.0,
                }],
            },
            ..no_log()
        };
        let (addr, state, stop, done) = serve(f.options(config)).await;
        let captured = Captured::default();
        state.access_log.redirect(Box::new(captured.clone()));
        let body = serde_json::to_vec(&record(&f.frame, 0)).unwrap();
        let token = [("authorization", "Bearer tok-predict")];
        let mut replies = Vec::new();
        replies.push(("POST", "/v1/predict", http(addr, "POST", "/v1/predict", &token, &body).await));
        replies.push(("POST", "/v1/predict", http(addr, "POST", "/v1/predict", &[], &body).await));
        replies.push(("GET", "/v1/models", http(addr, "GET", "/v1/models", &token, b"").await));
        replies.push(("POST", "/v1/predict", http(addr, "POST", "/v1/predict", &token, b"{\"amount\": \"a lot\"}").await));
        replies.push(("POST", "/v1/predict", http(addr, "POST", "/v1/predict", &token, &vec![b' '; 70 * 1024]).await));
        replies.push(("GET", "/nowhere", http(addr, "GET", "/nowhere", &[], b"").await));
        replies.push(("GET", "/health", http(addr, "GET", "/health", &[("x-request-id", "probe-1")], b"").await));
        // A body that stops halfway: 408 once the time limit passes.
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"POST /v1/predict HTTP/1.1\r\nhost: x\r\nauthorization: Bearer tok-predict\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"amount\":")
                .await
                .unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            while !answer.ends_with(b"}") {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed without an answer");
                answer.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&answer).into_owned();
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .expect("an x-request-id on the 408")
                .to_string();
            replies.push(("POST", "/v1/predict", Reply { status: 408, headers: vec![("x-request-id".into(), id)], body: Vec::new() }));
        }
        let statuses: Vec<u16> = replies.iter().map(|r| r.2.status).collect();
        assert_eq!(statuses, [200, 401, 403, 422, 413, 404, 200, 408]);
        // Every answer carries a request id; a caller's is kept.
        for (_, path, r) in &replies {
            let id = r.header("x-request-id").unwrap_or_else(|| panic!("{path} {}: no x-request-id", r.status));
            assert!(!id.is_empty());
        }
        assert_eq!(replies[6].2.header("x-request-id"), Some("probe-1"));

        let m = http(addr, "GET", "/metrics", &[], b"").await.text();
        for series in [
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"200\",variant=\"production\"} 1",
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"401\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"/v1/models\",status=\"403\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"422\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"413\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"/v1/predict\",status=\"408\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"other\",status=\"404\",variant=\"none\"} 1",
            "fathom_http_requests_total{endpoint=\"/health\",status=\"200\",variant=\"none\"} 1",
        ] {
            assert!(m.contains(series), "{series} not in:\n{m}");
        }
        if let Ok(mut child) = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(m.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }

        // One access-log line per request (the /metrics one last), in order.
        let lines = captured.lines();
        assert_eq!(lines.len(), replies.len() + 1, "{lines:#?}");
        for ((method, path, r), line) in replies.iter().zip(&lines) {
            assert_eq!(line["method"], *method, "{line}");
            assert_eq!(line["path"], *path, "{line}");
            assert_eq!(line["status"], r.status, "{line}");
            assert_eq!(line["request_id"].as_str(), r.header("x-request-id"), "{line}");
            assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
            assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
        }
        assert_eq!(lines[0]["token"], "checkout");
        assert_eq!(lines[0]["variant"], "production");
        assert_eq!(lines[3]["token"], "checkout");
        // Refused for its role, the token is still named.
        assert_eq!(lines[2]["token"], "checkout");
        assert!(lines[1]["token"].is_null() && lines[5]["token"].is_null());
        assert_eq!(lines[5]["endpoint"], "other");
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn operate_tokens_promote_and_roll_back_through_the_gate_and_force_needs_admin() {
    let f = fixture(2);
    rt().block_on(async {
        let token = |name: &str, role: &str| TokenConfig {
            name: name.into(),
            sha256: fathom_serve::auth::token_hash(&format!("tok-{name}")),
            roles: vec![role.into()],
            rate_per_second: 0.0,
        };
        let config = ServeConfig {
            canary_percent: 100.0,
            auth: AuthConfig {
                // Prediction and reading open: state changes stay closed.
                open_predict: true,
                open_read: true,
                tokens: vec![
                    token("viewer", "read"),
                    token("deployer", "operate"),
                    token("root", "admin"),
                ],
            },
            ..no_log()
        };
        let (addr, _state, stop, done) = serve(f.options(config)).await;
        let call = |path: &'static str, who: Option<&'static str>, body: Value| async move {
            let auth = who.map(|w| format!("Bearer tok-{w}"));
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            http(
                addr,
                "POST",
                path,
                &headers,
                &serde_json::to_vec(&body).unwrap(),
            )
            .await
        };
        let promote = "/v1/models/fraud/promote";
        let to_canary = json!({"version": 2, "alias": "canary", "reason": "try v2"});
        assert_eq!(call(promote, None, to_canary.clone()).await.status, 401);
        let r = call(promote, Some("viewer"), to_canary.clone()).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.header("x-request-id").is_some());
        // Another model than the one served.
        assert_eq!(
            call(
                "/v1/models/other/promote",
                Some("deployer"),
                to_canary.clone()
            )
            .await
            .status,
            404
        );
        // A body that is not a promotion.
        assert_eq!(
            call(promote, Some("deployer"), json!({"alias": "canary"}))
                .await
                .status,
            422
        );

        let r = call(promote, Some("deployer"), to_canary).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["to"], 2);
        // The server follows the alias: version 2 answers as the canary.
        let body = serde_json::to_vec(&record(&f.frame, 0)).unwrap();
        assert!(
            eventually(|| {
                let body = body.clone();
                async move {
                    http(addr, "POST", "/v1/predict", &[], &body).await.json()["variant"]
                        == "canary"
                }
            })
            .await,
            "the canary did not reach the server"
        );
        let moved = audit(&f)
            .into_iter()
            .find(|e| e.reason == "try v2")
            .unwrap();
        assert_eq!(moved.actor, "deployer");

        // production is gated: version 2 has no holdout metric.
        let to_prod = json!({"version": 2, "reason": "ship it"});
        let r = call(promote, Some("deployer"), to_prod.clone()).await;
        assert_eq!(r.status, 409, "{}", r.text());
        let j = r.json();
        assert_eq!(j["error"]["code"], "promotion_refused");
        let failures = j["error"]["failures"].as_array().unwrap();
        assert!(
            failures.iter().any(|f| f["rule"] == "metric_missing"),
            "{j}"
        );
        assert!(failures.iter().all(|f| f["message"].is_string()), "{j}");
        // Forcing past the gate needs admin.
        let forced = json!({"version": 2, "reason": "hotfix", "force": true});
        let r = call(promote, Some("deployer"), forced.clone()).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("admin"), "{}", r.text());
        let r = call(promote, Some("root"), forced).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let entry = audit(&f)
            .into_iter()
            .find(|e| e.reason == "hotfix")
            .unwrap();
        assert_eq!(entry.action, fathom_registry::AuditAction::PromotedForced);
        assert_eq!(entry.actor, "root");
        assert!(
            !entry.detail["overridden"].as_array().unwrap().is_empty(),
            "{}",
            entry.detail
        );

        // Rollback: operate, audited, followed.
        let rollback = "/v1/models/fraud/rollback";
        assert_eq!(call(rollback, Some("viewer"), json!({})).await.status, 403);
        let r = call(
            rollback,
            Some("deployer"),
            json!({"reason": "v2 misbehaves"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["to"], 1);
        assert_eq!(
            audit(&f)
                .into_iter()
                .find(|e| e.reason == "v2 misbehaves")
                .unwrap()
                .actor,
            "deployer"
        );
        let prod = f.store().model_version("fraud", 1).unwrap();
        assert!(prod.aliases.contains(&"production".to_string()));
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}

#[test]
fn an_alias_moved_to_a_corrupt_artifact_leaves_the_running_version_answering() {
    let f = fixture(1);
    rt().block_on(async {
        let (addr, _state, stop, done) = serve(f.options(no_log())).await;
        let body = serde_json::to_vec(&record(&f.frame, 2)).unwrap();
        let first = http(addr, "POST", "/v1/predict", &[], &body).await.json();
        assert_eq!(first["version"], 1);
        // Version 2: version 1's file with one byte changed in the middle,
        // registered with the checksum of those bytes: the registry takes
        // it and promotes it; the model file's own checksum refuses it.
        let mut bytes = f.artifacts[0].to_bytes().unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        let v2 = f.register_bytes(&bytes, &f.artifacts[0].schema.hash());
        f.set_alias("production", v2);
        // Requests keep being answered, by version 1, while the server
        // tries version 2 and refuses it; no restart.
        assert!(
            eventually(|| async { sample(addr, "fathom_model_load_failures_total").await >= 1.0 })
                .await,
            "the server never tried version {v2}"
        );
        for _ in 0..20 {
            let r = http(addr, "POST", "/v1/predict", &[], &body).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            assert_eq!(j["version"], 1, "{j}");
            assert_eq!(j["score"], first["score"]);
            assert_eq!(j["variant"], "fallback");
            assert!(
                j["degraded"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("version {v2}")),
                "{j}"
            );
        }
        let ready = http(addr, "GET", "/ready", &[], b"").await.json();
        assert_eq!(ready["status"], "degraded", "{ready}");
        // Rolled back, version 1 is production again.
        f.store()
            .rollback(
                "fraud",
                "production",
                &fathom_registry::Actor::new("t", "h"),
                "corrupt",
            )
            .unwrap();
        assert!(
            eventually(|| {
                let body = body.clone();
                async move {
                    http(addr, "POST", "/v1/predict", &[], &body).await.json()["variant"]
                        == "production"
                }
            })
            .await
        );
        stop.send(()).unwrap();
        done.await.unwrap();
    });
}
