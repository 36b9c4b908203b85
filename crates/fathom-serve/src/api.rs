//! The HTTP endpoints.

use crate::auth::{Denied, Role};
use crate::contract::{ParsedRecord, Problem};
use crate::model::{Answer, ServedModel};
use crate::rollout::{Deployment, Slot, Variant, fnv1a};
use crate::state::{AppState, Logged};
use axum::body::Bytes;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Instant;

/// Shared state as handlers receive it.
pub type Shared = Arc<AppState>;

/// An error answer: `{"error": {"code", "message", "problems"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    problems: Vec<Problem>,
    failures: Vec<serde_json::Value>,
    /// The token refused (403, 429), for the access log.
    caller: Option<String>,
}

/// A request body read whole, within the server's body limit
/// (`max_body_bytes`, see [`crate::limits`]): a longer body gets 413.
/// (axum's own `Bytes` extractor would add its default 2 MB limit.)
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        match req.into_body().collect().await {
            Ok(collected) => Ok(Body(collected.to_bytes())),
            Err(e) => {
                // The limit's error, somewhere in the chain of causes.
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                let mut too_long = false;
                while let Some(c) = cause {
                    too_long |= c.is::<LengthLimitError>();
                    cause = c.source();
                }
                Err(if too_long {
                    crate::limits::body_too_large()
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "body_unreadable",
                        format!("the request body could not be read: {e}"),
                    )
                })
            }
        }
    }
}

impl ApiError {
    /// An error without per-field problems.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
            failures: Vec::new(),
            caller: None,
        }
    }

    /// The same error listing `failures` (the promotion gate's failed
    /// rules), as `failures` in its body.
    pub fn with_failures(mut self, failures: Vec<serde_json::Value>) -> Self {
        self.failures = failures;
        self
    }

    fn invalid(problems: Vec<Problem>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_record",
            message: format!(
                "the request does not match the model's input contract ({} problem{}); see `problems` and GET /v1/models for the fields",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ),
            problems,
            failures: Vec::new(),
            caller: None,
        }
    }

    fn denied(d: Denied) -> Self {
        match d {
            Denied::Unauthenticated(m) => Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", m),
            Denied::Forbidden { token, message } => Self {
                caller: Some(token),
                ..Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            },
            Denied::RateLimited { token, message } => Self {
                caller: Some(token),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
        }
    }

    fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no model version is loaded yet; see GET /ready",
        )
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    problems: &'a [Problem],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    failures: &'a [serde_json::Value],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
                problems: &self.problems,
                failures: &self.failures,
            },
        };
        json_response(self.status, &body)
    }
}

/// Serialises `body` as a JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut bytes = Vec::with_capacity(256);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

pub(crate) fn authorize<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    role: Role,
) -> Result<&'s str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.auth.check(role, value).map_err(ApiError::denied)
}

/// The request id: the caller's `x-request-id` when it is sensible, else a
/// new time-ordered UUID.
pub fn request_id(headers: &HeaderMap) -> String {
    match headers.get("x-request-id").and_then(sane_request_id) {
        Some(v) => v.to_string(),
        None => new_request_id(),
    }
}

/// A caller's request id when it is sensible: 1 to 128 visible ASCII
/// characters.
pub(crate) fn sane_request_id(v: &HeaderValue) -> Option<&str> {
    v.to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

thread_local! {
    /// Per-thread state of the request-id generator, seeded from the
    /// operating system's randomness once per thread (through the
    /// standard library's hasher keys).
    static ID_STATE: std::cell::Cell<u64> = std::cell::Cell::new({
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    });
}

/// A fresh UUID version 7: the time in milliseconds, then 74 bits from a
/// per-thread SplitMix64 sequence. Request ids must be unique and ordered
/// by time, not secret, so this spares a system call for fresh randomness
/// on every request.
pub(crate) fn new_request_id() -> String {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = ID_STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        let y = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(y);
        (mix(x), mix(y))
    });
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a.to_le_bytes());
    random[8..].copy_from_slice(&b.to_le_bytes()[..2]);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One scored record in an answer.
#[derive(Debug, Serialize)]
pub struct Prediction<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The registered model.
    pub model: &'a str,
    /// The version that answered.
    pub version: i64,
    /// production, canary or fallback.
    pub variant: Variant,
    /// Probability of the positive class, or the predicted value.
    pub score: f64,
    /// `score ≥ threshold` (binary models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<bool>,
    /// The model's threshold (binary models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Why a fallback answered, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<&'a str>,
}

