//! `GET /ui/events`: the outbox's login events as server-sent events, for the dashboard.
//!
//! Each event goes out with its sequence number as the SSE `id`, so a browser that reconnects
//! sends `Last-Event-ID` and the stream resumes right after it: everything is read from the
//! store after the number last sent, never from memory, so nothing is skipped and nothing is
//! sent twice. A first connection starts after `?after=N` (the page's newest event when it was
//! rendered), or at the newest event.
//!
//! The stream does not count as activity for the session (a screen left on would keep it
//! open for ever): it ends with a `signedOut` event once the session has expired or been
//! closed. It ends, and the browser reconnects elsewhere or later, when the server stops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::super::AppState;
use super::super::admin::as_cookie;
use super::pages::EventRow;
use crate::domain::admin::AdminError;
use crate::domain::model::AdminSession;

/// Events read from the store at a time.
const BATCH: u32 = 200;

/// How often a quiet stream checks that its session is still open.
const RECHECK: Duration = Duration::from_secs(30);

pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let cookie = as_cookie(&headers);
    let session = match state.admin.peek_session(cookie.as_deref()).await {
        Ok(s) => s,
        Err(AdminError::NoSession | AdminError::InvalidSession) => {
            return (StatusCode::UNAUTHORIZED, "sign in again\n").into_response();
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    super::super::log::record_admin(session.username.as_str());
    // The id the browser saw last, else the page's own starting point; a value that is not
    // an event number counts as not given.
    let number = |v: Option<&str>| {
        v.and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|&n| n >= 0)
    };
    let resume = number(headers.get("last-event-id").and_then(|v| v.to_str().ok()))
        .or_else(|| number(query.get("after").map(String::as_str)));
    let newest = match state.admin.newest_event(&session).await {
        Ok(newest) => newest,
        Err(AdminError::PermissionDenied(_)) => {
            return (StatusCode::FORBIDDEN, "not allowed\n").into_response();
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    // Past the newest event (a database restored from an older copy): from the newest on,
    // rather than silence until the numbers catch up.
    let after = resume.map_or(newest, |n| n.min(newest));
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(follow(state, session, cookie, after, tx));
    axum::response::Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Send what follows `cursor`, then wait for the feed to say there is more; until the browser
/// goes, the session ends or the server stops.
async fn follow(
    state: AppState,
    session: AdminSession,
    cookie: Option<String>,
    mut cursor: i64,
    tx: mpsc::Sender<Result<Sse, Infallible>>,
) {
    let mut changes = state.feed.subscribe();
    let mut closing = state.closing.clone();
    loop {
        match state.admin.peek_session(cookie.as_deref()).await {
            Ok(_) => {}
            Err(AdminError::NoSession | AdminError::InvalidSession) => {
                let _ = tx
                    .send(Ok(Sse::default().event("signedOut").data("")))
                    .await;
                return;
            }
            // The database is away: try again at the next wake-up.
            Err(_) => {}
        }
        let mut more = false;
        if let Ok(read) = state.admin.live_events(&session, cursor, BATCH).await {
            for event in &read.events {
                let data = serde_json::to_string(&EventRow::from(event)).unwrap_or_default();
                let sse = Sse::default().id(event.seq.to_string()).data(data);
                // A browser that stops reading (a laptop put to sleep) must not hold up the
                // server's shutdown.
                tokio::select! {
                    sent = tx.send(Ok(sse)) => if sent.is_err() { return },
                    _ = closing.changed() => return,
                }
            }
            cursor = read.cursor;
            more = read.more;
        }
        if more {
            continue;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = closing.changed() => return,
            _ = tx.closed() => return,
            _ = tokio::time::sleep(RECHECK) => {}
        }
        if *closing.borrow() {
            return;
        }
    }
}
