//! The admin API's calls to its clients: heartbeats, and the event service's deliveries.
//!
//! One task wakes every [`POLL`] (and at once when a shared database announces new events),
//! looks at the live sessions that gave a `callbackUrl`, and
//! for each, concurrently:
//! - sends a heartbeat every `timeout / 2` of the clock; a successful one moves the session's
//!   inactivity deadline, a failed one is retried at the next interval (CSM's rule);
//! - when the session subscribed, posts each outbox event after its cursor, in order, one at a
//!   time, moving the cursor in the store after each success. A failure stops the run and
//!   retries later with exponential backoff. Delivery is at least once: a crash between a post
//!   and the cursor's move sends that event again.
//!
//! When several nodes share a database, one at a time delivers a session's events: each run
//! takes or renews a lease on the session ([`DELIVERY_LEASE`]) before it posts, so the events
//! stay in order and are not sent once per node.
//!
//! The heartbeat carries the session's cookie so the client can check who calls. Only the node
//! that opened a session knows that cookie (the store holds its hash), so that node alone sends
//! its heartbeats; after a restart, a heartbeat session lives on until its timeout unless the
//! client calls or pings. The cursors are in the store, so event delivery resumes anywhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::AdminService;
use crate::domain::clock::Timestamp;
use crate::domain::model::{AdminSession, Event, EventKind};
use crate::domain::store::run_read;
use crate::domain::{StoreResult, run_tx};

/// How often the notifier looks for work (real time). Events reach a subscriber this late at
/// most, plus the time of the posts before them.
pub const POLL: Duration = Duration::from_millis(200);

/// The shortest time between two runs, so a busy outbox does not turn wake-ups into a loop.
const MIN_GAP: Duration = Duration::from_millis(20);

/// Events read per session per run.
const BATCH: u32 = 100;

/// How long a node keeps the right to deliver a session's events without renewing it (it
/// renews at every run): when a node dies, another takes over after this.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(30);

/// The longest wait between two delivery attempts to a failing receiver.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The outgoing side: the HTTP layer posts these with an HTTPS client.
#[async_trait::async_trait]
pub trait Callbacks: Send + Sync + 'static {
    /// POST `<heartbeatCallbackRequest>` with `Cookie: asCookie=<cookie>`.
    async fn heartbeat(&self, url: &str, cookie: &str, req_id: u64) -> Result<(), String>;
    /// POST one event.
    async fn event(&self, url: &str, event: &Event) -> Result<(), String>;
}

/// What the notifier remembers of a session between runs.
#[derive(Debug, Clone, Copy)]
struct Progress {
    last_heartbeat: Timestamp,
    heartbeats: u64,
    /// Consecutive failed deliveries, and when to try again.
    failures: u32,
    retry_at: Timestamp,
}

/// The wait after `failures` failed deliveries in a row: 1 s, 2 s, 4 s ... up to [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// Which events a subscriber receives: what happened to logins and to the configuration,
/// not the admin sessions' own comings and goings.
fn delivered(kind: EventKind) -> bool {
    kind != EventKind::AdminSession
}

