//! A submitted user ID (or extension) and PIN: find the user, check the PIN, then log in at
//! once with the user's one profile, or offer a menu of several.

use super::{
    LoggedIn, LoginOutcome, LoginType, PHONE, PhoneError, PhoneService, ProfileChoice,
    check_device, phone_origin, required_device, required_field,
};
use crate::domain::em::{RequestContext, check_origin, may_take};
use crate::domain::error::EmError;
use crate::domain::model::{Key, User};
use crate::domain::store::run_lookup;

impl PhoneService {
    /// Codes in this order: 207, 215, 202 (blank), the device (11, 22), the address (28, 30),
    /// the user (23, or 216 for a shared extension), the PIN (201), a profile (12), then the EM
    /// login's own (18, 25, 26; checked before a profile menu is offered too).
    pub async fn login(
        &self,
        device: Option<&str>,
        login_type: Option<&str>,
        id: Option<&str>,
        pin: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome, PhoneError> {
        let device = required_device(device)?;
        let login_type = LoginType::parse(login_type)?;
        let typed = required_field(id)?.trim().to_string();
        let pin = required_field(pin)?;
        let device_key = Key::of(&device);
        let wanted = typed.clone();
        let now = self.now();
        let (policy, found, users, profiles, occupied) =
            run_lookup(self.store.as_ref(), move |r| {
                let policy = r.policy()?;
                let users = match login_type {
                    LoginType::UserId => r.user(&Key::of(&wanted))?.into_iter().collect(),
                    // Two are enough to know the extension is shared.
                    LoginType::Extension => r.users_with_extension(&wanted, 2)?,
                };
                let (profiles, occupied) = match users.as_slice() {
                    [user] => {
                        let mut profiles = Vec::with_capacity(user.profiles.len());
                        for name in &user.profiles {
                            if let Some(p) = r.profile(&Key::of(name))? {
                                profiles.push(ProfileChoice {
                                    name: p.name.into(),
                                    description: p.description,
                                });
                            }
                        }
                        let user_key = user.id.key();
                        // Whether the login could land, as the EM login will check it: a person
                        // is not asked to pick a profile for a login that would be refused.
                        let current = r.device_state(&device_key, now)?.and_then(|s| s.login);
                        let occupied = may_take(
                            current.as_ref(),
                            r.user_logins(&user_key, now)?,
                            &device_key,
                            &user_key,
                            policy.multiple_login,
                            now,
                        )
                        .err();
                        (profiles, occupied)
                    }
                    _ => (Vec::new(), None),
                };
                Ok((policy, r.device(&device_key)?, users, profiles, occupied))
            })
            .await?;
        check_device(&policy, found.as_ref(), &device)?;
        // Before any user or PIN is looked at: an address the policy does not trust learns
        // nothing, and cannot lock anybody's PIN.
        check_origin(&policy, &phone_origin(login_type), ctx)?;
        self.check_throttle(ctx.peer)?;
        let device = found.map_or(device, |d| d.name.into());
        let user = match <[User; 1]>::try_from(users) {
            Ok([user]) => user,
            Err(users) if users.is_empty() => {
                return Err(self.failed(ctx.peer, EmError::UserNotFound(typed).into()));
            }
            Err(_) => return Err(PhoneError::SharedExtension),
        };
        self.check_pin(&user, pin, &device)
            .await
            .map_err(|e| self.failed(ctx.peer, e))?;
        match profiles.len() {
            // The EM login below decides for a single profile, in its transaction.
            n if n > 1 && occupied.is_some() => Err(occupied.expect("checked").into()),
            0 => Err(EmError::ProfileNotFound.into()),
            1 => {
                let profile = profiles.into_iter().next().expect("one profile").name;
                let name = user.name.clone();
                self.log_in(&device, user.id.into(), name, profile, login_type, ctx)
                    .await
                    .map(LoginOutcome::LoggedIn)
            }
            _ => self.offer_menu(&device, &user.id, profiles).await,
        }
    }

    /// The EM login itself: [`crate::domain::EmService`]'s rules, with the phone as actor.
    pub(super) async fn log_in(
        &self,
        device: &str,
        user: String,
        name: Option<String>,
        profile: String,
        login_type: LoginType,
        ctx: &RequestContext,
    ) -> Result<LoggedIn, PhoneError> {
        let request = hotdesk_proto::Login {
            device_name: device.to_string(),
            user_id: user.clone(),
            device_profile: Some(profile.clone()),
            // The user's and the policy's maximum apply; a phone asks for no time of its own.
            exclusive_duration: None,
            origin: phone_origin(login_type),
        };
        self.em.login_for(PHONE, request, ctx).await?;
        Ok(LoggedIn {
            device: device.to_string(),
            user,
            name,
            profile,
        })
    }
}
