//! What the dashboard (`/ui`, `http/ui/`) asks beyond the admin API's methods: a search over
//! who is logged in, a page at a time; the day's logins as a chart; the gauges; a directory
//! file uploaded. Each checks the caller's role against the method table as the admin API's
//! methods do, so the page and the API never disagree about who may do what.

use super::AdminService;
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::clock::Timestamp;
use crate::domain::directory::{self, DirectoryError, ImportReport};
use crate::domain::model::{AdminSession, Event, EventKind, Login};
use crate::domain::store::{Gauges, run_read};

/// The longest search text taken.
const MAX_SEARCH: usize = 100;

/// One page of the logins a search finds, and how many it finds in all.
#[derive(Debug, Clone)]
pub struct LoginPage {
    pub total: u64,
    pub logins: Vec<Login>,
}

/// A read of the live view's events.
#[derive(Debug, Clone)]
pub struct LiveEvents {
    /// The wanted ones, oldest first.
    pub events: Vec<Event>,
    /// The number of the last event read, wanted or not: read on after it.
    pub cursor: i64,
    /// The read was full: there may be more at once.
    pub more: bool,
}

/// How many devices had a login at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedInAt {
    pub at: Timestamp,
    pub count: u64,
}

/// The day the chart shows, and its steps: 24 hours in 96 quarters.
pub const CHART_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
pub const CHART_STEP_MS: i64 = 15 * 60 * 1000;

/// The kinds of event the live view shows: what changes who is logged in where.
pub const LIVE_EVENTS: &[EventKind] = &[
    EventKind::Login,
    EventKind::Logout,
    EventKind::AutoLogout,
    EventKind::LogoutAll,
];

impl AdminService {
    /// The session a cookie names, without moving its inactivity deadline: a live view that
    /// stays open is not activity, or a screen left on would keep a session for ever.
    pub async fn peek_session(&self, cookie: Option<&str>) -> Result<AdminSession, AdminError> {
        let cookie = cookie
            .filter(|c| !c.is_empty())
            .ok_or(AdminError::NoSession)?;
        let hash = super::session::token_hash(cookie);
        let now = self.clock.now();
        let found = run_read(self.store.as_ref(), move |r| r.session(&hash)).await?;
        found
            .filter(|s| s.expires_at > now)
            .ok_or(AdminError::InvalidSession)
    }

    /// The logins whose device or user contains `text` (any case; all with an empty text),
    /// by device, `limit` from `offset` on.
    pub async fn search_logins(
        &self,
        session: &AdminSession,
        text: &str,
        offset: u64,
        limit: u32,
    ) -> Result<LoginPage, AdminError> {
        require(session, Method::ListLogins)?;
        if text.chars().count() > MAX_SEARCH {
            return Err(invalid(format!(
                "a search is at most {MAX_SEARCH} characters"
            )));
        }
        let wanted = text.trim().to_lowercase();
        let now = self.clock.now();
        let logins = run_read(self.store.as_ref(), move |r| r.live_logins(now)).await?;
        let found: Vec<Login> = logins
            .into_iter()
            .filter(|l| {
                wanted.is_empty()
                    || l.device.as_str().to_lowercase().contains(&wanted)
                    || l.user.as_str().to_lowercase().contains(&wanted)
            })
            .collect();
        let total = found.len() as u64;
        let logins = found
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .collect();
        Ok(LoginPage { total, logins })
    }

    /// The gauges the dashboard shows on top.
    pub async fn gauges(&self, session: &AdminSession) -> Result<Gauges, AdminError> {
        require(session, Method::ListLogins)?;
        let now = self.clock.now();
        Ok(run_read(self.store.as_ref(), move |r| r.gauges(now)).await?)
    }

    /// How many were logged in at each quarter hour of the last day, up to now: today's count,
    /// walked back through the logins and logouts of the outbox.
    pub async fn logged_in_over_day(
        &self,
        session: &AdminSession,
    ) -> Result<Vec<LoggedInAt>, AdminError> {
        require(session, Method::LoginHistory)?;
        let now = self.clock.now();
        let from = Timestamp(now.0 - CHART_SPAN_MS);
        let (gauges, activity) = run_read(self.store.as_ref(), move |r| {
            Ok((r.gauges(now)?, r.login_activity(from, CHART_STEP_MS)?))
        })
        .await?;
        Ok(walk_back(now, gauges.logged_in, &activity))
    }

