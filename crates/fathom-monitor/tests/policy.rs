//! The drift policy: every branch of the decision, the counting of
//! repeated features over the history, the settings and the JSON record.

use fathom_monitor::Verdict;
use fathom_monitor::policy::{
    Action, Decision, DriftFinding, PastFinding, PerformanceDrop, PolicyConfig, PolicyInput,
    Recommendation, RepeatedFeature, decide,
};

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn drift(verdict: Verdict, share: f64, features: &[&str]) -> Option<DriftFinding> {
    Some(DriftFinding {
        verdict,
        share,
        drifted_features: features.iter().map(|f| f.to_string()).collect(),
    })
}

fn auc_drop() -> Option<PerformanceDrop> {
    Some(PerformanceDrop {
        metric: "auc_roc".into(),
        baseline: 0.91,
        current: 0.84,
        message: String::new(),
    })
}

fn input(drift: Option<DriftFinding>, drop: Option<PerformanceDrop>) -> PolicyInput {
    PolicyInput {
        model: "fraud".into(),
        version: Some(7),
        time_ms: T0,
        drift,
        performance_drop: drop,
        history: Vec::new(),
    }
}

fn past(days_ago: i64, features: &[&str]) -> PastFinding {
    PastFinding {
        time_ms: T0 - days_ago * DAY,
        drifted_features: features.iter().map(|f| f.to_string()).collect(),
    }
}

fn run(i: &PolicyInput) -> Decision {
    decide(i, &PolicyConfig::default()).unwrap()
}

#[test]
fn no_drift_and_no_drop_is_no_action() {
    let d = run(&input(drift(Verdict::NoDrift, 0.05, &["amount"]), None));
    assert_eq!(d.action, Action::None);
    assert!(!d.is_retrain() && !d.needs_attention());
    assert_eq!(
        d.reasons,
        [
            "No input drift to act on: 5.0% of features drifted (amount), below the warning share; no performance drop."
        ]
    );
    assert_eq!(d.evidence.drift_verdict, Some(Verdict::NoDrift));
    assert_eq!(d.evidence.drifted_features, ["amount"]);
    let d = run(&input(None, None));
    assert_eq!(d.action, Action::None);
    assert_eq!(
        d.reasons,
        ["Input drift was not measured and performance did not drop."]
    );
    assert_eq!(d.evidence.drift_share, None);
}

#[test]
fn drift_without_a_drop_is_investigated() {
    let d = run(&input(
        drift(Verdict::Warn, 2.0 / 11.0, &["amount", "country"]),
        None,
    ));
    assert_eq!(d.action, Action::Investigate);
    assert!(d.needs_attention() && !d.is_retrain());
    assert_eq!(
        d.reasons,
        [
            "Input drift (warn): 18.2% of features drifted (amount, country); performance has not dropped, so investigate before retraining."
        ]
    );
}

#[test]
fn severe_drift_alone_is_investigated_unless_retraining_on_it_is_on() {
    let i = input(
        drift(Verdict::Severe, 0.3, &["amount", "hour", "is_online"]),
        None,
    );
    let d = run(&i);
    assert_eq!(d.action, Action::Investigate);
    assert!(d.needs_attention() && !d.is_retrain());
    assert_eq!(
        d.reasons,
        [
            "Severe input drift: 30.0% of features drifted (amount, hour, is_online); performance has not dropped and retraining on drift alone is off (retrain_on_severe_drift = false), so investigate."
        ]
    );
    let on = PolicyConfig {
        retrain_on_severe_drift: true,
        ..PolicyConfig::default()
    };
    let d = decide(&i, &on).unwrap();
    assert_eq!(d.action, Action::Retrain);
    assert!(d.is_retrain());
    assert_eq!(
        d.reasons,
        [
            "Severe input drift: 30.0% of features drifted (amount, hour, is_online); retrain on recent data."
        ]
    );
}

