//! The statements the PostgreSQL reader and writer share, over any client or transaction.

use postgres::Row;

use super::conn::Db;

use crate::domain::{
    Admin, AdminSession, AppUser, ChangeSet, Device, DeviceProfile, DirectoryCounts, EntityKind,
    Event, EventKind, Key, Login, MultipleLogin, NewEvent, PinGuard, Policy, Role, StoreError,
    StoreResult, Timestamp, User,
};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The cause chain holds what matters (refused, reset, the server's message).
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        use postgres::error::SqlState;
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Conflict(text)
            }
            _ => StoreError::Database(text),
        }
    }
}

fn bad_value(what: &str, value: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} {value:?} in the database"))
}

/// u32 fields are BIGINT columns: a value out of range is corruption, not a panic.
fn to_u32(v: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| bad_value(what, &v.to_string()))
}

pub(super) const LOGIN_COLUMNS: &str = r#"device, "user", profile, app, logged_in_at, expires_at"#;

pub(super) fn login_from_row(r: &Row) -> Login {
    Login {
        device: r.get(0),
        user: r.get(1),
        profile: r.get(2),
        app: r.get(3),
        logged_in_at: Timestamp(r.get(4)),
        deadline: r.get::<_, Option<i64>>(5).map(Timestamp),
    }
}

pub(super) fn table(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Application => "apps",
        EntityKind::User => "users",
        EntityKind::DeviceProfile => "profiles",
        EntityKind::Device => "devices",
        EntityKind::Admin => "admins",
    }
}

pub(super) fn app(c: &mut Db<'_, '_>, key: &Key) -> StoreResult<Option<AppUser>> {
    let Some(row) = c.query_opt(
        "SELECT id, proxy FROM apps WHERE key = $1",
        &[&key.as_str()],
    )?
    else {
        return Ok(None);
    };
    let hashes = c
        .query(
            "SELECT hash FROM app_certificates WHERE app_key = $1 ORDER BY position",
            &[&key.as_str()],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(AppUser {
        id: row.get(0),
        certificate_hashes: hashes,
        proxy: row.get(1),
    }))
}

pub(super) fn user(c: &mut Db<'_, '_>, key: &Key) -> StoreResult<Option<User>> {
    let Some(row) = c.query_opt(
        "SELECT id, pin_hash, password_hash, name, max_login_minutes, extension
         FROM users WHERE key = $1",
        &[&key.as_str()],
    )?
    else {
        return Ok(None);
    };
    let profiles = c
        .query(
            "SELECT profile FROM user_profiles WHERE user_key = $1 ORDER BY position",
            &[&key.as_str()],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(User {
        id: row.get(0),
        pin_hash: row.get(1),
        password_hash: row.get(2),
        name: row.get(3),
        profiles,
        max_login_minutes: row
            .get::<_, Option<i64>>(4)
            .map(|m| to_u32(m, "max_login_minutes"))
            .transpose()?,
        extension: row.get(5),
    }))
}

