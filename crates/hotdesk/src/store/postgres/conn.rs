//! A pooled connection with its prepared statements, and the handle a job's queries go through.
//!
//! A statement sent as text costs two round trips (prepare, then execute); a prepared one, one.
//! Every statement hotdesk sends is one of a few dozen fixed texts, so each connection
//! prepares each text once and keeps it (prepared statements outlive transactions).

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};

pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// When it was last given back to the pool.
    pub(super) idle_since: std::time::Instant,
}

impl Conn {
    pub(super) fn new(client: Client) -> Self {
        Conn {
            client,
            statements: HashMap::new(),
            idle_since: std::time::Instant::now(),
        }
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// Where a job's statements go: an open transaction, or (for a lookup) the connection itself,
/// each statement on its own.
pub(super) enum On<'a, 't> {
    Tx(&'a mut Transaction<'t>),
    Client(&'a mut Client),
}

impl<'t> On<'_, 't> {
    pub(super) fn reborrow(&mut self) -> On<'_, 't> {
        match self {
            On::Tx(tx) => On::Tx(tx),
            On::Client(client) => On::Client(client),
        }
    }
}

/// One open transaction (or a bare connection) and the connection's statement cache.
pub(super) struct Db<'a, 't> {
    pub(super) on: On<'a, 't>,
    pub(super) statements: &'a mut HashMap<String, Statement>,
}

impl Db<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = match &mut self.on {
            On::Tx(tx) => tx.prepare(sql)?,
            On::Client(client) => client.prepare(sql)?,
        };
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let st = self.statement(sql)?;
        match &mut self.on {
            On::Tx(tx) => tx.query(&st, params),
            On::Client(client) => client.query(&st, params),
        }
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let st = self.statement(sql)?;
        match &mut self.on {
            On::Tx(tx) => tx.execute(&st, params),
            On::Client(client) => client.execute(&st, params),
        }
    }
}
