//! Alert rules: reading and checking the TOML, the state machine of each
//! alert instance (for-duration, de-duplication, reminders, resolve,
//! wildcard instances, absent signals), escalation and hand-off by cause,
//! and the Slack and log payloads.

use fathom_monitor::MonitorError;
use fathom_monitor::alert::{
    AlertRule, AlertState, AlertStatus, Cause, Escalation, Notification, NotificationKind, Route,
    Severity, Span, check_alerting, default_rules, evaluate, log_line, rules_in_force,
    slack_payload,
};
use serde::Deserialize;
use std::collections::BTreeMap;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// The `[monitor]` part of `fathom.toml` as the program reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Monitor {
    #[serde(default)]
    alerts: Vec<AlertRule>,
    #[serde(default)]
    routes: BTreeMap<String, Route>,
    #[serde(default)]
    escalation: Escalation,
}

#[derive(Deserialize)]
struct File {
    monitor: Monitor,
}

fn read(text: &str) -> Result<Monitor, String> {
    toml::from_str::<File>(text)
        .map(|f| f.monitor)
        .map_err(|e| e.to_string())
}

fn checked(text: &str) -> Result<Monitor, String> {
    let m = read(text)?;
    check_alerting(&m.alerts, &m.routes, &m.escalation).map_err(|e| e.to_string())?;
    Ok(m)
}

const EXAMPLE: &str = r#"
[[monitor.alerts]]
name = "rolling-auc-low"
signal = "auc_roc"
condition = "< 0.65"
for = "30m"
severity = "critical"
owner = "data-science"
routes = ["slack-ds", "log"]

[[monitor.alerts]]
name = "errors"
signal = "error_rate"
condition = ">0.01"
owner = "platform"
repeat = "1h"

[monitor.routes.slack-ds]
kind = "webhook"
url = "https://hooks.example/services/T0/B0/x"

[monitor.routes.pager]
kind = "webhook"
url_env = "PAGER_URL"

[monitor.escalation]
oncall = "platform-oncall"
oncall_routes = ["pager", "log"]
"#;

