//! The PostgreSQL backend: several `hotdesk serve` nodes over one database (docs/scale-out.md).
//!
//! - [`engine`]: PostgreSQL as an engine of the SQL both backends share (`crate::store::sql`),
//!   with the locking that makes rules safe across nodes.
//! - [`schema`]: the migrations, applied once however many nodes start together.
//!
//! The domain's store traits are synchronous (a job is a closure over a transaction), so this
//! backend uses the blocking `postgres` client on tokio's blocking threads, with a small pool
//! of connections. Every operation has a deadline: while the database is unreachable a caller
//! gets an error (EM code 6) within [`PgOptions::timeout`], never a hang, and the next
//! operation after it comes back gets a fresh connection.

mod conn;
mod engine;
mod schema;

use std::any::Any;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, IsolationLevel, NoTls};
use tokio::sync::Semaphore;

use super::OpenError;
use crate::domain::{ReadJob, Store, StoreError, StoreResult, TxJob};
use crate::store::sql::Sql;
use conn::{Conn, Db, On};
use engine::Pg;

/// How long a pooled connection may sit idle before a lookup checks that it is alive (and how
/// long that check may take).
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Connections a node keeps at most. Each request holds one for a few round trips.
const MAX_CONNECTIONS: usize = 16;

/// Times a conflicting transaction is run again (after 20, 80 and 320 ms).
const CONFLICT_RETRIES: u32 = 3;

/// The LISTEN/NOTIFY channel that says "a login with a deadline changed" (a macro, for
/// `concat!`).
macro_rules! logins_channel {
    () => {
        "hotdesk_logins"
    };
}
use logins_channel;
const LOGINS_CHANNEL: &str = logins_channel!();

/// The LISTEN/NOTIFY channel that says "events were numbered" (a macro, for `concat!`).
macro_rules! events_channel {
    () => {
        "hotdesk_events"
    };
}
use events_channel;
const EVENTS_CHANNEL: &str = events_channel!();

