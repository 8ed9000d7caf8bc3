//! What a device is configured with ([`EffectiveProfile`]): the logged-in user's profile, or the
//! device's logout profile while nobody is. One function for `getDeviceState` and for the
//! events of every login and logout, so the two always agree.

use crate::domain::model::{Device, EffectiveProfile, Login};
use crate::domain::store::{Lookup, StoreResult};

/// The configuration of `device` with `login` on it, or with nobody on it (`None`).
pub(crate) fn effective_profile<L: Lookup + ?Sized>(
    store: &mut L,
    device: &Device,
    login: Option<&Login>,
) -> StoreResult<EffectiveProfile> {
    Ok(match login {
        Some(l) => EffectiveProfile {
            user: Some(l.user.clone()),
            profile: store.profile(&l.profile.key())?,
            logged_in_at: Some(l.logged_in_at),
            deadline: l.deadline,
        },
        None => EffectiveProfile {
            profile: match &device.logout_profile {
                Some(name) => store.profile(&name.key())?,
                None => None,
            },
            ..EffectiveProfile::default()
        },
    })
}

/// The same for the device of `login`, in a transaction, as it is after the event: with the
/// login on it (`on`) or with nobody. `None` for a device that is gone (deleted by the
/// transaction that ended its login: there is nothing left to configure).
pub(crate) fn after_event<L: Lookup + ?Sized>(
    store: &mut L,
    login: &Login,
    on: bool,
) -> StoreResult<Option<EffectiveProfile>> {
    let Some(device) = store.device(&login.device.key())? else {
        return Ok(None);
    };
    effective_profile(store, &device, on.then_some(login)).map(Some)
}
