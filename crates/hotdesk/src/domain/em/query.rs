//! `<query>`: who is where, which profiles a user has, whether a user exists. Reads only.

use hotdesk_proto::{
    AppInfo, CheckUserResult, DeviceProfileResult, DeviceUserResult, EmResponse, ProfileEntry,
    Query, UserDevices, UserDevicesResult, UserProfiles,
};

use super::{EmService, RequestContext};
use crate::domain::error::EmError;
use crate::domain::model::Key;

impl EmService {
    /// A caller without proxy rights may ask only about itself: deviceUserQuery (which reveals
    /// who sits where) needs proxy rights, the user queries need the caller's own ID.
    pub(super) async fn query(
        &self,
        app: &AppInfo,
        query: Query,
        ctx: &RequestContext,
    ) -> Result<EmResponse, EmError> {
        let caller = self.authenticate(app, ctx).await?;
        let now = self.clock.now();
        match query {
            Query::DeviceUser { device_names } => {
                caller.needs_proxy()?;
                let remember = self.store.policy().await?.remember_last_user;
                let mut results = Vec::with_capacity(device_names.len());
                for name in device_names {
                    results.push(match self.store.device_state(&Key::of(&name), now).await? {
                        Some(state) => DeviceUserResult::Exists {
                            name: state.device.name,
                            user: state.login.map(|l| l.user),
                            last_login: state.last_user.filter(|_| remember),
                            emcc: false,
                        },
                        None => DeviceUserResult::DoesNotExist { name },
                    });
                }
                Ok(EmResponse::DeviceUsers(results))
            }
            Query::UserDevices { user_ids } => {
                ids_allowed(&caller, &user_ids)?;
                let mut results = Vec::with_capacity(user_ids.len());
                for id in user_ids {
                    let key = Key::of(&id);
                    results.push(match self.store.user(&key).await? {
                        Some(user) => {
                            let devices: Vec<String> = self
                                .store
                                .user_logins(&key, now)
                                .await?
                                .into_iter()
                                .map(|l| l.device)
                                .collect();
                            let devices = if devices.is_empty() {
                                UserDevices::None
                            } else {
                                UserDevices::LoggedIn(devices)
                            };
                            UserDevicesResult {
                                user_id: user.id,
                                devices,
                            }
                        }
                        None => UserDevicesResult {
                            user_id: id,
                            devices: UserDevices::DoesNotExist,
                        },
                    });
                }
                Ok(EmResponse::UserDevices(results))
            }
            Query::DeviceProfile { user_ids } => {
                ids_allowed(&caller, &user_ids)?;
                let mut results = Vec::with_capacity(user_ids.len());
                for id in user_ids {
                    results.push(match self.store.user(&Key::of(&id)).await? {
                        Some(user) if user.profiles.is_empty() => DeviceProfileResult {
                            user_id: user.id,
                            profiles: UserProfiles::None,
                        },
                        Some(user) => {
                            let entries = user
                                .profiles
                                .into_iter()
                                .enumerate()
                                .map(|(i, name)| ProfileEntry {
                                    name,
                                    is_default: i == 0,
                                })
                                .collect();
                            DeviceProfileResult {
                                user_id: user.id,
                                profiles: UserProfiles::Profiles(entries),
                            }
                        }
                        None => DeviceProfileResult {
                            user_id: id,
                            profiles: UserProfiles::DoesNotExist,
                        },
                    });
                }
                Ok(EmResponse::DeviceProfiles(results))
            }
            Query::CheckUser { user_ids } => {
                ids_allowed(&caller, &user_ids)?;
                let mut results = Vec::with_capacity(user_ids.len());
                for id in user_ids {
                    results.push(match self.store.user(&Key::of(&id)).await? {
                        Some(user) => CheckUserResult {
                            user_id: user.id,
                            exists: true,
                        },
                        None => CheckUserResult {
                            user_id: id,
                            exists: false,
                        },
                    });
                }
                Ok(EmResponse::CheckUser(results))
            }
        }
    }
}

fn ids_allowed(caller: &super::Caller, ids: &[String]) -> Result<(), EmError> {
    ids.iter().try_for_each(|id| caller.may_act_for(id))
}
