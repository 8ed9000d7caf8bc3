//! The outbox of events, over any engine. Numbering is the engine's ([`Engine::append_event`]).

use super::{Conn, Engine, Sql, args};
use crate::domain::{
    DeviceProfile, EffectiveProfile, NewEvent, OutboxTx, StoreError, StoreResult, Timestamp,
};

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

/// The columns of an event row, in the order [`insert_events`] binds them.
const EVENT_COLUMNS: &str = r#"seq, at, kind, actor, device, "user", profile, detail, state"#;
const COLUMNS: usize = 9;

/// Write `events` numbered from `first` on (`None`: the engine numbers them), in one statement
/// per chunk of a few fixed sizes (so that each connection prepares at most three texts): a
/// logoutAll of thousands of logins is tens of round trips, not thousands.
pub(crate) fn insert_events(
    c: &mut impl Conn,
    first: Option<i64>,
    events: &[NewEvent],
) -> StoreResult<()> {
    const CHUNKS: [usize; 3] = [256, 16, 1];
    let states: Vec<Option<String>> = events
        .iter()
        .map(|e| e.state.as_ref().map(state_json))
        .collect();
    let mut done = 0;
    for size in CHUNKS {
        while events.len() - done >= size {
            let rows: Vec<String> = (0..size)
                .map(|r| {
                    let p: Vec<String> = (1..=COLUMNS)
                        .map(|i| format!("${}", r * COLUMNS + i))
                        .collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES {}",
                rows.join(", ")
            );
            let mut values = Vec::with_capacity(size * COLUMNS);
            for (i, e) in events[done..done + size].iter().enumerate() {
                values.extend_from_slice(args![
                    first.map(|f| f + (done + i) as i64),
                    e.at,
                    e.kind.as_str(),
                    e.actor.as_deref(),
                    e.device.as_deref(),
                    e.user.as_deref(),
                    e.profile.as_deref(),
                    e.detail.as_deref(),
                    states[done + i].as_deref(),
                ]);
            }
            c.execute(&sql, &values)?;
            done += size;
        }
    }
    Ok(())
}

/// A device's configuration as an event keeps it: JSON, so that the event table has one
/// column for it whatever a profile holds.
fn state_json(s: &EffectiveProfile) -> String {
    let profile = s.profile.as_ref().map(|p| {
        serde_json::json!({
            "name": p.name.as_str(),
            "description": p.description,
            "lines": p.lines,
        })
    });
    serde_json::json!({
        "user": s.user.as_ref().map(|u| u.as_str()),
        "profile": profile,
        "since": s.logged_in_at.map(|t| t.0),
        "until": s.deadline.map(|t| t.0),
    })
    .to_string()
}

/// The configuration an event kept; an error that says so if it is not one.
pub(crate) fn state_from(text: &str) -> StoreResult<EffectiveProfile> {
    let bad = || StoreError::Database("an event's state is not one this build reads".into());
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let text_of = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let time = |v: &serde_json::Value| v.as_i64().map(Timestamp);
    let profile = match &v["profile"] {
        serde_json::Value::Null => None,
        p => Some(DeviceProfile {
            name: text_of(&p["name"]).ok_or_else(bad)?.into(),
            description: text_of(&p["description"]),
            lines: p["lines"]
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|l| text_of(l).ok_or_else(bad))
                .collect::<StoreResult<_>>()?,
        }),
    };
    Ok(EffectiveProfile {
        user: text_of(&v["user"]).map(Into::into),
        profile,
        logged_in_at: time(&v["since"]),
        deadline: time(&v["until"]),
    })
}