fn signals(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn kinds(sent: &[Notification]) -> Vec<(NotificationKind, &str, &str)> {
    sent.iter()
        .map(|n| (n.kind, n.rule.as_str(), n.instance.as_str()))
        .collect()
}

fn escalation(oncall_routes: &[&str]) -> Escalation {
    Escalation {
        oncall_routes: oncall_routes.iter().map(|r| r.to_string()).collect(),
        ..Escalation::default()
    }
}

#[test]
fn the_documented_example_reads_and_checks() {
    let m = checked(EXAMPLE).unwrap();
    let auc = &m.alerts[0];
    assert_eq!(auc.name, "rolling-auc-low");
    assert_eq!(auc.signal.to_string(), "auc_roc");
    assert_eq!(auc.condition.to_string(), "< 0.65");
    assert!(auc.condition.holds(0.6) && !auc.condition.holds(0.65));
    assert_eq!(auc.hold, Span::minutes(30));
    assert_eq!(auc.severity, Severity::Critical);
    assert_eq!(auc.cause(), Cause::Model);
    assert_eq!(auc.routes, ["slack-ds", "log"]);
    assert_eq!(auc.repeat, None);
    // Defaults of the second rule: no hold, warning, log and dashboard.
    let errors = &m.alerts[1];
    assert_eq!(errors.hold, Span::ZERO);
    assert_eq!(errors.severity, Severity::Warning);
    assert_eq!(errors.routes, ["log", "dashboard"]);
    assert_eq!(errors.repeat, Some(Span::hours(1)));
    assert_eq!(errors.cause(), Cause::System);
    assert_eq!(m.escalation.repeat, Span::hours(4));
    assert_eq!(m.escalation.handoff_after, Span::ZERO);
    // Webhook URLs from the file or the environment, never read here.
    let pager = &m.routes["pager"];
    let url = pager
        .webhook_url("pager", |v| {
            (v == "PAGER_URL").then(|| "https://pager.example/x".into())
        })
        .unwrap();
    assert_eq!(url.as_deref(), Some("https://pager.example/x"));
    let err = pager
        .webhook_url("pager", |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("PAGER_URL") && err.contains("not set"),
        "{err}"
    );
    assert_eq!(
        m.routes["slack-ds"]
            .webhook_url("slack-ds", |_| None)
            .unwrap()
            .as_deref(),
        Some("https://hooks.example/services/T0/B0/x")
    );
    // A rule written back reads the same.
    let again: AlertRule = serde_json::from_value(serde_json::to_value(auc).unwrap()).unwrap();
    assert_eq!(&again, auc);
}

#[test]
fn mistakes_in_rules_name_the_rule_and_say_what_to_write() {
    let rule = |body: &str| format!("[[monitor.alerts]]\nname = \"auc\"\nowner = \"ds\"\n{body}\n");
    let cases = [
        (
            rule("signal = \"auc_roc\"\ncondition = \"<< 0.65\""),
            vec!["'auc'", "operator", "\"< 0.65\""],
        ),
        (
            rule("signal = \"auc_roc\"\ncondition = \"< low\""),
            vec!["'auc'", "\"low\" is not a finite number"],
        ),
        (
            rule("signal = \"auc_roc\"\ncondition = \"< 0.6\"\nfor = \"30 minutes\""),
            vec!["'auc'", "for:", "e.g. 0s, 30m"],
        ),
        (
            rule("signal = \"auc_roc\"\ncondition = \"< 0.6\"\nrepeat = \"4\""),
            vec!["'auc'", "repeat:", "\"4\" is not understood"],
        ),
        (
            rule("signal = \"auc\"\ncondition = \"< 0.6\""),
            vec!["'auc'", "not known", "auc_roc", "null_rate:*"],
        ),
        (
            rule("signal = \"nulls:*\"\ncondition = \"> 0.1\""),
            vec!["family 'nulls'", "null_rate:*"],
        ),
        (
            rule("signal = \"auc_roc\"\ncondition = \"< 0.6\"\nseverity = \"page\""),
            vec!["page", "critical"],
        ),
        (
            rule("signal = \"auc_roc\"\ncondition = \"< 0.6\"\nwhen = \"always\""),
            vec!["unknown field", "when"],
        ),
    ];
    for (text, wanted) in cases {
        let err = read(&text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        for w in wanted {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
    }
}

#[test]
fn check_catches_routes_owners_and_names() {
    let base = "[[monitor.alerts]]\nname = \"auc\"\nsignal = \"auc_roc\"\ncondition = \"< 0.6\"\n";
    let cases = [
        (
            format!("{base}owner = \"ds\"\nroutes = [\"slack\"]"),
            vec!["rule 'auc'", "'slack'", "dashboard, log"],
        ),
        (
            format!("{base}owner = \" \""),
            vec!["rule 'auc' has no owner"],
        ),
        (
            format!("{base}owner = \"ds\"\nroutes = []"),
            vec!["rule 'auc'", "empty routes"],
        ),
        (
            format!("{base}owner = \"ds\"\n{base}owner = \"ds\""),
            vec!["two rules are named 'auc'"],
        ),
        (
            base.replace("\"auc\"", "\"a b\"") + "owner = \"ds\"",
            vec!["\"a b\"", "letters, digits"],
        ),
        (
            "[monitor.routes.hook]\nkind = \"webhook\"".into(),
            vec!["route 'hook'", "url"],
        ),
        (
            "[monitor.routes.hook]\nkind = \"webhook\"\nurl = \"hooks.example\"".into(),
            vec!["route 'hook'", "http://"],
        ),
        (
            "[monitor.routes.hook]\nkind = \"webhook\"\nurl = \"https://a\"\nurl_env = \"X\""
                .into(),
            vec!["not both"],
        ),
        (
            "[monitor.escalation]\noncall = \"\"".into(),
            vec!["oncall is empty"],
        ),
        (
            "[monitor.escalation]\noncall_routes = [\"pager\"]".into(),
            vec!["'pager'", "dashboard, log"],
        ),
        (
            "[monitor.escalation]\noncall_routes = []".into(),
            vec!["oncall_routes is empty"],
        ),
    ];
    for (text, wanted) in cases {
        let err = checked(&text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        for w in wanted {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
    }
    // Settings that do not belong to a route's kind are unknown fields.
    let err = read("[monitor.routes.board]\nkind = \"dashboard\"\nurl = \"https://a\"")
        .err()
        .unwrap();
    assert!(err.contains("unknown field"), "{err}");
    let err = read("[monitor.routes.x]\nkind = \"email\"").err().unwrap();
    assert!(err.contains("webhook") && err.contains("log"), "{err}");
    let err = read("[monitor.escalation]\nrepeat = \"often\"")
        .err()
        .unwrap();
    assert!(err.contains("e.g. 0s, 30m"), "{err}");
    // A declared log route may give a path and replace the built-in one.
    let m = checked("[monitor.routes.log]\nkind = \"log\"\npath = \"alerts.jsonl\"").unwrap();
    assert_eq!(
        m.routes["log"],
        Route::Log {
            path: Some("alerts.jsonl".into())
        }
    );
}

#[test]
fn default_rules_cover_the_documented_signals_and_check() {
    let rules = default_rules();
    check_alerting(&rules, &BTreeMap::new(), &Escalation::default()).unwrap();
    let find = |name: &str| rules.iter().find(|r| r.name == name).unwrap();
    let auc = find("rolling-auc-low");
    assert_eq!(
        (auc.signal.to_string(), auc.condition.to_string()),
        ("auc_roc".into(), "< 0.65".into())
    );
    assert_eq!(
        (auc.severity, auc.owner.as_str(), auc.cause()),
        (Severity::Critical, "data-science", Cause::Model)
    );
    let drift = find("drift-share-high");
    // Drift at the warning share already alerts: the policy's
    // "investigate" reaches the owner.
    assert_eq!(drift.condition.to_string(), ">= 0.15");
    assert!(drift.condition.holds(0.15) && !drift.condition.holds(0.149));
    assert_eq!(drift.cause(), Cause::Data);
    assert_eq!(find("null-rate-high").signal.to_string(), "null_excess:*");
    let stale = find("data-stale");
    assert_eq!(
        (
            stale.condition.to_string(),
            stale.severity,
            stale.owner.as_str()
        ),
        ("> 15".into(), Severity::Critical, "platform")
    );
    assert_eq!(find("latency-p95-high").cause(), Cause::System);
    assert_eq!(find("error-rate-high").condition.to_string(), "> 0.01");
    assert_eq!(find("kpi-drop").signal.to_string(), "kpi_drop:*");
    // Declared rules replace the defaults; none declared means the defaults.
    assert_eq!(rules_in_force(&[]), rules);
    let one = vec![AlertRule::new("x", "f1", "< 0.5", "ds").unwrap()];
    assert_eq!(rules_in_force(&one), one);
}

#[test]
fn a_rule_fires_only_after_its_condition_held_for_the_duration() {
    let rules = vec![
        AlertRule::new("auc", "auc_roc", "< 0.65", "platform-oncall")
            .unwrap()
            .held_for(Span::minutes(30)),
    ];
    let esc = Escalation::default();
    let mut state = AlertState::new();
    assert!(evaluate(&rules, &esc, &signals(&[("auc_roc", 0.6)]), T0, &mut state).is_empty());
    assert_eq!(
        state.get("auc", "auc_roc").unwrap().status,
        AlertStatus::Pending
    );
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("auc_roc", 0.6)]),
            T0 + 20 * MIN,
            &mut state
        )
        .is_empty()
    );
    // Back above the threshold while pending: forgotten without a message.
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("auc_roc", 0.7)]),
            T0 + 25 * MIN,
            &mut state
        )
        .is_empty()
    );
    assert!(state.alerts.is_empty());
    // Pending again from this moment: 30 minutes from here, not from T0.
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("auc_roc", 0.6)]),
            T0 + 40 * MIN,
            &mut state
        )
        .is_empty()
    );
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("auc_roc", 0.6)]),
            T0 + 69 * MIN,
            &mut state
        )
        .is_empty()
    );
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.61)]),
        T0 + 70 * MIN,
        &mut state,
    );
    assert_eq!(kinds(&sent), [(NotificationKind::Firing, "auc", "auc_roc")]);
    let n = &sent[0];
    assert_eq!(
        (n.since_ms, n.at_ms, n.value),
        (T0 + 40 * MIN, T0 + 70 * MIN, 0.61)
    );
    assert_eq!(n.threshold, "< 0.65");
    assert_eq!(
        n.message,
        "auc (warning): auc_roc is 0.61, below 0.65 for 30m; cause model, owner platform-oncall, first response platform-oncall."
    );
    let a = state.get("auc", "auc_roc").unwrap();
    assert_eq!(
        (a.status, a.fired_ms),
        (AlertStatus::Firing, Some(T0 + 70 * MIN))
    );
}

