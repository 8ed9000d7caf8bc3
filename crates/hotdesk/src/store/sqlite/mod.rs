//! The SQLite backend: one file, WAL, one writer thread with group commit, a small pool of
//! read-only connections (docs/architecture.md §2).
//!
//! - [`writer`]: the writer thread; every write job of every request goes through it.
//! - [`engine`]: SQLite as an engine of the SQL both backends share (`crate::store::sql`).
//! - [`schema`]: connection settings and numbered migrations (`PRAGMA user_version`).
//!
//! Reads do not queue behind writes: in WAL mode a reader sees the last committed state while
//! the writer works, so each read takes a pooled read-only connection on a blocking thread.
//! A lookup ([`Store::lookup`], the EM hot path) runs where it is called instead, on a read-only
//! connection of that thread's own: it reads a few rows from the page cache in microseconds,
//! and handing it to a blocking thread and back cost several times that (futex wake-ups and
//! context switches were half the server's CPU in `perf`, BENCHMARKS.md).

mod engine;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

pub use crate::domain::WriterStats;

use super::OpenError;
use crate::domain::{ReadJob, Store, StoreError, StoreResult, TxJob};
use crate::store::sql::Sql;
use engine::Lite;
use rusqlite::{Connection, OpenFlags};
use std::any::Any;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use writer::Writer;

/// The most read connections open at once. Reads are short indexed lookups; past this many
/// in flight, more connections would only contend for the same pages and file descriptors.
const MAX_READERS: usize = 8;

/// A [`Store`] on one SQLite database file (or a private in-memory database for tests).
pub struct SqliteStore {
    // Field order is drop order: readers close first, so the writer's connection is the last
    // one and SQLite checkpoints and removes the WAL file when it closes.
    reads: Reads,
    writer: Writer,
    location: String,
}

/// Where reads run.
enum Reads {
    /// Pooled read-only connections to the file.
    Pool(Arc<ReaderPool>),
    /// On the writer's connection, between batches: an in-memory database exists only inside
    /// that one connection. (A shared-cache URI would let other connections see it, but
    /// shared cache uses table locks that fail at once with SQLITE_LOCKED instead of waiting,
    /// which would make reads racing a write fail spuriously.)
    Writer,
}

impl SqliteStore {
    /// Open (creating it and its missing parent folders if needed) and migrate the database
    /// file at `path`, then start the writer thread. Blocking: call it from
    /// `spawn_blocking` or before the runtime starts ([`crate::store::open`] does).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, OpenError> {
        let path = path.as_ref();
        let location = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| OpenError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // No SQLITE_OPEN_URI: the path is a file name, whatever characters it holds.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|e| sqlite_error(&location, e))?;
        schema::configure_writer(&conn, false, &location)?;
        schema::migrate(&mut conn, &location)?;
        let writer = Writer::start(conn).map_err(|e| OpenError::Sqlite {
            path: location.clone(),
            message: format!("cannot start the writer thread: {e}"),
        })?;
        let pool = ReaderPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_READERS)),
            local: thread_local::ThreadLocal::new(),
        };
        tracing::info!(database = %location, "opened SQLite database");
        Ok(SqliteStore {
            writer,
            reads: Reads::Pool(Arc::new(pool)),
            location,
        })
    }

    /// A fresh private database that lives as long as this value (`sqlite::memory:`). Same
    /// schema, same writer, same semantics, minus durability.
    pub fn open_in_memory() -> Result<SqliteStore, OpenError> {
        let location = ":memory:".to_string();
        let mut conn = Connection::open_in_memory().map_err(|e| sqlite_error(&location, e))?;
        schema::configure_writer(&conn, true, &location)?;
        schema::migrate(&mut conn, &location)?;
        let writer = Writer::start(conn).map_err(|e| OpenError::Sqlite {
            path: location.clone(),
            message: format!("cannot start the writer thread: {e}"),
        })?;
        Ok(SqliteStore {
            writer,
            reads: Reads::Writer,
            location,
        })
    }

    /// The file path, or `:memory:`; for logs and messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Group-commit counters of the writer.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Write a consistent copy of the database to `target` (which must not exist) with
    /// `VACUUM INTO`, while the service keeps running: the copy is one snapshot, compacted.
    pub async fn backup(&self, target: impl AsRef<Path>) -> StoreResult<()> {
        let target = target
            .as_ref()
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| {
                StoreError::Database(format!("backup path {:?} is not UTF-8", target.as_ref()))
            })?;
        // Not in a snapshot transaction: VACUUM cannot run inside one (it makes its own).
        self.read_raw(move |conn| {
            conn.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
        .await
    }

    /// Queue a write job without waiting for it; see [`Store::transact`].
    fn submit(&self, job: TxJob) -> StoreResult<tokio::sync::oneshot::Receiver<writer::JobResult>> {
        self.writer.submit(job)
    }

    /// Run `f` on a read connection inside one read transaction, so a read made of several
    /// statements (a user and its profiles, a device and its login) sees one committed state.
    async fn read_snapshot<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.read_raw(move |conn| in_snapshot(conn, f)).await
    }

    async fn read_raw<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        match &self.reads {
            Reads::Pool(pool) => pool.run(f).await,
            Reads::Writer => self.writer.read(f).await,
        }
    }
}

