//! `<login>`: put a user's device profile on a device.

use hotdesk_proto::{ExclusiveDuration, Login as LoginRequest};

use super::expiry::{end_login, expire_due};
use super::origin::check_origin;
use super::{Caller, EmService, RequestContext, WriteFacts};
use crate::domain::clock::Timestamp;
use crate::domain::error::EmError;
use crate::domain::model::{
    EntityKind, EventKind, Key, Login, MultipleLogin, NewEvent, Policy, User,
};
use crate::domain::run_tx;
use crate::domain::store::{Reader, StoreResult, Tx};

impl EmService {
    /// The checks run in the documented order (README "Error codes") over facts read up front; the last two (device
    /// taken, multiple login) run inside the write transaction so that racing logins cannot
    /// both pass them.
    pub(super) async fn login(
        &self,
        caller: &Caller,
        facts: WriteFacts,
        req: LoginRequest,
        ctx: &RequestContext,
    ) -> Result<(), EmError> {
        let policy = &facts.policy;
        caller.may_act_for(&req.user_id)?;
        let _slot = self.write_slot(policy)?;
        check_origin(policy, &req.origin, ctx)?;
        let device = facts
            .device
            .ok_or_else(|| EmError::DeviceNotFound(req.device_name.clone()))?;
        if !device.em_enabled {
            return Err(EmError::DeviceLogonDisabled(device.name.into()));
        }
        let user = facts
            .user
            .ok_or_else(|| EmError::UserNotFound(req.user_id.clone()))?;
        let profile = facts.profile.ok_or(EmError::ProfileNotFound)?;
        let now = self.clock.now();
        let login = Login {
            device: device.name,
            user: user.id.clone(),
            profile: profile.into(),
            app: caller.id.clone(),
            logged_in_at: now,
            deadline: deadline(now, req.exclusive_duration, &user, policy),
        };
        let deadline = login.deadline;
        let multiple = policy.multiple_login;
        let actor = caller.id.clone();
        run_tx(self.store.as_ref(), move |tx| {
            login_tx(tx, login.clone(), multiple, &actor, now)
        })
        .await??;
        if let Some(at) = deadline {
            self.deadlines.added(at);
        }
        Ok(())
    }
}

/// The profile a login will use, as provisioned: the one asked for if it is associated with
/// the user, else the user's default (the first associated); `None` (code 12) if there is no
/// such association or the profile no longer exists.
pub(super) fn chosen_profile(
    r: &mut dyn Reader,
    user: &User,
    asked: Option<&str>,
) -> StoreResult<Option<String>> {
    let chosen = match asked {
        Some(name) => user.profiles.iter().find(|p| p.is(name)),
        None => user.profiles.first(),
    };
    match chosen {
        Some(name) => Ok(r.profile(&Key::of(name))?.map(|p| p.name.into())),
        None => Ok(None),
    }
}

/// The earliest of the login's own duration, the user's maximum and the enforced policy maximum.
pub(crate) fn deadline(
    now: Timestamp,
    asked: Option<ExclusiveDuration>,
    user: &User,
    policy: &Policy,
) -> Option<Timestamp> {
    let own = match asked {
        Some(ExclusiveDuration::Minutes(m)) => Some(m),
        Some(ExclusiveDuration::Indefinite) | None => None,
    };
    let policy_max = (policy.enforce_max_login && policy.max_login_minutes > 0)
        .then_some(policy.max_login_minutes);
    let user_max = user.max_login_minutes.filter(|m| *m > 0);
    [own, user_max, policy_max]
        .into_iter()
        .flatten()
        .min()
        .map(|m| now.plus_minutes(m))
}