fn deployment(state: &AppState) -> Result<Arc<Deployment>, ApiError> {
    state.deployment.load_full().ok_or_else(ApiError::not_ready)
}

/// The deployment answering now, borrowed for one request: unlike
/// [`deployment`] it does not touch the shared reference count, which
/// every worker thread would otherwise update on every prediction.
struct Current(arc_swap::Guard<Option<Arc<Deployment>>>);

impl std::ops::Deref for Current {
    type Target = Deployment;

    fn deref(&self) -> &Deployment {
        match self.0.as_deref() {
            Some(d) => d,
            // `current` hands out only guards that hold a deployment.
            None => unreachable!("a Current always holds a deployment"),
        }
    }
}

fn current(state: &AppState) -> Result<Current, ApiError> {
    let guard = state.deployment.load();
    if guard.is_none() {
        return Err(ApiError::not_ready());
    }
    Ok(Current(guard))
}

/// A record refused by a contract: its problems, and the slot it had been
/// routed to when that slot's own contract refused it (the primary's
/// contract is read before routing, so its refusals are nobody's error).
struct Refused<'d> {
    problems: Vec<Problem>,
    routed: Option<&'d Arc<Slot>>,
}

impl Refused<'_> {
    /// Counts the refusal as an error of the slot it was routed to.
    fn count(self) -> Vec<Problem> {
        if let Some(slot) = self.routed {
            slot.stats.fail();
        }
        self.problems
    }
}

/// Parses `json` for the slot a request routes to: with the primary's
/// contract first (which finds the entity key), again with the canary's
/// when it answers and its contract differs.
fn route_and_parse<'d, 'j>(
    d: &'d Deployment,
    json: &'j [u8],
    path: &str,
    request_hash: u64,
) -> Result<(&'d Arc<Slot>, Variant, ParsedRecord<'j>), Refused<'d>> {
    let parsed = d
        .primary
        .model
        .plan
        .parse(json, path)
        .map_err(|problems| Refused {
            problems,
            routed: None,
        })?;
    let (slot, variant) = d.route(parsed.key.as_deref(), request_hash);
    if Arc::ptr_eq(slot, &d.primary) || same_contract(&slot.model, &d.primary.model) {
        return Ok((slot, variant, parsed));
    }
    let again = slot
        .model
        .plan
        .parse(json, path)
        .map_err(|problems| Refused {
            problems,
            routed: Some(slot),
        })?;
    Ok((slot, variant, again))
}

/// Who answered a record, with what, and why another version than the
/// one routed to did (when it did).
type Scored<'d> = (&'d Arc<Slot>, Variant, Answer, Option<String>);

/// The answer for a routed record. When its slot cannot score it (a
/// panic, or a score that is not a finite number), that is an error of
/// the slot, and the next version that can answers instead, marked as a
/// fallback: production for a canary, then the configured fallback
/// version. 503 when none can.
fn score<'d>(
    d: &'d Deployment,
    slot: &'d Arc<Slot>,
    variant: Variant,
    parsed: &ParsedRecord<'_>,
    json: &[u8],
) -> Result<Scored<'d>, ApiError> {
    let why = match slot.model.try_answer(parsed) {
        Ok(a) => return Ok((slot, variant, a, None)),
        Err(why) => why,
    };
    slot.stats.fail();
    let mut tried = vec![format!("version {} ({why})", slot.model.version)];
    let rescuers = (!Arc::ptr_eq(slot, &d.primary))
        .then_some(&d.primary)
        .into_iter()
        .chain(d.fallback.iter());
    for other in rescuers {
        let answer = if same_contract(&other.model, &slot.model) {
            other.model.try_answer(parsed)
        } else {
            match other.model.plan.parse(json, "") {
                Ok(p) => other.model.try_answer(&p),
                Err(_) => {
                    tried.push(format!(
                        "version {} (its contract refuses the record)",
                        other.model.version
                    ));
                    continue;
                }
            }
        };
        match answer {
            Ok(a) => {
                let degraded = format!(
                    "{} could not score this record; version {} answers instead",
                    tried.join(", "),
                    other.model.version
                );
                return Ok((other, Variant::Fallback, a, Some(degraded)));
            }
            Err(e) => {
                other.stats.fail();
                tried.push(format!("version {} ({e})", other.model.version));
            }
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "scoring_failed",
        format!(
            "{} could not score this record and no fallback version can ([serve] fallback); retry later or report the record",
            tried.join(", ")
        ),
    ))
}

