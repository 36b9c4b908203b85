//! System and business signals: latency quantiles against NumPy on a
//! committed fixture (`tests/fixtures/make_performance.py` wrote
//! `latency_reference.json`), and each rule on hand-counted inputs,
//! including no traffic, no jobs and no decisions.

use fathom_monitor::signals::{Direction, KpiConfig, SignalCheck, quantile};
use fathom_monitor::{MonitorError, SignalInput, SignalsConfig, SignalsReport, signals};
use serde_json::Value;
use std::collections::BTreeMap;

fn flat(r: &SignalsReport) -> BTreeMap<String, f64> {
    let s = r.signals();
    for (name, v) in &s {
        assert!(v.is_finite(), "{name} = {v}");
    }
    s.into_iter().collect()
}

fn checks(r: &SignalsReport) -> Vec<SignalCheck> {
    r.findings.iter().map(|f| f.check).collect()
}

/// A healthy window: 1000 requests, 2 errors, fast answers, 20 jobs all
/// fine, a decline rate of 2 % against 2 % before.
fn healthy() -> SignalInput {
    SignalInput {
        latencies_us: (0..998).map(|i| 2_000 + (i % 100) * 100).collect(),
        requests: 1000,
        errors: Some(2),
        degraded: 5,
        jobs_succeeded: 20,
        jobs_failed: 0,
        decisions_positive: 20,
        decisions_total: 998,
        kpi_value: None,
        kpi_baseline: Some(20.0 / 998.0),
    }
}

#[test]
fn latency_quantiles_equal_numpy_percentile() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/latency_reference.json")).unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let latencies_us: Vec<u32> = serde_json::from_value(case["latencies_us"].clone()).unwrap();
        let input = SignalInput {
            requests: latencies_us.len() as u64,
            latencies_us,
            ..SignalInput::default()
        };
        let r = signals(&input, &SignalsConfig::default()).unwrap();
        let l = r.latency.unwrap();
        for (got, key) in [
            (l.p50_ms, "p50_ms"),
            (l.p95_ms, "p95_ms"),
            (l.p99_ms, "p99_ms"),
        ] {
            let want = case[key].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "{key}: got {got}, numpy {want} (n = {})",
                l.count
            );
        }
    }
    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&[1.0, 3.0], 0.5), Some(2.0));
}

#[test]
fn a_healthy_window_breaks_no_rule() {
    let r = signals(&healthy(), &SignalsConfig::default()).unwrap();
    assert!(r.ok, "{:?}", r.findings);
    let s = flat(&r);
    assert_eq!(s["error_rate"], 0.002);
    assert_eq!(s["degraded_rate"], 0.005);
    assert_eq!(s["job_success_rate"], 1.0);
    assert_eq!(s["kpi:decline_rate"], 20.0 / 998.0);
    assert_eq!(s["kpi_drop:decline_rate"], 0.0);
    assert!(s["latency_p95_ms"] < 50.0);
    assert!(s["latency_p99_ms"] >= s["latency_p95_ms"]);
}

#[test]
fn each_broken_rule_is_a_finding() {
    let input = SignalInput {
        // 93 answers at 10 ms and 7 at 80 ms: the p95 rank 0.95 · 99 =
        // 94.05 lies between the 95th and 96th smallest, both 80 ms.
        latencies_us: (0..100)
            .map(|i| if i < 93 { 10_000 } else { 80_000 })
            .collect(),
        requests: 100,
        errors: Some(3),
        jobs_succeeded: 8,
        jobs_failed: 2,
        decisions_positive: 17,
        decisions_total: 1000,
        kpi_baseline: Some(0.02),
        ..SignalInput::default()
    };
    let r = signals(&input, &SignalsConfig::default()).unwrap();
    assert_eq!(
        checks(&r),
        vec![
            SignalCheck::Latency,
            SignalCheck::ErrorRate,
            SignalCheck::JobSuccessRate,
            SignalCheck::Kpi
        ]
    );
    assert_eq!(r.latency.unwrap().p95_ms, 80.0);
    assert_eq!(r.findings[1].value, Some(0.03));
    assert_eq!(r.findings[2].value, Some(0.8));
    // 0.017 against 0.02: down 15 %, more than 10 %.
    let kpi = &r.findings[3];
    assert!((kpi.value.unwrap() + 0.15).abs() < 1e-12);
    assert!(kpi.message.contains("down 15%"), "{}", kpi.message);
    let s = flat(&r);
    assert!((s["kpi_drop:decline_rate"] - 0.15).abs() < 1e-12);
}

