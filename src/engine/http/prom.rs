//! `GET /metrics`: the Prometheus text exposition (see [`crate::engine::exporter`]). Open by
//! default; behind the API's auth with `api.metrics_auth: true`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::HttpState;

pub async fn metrics(State(s): State<HttpState>) -> Response {
    match &s.metrics {
        Some(h) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::engine::exporter::render(h),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response(),
    }
}
