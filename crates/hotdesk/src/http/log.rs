//! One log line per request, and a request id on every line of it (README "Logs").
//!
//! Each request gets an id (the `X-Request-Id` a load balancer sent, when it is a plain token,
//! or a new one), answered in `X-Request-Id` too, and a span that every line logged while it
//! runs is inside. Handlers record what the request was in EM terms (operation, app or admin,
//! device, user, code) into that span; when the answer goes out, one `request` line gives it
//! all with the status and the time taken.
//!
//! Never logged: a query string (the phone service's carries PINs), a header, a body. A name
//! typed by a person that names nobody is not recorded either (it may be a PIN typed in the
//! wrong field).

use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Response};
use hotdesk_proto::{EmMessage, Operation, Query};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing::field::Empty;

const REQUEST_ID: &str = "x-request-id";

/// The longest request id taken from a client.
const MAX_ID: usize = 64;

/// Wrap `router` so that every request has an id, a span, and one summary line.
pub(super) fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            let peer = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            tracing::info_span!(
                "request",
                id,
                method = %request.method(),
                // The path only: a query string may hold a PIN.
                path = request.uri().path(),
                peer = peer.map(tracing::field::display),
                operation = Empty,
                app = Empty,
                admin = Empty,
                device = Empty,
                user = Empty,
                code = Empty,
                reason = Empty,
            )
        })
        .on_request(())
        .on_response(|response: &Response<_>, latency: Duration, _span: &Span| {
            tracing::info!(
                status = response.status().as_u16(),
                ms = latency.as_secs_f64() * 1000.0,
                "request"
            );
        })
        .on_failure(());
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(SequentialIds))
        .layer(tower::util::MapRequestLayer::new(drop_unsafe_id))
}

/// New request ids: this process's random prefix and a counter, `5f0c9e2a-1b`. Unique among
/// the nodes of a cluster and cheap: a UUID took a `getrandom` system call per request, which
/// showed in profiles of the EM hot path. An id needs to be unique, not unguessable.
#[derive(Clone, Copy)]
struct SequentialIds;

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let prefix = PREFIX.get_or_init(rand::random);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{prefix:08x}-{n:x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// A client's request id is kept only if it is a short token: it is written into every line,
/// and must not be able to forge one.
fn drop_unsafe_id(mut request: Request) -> Request {
    let safe = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_ID
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    };
    if request.headers().get(REQUEST_ID).is_some_and(|v| !safe(v)) {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// What an EM document asks, into the request's span: the app, and the device and user when
/// it names one of each.
pub(super) fn record_em(operation: &'static str, message: &EmMessage) {
    let span = Span::current();
    span.record("operation", operation);
    let (app, device, user) = match message {
        EmMessage::Request { app, op } => match op {
            Operation::Login(l) => (app, Some(&l.device_name), Some(&l.user_id)),
            Operation::Logout(l) => (app, Some(&l.device_name), None),
            Operation::LogoutAll { .. } => (app, None, None),
        },
        EmMessage::Query { app, query, .. } => {
            fn one(names: &[String]) -> Option<&String> {
                match names {
                    [one] => Some(one),
                    _ => None,
                }
            }
            match query {
                Query::DeviceUser { device_names } => (app, one(device_names), None),
                Query::UserDevices { user_ids }
                | Query::DeviceProfile { user_ids }
                | Query::CheckUser { user_ids } => (app, None, one(user_ids)),
            }
        }
    };
    span.record("app", app.app_id.as_str());
    if let Some(d) = device {
        span.record("device", d.as_str());
    }
    if let Some(u) = user {
        span.record("user", u.as_str());
    }
}

/// The answer's code (0: success), into the request's span.
pub(super) fn record_code(code: u32) {
    Span::current().record("code", code);
}

/// What a phone service or admin request was, into the request's span.
pub(crate) fn record(operation: &str, device: Option<&str>, user: Option<&str>) {
    let span = Span::current();
    span.record("operation", operation);
    if let Some(d) = device {
        span.record("device", d);
    }
    if let Some(u) = user {
        span.record("user", u);
    }
}

/// The admin account a request acts as, into the request's span.
pub(super) fn record_admin(username: &str) {
    Span::current().record("admin", username);
}
