//! The config service's rules: who may call what (roles), and the operations on the EM state
//! and the policy. Objects cross the wire as XML; that translation is the HTTP layer's.

use super::AdminService;
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::clock::Timestamp;
use crate::domain::em::{effective_profile, end_login, expire_due};
use crate::domain::model::{
    AdminSession, DeviceState, EffectiveProfile, Event, EventKind, Key, Login, MultipleLogin,
    NewEvent, Policy,
};
use crate::domain::store::run_read;
use crate::domain::{EventQuery, StoreResult, Tx, run_tx};

/// Which logins a forced logout or a listing concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFilter {
    All,
    Device(String),
    User(String),
}

impl LoginFilter {
    fn matches(&self, login: &Login) -> bool {
        self.names(Some(&login.device), Some(&login.user))
    }

    /// Whether an event about this device and user is one the filter wants.
    fn names(&self, device: Option<&str>, user: Option<&str>) -> bool {
        match self {
            LoginFilter::All => true,
            LoginFilter::Device(d) => device.is_some_and(|x| Key::of(x) == Key::of(d)),
            LoginFilter::User(u) => user.is_some_and(|x| Key::of(x) == Key::of(u)),
        }
    }
}

/// The events `loginHistory` reads.
const LOGIN_EVENTS: &[EventKind] = &[
    EventKind::Login,
    EventKind::Logout,
    EventKind::AutoLogout,
    EventKind::LogoutAll,
];

/// Which part of the login history to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryRange {
    /// Only events numbered after this (a [`History::cursor`]).
    pub after: i64,
    /// Only events at or after this instant.
    pub from: Option<Timestamp>,
    /// Only events before this instant.
    pub to: Option<Timestamp>,
}

/// One page of the login history.
#[derive(Debug, Clone)]
pub struct History {
    pub events: Vec<Event>,
    /// The number of the last event read, wanted or not: the next page starts after it.
    pub cursor: i64,
    /// The call stopped before the end of the events (at `limit`, or at the most it reads in
    /// one call): reading on from `cursor` may find more.
    pub more: bool,
}

impl AdminService {
    /// Who is logged in where, now.
    pub async fn list_logins(
        &self,
        session: &AdminSession,
        filter: LoginFilter,
    ) -> Result<Vec<Login>, AdminError> {
        require(session, Method::ListLogins)?;
        let now = self.clock.now();
        let logins = run_read(self.store.as_ref(), move |r| r.live_logins(now)).await?;
        Ok(logins.into_iter().filter(|l| filter.matches(l)).collect())
    }

    /// What `device` is configured with now: who is logged in, the profile it takes and its
    /// lines, since and until when; the device's logout profile while nobody is. Code 1001 for
    /// a device that does not exist.
    pub async fn device_state(
        &self,
        session: &AdminSession,
        device: &str,
    ) -> Result<(DeviceState, EffectiveProfile), AdminError> {
        require(session, Method::GetDeviceState)?;
        let now = self.clock.now();
        let key = Key::of(device);
        let found = run_read(self.store.as_ref(), move |r| {
            let Some(state) = r.device_state(&key, now)? else {
                return Ok(None);
            };
            let effective = effective_profile(r, &state.device, state.login.as_ref())?;
            Ok(Some((state, effective)))
        })
        .await?;
        found.ok_or_else(|| AdminError::NotFound(format!("device {device}")))
    }

    /// Login events after `range.after` (a sequence number) that happened in `[from, to)`,
    /// oldest first, at most `limit`, for a device or a user or everything. Each call reads a
    /// bounded number of events, and answers how far it read: the caller pages on from
    /// [`History::cursor`], so a rare device among many events costs several calls, never a
    /// page that is empty for good.
    pub async fn login_history(
        &self,
        session: &AdminSession,
        filter: LoginFilter,
        range: HistoryRange,
        limit: u32,
    ) -> Result<History, AdminError> {
        require(session, Method::LoginHistory)?;
        if let (Some(from), Some(to)) = (range.from, range.to)
            && from > to
        {
            return Err(invalid("from is after to"));
        }
        const PAGE: u32 = 1000;
        const PAGES: u32 = 20;
        let mut history = History {
            events: Vec::new(),
            cursor: range.after,
            more: true,
        };
        for _ in 0..PAGES {
            let query = EventQuery {
                after: history.cursor,
                kinds: LOGIN_EVENTS,
                from: range.from,
                to: range.to,
                limit: PAGE,
            };
            let page = run_read(self.store.as_ref(), move |r| r.event_log(&query)).await?;
            let full = page.len() == PAGE as usize;
            for e in page {
                history.cursor = e.seq;
                if filter.names(e.event.device.as_deref(), e.event.user.as_deref()) {
                    history.events.push(e);
                    if history.events.len() >= limit as usize {
                        return Ok(history);
                    }
                }
            }
            if !full {
                history.more = false;
                break;
            }
        }
        Ok(history)
    }

