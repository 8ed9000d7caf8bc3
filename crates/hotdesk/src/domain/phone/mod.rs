//! The phone service: a person at a shared phone logs in with a user ID (or extension) and
//! PIN, like Unified CM's EMApp. One file per step, as the EM operations have:
//! [`screen`](PhoneService::screen) (what the phone shows first), [`login`](PhoneService::login),
//! [`choose`](PhoneService::choose) (a pick from the profile menu), [`logout`](PhoneService::logout)
//! and [`change_pin`](PhoneService::change_pin).
//!
//! The phone is one more origin of the EM operations, not a second implementation of them:
//! a login or logout here runs [`EmService`]'s own rules and transaction with the actor
//! [`PHONE`], so its events, its refusals (codes 11 to 30) and its place in every query are
//! those of any other login. What is the phone's own is the PIN ([`guard`]) and the profile
//! menu ([`menu`]).

mod change_pin;
mod guard;
mod login;
mod logout;
mod menu;
mod screen;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use hotdesk_proto::phone::PhoneCode;

use super::clock::{Clock, Timestamp};
use super::em::{EmService, RequestContext, check_origin};
use super::error::EmError;
use super::model::Key;
use super::pin::PinKey;
use super::secrets::FailureThrottle;
use super::store::run_lookup;
use super::store::{Store, StoreError};

/// The actor of the phone service's logins, logouts and events.
pub const PHONE: &str = "phone";

/// How long a profile menu can be used: long enough to read it, short enough that a menu
/// left on a phone is no key to it.
pub const MENU_LIFETIME_MS: i64 = 2 * 60 * 1000;

/// `loginType`: what the person types besides the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginType {
    /// `UID` (and no `loginType`): the user ID.
    UserId,
    /// `DN`: the user's primary extension.
    Extension,
}

impl LoginType {
    /// The `loginType` query value; none means a user ID. Code 215 for anything else.
    pub fn parse(value: Option<&str>) -> Result<LoginType, PhoneError> {
        match value.map(str::trim) {
            None | Some("") => Ok(LoginType::UserId),
            Some(v) if v.eq_ignore_ascii_case("UID") => Ok(LoginType::UserId),
            Some(v) if v.eq_ignore_ascii_case("DN") => Ok(LoginType::Extension),
            Some(_) => Err(PhoneError::BadLoginType),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoginType::UserId => "UID",
            LoginType::Extension => "DN",
        }
    }
}

/// Why the phone service said no. Each maps to what the phone shows ([`PhoneError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// `policy.phone_service = false`.
    #[error("the phone service is turned off")]
    Off,
    /// 207: no `device` in the request.
    #[error("no device named")]
    NoDevice,
    /// 215.
    #[error("loginType is not UID or DN")]
    BadLoginType,
    /// 202: the user ID or a PIN was left blank.
    #[error("blank user ID or PIN")]
    Blank,
    /// 201: a wrong PIN, a locked PIN, a user without a PIN, or a menu that is used up,
    /// expired or not this phone's. The person is told only to try again.
    #[error("authentication failed: {0}")]
    Authentication(&'static str),
    /// 216.
    #[error("the extension is primary for several users")]
    SharedExtension,
    /// An EM rule, with its EM code.
    #[error(transparent)]
    Em(#[from] EmError),
    /// Changing a PIN: the new PIN and its repetition differ.
    #[error("the new PINs differ")]
    PinMismatch,
    /// Changing a PIN: not digits, or too long.
    #[error("the new PIN is not 1 to 16 digits")]
    PinNotDigits,
    /// Changing a PIN: shorter than `policy.min_pin_length`.
    #[error("the new PIN has fewer than {0} digits")]
    PinTooShort(u32),
    /// Changing a PIN to itself.
    #[error("the new PIN is the old one")]
    PinUnchanged,
}

impl From<StoreError> for PhoneError {
    fn from(e: StoreError) -> Self {
        PhoneError::Em(EmError::Store(e))
    }
}

impl PhoneError {
    /// The code the phone shows, if the refusal has one.
    pub fn code(&self) -> Option<PhoneCode> {
        Some(match self {
            PhoneError::NoDevice => PhoneCode::NoDevice,
            PhoneError::BadLoginType => PhoneCode::BadLoginType,
            PhoneError::Blank => PhoneCode::Blank,
            PhoneError::Authentication(_) => PhoneCode::Authentication,
            PhoneError::SharedExtension => PhoneCode::SharedExtension,
            PhoneError::Em(e) => PhoneCode::Em(e.code()),
            PhoneError::Off
            | PhoneError::PinMismatch
            | PhoneError::PinNotDigits
            | PhoneError::PinTooShort(_)
            | PhoneError::PinUnchanged => return None,
        })
    }
}

/// A user logged in on a device, as the phone tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub device: String,
    pub user: String,
    pub name: Option<String>,
    pub profile: String,
}

/// What a phone shows when the person opens the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Nobody is logged in: ask for the ID and PIN; `last_user` pre-fills the user ID
    /// ("Remember the Last User Logged In").
    LoginForm {
        device: String,
        login_type: LoginType,
        last_user: Option<String>,
    },
    LoggedIn(LoggedIn),
}

/// One entry of a profile menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileChoice {
    pub name: String,
    pub description: Option<String>,
}

