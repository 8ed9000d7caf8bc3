//! The seam between the rules and the database. The domain says what it needs; each backend
//! (`crate::store::sqlite`, `crate::store::postgres`) implements it. Nothing here names SQL.
//!
//! Reads are plain async calls. Writes are *jobs*: a closure over a [`Tx`] that runs inside one
//! database transaction, so a rule that reads then writes (is the device free? then log in)
//! sees no interleaving. A backend may run many jobs in one transaction (group commit), each
//! in its own savepoint; a job answers only after its transaction is durable.

use super::clock::Timestamp;
use super::model::*;
use std::any::Any;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or is unreachable (EM code 6).
    #[error("database error: {0}")]
    Database(String),
    /// The backend has shut down.
    #[error("store is closed")]
    Closed,
    /// The transaction lost a race with another (a deadlock or a serialization failure) and
    /// was rolled back; running it again may succeed. Backends retry these themselves.
    #[error("transaction conflict: {0}")]
    Conflict(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a job hands back: its value, and whether its writes are to be kept.
pub struct TxOutcome {
    /// `false` rolls the job's writes back (a rule said no) without failing the batch.
    pub commit: bool,
    pub output: Box<dyn Any + Send>,
}

/// A write job. See [`crate::domain::run_tx`] for the typed way to build one.
pub type TxJob = Box<dyn FnMut(&mut dyn Tx) -> StoreResult<TxOutcome> + Send>;

/// Proof that this transaction holds a user's lock: only [`LoginTx::lock_user`] makes one, so
/// a rule that reads a user's logins to decide on them has, by its type, serialized with every
/// other rule that does the same.
#[derive(Debug)]
pub struct UserLock(Key);

/// Proof that this transaction holds a device's lock, as [`UserLock`] for a user.
#[derive(Debug)]
pub struct DeviceLock(Key);

impl UserLock {
    /// For implementations of [`LoginTx::lock_user`] only, once the lock is taken.
    pub(crate) fn held(user: &Key) -> UserLock {
        UserLock(user.clone())
    }
    pub fn key(&self) -> &Key {
        &self.0
    }
}

impl DeviceLock {
    /// For implementations of [`LoginTx::lock_device`] only, once the lock is taken.
    pub(crate) fn held(device: &Key) -> DeviceLock {
        DeviceLock(device.clone())
    }
    pub fn key(&self) -> &Key {
        &self.0
    }
}

/// Everything a write job may do, all inside one transaction: the concerns below, together.
///
/// Locks are taken in one order everywhere, so two transactions never wait on each other in a
/// circle: a change set's ([`ChangeSetTx::lock_change_set`]), then the directory's
/// ([`DirectoryTx::lock_directory`]), then an admin edit's object locks
/// ([`DirectoryTx::lock_object`]: the object, then the profiles it names, then a kind's lock),
/// then a user's ([`LoginTx::lock_user`]), then a device's ([`LoginTx::lock_device`]), then, at
/// commit, the outbox's numbering.
pub trait Tx: LoginTx + OutboxTx + DirectoryTx + SessionTx + ChangeSetTx + PhoneTx {}

impl<T: LoginTx + OutboxTx + DirectoryTx + SessionTx + ChangeSetTx + PhoneTx + ?Sized> Tx for T {}

/// Who is logged in where.
pub trait LoginTx {
    /// Serialize with every other transaction that takes the same user's lock. A single-writer
    /// backend needs nothing; a multi-node one takes a lock in the database.
    fn lock_user(&mut self, user: &Key) -> StoreResult<UserLock>;
    /// Serialize with every other transaction that takes the same device's lock.
    fn lock_device(&mut self, device: &Key) -> StoreResult<DeviceLock>;
    /// The login on a device, due or not.
    fn device_login(&mut self, device: &DeviceLock) -> StoreResult<Option<Login>>;
    /// Every login of a user, due or not, oldest first.
    fn user_logins(&mut self, user: &UserLock) -> StoreResult<Vec<Login>>;
    /// Insert the login, replacing any login on the same device.
    fn put_login(&mut self, login: &Login) -> StoreResult<()>;
    /// Delete the login on a device and return it.
    fn remove_login(&mut self, device: &Key) -> StoreResult<Option<Login>>;
    /// Delete every login and return them.
    fn remove_all_logins(&mut self) -> StoreResult<Vec<Login>>;
    /// Delete logins whose deadline is at or before `now` and return them. A backend may end
    /// them in batches; the scheduler calls again while it finds more.
    fn remove_due_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>>;
    /// Remember who used the device last (`lastlogin`), and hand back the device as it is now
    /// (what the event of the ended login describes), in the same statement. An unknown
    /// device: nothing happens, `None`.
    fn set_last_user(&mut self, device: &Key, user: &str) -> StoreResult<Option<Device>>;
}

/// The outbox of events, numbered in commit order.
pub trait OutboxTx {
    /// Append to the outbox. The event gets its sequence number when the transaction commits:
    /// numbers increase in commit order with no gaps, so a reader that pages "after N" never
    /// misses an event that committed late.
    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()>;
    /// The sequence number of the newest event, 0 when there is none.
    fn last_event_seq(&mut self) -> StoreResult<i64>;
    /// Delete the events from before `before` numbered at most `through`; returns how many.
    /// Numbers are never reused, so cursors stay valid.
    fn prune_events(&mut self, before: Timestamp, through: i64) -> StoreResult<u64>;
    /// The lowest cursor of any subscribed session: events after it are still to be sent.
    fn min_subscription_cursor(&mut self) -> StoreResult<Option<i64>>;
}

/// The provisioned directory: applications, users, profiles, devices, admins, the policy.
pub trait DirectoryTx: Lookup {
    /// The first lock of any change to the directory. An admin edit takes it shared (edits of
    /// different objects go on side by side, under their object locks); an import takes it
    /// `whole`, alone, and then needs no lock per object: one lock however large the file, and
    /// no order to keep with the edits it excludes.
    fn lock_directory(&mut self, whole: bool) -> StoreResult<()>;
    /// Serialize edits of one object (and, with an empty key, of a whole kind) as
    /// [`LoginTx::lock_user`] does logins. Taken before the login locks, never after.
    fn lock_object(&mut self, kind: EntityKind, key: &Key) -> StoreResult<()>;
    // Each upsert returns `true` when it created the entity, `false` when it updated it.
    fn upsert_app(&mut self, app: &AppUser) -> StoreResult<bool>;
    fn upsert_user(&mut self, user: &User) -> StoreResult<bool>;
    fn upsert_profile(&mut self, profile: &DeviceProfile) -> StoreResult<bool>;
    /// Keeps the device's `last_user`: that is EM state, not provisioning.
    fn upsert_device(&mut self, device: &Device) -> StoreResult<bool>;
    fn upsert_admin(&mut self, admin: &Admin) -> StoreResult<bool>;
    fn set_policy(&mut self, policy: &Policy) -> StoreResult<()>;
    /// The policy, to change it: until this transaction ends, no other can do the same.
    fn policy_for_update(&mut self) -> StoreResult<Policy>;
    /// Whether the object exists now.
    fn exists(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool>;
    /// A device profile's name as it spells itself, if there is one by this key.
    fn profile_name(&mut self, key: &Key) -> StoreResult<Option<ProfileName>>;
    /// Delete one object (with its lists); `false` if there was none.
    fn delete(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool>;
    /// Up to `limit` users that name the profile, as provisioned.
    fn profile_users(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>>;
    /// Up to `limit` devices whose logout profile this is, by name.
    fn profile_devices(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>>;
    /// How many admin accounts have this role.
    fn count_admins(&mut self, role: Role) -> StoreResult<u64>;
}

/// Admin API sessions and the delivery of their events.
pub trait SessionTx {
    fn insert_session(&mut self, session: &AdminSession) -> StoreResult<()>;
    /// Move a session's inactivity deadline; `false` if there is no such session.
    fn touch_session(&mut self, token_hash: &str, expires_at: Timestamp) -> StoreResult<bool>;
    /// `false` if there was no such session.
    fn remove_session(&mut self, token_hash: &str) -> StoreResult<bool>;
    /// Delete sessions whose deadline is at or before `now`; returns how many.
    fn remove_expired_sessions(&mut self, now: Timestamp) -> StoreResult<u64>;
    fn session_count(&mut self) -> StoreResult<u64>;
    /// Delete every session of an account; returns how many.
    fn remove_sessions_of(&mut self, admin: &Key) -> StoreResult<u64>;
    /// Start (`Some(after)`) or stop (`None`) a session's event subscription.
    fn set_subscription(&mut self, token_hash: &str, after: Option<i64>) -> StoreResult<bool>;
    /// Take or renew the right to deliver a session's events until `until`: granted when
    /// nobody holds it, `node` holds it, or the holder's lease ended at or before `now`. One
    /// deliverer at a time keeps the events in order when several nodes serve one database.
    fn claim_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    /// Move a subscription's cursor from `from` to `to` and renew `node`'s lease until
    /// `until`, only if `node` holds the lease and the cursor is still at `from`; `false`
    /// otherwise (unsubscribed, or another node took over), and nothing changes.
    fn advance_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        from: i64,
        to: i64,
        until: Timestamp,
    ) -> StoreResult<bool>;
}

/// Change sets: edits staged under a session, applied together.
pub trait ChangeSetTx {
    fn insert_change_set(&mut self, set: &ChangeSet) -> StoreResult<()>;
    fn change_set(&mut self, id: &str) -> StoreResult<Option<ChangeSet>>;
    /// Serialize with every transaction that stages into, applies or drops the set `id`.
    fn lock_change_set(&mut self, id: &str) -> StoreResult<()>;
    /// Append an edit (taking the set's lock); returns how many the set holds now.
    fn stage_edit(&mut self, id: &str, edit: &str) -> StoreResult<u32>;
    fn remove_change_set(&mut self, id: &str) -> StoreResult<bool>;
}

/// What the phone service keeps: PIN tries and hashes, profile menus, the PIN key's id.
pub trait PhoneTx {
    /// A user's wrong-PIN count and lockout, if any.
    fn pin_guard(&mut self, user: &Key) -> StoreResult<Option<PinGuard>>;
    /// Store a user's guard, or (`None`) forget it.
    fn put_pin_guard(&mut self, user: &Key, guard: Option<&PinGuard>) -> StoreResult<()>;
    /// Replace a user's PIN hash; `false` if there is no such user.
    fn set_pin_hash(&mut self, user: &Key, hash: &str) -> StoreResult<bool>;
    fn insert_phone_menu(&mut self, menu: &PhoneMenu) -> StoreResult<()>;
    /// Delete the menu with this token hash and return it: a menu is used once.
    fn take_phone_menu(&mut self, token_hash: &str) -> StoreResult<Option<PhoneMenu>>;
    /// Delete the menus of `device` (as provisioned) and every menu that expired at or before
    /// `now`; returns how many.
    fn remove_phone_menus(&mut self, device: &str, now: Timestamp) -> StoreResult<u64>;
    /// Record `key_id` as the id of the key PINs are hashed under, unless one is recorded
    /// already; returns the recorded one.
    fn claim_pin_key_id(&mut self, key_id: &str) -> StoreResult<String>;
}

/// Lookups of one thing by its key, the same in a read job and in a write job.
pub trait Lookup {
    fn app(&mut self, id: &Key) -> StoreResult<Option<AppUser>>;
    fn user(&mut self, id: &Key) -> StoreResult<Option<User>>;
    fn device(&mut self, name: &Key) -> StoreResult<Option<Device>>;
    fn profile(&mut self, name: &Key) -> StoreResult<Option<DeviceProfile>>;
    fn admin(&mut self, username: &Key) -> StoreResult<Option<Admin>>;
    fn policy(&mut self) -> StoreResult<Policy>;
    /// The session with this token hash, whether or not it has expired; `None` also when its
    /// account no longer exists.
    fn session(&mut self, token_hash: &str) -> StoreResult<Option<AdminSession>>;
}

/// The reads a read job may use, all in one consistent snapshot.
pub trait Reader: Lookup {
    /// The device with its current login, hiding a login that is due at `now` (the scheduler
    /// may not have removed it yet, but it is over).
    fn device_state(&mut self, name: &Key, now: Timestamp) -> StoreResult<Option<DeviceState>>;
    /// The user's logins that are not due at `now`.
    fn user_logins(&mut self, user: &Key, now: Timestamp) -> StoreResult<Vec<Login>>;
    /// Every login not due at `now`, by device.
    fn live_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>>;
    /// The earliest deadline of any login.
    fn next_deadline(&mut self) -> StoreResult<Option<Timestamp>>;
    /// Events with `seq > after`, oldest first, at most `limit`.
    fn events_after(&mut self, after: i64, limit: u32) -> StoreResult<Vec<Event>>;
    /// Events with `seq > after` of one of `kinds`, that happened in `[from, to)`, oldest
    /// first, at most `limit`.
    fn event_log(&mut self, query: &EventQuery) -> StoreResult<Vec<Event>>;
    fn counts(&mut self) -> StoreResult<DirectoryCounts>;
    /// The operator's gauges at `now`.
    fn gauges(&mut self, now: Timestamp) -> StoreResult<Gauges>;
    /// The newest event's number, 0 with none.
    fn last_event_seq(&mut self) -> StoreResult<i64>;
    /// Per `bucket` milliseconds from `from` on: how many logins began, and how many ended
    /// (logout, auto-logout), as `(bucket index, began, ended)` for the buckets that have any.
    fn login_activity(&mut self, from: Timestamp, bucket: i64)
    -> StoreResult<Vec<(i64, u64, u64)>>;
    /// Sessions whose deadline is after `now`.
    fn live_sessions(&mut self, now: Timestamp) -> StoreResult<Vec<AdminSession>>;
    /// One page of the keys of `kind`, ordered, whose key contains `contains` (already
    /// case-folded), with the number of all that match.
    fn names(
        &mut self,
        kind: EntityKind,
        contains: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<Key>)>;
    /// Up to `limit` users whose primary extension is `extension`, by key.
    fn users_with_extension(&mut self, extension: &str, limit: u32) -> StoreResult<Vec<User>>;
}

/// What a backend's one writer has done (group commit): `jobs / batches` is how many writes
/// share one transaction and one fsync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Jobs answered from committed transactions (kept or rolled back to their savepoint).
    pub jobs: u64,
    /// Transactions that could not begin or commit; all their jobs got an error.
    pub failed_batches: u64,
}

/// What the operator's gauges show, read in one statement (`/metrics`, the dashboard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Logins not due.
    pub logged_in: u64,
    /// Logins not due that have a deadline.
    pub pending_deadlines: u64,
    /// Admin API sessions not expired.
    pub admin_sessions: u64,
    /// Events after the cursor of the subscriber furthest behind; 0 with no subscriber.
    pub event_backlog: u64,
}

/// Which events [`Reader::event_log`] reads.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub after: i64,
    pub kinds: &'static [EventKind],
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: u32,
}

/// A read job. See [`run_read`] for the typed way to build one.
pub type ReadJob = Box<dyn FnOnce(&mut dyn Reader) -> StoreResult<Box<dyn Any + Send>> + Send>;

/// The backend as the domain sees it: two doors, one for reads and one for writes. A request
/// gathers everything it needs to read in one job, so it crosses to a database thread (or
/// makes a round trip) once, not once per fact.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Run a read job on one snapshot.
    async fn read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>>;
    /// Run a read job that looks up a few rows by key (the EM API's hot path: a query, the
    /// facts a write checks). A backend whose reads cost microseconds may run it right where
    /// it is called instead of on another thread, since the hop would cost more than the read;
    /// a job that scans (a dashboard page, an export) goes through [`Store::read`].
    async fn lookup(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.read(job).await
    }
    /// Run a write job in a transaction; answers after commit.
    async fn transact(&self, job: TxJob) -> StoreResult<Box<dyn Any + Send>>;

    /// Notified when another process changed the logins (a shared database), so that this
    /// node's scheduler looks at the deadlines again. `None`: nobody else writes here.
    fn login_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Notified when any process appended events, so that event deliverers post them without
    /// waiting for their next poll. `None`: only polling.
    fn event_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// What group commit has done, where writes are batched (SQLite's one writer).
    fn writer_stats(&self) -> Option<WriterStats> {
        None
    }

    /// Whether the database answers now (`/healthz`).
    async fn ready(&self) -> StoreResult<()> {
        run_read(self, |r| r.next_deadline()).await.map(|_| ())
    }

    // One-fact conveniences for callers off the hot path (tests, start-up, the scheduler).
    async fn app(&self, id: &Key) -> StoreResult<Option<AppUser>> {
        let id = id.clone();
        run_read(self, move |r| r.app(&id)).await
    }
    async fn user(&self, id: &Key) -> StoreResult<Option<User>> {
        let id = id.clone();
        run_read(self, move |r| r.user(&id)).await
    }
    async fn device(&self, name: &Key) -> StoreResult<Option<Device>> {
        let name = name.clone();
        run_read(self, move |r| r.device(&name)).await
    }
    async fn profile(&self, name: &Key) -> StoreResult<Option<DeviceProfile>> {
        let name = name.clone();
        run_read(self, move |r| r.profile(&name)).await
    }
    async fn policy(&self) -> StoreResult<Policy> {
        run_read(self, |r| r.policy()).await
    }
    async fn device_state(&self, name: &Key, now: Timestamp) -> StoreResult<Option<DeviceState>> {
        let name = name.clone();
        run_read(self, move |r| r.device_state(&name, now)).await
    }
    async fn user_logins(&self, user: &Key, now: Timestamp) -> StoreResult<Vec<Login>> {
        let user = user.clone();
        run_read(self, move |r| r.user_logins(&user, now)).await
    }
    async fn next_deadline(&self) -> StoreResult<Option<Timestamp>> {
        run_read(self, |r| r.next_deadline()).await
    }
    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        run_read(self, move |r| r.events_after(after, limit)).await
    }
    async fn counts(&self) -> StoreResult<DirectoryCounts> {
        run_read(self, |r| r.counts()).await
    }
}

/// Run `f` as one read job and hand back its typed result.
pub async fn run_read<S, T, F>(store: &S, f: F) -> StoreResult<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: FnOnce(&mut dyn Reader) -> StoreResult<T> + Send + 'static,
{
    typed(store.read(boxed(f)).await?)
}

/// Run `f` as one [`Store::lookup`] and hand back its typed result.
pub async fn run_lookup<S, T, F>(store: &S, f: F) -> StoreResult<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: FnOnce(&mut dyn Reader) -> StoreResult<T> + Send + 'static,
{
    typed(store.lookup(boxed(f)).await?)
}

fn boxed<T, F>(f: F) -> ReadJob
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Reader) -> StoreResult<T> + Send + 'static,
{
    Box::new(move |r: &mut dyn Reader| Ok(Box::new(f(r)?) as Box<dyn Any + Send>))
}

fn typed<T: 'static>(value: Box<dyn Any + Send>) -> StoreResult<T> {
    value
        .downcast::<T>()
        .map(|b| *b)
        .map_err(|_| StoreError::Database("a read returned an unexpected type".into()))
}
