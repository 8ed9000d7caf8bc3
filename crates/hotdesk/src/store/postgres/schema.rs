//! The PostgreSQL schema: numbered migrations, applied under an advisory lock so that several
//! nodes starting at once migrate once.
//!
//! The tables mirror the SQLite backend's. Two differences carry weight:
//! - `events.seq` is not a sequence: a sequence hands out numbers in call order, but
//!   transactions commit in another order, and a reader paging "after N" would skip an event
//!   that commits late with a smaller number. Instead a transaction writes its events without
//!   numbers, and after its COMMIT numbers every committed event that has none, under a lock
//!   that only numberings take, from `event_counter` (`engine::NUMBER_EVENTS`): numbers
//!   follow commit order and have no gaps, and writers do not commit one at a time.
//! - Keys and times are TEXT and BIGINT (milliseconds), as in SQLite, so export/import and the
//!   domain see the same values.

use postgres::Client;

/// The schema version lives in this table, one row.
const VERSION_TABLE: &str = "hotdesk_schema";

/// Any fixed number: the advisory lock that serializes migrations between nodes.
const MIGRATION_LOCK: i64 = 0x0068_6f74_6465_736b; // "hotdesk" in ASCII

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite backend has after its migration 3.
    r#"
    CREATE TABLE apps (
        key   TEXT PRIMARY KEY,
        id    TEXT NOT NULL,
        proxy BOOLEAN NOT NULL
    );
    CREATE TABLE app_certificates (
        app_key  TEXT NOT NULL REFERENCES apps(key) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        hash     TEXT NOT NULL,
        PRIMARY KEY (app_key, position)
    );
    CREATE TABLE users (
        key               TEXT PRIMARY KEY,
        id                TEXT NOT NULL,
        pin_hash          TEXT,
        password_hash     TEXT,
        name              TEXT,
        max_login_minutes BIGINT
    );
    CREATE TABLE user_profiles (
        user_key    TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        profile     TEXT NOT NULL,
        profile_key TEXT NOT NULL,
        PRIMARY KEY (user_key, position)
    );
    CREATE INDEX user_profiles_by_profile ON user_profiles(profile_key);
    CREATE TABLE profiles (
        key         TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        description TEXT
    );
    CREATE TABLE profile_lines (
        profile_key TEXT NOT NULL REFERENCES profiles(key) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        line        TEXT NOT NULL,
        PRIMARY KEY (profile_key, position)
    );
    CREATE TABLE devices (
        key        TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        model      TEXT,
        em_enabled BOOLEAN NOT NULL,
        last_user  TEXT
    );
    CREATE TABLE admins (
        key           TEXT PRIMARY KEY,
        username      TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL
    );
    CREATE TABLE policy (
        id                      INTEGER PRIMARY KEY CHECK (id = 1),
        multiple_login          TEXT NOT NULL,
        max_login_minutes       BIGINT NOT NULL,
        enforce_max_login       BOOLEAN NOT NULL,
        remember_last_user      BOOLEAN NOT NULL,
        max_concurrent_requests BIGINT NOT NULL,
        validate_ip             BOOLEAN NOT NULL,
        allow_proxy             BOOLEAN NOT NULL
    );
    CREATE TABLE policy_trusted_ips (
        position INTEGER PRIMARY KEY,
        ip       TEXT NOT NULL
    );
    CREATE TABLE logins (
        device_key   TEXT PRIMARY KEY,
        device       TEXT NOT NULL,
        user_key     TEXT NOT NULL,
        "user"       TEXT NOT NULL,
        profile      TEXT NOT NULL,
        app          TEXT NOT NULL,
        logged_in_at BIGINT NOT NULL,
        expires_at   BIGINT
    );
    CREATE INDEX logins_by_user ON logins(user_key);
    CREATE INDEX logins_by_deadline ON logins(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE events (
        seq     BIGINT PRIMARY KEY,
        at      BIGINT NOT NULL,
        kind    TEXT NOT NULL,
        actor   TEXT,
        device  TEXT,
        "user"  TEXT,
        profile TEXT,
        detail  TEXT
    );
    CREATE TABLE event_counter (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        last BIGINT NOT NULL
    );
    INSERT INTO event_counter (id, last) VALUES (1, 0);
    CREATE TABLE admin_sessions (
        token_hash   TEXT PRIMARY KEY,
        admin_key    TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        callback_url TEXT,
        peer         TEXT,
        events_after BIGINT
    );
    CREATE INDEX admin_sessions_by_deadline ON admin_sessions(expires_at);
    CREATE INDEX admin_sessions_by_admin ON admin_sessions(admin_key);
    CREATE TABLE change_sets (
        id         TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE change_set_edits (
        change_set_id TEXT NOT NULL REFERENCES change_sets(id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,
        edit          TEXT NOT NULL,
        PRIMARY KEY (change_set_id, position)
    );
    "#,
    // 2: which node delivers a subscribed session's events, and until when.
    r#"
    ALTER TABLE admin_sessions ADD COLUMN delivery_node TEXT;
    ALTER TABLE admin_sessions ADD COLUMN delivery_until BIGINT;
    "#,
    // 3: the phone service, as the SQLite backend's migration 5.
    r#"
    ALTER TABLE users ADD COLUMN extension TEXT;
    CREATE INDEX users_by_extension ON users(extension) WHERE extension IS NOT NULL;

    ALTER TABLE policy ADD COLUMN min_pin_length BIGINT NOT NULL DEFAULT 4;
    ALTER TABLE policy ADD COLUMN phone_service BOOLEAN NOT NULL DEFAULT TRUE;

    CREATE TABLE pin_guards (
        user_key     TEXT PRIMARY KEY REFERENCES users(key) ON DELETE CASCADE,
        failures     BIGINT NOT NULL,
        window_start BIGINT NOT NULL,
        locked_until BIGINT
    );

    CREATE TABLE phone_menus (
        token_hash TEXT PRIMARY KEY,
        device     TEXT NOT NULL,
        "user"     TEXT NOT NULL,
        profiles   TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX phone_menus_by_deadline ON phone_menus(expires_at);

    CREATE TABLE pin_key (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        key_id TEXT NOT NULL
    );
    "#,
    // 4: a user's profile list names profiles that exist, as on SQLite (its migration 6). A
    // name that pointed at no profile (an import that raced a delete, in an earlier release)
    // is dropped first: it could only ever fail a login.
    r#"
    DELETE FROM user_profiles WHERE profile_key NOT IN (SELECT key FROM profiles);
    ALTER TABLE user_profiles ADD CONSTRAINT user_profiles_profile
        FOREIGN KEY (profile_key) REFERENCES profiles(key);
    "#,
    // 5: events by time, a device's logout profile, the device's configuration in login and
    // logout events (as SQLite's migration 7).
    r#"
    CREATE INDEX events_by_time ON events(at);
    ALTER TABLE devices ADD COLUMN logout_profile TEXT;
    ALTER TABLE devices ADD COLUMN logout_profile_key TEXT REFERENCES profiles(key);
    CREATE INDEX devices_by_logout_profile ON devices(logout_profile_key)
        WHERE logout_profile_key IS NOT NULL;
    ALTER TABLE events ADD COLUMN state TEXT;
    "#,
    // 6: events are numbered after their transaction commits (`engine::NUMBER_EVENTS`), no
    // longer from inside it: a row is written without `seq`, and `id` keeps the order they
    // were written in until then. (Adding `id` rewrites the table once.)
    r#"
    ALTER TABLE events ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY;
    ALTER TABLE events DROP CONSTRAINT events_pkey;
    ALTER TABLE events ALTER COLUMN seq DROP NOT NULL;
    CREATE UNIQUE INDEX events_by_seq ON events(seq);
    CREATE INDEX events_to_number ON events(id) WHERE seq IS NULL;
    "#,
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// What went wrong while migrating.
#[derive(Debug)]
pub(super) enum MigrateError {
    Database(postgres::Error),
    TooNew { found: i64 },
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Database(e)
    }
}

/// Bring the schema to [`latest_version`]: all of it in one transaction holding the migration
/// lock, so a node that starts during another's migration waits and then finds nothing to do.
pub(super) fn migrate(client: &mut Client) -> Result<i64, MigrateError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)"
    ))?;
    let found: i64 = tx
        .query_opt(&format!("SELECT version FROM {VERSION_TABLE}"), &[])?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let known = latest_version();
    if found > known {
        return Err(MigrateError::TooNew { found });
    }
    if found < known {
        // A migration may rewrite a large table: the connection's statement timeout, sized
        // for one request, must not fail it at every start.
        tx.batch_execute("SET LOCAL statement_timeout = 0")?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.batch_execute(sql)?;
        tracing::info!(version = index + 1, "applied database migration");
    }
    tx.execute(
        &format!(
            "INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version"
        ),
        &[&known],
    )?;
    tx.commit()?;
    Ok(known)
}
