//! Auto-logout: ending logins whose deadline has come.

use crate::domain::clock::Timestamp;
use crate::domain::model::{EventKind, Login, NewEvent};
use crate::domain::store::{StoreResult, Tx};

/// Who the events of an auto-logout name as their actor.
pub const SCHEDULER: &str = "scheduler";

/// End every login due at `now`, in the caller's transaction, each with its `autoLogout` event.
/// Every write runs this first, so a due login never blocks a device, nor is overwritten or
/// logged out as if it were live, even if the scheduler is late; on several nodes the delete
/// decides which transaction ends a login, so it ends once. The store hands them over a batch
/// at a time; this takes batches until none is left (almost always the first is empty).
pub(crate) fn expire_due(tx: &mut dyn Tx, now: Timestamp) -> StoreResult<Vec<Login>> {
    let mut ended = Vec::new();
    loop {
        let batch = expire_batch(tx, now)?;
        if batch.is_empty() {
            return Ok(ended);
        }
        ended.extend(batch);
    }
}

/// End one batch of the logins due at `now` (at most a thousand, the earliest first): the
/// scheduler's pass, which is run again while any is due, so that a mass expiry is a series of
/// short transactions rather than one long one that every write queues behind.
pub(crate) fn expire_batch(tx: &mut dyn Tx, now: Timestamp) -> StoreResult<Vec<Login>> {
    let ended = tx.remove_due_logins(now)?;
    for login in &ended {
        end_login(
            tx,
            login,
            now,
            EventKind::AutoLogout,
            SCHEDULER,
            Some("deadline reached"),
        )?;
    }
    Ok(ended)
}

/// The bookkeeping of any ended login: remember the device's last user and append the event.
pub(crate) fn end_login(
    tx: &mut dyn Tx,
    login: &Login,
    now: Timestamp,
    kind: EventKind,
    actor: &str,
    detail: Option<&str>,
) -> StoreResult<()> {
    let device = tx.set_last_user(&login.device.key(), &login.user)?;
    let mut event = NewEvent::for_login(now, kind, login, actor);
    event.detail = detail.map(str::to_string);
    // The device with nobody on it, as `configuration::after_event` describes it; `None` for
    // a device that is gone.
    event.state = device
        .map(|d| super::configuration::effective_profile(tx, &d, None))
        .transpose()?;
    tx.append_event(&event)?;
    Ok(())
}