fn same_contract(a: &ServedModel, b: &ServedModel) -> bool {
    a.plan.inputs() == b.plan.inputs()
        && a.predictor.artifact().schema.hash() == b.predictor.artifact().schema.hash()
}

/// Scores the shadows on the same record and logs their answers.
fn shadows(
    state: &AppState,
    d: &Deployment,
    inputs: &Bytes,
    parsed: &ParsedRecord<'_>,
    request_id: &str,
    started: Instant,
) {
    for s in &d.shadows {
        let answer = if same_contract(&s.model, &d.primary.model) {
            s.model.try_answer(parsed).ok()
        } else {
            s.model
                .plan
                .parse(inputs, "")
                .ok()
                .and_then(|p| s.model.try_answer(&p).ok())
        };
        let Some(a) = answer else {
            s.stats.fail();
            continue;
        };
        let latency = started.elapsed().as_micros() as u64;
        s.stats.observe(a.score, latency);
        state.metrics.prediction("shadow", a.decision, a.score);
        let _ = state.log(Logged {
            request_id: request_id.to_string(),
            time_ms: now_ms(),
            version: s.model.version,
            variant: Variant::Shadow,
            inputs: inputs.clone(),
            score: a.score,
            decision: a.decision,
            latency_us: latency.min(u64::from(u32::MAX)) as u32,
            degraded: false,
        });
    }
}

fn record_answer(
    state: &AppState,
    slot: &Slot,
    variant: Variant,
    answer: Answer,
    started: Instant,
) -> u64 {
    let latency = started.elapsed().as_micros() as u64;
    slot.stats.observe(answer.score, latency);
    state
        .metrics
        .prediction(variant.as_str(), answer.decision, answer.score);
    latency
}

/// Awaits a prediction-log ticket when the log acknowledges only durable
/// records (fsync mode). A full queue fails the request in fsync mode; in
/// buffered mode the record is dropped (and counted) and the answer goes out.
async fn durable(
    state: &AppState,
    ticket: Result<Option<fathom_predlog::Ticket>, fathom_predlog::LogError>,
) -> Result<(), ApiError> {
    match ticket {
        Ok(Some(t)) => t.await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                format!("the prediction could not be logged durably: {e}; retry"),
            )
        }),
        Ok(None) => Ok(()),
        Err(e) if state.fsync => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "log_full",
            format!("the prediction log cannot take the record ({e}); retry shortly"),
        )),
        Err(_) => Ok(()),
    }
}

/// `POST /v1/predict`: one record in, one scored answer out.
pub async fn predict(
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let started = Instant::now();
    let id = request_id(&headers);
    let id_header = HeaderValue::from_str(&id).ok();
    let mut routed = None;
    let (who, result) = match authorize(&state, &headers, Role::Predict) {
        Ok(who) => (
            Some(who),
            predict_inner(&state, body, id, started, &mut routed).await,
        ),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, routed, result)
}

async fn predict_inner(
    state: &AppState,
    body: Bytes,
    id: String,
    started: Instant,
    routed: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let d = current(state)?;
    let (slot, variant, parsed) = match route_and_parse(&d, &body, "", fnv1a(id.as_bytes())) {
        Ok(r) => r,
        Err(refused) => {
            if refused.routed.is_some() {
                *routed = Some(Variant::Canary.as_str());
            }
            return Err(ApiError::invalid(refused.count()));
        }
    };
    let (slot, variant, answer, rescued) = match score(&d, slot, variant, &parsed, &body) {
        Ok(s) => s,
        Err(e) => {
            *routed = Some(variant.as_str());
            return Err(e);
        }
    };
    *routed = Some(variant.as_str());
    let latency = record_answer(state, slot, variant, answer, started);
    let out = Prediction {
        request_id: &id,
        model: &d.model,
        version: slot.model.version,
        variant,
        score: answer.score,
        decision: answer.decision,
        threshold: answer.decision.map(|_| slot.model.threshold()),
        degraded: match &rescued {
            Some(why) => Some(why.as_str()),
            None if variant == Variant::Fallback => d.degraded.as_deref(),
            None => None,
        },
    };
    let resp = json_response(StatusCode::OK, &out);
    // The id moves into the log record unless the shadows need it too.
    let shadow_id = (!d.shadows.is_empty()).then(|| id.clone());
    let ticket = state.log(Logged {
        request_id: id,
        time_ms: now_ms(),
        version: slot.model.version,
        variant,
        inputs: body.clone(),
        score: answer.score,
        decision: answer.decision,
        latency_us: latency.min(u64::from(u32::MAX)) as u32,
        degraded: variant == Variant::Fallback,
    });
    if let Some(id) = shadow_id {
        shadows(state, &d, &body, &parsed, &id, started);
    }
    if let Err(e) = durable(state, ticket).await {
        // Computed, but not given: an error of the slot that answered.
        slot.stats.withdraw();
        return Err(e);
    }
    Ok(resp)
}

