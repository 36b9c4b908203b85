//! `GET /dashboard`: one self-contained page (no scripts, no network)
//! that shows what the server is doing and what the registry knows about
//! the model it serves, refreshed every 15 seconds.
//!
//! * **Serving now**, from the server's own counters: which version
//!   answers under which alias (production, canary with its share,
//!   shadows, a fallback and why), answers, errors and latency per slot,
//!   and the score distribution per slot as bars.
//! * **Monitoring**, from the checks recorded in `NAME-monitoring`: drift
//!   share and rolling AUC over the last checks as a line chart, the
//!   newest verdict and decision, and the alert notifications routed to
//!   `dashboard` (the route every built-in rule uses).
//! * **Versions and alias moves**, from the registry: every version with
//!   its holdout metrics and aliases, and the latest promotions and
//!   rollbacks.
//!
//! The registry part is read on request (a blocking task); when the store
//! cannot be read the page still shows the serving part, and says why the
//! rest is missing.

use crate::api::{ApiError, Shared, authorize, finish, request_id};
use crate::auth::Role;
use crate::rollout::{SCORE_BOUNDS, Slot};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use fathom_registry::{AliasEvent, ModelVersion, RunQuery, RunSummary, Store};
use fathom_report::chart::{Bar, LineChart, Reference, Series, hbar_chart, line_chart};
use fathom_report::format::{escape, fmt_count, fmt_num, fmt_pct};
use fathom_report::page::{Header, Page, Tile};
use std::fmt::Write;

/// Monitoring checks drawn in the chart.
const CHECKS: usize = 30;
/// Alias moves listed.
const MOVES: usize = 12;
/// Newest checks whose alert notifications are listed.
const ALERT_CHECKS: usize = 5;

/// What the page shows from the registry.
#[derive(Debug, Default)]
pub struct RegistryView {
    /// Every version, newest first.
    pub versions: Vec<ModelVersion>,
    /// The latest alias moves, newest first.
    pub moves: Vec<AliasEvent>,
    /// The latest finished monitoring checks, newest first.
    pub checks: Vec<RunSummary>,
    /// Alert notifications of the newest checks routed to `dashboard`,
    /// newest first.
    pub alerts: Vec<serde_json::Value>,
}

/// Reads what the page shows about `model` from the store at `location`.
pub fn read_registry(location: &str, model: &str) -> Result<RegistryView, String> {
    let mut store = Store::open(location).map_err(|e| e.to_string())?;
    let mut versions = store.model_versions(model).map_err(|e| e.to_string())?;
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let mut moves = store
        .alias_history(model, None)
        .map_err(|e| e.to_string())?;
    moves.sort_by(|a, b| b.at.cmp(&a.at).then(b.audit_id.cmp(&a.audit_id)));
    moves.truncate(MOVES);
    // No check recorded yet is not an error: the experiment does not exist.
    let checks = store
        .list_runs(&RunQuery {
            experiment: Some(format!("{model}-monitoring")),
            filter: "status = 'finished'".into(),
            order_by: None,
            limit: CHECKS,
            offset: 0,
        })
        .map(|p| p.runs)
        .unwrap_or_default();
    let mut alerts = Vec::new();
    for summary in checks.iter().take(ALERT_CHECKS) {
        let Ok(run) = store.run(summary.info.id) else {
            continue;
        };
        let Some(a) = run.artifacts.iter().find(|a| a.name == "alerts.json") else {
            continue;
        };
        let Ok(bytes) = fathom_registry::artifacts::read_verified(&a.uri, &a.sha256) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        for n in doc["notifications"].as_array().into_iter().flatten() {
            let routed = n["routes"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "dashboard"));
            if routed {
                alerts.push(n.clone());
            }
        }
    }
    Ok(RegistryView {
        versions,
        moves,
        checks,
        alerts,
    })
}