#[test]
fn drift_and_decay_retrain() {
    let mut drop = auc_drop();
    if let Some(p) = &mut drop {
        p.message = "Rolling AUC over the last 7 days, 1,204 labels.".into();
    }
    let i = input(drift(Verdict::Warn, 0.15, &["amount"]), drop);
    for config in [
        PolicyConfig::default(),
        PolicyConfig {
            retrain_on_performance_drop: false,
            retrain_on_severe_drift: false,
            ..PolicyConfig::default()
        },
    ] {
        let d = decide(&i, &config).unwrap();
        assert_eq!(d.action, Action::Retrain);
        assert_eq!(
            d.reasons,
            [
                "Drift and decay: 15.0% of features drifted (amount) and auc_roc went from 0.91 to 0.84 (−0.07).",
                "Rolling AUC over the last 7 days, 1,204 labels.",
            ]
        );
        assert_eq!(d.evidence.performance, i.performance_drop);
    }
}

#[test]
fn a_drop_without_drift_is_concept_drift() {
    let i = input(drift(Verdict::NoDrift, 0.0, &[]), auc_drop());
    let d = run(&i);
    assert_eq!(d.action, Action::Retrain);
    assert_eq!(
        d.reasons,
        [
            "Concept drift: performance dropped while inputs did not move (0.0% of features drifted): auc_roc went from 0.91 to 0.84 (−0.07)."
        ]
    );
    let off = PolicyConfig {
        retrain_on_performance_drop: false,
        ..PolicyConfig::default()
    };
    let d = decide(&i, &off).unwrap();
    assert_eq!(d.action, Action::Investigate);
    assert!(
        d.reasons[0].starts_with("Concept drift: performance dropped while inputs did not move")
    );
    assert!(d.reasons[0].contains("retrain_on_performance_drop = false"));
    // Drift not measured: still a drop to act on, said as it is.
    let d = run(&input(None, auc_drop()));
    assert_eq!(d.action, Action::Retrain);
    assert!(
        d.reasons[0].contains("while input drift was not measured"),
        "{:?}",
        d.reasons
    );
}

#[test]
fn features_drifting_again_and_again_are_recommended_for_a_revisit() {
    // Window of 5 runs: this one and the four latest earlier ones (given in
    // any order). Older runs, and runs at or after this one, do not count.
    let mut i = input(drift(Verdict::Warn, 0.2, &["amount", "country"]), None);
    i.history = vec![
        past(3, &["amount", "hour"]),
        past(1, &["amount", "amount", "hour"]),
        past(0, &["hour", "zip"]),  // the same moment: ignored
        past(-1, &["hour", "zip"]), // later: ignored
        past(2, &["country", "hour"]),
        past(9, &["amount", "country", "zip"]), // sixth newest: outside
        past(4, &["zip"]),
        past(8, &["zip", "country"]), // outside
    ];
    let d = run(&i);
    assert_eq!(d.action, Action::Investigate);
    assert_eq!(
        d.evidence.repeated_features,
        [
            RepeatedFeature {
                feature: "amount".into(),
                count: 3,
                window: 5
            },
            RepeatedFeature {
                feature: "hour".into(),
                count: 3,
                window: 5
            },
        ]
    );
    assert_eq!(
        d.recommendations,
        [Recommendation::RevisitFeatures {
            features: vec!["amount".into(), "hour".into()]
        }]
    );
    assert_eq!(
        d.reasons[1],
        "Repeated drift: amount in 3 of the last 5 runs, hour in 3 of the last 5 runs; revisit these features (definition, source, whether the model needs them)."
    );
    // A stricter count leaves nothing; a looser one adds country (2 of 5).
    let strict = PolicyConfig {
        repeat_count: 4,
        ..PolicyConfig::default()
    };
    assert!(decide(&i, &strict).unwrap().recommendations.is_empty());
    let loose = PolicyConfig {
        repeat_count: 2,
        ..PolicyConfig::default()
    };
    let names: Vec<String> = decide(&i, &loose)
        .unwrap()
        .evidence
        .repeated_features
        .into_iter()
        .map(|r| format!("{}:{}", r.feature, r.count))
        .collect();
    assert_eq!(names, ["amount:3", "hour:3", "country:2"]);
}

