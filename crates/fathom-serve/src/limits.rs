//! The limits every request meets: its body size (→ 413) and its time
//! (→ 408), wrapped once around the whole router.
//!
//! **Body size.** A declared `content-length` over `max_body_bytes` is
//! refused before the body is read; a body without one (chunked) is read
//! through a counting limit, and the body extractor ([`crate::api::Body`])
//! answers 413 when it trips.
//!
//! **Time.** Almost every request is answered in its first poll: the body
//! is already in the connection's buffer, the work is synchronous, and in
//! the buffered log mode nothing is awaited. A timer per request (what a
//! general timeout layer does) then costs a registration in the runtime's
//! timer wheel, its lock and its removal, for nothing: about 5 % of the
//! server's CPU at tens of thousands of requests a second. [`Limits`]
//! polls the handler first and arms a timer only when the handler returns
//! pending (a slow body, a durable log write); the deadline still counts
//! from when the request arrived.
//!
//! Wrapping the router once, rather than each route (`Router::layer`),
//! also spares a boxed-service clone per request and layer.

use crate::api::ApiError;
use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::Limited;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// A time limit and a body-size limit per request.
#[derive(Debug, Clone, Copy)]
pub struct LimitsLayer {
    timeout: Duration,
    max_body: usize,
}

impl LimitsLayer {
    /// At most `timeout` per request (then 408) and `max_body` body bytes
    /// (then 413).
    pub fn new(timeout: Duration, max_body: usize) -> LimitsLayer {
        LimitsLayer { timeout, max_body }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;

    fn layer(&self, inner: S) -> Limits<S> {
        Limits {
            inner,
            timeout: self.timeout,
            max_body: self.max_body,
        }
    }
}

/// The service [`LimitsLayer`] wraps around the router.
#[derive(Debug, Clone)]
pub struct Limits<S> {
    inner: S,
    timeout: Duration,
    max_body: usize,
}

/// 413 for a body longer than the limit.
pub(crate) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body exceeds the server's limit ([serve] max_body_bytes); send less",
    )
}

impl<S, B> Service<Request<B>> for Limits<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = LimitsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let due = Instant::now() + self.timeout;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let inner = match declared {
            Some(n) if n > self.max_body as u64 => None,
            // The connection reads no more than a declared length.
            Some(_) => Some(self.inner.call(req.map(Body::new))),
            None => {
                let max = self.max_body;
                Some(
                    self.inner
                        .call(req.map(|b| Body::new(Limited::new(b, max)))),
                )
            }
        };
        LimitsFuture {
            inner,
            due,
            limit: self.timeout,
            timer: None,
        }
    }
}

pin_project! {
    /// A request's answer, 413 when its declared body is too long, or 408
    /// once its deadline has passed.
    pub struct LimitsFuture<F> {
        // None: refused for its declared length.
        #[pin]
        inner: Option<F>,
        due: Instant,
        limit: Duration,
        // Armed at the first pending poll.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, E> Future for LimitsFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Ok(body_too_large().into_response()));
        };
        if let Poll::Ready(out) = inner.poll(cx) {
            return Poll::Ready(out);
        }
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(*this.due)));
        ready!(timer.as_mut().poll(cx));
        let timed_out = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than the server's limit of {} ms ([serve] timeout_ms); send the body at once and retry",
                this.limit.as_millis()
            ),
        );
        Poll::Ready(Ok(timed_out.into_response()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A service that answers after `wait` (zero: in the first poll).
    #[derive(Clone)]
    struct Slow(Duration);

    impl Service<Request<Body>> for Slow {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            let wait = self.0;
            Box::pin(async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(Response::new(Body::from("done")))
            })
        }
    }

    async fn status_after(wait_ms: u64, limit_ms: u64) -> StatusCode {
        let layer = LimitsLayer::new(Duration::from_millis(limit_ms), 100);
        let mut svc = layer.layer(Slow(Duration::from_millis(wait_ms)));
        svc.call(Request::new(Body::empty()))
            .await
            .unwrap()
            .status()
    }

    #[tokio::test(start_paused = true)]
    async fn answers_within_the_limit_and_408_past_it() {
        assert_eq!(status_after(0, 10).await, StatusCode::OK);
        assert_eq!(status_after(5, 10).await, StatusCode::OK);
        assert_eq!(status_after(50, 10).await, StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_arrival_not_from_the_first_wait() {
        let layer = LimitsLayer::new(Duration::from_millis(10), 100);
        let mut svc = layer.layer(Slow(Duration::from_millis(8)));
        let fut = svc.call(Request::new(Body::empty()));
        // The request arrived, then sat 6 ms before its first poll: 6 + 8 > 10.
        tokio::time::advance(Duration::from_millis(6)).await;
        assert_eq!(fut.await.unwrap().status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let layer = LimitsLayer::new(Duration::from_millis(10), 100);
        let mut svc = layer.layer(Slow(Duration::ZERO));
        for (len, want) in [
            ("100", StatusCode::OK),
            ("101", StatusCode::PAYLOAD_TOO_LARGE),
        ] {
            let req = Request::builder()
                .header(header::CONTENT_LENGTH, len)
                .body(Body::empty())
                .unwrap();
            assert_eq!(svc.call(req).await.unwrap().status(), want, "{len}");
        }
    }
}