/// Whether `user` may take `device`: code 18 while another user's login holds the device (a
/// repeated login of the same user refreshes it), code 25 when the policy allows one phone
/// per user and the user has another. On success, the user's logins on other devices (which
/// the auto-logout policy ends). `current` is the device's login and `logins` the user's, due
/// or not: a login that is due is over, even if another node's expiry pass still holds its row.
pub(crate) fn may_take(
    current: Option<&Login>,
    logins: Vec<Login>,
    device: &Key,
    user: &Key,
    multiple: MultipleLogin,
    now: Timestamp,
) -> Result<Vec<Login>, EmError> {
    if let Some(current) = current.filter(|l| !l.is_due(now))
        && current.user.key() != *user
    {
        return Err(EmError::AnotherUserLoggedIn);
    }
    let elsewhere: Vec<Login> = logins
        .into_iter()
        .filter(|l| l.device.key() != *device && !l.is_due(now))
        .collect();
    if multiple == MultipleLogin::NotAllowed && !elsewhere.is_empty() {
        return Err(EmError::UserLoggedInElsewhere);
    }
    Ok(elsewhere)
}

/// The atomic part of a login: the device must be free (or already this user's: a repeated
/// login refreshes it), and the multiple-login policy must hold.
fn login_tx(
    tx: &mut dyn Tx,
    login: Login,
    multiple: MultipleLogin,
    actor: &str,
    now: Timestamp,
) -> StoreResult<Result<(), EmError>> {
    let device = login.device.key();
    let user = login.user.key();
    // The locks before any row: ending due logins first would hold a login row while waiting
    // for a device lock that an admin delete holds while it waits for that row.
    let user_lock = tx.lock_user(&user)?;
    let device_lock = tx.lock_device(&device)?;
    expire_due(tx, now)?;
    // The facts were read before this transaction: an admin may have deleted the device or
    // the user since. Under the locks (a delete takes them too) the answer is final.
    let current = tx.device_login(&device_lock)?;
    if !tx.exists(EntityKind::Device, &device)? {
        return Ok(Err(EmError::DeviceNotFound(login.device.to_string())));
    }
    if !tx.exists(EntityKind::User, &user)? {
        return Ok(Err(EmError::UserNotFound(login.user.to_string())));
    }
    let elsewhere = match may_take(
        current.as_ref(),
        tx.user_logins(&user_lock)?,
        &device,
        &user,
        multiple,
        now,
    ) {
        Ok(elsewhere) => elsewhere,
        Err(e) => return Ok(Err(e)),
    };
    if multiple == MultipleLogin::AutoLogout {
        for other in &elsewhere {
            if let Some(ended) = tx.remove_login(&other.device.key())? {
                end_login(
                    tx,
                    &ended,
                    now,
                    EventKind::AutoLogout,
                    actor,
                    Some("multiple-login policy"),
                )?;
            }
        }
    }
    tx.put_login(&login)?;
    let mut event = NewEvent::for_login(now, EventKind::Login, &login, actor);
    event.state = super::configuration::after_event(tx, &login, true)?;
    tx.append_event(&event)?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_earliest_limit() {
        let now = Timestamp(0);
        let mut user = User::default();
        let mut policy = Policy::default();
        assert_eq!(deadline(now, None, &user, &policy), None);
        assert_eq!(
            deadline(now, Some(ExclusiveDuration::Indefinite), &user, &policy),
            None
        );
        assert_eq!(
            deadline(now, Some(ExclusiveDuration::Minutes(60)), &user, &policy),
            Some(Timestamp(3_600_000))
        );
        user.max_login_minutes = Some(30);
        assert_eq!(
            deadline(now, Some(ExclusiveDuration::Minutes(60)), &user, &policy),
            Some(Timestamp(1_800_000))
        );
        assert_eq!(
            deadline(now, Some(ExclusiveDuration::Indefinite), &user, &policy),
            Some(Timestamp(1_800_000))
        );
        policy.max_login_minutes = 10;
        assert_eq!(
            deadline(now, None, &user, &policy),
            Some(Timestamp(1_800_000)),
            "not enforced"
        );
        policy.enforce_max_login = true;
        assert_eq!(
            deadline(now, None, &user, &policy),
            Some(Timestamp(600_000))
        );
        user.max_login_minutes = Some(5);
        assert_eq!(
            deadline(now, Some(ExclusiveDuration::Minutes(60)), &user, &policy),
            Some(Timestamp(300_000))
        );
    }
}
