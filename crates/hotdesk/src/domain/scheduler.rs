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

/// Run until `shutdown` is notified.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    shutdown: Arc<Notify>,
) {
    loop {
        if let Err(e) = expire_now(store.as_ref(), clock.as_ref()).await {
            tracing::error!(error = %e, "auto-logout pass failed; retrying shortly");
        }
        let next = match store.next_deadline().await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the next deadline; retrying shortly");
                Some(clock.now().plus(Duration::from_secs(1)))
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