/// Run until `stop` is notified.
pub async fn run(admin: Arc<AdminService>, callbacks: Arc<dyn Callbacks>, stop: Arc<Notify>) {
    let mut sessions = Sessions::default();
    // A shared database announces new events: post them now rather than at the next poll.
    let events = admin.store.event_changes();
    loop {
        if let Err(e) = run_once(&admin, &callbacks, &mut sessions).await {
            tracing::warn!(error = %e, "notifier: store unavailable; will retry");
        }
        // However busy the outbox, look at most every MIN_GAP.
        tokio::time::sleep(MIN_GAP).await;
        let appended = async {
            match &events {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.notified() => break,
            _ = tokio::time::sleep(POLL) => {}
            _ = appended => {}
        }
    }
    // Posts in flight are abandoned: their cursors did not move, so nothing is lost.
    for (_, task) in sessions.running.drain() {
        task.abort();
    }
}

/// Each session's state between runs, and the work in flight for it.
#[derive(Default)]
struct Sessions {
    progress: HashMap<String, Progress>,
    /// One task per session at most. A slow receiver holds only its own session back: the
    /// others are served at every run, their heartbeats on time.
    running: HashMap<String, tokio::task::JoinHandle<Progress>>,
}

async fn run_once(
    admin: &Arc<AdminService>,
    callbacks: &Arc<dyn Callbacks>,
    sessions: &mut Sessions,
) -> StoreResult<()> {
    // Collect what finished since the last run.
    let finished: Vec<String> = sessions
        .running
        .iter()
        .filter(|(_, task)| task.is_finished())
        .map(|(hash, _)| hash.clone())
        .collect();
    for hash in finished {
        if let Some(task) = sessions.running.remove(&hash)
            && let Ok(state) = task.await
        {
            sessions.progress.insert(hash, state);
        }
    }

    let now = admin.clock.now();
    let read_at = std::time::Instant::now();
    let live = run_read(admin.store.as_ref(), move |r| r.live_sessions(now)).await?;
    let live: Vec<AdminSession> = live
        .into_iter()
        .filter(|s| s.callback_url.is_some())
        .collect();
    sessions
        .progress
        .retain(|hash, _| live.iter().any(|s| &s.token_hash == hash));
    admin.forget_cookies_except(&live, read_at);

    for session in live {
        if sessions.running.contains_key(&session.token_hash) {
            continue;
        }
        let state = *sessions
            .progress
            .entry(session.token_hash.clone())
            .or_insert(Progress {
                last_heartbeat: session.created_at,
                heartbeats: 0,
                failures: 0,
                retry_at: Timestamp(i64::MIN),
            });
        let admin = admin.clone();
        let callbacks = callbacks.clone();
        let hash = session.token_hash.clone();
        let task = tokio::spawn(async move {
            serve_session(&admin, callbacks.as_ref(), &session, state, now).await
        });
        sessions.running.insert(hash, task);
    }
    Ok(())
}

async fn serve_session(
    admin: &AdminService,
    callbacks: &dyn Callbacks,
    session: &AdminSession,
    mut state: Progress,
    now: Timestamp,
) -> Progress {
    let Some(url) = session.callback_url.as_deref() else {
        return state;
    };
    let interval = admin.settings.session_timeout / 2;
    if let Some(cookie) = admin.heartbeat_cookie(&session.token_hash)
        && state.last_heartbeat.plus(interval) <= now
    {
        state.last_heartbeat = now;
        state.heartbeats += 1;
        match callbacks.heartbeat(url, &cookie, state.heartbeats).await {
            Ok(()) => {
                if let Err(e) = admin.extend(&session.token_hash).await {
                    tracing::warn!(error = %e, "heartbeat: cannot extend the session");
                }
            }
            Err(e) => {
                tracing::warn!(username = %session.username, %url, error = %e, "heartbeat failed")
            }
        }
    }
    if let Some(after) = session.events_after
        && state.retry_at <= now
        && claim(admin, session, now).await
    {
        match deliver(admin, callbacks, session, url, after).await {
            Ok(()) => state.failures = 0,
            Err(e) => {
                state.failures += 1;
                state.retry_at = now.plus(backoff(state.failures));
                tracing::warn!(
                    username = %session.username, %url, error = %e,
                    failures = state.failures, "event delivery failed; will retry"
                );
            }
        }
    }
    state
}

/// Take or renew this node's lease on delivering the session's events; `false` while another
/// node holds it (or the store cannot say).
async fn claim(admin: &AdminService, session: &AdminSession, now: Timestamp) -> bool {
    let hash = session.token_hash.clone();
    let node = admin.node.clone();
    let until = now.plus(DELIVERY_LEASE);
    let claimed = run_tx(admin.store.as_ref(), move |tx| {
        Ok(Ok::<bool, ()>(tx.claim_delivery(&hash, &node, now, until)?))
    })
    .await;
    match claimed {
        Ok(Ok(granted)) => granted,
        _ => false,
    }
}

/// Post the events after `after` in order; the cursor moves past each one delivered.
async fn deliver(
    admin: &AdminService,
    callbacks: &dyn Callbacks,
    session: &AdminSession,
    url: &str,
    after: i64,
) -> Result<(), String> {
    let events = run_read(admin.store.as_ref(), move |r| r.events_after(after, BATCH))
        .await
        .map_err(|e| e.to_string())?;
    let mut cursor = after;
    for event in &events {
        if delivered(event.event.kind) {
            callbacks.event(url, event).await?;
        }
        // After each success, so that a crash sends at most this one event again; the same
        // statement renews the lease, and finds out if another node has taken it.
        let (hash, node, from, to) = (
            session.token_hash.clone(),
            admin.node.clone(),
            cursor,
            event.seq,
        );
        let until = admin.clock.now().plus(DELIVERY_LEASE);
        let still_ours = run_tx(admin.store.as_ref(), move |tx| {
            Ok(Ok::<bool, ()>(
                tx.advance_delivery(&hash, &node, from, to, until)?,
            ))
        })
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(false);
        if !still_ours {
            return Ok(()); // unsubscribed, or another node delivers now
        }
        cursor = event.seq;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
