//! The statements both sides use: the writer inside a job's transaction ([`super::tx`]) and the
//! readers outside it ([`super::SqliteStore`]'s `Store` reads). One copy, so a row is always
//! decoded the same way whoever reads it.
//!
//! Every lookup is by `key` (the case-folded name, [`Key`]) and returns the name as stored.

use crate::domain::{
    Admin, AdminSession, AppUser, ChangeSet, Device, DeviceProfile, DirectoryCounts, EntityKind,
    Event, EventKind, Key, Login, MultipleLogin, NewEvent, PinGuard, Policy, Role, StoreError,
    StoreResult, Timestamp, User,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Driver errors become the domain's one storage error (EM code 6); the message keeps
/// SQLite's own words for the log.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// A stored value this build cannot read (e.g. a role written by a newer version): a
/// conversion error that names the column, rather than a guess.
fn bad_value(column: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        format!("unknown {what} {value:?} in the database").into(),
    )
}

pub(super) const LOGIN_COLUMNS: &str = "device, user, profile, app, logged_in_at, expires_at";

/// Decode a row selected (or returned) with [`LOGIN_COLUMNS`].
pub(super) fn login_from_row(r: &Row<'_>) -> rusqlite::Result<Login> {
    Ok(Login {
        device: r.get(0)?,
        user: r.get(1)?,
        profile: r.get(2)?,
        app: r.get(3)?,
        logged_in_at: Timestamp(r.get(4)?),
        deadline: r.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

pub(super) fn app(conn: &Connection, key: &Key) -> StoreResult<Option<AppUser>> {
    let mut st = conn.prepare_cached("SELECT id, proxy FROM apps WHERE key = ?1")?;
    let app = st
        .query_row([key.as_str()], |r| {
            Ok(AppUser {
                id: r.get(0)?,
                certificate_hashes: Vec::new(),
                proxy: r.get(1)?,
            })
        })
        .optional()?;
    let Some(mut app) = app else { return Ok(None) };
    let mut st = conn
        .prepare_cached("SELECT hash FROM app_certificates WHERE app_key = ?1 ORDER BY position")?;
    app.certificate_hashes = st
        .query_map([key.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(app))
}

pub(super) fn user(conn: &Connection, key: &Key) -> StoreResult<Option<User>> {
    let mut st = conn.prepare_cached(
        "SELECT id, pin_hash, password_hash, name, max_login_minutes, extension
         FROM users WHERE key = ?1",
    )?;
    let user = st
        .query_row([key.as_str()], |r| {
            Ok(User {
                id: r.get(0)?,
                pin_hash: r.get(1)?,
                password_hash: r.get(2)?,
                name: r.get(3)?,
                profiles: Vec::new(),
                max_login_minutes: r.get(4)?,
                extension: r.get(5)?,
            })
        })
        .optional()?;
    let Some(mut user) = user else {
        return Ok(None);
    };
    let mut st = conn.prepare_cached(
        "SELECT profile FROM user_profiles WHERE user_key = ?1 ORDER BY position",
    )?;
    user.profiles = st
        .query_map([key.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(user))
}

/// The device and its `last_user`.
pub(super) fn device(
    conn: &Connection,
    key: &Key,
) -> StoreResult<Option<(Device, Option<String>)>> {
    let mut st = conn
        .prepare_cached("SELECT name, model, em_enabled, last_user FROM devices WHERE key = ?1")?;
    let device = st
        .query_row([key.as_str()], |r| {
            Ok((
                Device {
                    name: r.get(0)?,
                    model: r.get(1)?,
                    em_enabled: r.get(2)?,
                },
                r.get(3)?,
            ))
        })
        .optional()?;
    Ok(device)
}

pub(super) fn profile(conn: &Connection, key: &Key) -> StoreResult<Option<DeviceProfile>> {
    let mut st = conn.prepare_cached("SELECT name, description FROM profiles WHERE key = ?1")?;
    let profile = st
        .query_row([key.as_str()], |r| {
            Ok(DeviceProfile {
                name: r.get(0)?,
                description: r.get(1)?,
                lines: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut profile) = profile else {
        return Ok(None);
    };
    let mut st = conn.prepare_cached(
        "SELECT line FROM profile_lines WHERE profile_key = ?1 ORDER BY position",
    )?;
    profile.lines = st
        .query_map([key.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(profile))
}

pub(super) fn profile_exists(conn: &Connection, key: &Key) -> StoreResult<bool> {
    let mut st = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM profiles WHERE key = ?1)")?;
    Ok(st.query_row([key.as_str()], |r| r.get(0))?)
}

pub(super) fn admin(conn: &Connection, key: &Key) -> StoreResult<Option<Admin>> {
    let mut st =
        conn.prepare_cached("SELECT username, password_hash, role FROM admins WHERE key = ?1")?;
    let admin = st
        .query_row([key.as_str()], |r| {
            let role: String = r.get(2)?;
            Ok(Admin {
                username: r.get(0)?,
                password_hash: r.get(1)?,
                role: Role::parse(&role).ok_or_else(|| bad_value(2, "role", &role))?,
            })
        })
        .optional()?;
    Ok(admin)
}

const SESSION_COLUMNS: &str = "s.token_hash, a.username, a.role, s.created_at, s.expires_at,
     s.callback_url, s.peer, s.events_after";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<AdminSession> {
    let role: String = r.get(2)?;
    Ok(AdminSession {
        token_hash: r.get(0)?,
        username: r.get(1)?,
        role: Role::parse(&role).ok_or_else(|| bad_value(2, "role", &role))?,
        created_at: Timestamp(r.get(3)?),
        expires_at: Timestamp(r.get(4)?),
        callback_url: r.get(5)?,
        peer: r.get(6)?,
        events_after: r.get(7)?,
    })
}

pub(super) fn session(conn: &Connection, token_hash: &str) -> StoreResult<Option<AdminSession>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS}
         FROM admin_sessions s JOIN admins a ON a.key = s.admin_key
         WHERE s.token_hash = ?1"
    ))?;
    Ok(st.query_row([token_hash], session_from_row).optional()?)
}

pub(super) fn live_sessions(conn: &Connection, now: Timestamp) -> StoreResult<Vec<AdminSession>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS}
         FROM admin_sessions s JOIN admins a ON a.key = s.admin_key
         WHERE s.expires_at > ?1 ORDER BY s.created_at, s.token_hash"
    ))?;
    Ok(st
        .query_map([now.0], session_from_row)?
        .collect::<Result<_, _>>()?)
}

