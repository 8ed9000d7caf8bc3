//! The EM operations, one file each (as mini-redis has one file per command). [`EmService`]
//! holds what they share: the store, the clock, the credential cache and the write limiter.

mod auth;
mod configuration;
mod expiry;
mod login;
mod logout;
mod logout_all;
mod origin;
mod query;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hotdesk_proto::{EmMessage, EmResponse, Operation};

use super::clock::Clock;
use super::error::EmError;
use super::model::{Device, Key, Login, Policy, User};
use super::scheduler::Deadlines;
use super::secrets::{FailureThrottle, VerifiedCache};
use super::store::{Store, run_lookup};

pub use auth::Caller;
pub(crate) use configuration::effective_profile;
pub(crate) use expiry::{end_login, expire_batch, expire_due};
pub(crate) use login::may_take;
pub(crate) use origin::check_origin;

/// What the wire knows about a request besides its XML.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The TCP peer.
    pub peer: Option<IpAddr>,
    /// The HTTP request carried a `Via` header (it came through a proxy).
    pub via_header: bool,
}

/// Wrong certificates or unknown app IDs from one address within a minute, past which that
/// address is refused (code 3) for the rest of the minute, whatever it sends.
pub const MAX_APP_FAILURES_PER_ADDRESS: u32 = 10;

/// Failures for one app ID from anywhere within a minute, past which it is refused from every
/// address but those it was proven from ([`super::secrets::FailureThrottle`]).
pub const MAX_APP_FAILURES_PER_NAME: u32 = 100;

/// The EM service: turns a parsed EM document into an answer.
pub struct EmService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    verified: VerifiedCache,
    throttle: FailureThrottle,
    in_flight: AtomicU32,
    /// `max_concurrent_requests` as the last write read it: while that many writes are in
    /// flight, another is refused before it reads anything.
    limit_seen: AtomicU32,
    /// Tells the auto-logout scheduler of the deadlines of new logins.
    deadlines: Arc<Deadlines>,
}

impl EmService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, deadlines: Arc<Deadlines>) -> Self {
        EmService {
            store,
            clock,
            verified: VerifiedCache::default(),
            throttle: FailureThrottle::new(
                MAX_APP_FAILURES_PER_ADDRESS,
                MAX_APP_FAILURES_PER_NAME,
                std::time::Duration::from_secs(60),
            ),
            in_flight: AtomicU32::new(0),
            limit_seen: AtomicU32::new(u32::MAX),
            deadlines,
        }
    }

    /// EM writes in flight right now ("Requests In Progress").
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Answer one EM document. Every outcome is an [`EmResponse`]; the HTTP status is always 200.
    pub async fn handle(&self, message: EmMessage, ctx: &RequestContext) -> EmResponse {
        match message {
            EmMessage::Request { app, op } => {
                let summary = WriteSummary::of(&op);
                let result = self.request(&app, op, ctx).await;
                // The request's own line (http/log.rs) says who asked for what and the answer;
                // this one adds what a front end said about the phone it relays for.
                tracing::debug!(
                    op = summary.op,
                    app = %app.app_id,
                    device = summary.device,
                    user = summary.user,
                    remote_ip = summary.origin.remote_ip,
                    via = summary.origin.via_header_set,
                    login_type = summary.origin.login_type,
                    peer = ?ctx.peer,
                    code = result.as_ref().err().map(|e| e.code().code()).unwrap_or(0),
                    "EM request"
                );
                result
                    .map(|()| EmResponse::Success)
                    .unwrap_or_else(|e| self.failure(e))
            }
            EmMessage::Query { app, query, origin } => {
                tracing::debug!(app = %app.app_id, ?query, remote_ip = origin.remote_ip, peer = ?ctx.peer, "EM query");
                self.query(&app, query, ctx)
                    .await
                    .unwrap_or_else(|e| self.failure(e))
            }
        }
    }

    fn failure(&self, e: EmError) -> EmResponse {
        if let EmError::Store(cause) = &e {
            tracing::error!(%cause, "EM request failed in the store");
        }
        EmResponse::Failure(e.failure())
    }

    async fn request(
        &self,
        app: &hotdesk_proto::AppInfo,
        op: Operation,
        ctx: &RequestContext,
    ) -> Result<(), EmError> {
        let mut facts = self
            .write_facts(Some(Key::of(&app.app_id)), FactKeys::of(&op))
            .await?;
        let caller = self
            .authenticate(app, facts.credentials.take(), ctx)
            .await?;
        match op {
            Operation::Login(login) => self.login(&caller, facts, login, ctx).await,
            Operation::Logout(logout) => self
                .logout(&caller, facts, logout, None, ctx)
                .await
                .map(|_| ()),
            Operation::LogoutAll { origin } => {
                self.logout_all(&caller, &facts.policy, &origin, ctx).await
            }
        }
    }

    /// A login for a front end that has authenticated the person itself (the phone service,
    /// by PIN): every rule of an EM API login, in the same order and the same transaction,
    /// with `actor` as the caller in the login and its event.
    pub(crate) async fn login_for(
        &self,
        actor: &str,
        req: hotdesk_proto::Login,
        ctx: &RequestContext,
    ) -> Result<(), EmError> {
        let facts = self.write_facts(None, FactKeys::login(&req)).await?;
        self.login(&Caller::front_end(actor), facts, req, ctx).await
    }

    /// A logout for such a front end. With `expect`, only that user's login ends (code 19
    /// otherwise), so a stale Logout key cannot end the next person's login.
    pub(crate) async fn logout_for(
        &self,
        actor: &str,
        req: hotdesk_proto::Logout,
        expect: Option<Key>,
        ctx: &RequestContext,
    ) -> Result<Login, EmError> {
        let facts = self.write_facts(None, FactKeys::logout(&req)).await?;
        self.logout(&Caller::front_end(actor), facts, req, expect, ctx)
            .await
    }

    /// Everything a write request checks before its transaction, read in one job. Reading a
    /// fact that an earlier check makes moot costs less than another trip to the database.
    /// `app` is the calling application to authenticate, if any.
    async fn write_facts(&self, app: Option<Key>, keys: FactKeys) -> Result<WriteFacts, EmError> {
        self.refuse_when_full()?;
        let FactKeys {
            device,
            user,
            asked,
        } = keys;
        let facts = run_lookup(self.store.as_ref(), move |r| {
            let user = user.map(|u| r.user(&u)).transpose()?.flatten();
            let profile = match &user {
                Some(u) => login::chosen_profile(r, u, asked.as_deref())?,
                None => None,
            };
            Ok(WriteFacts {
                policy: r.policy()?,
                credentials: app.map(|k| auth::credentials(r, &k)).transpose()?.flatten(),
                device: device.map(|d| r.device(&d)).transpose()?.flatten(),
                user,
                profile,
            })
        })
        .await?;
        Ok(facts)
    }

    /// Code 26 before any read while the writes in flight fill the limit last read: under
    /// overload a refusal costs the parse of its document and nothing else, so the refusals
    /// do not eat the CPU of the writes that got in. This runs ahead of the caller's
    /// authentication (code 3), which a full server cannot afford to read for; below the
    /// limit the checks run in their usual order and [`Self::write_slot`] decides. With no
    /// write in flight it never refuses, so a limit of 0 (a maintenance switch) and a raised
    /// limit are always read afresh.
    fn refuse_when_full(&self) -> Result<(), EmError> {
        let in_flight = self.in_flight.load(Ordering::Acquire);
        if in_flight > 0 && in_flight >= self.limit_seen.load(Ordering::Relaxed) {
            return Err(EmError::Busy);
        }
        Ok(())
    }

    /// One slot of the write limiter, or code 26 at once: a full server says so instead of
    /// queueing without bound.
    fn write_slot(&self, policy: &Policy) -> Result<WriteSlot<'_>, EmError> {
        self.limit_seen
            .store(policy.max_concurrent_requests, Ordering::Relaxed);
        let was = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = WriteSlot(&self.in_flight);
        if was >= policy.max_concurrent_requests {
            return Err(EmError::Busy);
        }
        Ok(slot)
    }
}