/// The response of a handler's result, with the request id (on errors
/// too), the variant routed to noted for the request count, and the
/// caller's token name for the access log. Counting and logging happen
/// once, around every request, in [`crate::access`].
pub(crate) fn finish(
    state: &AppState,
    id: Option<HeaderValue>,
    who: Option<&str>,
    routed: Option<&'static str>,
    result: Result<Response, ApiError>,
) -> Response {
    // A refused token is named too: it presented itself, it was known.
    let refused = match &result {
        Err(e) if state.config.access_log => e.caller.clone(),
        _ => None,
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(id) = id {
        resp.headers_mut().insert("x-request-id", id);
    }
    if state.config.access_log
        && let Some(who) = who.map(str::to_string).or(refused)
    {
        resp.extensions_mut().insert(crate::access::Caller(who));
    }
    if let Some(v) = routed {
        crate::access::note_variant(v);
    }
    resp
}

/// The records of a batch body `{"records": [r1, r2, ...]}`, found by a
/// scan of its structure (strings and nesting) without decoding any value:
/// each record is then parsed once, by the contract, which rejects what is
/// not valid JSON. `None` when the body has another shape (other members,
/// escapes in the key, no array, trailing bytes, unbalanced nesting): the
/// caller parses it with serde_json then, for a precise error.
fn split_records(body: &[u8]) -> Option<Vec<&[u8]>> {
    let ws = |mut i: usize| {
        while matches!(body.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    };
    let expect = |i: usize, token: &[u8]| body.get(i..i + token.len()) == Some(token);
    let mut i = ws(0);
    if !expect(i, b"{") {
        return None;
    }
    i = ws(i + 1);
    if !expect(i, br#""records""#) {
        return None;
    }
    i = ws(i + 9);
    if !expect(i, b":") {
        return None;
    }
    i = ws(i + 1);
    if !expect(i, b"[") {
        return None;
    }
    i = ws(i + 1);
    let mut out = Vec::new();
    if expect(i, b"]") {
        i += 1;
    } else {
        loop {
            let start = i;
            let mut depth = 0usize;
            // Up to the comma or bracket that ends this record.
            let end = loop {
                match *body.get(i)? {
                    b'"' => {
                        i += 1;
                        loop {
                            match *body.get(i)? {
                                b'"' => break,
                                b'\\' => i += 2,
                                _ => i += 1,
                            }
                        }
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b']' | b',' if depth == 0 => break i,
                    b'}' => return None,
                    _ => {}
                }
                i += 1;
            };
            let mut last = end;
            while last > start && matches!(body[last - 1], b' ' | b'\t' | b'\n' | b'\r') {
                last -= 1;
            }
            if last == start {
                return None;
            }
            out.push(&body[start..last]);
            i = end + 1;
            if body[end] == b']' {
                break;
            }
            i = ws(i);
        }
    }
    i = ws(i);
    if !expect(i, b"}") || ws(i + 1) != body.len() {
        return None;
    }
    Some(out)
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

#[derive(Serialize)]
struct BatchAnswer<'a> {
    request_id: &'a str,
    model: &'a str,
    count: usize,
    predictions: Vec<BatchItem>,
}

#[derive(Serialize)]
struct BatchItem {
    version: i64,
    variant: Variant,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<bool>,
}

/// `POST /v1/predict/batch`: `{"records": [...]}`, all checked before any
/// is scored; each record routed by its own entity key.
pub async fn predict_batch(
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let started = Instant::now();
    let id = request_id(&headers);
    let id_header = HeaderValue::from_str(&id).ok();
    let mut routed = None;
    let (who, result) = match authorize(&state, &headers, Role::Predict) {
        Ok(who) => (
            Some(who),
            batch_inner(&state, &body, &id, started, &mut routed).await,
        ),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, routed, result)
}

/// The variant label of a batch: the one variant that answered every
/// record, or `mixed`.
fn batch_variant(seen: Option<Variant>, next: Variant, mixed: &mut bool) -> Option<Variant> {
    match seen {
        Some(v) if v != next => {
            *mixed = true;
            Some(v)
        }
        _ => Some(next),
    }
}

async fn batch_inner(
    state: &AppState,
    body: &Bytes,
    id: &str,
    started: Instant,
    routed: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let d = current(state)?;
    let records: Vec<&[u8]> = match split_records(body) {
        Some(r) => r,
        None => {
            let batch: BatchBody<'_> = serde_json::from_slice(body).map_err(|e| {
                ApiError::invalid(vec![Problem {
                    field: "records".into(),
                    expected: "a JSON object {\"records\": [ {...}, ... ]}".into(),
                    got: format!("invalid JSON: {e}"),
                }])
            })?;
            batch.records.iter().map(|r| r.get().as_bytes()).collect()
        }
    };
    if records.len() > state.config.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} records in one batch; at most {} are allowed ([serve] max_batch) — split the batch",
                records.len(),
                state.config.max_batch
            ),
        ));
    }
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(records.len());
    let id_hash = fnv1a(id.as_bytes());
    for (i, raw) in records.iter().enumerate() {
        let h = id_hash ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Problems name the record; the path is made only when there are any.
        let result = route_and_parse(&d, raw, "", h)
            .or_else(|_| route_and_parse(&d, raw, &format!("records[{i}]."), h));
        match result {
            Ok(p) => parsed.push(p),
            Err(refused) => problems.append(&mut refused.count()),
        }
        if problems.len() > 1000 {
            break;
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let mut items = Vec::with_capacity(parsed.len());
    let mut answered: Vec<&Arc<Slot>> = Vec::with_capacity(parsed.len());
    let mut last_ticket = None;
    let (mut seen, mut mixed) = (None, false);
    // Records answered but not given when the log refuses the batch.
    let withdraw = |answered: &[&Arc<Slot>]| {
        for slot in answered {
            slot.stats.withdraw();
        }
    };
    for (i, (slot, variant, rec)) in parsed.iter().enumerate() {
        let raw = records[i];
        let (slot, variant, a, _) = match score(&d, slot, *variant, rec, raw) {
            Ok(s) => s,
            Err(e) => {
                withdraw(&answered);
                return Err(e);
            }
        };
        seen = batch_variant(seen, variant, &mut mixed);
        let latency = record_answer(state, slot, variant, a, started);
        answered.push(slot);
        if state.log.is_some() {
            let t = state.log(Logged {
                request_id: format!("{id}/{i}"),
                time_ms: now_ms(),
                version: slot.model.version,
                variant,
                inputs: body.slice_ref(raw),
                score: a.score,
                decision: a.decision,
                latency_us: latency.min(u64::from(u32::MAX)) as u32,
                degraded: variant == Variant::Fallback,
            });
            match t {
                Ok(Some(t)) => last_ticket = Some(t),
                Ok(None) => {}
                Err(e) => {
                    if state.fsync {
                        withdraw(&answered);
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "log_full",
                            format!(
                                "the prediction log cannot take the records ({e}); retry shortly"
                            ),
                        ));
                    }
                }
            }
        }
        if !d.shadows.is_empty() {
            let raw = body.slice_ref(records[i]);
            shadows(state, &d, &raw, rec, &format!("{id}/{i}"), started);
        }
        items.push(BatchItem {
            version: slot.model.version,
            variant,
            score: a.score,
            decision: a.decision,
        });
    }
    *routed = match seen {
        _ if mixed => Some("mixed"),
        Some(v) => Some(v.as_str()),
        None => None,
    };
    // Records are written in order: the last one durable means all are.
    if let Err(e) = durable(state, Ok(last_ticket)).await {
        withdraw(&answered);
        return Err(e);
    }
    let out = BatchAnswer {
        request_id: id,
        model: &d.model,
        count: items.len(),
        predictions: items,
    };
    Ok(json_response(StatusCode::OK, &out))
}

