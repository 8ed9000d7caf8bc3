//! The admin API's rules ("NBI", after Cisco Security Manager's northbound API): sessions
//! opened with a user name and password and kept by the `asCookie` cookie, with a sliding
//! inactivity timeout and a cap on how many are open.

mod changeset;
pub mod config;
pub mod dashboard;
pub mod edit;
pub(crate) mod error;
pub mod method;
pub mod notify;
mod session;
mod subscription;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::Clock;
use super::model::AdminSession;
use super::pin::PinKey;
use super::secrets::FailureThrottle;
use super::store::Store;

pub use error::AdminError;
pub use session::NewSession;

/// The limits of `serve --session-timeout-mins` and `--max-sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSettings {
    /// Inactivity after which a session ends (CSM's default: 15 minutes).
    pub session_timeout: Duration,
    /// Open sessions at most; one more login is code 9.
    pub max_sessions: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            session_timeout: Duration::from_secs(15 * 60),
            max_sessions: 100,
        }
    }
}

/// Failed admin logins from one address within a minute, past which that address gets code
/// 1007 for the rest of the minute, whatever password it sends.
pub const MAX_LOGIN_FAILURES_PER_ADDRESS: u32 = 5;

/// Failed logins for one admin name from anywhere within a minute, past which it gets code
/// 1007 from every address but those it logged in from before.
pub const MAX_LOGIN_FAILURES_PER_NAME: u32 = 20;

/// The admin API service: what `/nbi/*` calls.
pub struct AdminService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AdminSettings,
    /// Failed logins per user name and per address.
    throttle: FailureThrottle,
    /// The cookies of this node's sessions that asked for heartbeats, by token hash: a
    /// heartbeat must carry the cookie, and the store keeps only its hash.
    heartbeat_cookies: Mutex<HashMap<String, (String, std::time::Instant)>>,
    /// This process among the nodes of a shared database: the holder of delivery leases.
    node: String,
    /// PINs set through the API are hashed under it.
    pin_key: PinKey,
    /// argon2 checks of admin passwords at once (each takes a core and ~19 MiB): a burst of
    /// logins, real or decoy, queues here.
    password_checks: tokio::sync::Semaphore,
}

impl AdminService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: AdminSettings,
        pin_key: PinKey,
    ) -> Self {
        AdminService {
            store,
            clock,
            settings,
            throttle: FailureThrottle::new(
                MAX_LOGIN_FAILURES_PER_ADDRESS,
                MAX_LOGIN_FAILURES_PER_NAME,
                Duration::from_secs(60),
            ),
            heartbeat_cookies: Mutex::new(HashMap::new()),
            node: format!("{:016x}", rand::random::<u64>()),
            pin_key,
            password_checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }
    }

    /// Cookie by token hash, with when it was stored here.
    fn cookies(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, std::time::Instant)>> {
        self.heartbeat_cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn heartbeat_cookie(&self, token_hash: &str) -> Option<String> {
        self.cookies()
            .get(token_hash)
            .map(|(cookie, _)| cookie.clone())
    }

    /// Drop the cookies of sessions that are no longer live. `live` was read at `read_at`: a
    /// cookie stored after that belongs to a session the read could not see yet, and stays.
    pub(crate) fn forget_cookies_except(&self, live: &[AdminSession], read_at: std::time::Instant) {
        self.cookies().retain(|hash, (_, stored)| {
            *stored >= read_at || live.iter().any(|s| &s.token_hash == hash)
        });
    }

    pub fn settings(&self) -> AdminSettings {
        self.settings
    }
}