/// What a write request names, for [`EmService::write_facts`] to read.
struct FactKeys {
    device: Option<Key>,
    user: Option<Key>,
    /// The profile asked for, as sent.
    asked: Option<String>,
}

impl FactKeys {
    fn of(op: &Operation) -> Self {
        match op {
            Operation::Login(l) => FactKeys::login(l),
            Operation::Logout(l) => FactKeys::logout(l),
            Operation::LogoutAll { .. } => FactKeys {
                device: None,
                user: None,
                asked: None,
            },
        }
    }

    fn login(l: &hotdesk_proto::Login) -> Self {
        FactKeys {
            device: Some(Key::of(&l.device_name)),
            user: Some(Key::of(&l.user_id)),
            asked: l.device_profile.clone(),
        }
    }

    fn logout(l: &hotdesk_proto::Logout) -> Self {
        FactKeys {
            device: Some(Key::of(&l.device_name)),
            user: None,
            asked: None,
        }
    }
}

/// What a write request read (see [`EmService::write_facts`]).
struct WriteFacts {
    policy: Policy,
    credentials: Option<auth::Credentials>,
    /// The device named, if it exists.
    device: Option<Device>,
    /// The user to log in, if it exists.
    user: Option<User>,
    /// The profile the login will use (as provisioned), if one is associated and exists.
    profile: Option<String>,
}

/// The loggable part of an EM write, taken before the request is consumed.
struct WriteSummary {
    op: &'static str,
    device: Option<String>,
    user: Option<String>,
    origin: hotdesk_proto::Origin,
}

impl WriteSummary {
    fn of(op: &Operation) -> Self {
        match op {
            Operation::Login(l) => WriteSummary {
                op: "login",
                device: Some(l.device_name.clone()),
                user: Some(l.user_id.clone()),
                origin: l.origin.clone(),
            },
            Operation::Logout(l) => WriteSummary {
                op: "logout",
                device: Some(l.device_name.clone()),
                user: None,
                origin: l.origin.clone(),
            },
            Operation::LogoutAll { origin } => WriteSummary {
                op: "logoutAll",
                device: None,
                user: None,
                origin: origin.clone(),
            },
        }
    }
}

/// Releases its write slot when dropped, whatever path the request takes.
struct WriteSlot<'a>(&'a AtomicU32);

impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Compare names the way Cisco does: case-insensitively.
fn same(a: &str, b: &str) -> bool {
    Key::of(a) == Key::of(b)
}