#[test]
fn repetition_is_advice_beside_any_action() {
    // No drift now, but the history repeats: no action, a recommendation.
    let mut i = input(drift(Verdict::NoDrift, 0.0, &[]), None);
    i.history = vec![past(1, &["zip"]), past(2, &["zip"]), past(3, &["zip"])];
    let d = run(&i);
    assert_eq!(d.action, Action::None);
    assert!(d.needs_attention());
    assert_eq!(
        d.evidence.repeated_features,
        [RepeatedFeature {
            feature: "zip".into(),
            count: 3,
            window: 4
        }]
    );
    // Not measured now: the window is the history alone.
    i.drift = None;
    assert_eq!(run(&i).evidence.repeated_features[0].window, 3);
    // Retraining (drift and decay) dominates; the recommendation is still
    // carried.
    i.drift = drift(Verdict::Severe, 0.4, &["zip", "amount"]);
    i.performance_drop = auc_drop();
    let d = run(&i);
    assert_eq!(d.action, Action::Retrain);
    assert_eq!(
        d.recommendations,
        [Recommendation::RevisitFeatures {
            features: vec!["zip".into()]
        }]
    );
    assert_eq!(d.evidence.repeated_features[0].count, 4);
}

#[test]
fn the_record_is_json_with_a_stable_field_order() {
    let mut i = input(drift(Verdict::Severe, 0.25, &["amount"]), auc_drop());
    i.history = vec![past(1, &["amount"]), past(2, &["amount"])];
    let d = run(&i);
    let json = d.to_json().unwrap();
    let keys = [
        "\"model\"",
        "\"version\"",
        "\"time_ms\"",
        "\"action\"",
        "\"recommendations\"",
        "\"reasons\"",
        "\"evidence\"",
        "\"drift_verdict\"",
        "\"drift_share\"",
        "\"drifted_features\"",
        "\"repeated_features\"",
        "\"performance\"",
    ];
    let at: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["action"], "retrain");
    assert_eq!(v["version"], 7);
    assert_eq!(v["recommendations"][0]["kind"], "revisit_features");
    assert_eq!(v["recommendations"][0]["features"][0], "amount");
    assert_eq!(v["evidence"]["drift_verdict"], "severe");
    assert_eq!(v["evidence"]["performance"]["baseline"], 0.91);
    let back: Decision = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    // Same input, same record.
    assert_eq!(run(&i).to_json().unwrap(), json);
}

#[test]
fn settings_read_from_toml_and_bad_input_is_an_error() {
    let c: PolicyConfig =
        toml::from_str("repeat_count = 2\nretrain_on_severe_drift = true\n").unwrap();
    assert_eq!(
        c,
        PolicyConfig {
            repeat_count: 2,
            repeat_window: 5,
            retrain_on_severe_drift: true,
            retrain_on_performance_drop: true,
        }
    );
    let err = toml::from_str::<PolicyConfig>("retrain = true\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    for (count, window) in [(0, 5), (6, 5), (3, 5000)] {
        let c = PolicyConfig {
            repeat_count: count,
            repeat_window: window,
            ..PolicyConfig::default()
        };
        let err = decide(&input(None, None), &c).unwrap_err().to_string();
        assert!(
            err.starts_with("drift policy:") && err.contains("repeat_count"),
            "{err}"
        );
    }
    let err = decide(
        &input(drift(Verdict::Warn, 1.5, &[]), None),
        &PolicyConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("'fraud'") && err.contains("1.5"), "{err}");
    let mut drop = auc_drop();
    if let Some(p) = &mut drop {
        p.current = f64::NAN;
    }
    let err = decide(&input(None, drop), &PolicyConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("auc_roc") && err.contains("NaN"), "{err}");
}