    /// End logins by device or by user (not all: that is the EM API's logoutAll), each with a
    /// `logout` event naming the admin. Code 1001 when nothing matched.
    pub async fn force_logout(
        &self,
        session: &AdminSession,
        filter: LoginFilter,
    ) -> Result<Vec<Login>, AdminError> {
        require(session, Method::ForceLogout)?;
        if filter == LoginFilter::All {
            return Err(invalid("name a device or a user"));
        }
        let now = self.clock.now();
        let actor = session.username.clone();
        let detail = session.audit("forced logout");
        let ended = run_tx(self.store.as_ref(), move |tx| {
            force_tx(tx, &filter, &actor, &detail, now)
        })
        .await??;
        Ok(ended)
    }

    pub async fn get_policy(&self, session: &AdminSession) -> Result<Policy, AdminError> {
        require(session, Method::GetPolicy)?;
        Ok(self.store.policy().await?)
    }

    /// Change the fields of the policy that `patch` gives (the others keep their value),
    /// with a `configChange` event: read, changed and written in one transaction, so two
    /// admins changing different fields at once both keep their change. Code 1003 for a
    /// policy that cannot run (a bad trusted-IP entry, a PIN length out of range).
    pub async fn set_policy(
        &self,
        session: &AdminSession,
        patch: PolicyPatch,
    ) -> Result<Policy, AdminError> {
        require(session, Method::SetPolicy)?;
        let now = self.clock.now();
        let mut event =
            NewEvent::new(now, EventKind::ConfigChange).detail(session.audit("setPolicy"));
        event.actor = Some(session.username.to_string());
        let policy = run_tx(self.store.as_ref(), move |tx| {
            let mut policy = tx.policy_for_update()?;
            if let Err(e) = patch.apply_to(&mut policy) {
                return Ok(Err(e));
            }
            tx.set_policy(&policy)?;
            tx.append_event(&event)?;
            Ok(Ok(policy))
        })
        .await??;
        Ok(policy)
    }
}

/// A change to the policy: each field given, typed; the others keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPatch {
    pub multiple_login: Option<MultipleLogin>,
    pub max_login_minutes: Option<u32>,
    pub enforce_max_login: Option<bool>,
    pub remember_last_user: Option<bool>,
    pub max_concurrent_requests: Option<u32>,
    pub validate_ip: Option<bool>,
    pub trusted_ips: Option<Vec<String>>,
    pub allow_proxy: Option<bool>,
    pub min_pin_length: Option<u32>,
    pub phone_service: Option<bool>,
}

impl PolicyPatch {
    /// `p` with the given fields set, if the result is a policy hotdesk can run.
    fn apply_to(&self, p: &mut Policy) -> Result<(), AdminError> {
        fn set<T: Clone>(into: &mut T, given: &Option<T>) {
            if let Some(v) = given {
                *into = v.clone();
            }
        }
        set(&mut p.multiple_login, &self.multiple_login);
        set(&mut p.max_login_minutes, &self.max_login_minutes);
        set(&mut p.enforce_max_login, &self.enforce_max_login);
        set(&mut p.remember_last_user, &self.remember_last_user);
        set(
            &mut p.max_concurrent_requests,
            &self.max_concurrent_requests,
        );
        set(&mut p.validate_ip, &self.validate_ip);
        if let Some(ips) = &self.trusted_ips {
            p.trusted_ips = ips.clone().into();
        }
        set(&mut p.allow_proxy, &self.allow_proxy);
        set(&mut p.min_pin_length, &self.min_pin_length);
        set(&mut p.phone_service, &self.phone_service);
        match p.problems().into_iter().next() {
            Some(problem) => Err(invalid(problem)),
            None => Ok(()),
        }
    }
}

fn force_tx(
    tx: &mut dyn Tx,
    filter: &LoginFilter,
    actor: &str,
    detail: &str,
    now: Timestamp,
) -> StoreResult<Result<Vec<Login>, AdminError>> {
    // The lock before any row, as a login takes them (`domain/em/login.rs`, `login_tx`).
    let targets: Vec<Login> = match filter {
        LoginFilter::Device(d) => {
            let device = tx.lock_device(&Key::of(d))?;
            expire_due(tx, now)?;
            tx.device_login(&device)?.into_iter().collect()
        }
        LoginFilter::User(u) => {
            let user = tx.lock_user(&Key::of(u))?;
            expire_due(tx, now)?;
            tx.user_logins(&user)?
        }
        LoginFilter::All => Vec::new(),
    };
    let mut ended = Vec::new();
    for login in targets {
        if let Some(removed) = tx.remove_login(&login.device.key())? {
            end_login(tx, &removed, now, EventKind::Logout, actor, Some(detail))?;
            ended.push(removed);
        }
    }
    if ended.is_empty() {
        return Ok(Err(AdminError::NotFound(
            "nobody is logged in there".into(),
        )));
    }
    Ok(Ok(ended))
}
