//! The PIN check every phone step that takes a PIN goes through: refused while locked,
//! counted when wrong (in the store, so every node counts the same tries), forgotten when
//! right. A right PIN of the older argon2 scheme is rewritten under the secret key.

use super::{PHONE, PhoneError, PhoneService};
use crate::domain::model::{EventKind, Key, NewEvent, PinGuard, User};
use crate::domain::pin::{self, PinCheck};
use crate::domain::run_tx;

impl PhoneService {
    /// Check `typed` against the user's PIN. `guard` is the user's guard as read with the
    /// user; `device` is named in a lockout's event.
    pub(super) async fn check_pin(
        &self,
        user: &User,
        guard: Option<PinGuard>,
        typed: &str,
        device: &str,
    ) -> Result<(), PhoneError> {
        let now = self.now();
        if pin::is_locked(guard.as_ref(), now) {
            return Err(PhoneError::Authentication("the PIN is locked"));
        }
        let Some(stored) = user.pin_hash.clone() else {
            return Err(PhoneError::Authentication("the user has no PIN"));
        };
        let key = Key::of(&user.id);
        let check = if pin::needs_slow_check(&stored) {
            let _slot = self
                .slow_checks
                .acquire()
                .await
                .map_err(|_| PhoneError::Authentication("shutting down"))?;
            let (pin_key, key, typed, stored) = (
                self.pin_key.clone(),
                key.clone(),
                typed.to_string(),
                stored.clone(),
            );
            tokio::task::spawn_blocking(move || pin_key.check(&key, &typed, &stored))
                .await
                .unwrap_or(PinCheck::Wrong)
        } else {
            self.pin_key.check(&key, typed, &stored)
        };
        match check {
            PinCheck::Wrong => {
                let (user_id, at) = (user.id.clone(), device.to_string());
                let locked = run_tx(self.store.as_ref(), move |tx| {
                    tx.lock_user(&key)?;
                    let (guard, locked) = pin::after_wrong_pin(tx.pin_guard(&key)?, now);
                    tx.put_pin_guard(&key, Some(&guard))?;
                    if locked {
                        let mut event = NewEvent::new(now, EventKind::PinLockout).detail(format!(
                            "{} wrong PINs within {} minutes",
                            guard.failures,
                            pin::GUESS_WINDOW_MS / 60_000
                        ));
                        event.actor = Some(PHONE.to_string());
                        event.user = Some(user_id.clone());
                        event.device = Some(at.clone());
                        tx.append_event(&event)?;
                    }
                    Ok(Ok::<bool, PhoneError>(locked))
                })
                .await??;
                if locked {
                    tracing::warn!(user = %user.id, device, "PIN locked after too many wrong PINs");
                }
                Err(PhoneError::Authentication("wrong PIN"))
            }
            right => {
                let rewrite = (right == PinCheck::RightOldScheme)
                    .then(|| (stored, self.pin_key.hash(&key, typed)));
                if guard.is_none() && rewrite.is_none() {
                    return Ok(());
                }
                run_tx(self.store.as_ref(), move |tx| {
                    tx.lock_user(&key)?;
                    // Another node may have locked the PIN since it was read.
                    if pin::is_locked(tx.pin_guard(&key)?.as_ref(), now) {
                        return Ok(Err(PhoneError::Authentication("the PIN is locked")));
                    }
                    tx.put_pin_guard(&key, None)?;
                    if let Some((old, new)) = &rewrite
                        && tx.user(&key)?.and_then(|u| u.pin_hash).as_ref() == Some(old)
                    {
                        tx.set_pin_hash(&key, new)?;
                    }
                    Ok(Ok(()))
                })
                .await?
            }
        }
    }
}
