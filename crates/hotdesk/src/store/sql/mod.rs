//! The SQL both backends share, written once.
//!
//! SQLite and PostgreSQL run the same statements for almost everything hotdesk stores; what
//! differs is how a connection binds values and decodes columns, and a few engine rules
//! (locking across nodes, numbering events in commit order, batching expiry). So:
//!
//! - [`Conn`] is what an engine gives: run a statement with [`Value`]s, get [`Row`]s back.
//!   Statements are written in PostgreSQL's `$1` style; SQLite reads them as `?1`.
//! - [`Engine`] adds the few rules that differ, each a method with the engine's answer.
//! - [`Sql`] implements every store concern (`logins`, `directory`, `sessions`, `outbox`,
//!   `change_sets`, `phone`, one file each) and the reads (`reads`) over any engine.
//!
//! A row's column that holds something this build cannot read is an error that names the
//! column, never a panic: corruption or a newer version's data answers code 6, and the log says
//! which value.

mod change_sets;
mod directory;
mod logins;
pub(crate) mod outbox;
mod phone;
mod reads;
mod sessions;

use crate::domain::{
    AdminName, AppId, DeviceName, EntityKind, Key, Login, NewEvent, ProfileName, StoreError,
    StoreResult, Timestamp, UserId,
};

/// A value bound to a statement's parameter. Borrowed: binding copies nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
}

/// `From` for each type a statement binds, as `Value::$variant(convert(v))`.
macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl<'a> From<$t> for Value<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

