//! Keeping the events table from growing without end: events older than a number of days go,
//! except those a subscribed session has not been sent yet.

use std::time::Duration;

use super::clock::Clock;
use super::run_tx;
use super::store::{Store, StoreError};

/// Delete the events older than `days` days; returns how many went.
pub async fn prune_events(
    store: &dyn Store,
    clock: &dyn Clock,
    days: u32,
) -> Result<u64, StoreError> {
    let before = clock
        .now()
        .minus(Duration::from_secs(u64::from(days) * 86_400));
    let removed = run_tx(store, move |tx| {
        tx.prune_events(before).map(Ok::<u64, StoreError>)
    })
    .await??;
    tracing::info!(removed, days, "pruned old events");
    Ok(removed)
}
