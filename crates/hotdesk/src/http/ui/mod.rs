//! `/ui`: the dashboard (README "The dashboard"), for the admin API's accounts, with the same
//! `asCookie` session and the same roles.
//!
//! Pages are rendered on the server (minijinja templates in `templates/`, compiled into the
//! binary) and work without JavaScript; `assets/app.js` adds the live part: it follows
//! `/ui/events`, a server-sent event stream read from the outbox, shows each event as it
//! commits and refreshes the table of logins. A stream that drops reconnects with the last
//! event id it saw (`Last-Event-ID`) and gets exactly what it missed.
//!
//! Every action is a form POST that a cross-site page cannot make with the session: the cookie
//! is `SameSite=Strict`. Each action is decided by the domain with the caller's role, as the
//! same method of the admin API would be; the page only leaves out the buttons a role may not
//! press.

mod assets;
mod pages;
mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::AppState;

/// The largest directory file the dashboard takes (`hotdesk import` takes any).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::dashboard))
        .route("/ui/", get(pages::dashboard))
        .route("/ui/logins", get(pages::logins_fragment))
        .route("/ui/chart", get(pages::chart_fragment))
        .route("/ui/login", get(pages::sign_in_form).post(pages::sign_in))
        .route("/ui/logout", post(pages::sign_out))
        .route("/ui/force-logout", post(pages::force_logout))
        .route("/ui/history", get(pages::history))
        .route(
            "/ui/import",
            post(pages::import).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/ui/events", get(stream::events))
        .route("/ui/assets/{file}", get(assets::asset))
        .layer(axum::middleware::map_response(locked_down))
        .layer(axum::middleware::from_fn(same_origin_posts))
}

/// A form may be posted from this server's own pages only. `SameSite=Strict` keeps the cookie
/// from another site's posts, but not from a sibling subdomain's, and the sign-in form needs no
/// cookie at all: what the browser says of where a POST comes from must be this origin.
async fn same_origin_posts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::response::IntoResponse;
    if request.method() == axum::http::Method::POST && !from_here(request.headers()) {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "a form of another site cannot act here\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// `Sec-Fetch-Site` if the browser sends it, else `Origin` against `Host`; a client that sends
/// neither (curl, an old browser) is not a browser on another site's page.
fn from_here(headers: &axum::http::HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// What a page may load and who may frame it: only this server, and nobody (a page with a
/// forced-logout button must not be clickjacked inside another site's frame).
async fn locked_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
