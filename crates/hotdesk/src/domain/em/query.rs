//! `<query>`: who is where, which profiles a user has, whether a user exists. Reads only. A
//! query of a few names is one lookup job, the caller's credentials and the answer together:
//! the answer is read before the caller is known to be allowed it and thrown away if not (one
//! read transaction instead of two halves what a query costs the database, and nothing read
//! leaves the server unless the checks pass). A larger batch reads the credentials first, so
//! that a caller who is refused cannot make the server read a thousand devices for nothing.

use hotdesk_proto::{
    AppInfo, CheckUserResult, DeviceProfileResult, DeviceUserResult, EmResponse, ProfileEntry,
    Query, UserDevices, UserDevicesResult, UserProfiles,
};

use super::{Caller, EmService, RequestContext, auth};
use crate::domain::clock::Timestamp;
use crate::domain::error::EmError;
use crate::domain::model::Key;
use crate::domain::store::{Reader, StoreResult, run_lookup};

impl EmService {
    /// A caller without proxy rights may ask only about itself: deviceUserQuery (which reveals
    /// who sits where) needs proxy rights, the user queries need the caller's own ID.
    pub(super) async fn query(
        &self,
        app: &AppInfo,
        query: Query,
        ctx: &RequestContext,
    ) -> Result<EmResponse, EmError> {
        let app_key = Key::of(&app.app_id);
        let now = self.clock.now();
        if names(&query) > JOINED_NAMES {
            let found =
                run_lookup(self.store.as_ref(), move |r| auth::credentials(r, &app_key)).await?;
            let caller = self.authenticate(app, found, ctx).await?;
            allowed(&caller, &query)?;
            return Ok(run_lookup(self.store.as_ref(), move |r| answer(r, &query, now)).await?);
        }
        let (found, answer, query) = run_lookup(self.store.as_ref(), move |r| {
            let found = auth::credentials(r, &app_key)?;
            let answer = answer(r, &query, now)?;
            Ok((found, answer, query))
        })
        .await?;
        let caller = self.authenticate(app, found, ctx).await?;
        allowed(&caller, &query)?;
        Ok(answer)
    }
}

/// The most names a query may carry and still be answered in the same read as its caller's
/// credentials.
const JOINED_NAMES: usize = 8;

fn names(query: &Query) -> usize {
    match query {
        Query::DeviceUser { device_names } => device_names.len(),
        Query::UserDevices { user_ids }
        | Query::DeviceProfile { user_ids }
        | Query::CheckUser { user_ids } => user_ids.len(),
    }
}

fn allowed(caller: &Caller, query: &Query) -> Result<(), EmError> {
    match query {
        Query::DeviceUser { .. } => caller.needs_proxy(),
        Query::UserDevices { user_ids }
        | Query::DeviceProfile { user_ids }
        | Query::CheckUser { user_ids } => {
            user_ids.iter().try_for_each(|id| caller.may_act_for(id))
        }
    }
}

/// The answer, from one snapshot. Names come back as provisioned, or as asked when unknown.
fn answer(r: &mut dyn Reader, query: &Query, now: Timestamp) -> StoreResult<EmResponse> {
    Ok(match query {
        Query::DeviceUser { device_names } => {
            let remember = r.policy()?.remember_last_user;
            let mut results = Vec::with_capacity(device_names.len());
            for name in device_names {
                results.push(match r.device_state(&Key::of(name), now)? {
                    Some(state) => DeviceUserResult::Exists {
                        name: state.device.name.into(),
                        user: state.login.map(|l| l.user.into()),
                        last_login: state.last_user.filter(|_| remember),
                        emcc: false,
                    },
                    None => DeviceUserResult::DoesNotExist { name: name.clone() },
                });
            }
            EmResponse::DeviceUsers(results)
        }
        Query::UserDevices { user_ids } => {
            let mut results = Vec::with_capacity(user_ids.len());
            for id in user_ids {
                let key = Key::of(id);
                results.push(match r.user(&key)? {
                    Some(user) => {
                        let devices: Vec<String> = r
                            .user_logins(&key, now)?
                            .into_iter()
                            .map(|l| l.device.into())
                            .collect();
                        UserDevicesResult {
                            user_id: user.id.into(),
                            devices: if devices.is_empty() {
                                UserDevices::None
                            } else {
                                UserDevices::LoggedIn(devices)
                            },
                        }
                    }
                    None => UserDevicesResult {
                        user_id: id.clone(),
                        devices: UserDevices::DoesNotExist,
                    },
                });
            }
            EmResponse::UserDevices(results)
        }
        Query::DeviceProfile { user_ids } => {
            let mut results = Vec::with_capacity(user_ids.len());
            for id in user_ids {
                results.push(match r.user(&Key::of(id))? {
                    Some(user) if user.profiles.is_empty() => DeviceProfileResult {
                        user_id: user.id.into(),
                        profiles: UserProfiles::None,
                    },
                    Some(user) => DeviceProfileResult {
                        user_id: user.id.into(),
                        profiles: UserProfiles::Profiles(
                            user.profiles
                                .into_iter()
                                .enumerate()
                                .map(|(i, name)| ProfileEntry {
                                    name: name.into(),
                                    is_default: i == 0,
                                })
                                .collect(),
                        ),
                    },
                    None => DeviceProfileResult {
                        user_id: id.clone(),
                        profiles: UserProfiles::DoesNotExist,
                    },
                });
            }
            EmResponse::DeviceProfiles(results)
        }
        Query::CheckUser { user_ids } => {
            let mut results = Vec::with_capacity(user_ids.len());
            for id in user_ids {
                results.push(match r.user(&Key::of(id))? {
                    Some(user) => CheckUserResult {
                        user_id: user.id.into(),
                        exists: true,
                    },
                    None => CheckUserResult {
                        user_id: id.clone(),
                        exists: false,
                    },
                });
            }
            EmResponse::CheckUser(results)
        }
    })
}
