//! The dashboard's pages and forms. Handlers translate: the cookie to a session, the query or
//! form to the arguments of an `AdminService` call, its answer to a template.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, body::Bytes};
use hotdesk_proto::nbi::LoginRequest;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::super::AppState;
use super::super::admin::{as_cookie, session_cookie};
use crate::domain::Timestamp;
use crate::domain::admin::AdminError;
use crate::domain::admin::config::{HistoryRange, LoginFilter};
use crate::domain::admin::dashboard::LoggedInAt;
use crate::domain::admin::method::{Method, require};
use crate::domain::model::{AdminSession, Event, Login};

/// Logins in one page of the table.
pub const PAGE_SIZE: u32 = 50;

/// Events in one page of a history.
const HISTORY_PAGE: u32 = 200;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("sign_in.html", include_str!("templates/sign_in.html")),
            ("dashboard.html", include_str!("templates/dashboard.html")),
            ("logins.html", include_str!("templates/logins.html")),
            ("chart.html", include_str!("templates/chart.html")),
            ("history.html", include_str!("templates/history.html")),
            ("message.html", include_str!("templates/message.html")),
        ] {
            // The templates are part of the binary: one that does not parse fails every test.
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "a dashboard page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render\n",
            )
                .into_response()
        }
    }
}

/// A page that says one thing (refused, failed, done) with a way back.
fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(
        status,
        "message.html",
        context! { title, text, back => "/ui" },
    )
}

/// What a failed call means for a person.
fn refused(e: AdminError) -> Response {
    match e {
        AdminError::NoSession | AdminError::InvalidSession => {
            Redirect::to("/ui/login").into_response()
        }
        AdminError::PermissionDenied(role) => message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!("The role {} may not do this.", role.as_str()),
        ),
        AdminError::Store(_) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The database does not answer; try again in a moment.",
        ),
        other => message(StatusCode::BAD_REQUEST, "Refused", &other.to_string()),
    }
}

/// The caller's session; each page is activity, and moves its inactivity deadline.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<AdminSession, Response> {
    state
        .admin
        .session(as_cookie(headers).as_deref())
        .await
        .inspect(|s| super::super::log::record_admin(s.username.as_str()))
        .map_err(refused)
}

/// An instant as people read it, in UTC.
pub(super) fn when(t: Timestamp) -> String {
    const LAST: i64 = 253_402_300_799_000; // 9999-12-31T23:59:59Z
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(t.0.clamp(0, LAST)).unwrap_or(0));
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

#[derive(Serialize)]
struct Row {
    device: String,
    user: String,
    profile: String,
    app: String,
    since: String,
    until: String,
}

impl From<&Login> for Row {
    fn from(l: &Login) -> Self {
        Row {
            device: l.device.to_string(),
            user: l.user.to_string(),
            profile: l.profile.to_string(),
            app: l.app.to_string(),
            since: when(l.logged_in_at),
            until: l.deadline.map_or_else(|| "—".to_string(), when),
        }
    }
}

#[derive(Serialize)]
pub(super) struct EventRow {
    pub seq: i64,
    pub at: String,
    pub kind: &'static str,
    pub actor: Option<String>,
    pub device: Option<String>,
    pub user: Option<String>,
    pub profile: Option<String>,
    pub detail: Option<String>,
}

impl From<&Event> for EventRow {
    fn from(e: &Event) -> Self {
        let ev = &e.event;
        EventRow {
            seq: e.seq,
            at: when(ev.at),
            kind: ev.kind.as_str(),
            actor: ev.actor.clone(),
            device: ev.device.clone(),
            user: ev.user.clone(),
            profile: ev.profile.clone(),
            detail: ev.detail.clone(),
        }
    }
}

/// The table's search and page, as the query gives them.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct TableQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
}

impl TableQuery {
    /// The page asked for, from 1; anything else is the first.
    fn page(&self) -> u32 {
        self.page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .filter(|&p| p >= 1)
            .unwrap_or(1)
    }
}

/// The live part of the dashboard: the gauges and one page of the table.
async fn live_context(
    state: &AppState,
    session: &AdminSession,
    query: &TableQuery,
) -> Result<Value, AdminError> {
    let page = query.page();
    let offset = u64::from(page - 1) * u64::from(PAGE_SIZE);
    let found = state
        .admin
        .search_logins(session, &query.q, offset, PAGE_SIZE)
        .await?;
    let gauges = state.admin.gauges(session).await?;
    let pages = found.total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let rows: Vec<Row> = found.logins.iter().map(Row::from).collect();
    Ok(context! {
        q => query.q.clone(),
        page,
        pages,
        total => found.total,
        rows => Value::from(minijinja::value::Serde(&rows)),
        gauges => context! {
            logged_in => gauges.logged_in,
            pending_deadlines => gauges.pending_deadlines,
            admin_sessions => gauges.admin_sessions,
            event_backlog => gauges.event_backlog,
        },
        can_force => require(session, Method::ForceLogout).is_ok(),
    })
}

