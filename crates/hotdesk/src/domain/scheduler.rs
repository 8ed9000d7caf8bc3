//! The auto-logout scheduler: one task that sleeps until the next deadline in the store, is
//! woken early by a new login (a `Notify`, as mini-redis's purge task), and ends what is due.
//! Deadlines live in the store, so a restart loses none: the first pass runs at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::clock::{Clock, Timestamp};
use super::em::expire_batch;
use super::model::Login;
use super::run_tx;
use super::store::{Store, StoreError};

/// How writers tell the scheduler of new deadlines. It wakes only for a deadline earlier than
/// the one it sleeps until: a login of an hour does not need a pass (a write transaction and a
/// read) now, and at thousands of logins a second those passes cost more than the logins.
#[derive(Debug)]
pub struct Deadlines {
    wake: Notify,
    /// What the scheduler sleeps until (ms). `i64::MAX`, so that every deadline wakes it, when
    /// it has none, and while a pass runs: a deadline committed then may be one the pass's
    /// read missed.
    sleeping_until: AtomicI64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            wake: Notify::new(),
            sleeping_until: AtomicI64::new(i64::MAX),
        }
    }
}

impl Deadlines {
    /// A login with this deadline was committed.
    pub fn added(&self, at: Timestamp) {
        if at.0 < self.sleeping_until.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// Look at the store again whatever it holds (another node changed the logins).
    pub fn changed(&self) {
        self.wake.notify_one();
    }
}

/// End a batch of the logins due now (at most a thousand), in one transaction. Returns what
/// it ended; while logins are still due the scheduler's next deadline is now, so it runs again.
pub async fn expire_now(store: &dyn Store, clock: &dyn Clock) -> Result<Vec<Login>, StoreError> {
    let now = clock.now();
    let ended = run_tx(store, move |tx| {
        expire_batch(tx, now).map(Ok::<_, StoreError>)
    })
    .await??;
    for login in &ended {
        tracing::info!(device = %login.device, user = %login.user, "auto-logout: deadline reached");
    }
    Ok(ended)
}

/// The first pause after a failed pass; each further failure doubles it, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Run until `shutdown` is notified.
///
/// A pass that fails (the database refuses writes) is tried again after a pause that grows,
/// not at once: the due deadline it failed on is still due, and retrying it in a loop would
/// spin a core and flood the log while the database is down. A login that arrives meanwhile
/// still wakes the task.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    deadlines: Arc<Deadlines>,
    shutdown: Arc<Notify>,
) {
    let mut retry = FIRST_RETRY;
    loop {
        deadlines.sleeping_until.store(i64::MAX, Ordering::SeqCst);
        let next = match expire_now(store.as_ref(), clock.as_ref()).await {
            Ok(_) => store
                .next_deadline()
                .await
                .map_err(|e| ("read the next deadline", e)),
            Err(e) => Err(("end the due logins", e)),
        };
        let next = match next {
            Ok(next) => {
                retry = FIRST_RETRY;
                next
            }
            Err((what, e)) => {
                tracing::error!(error = %e, "auto-logout cannot {what}; retrying in {retry:?}");
                let at = clock.now().plus(retry);
                retry = (retry * 2).min(MAX_RETRY);
                Some(at)
            }
        };
        deadlines
            .sleeping_until
            .store(next.map_or(i64::MAX, |t| t.0), Ordering::SeqCst);
        let sleep = async {
            match next {
                Some(deadline) => clock.sleep_until(deadline).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = deadlines.wake.notified() => {}
            _ = shutdown.notified() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn woken(d: &Deadlines) -> bool {
        d.wake.notified().now_or_never().is_some()
    }

    #[test]
    fn a_later_deadline_lets_the_scheduler_sleep_an_earlier_one_wakes_it() {
        let d = Deadlines::default();
        d.added(Timestamp(5_000));
        assert!(woken(&d), "before the first pass, every deadline wakes it");
        d.sleeping_until.store(5_000, Ordering::SeqCst);
        d.added(Timestamp(9_000));
        d.added(Timestamp(5_000));
        assert!(!woken(&d), "not earlier than what it sleeps until");
        d.added(Timestamp(4_999));
        assert!(woken(&d));
        d.sleeping_until.store(i64::MAX, Ordering::SeqCst);
        d.added(Timestamp(i64::MAX - 1));
        assert!(woken(&d), "with nothing to wait for, any deadline wakes it");
        d.changed();
        assert!(woken(&d), "another node's change always does");
    }
}
