//! The change-PIN service (`ChangeCredentialServlet`): user ID, old PIN, new PIN twice.

use super::{
    LoginType, PHONE, PhoneError, PhoneService, check_device, phone_origin, required_device,
    required_field,
};
use crate::domain::em::{RequestContext, check_origin};
use crate::domain::error::EmError;
use crate::domain::model::{EventKind, Key, MAX_PIN_DIGITS, NewEvent};
use crate::domain::pin;
use crate::domain::run_tx;
use crate::domain::store::run_lookup;

impl PhoneService {
    /// The form of the change-PIN service: shown on a device that takes EM logins, from an
    /// address the policy trusts, as the login form is.
    pub async fn change_pin_form(
        &self,
        device: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<String, PhoneError> {
        self.usable_device(device, LoginType::UserId, ctx).await
    }

    /// After the device and the address (as for a login) and the user (23), the new PIN is
    /// checked (digits, `policy.min_pin_length`, typed the same twice, not the old one), so a
    /// typing slip costs no PIN try; then the old PIN, with the same lockout as a login. The
    /// change and its event commit together, and end any lockout.
    pub async fn change_pin(
        &self,
        device: Option<&str>,
        id: Option<&str>,
        old: Option<&str>,
        new: Option<&str>,
        again: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<String, PhoneError> {
        let device = required_device(device)?;
        let typed = required_field(id)?.trim().to_string();
        let (old, new, again) = (
            required_field(old)?,
            required_field(new)?,
            required_field(again)?,
        );
        let (device_key, user_key) = (Key::of(&device), Key::of(&typed));
        let (policy, found, user) = run_lookup(self.store.as_ref(), move |r| {
            Ok((r.policy()?, r.device(&device_key)?, r.user(&user_key)?))
        })
        .await?;
        check_device(&policy, found.as_ref(), &device)?;
        check_origin(&policy, &phone_origin(LoginType::UserId), ctx)?;
        self.check_throttle(ctx.peer)?;
        let user =
            user.ok_or_else(|| self.failed(ctx.peer, EmError::UserNotFound(typed.clone()).into()))?;
        if new != again {
            return Err(PhoneError::PinMismatch);
        }
        if pin::check_digits(new).is_err() {
            return Err(PhoneError::PinNotDigits);
        }
        if new.len() < policy.min_pin_length as usize {
            return Err(PhoneError::PinTooShort(policy.min_pin_length));
        }
        debug_assert!(new.len() <= MAX_PIN_DIGITS);
        if new == old {
            return Err(PhoneError::PinUnchanged);
        }
        self.check_pin(&user, old, &device)
            .await
            .map_err(|e| self.failed(ctx.peer, e))?;
        let key = user.id.key();
        let hash = self.pin_key.hash(&key, new);
        let now = self.now();
        let (user_id, device_name) = (user.id.clone(), device.clone());
        run_tx(self.store.as_ref(), move |tx| {
            tx.lock_user(&key)?;
            if !tx.set_pin_hash(&key, &hash)? {
                return Ok(Err(EmError::UserNotFound(user_id.to_string()).into()));
            }
            tx.put_pin_guard(&key, None)?;
            let mut event = NewEvent::new(now, EventKind::ConfigChange)
                .detail(format!("PIN changed at the phone {device_name}"));
            event.actor = Some(PHONE.to_string());
            event.user = Some(user_id.to_string());
            event.device = Some(device_name.clone());
            tx.append_event(&event)?;
            Ok(Ok::<(), PhoneError>(()))
        })
        .await??;
        Ok(user.id.into())
    }
}
