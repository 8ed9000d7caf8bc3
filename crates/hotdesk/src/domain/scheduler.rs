//! The auto-logout scheduler: one task that sleeps until the next deadline in the store, is
//! woken early by a new login (a `Notify`, as mini-redis's purge task), and ends what is due.
//! Deadlines live in the store, so a restart loses none: the first pass runs at start-up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::clock::Clock;
use super::em::expire_due;
use super::model::Login;
use super::run_tx;
use super::store::{Store, StoreError};

/// End every login due now, in one transaction. Returns what it ended.
pub async fn expire_now(store: &dyn Store, clock: &dyn Clock) -> Result<Vec<Login>, StoreError> {
    let now = clock.now();
    let ended = run_tx(store, move |tx| {
        expire_due(tx, now).map(Ok::<_, StoreError>)
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
    wake: Arc<Notify>,
    shutdown: Arc<Notify>,
) {
    let mut retry = FIRST_RETRY;
    loop {
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
        let sleep = async {
            match next {
                Some(deadline) => clock.sleep_until(deadline).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = wake.notified() => {}
            _ = shutdown.notified() => return,
        }
    }
}
