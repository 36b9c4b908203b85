//! Every answer counted and logged once, in one place: the outermost
//! service, wrapped around the [limits](crate::limits) and the router. It
//! sees the answers the handlers give and those given for them (413 for a
//! declared body too large, 408, 404, 405), counts each in
//! `fathom_http_requests_total{endpoint,status,variant}` and the latency
//! histogram, gives each an `x-request-id` (the handlers set it on theirs,
//! before authorising; others get the caller's or a fresh one), and, with
//! `[serve] access_log`, writes one JSON line per request.
//!
//! **Which variant answered.** A prediction handler notes the variant it
//! routed to in a thread-local slot just before it returns; the handler
//! runs inside this service's poll (axum calls it inline), so the note is
//! read back in the same poll on the same thread, before any other request
//! can run there. The slot is cleared before every poll. This spares a
//! per-request allocation (a response extension would cost one).

use crate::api::Shared;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tower_service::Service;

thread_local! {
    /// The variant the handler polled last on this thread answered with.
    static ROUTED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Notes the variant a prediction was routed to (`production`, `canary`,
/// `fallback`, or `mixed` for a batch), for the request count. Call it
/// after the handler's last await.
pub(crate) fn note_variant(variant: &'static str) {
    ROUTED.set(Some(variant));
}

/// The caller's token name, put on a response for the access log (only
/// when the access log is on).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

/// Where the access log's lines go: standard error unless redirected.
pub struct AccessLog {
    sink: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        Self {
            sink: Mutex::new(Box::new(std::io::stderr())),
        }
    }
}

impl AccessLog {
    /// Sends the lines to `writer` from now on (a file, a pipe to a log
    /// shipper, or a buffer in a test).
    pub fn redirect(&self, writer: Box<dyn Write + Send>) {
        *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = writer;
    }

    /// Writes one line (a failed write is ignored: the answer matters more).
    pub fn write_line(&self, line: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(sink, "{line}");
    }
}

/// The endpoint label of a request path: the route it matches, or
/// `other` (unknown paths), so the label's values are bounded.
pub fn endpoint(path: &str) -> &'static str {
    match path {
        "/v1/predict" => "/v1/predict",
        "/v1/predict/batch" => "/v1/predict/batch",
        "/v1/explain" => "/v1/explain",
        "/v1/feedback" => "/v1/feedback",
        "/v1/models" => "/v1/models",
        "/health" => "/health",
        "/ready" => "/ready",
        "/metrics" => "/metrics",
        "/openapi.json" => "/openapi.json",
        "/docs" => "/docs",
        "/dashboard" => "/dashboard",
        p if p.starts_with("/v1/models/") && p.ends_with("/promote") => "/v1/models/{name}/promote",
        p if p.starts_with("/v1/models/") && p.ends_with("/rollback") => {
            "/v1/models/{name}/rollback"
        }
        _ => "other",
    }
}

/// The outermost service (see the module documentation).
#[derive(Clone)]
pub struct Accounted<S> {
    inner: S,
    state: Shared,
}

impl<S> Accounted<S> {
    /// Wraps `inner`, counting into `state`'s metrics and access log.
    pub fn new(inner: S, state: Shared) -> Self {
        Self { inner, state }
    }
}

/// What the access log needs of a request besides its answer.
struct Seen {
    method: Method,
    path: String,
}

impl<S, B> Service<Request<B>> for Accounted<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AccountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let endpoint = endpoint(req.uri().path());
        let caller_id = req.headers().get("x-request-id").cloned();
        let seen = self.state.config.access_log.then(|| Seen {
            method: req.method().clone(),
            path: req.uri().path().to_string(),
        });
        AccountedFuture {
            inner: self.inner.call(req),
            state: self.state.clone(),
            started,
            endpoint,
            caller_id,
            seen,
        }
    }
}

pin_project! {
    /// A request's answer, counted (and logged) as it completes.
    pub struct AccountedFuture<F> {
        #[pin]
        inner: F,
        state: Shared,
        started: Instant,
        endpoint: &'static str,
        caller_id: Option<HeaderValue>,
        seen: Option<Seen>,
    }
}

impl<F, E> Future for AccountedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        ROUTED.set(None);
        let mut resp = match ready!(this.inner.poll(cx)) {
            Ok(r) => r,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let variant = ROUTED.take().unwrap_or("none");
        if !resp.headers().contains_key("x-request-id") {
            let id = this
                .caller_id
                .take()
                .filter(|v| crate::api::sane_request_id(v).is_some())
                .or_else(|| HeaderValue::from_str(&crate::api::new_request_id()).ok());
            if let Some(id) = id {
                resp.headers_mut().insert("x-request-id", id);
            }
        }
        let status = resp.status().as_u16();
        let seconds = this.started.elapsed().as_secs_f64();
        this.state
            .metrics
            .request(this.endpoint, variant, status, seconds);
        if let Some(seen) = this.seen.take() {
            let id = resp
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let caller = resp.extensions().get::<Caller>().map(|c| c.0.as_str());
            let line = serde_json::json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "method": seen.method.as_str(),
                "path": seen.path,
                "endpoint": this.endpoint,
                "status": status,
                "duration_ms": seconds * 1e3,
                "request_id": id,
                "token": caller,
                "variant": (variant != "none").then_some(variant),
            });
            this.state.access_log.write_line(&line.to_string());
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_are_the_routes_or_other() {
        assert_eq!(endpoint("/v1/predict"), "/v1/predict");
        assert_eq!(
            endpoint("/v1/models/fraud/promote"),
            "/v1/models/{name}/promote"
        );
        assert_eq!(endpoint("/v1/models/fraud"), "other");
        assert_eq!(endpoint("/wp-admin/x.php"), "other");
    }
}
