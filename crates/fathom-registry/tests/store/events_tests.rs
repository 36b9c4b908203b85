//! Registry events: written with each change and only then, delivered to
//! webhooks with retries, backoff and a visible failure.

use std::cell::RefCell;
use std::collections::VecDeque;

use chrono::Duration;
use fathom_registry::artifacts::ArtifactStore;
use fathom_registry::events::{
    DeliveryPolicy, DeliveryStatus, EventKind, EventQuery, EventRecord, Webhook, WebhookRequest,
    WebhookResponse, WebhookTransport, deliver_due, signature,
};
use fathom_registry::{AuditQuery, Clock, Promotion, PromotionPolicy, RegistryError, Store};

use crate::fixture::{Fixture, Kind};
use crate::helpers::{actor, register};

fn promotion(model: &str, version: i64, alias: &str, force: bool) -> Promotion {
    Promotion {
        model: model.into(),
        version,
        alias: alias.into(),
        force,
    }
}

fn all_events(store: &mut Store) -> Vec<EventRecord> {
    let mut e = store.events(&EventQuery::default()).unwrap();
    e.reverse();
    e
}

fn kinds(events: &[EventRecord]) -> Vec<EventKind> {
    events.iter().map(|e| e.event.kind).collect()
}

/// A request as the receiver saw it: URL, headers, body.
type Seen = (String, Vec<(&'static str, String)>, Vec<u8>);

/// A receiver that answers from a script and keeps every request.
#[derive(Default)]
struct Scripted {
    answers: RefCell<VecDeque<Result<WebhookResponse, String>>>,
    seen: RefCell<Vec<Seen>>,
}

impl Scripted {
    fn answer(&self, status: u16, times: usize) {
        for _ in 0..times {
            self.answers.borrow_mut().push_back(Ok(WebhookResponse {
                status,
                body: if status >= 300 {
                    "try later".into()
                } else {
                    String::new()
                },
            }));
        }
    }

    fn refuse(&self, times: usize) {
        for _ in 0..times {
            self.answers
                .borrow_mut()
                .push_back(Err("connection refused".into()));
        }
    }

    fn count(&self) -> usize {
        self.seen.borrow().len()
    }

    fn header(&self, i: usize, name: &str) -> Option<String> {
        self.seen.borrow()[i]
            .1
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

impl WebhookTransport for Scripted {
    fn post(&self, r: &WebhookRequest<'_>) -> Result<WebhookResponse, String> {
        self.seen
            .borrow_mut()
            .push((r.url.to_owned(), r.headers.clone(), r.body.to_vec()));
        self.answers
            .borrow_mut()
            .pop_front()
            .expect("the test scripted an answer for every request")
    }
}

/// Makes the database refuse new event rows, so the test can show that a
/// change whose event cannot be written is not made at all.
fn refuse_events(f: &Fixture) {
    let sql = match f.kind {
        Kind::Sqlite => {
            "CREATE TRIGGER no_events BEFORE INSERT ON registry_events
             BEGIN SELECT RAISE(ABORT, 'events refused by the test'); END;"
        }
        Kind::Postgres => {
            "CREATE FUNCTION no_events() RETURNS trigger LANGUAGE plpgsql AS $b$
             BEGIN RAISE EXCEPTION 'events refused by the test'; END; $b$;
             CREATE TRIGGER no_events BEFORE INSERT ON registry_events
             FOR EACH ROW EXECUTE FUNCTION no_events();"
        }
    };
    f.raw(sql).unwrap();
}

fn allow_events(f: &Fixture) {
    let sql = match f.kind {
        Kind::Sqlite => "DROP TRIGGER no_events",
        Kind::Postgres => "DROP TRIGGER no_events ON registry_events; DROP FUNCTION no_events()",
    };
    f.raw(sql).unwrap();
}

pub fn every_change_writes_one_event_in_its_transaction(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    let t0 = f.clock.now();
    register(&mut store, f, "fraud", 0.70, "s", "h");
    register(&mut store, f, "fraud", 0.75, "s", "h");
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "first",
        )
        .unwrap();
    // Unchanged alias: nothing written.
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "again",
        )
        .unwrap();
    store
        .promote(
            &promotion("fraud", 2, "production", false),
            &policy,
            &actor(),
            "better",
        )
        .unwrap();
    // Refused by the gate: its own event, nothing else.
    register(&mut store, f, "fraud", 0.50, "s", "h");
    store
        .promote(
            &promotion("fraud", 3, "production", false),
            &policy,
            &actor(),
            "worse",
        )
        .unwrap_err();
    store
        .promote(
            &promotion("fraud", 3, "production", true),
            &policy,
            &actor(),
            "incident 7",
        )
        .unwrap();
    store
        .rollback("fraud", "production", &actor(), "bad night")
        .unwrap();
    store
        .promote(
            &promotion("fraud", 1, "staging", false),
            &policy,
            &actor(),
            "warm",
        )
        .unwrap();
    store
        .remove_alias("fraud", "staging", &actor(), "done")
        .unwrap();
    // Past the (zero) retention of the version production moved away from.
    f.clock.advance(Duration::seconds(1));
    store
        .archive_version("fraud", 3, Duration::zero(), &actor(), "unused")
        .unwrap();

    let events = all_events(&mut store);
    assert_eq!(
        kinds(&events),
        [
            EventKind::VersionRegistered,
            EventKind::VersionRegistered,
            EventKind::AliasMoved,
            EventKind::AliasMoved,
            EventKind::VersionRegistered,
            EventKind::PromotionRefused,
            EventKind::AliasMoved,
            EventKind::Rollback,
            EventKind::AliasMoved,
            EventKind::AliasRemoved,
            EventKind::VersionArchived,
        ]
    );
    // Each event names its audit entry, which says the same thing.
    let audit = store.audit(&AuditQuery::default()).unwrap();
    for e in &events {
        let id = e.event.audit_id.expect("every event has its audit entry");
        let a = audit.iter().find(|a| a.id == id).unwrap();
        assert_eq!(a.model.as_deref(), Some(e.event.model.as_str()));
        assert_eq!(a.version, e.event.version, "{:?}", e.event);
        assert_eq!(a.alias, e.event.alias);
        assert_eq!(a.reason, e.event.data["reason"]);
        assert_eq!(e.event.data["actor"], "ana");
        assert_eq!(e.event.data["host"], "build-7");
        let at = match e.event.kind {
            EventKind::VersionArchived => t0 + Duration::seconds(1),
            _ => t0,
        };
        assert_eq!(e.event.at, at);
        assert!(e.deliveries.is_empty());
    }
    let moved = &events[3].event;
    assert_eq!(
        (moved.version, moved.alias.as_deref()),
        (Some(2), Some("production"))
    );
    assert_eq!(
        (moved.data["from"].as_i64(), moved.data["to"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(moved.data["forced"], false);
    let refused = &events[5].event;
    assert_eq!(refused.data["failures"][0]["rule"], "worse_than_current");
    let forced = &events[6].event;
    assert_eq!(forced.data["forced"], true);
    assert_eq!(forced.data["overridden"][0]["rule"], "worse_than_current");
    let rollback = &events[7].event;
    assert_eq!(
        (rollback.data["from"].as_i64(), rollback.version),
        (Some(3), Some(2))
    );
    assert_eq!(
        events[0].event.data["artifact_sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert_eq!(events[0].event.data["metrics"]["auc_pr"], 0.70);

    // Changes that fail write no event.
    let n = events.len();
    let err = store
        .promote(
            &promotion("fraud", 3, "staging", false),
            &policy,
            &actor(),
            "archived",
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::Conflict(_)), "{err}");
    store
        .rollback("fraud", "nightly", &actor(), "no such alias")
        .unwrap_err();
    store
        .promote(
            &promotion("fraud", 9, "staging", false),
            &policy,
            &actor(),
            "no such version",
        )
        .unwrap_err();
    assert_eq!(all_events(&mut store).len(), n);

    // A change whose event cannot be written is not made: the alias, its
    // history and the audit log stay as they were.
    let audit_n = f.raw_int("SELECT COUNT(*) FROM audit_log");
    let history_n = f.raw_int("SELECT COUNT(*) FROM alias_history");
    let versions_n = f.raw_int("SELECT COUNT(*) FROM model_versions");
    refuse_events(f);
    let err = store
        .promote(
            &promotion("fraud", 1, "production", true),
            &policy,
            &actor(),
            "x",
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("events refused by the test"),
        "{err}"
    );
    let stored = f.artifacts().put_bytes(b"one more").unwrap();
    store
        .register_version(
            &fathom_registry::NewVersion {
                model: "fraud".into(),
                artifact_uri: stored.uri,
                artifact_sha256: stored.sha256,
                schema_hash: "s".into(),
                ..Default::default()
            },
            &actor(),
            "x",
        )
        .unwrap_err();
    allow_events(f);
    assert_eq!(store.resolve("fraud@production").unwrap().version, 2);
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM audit_log"), audit_n);
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM alias_history"), history_n);
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM model_versions"), versions_n);
    assert_eq!(all_events(&mut store).len(), n);
}

pub fn deliveries_retry_with_backoff_then_fail_visibly(f: &Fixture) {
    let mut store = f.open();
    let hook = Webhook {
        secret: Some("s3cret".into()),
        ..Webhook::new("https://ci.example/fathom")
    };
    let hooks = [hook];
    let policy = DeliveryPolicy {
        max_attempts: 3,
        first_retry_secs: 30,
        max_retry_secs: 3600,
        batch: 100,
    };
    store.subscribe(&hooks).unwrap();
    register(&mut store, f, "fraud", 0.70, "s", "h");
    let t0 = f.clock.now();

    // First attempt: the receiver answers 503.
    let rx = Scripted::default();
    rx.answer(503, 1);
    let report = deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!((report.delivered, report.failures.len()), (0, 1));
    let fail = &report.failures[0];
    assert_eq!((fail.attempt, fail.gave_up), (1, false));
    assert_eq!(fail.error, "HTTP 503: try later");
    assert_eq!(fail.webhook, "https://ci.example/fathom");
    assert_eq!(fail.next_attempt_at, Some(t0 + Duration::seconds(30)));
    // What was sent: the event as JSON, signed.
    let body = rx.seen.borrow()[0].2.clone();
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["kind"], "version_registered");
    assert_eq!(sent["model"], "fraud");
    assert_eq!(sent["version"], 1);
    assert_eq!(
        rx.header(0, "X-Fathom-Signature"),
        Some(signature(b"s3cret", &body).unwrap())
    );
    assert_eq!(
        rx.header(0, "X-Fathom-Event").as_deref(),
        Some("version_registered")
    );
    assert_eq!(
        rx.header(0, "X-Fathom-Delivery-Attempt").as_deref(),
        Some("1")
    );

    // Not due yet: nothing is sent.
    f.clock.advance(Duration::seconds(29));
    let report = deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!(
        (report.delivered, report.failures.len(), rx.count()),
        (0, 0, 1)
    );
    let pending = &all_events(&mut store)[0].deliveries[0];
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert_eq!((pending.attempts, pending.last_status), (1, Some(503)));
    assert_eq!(pending.next_attempt_at, Some(t0 + Duration::seconds(30)));

    // Second attempt after 30 s: refused; the wait doubles to 60 s.
    f.clock.advance(Duration::seconds(1));
    rx.refuse(1);
    let report = deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!(report.failures[0].attempt, 2);
    assert_eq!(report.failures[0].error, "connection refused");
    assert_eq!(
        report.failures[0].next_attempt_at,
        Some(t0 + Duration::seconds(30 + 60))
    );
    f.clock.advance(Duration::seconds(59));
    deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!(rx.count(), 2);

    // Third and last attempt: failed for good, and listed as failed.
    f.clock.advance(Duration::seconds(1));
    rx.answer(500, 1);
    let report = deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert!(report.failures[0].gave_up);
    assert_eq!(report.failures[0].next_attempt_at, None);
    f.clock.advance(Duration::days(1));
    deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!(rx.count(), 3);
    let failed = store
        .events(&EventQuery {
            failed: true,
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    let d = &failed[0].deliveries[0];
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Failed, 3));
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500: try later"));
    assert_eq!(d.next_attempt_at, None);

    // Sent again on request, and then delivered.
    assert_eq!(store.retry_failed(None).unwrap(), 1);
    rx.answer(204, 1);
    let report = deliver_due(&mut store, &hooks, &policy, &rx, f.clock.now()).unwrap();
    assert_eq!((report.delivered, report.failures.len()), (1, 0));
    let d = &all_events(&mut store)[0].deliveries[0];
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 1));
    assert_eq!(d.delivered_at, Some(f.clock.now()));
    assert!(
        store
            .events(&EventQuery {
                failed: true,
                ..EventQuery::default()
            })
            .unwrap()
            .is_empty()
    );
}

pub fn webhooks_get_the_kinds_they_ask_for_from_when_they_are_seen(f: &Fixture) {
    let mut store = f.open();
    let policy = PromotionPolicy::default();
    // Recorded before any webhook existed: never sent.
    register(&mut store, f, "fraud", 0.70, "s", "h");
    let all = Webhook::new("http://127.0.0.1:1/all");
    let moves = Webhook {
        events: vec![EventKind::AliasMoved, EventKind::Rollback],
        ..Webhook::new("http://127.0.0.1:1/moves")
    };
    let hooks = [all, moves];
    store.subscribe(&hooks).unwrap();
    register(&mut store, f, "fraud", 0.72, "s", "h");
    store
        .promote(
            &promotion("fraud", 1, "production", false),
            &policy,
            &actor(),
            "a",
        )
        .unwrap();
    store
        .promote(
            &promotion("fraud", 2, "production", false),
            &policy,
            &actor(),
            "b",
        )
        .unwrap();
    store
        .rollback("fraud", "production", &actor(), "c")
        .unwrap();

    let rx = Scripted::default();
    rx.answer(200, 4 + 3);
    let report = deliver_due(
        &mut store,
        &hooks,
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap();
    assert_eq!((report.delivered, report.failures.len()), (7, 0));
    let sent: Vec<(String, String)> = rx
        .seen
        .borrow()
        .iter()
        .map(|(url, headers, _)| {
            let kind = headers
                .iter()
                .find(|(k, _)| *k == "X-Fathom-Event")
                .unwrap();
            (url.rsplit('/').next().unwrap().to_owned(), kind.1.clone())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("all", "version_registered"),
        ("all", "alias_moved"),
        ("all", "alias_moved"),
        ("all", "rollback"),
        ("moves", "alias_moved"),
        ("moves", "alias_moved"),
        ("moves", "rollback"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(sent, want);
    // Nothing is sent twice; the first event has no deliveries at all.
    let again = deliver_due(
        &mut store,
        &hooks,
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap();
    assert_eq!(
        (again.delivered, again.failures.len(), rx.count()),
        (0, 0, 7)
    );
    let events = all_events(&mut store);
    assert!(events[0].deliveries.is_empty());
    assert_eq!(events[1].deliveries.len(), 1);
    assert_eq!(events[4].deliveries.len(), 2);
    assert!(
        events
            .iter()
            .flat_map(|e| &e.deliveries)
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
}

pub fn a_failing_webhook_waits_without_holding_up_others(f: &Fixture) {
    let mut store = f.open();
    let down = Webhook::new("http://127.0.0.1:1/down");
    let up = Webhook::new("http://127.0.0.1:1/up");
    let hooks = [down, up];
    store.subscribe(&hooks).unwrap();
    for auc in [0.70, 0.71, 0.72] {
        register(&mut store, f, "fraud", auc, "s", "h");
    }
    let rx = Scripted::default();
    // down: the first of its three fails, the other two wait (not counted);
    // up: all three delivered.
    rx.refuse(1);
    rx.answer(200, 3);
    let report = deliver_due(
        &mut store,
        &hooks,
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap();
    assert_eq!(
        (report.delivered, report.failures.len(), report.deferred),
        (3, 1, 2)
    );
    let events = all_events(&mut store);
    let down_attempts: Vec<i64> = events
        .iter()
        .map(|e| {
            e.deliveries
                .iter()
                .find(|d| d.webhook.ends_with("/down"))
                .unwrap()
                .attempts
        })
        .collect();
    assert_eq!(down_attempts, [1, 0, 0]);
    // The two that waited are due at once; the failed one after its backoff.
    rx.answer(200, 2);
    let report = deliver_due(
        &mut store,
        &hooks,
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap();
    assert_eq!(report.delivered, 2);
    f.clock.advance(Duration::seconds(30));
    rx.answer(200, 1);
    let report = deliver_due(
        &mut store,
        &hooks,
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap();
    assert_eq!(report.delivered, 1);
    assert!(
        all_events(&mut store)
            .iter()
            .flat_map(|e| &e.deliveries)
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
    // A secret from an unset variable is a clear error before anything is
    // sent.
    let hook = Webhook {
        secret_env: Some("FATHOM_TEST_UNSET_SECRET_VARIABLE".into()),
        ..Webhook::new("http://127.0.0.1:1/env")
    };
    let err = deliver_due(
        &mut store,
        &[hook],
        &DeliveryPolicy::default(),
        &rx,
        f.clock.now(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("FATHOM_TEST_UNSET_SECRET_VARIABLE"),
        "{err}"
    );
}