/// `top` from the query string of `/v1/explain` (default 10).
fn explain_top(query: Option<&str>) -> Result<usize, ApiError> {
    let mut top = 10;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "top" {
            top = v
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=100_000).contains(&n))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        format!("top={v:?}: give a whole number of contributions from 1 to 100000"),
                    )
                })?;
        }
    }
    Ok(top)
}

#[derive(Serialize)]
struct Explanation<'a> {
    request_id: &'a str,
    model: &'a str,
    version: i64,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<bool>,
    /// On the model's raw (log-odds for binary) scale.
    raw_score: f64,
    base_value: f64,
    contributions: Vec<Contribution>,
}

#[derive(Serialize)]
struct Contribution {
    feature: String,
    value: f64,
    contribution: f64,
}

/// `POST /v1/explain`: the production answer for one record with its
/// feature contributions (TreeSHAP for trees; coefficient × feature for
/// linear models), largest first.
pub async fn explain(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let id = request_id(&headers);
    let id_header = HeaderValue::from_str(&id).ok();
    let (who, result) = match authorize(&state, &headers, Role::Predict) {
        Ok(who) => (
            Some(who),
            explain_top(query.as_deref()).and_then(|top| explain_inner(&state, &id, &body, top)),
        ),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

fn explain_inner(
    state: &AppState,
    id: &str,
    body: &[u8],
    top: usize,
) -> Result<Response, ApiError> {
    use fathom_model::artifact::Estimator;
    let d = deployment(state)?;
    let model = &d.primary.model;
    let parsed = model.plan.parse(body, "").map_err(ApiError::invalid)?;
    let artifact = model.predictor.artifact();
    let row = parsed.row(&model.plan);
    let mut features = vec![0.0; artifact.pipeline.width()];
    let names = artifact.pipeline.feature_names();
    let (raw, base, contrib): (f64, f64, Vec<f64>) = match &artifact.estimator {
        Estimator::Trees { ensemble } => {
            artifact.pipeline.transform_row(&row, &mut features);
            let e = fathom_model::shap::explain(ensemble, &features);
            let raw = e.bias + e.contributions.iter().sum::<f64>();
            (raw, e.bias, e.contributions)
        }
        Estimator::Linear {
            coef, intercept, ..
        } => {
            artifact.pipeline.transform_row(&row, &mut features);
            let c: Vec<f64> = coef.iter().zip(&features).map(|(w, x)| w * x).collect();
            (intercept + c.iter().sum::<f64>(), *intercept, c)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_explainable",
                format!(
                    "version {} is a constant or an ensemble of models; explanations are given for tree and linear models",
                    model.version
                ),
            ));
        }
    };
    let answer = model.try_answer(&parsed).map_err(|why| {
        d.primary.stats.fail();
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scoring_failed",
            format!(
                "version {} could not score this record: {why}; explanations come from the production version only",
                model.version
            ),
        )
    })?;
    let mut list: Vec<Contribution> = contrib
        .iter()
        .enumerate()
        .map(|(i, &c)| Contribution {
            feature: names.get(i).cloned().unwrap_or_else(|| format!("f{i}")),
            value: features.get(i).copied().unwrap_or(f64::NAN),
            contribution: c,
        })
        .collect();
    list.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    list.truncate(top.max(1));
    Ok(json_response(
        StatusCode::OK,
        &Explanation {
            request_id: id,
            model: &d.model,
            version: model.version,
            score: answer.score,
            decision: answer.decision,
            raw_score: raw,
            base_value: base,
            contributions: list,
        },
    ))
}

