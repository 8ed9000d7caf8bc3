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
}

impl Conn {
    pub(super) fn new(client: Client) -> Self {
        Conn {
            client,
            statements: HashMap::new(),
        }
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// One open transaction and the connection's statement cache.
pub(super) struct Db<'a, 't> {
    pub(super) tx: &'a mut Transaction<'t>,
    pub(super) statements: &'a mut HashMap<String, Statement>,
}

impl Db<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let st = self.statement(sql)?;
        self.tx.query(&st, params)
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let st = self.statement(sql)?;
        self.tx.execute(&st, params)
    }
}