/// Up to `limit` users with this primary extension, by key.
pub(super) fn users_with_extension(
    c: &mut Db<'_, '_>,
    extension: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let keys: Vec<String> = c
        .query(
            "SELECT key FROM users WHERE extension = $1 ORDER BY key LIMIT $2",
            &[&extension, &i64::from(limit)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut users = Vec::with_capacity(keys.len());
    for key in keys {
        users.extend(user(c, &Key::of(&key))?);
    }
    Ok(users)
}

pub(super) fn pin_guard(c: &mut Db<'_, '_>, user: &Key) -> StoreResult<Option<PinGuard>> {
    c.query_opt(
        "SELECT failures, window_start, locked_until FROM pin_guards WHERE user_key = $1",
        &[&user.as_str()],
    )?
    .map(|r| {
        Ok(PinGuard {
            failures: to_u32(r.get(0), "failures")?,
            window_start: Timestamp(r.get(1)),
            locked_until: r.get::<_, Option<i64>>(2).map(Timestamp),
        })
    })
    .transpose()
}

/// The device and its `last_user`.
pub(super) fn device(
    c: &mut Db<'_, '_>,
    key: &Key,
) -> StoreResult<Option<(Device, Option<String>)>> {
    Ok(c.query_opt(
        "SELECT name, model, em_enabled, last_user FROM devices WHERE key = $1",
        &[&key.as_str()],
    )?
    .map(|r| {
        (
            Device {
                name: r.get(0),
                model: r.get(1),
                em_enabled: r.get(2),
            },
            r.get(3),
        )
    }))
}

pub(super) fn profile(c: &mut Db<'_, '_>, key: &Key) -> StoreResult<Option<DeviceProfile>> {
    let Some(row) = c.query_opt(
        "SELECT name, description FROM profiles WHERE key = $1",
        &[&key.as_str()],
    )?
    else {
        return Ok(None);
    };
    let lines = c
        .query(
            "SELECT line FROM profile_lines WHERE profile_key = $1 ORDER BY position",
            &[&key.as_str()],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(DeviceProfile {
        name: row.get(0),
        description: row.get(1),
        lines,
    }))
}

pub(super) fn admin(c: &mut Db<'_, '_>, key: &Key) -> StoreResult<Option<Admin>> {
    let Some(row) = c.query_opt(
        "SELECT username, password_hash, role FROM admins WHERE key = $1",
        &[&key.as_str()],
    )?
    else {
        return Ok(None);
    };
    let role: String = row.get(2);
    Ok(Some(Admin {
        username: row.get(0),
        password_hash: row.get(1),
        role: Role::parse(&role).ok_or_else(|| bad_value("role", &role))?,
    }))
}

const SESSION_COLUMNS: &str = "s.token_hash, a.username, a.role, s.created_at, s.expires_at,
     s.callback_url, s.peer, s.events_after";

fn session_from_row(r: &Row) -> StoreResult<AdminSession> {
    let role: String = r.get(2);
    Ok(AdminSession {
        token_hash: r.get(0),
        username: r.get(1),
        role: Role::parse(&role).ok_or_else(|| bad_value("role", &role))?,
        created_at: Timestamp(r.get(3)),
        expires_at: Timestamp(r.get(4)),
        callback_url: r.get(5),
        peer: r.get(6),
        events_after: r.get(7),
    })
}

pub(super) fn session(c: &mut Db<'_, '_>, token_hash: &str) -> StoreResult<Option<AdminSession>> {
    c.query_opt(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM admin_sessions s JOIN admins a ON a.key = s.admin_key
             WHERE s.token_hash = $1"
        ),
        &[&token_hash],
    )?
    .map(|r| session_from_row(&r))
    .transpose()
}

pub(super) fn live_sessions(c: &mut Db<'_, '_>, now: Timestamp) -> StoreResult<Vec<AdminSession>> {
    c.query(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM admin_sessions s JOIN admins a ON a.key = s.admin_key
             WHERE s.expires_at > $1 ORDER BY s.created_at, s.token_hash"
        ),
        &[&now.0],
    )?
    .iter()
    .map(session_from_row)
    .collect()
}

pub(super) fn policy(c: &mut Db<'_, '_>) -> StoreResult<Policy> {
    let Some(r) = c.query_opt(
        "SELECT multiple_login, max_login_minutes, enforce_max_login, remember_last_user,
                max_concurrent_requests, validate_ip, allow_proxy, min_pin_length, phone_service
         FROM policy WHERE id = 1",
        &[],
    )?
    else {
        return Ok(Policy::default());
    };
    let multiple: String = r.get(0);
    let trusted_ips = c
        .query("SELECT ip FROM policy_trusted_ips ORDER BY position", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Policy {
        multiple_login: MultipleLogin::parse(&multiple)
            .ok_or_else(|| bad_value("multiple-login behaviour", &multiple))?,
        max_login_minutes: to_u32(r.get(1), "max_login_minutes")?,
        enforce_max_login: r.get(2),
        remember_last_user: r.get(3),
        max_concurrent_requests: to_u32(r.get(4), "max_concurrent_requests")?,
        validate_ip: r.get(5),
        trusted_ips,
        allow_proxy: r.get(6),
        min_pin_length: to_u32(r.get(7), "min_pin_length")?,
        phone_service: r.get(8),
    })
}