#[test]
fn a_firing_alert_is_not_repeated_except_for_reminders() {
    let rules = vec![AlertRule::new("errors", "error_rate", "> 0.01", "platform").unwrap()];
    let esc = Escalation::default();
    let mut state = AlertState::new();
    let bad = signals(&[("error_rate", 0.05)]);
    assert_eq!(evaluate(&rules, &esc, &bad, T0, &mut state).len(), 1);
    for minutes in [5, 60, 120, 239] {
        assert!(
            evaluate(&rules, &esc, &bad, T0 + minutes * MIN, &mut state).is_empty(),
            "{minutes}"
        );
    }
    let sent = evaluate(&rules, &esc, &bad, T0 + 4 * HOUR, &mut state);
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Reminder, "errors", "error_rate")]
    );
    assert_eq!(
        sent[0].message,
        "errors (warning) still firing: error_rate is 0.05, above 0.01 for 4h; held by platform-oncall."
    );
    // The next reminder counts from the last one.
    assert!(evaluate(&rules, &esc, &bad, T0 + 7 * HOUR, &mut state).is_empty());
    assert_eq!(
        evaluate(&rules, &esc, &bad, T0 + 8 * HOUR, &mut state)[0].kind,
        NotificationKind::Reminder
    );

    // A rule's own repeat wins over the escalation's; 0s sends none.
    let rules = vec![
        AlertRule::new("fast", "error_rate", "> 0.01", "platform")
            .unwrap()
            .with_repeat(Span::minutes(30)),
        AlertRule::new("never", "error_rate", "> 0.01", "platform")
            .unwrap()
            .with_repeat(Span::ZERO),
    ];
    let mut state = AlertState::new();
    assert_eq!(evaluate(&rules, &esc, &bad, T0, &mut state).len(), 2);
    let sent = evaluate(&rules, &esc, &bad, T0 + 30 * MIN, &mut state);
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Reminder, "fast", "error_rate")]
    );
    let sent = evaluate(&rules, &esc, &bad, T0 + 30 * HOUR, &mut state);
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Reminder, "fast", "error_rate")]
    );
}

