//! The outbox as a live feed: one task per node follows the events as they commit and tells
//! whoever waits (the dashboard's streams) how far the outbox goes, and shows each event to
//! an observer (the metrics that count auto-logouts and PIN lockouts).
//!
//! Everything a stream sends it reads from the store after the number it last sent, so a
//! stream that falls behind, or reconnects with the last number it saw, misses nothing: the
//! feed only says "there is more". It wakes every [`POLL`], and at once when a shared database
//! announces new events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::model::Event;
use super::store::{Store, run_read};

/// How often the feed looks for new events (real time): a login reaches a dashboard this
/// late at most.
pub const POLL: Duration = Duration::from_millis(200);

/// Events read per look.
const BATCH: u32 = 500;

/// The newest event number this node has seen, for streams to wait on.
pub struct Feed {
    latest: watch::Sender<i64>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            latest: watch::channel(0).0,
        }
    }
}

impl Feed {
    /// The newest event number seen so far (0 before the first look).
    pub fn latest(&self) -> i64 {
        *self.latest.borrow()
    }

    /// Changes whenever newer events committed.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }
}

/// What sees each new event once, in order.
pub type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// Follow the outbox until `stop` is notified. The events before the start are not shown to
/// `observe`: counters count what happened while this node ran.
pub async fn run(store: Arc<dyn Store>, feed: Arc<Feed>, observe: Observer, stop: Arc<Notify>) {
    let changes = store.event_changes();
    let wait = || async {
        let notified = async {
            match &changes {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(POLL) => true,
            _ = notified => true,
            _ = stop.notified() => false,
        }
    };
    let mut cursor = loop {
        match run_read(store.as_ref(), |r| r.last_event_seq()).await {
            Ok(seq) => break seq,
            Err(e) => {
                tracing::warn!(error = %e, "event feed: the store does not answer; will retry")
            }
        }
        if !wait().await {
            return;
        }
    };
    feed.latest.send_replace(cursor);
    loop {
        let after = cursor;
        let full = match run_read(store.as_ref(), move |r| r.events_after(after, BATCH)).await {
            Ok(events) => {
                for event in &events {
                    observe(event);
                    cursor = event.seq;
                }
                feed.latest.send_if_modified(|latest| {
                    let newer = cursor > *latest;
                    *latest = (*latest).max(cursor);
                    newer
                });
                events.len() == BATCH as usize
            }
            Err(e) => {
                tracing::warn!(error = %e, "event feed: cannot read the events; will retry");
                false
            }
        };
        if !full && !wait().await {
            return;
        }
    }
}