/// The chart of the day: an SVG polyline over 96 quarter hours, scaled to its highest count.
fn chart_context(points: &[LoggedInAt]) -> Value {
    const WIDTH: f64 = 960.0;
    const HEIGHT: f64 = 160.0;
    let max = points.iter().map(|p| p.count).max().unwrap_or(0).max(1);
    let last = points.len().saturating_sub(1).max(1) as f64;
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = i as f64 / last * WIDTH;
            let y = HEIGHT - p.count as f64 / max as f64 * HEIGHT;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    context! {
        width => WIDTH,
        height => HEIGHT,
        line => coords.join(" "),
        max,
        now => points.last().map_or(0, |p| p.count),
        from => points.first().map(|p| when(p.at)).unwrap_or_default(),
        to => points.last().map(|p| when(p.at)).unwrap_or_default(),
    }
}

pub(super) async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TableQuery>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Where the live stream picks up is read first: an event that commits while the table is
    // read is then in the stream, if not in the table.
    let (recent, after) = match state.admin.recent_events(&session, 20).await {
        Ok(found) => found,
        Err(e) => return refused(e),
    };
    let (live, chart) = match tokio::join!(
        live_context(&state, &session, &query),
        state.admin.logged_in_over_day(&session),
    ) {
        (Ok(live), Ok(chart)) => (live, chart),
        (Err(e), _) | (_, Err(e)) => return refused(e),
    };
    let feed: Vec<EventRow> = recent.iter().map(EventRow::from).collect();
    render(
        StatusCode::OK,
        "dashboard.html",
        context! {
            me => context! { username => session.username.as_str(), role => session.role.as_str() },
            live,
            chart => chart_context(&chart),
            feed => Value::from(minijinja::value::Serde(&feed)),
            after,
            can_import => require(&session, Method::SubmitChangeSet).is_ok(),
            can_history => require(&session, Method::LoginHistory).is_ok(),
        },
    )
}

/// The live part alone, for the page's script to swap in when events arrive. 401 without a
/// session: the script then goes to the sign-in page.
pub(super) async fn logins_fragment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TableQuery>,
) -> Response {
    // Fetched by the page's script after events, not by the person: not activity, or a
    // screen left open would keep its session for ever.
    let session = match state
        .admin
        .peek_session(as_cookie(&headers).as_deref())
        .await
    {
        Ok(s) => s,
        Err(AdminError::NoSession | AdminError::InvalidSession) => {
            return (StatusCode::UNAUTHORIZED, "sign in again\n").into_response();
        }
        Err(e) => return refused(e),
    };
    match live_context(&state, &session, &query).await {
        Ok(live) => render(StatusCode::OK, "logins.html", context! { live }),
        Err(e) => refused(e),
    }
}

pub(super) async fn chart_fragment(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match state
        .admin
        .peek_session(as_cookie(&headers).as_deref())
        .await
    {
        Ok(s) => s,
        Err(_) => return (StatusCode::UNAUTHORIZED, "sign in again\n").into_response(),
    };
    match state.admin.logged_in_over_day(&session).await {
        Ok(points) => render(
            StatusCode::OK,
            "chart.html",
            context! { chart => chart_context(&points) },
        ),
        Err(e) => refused(e),
    }
}

pub(super) async fn sign_in_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Already signed in: straight to the dashboard.
    if state
        .admin
        .peek_session(as_cookie(&headers).as_deref())
        .await
        .is_ok()
    {
        return Redirect::to("/ui").into_response();
    }
    render(StatusCode::OK, "sign_in.html", context! {})
}

#[derive(serde::Deserialize)]
pub(super) struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let client = super::super::client_ip(&state.proxies, peer, &headers);
    super::super::log::record("signIn", None, None);
    let request = LoginRequest {
        username: form.username.clone(),
        password: form.password,
        heartbeat_requested: false,
        callback_url: None,
    };
    match state.admin.login(request, Some(client)).await {
        Ok(new) => {
            super::super::log::record_admin(new.session.username.as_str());
            let mut response = Redirect::to("/ui").into_response();
            if let Some(cookie) = session_cookie(&new.cookie, state.tls) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            let (status, text) = match e {
                AdminError::BadCredentials => (StatusCode::UNAUTHORIZED, e.to_string()),
                AdminError::TooManyAttempts => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed sign-ins: wait a minute.".to_string(),
                ),
                AdminError::SessionLimit => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Every session slot is taken: try again later.".to_string(),
                ),
                AdminError::Store(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database does not answer; try again in a moment.".to_string(),
                ),
                other => (StatusCode::BAD_REQUEST, other.to_string()),
            };
            render(
                status,
                "sign_in.html",
                context! { error => text, username => form.username },
            )
        }
    }
}

pub(super) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Whether or not the session was still open, the browser forgets it.
    let _ = state.admin.logout(as_cookie(&headers).as_deref()).await;
    let mut response = Redirect::to("/ui/login").into_response();
    if let Some(cookie) = session_cookie("", state.tls) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize)]