#[test]
fn a_firing_alert_resolves_once() {
    let rules = vec![AlertRule::new("stale", "freshness_minutes", "> 15", "platform").unwrap()];
    let esc = escalation(&["log"]);
    let mut state = AlertState::new();
    evaluate(
        &rules,
        &esc,
        &signals(&[("freshness_minutes", 42.0)]),
        T0,
        &mut state,
    );
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("freshness_minutes", 3.0)]),
        T0 + 90 * MIN,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Resolved, "stale", "freshness_minutes")]
    );
    assert_eq!(sent[0].value, 3.0);
    assert_eq!(sent[0].since_ms, T0);
    assert_eq!(
        sent[0].message,
        "stale resolved: freshness_minutes is 3, no longer above 15, after 1h 30m of alert."
    );
    assert!(state.alerts.is_empty());
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("freshness_minutes", 3.0)]),
            T0 + 2 * HOUR,
            &mut state
        )
        .is_empty()
    );
    // Bad again: a new alert, a new firing message.
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("freshness_minutes", 20.0)]),
        T0 + 3 * HOUR,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Firing, "stale", "freshness_minutes")]
    );
    assert_eq!(sent[0].since_ms, T0 + 3 * HOUR);
}

#[test]
fn a_wildcard_rule_has_one_alert_per_feature() {
    let rules = vec![AlertRule::new("nulls", "null_rate:*", "> 0.05", "data-science").unwrap()];
    let esc = Escalation {
        oncall: "data-science".into(),
        ..Escalation::default()
    };
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[
            ("null_rate:zip", 0.2),
            ("null_rate:amount", 0.1),
            ("null_rate:country", 0.01),
            ("null_rate_max", 0.2),
        ]),
        T0,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [
            (NotificationKind::Firing, "nulls", "null_rate:amount"),
            (NotificationKind::Firing, "nulls", "null_rate:zip")
        ]
    );
    assert_eq!(sent[1].value, 0.2);
    assert!(
        sent[0]
            .message
            .contains("null_rate:amount is 0.1, above 0.05"),
        "{}",
        sent[0].message
    );
    // amount recovers, zip keeps firing (no repeat), country crosses.
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[
            ("null_rate:zip", 0.3),
            ("null_rate:amount", 0.0),
            ("null_rate:country", 0.07),
        ]),
        T0 + HOUR,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [
            (NotificationKind::Resolved, "nulls", "null_rate:amount"),
            (NotificationKind::Firing, "nulls", "null_rate:country")
        ]
    );
    let firing: Vec<&str> = state.firing().map(|a| a.instance.as_str()).collect();
    assert_eq!(firing, ["null_rate:country", "null_rate:zip"]);
}

