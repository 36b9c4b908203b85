//! The serving benchmark's ceiling: a minimal axum server on the same
//! runtime and allocator set-up as `fathom serve`, that parses the request
//! body as JSON and answers a constant. No model, no contract, no log, no
//! metrics: what HTTP + JSON alone cost on this machine. `/v1/predict/batch`
//! does the same with a whole batch body (`{"records": [...]}`), so the
//! batch figure has a ceiling too.
//!
//! ```sh
//! cargo run --release -p fathom-serve --example ceiling -- 127.0.0.1:8090
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

async fn predict(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            &br#"{"score":0.5,"decision":false}"#[..],
        ),
        _ => (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/json")],
            &br#"{"error":"not a JSON object"}"#[..],
        ),
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new()
                .route("/v1/predict", post(predict))
                .route("/v1/predict/batch", post(predict));
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            eprintln!("ceiling listening on http://{addr}");
            axum::serve(listener, app).await
        })
}
