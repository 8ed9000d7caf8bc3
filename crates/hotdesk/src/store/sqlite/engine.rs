//! SQLite as an [`Engine`] of the shared SQL: one connection, one writer.
//!
//! The writer has already begun the transaction and a savepoint for the job
//! ([`super::writer`]); statements here never commit, roll back or release anything, so a job
//! cannot end the batch it shares with others.

use crate::domain::{NewEvent, StoreError, StoreResult};
use crate::store::sql::{Cell, Conn, Engine, Row, Value, args, login_columns, outbox};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::borrow::Cow;

/// Driver errors become the domain's one storage error (EM code 6); the message keeps
/// SQLite's own words for the log.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(v) => ToSqlOutput::from(v),
            Value::Bool(v) => ToSqlOutput::from(v),
            Value::Text(v) => ToSqlOutput::from(v),
        })
    }
}

/// One connection of the store, inside a transaction the store opened.
pub(super) struct Lite<'c>(pub(super) &'c Connection);

impl Lite<'_> {
    /// The shared SQL numbers parameters `$1`; SQLite reads `$1` as a *named* parameter
    /// numbered by first appearance, so it gets the `?1` it numbers by value.
    fn statement(&self, sql: &str) -> StoreResult<rusqlite::CachedStatement<'_>> {
        let sql = match sql.contains('$') {
            true => Cow::Owned(sql.replace('$', "?")),
            false => Cow::Borrowed(sql),
        };
        Ok(self.0.prepare_cached(&sql)?)
    }
}

impl Conn for Lite<'_> {
    fn execute(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<u64> {
        let mut st = self.statement(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(args))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Vec<Row>> {
        let mut st = self.statement(sql)?;
        let columns = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) => match std::str::from_utf8(t) {
                        Ok(s) => Cell::Text(s.to_string()),
                        Err(_) => Cell::Other("text that is not UTF-8"),
                    },
                    ValueRef::Real(_) => Cell::Other("a real number"),
                    ValueRef::Blob(_) => Cell::Other("a blob"),
                });
            }
            out.push(Row::new(cells));
        }
        Ok(out)
    }
}

impl Engine for Lite<'_> {
    const FIND: &'static str = "instr";
    const BY_KEY: &'static str = "key";

    const REMOVE_DUE_LOGINS: &'static str = concat!(
        "DELETE FROM logins WHERE device_key IN (
            SELECT device_key FROM logins WHERE expires_at <= $1
            ORDER BY expires_at LIMIT 1000)
         RETURNING ",
        login_columns!()
    );

    /// Nothing to take: one writer thread runs every job, one after another, so no other
    /// transaction can interleave with this one.
    fn lock(&mut self, _tag: &str, _key: &str, _shared: bool) -> StoreResult<()> {
        Ok(())
    }

    /// One writer commits one batch at a time, so AUTOINCREMENT already follows commit order;
    /// a rolled-back job returns its numbers with its savepoint.
    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        outbox::insert_events(self, None, std::slice::from_ref(event))
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        self.query_one("SELECT COALESCE(MAX(seq), 0) FROM events", args![])?
            .get()
    }
}