#[test]
fn an_absent_signal_is_not_a_resolution() {
    let rules = vec![
        AlertRule::new("auc", "auc_roc", "< 0.65", "platform-oncall").unwrap(),
        AlertRule::new("slow", "latency_p95_ms", "> 50", "platform")
            .unwrap()
            .held_for(Span::minutes(10)),
    ];
    let esc = Escalation::default();
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.5), ("latency_p95_ms", 80.0)]),
        T0,
        &mut state,
    );
    assert_eq!(kinds(&sent), [(NotificationKind::Firing, "auc", "auc_roc")]);
    let before = state.clone();
    // No labels yet and no latency figures: nothing changes, nothing is sent.
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("error_rate", 0.0)]),
            T0 + 20 * MIN,
            &mut state
        )
        .is_empty()
    );
    assert_eq!(state, before);
    // NaN is no data either.
    assert!(
        evaluate(
            &rules,
            &esc,
            &signals(&[("auc_roc", f64::NAN)]),
            T0 + 30 * MIN,
            &mut state
        )
        .is_empty()
    );
    assert_eq!(state, before);
    // The pending latency alert kept its start: it fires on its next reading.
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("latency_p95_ms", 70.0)]),
        T0 + 40 * MIN,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Firing, "slow", "latency_p95_ms")]
    );
    assert_eq!(sent[0].since_ms, T0);
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.8)]),
        T0 + HOUR,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Resolved, "auc", "auc_roc")]
    );
}