#[test]
fn the_kpi_rule_watches_the_configured_direction() {
    let at = |positives: u64, direction: Direction| {
        let input = SignalInput {
            requests: 1,
            decisions_positive: positives,
            decisions_total: 1000,
            kpi_baseline: Some(0.02),
            ..SignalInput::default()
        };
        let config = SignalsConfig {
            kpi: KpiConfig {
                direction,
                ..KpiConfig::default()
            },
            ..SignalsConfig::default()
        };
        let r = signals(&input, &config).unwrap();
        r.findings.iter().any(|f| f.check == SignalCheck::Kpi)
    };
    // 19/1000 is a 5 % drop, 17 a 15 % drop, 23 a 15 % rise.
    assert!(!at(19, Direction::Drop));
    assert!(at(17, Direction::Drop));
    assert!(!at(23, Direction::Drop));
    assert!(at(23, Direction::Rise));
    assert!(!at(17, Direction::Rise));
    assert!(at(17, Direction::Both) && at(23, Direction::Both));
    assert!(!at(21, Direction::Both));
}

#[test]
fn no_traffic_no_jobs_and_no_decisions_are_not_nan() {
    let r = signals(&SignalInput::default(), &SignalsConfig::default()).unwrap();
    assert_eq!(checks(&r), vec![SignalCheck::NoTraffic]);
    assert!(r.findings[0].message.starts_with("no traffic"));
    assert_eq!(
        (r.error_rate, r.job_success_rate, r.kpi.value),
        (None, None, None)
    );
    assert!(r.signals().is_empty());
    for part in ["no answered request", "no job ran", "no decisions"] {
        assert!(
            r.notes.iter().any(|n| n.contains(part)),
            "{part}: {:?}",
            r.notes
        );
    }
    // A zero baseline gives no relative change, and says so.
    let input = SignalInput {
        kpi_baseline: Some(0.0),
        ..healthy()
    };
    let r = signals(&input, &SignalsConfig::default()).unwrap();
    assert_eq!(r.kpi.relative_change, None);
    assert!(!flat(&r).contains_key("kpi_drop:decline_rate"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("baseline decline_rate is 0"))
    );
}

#[test]
fn other_kpis_take_their_value_from_the_caller() {
    let config: SignalsConfig = toml::from_str(
        "latency_p95_ms = 25\nkpi = { name = \"approved_volume\", relative_drop = 0.2, direction = \"both\" }\n",
    )
    .unwrap();
    config.check().unwrap();
    let input = SignalInput {
        kpi_value: Some(70.0),
        kpi_baseline: Some(100.0),
        ..healthy()
    };
    let r = signals(&input, &config).unwrap();
    assert_eq!(checks(&r), vec![SignalCheck::Kpi]);
    let s = flat(&r);
    assert_eq!(s["kpi:approved_volume"], 70.0);
    assert!((s["kpi_drop:approved_volume"] - 0.3).abs() < 1e-12);
    // approval_rate is computed from the decisions: 978 of 998.
    let config = SignalsConfig {
        kpi: KpiConfig {
            name: "approval_rate".into(),
            ..KpiConfig::default()
        },
        ..SignalsConfig::default()
    };
    let r = signals(&healthy(), &config).unwrap();
    assert_eq!(r.kpi.value, Some(978.0 / 998.0));
}

#[test]
fn inconsistent_counts_and_bad_settings_are_clear_errors() {
    let input = SignalInput {
        requests: 5,
        errors: Some(6),
        ..SignalInput::default()
    };
    let err = signals(&input, &SignalsConfig::default()).unwrap_err();
    assert!(matches!(err, MonitorError::InvalidInput(_)));
    assert!(err.to_string().contains("6 errors but 5 requests"), "{err}");
    let input = SignalInput {
        latencies_us: vec![1000; 3],
        requests: 2,
        ..SignalInput::default()
    };
    let err = signals(&input, &SignalsConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 latencies but 2 requests"), "{err}");
    let input = SignalInput {
        requests: 5,
        decisions_positive: 3,
        decisions_total: 2,
        ..SignalInput::default()
    };
    let err = signals(&input, &SignalsConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 positive decisions but 2"), "{err}");
    let input = SignalInput {
        kpi_value: Some(f64::NAN),
        ..healthy()
    };
    assert!(signals(&input, &SignalsConfig::default()).is_err());

    let err = toml::from_str::<SignalsConfig>("kpi = { name = \"x\", drop = 0.1 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");
    let err = toml::from_str::<SignalsConfig>("kpi = { direction = \"down\" }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("drop") && err.contains("rise"), "{err}");
    let bad = SignalsConfig {
        error_rate: 1.5,
        ..SignalsConfig::default()
    };
    let err = bad.check().unwrap_err().to_string();
    assert!(
        err.starts_with("[monitor.signals]") && err.contains("error_rate"),
        "{err}"
    );
    let d = SignalsConfig::default();
    assert_eq!(
        (
            d.latency_p95_ms,
            d.error_rate,
            d.job_success_rate,
            d.kpi.relative_drop
        ),
        (50.0, 0.01, 0.95, 0.10)
    );
    assert_eq!(d.kpi.name, "decline_rate");
}