/// The login on a device; with `live_at`, a login due then counts as gone.
pub(super) fn device_login(
    c: &mut Db<'_, '_>,
    device: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Option<Login>> {
    let now = live_at.map_or(i64::MIN, |t| t.0);
    Ok(c.query_opt(
        &format!(
            "SELECT {LOGIN_COLUMNS} FROM logins
             WHERE device_key = $1 AND (expires_at IS NULL OR expires_at > $2)"
        ),
        &[&device.as_str(), &now],
    )?
    .map(|r| login_from_row(&r)))
}

/// A user's logins, oldest first; with `live_at`, logins due then are left out.
pub(super) fn user_logins(
    c: &mut Db<'_, '_>,
    user: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Vec<Login>> {
    let now = live_at.map_or(i64::MIN, |t| t.0);
    Ok(c.query(
        &format!(
            "SELECT {LOGIN_COLUMNS} FROM logins
                 WHERE user_key = $1 AND (expires_at IS NULL OR expires_at > $2)
                 ORDER BY logged_in_at, device_key"
        ),
        &[&user.as_str(), &now],
    )?
    .iter()
    .map(login_from_row)
    .collect())
}

pub(super) fn live_logins(c: &mut Db<'_, '_>, now: Timestamp) -> StoreResult<Vec<Login>> {
    Ok(c.query(
        &format!(
            "SELECT {LOGIN_COLUMNS} FROM logins
                 WHERE expires_at IS NULL OR expires_at > $1 ORDER BY device_key"
        ),
        &[&now.0],
    )?
    .iter()
    .map(login_from_row)
    .collect())
}

pub(super) fn next_deadline(c: &mut Db<'_, '_>) -> StoreResult<Option<Timestamp>> {
    Ok(c.query_one("SELECT MIN(expires_at) FROM logins", &[])?
        .get::<_, Option<i64>>(0)
        .map(Timestamp))
}

pub(super) fn events_after(c: &mut Db<'_, '_>, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
    c.query(
        r#"SELECT seq, at, kind, actor, device, "user", profile, detail FROM events
           WHERE seq > $1 ORDER BY seq LIMIT $2"#,
        &[&after, &i64::from(limit)],
    )?
    .iter()
    .map(|r| {
        let kind: String = r.get(2);
        Ok(Event {
            seq: r.get(0),
            event: NewEvent {
                at: Timestamp(r.get(1)),
                kind: EventKind::parse(&kind).ok_or_else(|| bad_value("event kind", &kind))?,
                actor: r.get(3),
                device: r.get(4),
                user: r.get(5),
                profile: r.get(6),
                detail: r.get(7),
            },
        })
    })
    .collect()
}

pub(super) fn counts(c: &mut Db<'_, '_>) -> StoreResult<DirectoryCounts> {
    let r = c.query_one(
        "SELECT (SELECT COUNT(*) FROM apps), (SELECT COUNT(*) FROM users),
                (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM devices),
                (SELECT COUNT(*) FROM admins)",
        &[],
    )?;
    let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
    Ok(DirectoryCounts {
        apps: n(0),
        users: n(1),
        profiles: n(2),
        devices: n(3),
        admins: n(4),
    })
}

pub(super) fn names(
    c: &mut Db<'_, '_>,
    kind: EntityKind,
    contains: Option<&str>,
    offset: u64,
    limit: u32,
) -> StoreResult<(u64, Vec<Key>)> {
    let table = table(kind);
    // strpos() rather than LIKE: a filter is plain text, with no wildcards to escape.
    let filter = contains.unwrap_or("");
    let total: i64 = c
        .query_one(
            &format!("SELECT COUNT(*) FROM {table} WHERE strpos(key, $1) > 0"),
            &[&filter],
        )?
        .get(0);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let keys = c
        .query(
            &format!(
                // Byte order, as SQLite sorts: not the database's collation, which varies.
                "SELECT key FROM {table} WHERE strpos(key, $1) > 0
                 ORDER BY key COLLATE \"C\" LIMIT $2 OFFSET $3"
            ),
            &[&filter, &i64::from(limit), &offset],
        )?
        .iter()
        .map(|r| Key::of(r.get(0)))
        .collect();
    Ok((total.max(0) as u64, keys))
}

pub(super) fn change_set(c: &mut Db<'_, '_>, id: &str) -> StoreResult<Option<ChangeSet>> {
    let Some(row) = c.query_opt(
        "SELECT owner, created_at FROM change_sets WHERE id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let edits = c
        .query(
            "SELECT edit FROM change_set_edits WHERE change_set_id = $1 ORDER BY position",
            &[&id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(ChangeSet {
        id: id.to_string(),
        owner: row.get(0),
        created_at: Timestamp(row.get(1)),
        edits,
    }))
}