#[test]
fn system_alerts_stay_with_the_oncall_team() {
    let rules = vec![
        AlertRule::new("errors", "error_rate", "> 0.01", "platform")
            .unwrap()
            .with_routes(&["slack-platform", "log"]),
    ];
    let esc = escalation(&["pager", "log"]);
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("error_rate", 0.2)]),
        T0,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Firing, "errors", "error_rate")]
    );
    let n = &sent[0];
    assert_eq!(
        (n.team.as_str(), n.owner.as_str(), n.cause),
        ("platform-oncall", "platform", Cause::System)
    );
    assert_eq!(n.routes, ["pager", "log", "slack-platform"]);
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("error_rate", 0.2)]),
        T0 + 4 * HOUR,
        &mut state,
    );
    assert_eq!(
        (sent[0].kind, sent[0].team.as_str()),
        (NotificationKind::Reminder, "platform-oncall")
    );
    assert_eq!(sent[0].routes, ["pager", "log", "slack-platform"]);
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("error_rate", 0.0)]),
        T0 + 5 * HOUR,
        &mut state,
    );
    assert_eq!(
        (sent[0].kind, sent[0].team.as_str()),
        (NotificationKind::Resolved, "platform-oncall")
    );
    assert_eq!(sent[0].routes, ["pager", "log", "slack-platform"]);
}

#[test]
fn model_and_data_alerts_are_handed_off_to_their_owner() {
    let rules = vec![
        AlertRule::new("auc", "auc_roc", "< 0.65", "data-science")
            .unwrap()
            .with_severity(Severity::Critical)
            .with_routes(&["slack-ds", "log"]),
        AlertRule::new("drift", "drift_score", ">= 0.2", "data-eng")
            .unwrap()
            .with_routes(&["slack-de"]),
    ];
    let esc = escalation(&["pager", "log"]);
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("drift_score", 0.3), ("auc_roc", 0.6)]),
        T0,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [
            (NotificationKind::Firing, "auc", "auc_roc"),
            (NotificationKind::Handoff, "auc", "auc_roc"),
            (NotificationKind::Firing, "drift", "drift_score"),
            (NotificationKind::Handoff, "drift", "drift_score"),
        ]
    );
    // First response: the on-call team on its own routes, naming the owner.
    assert_eq!(
        (sent[0].team.as_str(), sent[0].routes.clone()),
        ("platform-oncall", vec!["pager".to_string(), "log".into()])
    );
    assert!(
        sent[0]
            .message
            .contains("owner data-science, first response platform-oncall"),
        "{}",
        sent[0].message
    );
    // Hand-off: the owner on the rule's routes.
    assert_eq!(
        (sent[1].team.as_str(), sent[1].routes.clone()),
        ("data-science", vec!["slack-ds".to_string(), "log".into()])
    );
    assert_eq!(
        sent[1].message,
        "auc (critical) handed off to data-science, the cause is the model: auc_roc is 0.6, below 0.65."
    );
    assert_eq!(
        (sent[3].team.as_str(), sent[3].cause),
        ("data-eng", Cause::Data)
    );
    assert!(
        sent[3].message.contains("the cause is the data"),
        "{}",
        sent[3].message
    );
    // Reminders go to the owner, the resolve to everyone who was told.
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.6)]),
        T0 + 4 * HOUR,
        &mut state,
    );
    assert_eq!(
        (sent[0].kind, sent[0].team.as_str()),
        (NotificationKind::Reminder, "data-science")
    );
    assert_eq!(sent[0].routes, ["slack-ds", "log"]);
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.9), ("drift_score", 0.0)]),
        T0 + 5 * HOUR,
        &mut state,
    );
    assert_eq!(
        kinds(&sent),
        [
            (NotificationKind::Resolved, "auc", "auc_roc"),
            (NotificationKind::Resolved, "drift", "drift_score")
        ]
    );
    assert_eq!(sent[0].team, "data-science");
    assert_eq!(sent[0].routes, ["pager", "log", "slack-ds"]);
    assert_eq!(sent[1].routes, ["pager", "log", "slack-de"]);
}

