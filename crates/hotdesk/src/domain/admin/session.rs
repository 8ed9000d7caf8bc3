//! Admin sessions: login, the check every call makes (which also slides the timeout), logout.

use std::net::IpAddr;

use hotdesk_proto::nbi::LoginRequest;

use super::AdminService;
use super::error::AdminError;
use crate::domain::clock::Timestamp;
use crate::domain::model::{AdminSession, EventKind, Key, NewEvent};
use crate::domain::secrets;
use crate::domain::store::run_read;
use crate::domain::{StoreResult, Tx, run_tx};

/// A session just opened: the cookie value goes to the client once and is never stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub cookie: String,
    pub session: AdminSession,
}

use crate::domain::secrets::new_token;
pub(crate) use crate::domain::secrets::token_hash;

impl AdminService {
    /// Open a session. Bad credentials are code 7; past [`super::MAX_LOGIN_FAILURES_PER_ADDRESS`]
    /// failures a minute from an address, or [`super::MAX_LOGIN_FAILURES_PER_NAME`] for a name (then
    /// except from where it logged in before), code 1007 without checking; with every session
    /// slot taken, code 9.
    pub async fn login(
        &self,
        req: LoginRequest,
        peer: Option<IpAddr>,
    ) -> Result<NewSession, AdminError> {
        let key = Key::of(&req.username);
        let now = self.clock.now();
        if !self.throttle.allows(&key, peer, now) {
            tracing::warn!(username = %req.username, ?peer, "admin login throttled");
            return Err(AdminError::TooManyAttempts);
        }
        let lookup = key.clone();
        let admin = run_read(self.store.as_ref(), move |r| r.admin(&lookup)).await?;
        let password = req.password.clone();
        // An unknown name is checked against a decoy: its answer takes as long as a wrong
        // password's, and tells nobody which names exist.
        let Ok(_slot) = self.password_checks.acquire().await else {
            return Err(AdminError::BadCredentials);
        };
        let verified = tokio::task::spawn_blocking(move || match admin {
            Some(admin) => secrets::verify(&password, &admin.password_hash).then_some(admin),
            None => {
                secrets::verify(&password, secrets::decoy_hash());
                None
            }
        })
        .await
        .ok()
        .flatten();
        let Some(admin) = verified else {
            self.throttle.record_failure(&key, peer, now);
            tracing::warn!(username = %req.username, ?peer, "admin login refused: bad credentials");
            return Err(AdminError::BadCredentials);
        };
        self.throttle.record_success(&key, peer);

        let cookie = new_token(32);
        let session = AdminSession {
            token_hash: token_hash(&cookie),
            username: admin.username,
            role: admin.role,
            created_at: now,
            expires_at: now.plus(self.settings.session_timeout),
            callback_url: req.callback_url,
            peer: peer.map(|p| p.to_string()),
            events_after: None,
        };
        let max = self.settings.max_sessions;
        let stored = session.clone();
        run_tx(self.store.as_ref(), move |tx| {
            open_tx(tx, &stored, max, now)
        })
        .await??;
        if session.callback_url.is_some() {
            self.cookies().insert(
                session.token_hash.clone(),
                (cookie.clone(), std::time::Instant::now()),
            );
        }
        tracing::info!(username = %session.username, ?peer, "admin session opened");
        Ok(NewSession { cookie, session })
    }

    /// The session a cookie names, its timeout moved forward: every authenticated call goes
    /// through here. No cookie is code 4; an unknown or expired one, code 5.
    pub async fn session(&self, cookie: Option<&str>) -> Result<AdminSession, AdminError> {
        let cookie = cookie
            .filter(|c| !c.is_empty())
            .ok_or(AdminError::NoSession)?;
        let hash = token_hash(cookie);
        let now = self.clock.now();
        let expires_at = now.plus(self.settings.session_timeout);
        let found = run_tx(self.store.as_ref(), move |tx| {
            let Some(mut session) = tx.session(&hash)? else {
                return Ok(Err(AdminError::InvalidSession));
            };
            if session.expires_at <= now {
                // Over: remove it now (this job commits) and say so below.
                tx.remove_session(&hash)?;
                return Ok(Ok(None));
            }
            tx.touch_session(&hash, expires_at)?;
            session.expires_at = expires_at;
            Ok(Ok(Some(session)))
        })
        .await??;
        found.ok_or(AdminError::InvalidSession)
    }

    /// Move a live session's deadline to a full timeout from now (a successful heartbeat).
    /// `false` when the session has ended meanwhile.
    pub(crate) async fn extend(&self, token_hash: &str) -> Result<bool, AdminError> {
        let hash = token_hash.to_string();
        let now = self.clock.now();
        let expires_at = now.plus(self.settings.session_timeout);
        run_tx(self.store.as_ref(), move |tx| {
            let live = tx.session(&hash)?.is_some_and(|s| s.expires_at > now);
            Ok(Ok::<bool, AdminError>(
                live && tx.touch_session(&hash, expires_at)?,
            ))
        })
        .await?
    }

    /// End the session a cookie names.
    pub async fn logout(&self, cookie: Option<&str>) -> Result<AdminSession, AdminError> {
        let session = self.session(cookie).await?;
        let now = self.clock.now();
        let ended = session.clone();
        run_tx(self.store.as_ref(), move |tx| {
            tx.remove_session(&ended.token_hash)?;
            tx.append_event(&session_event(now, &ended, "logout"))?;
            Ok(Ok::<(), AdminError>(()))
        })
        .await??;
        self.cookies().remove(&session.token_hash);
        tracing::info!(username = %session.username, "admin session closed");
        Ok(session)
    }
}

/// Drop expired sessions, enforce the cap, store the new one with its event.
fn open_tx(
    tx: &mut dyn Tx,
    session: &AdminSession,
    max: u32,
    now: Timestamp,
) -> StoreResult<Result<(), AdminError>> {
    tx.remove_expired_sessions(now)?;
    if tx.session_count()? >= u64::from(max) {
        return Ok(Err(AdminError::SessionLimit));
    }
    tx.insert_session(session)?;
    tx.append_event(&session_event(now, session, "login"))?;
    Ok(Ok(()))
}

fn session_event(now: Timestamp, session: &AdminSession, what: &str) -> NewEvent {
    let mut event = NewEvent::new(now, EventKind::AdminSession).detail(session.audit(what));
    event.actor = Some(session.username.to_string());
    event
}