/// Body of `/v1/feedback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The id returned with the prediction.
    pub request_id: String,
    /// The true outcome: `true`/`false`, `0`/`1`, or a number for regression.
    pub label: serde_json::Value,
}

/// `POST /v1/feedback`: the ground truth for an earlier prediction.
pub async fn feedback(
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let id_header = HeaderValue::from_str(&request_id(&headers)).ok();
    let (who, result) = match authorize(&state, &headers, Role::Predict) {
        Ok(who) => (Some(who), feedback_inner(&state, &body).await),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

async fn feedback_inner(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let fb: Feedback = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(vec![Problem {
            field: "body".into(),
            expected: "{\"request_id\": \"…\", \"label\": 0 | 1 | true | false | number}".into(),
            got: format!("{e}"),
        }])
    })?;
    let label = match &fb.label {
        serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => {
            return Err(ApiError::invalid(vec![Problem {
                field: "label".into(),
                expected: "true, false, 0, 1 or a number".into(),
                got: other.to_string(),
            }]));
        }
    };
    let binary = state
        .deployment
        .load()
        .as_ref()
        .is_none_or(|d| d.primary.model.objective == "binary");
    if !label.is_finite() || (binary && label != 0.0 && label != 1.0) {
        return Err(ApiError::invalid(vec![Problem {
            field: "label".into(),
            expected: if binary {
                "0 or 1 (or true/false)"
            } else {
                "a finite number"
            }
            .into(),
            got: fb.label.to_string(),
        }]));
    }
    if fb.request_id.is_empty() || fb.request_id.len() > 160 {
        return Err(ApiError::invalid(vec![Problem {
            field: "request_id".into(),
            expected: "the request id a prediction returned".into(),
            got: format!("{:?}", fb.request_id),
        }]));
    }
    let Some(log) = &state.log else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "log_disabled",
            "feedback is stored in the prediction log, which is disabled ([serve.log] enabled = false)",
        ));
    };
    let record = fathom_predlog::FeedbackRecord {
        request_id: fb.request_id.clone(),
        time_ms: now_ms(),
        label,
    };
    let queued = if state.fsync {
        log.append_feedback(record).map(Some)
    } else {
        log.append_feedback_detached(record).map(|()| None)
    };
    // A label that cannot be queued is refused (the caller retries), in
    // either durability mode: it is not a prediction already answered.
    let ticket = queued.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "log_full",
            format!("the feedback could not be queued: {e}; retry shortly"),
        )
    })?;
    durable(state, Ok(ticket)).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"request_id": fb.request_id, "label": label, "accepted": true}),
    ))
}