/// `GET /dashboard` (role `read`).
pub async fn page(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let id_header = HeaderValue::from_str(&request_id(&headers)).ok();
    let (who, result) = match authorize(&state, &headers, Role::Read) {
        Ok(who) => (Some(who), page_inner(&state).await),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

async fn page_inner(state: &Shared) -> Result<Response, ApiError> {
    let (location, model) = (state.store_location.clone(), state.model.clone());
    let registry = tokio::task::spawn_blocking(move || read_registry(&location, &model))
        .await
        .unwrap_or_else(|e| Err(format!("the registry read stopped: {e}")));
    let html = render(state, &registry, Utc::now());
    let mut resp = (StatusCode::OK, html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

const CSS: &str = r#"
table{border-collapse:collapse;width:100%;font-size:14px;margin-top:8px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb}
td.msg{white-space:normal;min-width:280px}
.chart{max-width:760px}
th{color:#52606d;font-weight:600}
th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;background:#e4e7eb;margin-right:4px}
.pill.production{background:#c6f6d5}.pill.canary{background:#feebc8}.pill.shadow{background:#e9d8fd}.pill.fallback{background:#fed7d7}
.sev-critical{color:#c53030;font-weight:600}.sev-warning{color:#b7791f;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
"#;

/// The page for the server's current state and `registry`.
pub fn render(
    state: &AppState,
    registry: &Result<RegistryView, String>,
    now: DateTime<Utc>,
) -> String {
    let deployment = state.deployment.load_full();
    let mut slots: Vec<(&Slot, String, Option<f64>)> = Vec::new();
    if let Some(d) = deployment.as_deref() {
        let canary = d.canary.as_ref().map(|(_, bp)| f64::from(*bp) / 100.0);
        let primary = if d.degraded.is_some() {
            "fallback"
        } else {
            "production"
        };
        slots.push((
            &d.primary,
            primary.into(),
            Some(100.0 - canary.unwrap_or(0.0)),
        ));
        if let Some((c, _)) = &d.canary {
            slots.push((c, "canary".into(), canary));
        }
        for s in &d.shadows {
            slots.push((s, "shadow".into(), None));
        }
    }
    let (answers, errors) = slots.iter().fold((0, 0), |(a, e), (s, _, _)| {
        let s = s.stats.snapshot();
        (a + s.requests, e + s.errors)
    });
    let uptime = state.started.elapsed().as_secs();
    let mut notes = Vec::new();
    if let Some(why) = deployment.as_deref().and_then(|d| d.degraded.as_deref()) {
        notes.push(format!("degraded: {why}"));
    }
    if deployment.is_none() {
        notes.push("no version is loaded: the server is not ready".into());
    }
    if !state.store_ok.load(std::sync::atomic::Ordering::Relaxed)
        && let Ok(guard) = state.store_error.lock()
        && let Some(e) = guard.as_deref()
    {
        notes.push(format!("the registry could not be polled: {e}"));
    }
    let header = Header {
        title: format!("fathom · {}", state.model),
        source: format!(
            "Served by this replica; as of {} (refreshes every 15 s)",
            now.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        tiles: vec![
            Tile::new(
                slots
                    .first()
                    .map_or("–".into(), |(s, _, _)| format!("v{}", s.model.version)),
                "answering",
            ),
            Tile::new(fmt_count(answers), "answers since start"),
            Tile::new(fmt_count(errors), "errors"),
            Tile::new(format!("{}h {:02}m", uptime / 3600, uptime / 60 % 60), "up"),
        ],
        notes,
    };
    let mut page = Page::begin(&header, CSS);
    // The page asks to be reloaded; it has no scripts.
    page.push(r#"<meta http-equiv="refresh" content="15">"#);
    serving_section(&mut page, &slots);
    match registry {
        Ok(view) => {
            monitoring_section(&mut page, view);
            registry_section(&mut page, view);
        }
        Err(e) => {
            page.heading("Monitoring and registry", None);
            page.note(&format!(
                "The registry could not be read ({e}); the serving figures above are this replica's own."
            ));
        }
    }
    page.finish("fathom dashboard")
}

fn serving_section(page: &mut Page, slots: &[(&Slot, String, Option<f64>)]) {
    page.heading(
        "Serving now",
        Some("this replica's counters since each version entered its slot"),
    );
    if slots.is_empty() {
        page.note("Nothing is deployed yet.");
        return;
    }
    page.push("<table><tr><th>slot</th><th>version</th><th>traffic</th><th class=\"n\">answers</th><th class=\"n\">errors</th><th class=\"n\">p50 latency</th><th class=\"n\">p99 latency</th><th class=\"n\">threshold</th></tr>");
    for (slot, variant, share) in slots {
        let s = slot.stats.snapshot();
        let latency = |q: f64| {
            if s.requests == 0 {
                "–".to_string()
            } else {
                format!("≤ {} µs", s.latency_quantile_us(q))
            }
        };
        let _ = write!(
            page,
            "<tr><td><span class=\"pill {v}\">{v}</span></td><td>v{ver}</td><td>{share}</td><td class=\"n\">{a}</td><td class=\"n\">{e}</td><td class=\"n\">{p50}</td><td class=\"n\">{p99}</td><td class=\"n\">{t}</td></tr>",
            v = escape(variant),
            ver = slot.model.version,
            share = share.map_or("scores only".into(), |p| format!("{}%", fmt_num(p))),
            a = fmt_count(s.requests),
            e = fmt_count(s.errors),
            p50 = latency(0.5),
            p99 = latency(0.99),
            t = fmt_num(slot.model.threshold()),
        );
    }
    page.push("</table>");
    page.push("<div class=\"grid\">");
    for (slot, variant, _) in slots {
        let s = slot.stats.snapshot();
        let total: u64 = s.scores.iter().sum();
        let mut lower = 0.0;
        let bars: Vec<Bar> = SCORE_BOUNDS
            .iter()
            .zip(s.scores)
            .map(|(&upper, n)| {
                let label = format!("{} – {}", fmt_num(lower), fmt_num(upper));
                lower = upper;
                let share = if total == 0 {
                    0.0
                } else {
                    n as f64 / total as f64
                };
                Bar::new(label, share, fmt_pct(share))
            })
            .collect();
        let _ = write!(
            page,
            "<div><h3>scores of v{} ({})</h3>",
            slot.model.version,
            escape(variant)
        );
        if total == 0 {
            page.note("No answers yet.");
        } else {
            page.push(&hbar_chart(
                &bars,
                1.0,
                None,
                &format!("score distribution of version {}", slot.model.version),
            ));
        }
        page.push("</div>");
    }
    page.push("</div>");
}

fn monitoring_section(page: &mut Page, view: &RegistryView) {
    page.heading(
        "Monitoring",
        Some("the latest checks recorded by `fathom monitor` and the monitoring pipeline"),
    );
    let Some(latest) = view.checks.first() else {
        page.note("No monitoring check has been recorded for this model yet.");
        return;
    };
    let tag = |r: &RunSummary, k: &str| r.tags.get(k).cloned().unwrap_or_else(|| "–".into());
    let _ = write!(
        page,
        "<p>Latest check {}: verdict <strong>{}</strong>, decision <strong>{}</strong>{}.</p>",
        escape(
            &latest
                .info
                .start_time
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        ),
        escape(&tag(latest, "verdict")),
        escape(&tag(latest, "decision")),
        match latest
            .tags
            .get("drifted_features")
            .filter(|s| !s.is_empty())
        {
            Some(f) => format!("; drifted: {}", escape(&f.replace(',', ", "))),
            None => String::new(),
        }
    );
    // Oldest first, x = checks ago (negative), so the newest is at 0.
    let series_of = |key: &str, name: &str| {
        let points: Vec<(f64, f64)> = view
            .checks
            .iter()
            .enumerate()
            .rev()
            .filter_map(|(i, r)| r.metrics.get(key).map(|&v| (-(i as f64), v)))
            .collect();
        let tooltips = view
            .checks
            .iter()
            .rev()
            .filter(|r| r.metrics.contains_key(key))
            .map(|r| {
                format!(
                    "{}: {} {}",
                    r.info.start_time.format("%Y-%m-%d %H:%M"),
                    name,
                    fmt_num(r.metrics[key])
                )
            })
            .collect();
        Series {
            name: name.into(),
            points,
            emphasis: false,
            markers: true,
            tooltips,
        }
    };
    let series = [
        series_of("drift_score", "drift share"),
        series_of("auc_roc", "rolling AUC-ROC"),
    ];
    let references = [Reference {
        from: (-(view.checks.len().max(2) as f64 - 1.0), 0.2),
        to: (0.0, 0.2),
        label: "severe drift (0.2)".into(),
    }];
    page.push("<div class=\"chart\">");
    page.push(&line_chart(&LineChart {
        label: "drift share and rolling AUC over the latest checks",
        x_title: "checks ago",
        y_title: "share / AUC",
        x_range: (-(view.checks.len().max(2) as f64 - 1.0), 0.0),
        y_range: (0.0, 1.0),
        series: &series,
        references: &references,
    }));
    page.push("</div>");
    page.heading(
        "Alerts",
        Some("notifications routed to the dashboard, newest first"),
    );
    if view.alerts.is_empty() {
        page.note("No alert notification in the latest checks.");
        return;
    }
    page.push("<table><tr><th>when</th><th>kind</th><th>rule</th><th>severity</th><th>team</th><th>message</th></tr>");
    for a in &view.alerts {
        let when = a["at_ms"]
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map_or("–".into(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        let s = |k: &str| a[k].as_str().unwrap_or("–").to_string();
        let severity = s("severity");
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"sev-{}\">{}</td><td>{}</td><td class=\"msg\">{}</td></tr>",
            escape(&when),
            escape(&s("kind")),
            escape(&s("rule")),
            escape(&severity),
            escape(&severity),
            escape(&s("team")),
            escape(&s("message")),
        );
    }
    page.push("</table>");
}

fn registry_section(page: &mut Page, view: &RegistryView) {
    page.heading("Versions", Some("holdout metrics as registered"));
    page.push("<table><tr><th>version</th><th>aliases</th><th>status</th><th class=\"n\">AUC-PR</th><th class=\"n\">AUC-ROC</th><th>registered</th><th>owner</th></tr>");
    for v in &view.versions {
        let metric = |k: &str| v.metrics.get(k).map_or("–".into(), |x| format!("{x:.4}"));
        let aliases: String = v
            .aliases
            .iter()
            .map(|a| format!("<span class=\"pill {0}\">{0}</span>", escape(a)))
            .collect();
        let _ = write!(
            page,
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            v.version,
            aliases,
            escape(&format!("{:?}", v.status).to_lowercase()),
            metric("auc_pr"),
            metric("auc_roc"),
            escape(&v.created_at.format("%Y-%m-%d %H:%M").to_string()),
            escape(&v.owner),
        );
    }
    page.push("</table>");
    page.heading(
        "Alias moves",
        Some("promotions, canaries and rollbacks, newest first"),
    );
    if view.moves.is_empty() {
        page.note("No alias has moved yet.");
        return;
    }
    page.push("<table><tr><th>when</th><th>alias</th><th>move</th><th>from</th><th>to</th></tr>");
    for m in &view.moves {
        let v = |x: Option<i64>| x.map_or("–".into(), |v| format!("v{v}"));
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.at.format("%Y-%m-%d %H:%M:%S").to_string()),
            escape(&m.alias),
            escape(&m.kind),
            v(m.from),
            v(m.to),
        );
    }
    page.push("</table>");
}