    /// The events of the live view after `after`, oldest first, read `limit` at a time.
    pub async fn live_events(
        &self,
        session: &AdminSession,
        after: i64,
        limit: u32,
    ) -> Result<LiveEvents, AdminError> {
        require(session, Method::LoginHistory)?;
        let events = run_read(self.store.as_ref(), move |r| r.events_after(after, limit)).await?;
        let more = events.len() == limit as usize;
        let cursor = events.last().map_or(after, |e| e.seq);
        let events = events
            .into_iter()
            .filter(|e| LIVE_EVENTS.contains(&e.event.kind))
            .collect();
        Ok(LiveEvents {
            events,
            cursor,
            more,
        })
    }

    /// The number of the newest event of any kind: where a live stream picks up.
    pub async fn newest_event(&self, session: &AdminSession) -> Result<i64, AdminError> {
        require(session, Method::LoginHistory)?;
        Ok(run_read(self.store.as_ref(), |r| r.last_event_seq()).await?)
    }

    /// The newest `n` events of the live view, newest first, and the number of the newest event
    /// of any kind (where a live stream picks up).
    pub async fn recent_events(
        &self,
        session: &AdminSession,
        n: usize,
    ) -> Result<(Vec<Event>, i64), AdminError> {
        require(session, Method::LoginHistory)?;
        // Looked for among the newest few hundred events: older ones are history's business.
        const LOOK_BACK: u32 = 500;
        let (mut events, last) = run_read(self.store.as_ref(), move |r| {
            let last = r.last_event_seq()?;
            Ok((
                r.events_after(last - i64::from(LOOK_BACK), LOOK_BACK)?,
                last,
            ))
        })
        .await?;
        events.retain(|e| LIVE_EVENTS.contains(&e.event.kind));
        events.reverse();
        events.truncate(n);
        Ok((events, last))
    }

    /// Load a directory file sent by a person (the dashboard's upload), through the same
    /// import as `hotdesk import`, acting as the session's admin. All of it, or nothing and
    /// the error with its line.
    pub async fn import_directory(
        &self,
        session: &AdminSession,
        file: &str,
        text: &str,
    ) -> Result<ImportReport, AdminError> {
        // An import is many edits applied at once: what a change set's submit may do.
        require(session, Method::SubmitChangeSet)?;
        let dir = directory::parse(file, text).map_err(|e| invalid(e.to_string()))?;
        let actor = session.username.to_string();
        directory::import(
            &self.store,
            self.clock.as_ref(),
            &self.pin_key,
            file,
            dir,
            &actor,
        )
        .await
        .map_err(|e| match e {
            DirectoryError::Store(e) => AdminError::from(e),
            other => invalid(other.to_string()),
        })
    }
}

/// The count at each step back from `now`, from the count now and the logins that began and
/// ended in each step (`(step from the start of the day, began, ended)`).
fn walk_back(now: Timestamp, count_now: u64, activity: &[(i64, u64, u64)]) -> Vec<LoggedInAt> {
    let from = now.0 - CHART_SPAN_MS;
    let steps = CHART_SPAN_MS / CHART_STEP_MS;
    let mut points = Vec::with_capacity(steps as usize + 1);
    let mut count = count_now as i64;
    points.push(LoggedInAt {
        at: now,
        count: count_now,
    });
    // Step `s` covers [from + s*STEP, from + (s+1)*STEP): before it began, the count was what
    // it is after it, less what began in it, plus what ended.
    for step in (0..steps).rev() {
        if let Some((_, began, ended)) = activity.iter().find(|(s, _, _)| *s == step) {
            count = count - *began as i64 + *ended as i64;
        }
        points.push(LoggedInAt {
            at: Timestamp(from + step * CHART_STEP_MS),
            // Events pruned or a login older than the outbox: never below nobody.
            count: count.max(0) as u64,
        });
    }
    points.reverse();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_walked_back_from_the_count_now() {
        let now = Timestamp(CHART_SPAN_MS * 10);
        let last = CHART_SPAN_MS / CHART_STEP_MS - 1;
        // Two logins in the last quarter, one of them ended in it too; one logout earlier.
        let points = walk_back(now, 3, &[(last - 4, 0, 1), (last, 2, 1)]);
        assert_eq!(points.len(), 97);
        assert_eq!(points[96], LoggedInAt { at: now, count: 3 });
        assert_eq!(points[95].count, 2);
        assert_eq!(points[95].at.0, now.0 - CHART_STEP_MS);
        assert_eq!(points[91].count, 3);
        assert_eq!(points[90].count, 3);
        assert_eq!(points[0].at.0, now.0 - CHART_SPAN_MS);
    }
}
