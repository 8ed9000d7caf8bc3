//! Keeping the events table from growing without end: events older than a number of days go,
//! except those a subscribed session has not been sent yet.

use std::time::Duration;

use super::clock::{Clock, Timestamp};
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
    let removed = prune_events_before(store, before).await?;
    tracing::info!(removed, days, "pruned old events");
    Ok(removed)
}

/// Delete the events from before `before` that every subscriber has been sent.
pub async fn prune_events_before(store: &dyn Store, before: Timestamp) -> Result<u64, StoreError> {
    run_tx(store, move |tx| {
        // Nothing a subscriber has not been sent; with no subscriber, everything old.
        let through = match tx.min_subscription_cursor()? {
            Some(cursor) => cursor,
            None => tx.last_event_seq()?,
        };
        tx.prune_events(before, through).map(Ok::<u64, StoreError>)
    })
    .await?
}
