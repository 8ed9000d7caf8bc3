//! `/nbi/*`: the admin API's session layer (CSM's northbound API). Handlers translate only:
//! the rules live in `domain::admin`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hotdesk_proto::nbi::{self, Element, NbiCode, NbiError};

use crate::http::AppState;

/// The version of the admin API this build serves, as `loginResponse` reports it.
pub const SERVICE_VERSION: &str = "1.0";

pub(super) fn routes() -> Router<AppState> {
    // CSM documents PUT for some of these and clients send POST: accept both.
    Router::new()
        .route("/nbi/login", post(login).put(login))
        .route("/nbi/ping", post(ping).put(ping))
        .route("/nbi/logout", post(logout).put(logout))
}

pub(super) fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

/// No session, or a dead one: HTTP 401 with a bare `baseError`, as CSM answers. When the
/// session could not be checked at all (the database is down), 503 with code 1: the client
/// should retry, not log in again.
pub(super) fn unauthorized(e: impl Into<NbiError>) -> Response {
    let e: NbiError = e.into();
    let status = if e.code == NbiCode::GeneralFailure {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::UNAUTHORIZED
    };
    xml(status, nbi::render_base_error(&e))
}

/// The `Set-Cookie` of a new session (the admin API's and the dashboard's): script cannot read
/// it, another site cannot send it, and over TLS it never travels in clear. An empty value with
/// `Max-Age=0` ends it in the browser.
pub(in crate::http) fn session_cookie(value: &str, tls: bool) -> Option<HeaderValue> {
    let mut cookie = cookie::Cookie::build(("asCookie", value.to_string()))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .secure(tls);
    if value.is_empty() {
        cookie = cookie.max_age(cookie::time::Duration::ZERO);
    }
    HeaderValue::from_str(&cookie.build().to_string()).ok()
}

/// The `asCookie` value among the request's cookies.
pub(in crate::http) fn as_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == "asCookie")
        .map(|c| c.value().to_string())
}

/// A request body, parsed, with its `reqId` for the answer to echo.
pub(super) struct Document {
    pub root: Element,
    pub req_id: Option<String>,
}

/// Why a body was refused, with its `reqId` when one could be read.
pub(super) struct Refused {
    pub error: NbiError,
    pub req_id: Option<String>,
}

/// Parse a request body and check its `BaseReqResp` fields. `Ok(None)` for an empty body
/// where one is optional (ping, logout).
pub(super) fn document(body: &[u8], required: bool) -> Result<Option<Document>, Refused> {
    let refused = |error, req_id| Refused { error, req_id };
    let text = std::str::from_utf8(body).map_err(|_| {
        refused(
            NbiError::with_detail(NbiCode::InvalidXml, "the body is not valid UTF-8"),
            None,
        )
    })?;
    if !required && text.trim().is_empty() {
        return Ok(None);
    }
    let root = nbi::parse_request(text).map_err(|e| refused(e, None))?;
    let req_id = root.text_of("reqId").map(str::to_string);
    nbi::base(&root).map_err(|e| refused(e, req_id.clone()))?;
    Ok(Some(Document { root, req_id }))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failed = |status, e: &NbiError, req_id: Option<&str>| {
        xml(
            status,
            nbi::render_response("loginResponse", req_id, None, &[], Some(e)),
        )
    };
    let Document { root, req_id } = match document(&body, true) {
        Ok(Some(doc)) => doc,
        Ok(None) => return failed(StatusCode::OK, &NbiError::new(NbiCode::EmptyPayload), None),
        Err(r) => return failed(StatusCode::OK, &r.error, r.req_id.as_deref()),
    };
    let request = match nbi::login_request(&root) {
        Ok(r) => r,
        Err(e) => return failed(StatusCode::OK, &e, req_id.as_deref()),
    };
    let client = crate::http::client_ip(&state.proxies, peer, &headers);
    match state.admin.login(request, Some(client)).await {
        Ok(new) => {
            let minutes = state.admin.settings().session_timeout.as_secs() / 60;
            let body = [
                Element::with_text("serviceVersion", SERVICE_VERSION),
                Element::with_text("sessionTimeoutInMins", minutes.to_string()),
            ];
            let mut response = xml(
                StatusCode::OK,
                nbi::render_response("loginResponse", req_id.as_deref(), None, &body, None),
            );
            if let Some(value) = session_cookie(&new.cookie, state.tls) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => {
            let e = NbiError::from(e);
            let status = match e.code {
                NbiCode::BadCredentials | NbiCode::TooManyAttempts => StatusCode::UNAUTHORIZED,
                _ => StatusCode::OK,
            };
            failed(status, &e, req_id.as_deref())
        }
    }
}

async fn ping(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    session_call(&state, &headers, &body, "pingResponse", false).await
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    session_call(&state, &headers, &body, "logoutResponse", true).await
}

/// Ping and logout: the session first (401 without one), then the body, then the effect.
async fn session_call(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    name: &str,
    end: bool,
) -> Response {
    let cookie = as_cookie(headers);
    if let Err(e) = state.admin.session(cookie.as_deref()).await {
        return unauthorized(e);
    }
    let req_id = match document(body, false) {
        Ok(doc) => doc.and_then(|d| d.req_id),
        Err(Refused { error: e, req_id }) => {
            return xml(
                StatusCode::OK,
                nbi::render_response(name, req_id.as_deref(), None, &[], Some(&e)),
            );
        }
    };
    if end && let Err(e) = state.admin.logout(cookie.as_deref()).await {
        return unauthorized(e);
    }
    xml(
        StatusCode::OK,
        nbi::render_response(name, req_id.as_deref(), None, &[], None),
    )
}