#[test]
fn a_delayed_handoff_comes_only_if_the_alert_still_fires() {
    let rules = vec![
        AlertRule::new("auc", "auc_roc", "< 0.65", "data-science")
            .unwrap()
            .with_routes(&["slack-ds"]),
    ];
    let esc = Escalation {
        handoff_after: Span::hours(1),
        repeat: Span::minutes(30),
        ..escalation(&["pager"])
    };
    let mut state = AlertState::new();
    let bad = signals(&[("auc_roc", 0.6)]);
    assert_eq!(
        kinds(&evaluate(&rules, &esc, &bad, T0, &mut state)),
        [(NotificationKind::Firing, "auc", "auc_roc")]
    );
    // Before the hand-off the on-call team gets the reminders.
    let sent = evaluate(&rules, &esc, &bad, T0 + 30 * MIN, &mut state);
    assert_eq!(
        (sent[0].kind, sent[0].team.as_str()),
        (NotificationKind::Reminder, "platform-oncall")
    );
    assert_eq!(sent[0].routes, ["pager"]);
    let sent = evaluate(&rules, &esc, &bad, T0 + HOUR, &mut state);
    assert_eq!(
        kinds(&sent),
        [(NotificationKind::Handoff, "auc", "auc_roc")]
    );
    assert_eq!(sent[0].routes, ["slack-ds"]);
    assert!(
        sent[0].message.ends_with("below 0.65 for 1h."),
        "{}",
        sent[0].message
    );
    assert!(evaluate(&rules, &esc, &bad, T0 + 80 * MIN, &mut state).is_empty());
    // An alert that resolves before the hand-off never reaches the owner.
    let mut state = AlertState::new();
    evaluate(&rules, &esc, &bad, T0, &mut state);
    let sent = evaluate(
        &rules,
        &esc,
        &signals(&[("auc_roc", 0.7)]),
        T0 + 10 * MIN,
        &mut state,
    );
    assert_eq!(
        (sent[0].kind, sent[0].team.as_str()),
        (NotificationKind::Resolved, "platform-oncall")
    );
    assert_eq!(sent[0].routes, ["pager"]);
}

#[test]
fn a_model_alert_owned_by_the_oncall_team_is_not_handed_off() {
    let rules = vec![
        AlertRule::new("auc", "auc_roc", "< 0.65", "platform-oncall")
            .unwrap()
            .with_routes(&["slack"]),
    ];
    let esc = escalation(&["pager"]);
    let mut state = AlertState::new();
    let sent = evaluate(&rules, &esc, &signals(&[("auc_roc", 0.6)]), T0, &mut state);
    assert_eq!(kinds(&sent), [(NotificationKind::Firing, "auc", "auc_roc")]);
    assert_eq!(sent[0].routes, ["pager", "slack"]);
}

#[test]
fn the_state_survives_a_round_trip_between_evaluations() {
    let rules = default_rules();
    let esc = Escalation::default();
    let mut state = AlertState::new();
    let s = signals(&[
        ("auc_roc", 0.6),
        ("latency_p95_ms", 90.0),
        ("null_excess:amount", 0.5),
    ]);
    let first = evaluate(&rules, &esc, &s, T0, &mut state);
    let saved = state.to_json().unwrap();
    let mut restored = AlertState::from_json(&saved).unwrap();
    assert_eq!(restored, state);
    // Continuing from the saved state equals continuing from memory.
    let later = signals(&[
        ("auc_roc", 0.7),
        ("latency_p95_ms", 95.0),
        ("null_excess:amount", 0.5),
    ]);
    let a = evaluate(&rules, &esc, &later, T0 + 15 * MIN, &mut state);
    let b = evaluate(&rules, &esc, &later, T0 + 15 * MIN, &mut restored);
    assert_eq!(a, b);
    assert_eq!(state, restored);
    assert_eq!(
        kinds(&first),
        [
            (NotificationKind::Firing, "rolling-auc-low", "auc_roc"),
            (NotificationKind::Handoff, "rolling-auc-low", "auc_roc"),
            (
                NotificationKind::Firing,
                "null-rate-high",
                "null_excess:amount"
            ),
            (
                NotificationKind::Handoff,
                "null-rate-high",
                "null_excess:amount"
            ),
        ]
    );
    assert_eq!(
        kinds(&a),
        [
            (NotificationKind::Resolved, "rolling-auc-low", "auc_roc"),
            (
                NotificationKind::Firing,
                "latency-p95-high",
                "latency_p95_ms"
            ),
        ]
    );
    let err = AlertState::from_json("{\"alerts\": 3}").unwrap_err();
    assert!(matches!(err, MonitorError::AlertState(_)));
    assert!(err.to_string().contains("remove it"), "{err}");
}