/// How a node talks to its database.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// The most one store operation may take, waiting for a connection included.
    pub timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct PgStore {
    pool: Arc<Pool>,
    options: PgOptions,
    login_changes: Arc<tokio::sync::Notify>,
    event_changes: Arc<tokio::sync::Notify>,
    /// Tells the listener thread to end.
    stop: Arc<AtomicBool>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// LISTEN on its own connection, on its own thread, for as long as the store lives; reconnect
/// after any failure. Every (re)connection also counts as a change: what happened while the
/// listener was away is found by the scheduler's next look at the store.
fn listen(
    config: Config,
    logins: Arc<tokio::sync::Notify>,
    events: Arc<tokio::sync::Notify>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "LISTEN connection failed; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) =
            client.batch_execute(&format!("LISTEN {LOGINS_CHANNEL}; LISTEN {EVENTS_CHANNEL}"))
        {
            tracing::debug!(error = %e, "LISTEN failed; retrying");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        logins.notify_one();
        events.notify_one();
        while !stop.load(Ordering::Relaxed) {
            let mut notifications = client.notifications();
            let next = notifications
                .timeout_iter(Duration::from_millis(500))
                .next();
            match next {
                Ok(Some(n)) if n.channel() == EVENTS_CHANNEL => events.notify_one(),
                Ok(Some(_)) => logins.notify_one(),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "LISTEN connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

struct Pool {
    config: Config,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    numbering: Mutex<Numbering>,
    numbered: std::sync::Condvar,
}

/// This node's writers waiting for their events to be numbered. One of them at a time runs
/// [`engine::NUMBER_EVENTS`], for itself and every writer that committed before the pass
/// began; the others wait for a pass that covers them. Under load a pass numbers the events
/// of many commits, and the advisory lock sees one numbering per node, not one per writer.
#[derive(Default)]
struct Numbering {
    /// Writers that asked, ever: the n-th to ask is covered by any pass begun after it asked.
    asked: u64,
    /// Every writer up to this one is covered by a pass that ended.
    covered: u64,
    running: bool,
    /// A writer not covered yet changed a login: the next pass tells the other nodes.
    logins: bool,
}

impl Pool {
    /// A connection: an idle one that is still open, or a new one.
    fn take(&self) -> StoreResult<Conn> {
        loop {
            let conn = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match conn {
                Some(c) if !c.client.is_closed() => return Ok(c),
                Some(_) => continue, // the server or the network dropped it
                None => return self.connect(),
            }
        }
    }

    /// A new connection, trying again after 50 and 150 ms: a database that is restarting or
    /// failing over refuses connections for a moment. The caller's deadline bounds it all.
    fn connect(&self) -> StoreResult<Conn> {
        let mut pause = Duration::from_millis(50);
        for _ in 0..2 {
            match self.config.connect(NoTls) {
                Ok(client) => return Ok(Conn::new(client)),
                Err(e) => tracing::debug!(error = %e, "connecting to PostgreSQL failed; retrying"),
            }
            std::thread::sleep(pause);
            pause *= 3;
        }
        Ok(Conn::new(self.config.connect(NoTls)?))
    }

    fn put(&self, mut conn: Conn) {
        conn.idle_since = std::time::Instant::now();
        if !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }

    /// Run `f` in a transaction on a pooled connection; `f` answers its value and whether to
    /// commit. A pooled connection found dead when the transaction begins (the database
    /// restarted, a proxy dropped it) is replaced once, before `f` has run.
    fn run<T>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut Db<'_, '_>) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        let mut conn = self.take()?;
        let mut job = Some(f);
        let first = {
            let Conn {
                client, statements, ..
            } = &mut conn;
            match begin(client, read_only) {
                Ok(tx) => Ok(job.take().map(|f| finish(tx, statements, f))),
                Err(e) => Err(e),
            }
        };
        match first {
            Ok(Some(result)) => {
                self.put(conn);
                return result;
            }
            Ok(None) => return Err(StoreError::Database("a job ran twice".into())),
            Err(e) if !conn.client.is_closed() && e.as_db_error().is_some() => {
                return Err(e.into());
            }
            Err(e) => tracing::debug!(error = %e, "pooled connection is dead; reconnecting"),
        }
        drop(conn);
        let mut conn = self.connect()?;
        let Some(f) = job.take() else {
            return Err(StoreError::Database("a job ran twice".into()));
        };
        let result = {
            let Conn {
                client, statements, ..
            } = &mut conn;
            finish(begin(client, read_only)?, statements, f)
        };
        self.put(conn);
        result
    }
}

impl Pool {
    /// Run a read job on a pooled connection outside a transaction. With no BEGIN to find a
    /// dead connection before the job runs (as [`Pool::run`] does), one that sat idle for a
    /// while is asked first: after a database restart the pool's connections are dead, and
    /// a lookup's first statement would fail on one instead of a new connection being made.
    fn run_bare(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        let mut conn = self.take()?;
        if conn.idle_since.elapsed() > IDLE_CHECK && conn.client.is_valid(IDLE_CHECK).is_err() {
            tracing::debug!("pooled connection is dead; reconnecting");
            conn = self.connect()?;
        }
        let Conn {
            client, statements, ..
        } = &mut conn;
        let result = job(&mut Sql(Pg::new(Db {
            on: On::Client(client),
            statements,
        })));
        // A connection that died under the job is not kept (`put` drops a closed one).
        self.put(conn);
        result
    }
}

impl Pool {
    /// Give committed events their numbers ([`engine::NUMBER_EVENTS`]), and tell the other
    /// nodes that logins changed if `logins`.
    fn number_events(&self, logins: bool) -> StoreResult<()> {
        let mut conn = self.take()?;
        let result = if logins {
            conn.client.batch_execute(&format!(
                "{}{}",
                engine::NUMBER_EVENTS,
                engine::LOGINS_CHANGED
            ))
        } else {
            conn.client.batch_execute(engine::NUMBER_EVENTS)
        };
        self.put(conn);
        Ok(result?)
    }

    /// What a committed write leaves ([`engine::AfterCommit`]): return once a numbering pass
    /// that began after this call has ended (or failed, or `deadline` passed), so the events
    /// this thread committed have their numbers and the other nodes were told.
    fn wait_numbered(&self, after: engine::AfterCommit, deadline: std::time::Instant) {
        let lock = || self.numbering.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = lock();
        state.asked += 1;
        state.logins |= after.logins;
        let me = state.asked;
        while state.covered < me {
            if !state.running {
                state.running = true;
                let through = state.asked;
                let logins = std::mem::take(&mut state.logins);
                drop(state);
                let failed = self.number_events(logins).is_err_and(|e| {
                    tracing::warn!(error = %e, "numbering events failed; the next write will");
                    true
                });
                state = lock();
                // The notification is owed still: the next pass sends it.
                state.logins |= failed && logins;
                state.running = false;
                state.covered = state.covered.max(through);
                self.numbered.notify_all();
                continue;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::warn!("no numbering of events covered this write in time");
                return;
            }
            state = self
                .numbered
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn begin(
    client: &mut Client,
    read_only: bool,
) -> Result<postgres::Transaction<'_>, postgres::Error> {
    if read_only {
        // One snapshot for every fact the job reads.
        client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
    } else {
        client.transaction()
    }
}

fn finish<T>(
    mut tx: postgres::Transaction<'_>,
    statements: &mut std::collections::HashMap<String, postgres::Statement>,
    f: impl FnOnce(&mut Db<'_, '_>) -> StoreResult<(T, bool)>,
) -> StoreResult<T> {
    let answer = f(&mut Db {
        on: On::Tx(&mut tx),
        statements,
    })?;
    match answer {
        (value, true) => tx.commit().map(|()| value).map_err(StoreError::from),
        (value, false) => tx.rollback().map(|()| value).map_err(StoreError::from),
    }
}

impl Drop for Pool {
    /// The blocking client runs its own small runtime and must not be dropped on an async
    /// worker thread (closing it blocks): close the idle connections on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl PgStore {
    /// Connect, migrate, and keep the connection for the pool. Blocking.
    pub fn open(url: &str, options: PgOptions) -> Result<PgStore, OpenError> {
        let fail = |message: String| OpenError::Postgres {
            url: redact(url),
            message,
        };
        let mut config = Config::from_str(url).map_err(|e| fail(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        // The server gives up too, a little before the caller does: a statement stuck on a
        // lock, or a transaction left open by a node that vanished, does not hold locks for
        // long. (Kept in the connection options, after any the URL already has.)
        let ms = options.timeout.as_millis().max(100);
        let server_side = format!(
            "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
            ms * 9 / 10,
            ms * 9 / 10,
            ms * 2
        );
        let merged = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {server_side}"),
            _ => server_side,
        };
        config.options(&merged);
        // A dead peer (cable cut, proxy gone) is noticed in seconds, not at TCP's default.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(options.timeout.max(Duration::from_secs(1)));
        if config.get_application_name().is_none() {
            config.application_name("hotdesk");
        }
        let mut client = config
            .connect(NoTls)
            .map_err(|e| fail(StoreError::from(e).to_string()))?;
        match schema::migrate(&mut client) {
            Ok(_) => {}
            Err(schema::MigrateError::Database(e)) => {
                return Err(fail(StoreError::from(e).to_string()));
            }
            Err(schema::MigrateError::TooNew { found }) => {
                return Err(OpenError::SchemaTooNew {
                    path: redact(url),
                    found,
                    known: schema::latest_version(),
                });
            }
        }
        // Events a node wrote and did not live to number, and logins it did not live to tell
        // the other nodes of.
        client
            .batch_execute(&format!(
                "{}{}",
                engine::NUMBER_EVENTS,
                engine::LOGINS_CHANGED
            ))
            .map_err(|e| fail(StoreError::from(e).to_string()))?;
        let login_changes = Arc::new(tokio::sync::Notify::new());
        let event_changes = Arc::new(tokio::sync::Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (config, logins, events, stop) = (
                config.clone(),
                login_changes.clone(),
                event_changes.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .name("hotdesk-pg-listen".into())
                .spawn(move || listen(config, logins, events, stop))
                .map_err(|e| fail(e.to_string()))?;
        }
        let pool = Pool {
            config,
            idle: Mutex::new(vec![Conn::new(client)]),
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            numbering: Mutex::default(),
            numbered: std::sync::Condvar::new(),
        };
        Ok(PgStore {
            pool: Arc::new(pool),
            options,
            login_changes,
            event_changes,
            stop,
        })
    }

    async fn on_pool<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Pool, &AtomicBool) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        // Set when the caller has been answered with a timeout: the work must not commit
        // after that, or the caller would be told "failed" about something that happened.
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = abandoned.clone();
        let work = async move {
            let permit = pool
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Closed)?;
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(&pool, &flag)
            });
            match task.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => {
                    Err(StoreError::Database("a database job panicked".into()))
                }
                Err(_) => Err(StoreError::Closed),
            }
        };
        // A blocked socket must not block the caller: past the deadline the caller gets its
        // answer (code 6) and the blocking thread finishes or fails on its own.
        match tokio::time::timeout(self.options.timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                abandoned.store(true, Ordering::SeqCst);
                Err(StoreError::Database(format!(
                    "no answer from PostgreSQL within {:?}",
                    self.options.timeout
                )))
            }
        }
    }
}

