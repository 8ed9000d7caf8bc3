//! Operational routes: readiness and the DTDs of what we emit.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/emservice/jsp/{file}", get(dtd))
}

/// 200 once the server serves: the router exists only after the store opened and the overdue
/// logins were ended.
async fn healthz() -> &'static str {
    "ok\n"
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
