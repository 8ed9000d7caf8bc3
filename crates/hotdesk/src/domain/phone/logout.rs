//! The Logout soft key of the logged-in screen.

use super::{
    LoginType, PHONE, PhoneError, PhoneService, check_device, phone_origin, required_device,
};
use crate::domain::em::RequestContext;
use crate::domain::model::{Key, Login};
use crate::domain::store::run_read;

impl PhoneService {
    /// End the login on `device`. The soft key names the user it was shown for: if someone
    /// else has logged in since, the key is stale and ends nothing (code 19).
    pub async fn logout(
        &self,
        device: Option<&str>,
        user: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Login, PhoneError> {
        let device = required_device(device)?;
        let key = Key::of(&device);
        let (policy, found) = run_read(self.store.as_ref(), move |r| {
            Ok((r.policy()?, r.device(&key)?))
        })
        .await?;
        check_device(&policy, found.as_ref(), &device)?;
        let request = hotdesk_proto::Logout {
            device_name: device,
            origin: phone_origin(LoginType::UserId),
        };
        let expect = user.filter(|u| !u.is_empty()).map(Key::of);
        Ok(self.em.logout_for(PHONE, request, expect, ctx).await?)
    }
}