/// `GET /health`: the process is up.
pub async fn health() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// `GET /ready`: 200 once a model version is loaded. An unreachable
/// registry does not make the server unready (it keeps serving the loaded
/// versions) but is reported.
pub async fn ready(State(state): State<Shared>) -> Response {
    let d = state.deployment.load_full();
    let store = if state.store_reachable() {
        serde_json::json!({"reachable": true})
    } else {
        let why = state
            .store_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        serde_json::json!({"reachable": false, "error": why})
    };
    let log = state.log.as_ref().map(|l| {
        let s = l.stats();
        serde_json::json!({"queued": s.queued, "written": s.written, "dropped": s.dropped})
    });
    match d {
        Some(d) => json_response(
            StatusCode::OK,
            &serde_json::json!({
                "status": if d.degraded.is_some() || !state.store_reachable() { "degraded" } else { "ready" },
                "model": d.model,
                "version": d.primary.model.version,
                "degraded": d.degraded,
                "store": store,
                "prediction_log": log,
            }),
        ),
        None => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({
                "status": "not_ready",
                "model": state.model,
                "reason": "no version of the model is loaded: it has no production alias yet, or its artifact cannot be loaded",
                "store": store,
            }),
        ),
    }
}

/// `GET /metrics`: Prometheus text format, or OpenMetrics when the
/// scraper asks for it (`Accept: application/openmetrics-text`).
pub async fn metrics(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(log) = &state.log {
        let s = log.stats();
        state.metrics.log_totals(s.queued, s.written, s.dropped);
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.render_openmetrics(),
        )
    } else {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render_text(),
        )
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

fn describe_slot(slot: &Slot, variant: &str, share: Option<f64>) -> serde_json::Value {
    let m = &slot.model;
    let a = m.predictor.artifact();
    let fields: Vec<_> = m
        .plan
        .describe()
        .into_iter()
        .map(|(name, t, used, required)| {
            serde_json::json!({"name": name, "type": crate::contract::type_name(t), "used": used, "required": required})
        })
        .collect();
    let s = slot.stats.snapshot();
    serde_json::json!({
        "variant": variant,
        "version": m.version,
        "artifact_sha256": m.sha256,
        "objective": m.objective,
        "threshold": a.threshold,
        "traffic_percent": share,
        "schema_hash": a.schema.hash(),
        "metrics": a.metrics,
        "fields": fields,
        "answered": s.requests,
    })
}