pub(super) struct ForceLogout {
    #[serde(default)]
    device: String,
    /// The table's query to go back to.
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

pub(super) async fn force_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ForceLogout>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    super::super::log::record("forceLogout", Some(&form.device), None);
    if form.device.trim().is_empty() {
        return message(StatusCode::BAD_REQUEST, "Refused", "Name a device.");
    }
    match state
        .admin
        .force_logout(&session, LoginFilter::Device(form.device.clone()))
        .await
    {
        Ok(_) => {
            let back: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &form.q)
                .append_pair("page", &form.page)
                .finish();
            Redirect::to(&format!("/ui?{back}")).into_response()
        }
        Err(e) => refused(e),
    }
}

/// `?device=D` or `?user=U`, `from` and `to` as a browser's date-time fields send them (UTC),
/// `after` the cursor of the page before.
pub(super) async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let get = |k: &str| {
        query
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (device, user) = (get("device"), get("user"));
    let filter = match (&device, &user) {
        (Some(d), _) => LoginFilter::Device(d.clone()),
        (None, Some(u)) => LoginFilter::User(u.clone()),
        (None, None) => LoginFilter::All,
    };
    // A time that is given must read as one: the name of the first that does not.
    let time = |k: &'static str| -> Result<Option<Timestamp>, &'static str> {
        get(k).map(|v| parse_local(&v).ok_or(k)).transpose()
    };
    let (from, to) = match (time("from"), time("to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(k), _) | (_, Err(k)) => {
            let text = format!(
                "{k} is not a date and time: {:?}",
                get(k).unwrap_or_default()
            );
            return message(StatusCode::BAD_REQUEST, "Refused", &text);
        }
    };
    let after = get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let range = HistoryRange { after, from, to };
    let found = match state
        .admin
        .login_history(&session, filter, range, HISTORY_PAGE)
        .await
    {
        Ok(h) => h,
        Err(e) => return refused(e),
    };
    let rows: Vec<EventRow> = found.events.iter().map(EventRow::from).collect();
    // More to read: the call stopped at the page's size or at the most it reads at once.
    let more = found.more;
    let mut next = form_urlencoded::Serializer::new(String::new());
    for k in ["device", "user", "from", "to"] {
        if let Some(v) = get(k) {
            next.append_pair(k, &v);
        }
    }
    next.append_pair("after", &found.cursor.to_string());
    render(
        StatusCode::OK,
        "history.html",
        context! {
            me => context! { username => session.username.as_str(), role => session.role.as_str() },
            device, user,
            from => get("from"), to => get("to"),
            rows => Value::from(minijinja::value::Serde(&rows)),
            next => more.then(|| format!("/ui/history?{}", next.finish())),
        },
    )
}

/// `2026-01-05T08:00` (what `<input type="datetime-local">` sends), with seconds or not, or a
/// full RFC 3339 time; read as UTC.
fn parse_local(text: &str) -> Option<Timestamp> {
    let text = text.trim().trim_end_matches('Z');
    let full = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => format!("{text}Z"),
    };
    let at = humantime::parse_rfc3339(&full).ok()?;
    let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok().map(Timestamp)
}

/// A directory file from the upload form (field `directory`).
pub(super) async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    super::super::log::record("import", None, None);
    // The role first: a caller that may not import learns nothing from the file's checks.
    if let Err(e) = require(&session, Method::SubmitChangeSet) {
        return refused(e);
    }
    let mut file: Option<(String, Bytes)> = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("directory") => {
                let name = field.file_name().unwrap_or("upload.toml").to_string();
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes)),
                    Err(e) => return upload_failed(&e.to_string()),
                }
            }
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => return upload_failed(&e.to_string()),
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Refused",
            "Choose a directory file.",
        );
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Refused",
            "The file is not UTF-8 text.",
        );
    };
    // The name is shown and used in messages only; keep its last part.
    let name = name.rsplit(['/', '\\']).next().unwrap_or("upload.toml");
    match state.admin.import_directory(&session, name, text).await {
        Ok(report) => message(StatusCode::OK, "Imported", &format!("{name}: {report}")),
        Err(AdminError::Invalid(why)) => message(StatusCode::BAD_REQUEST, "Not imported", &why),
        Err(e) => refused(e),
    }
}

fn upload_failed(why: &str) -> Response {
    let mut r = message(
        StatusCode::BAD_REQUEST,
        "Refused",
        &format!("The upload failed: {why}"),
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_date_and_time_is_read_as_utc() {
        assert_eq!(
            parse_local("2026-01-05T08:00"),
            Some(Timestamp(1_767_600_000_000))
        );
        assert_eq!(
            parse_local("2026-01-05T08:00:30"),
            Some(Timestamp(1_767_600_030_000))
        );
        assert_eq!(
            parse_local("2026-01-05T08:00:00Z"),
            Some(Timestamp(1_767_600_000_000))
        );
        assert_eq!(parse_local("yesterday"), None);
        assert_eq!(
            when(Timestamp(1_767_600_000_000)),
            "2026-01-05 08:00:00 UTC"
        );
    }
}