#[test]
fn alerts_of_removed_rules_are_dropped_and_time_may_not_run_backwards() {
    let auc = AlertRule::new("auc", "auc_roc", "< 0.65", "ds").unwrap();
    let f1 = AlertRule::new("f1", "f1", "< 0.3", "ds")
        .unwrap()
        .held_for(Span::hours(1));
    let esc = Escalation::default();
    let mut state = AlertState::new();
    evaluate(
        &[auc.clone(), f1.clone()],
        &esc,
        &signals(&[("auc_roc", 0.5), ("f1", 0.1)]),
        T0,
        &mut state,
    );
    assert_eq!(state.alerts.len(), 2);
    assert!(
        evaluate(
            std::slice::from_ref(&f1),
            &esc,
            &signals(&[("auc_roc", 0.9)]),
            T0 + MIN,
            &mut state
        )
        .is_empty()
    );
    assert_eq!(state.alerts.len(), 1);
    assert_eq!(state.alerts[0].rule, "f1");
    // A clock that went back does not fire the pending alert early.
    assert!(evaluate(&[f1], &esc, &signals(&[("f1", 0.1)]), T0 - HOUR, &mut state).is_empty());
    assert_eq!(state.alerts[0].status, AlertStatus::Pending);
}

#[test]
fn the_slack_payload_is_an_incoming_webhook_message() {
    let rules = vec![AlertRule::new("auc-low", "auc_roc", "< 0.65", "data-science").unwrap()];
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &Escalation::default(),
        &signals(&[("auc_roc", 0.612)]),
        T0,
        &mut state,
    );
    for n in &sent {
        let p = slack_payload(n);
        let text = p["text"].as_str().expect("text is a string");
        assert_eq!(text, n.message);
        // Slack reserves <, > and &: the condition "< 0.65" is escaped.
        let blocks = p["blocks"].as_array().expect("blocks is an array");
        assert!(!blocks.is_empty());
        for b in blocks {
            assert_eq!(b["type"], "section");
            let texts: Vec<&serde_json::Value> = match b.get("text") {
                Some(t) => vec![t],
                None => b["fields"].as_array().unwrap().iter().collect(),
            };
            assert!(texts.len() <= 10);
            for t in texts {
                assert_eq!(t["type"], "mrkdwn");
                let s = t["text"].as_str().unwrap();
                assert!(!s.is_empty() && s.chars().count() <= 3000);
                assert!(!s.contains('<') && !s.contains('>'), "{s}");
            }
        }
        let head = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(head.contains("auc_roc is 0.612"), "{head}");
        let fields = blocks[1]["fields"].to_string();
        assert!(
            fields.contains("&lt; 0.65") && fields.contains("*Owner*\\ndata-science"),
            "{fields}"
        );
    }
    assert!(
        slack_payload(&sent[1])["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("HANDED OFF to data-science")
    );
}

#[test]
fn a_log_line_is_one_json_object() {
    let rules = vec![AlertRule::new("nulls", "null_rate:*", "> 0.05", "ds").unwrap()];
    let mut state = AlertState::new();
    let sent = evaluate(
        &rules,
        &Escalation::default(),
        &signals(&[("null_rate:note\nwith break", 0.5)]),
        T0,
        &mut state,
    );
    let line = log_line(&sent[0]);
    assert!(!line.contains('\n'));
    let back: Notification = serde_json::from_str(&line).unwrap();
    assert_eq!(back, sent[0]);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["kind"], "firing");
    assert_eq!(v["severity"], "warning");
    assert_eq!(v["cause"], "data");
    assert_eq!(v["instance"], "null_rate:note\nwith break");
    assert_eq!(sent[0].key(), "nulls/null_rate:note\nwith break");
}
