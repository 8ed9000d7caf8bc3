//! The outbox of events, over any engine. Numbering is the engine's ([`Engine::append_event`]).

use super::{Conn, Engine, Sql, args};
use crate::domain::{NewEvent, OutboxTx, StoreResult, Timestamp};

impl<E: Engine> OutboxTx for Sql<E> {
    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        self.0.append_event(event)
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        self.0.last_event_seq()
    }

    fn prune_events(&mut self, before: Timestamp, through: i64) -> StoreResult<u64> {
        self.0.execute(
            "DELETE FROM events WHERE at < $1 AND seq <= $2",
            args![before, through],
        )
    }

    fn min_subscription_cursor(&mut self) -> StoreResult<Option<i64>> {
        self.0
            .query_one("SELECT MIN(events_after) FROM admin_sessions", args![])?
            .get()
    }
}

/// The statement that writes one event with its number, `$1` to `$8`.
pub(crate) const INSERT_EVENT: &str = r#"INSERT INTO events (seq, at, kind, actor, device, "user", profile, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#;

/// Write `event` as number `seq` (`None`: the engine numbers it).
pub(crate) fn insert_event(c: &mut impl Conn, seq: Option<i64>, e: &NewEvent) -> StoreResult<()> {
    c.execute(
        INSERT_EVENT,
        args![
            seq,
            e.at,
            e.kind.as_str(),
            e.actor.as_deref(),
            e.device.as_deref(),
            e.user.as_deref(),
            e.profile.as_deref(),
            e.detail.as_deref(),
        ],
    )?;
    Ok(())
}