/// The table that holds each kind of object.
pub(super) fn table(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Application => "apps",
        EntityKind::User => "users",
        EntityKind::DeviceProfile => "profiles",
        EntityKind::Device => "devices",
        EntityKind::Admin => "admins",
    }
}

pub(super) fn names(
    conn: &Connection,
    kind: EntityKind,
    contains: Option<&str>,
    offset: u64,
    limit: u32,
) -> StoreResult<(u64, Vec<Key>)> {
    let table = table(kind);
    // instr() rather than LIKE: a filter is plain text, with no wildcards to escape.
    let filter = contains.unwrap_or("");
    let mut st = conn.prepare_cached(&format!(
        "SELECT COUNT(*) FROM {table} WHERE instr(key, ?1) > 0"
    ))?;
    let total: i64 = st.query_row([filter], |r| r.get(0))?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT key FROM {table} WHERE instr(key, ?1) > 0 ORDER BY key LIMIT ?2 OFFSET ?3"
    ))?;
    let keys = st
        .query_map(
            params![filter, limit, i64::try_from(offset).unwrap_or(i64::MAX)],
            |r| r.get::<_, String>(0),
        )?
        .map(|k| k.map(|k| Key::of(&k)))
        .collect::<Result<_, _>>()?;
    Ok((total.max(0) as u64, keys))
}

pub(super) fn change_set(conn: &Connection, id: &str) -> StoreResult<Option<ChangeSet>> {
    let mut st = conn.prepare_cached("SELECT owner, created_at FROM change_sets WHERE id = ?1")?;
    let Some((owner, created_at)) = st
        .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .optional()?
    else {
        return Ok(None);
    };
    let mut st = conn.prepare_cached(
        "SELECT edit FROM change_set_edits WHERE change_set_id = ?1 ORDER BY position",
    )?;
    let edits = st
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(ChangeSet {
        id: id.to_string(),
        owner,
        created_at: Timestamp(created_at),
        edits,
    }))
}

pub(super) fn policy(conn: &Connection) -> StoreResult<Policy> {
    let mut st = conn.prepare_cached(
        "SELECT multiple_login, max_login_minutes, enforce_max_login, remember_last_user,
                max_concurrent_requests, validate_ip, allow_proxy, min_pin_length, phone_service
         FROM policy WHERE id = 1",
    )?;
    let policy = st
        .query_row([], |r| {
            let multiple: String = r.get(0)?;
            Ok(Policy {
                multiple_login: MultipleLogin::parse(&multiple)
                    .ok_or_else(|| bad_value(0, "multiple-login behaviour", &multiple))?,
                max_login_minutes: r.get(1)?,
                enforce_max_login: r.get(2)?,
                remember_last_user: r.get(3)?,
                max_concurrent_requests: r.get(4)?,
                validate_ip: r.get(5)?,
                trusted_ips: Vec::new(),
                allow_proxy: r.get(6)?,
                min_pin_length: r.get(7)?,
                phone_service: r.get(8)?,
            })
        })
        .optional()?;
    let Some(mut policy) = policy else {
        return Ok(Policy::default());
    };
    let mut st = conn.prepare_cached("SELECT ip FROM policy_trusted_ips ORDER BY position")?;
    policy.trusted_ips = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(policy)
}