/// The URL without its password (in the authority or as a `password=` parameter), for messages.
fn redact(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        None => url.to_string(),
    };
    let url = url.as_str();
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((auth, host)) => {
                let user = auth.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.on_pool(move |pool, _| {
            pool.run(true, |db| {
                let db = Db {
                    on: db.on.reborrow(),
                    statements: &mut *db.statements,
                };
                Ok((job(&mut Sql(Pg::new(db)))?, false))
            })
        })
        .await
    }

    /// Each statement on its own, outside a transaction: a lookup's facts are independent
    /// (a device and its login come from one statement) and the write that acts on them checks
    /// again under its locks, so the BEGIN and the ROLLBACK, two of a query's five round
    /// trips, bought nothing.
    async fn lookup(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.on_pool(move |pool, _| pool.run_bare(job)).await
    }

    fn login_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.login_changes.clone())
    }

    fn event_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.event_changes.clone())
    }

    /// A transaction that lost a race (deadlock, serialization failure) was rolled back by
    /// PostgreSQL and is run again, a few times, with growing pauses: within the deadline.
    async fn transact(&self, mut job: TxJob) -> StoreResult<Box<dyn Any + Send>> {
        // The wait for the numbering ends before the caller's deadline: a committed write must
        // not be answered "failed" for want of its numbers (they come with the next pass).
        let numbered_by = std::time::Instant::now() + self.options.timeout.mul_f64(0.8);
        self.on_pool(move |pool, abandoned| {
            let mut attempt = 0u32;
            loop {
                let mut after = engine::AfterCommit::default();
                let result = pool.run(false, |db| {
                    let mut pg = Sql(Pg::new(Db {
                        on: db.on.reborrow(),
                        statements: &mut *db.statements,
                    }));
                    let outcome = job(&mut pg)?;
                    // The last moment to give up: the caller was told this failed.
                    let commit = outcome.commit && !abandoned.load(Ordering::SeqCst);
                    if commit {
                        after = pg.0.finish()?;
                    }
                    Ok((outcome.output, commit))
                });
                if result.is_ok() && !after.is_empty() {
                    // Before the answer, so that whoever hears of the write finds its events.
                    pool.wait_numbered(after, numbered_by);
                }
                match result {
                    Err(StoreError::Conflict(e)) if attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        tracing::debug!(attempt, error = %e, "transaction conflict; retrying");
                        std::thread::sleep(Duration::from_millis(5 << (2 * attempt)));
                    }
                    other => return other,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{ScratchSchema, scratch_postgres};

    /// A store on a fresh schema, kept alive with it.
    struct TestStore {
        store: PgStore,
        schema: ScratchSchema,
    }

    impl std::ops::Deref for TestStore {
        type Target = PgStore;
        fn deref(&self) -> &PgStore {
            &self.store
        }
    }

    async fn store() -> Option<TestStore> {
        let schema = scratch_postgres()?;
        let url = schema.url.clone();
        let store = tokio::task::spawn_blocking(move || PgStore::open(&url, PgOptions::default()))
            .await
            .unwrap()
            .unwrap();
        Some(TestStore { store, schema })
    }

    crate::contract_tests!(store());

    /// A column that holds a type this build does not read (an operator changed it, or a newer
    /// release did) is an error that names the column, answered as code 6, not a panic in the
    /// driver ("a database job panicked") that tells nobody what is wrong.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_column_of_an_unexpected_type_is_an_error_that_names_it() {
        use crate::domain::{Device, Key, Tx, run_tx};
        let Some(store) = store().await else { return };
        run_tx(&*store, |tx: &mut dyn Tx| {
            tx.upsert_device(&Device {
                name: "SEP1".into(),
                model: Some("Cisco 8845".into()),
                em_enabled: true,
                logout_profile: None,
            })
            .map(Ok::<_, ()>)
        })
        .await
        .unwrap()
        .unwrap();
        let url = store.schema.url.clone();
        std::thread::spawn(move || {
            let mut admin = Client::connect(&url, NoTls).unwrap();
            admin
                .batch_execute(
                    "ALTER TABLE devices ALTER COLUMN model TYPE bytea \
                     USING convert_to(model, 'UTF8')",
                )
                .unwrap();
        })
        .join()
        .unwrap();
        let e = store
            .device(&Key::of("sep1"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 1") && e.contains("text was expected"),
            "{e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }

    /// Run `sql` on a connection of its own, as another node (or an operator) would.
    fn on_the_side(url: &str, sql: &'static str) {
        let url = url.to_string();
        std::thread::spawn(move || Client::connect(&url, NoTls).unwrap().batch_execute(sql))
            .join()
            .unwrap()
            .unwrap();
    }

    async fn appended(store: &PgStore, at: i64) {
        use crate::domain::{EventKind, NewEvent, Timestamp, Tx, run_tx};
        run_tx(store, move |tx: &mut dyn Tx| {
            tx.append_event(&NewEvent::new(Timestamp(at), EventKind::ConfigChange))
                .map(Ok::<_, ()>)
        })
        .await
        .unwrap()
        .unwrap();
    }

    fn numbered(events: Vec<crate::domain::Event>) -> Vec<(i64, i64)> {
        events.iter().map(|e| (e.seq, e.event.at.0)).collect()
    }

    /// An event is numbered by its commit, not by when it was written: a transaction that
    /// wrote first and committed last gets the larger number, so a reader that has paged past
    /// a number never meets a smaller one later.
    #[tokio::test(flavor = "multi_thread")]
    async fn events_are_numbered_in_commit_order() {
        let Some(store) = store().await else { return };
        let url = store.schema.url.clone();
        let (began, commit) = (
            std::sync::mpsc::channel::<()>(),
            std::sync::mpsc::channel::<()>(),
        );
        let (began_tx, began_rx) = began;
        let (commit_tx, commit_rx) = commit;
        let late = std::thread::spawn(move || {
            let mut client = Client::connect(&url, NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.batch_execute("INSERT INTO events (at, kind) VALUES (1, 'configChange')")
                .unwrap();
            began_tx.send(()).unwrap();
            commit_rx.recv().unwrap();
            tx.commit().unwrap();
        });
        began_rx.recv().unwrap();
        appended(&store, 2).await;
        assert_eq!(numbered(store.events_after(0, 10).await.unwrap()), [(1, 2)]);
        commit_tx.send(()).unwrap();
        late.join().unwrap();
        // Committed, not numbered yet: unseen by a reader paging on.
        assert!(store.events_after(1, 10).await.unwrap().is_empty());
        appended(&store, 3).await;
        assert_eq!(
            numbered(store.events_after(1, 10).await.unwrap()),
            [(2, 1), (3, 3)]
        );
        let last = crate::domain::run_read(&*store, |r| r.last_event_seq()).await;
        assert_eq!(last.unwrap(), 3);
    }

    /// Events a node committed and did not live to number get their numbers when a node
    /// starts, after the ones numbered before, in the order they were written.
    #[tokio::test(flavor = "multi_thread")]
    async fn events_a_dead_node_left_unnumbered_are_numbered_at_start() {
        let Some(store) = store().await else { return };
        appended(&store, 1).await;
        on_the_side(
            &store.schema.url,
            "INSERT INTO events (at, kind) VALUES (2, 'configChange'), (3, 'configChange')",
        );
        assert_eq!(numbered(store.events_after(0, 10).await.unwrap()), [(1, 1)]);
        let url = store.schema.url.clone();
        let again = tokio::task::spawn_blocking(move || PgStore::open(&url, PgOptions::default()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            numbered(again.events_after(0, 10).await.unwrap()),
            [(1, 1), (2, 2), (3, 3)]
        );
        tokio::task::spawn_blocking(move || drop(again))
            .await
            .unwrap();
    }

    #[test]
    fn messages_never_show_a_password() {
        assert_eq!(redact("postgres://u:pw@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(
            redact("postgres://u@h/db?password=pw&sslmode=disable"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(redact("postgres://u@h/db?Password=pw"), "postgres://u@h/db");
    }

    /// A transaction that loses a race runs again from the start, its writes of the lost
    /// attempt gone; a job that keeps losing gives up after a few attempts.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_conflicting_transaction_is_run_again() {
        use crate::domain::{Device, Key, Tx, TxOutcome};
        let Some(store) = store().await else { return };
        let mut attempts = 0;
        let job: TxJob = Box::new(move |tx: &mut dyn Tx| {
            attempts += 1;
            tx.upsert_device(&Device {
                name: format!("SEP-TRY{attempts}").into(),
                model: None,
                em_enabled: true,
                logout_profile: None,
            })?;
            if attempts < 3 {
                return Err(StoreError::Conflict("deadlock detected".into()));
            }
            Ok(TxOutcome {
                commit: true,
                output: Box::new(attempts),
            })
        });
        let ran = store.transact(job).await.unwrap();
        assert_eq!(*ran.downcast::<i32>().unwrap(), 3);
        assert_eq!(store.counts().await.unwrap().devices, 1);
        assert!(store.device(&Key::of("sep-try3")).await.unwrap().is_some());

        let hopeless: TxJob =
            Box::new(|_: &mut dyn Tx| Err(StoreError::Conflict("deadlock detected".into())));
        assert!(matches!(
            store.transact(hopeless).await,
            Err(StoreError::Conflict(_))
        ));
    }
}
