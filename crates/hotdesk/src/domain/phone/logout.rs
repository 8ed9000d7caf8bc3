//! The Logout soft key of the logged-in screen.

use super::{LoginType, PHONE, PhoneError, PhoneService, phone_origin};
use crate::domain::em::RequestContext;
use crate::domain::model::{Key, Login};

impl PhoneService {
    /// End the login on `device`. The soft key names the user it was shown for: if someone
    /// else has logged in since, the key is stale and ends nothing (code 19).
    pub async fn logout(
        &self,
        device: Option<&str>,
        user: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Login, PhoneError> {
        let device = self.usable_device(device, LoginType::UserId, ctx).await?;
        let request = hotdesk_proto::Logout {
            device_name: device,
            origin: phone_origin(LoginType::UserId),
        };
        let expect = user.filter(|u| !u.is_empty()).map(Key::of);
        Ok(self.em.logout_for(PHONE, request, expect, ctx).await?)
    }
}