/// `GET /v1/models`: what is deployed, with each version's contract.
pub async fn models(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let id_header = HeaderValue::from_str(&request_id(&headers)).ok();
    let describe = || {
        let d = deployment(&state)?;
        let canary_share = d.canary.as_ref().map(|(_, s)| f64::from(*s) / 100.0);
        let mut slots = vec![describe_slot(
            &d.primary,
            if d.degraded.is_some() {
                "fallback"
            } else {
                "production"
            },
            Some(100.0 - canary_share.unwrap_or(0.0)),
        )];
        if let Some((c, _)) = &d.canary {
            slots.push(describe_slot(c, "canary", canary_share));
        }
        for s in &d.shadows {
            slots.push(describe_slot(s, "shadow", Some(0.0)));
        }
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({"model": d.model, "degraded": d.degraded, "deployed": slots}),
        ))
    };
    let (who, result) = match authorize(&state, &headers, Role::Read) {
        Ok(who) => (Some(who), describe()),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

#[cfg(test)]
mod tests {
    use super::{BatchBody, new_request_id, split_records};

    /// The records as serde_json's parse of the whole body finds them.
    fn by_serde(body: &str) -> Vec<&str> {
        let b: BatchBody<'_> = serde_json::from_str(body).unwrap();
        b.records.iter().map(|r| r.get()).collect()
    }

    #[test]
    fn batch_records_are_split_as_a_full_parse_splits_them() {
        for body in [
            r#"{"records": []}"#,
            r#"{"records":[{"a":1}]}"#,
            "\r\n { \"records\" :\t[ {\"a\": 1} ,\n{\"b\": \"x,]}\"} ] }\n",
            r#"{"records": [{"q": "a \"quoted\" ]}, and \\"}, {"n": [1, [2, {"x": []}]]}, 5, "s", null]}"#,
            r#"{"records": [{"emoji": "\u00e9 é"}, {}]}"#,
        ] {
            let ours: Vec<&str> = split_records(body.as_bytes())
                .unwrap_or_else(|| panic!("not split: {body}"))
                .into_iter()
                .map(|r| std::str::from_utf8(r).unwrap())
                .collect();
            assert_eq!(ours, by_serde(body), "{body}");
        }
    }

    /// Mutated bodies: the scan never panics, and whatever it splits is
    /// what a full parse finds, or holds a record that is not valid JSON
    /// (which the contract's parse then rejects).
    #[test]
    fn mutated_batch_bodies_split_consistently_or_not_at_all() {
        let base =
            br#"{"records": [{"a": 1, "s": "x\"]}"}, {"n": [1, {"m": null}]}, {"b": true}]}"#;
        let alphabet = br#"{}[]",:\ a1"#;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut body = base.to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % body.len() as u64) as usize;
                match next() % 3 {
                    0 => body[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                }
            }
            let Some(ours) = split_records(&body) else {
                continue;
            };
            match serde_json::from_slice::<BatchBody<'_>>(&body) {
                Ok(b) => {
                    let theirs: Vec<&[u8]> = b.records.iter().map(|r| r.get().as_bytes()).collect();
                    assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(&body));
                }
                Err(_) => assert!(
                    ours.iter()
                        .any(|r| serde_json::from_slice::<serde::de::IgnoredAny>(r).is_err()),
                    "{}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_full_parse() {
        for body in [
            "",
            "[]",
            r#"{"x": 1, "records": []}"#,
            r#"{"records": [], "x": 1}"#,
            r#"{"records": {}}"#,
            r#"{"records": [{"a": 1},]}"#,
            r#"{"records": [{"a": 1}"#,
            r#"{"records": [{"a": "open]}"#,
            r#"{"records": [{"a": 1}}]}"#,
            r#"{"records": [1, , 2]}"#,
            r#"{"records": []} trailing"#,
            r#"{"rec\u006frds": []}"#,
        ] {
            assert!(split_records(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn request_ids_are_version_7_uuids_unique_across_threads() {
        let ids: Vec<String> = std::thread::scope(|s| {
            let hands: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..5_000).map(|_| new_request_id()).collect::<Vec<_>>()))
                .collect();
            hands.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        for id in ids.iter().step_by(997) {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
            let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
            assert!(ms <= now && now - ms < 60_000, "{id}: {ms} vs {now}");
        }
    }
}