/// The answer to a submitted ID and PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    LoggedIn(LoggedIn),
    /// The user has several profiles: the phone shows them, each item carrying `token`.
    ChooseProfile {
        device: String,
        user: String,
        /// The menu's single-use token, for its URLs only. Never stored: its hash is.
        token: String,
        profiles: Vec<ProfileChoice>,
    },
}

/// The phone service. Cheap to share: everything it holds is behind an `Arc`.
pub struct PhoneService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    em: Arc<EmService>,
    pin_key: PinKey,
    /// argon2 checks of PINs of the older scheme at once (each takes a core and ~19 MiB).
    slow_checks: tokio::sync::Semaphore,
    /// Wrong PINs and unknown users per address (this node's count): a guesser spraying one
    /// PIN over many users, whom no user's lockout slows, is.
    throttle: FailureThrottle,
}

/// Wrong PINs or unknown users from one address, within a minute, past which its tries are
/// refused without a check until the minute is over.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;

impl PhoneService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        em: Arc<EmService>,
        pin_key: PinKey,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PhoneService {
            store,
            clock,
            em,
            pin_key,
            slow_checks: tokio::sync::Semaphore::new(cores),
            throttle: FailureThrottle::new(
                MAX_FAILURES_PER_ADDRESS,
                // Users are counted by their PIN lockout, in the store.
                u32::MAX,
                std::time::Duration::from_secs(60),
            ),
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// For a step that names a device and no user yet: the service is on, the device takes EM
    /// logins, and the address is one the policy trusts. The device's name as provisioned.
    async fn usable_device(
        &self,
        device: Option<&str>,
        login_type: LoginType,
        ctx: &RequestContext,
    ) -> Result<String, PhoneError> {
        let device = required_device(device)?;
        let key = Key::of(&device);
        let (policy, found) = run_lookup(self.store.as_ref(), move |r| {
            Ok((r.policy()?, r.device(&key)?))
        })
        .await?;
        check_device(&policy, found.as_ref(), &device)?;
        check_origin(&policy, &phone_origin(login_type), ctx)?;
        Ok(found.map_or(device, |d| d.name.into()))
    }

    /// Code 201 when `peer` failed too often lately: no user is looked at.
    fn check_throttle(&self, peer: Option<std::net::IpAddr>) -> Result<(), PhoneError> {
        if self.throttle.allows_from(peer, self.now()) {
            Ok(())
        } else {
            Err(PhoneError::Authentication(
                "too many failures from this address",
            ))
        }
    }

    /// Count a wrong PIN or an unknown user against `peer`; hand `error` back.
    fn failed(&self, peer: Option<std::net::IpAddr>, error: PhoneError) -> PhoneError {
        if matches!(
            error,
            PhoneError::Authentication(_) | PhoneError::Em(EmError::UserNotFound(_))
        ) {
            self.throttle.record_failure_from(peer, self.now());
        }
        error
    }
}

/// The device named by the request, or code 207.
fn required_device(device: Option<&str>) -> Result<String, PhoneError> {
    match device.map(str::trim) {
        Some(d) if !d.is_empty() => Ok(d.to_string()),
        _ => Err(PhoneError::NoDevice),
    }
}

/// A typed field, or code 202 when it is blank.
fn required_field(value: Option<&str>) -> Result<&str, PhoneError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(PhoneError::Blank),
    }
}

/// The origin of a phone's EM login or logout: its login type. The phone's address travels
/// in the [`RequestContext`], as the TCP peer, which is what `validate_ip` checks.
fn phone_origin(login_type: LoginType) -> hotdesk_proto::Origin {
    hotdesk_proto::Origin {
        remote_ip: None,
        via_header_set: None,
        login_type: Some(login_type.as_str().to_string()),
    }
}

/// Shared by every step: the service is on, and the device exists and takes EM logins.
fn check_device(
    policy: &super::model::Policy,
    device: Option<&super::model::Device>,
    asked: &str,
) -> Result<(), PhoneError> {
    if !policy.phone_service {
        return Err(PhoneError::Off);
    }
    let device = device.ok_or_else(|| EmError::DeviceNotFound(asked.to_string()))?;
    if !device.em_enabled {
        return Err(EmError::DeviceLogonDisabled(device.name.to_string()).into());
    }
    Ok(())
}

/// What a request carried, recorded into the request's span for its one log line, and the
/// code it was answered with (0: success). Never the PIN.
pub fn log_outcome(
    op: &'static str,
    device: Option<&str>,
    user: Option<&str>,
    error: Option<&PhoneError>,
    ctx: &RequestContext,
) -> u16 {
    let code = error.and_then(|e| e.code()).map_or(0, |c| c.code());
    // What was typed as a user ID and names nobody may be anything, a PIN typed in the wrong
    // field included: it is not logged.
    let user = user.filter(|_| !matches!(error, Some(PhoneError::Em(EmError::UserNotFound(_)))));
    let span = tracing::Span::current();
    span.record("operation", op);
    span.record("device", device);
    span.record("user", user);
    span.record("code", code);
    match error {
        Some(PhoneError::Em(EmError::Store(cause))) => {
            tracing::error!(op, device, user, code, peer = ?ctx.peer, %cause, "phone request failed in the store")
        }
        Some(e) => {
            span.record("reason", tracing::field::display(e));
        }
        None => {}
    }
    code
}
