//! The event service's subscriptions: one per session, delivered to the session's
//! `callbackUrl` by [`super::notify`], ended with the session.

use super::AdminService;
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::model::AdminSession;
use crate::domain::run_tx;

impl AdminService {
    /// Subscribe the session to the outbox, starting after event `after` (default: the newest
    /// event now, so only what happens from here on). Code 11 without a callback URL, 4001 if
    /// the session is subscribed already. Returns the starting cursor.
    pub async fn subscribe(
        &self,
        session: &AdminSession,
        after: Option<i64>,
    ) -> Result<i64, AdminError> {
        require(session, Method::EventSubscription)?;
        if session.callback_url.is_none() {
            return Err(AdminError::BadInput(
                "events go to the session's callbackUrl: log in with heartbeatRequested and one"
                    .into(),
            ));
        }
        if after.is_some_and(|a| a < 0) {
            return Err(invalid("afterSeq cannot be negative"));
        }
        let hash = session.token_hash.clone();
        run_tx(self.store.as_ref(), move |tx| {
            let Some(current) = tx.session(&hash)? else {
                return Ok(Err(AdminError::InvalidSession));
            };
            if current.events_after.is_some() {
                return Ok(Err(AdminError::DuplicateSubscription));
            }
            let start = match after {
                Some(a) => a,
                None => tx.last_event_seq()?,
            };
            tx.set_subscription(&hash, Some(start))?;
            Ok(Ok(start))
        })
        .await?
    }

    /// End the session's subscription; code 1001 when there is none.
    pub async fn unsubscribe(&self, session: &AdminSession) -> Result<(), AdminError> {
        require(session, Method::EventSubscription)?;
        let hash = session.token_hash.clone();
        run_tx(self.store.as_ref(), move |tx| {
            if tx.session(&hash)?.is_none_or(|s| s.events_after.is_none()) {
                return Ok(Err(AdminError::NotFound(
                    "this session has no subscription".into(),
                )));
            }
            tx.set_subscription(&hash, None)?;
            Ok(Ok(()))
        })
        .await?
    }
}
