//! Connection settings and the numbered migrations of the SQLite schema.
//!
//! The schema version lives in `PRAGMA user_version` (in the database header, so it travels
//! with the file and needs no table). Migration N is `MIGRATIONS[N - 1]`; each runs in its own
//! transaction together with the version bump, so a crash mid-upgrade leaves the previous
//! version intact and the next start simply retries. Migrations are append-only: never edit
//! one that has shipped, add the next.

use super::super::OpenError;
use rusqlite::Connection;
use std::time::Duration;

/// How long a connection waits for another process's lock before failing (`busy_timeout`).
/// Inside one hotdesk there is one writer, so this only matters when another tool (a backup,
/// the `sqlite3` shell) holds the file.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Enough for every statement this backend prepares, so none is ever re-parsed.
const STATEMENT_CACHE: usize = 64;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the directory, the logins with their deadlines, and the events outbox.
    r#"
    CREATE TABLE apps (
        key   TEXT PRIMARY KEY NOT NULL,
        id    TEXT NOT NULL,
        proxy INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- The accepted certificate hashes of an app, in order (two while a secret is rotated).
    CREATE TABLE app_certificates (
        app_key  TEXT NOT NULL REFERENCES apps(key) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        hash     TEXT NOT NULL,
        PRIMARY KEY (app_key, position)
    ) WITHOUT ROWID;

    CREATE TABLE users (
        key               TEXT PRIMARY KEY NOT NULL,
        id                TEXT NOT NULL,
        pin_hash          TEXT,
        password_hash     TEXT,
        name              TEXT,
        max_login_minutes INTEGER
    ) WITHOUT ROWID;

    -- A user's associated profiles in order (position 0 is the default). Not a foreign key to
    -- profiles: a directory file may name a profile that is defined further down.
    CREATE TABLE user_profiles (
        user_key    TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        profile     TEXT NOT NULL,
        profile_key TEXT NOT NULL,
        PRIMARY KEY (user_key, position)
    ) WITHOUT ROWID;
    CREATE INDEX user_profiles_by_profile ON user_profiles(profile_key);

    CREATE TABLE profiles (
        key         TEXT PRIMARY KEY NOT NULL,
        name        TEXT NOT NULL,
        description TEXT
    ) WITHOUT ROWID;

    CREATE TABLE profile_lines (
        profile_key TEXT NOT NULL REFERENCES profiles(key) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        line        TEXT NOT NULL,
        PRIMARY KEY (profile_key, position)
    ) WITHOUT ROWID;

    CREATE TABLE devices (
        key        TEXT PRIMARY KEY NOT NULL,
        name       TEXT NOT NULL,
        model      TEXT,
        em_enabled INTEGER NOT NULL,
        last_user  TEXT
    ) WITHOUT ROWID;

    CREATE TABLE admins (
        key           TEXT PRIMARY KEY NOT NULL,
        username      TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL
    ) WITHOUT ROWID;

    -- One row at most; no row means Policy::default().
    CREATE TABLE policy (
        id                      INTEGER PRIMARY KEY CHECK (id = 1),
        multiple_login          TEXT NOT NULL,
        max_login_minutes       INTEGER NOT NULL,
        enforce_max_login       INTEGER NOT NULL,
        remember_last_user      INTEGER NOT NULL,
        max_concurrent_requests INTEGER NOT NULL,
        validate_ip             INTEGER NOT NULL,
        allow_proxy             INTEGER NOT NULL
    );

    CREATE TABLE policy_trusted_ips (
        position INTEGER PRIMARY KEY,
        ip       TEXT NOT NULL
    );

    -- One login per device. No foreign keys to devices or users: what deleting a device or a
    -- user with a live login means (log it out, with an event) is a rule of the domain, not
    -- something the schema should decide by refusing or cascading.
    CREATE TABLE logins (
        device_key   TEXT PRIMARY KEY NOT NULL,
        device       TEXT NOT NULL,
        user_key     TEXT NOT NULL,
        user         TEXT NOT NULL,
        profile      TEXT NOT NULL,
        app          TEXT NOT NULL,
        logged_in_at INTEGER NOT NULL,
        expires_at   INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX logins_by_user ON logins(user_key);
    CREATE INDEX logins_by_deadline ON logins(expires_at) WHERE expires_at IS NOT NULL;

    -- The outbox. AUTOINCREMENT so that a sequence number is never reused, even if the newest
    -- rows are ever pruned: a consumer's "after N" cursor stays valid forever.
    CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        actor   TEXT,
        device  TEXT,
        user    TEXT,
        profile TEXT,
        detail  TEXT
    );
    "#,
    // 2: admin API sessions. The account's role is read by joining `admins`, so a changed role
    // or a deleted account applies to live sessions at once.
    r#"
    CREATE TABLE admin_sessions (
        token_hash   TEXT PRIMARY KEY NOT NULL,
        admin_key    TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        callback_url TEXT,
        peer         TEXT
    ) WITHOUT ROWID;
    CREATE INDEX admin_sessions_by_deadline ON admin_sessions(expires_at);
    "#,
    // 3: the event service's per-session cursor, and change sets of staged admin edits.
    r#"
    ALTER TABLE admin_sessions ADD COLUMN events_after INTEGER;

    CREATE TABLE change_sets (
        id         TEXT PRIMARY KEY NOT NULL,
        owner      TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Each edit as the domain serialized it (secrets already hashed), in staging order.
    CREATE TABLE change_set_edits (
        change_set_id TEXT NOT NULL REFERENCES change_sets(id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,
        edit          TEXT NOT NULL,
        PRIMARY KEY (change_set_id, position)
    ) WITHOUT ROWID;
    "#,
    // 4: which node delivers a subscribed session's events, and until when.
    r#"
    ALTER TABLE admin_sessions ADD COLUMN delivery_node TEXT;
    ALTER TABLE admin_sessions ADD COLUMN delivery_until INTEGER;
    "#,
    // 5: the phone service. A user's primary extension; the PIN policy; wrong-PIN counts and
    // lockouts; profile menus waiting for a pick; the id of the key PINs are hashed under.
    r#"
    ALTER TABLE users ADD COLUMN extension TEXT;
    CREATE INDEX users_by_extension ON users(extension) WHERE extension IS NOT NULL;

    ALTER TABLE policy ADD COLUMN min_pin_length INTEGER NOT NULL DEFAULT 4;
    ALTER TABLE policy ADD COLUMN phone_service INTEGER NOT NULL DEFAULT 1;

    CREATE TABLE pin_guards (
        user_key     TEXT PRIMARY KEY NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        failures     INTEGER NOT NULL,
        window_start INTEGER NOT NULL,
        locked_until INTEGER
    ) WITHOUT ROWID;

    CREATE TABLE phone_menus (
        token_hash TEXT PRIMARY KEY NOT NULL,
        device     TEXT NOT NULL,
        user       TEXT NOT NULL,
        profiles   TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX phone_menus_by_deadline ON phone_menus(expires_at);

    -- One row at most: which key the PIN hashes were made under (never the key itself).
    CREATE TABLE pin_key (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        key_id TEXT NOT NULL
    );
    "#,
    // 6: a user's profile list names profiles that exist: a foreign key, as on PostgreSQL
    // (its migration 4); migration 1's note that it is not one no longer holds. SQLite cannot add one to a table, so the table is rebuilt. A name
    // that pointed at no profile (a race of an import with a delete, in an earlier release)
    // is dropped: it could only ever fail a login.
    r#"
    CREATE TABLE user_profiles_new (
        user_key    TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        profile     TEXT NOT NULL,
        profile_key TEXT NOT NULL REFERENCES profiles(key),
        PRIMARY KEY (user_key, position)
    ) WITHOUT ROWID;
    INSERT INTO user_profiles_new (user_key, position, profile, profile_key)
        SELECT user_key, position, profile, profile_key FROM user_profiles
        WHERE profile_key IN (SELECT key FROM profiles);
    DROP TABLE user_profiles;
    ALTER TABLE user_profiles_new RENAME TO user_profiles;
    CREATE INDEX user_profiles_by_profile ON user_profiles(profile_key);
    "#,
    // 7: events by time, for a history with a time range and the dashboard's day of logins; a
    // device's logout profile (the name as provisioned, and its key for the foreign key); the
    // device's configuration after a login or logout event, as JSON (sql/outbox.rs).
    r#"
    CREATE INDEX events_by_time ON events(at);
    ALTER TABLE devices ADD COLUMN logout_profile TEXT;
    ALTER TABLE devices ADD COLUMN logout_profile_key TEXT REFERENCES profiles(key);
    CREATE INDEX devices_by_logout_profile ON devices(logout_profile_key)
        WHERE logout_profile_key IS NOT NULL;
    ALTER TABLE events ADD COLUMN state TEXT;
    "#,
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Settings of the one connection that writes. WAL lets readers work while the writer commits;
/// `synchronous=FULL` makes every COMMIT durable before a job is answered (nothing
/// acknowledged is lost, even across `kill -9` or power loss) — affordable because group commit
/// pays that fsync once per batch, not once per request.
pub(super) fn configure_writer(
    conn: &Connection,
    in_memory: bool,
    path: &str,
) -> Result<(), OpenError> {
    let sqlite = |e: rusqlite::Error| OpenError::Sqlite {
        path: path.to_string(),
        message: e.to_string(),
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    stable_plans(conn).map_err(sqlite)?;
    if !in_memory {
        // journal_mode answers with the mode it got; WAL can be refused (e.g. some network
        // file systems), and silently running in another mode would break the reader pool.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::Sqlite {
                path: path.to_string(),
                message: format!("the database refused WAL journaling (got {mode:?})"),
            });
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sqlite)?;
    Ok(())
}

/// Settings of a read-only pool connection.
pub(super) fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // No memory map (`mmap_size`): a reader drops its whole map each time it sees the WAL
    // changed, so under a stream of logins every lookup paid an munmap and then page faults,
    // more than the reads it saved.
    stable_plans(conn)
}

/// The query planner's stability guarantee: a cached statement keeps its plan whatever values
/// are bound to it. Without it, the bundled SQLite (built with STAT4) marks statements whose
/// plan could depend on a bound key as expired at every new binding, so the certificate lookup
/// of every EM request was parsed and planned again: an eighth of the server's CPU in `perf`.
/// Our keys are unique or nearly so; one plan fits every value.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Bring the schema to [`latest_version`], one transaction per migration.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<(), OpenError> {
    let sqlite = |e: rusqlite::Error| OpenError::Sqlite {
        path: path.to_string(),
        message: e.to_string(),
    };
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite)?;
    let known = latest_version();
    if found > known {
        return Err(OpenError::SchemaTooNew {
            path: path.to_string(),
            found,
            known,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let version = index as i64 + 1;
        // IMMEDIATE: take the write lock up front, so two processes opening the same fresh
        // file cannot both decide to run migration 1.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let current: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        if current >= version {
            continue; // another process did it while we waited for the lock
        }
        tx.execute_batch(sql).map_err(sqlite)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        tracing::info!(database = path, version, "applied database migration");
    }
    Ok(())
}
