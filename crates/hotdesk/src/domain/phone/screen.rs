//! What a phone shows when the person opens the service: the login form, or who is logged in.

use super::{
    LoggedIn, LoginType, PhoneError, PhoneService, Screen, check_device, phone_origin,
    required_device,
};
use crate::domain::em::{RequestContext, check_origin};
use crate::domain::model::Key;
use crate::domain::store::run_lookup;

impl PhoneService {
    /// Code 207 without a device, 215 for a bad `loginType`; then the device must exist and
    /// take EM logins (11, 22), so a person is not asked for a PIN that cannot help.
    pub async fn screen(
        &self,
        device: Option<&str>,
        login_type: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Screen, PhoneError> {
        let device = required_device(device)?;
        let login_type = LoginType::parse(login_type)?;
        let now = self.now();
        let key = Key::of(&device);
        let (policy, state, user) = run_lookup(self.store.as_ref(), move |r| {
            let state = r.device_state(&key, now)?;
            let user = match state.as_ref().and_then(|s| s.login.as_ref()) {
                Some(login) => r.user(&login.user.key())?,
                None => None,
            };
            Ok((r.policy()?, state, user))
        })
        .await?;
        check_device(&policy, state.as_ref().map(|s| &s.device), &device)?;
        // Who sits where is not for an address the policy does not trust (28, 30).
        check_origin(&policy, &phone_origin(login_type), ctx)?;
        let state = state.expect("check_device found the device");
        Ok(match state.login {
            Some(login) => Screen::LoggedIn(LoggedIn {
                device: state.device.name.into(),
                name: user.and_then(|u| u.name),
                user: login.user.into(),
                profile: login.profile.into(),
            }),
            None => Screen::LoginForm {
                device: state.device.name.into(),
                login_type,
                // Cisco pre-fills the last user for user-ID logins only.
                last_user: state
                    .last_user
                    .filter(|_| policy.remember_last_user && login_type == LoginType::UserId),
            },
        })
    }
}
