//! PostgreSQL as an [`Engine`] of the shared SQL: many nodes, one database.
//!
//! Writes run at READ COMMITTED. What makes a rule that reads then writes safe across nodes is
//! locking (the order is [`crate::domain::Tx`]'s): each lock is a transaction-scoped advisory
//! lock. Events are written unnumbered, last, just before COMMIT; after it, [`NUMBER_EVENTS`]
//! numbers them and the other nodes are notified ([`AfterCommit`], [`super::schema`]).

use super::conn::Db;
use crate::domain::{NewEvent, StoreError, StoreResult};
use crate::store::sql::{Cell, Conn, Engine, Row, Value, args, login_columns, outbox};
use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The cause chain holds what matters (refused, reset, the server's message).
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        use postgres::error::SqlState;
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Conflict(text)
            }
            _ => StoreError::Database(text),
        }
    }
}

/// PostgreSQL types its parameters from the statement: an integer goes out as the column's
/// width (positions are INTEGER, times BIGINT), checked, never truncated.
impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Bool(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// One transaction on a pooled connection, with what the job leaves for its commit.
pub(super) struct Pg<'a, 't> {
    db: Db<'a, 't>,
    /// Events appended by the job, written just before COMMIT.
    events: Vec<NewEvent>,
    /// A login was written: other nodes' schedulers must look at the deadlines again.
    logins_changed: bool,
}

impl<'a, 't> Pg<'a, 't> {
    pub(super) fn new(db: Db<'a, 't>) -> Self {
        Pg {
            db,
            events: Vec::new(),
            logins_changed: false,
        }
    }

    /// What the job leaves to do before COMMIT: write the buffered events, without numbers.
    /// Answers what must follow the COMMIT ([`super::Pool::wait_numbered`]).
    pub(super) fn finish(&mut self) -> StoreResult<AfterCommit> {
        let after = AfterCommit {
            events: !self.events.is_empty(),
            logins: self.logins_changed,
        };
        if after.events {
            let events = std::mem::take(&mut self.events);
            outbox::insert_events(self, None, &events)?;
        }
        Ok(after)
    }
}

/// What a committed write leaves to do: number its events, tell the other nodes' schedulers
/// that a login changed.
///
/// Neither is done inside the writing transaction. A NOTIFY takes PostgreSQL's one lock on
/// the notification queue at commit and holds it until the commit is flushed, so writers that
/// notify commit one at a time (seen as `Lock:object` waits in `pg_stat_activity`); done
/// after the COMMIT, by the one numbering pass that covers many commits, it costs one flush
/// per pass instead of one at a time per write.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AfterCommit {
    pub events: bool,
    pub logins: bool,
}

impl AfterCommit {
    pub(super) fn is_empty(self) -> bool {
        !self.events && !self.logins
    }
}

/// Number every committed event that has no number yet, in the order they were written, and
/// wake the nodes that deliver events; one round trip, its own transaction ([`LOGINS_CHANGED`]
/// may follow in the same one).
///
/// Why after the COMMIT and not in the writing transaction: a number must follow commit order
/// (a reader paging "after N" must never meet a smaller number later), and taking it inside
/// the transaction held the counter's row through the COMMIT's flush, one commit at a time
/// (~750 logins/s). Here writers commit together and one numbering covers them all: the lock
/// serializes numberings only, and the second statement, started once the lock is held, sees
/// every event committed before it, numbered or not, with nobody else numbering.
///
/// An event written by a transaction that committed after the statement began is left for the
/// writer's own numbering, which waits for the lock and then sees it. A writer that died
/// between its COMMIT and its numbering leaves its events to the next one (any write with
/// events, or a node starting).
pub(super) const NUMBER_EVENTS: &str = concat!(
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':event numbers', 0));
     WITH todo AS (
         SELECT id, row_number() OVER (ORDER BY id) AS n FROM events WHERE seq IS NULL),
     base AS (SELECT last FROM event_counter WHERE id = 1),
     numbered AS (
         UPDATE events e SET seq = base.last + todo.n FROM todo, base WHERE e.id = todo.id
         RETURNING 1)
     UPDATE event_counter SET last = last + (SELECT count(*) FROM numbered)
     WHERE id = 1 AND EXISTS (SELECT 1 FROM numbered)
     RETURNING pg_notify('",
    super::events_channel!(),
    "', '');"
);

/// Wake the other nodes' schedulers: a login with a deadline changed. Sent after the COMMIT of
/// the write, with its numbering ([`AfterCommit`]).
pub(super) const LOGINS_CHANGED: &str =
    concat!("SELECT pg_notify('", super::logins_channel!(), "', '');");

impl Conn for Pg<'_, '_> {
    fn execute(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<u64> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|v| v as _).collect();
        Ok(self.db.execute(sql, &params)?)
    }

    fn query(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Vec<Row>> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|v| v as _).collect();
        let rows = self.db.query(sql, &params)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut cells = Vec::with_capacity(r.len());
            for (i, column) in r.columns().iter().enumerate() {
                let ty = column.type_();
                let cell = if *ty == Type::BOOL {
                    r.try_get::<_, Option<bool>>(i)?.map(Cell::Bool)
                } else if *ty == Type::INT8 {
                    r.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
                } else if *ty == Type::INT4 {
                    r.try_get::<_, Option<i32>>(i)?.map(|v| Cell::Int(v.into()))
                } else if *ty == Type::INT2 {
                    r.try_get::<_, Option<i16>>(i)?.map(|v| Cell::Int(v.into()))
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
                    r.try_get::<_, Option<String>>(i)?.map(Cell::Text)
                } else {
                    Some(Cell::Other("a column type hotdesk does not store"))
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            out.push(Row::new(cells));
        }
        Ok(out)
    }
}

impl Engine for Pg<'_, '_> {
    const FIND: &'static str = "strpos";
    const BY_KEY: &'static str = r#"key COLLATE "C""#;

    /// Rows another node is ending right now are skipped, not waited for: that node's delete
    /// returns them, so each expiry happens exactly once and nobody queues behind it.
    const REMOVE_DUE_LOGINS: &'static str = concat!(
        "DELETE FROM logins WHERE device_key IN (
            SELECT device_key FROM logins WHERE expires_at <= $1
            ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        login_columns!()
    );

    /// Advisory locks live in one 64-bit space per database: the tag keeps a user and a device
    /// with the same name apart, and the schema two installations that share a database (as the
    /// tests do, a schema each) apart.
    fn lock(&mut self, tag: &str, key: &str, shared: bool) -> StoreResult<()> {
        let name = format!("{tag}:{key}");
        let sql = match shared {
            true => {
                "SELECT pg_advisory_xact_lock_shared(
                     hashtextextended(current_schema() || ':' || $1, 0))"
            }
            false => {
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1, 0))"
            }
        };
        self.execute(sql, args![&name])?;
        Ok(())
    }

    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        self.events.push(event.clone());
        Ok(())
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        self.query_one("SELECT last FROM event_counter WHERE id = 1", args![])?
            .get()
    }

    fn login_written(&mut self) {
        self.logins_changed = true;
    }
}