/// Up to `limit` users with this primary extension, by key.
pub(super) fn users_with_extension(
    conn: &Connection,
    extension: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let mut st =
        conn.prepare_cached("SELECT key FROM users WHERE extension = ?1 ORDER BY key LIMIT ?2")?;
    let keys: Vec<String> = st
        .query_map(params![extension, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut users = Vec::with_capacity(keys.len());
    for key in keys {
        users.extend(user(conn, &Key::of(&key))?);
    }
    Ok(users)
}

pub(super) fn pin_guard(conn: &Connection, user: &Key) -> StoreResult<Option<PinGuard>> {
    let mut st = conn.prepare_cached(
        "SELECT failures, window_start, locked_until FROM pin_guards WHERE user_key = ?1",
    )?;
    Ok(st
        .query_row([user.as_str()], |r| {
            Ok(PinGuard {
                failures: r.get(0)?,
                window_start: Timestamp(r.get(1)?),
                locked_until: r.get::<_, Option<i64>>(2)?.map(Timestamp),
            })
        })
        .optional()?)
}

/// The login on a device. With `live_at`, a login due at that instant counts as gone.
pub(super) fn device_login(
    conn: &Connection,
    device: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Option<Login>> {
    let login = match live_at {
        None => conn
            .prepare_cached(&format!(
                "SELECT {LOGIN_COLUMNS} FROM logins WHERE device_key = ?1"
            ))?
            .query_row([device.as_str()], login_from_row)
            .optional()?,
        Some(now) => conn
            .prepare_cached(&format!(
                "SELECT {LOGIN_COLUMNS} FROM logins
                 WHERE device_key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
            ))?
            .query_row(params![device.as_str(), now.0], login_from_row)
            .optional()?,
    };
    Ok(login)
}

/// A user's logins, oldest first. With `live_at`, logins due at that instant are left out.
pub(super) fn user_logins(
    conn: &Connection,
    user: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Vec<Login>> {
    let logins = match live_at {
        None => conn
            .prepare_cached(&format!(
                "SELECT {LOGIN_COLUMNS} FROM logins WHERE user_key = ?1
                 ORDER BY logged_in_at, device_key"
            ))?
            .query_map([user.as_str()], login_from_row)?
            .collect::<Result<_, _>>()?,
        Some(now) => conn
            .prepare_cached(&format!(
                "SELECT {LOGIN_COLUMNS} FROM logins
                 WHERE user_key = ?1 AND (expires_at IS NULL OR expires_at > ?2)
                 ORDER BY logged_in_at, device_key"
            ))?
            .query_map(params![user.as_str(), now.0], login_from_row)?
            .collect::<Result<_, _>>()?,
    };
    Ok(logins)
}

/// Every login live at `now`, by device.
pub(super) fn live_logins(conn: &Connection, now: Timestamp) -> StoreResult<Vec<Login>> {
    let logins = conn
        .prepare_cached(&format!(
            "SELECT {LOGIN_COLUMNS} FROM logins
             WHERE expires_at IS NULL OR expires_at > ?1
             ORDER BY device_key"
        ))?
        .query_map([now.0], login_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(logins)
}

pub(super) fn next_deadline(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    let mut st = conn.prepare_cached("SELECT MIN(expires_at) FROM logins")?;
    Ok(st
        .query_row([], |r| r.get::<_, Option<i64>>(0))?
        .map(Timestamp))
}

pub(super) fn events_after(conn: &Connection, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
    let mut st = conn.prepare_cached(
        "SELECT seq, at, kind, actor, device, user, profile, detail FROM events
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let events = st
        .query_map(params![after, limit], |r| {
            let kind: String = r.get(2)?;
            Ok(Event {
                seq: r.get(0)?,
                event: NewEvent {
                    at: Timestamp(r.get(1)?),
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| bad_value(2, "event kind", &kind))?,
                    actor: r.get(3)?,
                    device: r.get(4)?,
                    user: r.get(5)?,
                    profile: r.get(6)?,
                    detail: r.get(7)?,
                },
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(events)
}

pub(super) fn counts(conn: &Connection) -> StoreResult<DirectoryCounts> {
    let mut st = conn.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM apps), (SELECT COUNT(*) FROM users),
                (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM devices),
                (SELECT COUNT(*) FROM admins)",
    )?;
    // COUNT(*) is never negative; read as i64, the type SQLite has.
    let count = |r: &Row<'_>, i: usize| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
    let counts = st.query_row([], |r| {
        Ok(DirectoryCounts {
            apps: count(r, 0)?,
            users: count(r, 1)?,
            profiles: count(r, 2)?,
            devices: count(r, 3)?,
            admins: count(r, 4)?,
        })
    })?;
    Ok(counts)
}