value_from! {
    &'a str => |v| Value::Text(v),
    &'a String => |v| Value::Text(v),
    &'a Key => |v| Value::Text(v.as_str()),
    &'a AppId => |v| Value::Text(v.as_str()),
    &'a UserId => |v| Value::Text(v.as_str()),
    &'a ProfileName => |v| Value::Text(v.as_str()),
    &'a DeviceName => |v| Value::Text(v.as_str()),
    &'a AdminName => |v| Value::Text(v.as_str()),
    i64 => |v| Value::Int(v),
    u32 => |v| Value::Int(v.into()),
    usize => |v| Value::Int(i64::try_from(v).unwrap_or(i64::MAX)),
    u64 => |v| Value::Int(i64::try_from(v).unwrap_or(i64::MAX)),
    Timestamp => |v| Value::Int(v.0),
    bool => |v| Value::Bool(v),
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The parameters of one statement: `args![a, b, c]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::sql::Value::from($v)),*]
    };
}
pub(crate) use args;

/// One column of a row, as the engine returned it.
#[derive(Debug)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    /// A type hotdesk never stores (a float, a blob): named in the error if read.
    Other(&'static str),
}

/// One row, read column by column in the order of the statement's select list.
pub(crate) struct Row {
    cells: std::vec::IntoIter<Cell>,
    column: usize,
}

impl Row {
    pub(crate) fn new(cells: Vec<Cell>) -> Row {
        Row {
            cells: cells.into_iter(),
            column: 0,
        }
    }

    fn next(&mut self) -> StoreResult<(usize, Cell)> {
        let column = self.column;
        self.column += 1;
        let cell = self.cells.next().ok_or_else(|| {
            StoreError::Database(format!(
                "a row has no column {column}: statement and decoder disagree"
            ))
        })?;
        Ok((column, cell))
    }

    /// Pass over `n` columns (those a joined row repeats from the row before it).
    pub(crate) fn skip(&mut self, n: usize) -> StoreResult<()> {
        for _ in 0..n {
            self.next()?;
        }
        Ok(())
    }

    /// The next column, as `T`; `Option<T>` for a column that may be NULL.
    pub(crate) fn get<T: FromCell>(&mut self) -> StoreResult<T> {
        let (column, cell) = self.next()?;
        T::from_cell(cell).map_err(|cell| {
            let held = match cell {
                Cell::Null => "NULL".to_string(),
                Cell::Int(v) => format!("the integer {v}"),
                Cell::Bool(v) => format!("the boolean {v}"),
                // Never the text itself: it may be a hash of a secret, and this is logged.
                Cell::Text(v) => format!("{} bytes of text", v.len()),
                Cell::Other(what) => what.to_string(),
            };
            StoreError::Database(format!(
                "column {column} holds {held} where {} was expected",
                T::WANTED
            ))
        })
    }

    /// A count: never negative.
    pub(crate) fn count(&mut self) -> StoreResult<u64> {
        Ok(self.get::<i64>()?.max(0) as u64)
    }

    /// A text column that must parse as one of a fixed set (a role, an event kind).
    pub(crate) fn parsed<T>(
        &mut self,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> StoreResult<T> {
        let text: String = self.get()?;
        parse(&text)
            .ok_or_else(|| StoreError::Database(format!("unknown {what} {text:?} in the database")))
    }
}

/// A value a column decodes into. The cell comes back on a mismatch, for the message.
pub(crate) trait FromCell: Sized {
    const WANTED: &'static str;
    fn from_cell(cell: Cell) -> Result<Self, Cell>;
}

/// `FromCell` for each type a column decodes into: which cells make one, and how.
macro_rules! from_cell {
    ($($t:ty, $wanted:literal, |$cell:ident| $decode:expr;)*) => {
        $(impl FromCell for $t {
            const WANTED: &'static str = $wanted;
            fn from_cell($cell: Cell) -> Result<Self, Cell> {
                $decode
            }
        })*
    };
}

from_cell! {
    String, "text", |cell| match cell {
        Cell::Text(v) => Ok(v),
        other => Err(other),
    };
    i64, "an integer", |cell| match cell {
        Cell::Int(v) => Ok(v),
        other => Err(other),
    };
    // Counts and minutes: out of range is corruption, an error, not a wrapped number.
    u32, "an integer from 0 to 4294967295", |cell| match cell {
        Cell::Int(v) => u32::try_from(v).map_err(|_| Cell::Int(v)),
        other => Err(other),
    };
    Timestamp, "a time in milliseconds", |cell| i64::from_cell(cell).map(Timestamp);
    // SQLite has no booleans: 0 and 1 are what it stores for them.
    bool, "a boolean", |cell| match cell {
        Cell::Bool(v) => Ok(v),
        Cell::Int(0) => Ok(false),
        Cell::Int(1) => Ok(true),
        other => Err(other),
    };
    // The names of the directory's objects, as provisioned.
    AppId, "a name", |cell| String::from_cell(cell).map(AppId::from);
    UserId, "a name", |cell| String::from_cell(cell).map(UserId::from);
    ProfileName, "a name", |cell| String::from_cell(cell).map(ProfileName::from);
    DeviceName, "a name", |cell| String::from_cell(cell).map(DeviceName::from);
    AdminName, "a name", |cell| String::from_cell(cell).map(AdminName::from);
}

impl<T: FromCell> FromCell for Option<T> {
    const WANTED: &'static str = T::WANTED;
    fn from_cell(cell: Cell) -> Result<Self, Cell> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// What an engine gives the shared SQL: statements in, rows out, inside the one transaction
/// the backend opened for the job.
pub(crate) trait Conn {
    /// Run a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<u64>;
    /// Run a statement and return every row it gives.
    fn query(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Vec<Row>>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The one row a statement always gives (an aggregate, `RETURNING` of an insert).
    fn query_one(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Database(format!("no row from {sql:?}")))
    }

    /// Every row, each decoded by `decode`.
    fn query_map<T>(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        decode: impl FnMut(Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.query(sql, args)?.into_iter().map(decode).collect()
    }
}

/// The rules where the engines differ. Everything else is [`Sql`]'s, once.
pub(crate) trait Engine: Conn {
    /// The function that finds text in text: `instr` (SQLite), `strpos` (PostgreSQL). A name
    /// filter is plain text, with no `LIKE` wildcards to escape.
    const FIND: &'static str;

    /// Delete the due logins, `RETURNING` [`LOGIN_COLUMNS`], with `$1` the instant: at most a
    /// thousand, the earliest first. A hundred thousand logins due at the same second end in a
    /// series of short transactions (the scheduler runs pass after pass while any is due), and
    /// a login queued behind them waits for one batch, not for all of them.
    const REMOVE_DUE_LOGINS: &'static str;

    /// How to order by a key so that both engines list in one order, byte by byte (SQLite's
    /// own; PostgreSQL's default follows the server's locale).
    const BY_KEY: &'static str;

    /// Serialize with every transaction that takes the same `(tag, key)` lock, until this one
    /// ends; a `shared` lock waits only for an exclusive one. One writer needs nothing.
    fn lock(&mut self, tag: &str, key: &str, shared: bool) -> StoreResult<()>;

    /// Append an event: its number is its commit position (see [`crate::domain::OutboxTx`]).
    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()>;

    /// The newest event's number, 0 with none.
    fn last_event_seq(&mut self) -> StoreResult<i64>;

    /// A login was written: another node's scheduler may need to look again.
    fn login_written(&mut self) {}
}

/// The store over one engine transaction: a read job's snapshot ([`crate::domain::Reader`],
/// in `reads.rs`) or a write job's transaction (each concern's trait in its own file).
pub(crate) struct Sql<E>(pub(crate) E);

/// The table that holds each kind of object.
pub(crate) fn table(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Application => "apps",
        EntityKind::User => "users",
        EntityKind::DeviceProfile => "profiles",
        EntityKind::Device => "devices",
        EntityKind::Admin => "admins",
    }
}

/// The columns of a login, in the order [`login`] decodes them (a macro, for `concat!`).
macro_rules! login_columns {
    () => {
        r#"device, "user", profile, app, logged_in_at, expires_at"#
    };
}
pub(crate) use login_columns;

pub(crate) const LOGIN_COLUMNS: &str = login_columns!();

/// Decode a row selected (or returned) with [`LOGIN_COLUMNS`].
pub(crate) fn login(mut r: Row) -> StoreResult<Login> {
    Ok(Login {
        device: r.get()?,
        user: r.get()?,
        profile: r.get()?,
        app: r.get()?,
        logged_in_at: r.get()?,
        deadline: r.get()?,
    })
}

/// Whether a row with this key exists in `table`.
fn row_exists(c: &mut impl Conn, table: &str, key: &Key) -> StoreResult<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE key = $1)");
    c.query_one(&sql, args![key])?.get()
}

/// Replace an object's ordered list (certificates, profile names, lines): the rows of `table`
/// owned by `owner`, each `(position, values...)`.
fn replace_list<'v>(
    c: &mut impl Conn,
    table: &str,
    owner_column: &str,
    owner: &Key,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<Value<'v>>>,
) -> StoreResult<()> {
    c.execute(
        &format!("DELETE FROM {table} WHERE {owner_column} = $1"),
        args![owner],
    )?;
    let placeholders: Vec<String> = (1..=columns.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({owner_column}, position, {}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    for (position, values) in rows.enumerate() {
        let mut all = vec![Value::from(owner), Value::from(position)];
        all.extend(values);
        c.execute(&sql, &all)?;
    }
    Ok(())
}
