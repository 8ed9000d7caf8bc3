//! The PIN check every phone step that takes a PIN goes through. A try is counted in the store
//! before the PIN is checked (so concurrent guesses, on one node or many, get five checks
//! between them), a wrong one may lock the PIN, a right one forgets them all. A right PIN of
//! the older argon2 scheme is rewritten under the secret key.

use super::{PHONE, PhoneError, PhoneService};
use crate::domain::error::EmError;
use crate::domain::model::{EventKind, NewEvent, User};
use crate::domain::pin::{self, PinCheck};
use crate::domain::run_tx;

impl PhoneService {
    /// Check `typed` against the user's PIN; `device` is named in a lockout's event.
    pub(super) async fn check_pin(
        &self,
        user: &User,
        typed: &str,
        device: &str,
    ) -> Result<(), PhoneError> {
        let now = self.now();
        let Some(stored) = user.pin_hash.clone() else {
            return Err(PhoneError::Authentication("the user has no PIN"));
        };
        let key = user.id.key();
        let user_key = key.clone();
        run_tx(self.store.as_ref(), move |tx| {
            tx.lock_user(&user_key)?;
            match pin::take_try(tx.pin_guard(&user_key)?, now) {
                None => Ok(Err(PhoneError::Authentication("the PIN is locked"))),
                Some(guard) => {
                    tx.put_pin_guard(&user_key, Some(&guard))?;
                    Ok(Ok(()))
                }
            }
        })
        .await??;
        let check = if pin::needs_slow_check(&stored) {
            // argon2 takes a core and ~19 MiB: past one run per core, say busy (26) rather
            // than queue without bound.
            let _slot = self
                .slow_checks
                .try_acquire()
                .map_err(|_| PhoneError::Em(EmError::Busy))?;
            let (pin_key, key, typed, stored) = (
                self.pin_key.clone(),
                key.clone(),
                typed.to_string(),
                stored.clone(),
            );
            tokio::task::spawn_blocking(move || pin_key.check(&key, &typed, &stored))
                .await
                .map_err(|e| {
                    PhoneError::Em(EmError::Store(crate::domain::StoreError::Database(
                        format!("the PIN check failed: {e}"),
                    )))
                })?
        } else {
            self.pin_key.check(&key, typed, &stored)
        };
        if check == PinCheck::Wrong {
            let (user_id, at) = (user.id.clone(), device.to_string());
            let locked = run_tx(self.store.as_ref(), move |tx| {
                tx.lock_user(&key)?;
                let Some((guard, locked)) = pin::after_wrong_pin(tx.pin_guard(&key)?, now) else {
                    return Ok(Ok(false));
                };
                if locked {
                    tx.put_pin_guard(&key, Some(&guard))?;
                    let mut event = NewEvent::new(now, EventKind::PinLockout).detail(format!(
                        "{} wrong PINs within {} minutes",
                        guard.failures,
                        pin::GUESS_WINDOW_MS / 60_000
                    ));
                    event.actor = Some(PHONE.to_string());
                    event.user = Some(user_id.to_string());
                    event.device = Some(at.clone());
                    tx.append_event(&event)?;
                }
                Ok(Ok::<bool, PhoneError>(locked))
            })
            .await??;
            if locked {
                tracing::warn!(user = %user.id, device, "PIN locked after too many wrong PINs");
            }
            return Err(PhoneError::Authentication("wrong PIN"));
        }
        let rewrite =
            (check == PinCheck::RightOldScheme).then(|| (stored, self.pin_key.hash(&key, typed)));
        run_tx(self.store.as_ref(), move |tx| {
            tx.lock_user(&key)?;
            tx.put_pin_guard(&key, None)?;
            if let Some((old, new)) = &rewrite
                && tx.user(&key)?.and_then(|u| u.pin_hash).as_ref() == Some(old)
            {
                tx.set_pin_hash(&key, new)?;
            }
            Ok(Ok::<(), PhoneError>(()))
        })
        .await?
    }
}