/// `f` inside one read transaction. BEGIN and COMMIT come from the statement cache: parsing
/// them again for every read showed in profiles.
fn in_snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = f(conn);
    // Nothing to keep in a read transaction; ending it releases the snapshot so the WAL can be
    // checkpointed.
    let end = conn
        .prepare_cached("COMMIT")
        .and_then(|mut commit| commit.execute([]));
    let value = result?;
    end?;
    Ok(value)
}

fn sqlite_error(location: &str, e: rusqlite::Error) -> OpenError {
    OpenError::Sqlite {
        path: location.to_string(),
        message: e.to_string(),
    }
}

/// Read-only connections, opened on demand and kept for reuse. The semaphore bounds how many
/// exist; a connection is only returned to the pool in a clean state.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Each thread's own connection for lookups, opened at its first.
    local: thread_local::ThreadLocal<RefCell<Option<Connection>>>,
}

impl ReaderPool {
    async fn run<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.clone();
        // SQLite calls block (disk, busy waits): keep them off the async workers.
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.take() {
                Some(conn) => conn,
                None => pool.connect()?,
            };
            let result = f(&conn);
            if conn.is_autocommit() {
                pool.put(conn);
            }
            result
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(StoreError::Database("a database read panicked".into())),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Run a lookup job here, on this thread's connection, in one read transaction.
    fn lookup_here(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        let cell = self.local.get_or(|| RefCell::new(None));
        // A job never looks up from inside a lookup, so the cell is free; if it ever were
        // not, a connection of the pool does the same work.
        let mut slot = cell.try_borrow_mut().ok();
        let conn = match slot.as_mut().and_then(|s| s.take()).or_else(|| self.take()) {
            Some(conn) => conn,
            None => self.connect()?,
        };
        // As a read on a blocking thread does, a job that panics answers an error (its request
        // gets code 6) instead of taking the connection's task down with it.
        let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_snapshot(&conn, |c| job(&mut Sql(Lite(c))))
        })) else {
            return Err(StoreError::Database("a database read panicked".into()));
        };
        // A connection left inside a transaction (COMMIT failed) is dropped, not reused.
        if conn.is_autocommit() {
            match slot {
                Some(mut slot) => *slot = Some(conn),
                None => self.put(conn),
            }
        }
        result
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    /// Read-only at the SQLite level, so no bug in a read path can ever write behind the
    /// writer's back.
    fn connect(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        schema::configure_reader(&conn)?;
        Ok(conn)
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    /// One pooled connection, one read transaction, on one blocking thread: however many
    /// facts the job reads.
    async fn read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.read_snapshot(move |c| job(&mut Sql(Lite(c)))).await
    }

    /// On this thread's own read connection, without leaving the thread (see the module's
    /// documentation). An in-memory database has only the writer's connection: there it is a
    /// read like any other.
    async fn lookup(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        match &self.reads {
            Reads::Pool(pool) => pool.lookup_here(job),
            Reads::Writer => self.read(job).await,
        }
    }

    /// Queue the job for the writer and wait for its batch to commit. Once queued, the job
    /// runs and commits even if the caller stops waiting (a client that hangs up does not undo
    /// its login): the outcome is decided by the job, never by the connection.
    async fn transact(&self, job: TxJob) -> StoreResult<Box<dyn Any + Send>> {
        let answer = self.submit(job)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn writer_stats(&self) -> Option<WriterStats> {
        Some(self.writer.stats())
    }
}
