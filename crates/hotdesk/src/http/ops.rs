//! Operational routes: readiness and the DTDs of what we emit.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::domain::run_read;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/emservice/jsp/{file}", get(dtd))
}

/// Ready: 200 while the database answers, 503 while it does not (a load balancer then sends
/// requests to another node). The router exists only after the store opened and the overdue
/// logins were ended.
async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ready().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database does not answer\n",
            )
        }
    }
}

/// The Prometheus exposition. The gauges are read from the store at each scrape; while it
/// does not answer, 503 (a scrape that fails is a gap in the graphs, not a lie in them).
async fn metrics(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    match run_read(state.store.as_ref(), move |r| r.gauges(now)).await {
        Ok(gauges) => {
            let mut r = state.metrics.render(gauges).await.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            )
                .into_response()
        }
    }
}

async fn dtd(Path(file): Path<String>) -> Response {
    match hotdesk_proto::dtd::by_file_name(&file) {
        Some(text) => {
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml-dtd"),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "no such DTD\n").into_response(),
    }
}
