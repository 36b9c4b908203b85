//! The per-request time limit (→ 408), armed only when a request waits.
//!
//! Almost every request is answered in its first poll: the body is already
//! in the connection's buffer, the work is synchronous, and in the buffered
//! log mode nothing is awaited. A timer per request (what a general
//! timeout layer does) then costs a registration in the runtime's timer
//! wheel, its lock and its removal, for nothing: about 5 % of the server's
//! CPU at tens of thousands of requests a second. [`DeadlineLayer`] polls
//! the handler first and arms a timer only when the handler returns
//! pending (a slow body, a durable log write); the deadline still counts
//! from when the request arrived.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// Answers with `status` when a request is not done within `limit`.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    limit: Duration,
    status: StatusCode,
}

impl DeadlineLayer {
    /// A limit of `limit` per request, answered with `status` when exceeded.
    pub fn new(limit: Duration, status: StatusCode) -> DeadlineLayer {
        DeadlineLayer { limit, status }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            limit: self.limit,
            status: self.status,
        }
    }
}

/// The service [`DeadlineLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
    status: StatusCode,
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        DeadlineFuture {
            inner: self.inner.call(req),
            due: Instant::now() + self.limit,
            status: self.status,
            timer: None,
        }
    }
}

pin_project! {
    /// A request's answer, or `status` once its deadline has passed.
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        due: Instant,
        status: StatusCode,
        // Armed at the first pending poll.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(*this.due)));
        ready!(timer.as_mut().poll(cx));
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = *this.status;
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A service that answers after `wait` (zero: in the first poll).
    #[derive(Clone)]
    struct Slow(Duration);

    impl Service<Request<()>> for Slow {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
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
        let layer =
            DeadlineLayer::new(Duration::from_millis(limit_ms), StatusCode::REQUEST_TIMEOUT);
        let mut svc = layer.layer(Slow(Duration::from_millis(wait_ms)));
        svc.call(Request::new(())).await.unwrap().status()
    }

    #[tokio::test(start_paused = true)]
    async fn answers_within_the_limit_and_408_past_it() {
        assert_eq!(status_after(0, 10).await, StatusCode::OK);
        assert_eq!(status_after(5, 10).await, StatusCode::OK);
        assert_eq!(status_after(50, 10).await, StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_arrival_not_from_the_first_wait() {
        let layer = DeadlineLayer::new(Duration::from_millis(10), StatusCode::REQUEST_TIMEOUT);
        let mut svc = layer.layer(Slow(Duration::from_millis(8)));
        let fut = svc.call(Request::new(()));
        // The request arrived, then sat 6 ms before its first poll: 6 + 8 > 10.
        tokio::time::advance(Duration::from_millis(6)).await;
        assert_eq!(fut.await.unwrap().status(), StatusCode::REQUEST_TIMEOUT);
    }
}
