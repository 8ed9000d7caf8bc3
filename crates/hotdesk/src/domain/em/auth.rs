//! Who is calling: `appInfo` checked against application users, or against end users who have
//! an API password (they may act for themselves only).

use hotdesk_proto::{AppInfo, Credential};

use super::{EmService, RequestContext, same};
use crate::domain::error::EmError;
use crate::domain::model::Key;
use crate::domain::store::{Reader, StoreResult};

/// An authenticated caller of the EM API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The app or user ID as provisioned.
    pub id: String,
    /// "Standard EM Authentication Proxy Rights": may act for any user.
    pub proxy: bool,
}

impl Caller {
    /// A front end of our own that authenticates people itself (the phone service): it may act
    /// for anyone it has authenticated, and names itself in the logins it makes.
    pub(crate) fn front_end(actor: &str) -> Caller {
        Caller {
            id: actor.to_string(),
            proxy: true,
        }
    }

    /// Code 10 unless the caller may act for `user_id`.
    pub fn may_act_for(&self, user_id: &str) -> Result<(), EmError> {
        if self.proxy || same(&self.id, user_id) {
            Ok(())
        } else {
            Err(EmError::NoProxyRights)
        }
    }

    /// Code 10 unless the caller has proxy rights (operations on others' devices, logoutAll).
    pub fn needs_proxy(&self) -> Result<(), EmError> {
        if self.proxy {
            Ok(())
        } else {
            Err(EmError::NoProxyRights)
        }
    }
}

/// The stored secrets of whoever an `appID` names.
pub(crate) struct Credentials {
    caller: Caller,
    hashes: Vec<String>,
}

/// An application user by that ID, else an end user with an API password.
pub(super) fn credentials(r: &mut dyn Reader, id: &Key) -> StoreResult<Option<Credentials>> {
    if let Some(a) = r.app(id)? {
        return Ok(Some(Credentials {
            caller: Caller {
                id: a.id.into(),
                proxy: a.proxy,
            },
            hashes: a.certificate_hashes,
        }));
    }
    Ok(r.user(id)?.and_then(|u| {
        u.password_hash.map(|hash| Credentials {
            caller: Caller {
                id: u.id.into(),
                proxy: false,
            },
            hashes: vec![hash],
        })
    }))
}

impl EmService {
    /// Code 3 for an unknown ID, a wrong certificate, an `appEncryptedCertificate` (Cisco's
    /// scheme is not public) or a caller that failed too often lately (then whatever it sent).
    pub(super) async fn authenticate(
        &self,
        app: &AppInfo,
        found: Option<Credentials>,
        ctx: &RequestContext,
    ) -> Result<Caller, EmError> {
        let refuse = || EmError::AppAuth(app.app_id.clone());
        let key = Key::of(&app.app_id);
        let now = self.clock.now();
        // Before anything about the secret, the cache included: a held-off caller learns
        // nothing, not even that a secret is right.
        if !self.throttle.allows(&key, ctx.peer, now) {
            tracing::warn!(app = %app.app_id, peer = ?ctx.peer, "EM app check throttled");
            return Err(refuse());
        }
        let proven = match (&app.certificate, found) {
            (Credential::Plain(secret), Some(Credentials { caller, hashes })) => self
                .verified
                .verify_any(secret, &hashes)
                .await
                .then_some(caller),
            (Credential::Plain(secret), None) => {
                let decoy = [crate::domain::secrets::decoy_hash().to_string()];
                self.verified.verify_any(secret, &decoy).await;
                None
            }
            (Credential::Encrypted(_), _) => None,
        };
        if let Some(caller) = proven {
            self.throttle.record_success(&key, ctx.peer);
            Ok(caller)
        } else {
            self.throttle.record_failure(&key, ctx.peer, now);
            Err(refuse())
        }
    }
}
