//! The rules of Extension Mobility, as functions over a [`Store`] and a [`Clock`].
//!
//! Nothing here knows HTTP, SQL or a particular database: the wire layer parses a request into
//! `hotdesk_proto` types and hands it to [`EmService`]; the store backends implement [`Store`].

pub mod admin;
pub mod clock;
pub mod directory;
pub mod directory_csv;
pub mod directory_source;
mod em;
pub mod error;
pub mod feed;
pub mod model;
pub mod phone;
pub mod pin;
pub mod provision;
pub mod retention;
pub mod scheduler;
pub mod secrets;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use em::{
    Caller, EmService, MAX_APP_FAILURES_PER_ADDRESS, MAX_APP_FAILURES_PER_NAME, RequestContext,
};
pub use error::EmError;
pub use model::*;
pub use store::{
    ChangeSetTx, DeviceLock, DirectoryTx, EventQuery, Gauges, LoginTx, Lookup, OutboxTx, PhoneTx,
    ReadJob, Reader, SessionTx, Store, StoreError, StoreResult, Tx, TxJob, TxOutcome, UserLock,
    WriterStats, run_lookup, run_read,
};

/// Run `rule` inside one store transaction and hand back its typed result. `Ok` commits the
/// rule's writes; `Err` rolls them back (the rule said no) and is returned as is.
pub async fn run_tx<T, E, F>(store: &dyn Store, rule: F) -> Result<Result<T, E>, StoreError>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&mut dyn Tx) -> StoreResult<Result<T, E>> + Send + 'static,
{
    let mut rule = rule;
    let job: TxJob = Box::new(move |tx: &mut dyn Tx| {
        let result = rule(tx)?;
        Ok(TxOutcome {
            commit: result.is_ok(),
            output: Box::new(result),
        })
    });
    let output = store.transact(job).await?;
    output
        .downcast::<Result<T, E>>()
        .map(|b| *b)
        .map_err(|_| StoreError::Database("a transaction returned an unexpected type".into()))
}
