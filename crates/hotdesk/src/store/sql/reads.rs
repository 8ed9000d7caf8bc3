//! The lookups both sides use: a write job inside its transaction, and a read job on its
//! snapshot ([`Sql`]). One copy, so a row is decoded the same way whoever reads it.
//!
//! Every lookup is by `key` (the case-folded name, [`Key`]) and returns the name as stored.

use super::{Conn, Engine, LOGIN_COLUMNS, Row, Sql, args, login, table};
use crate::domain::{
    Admin, AdminSession, AppUser, ChangeSet, Device, DeviceProfile, DeviceState, DirectoryCounts,
    EntityKind, Event, EventKind, EventQuery, Gauges, Key, Login, Lookup, MultipleLogin, NewEvent,
    PinGuard, Policy, Reader, Role, StoreResult, Timestamp, User,
};

pub(crate) fn app(c: &mut impl Conn, key: &Key) -> StoreResult<Option<AppUser>> {
    // One statement for the app and its certificates: every EM request reads them.
    let rows = c.query(
        "SELECT a.id, a.proxy, c.hash FROM apps a
         LEFT JOIN app_certificates c ON c.app_key = a.key
         WHERE a.key = $1 ORDER BY c.position",
        args![key],
    )?;
    let mut rows = rows.into_iter();
    let Some(mut first) = rows.next() else {
        return Ok(None);
    };
    let (id, proxy) = (first.get()?, first.get()?);
    let mut certificate_hashes = Vec::with_capacity(1 + rows.len());
    certificate_hashes.extend(first.get::<Option<String>>()?);
    for mut r in rows {
        r.skip(2)?;
        certificate_hashes.push(r.get()?);
    }
    Ok(Some(AppUser {
        id,
        proxy,
        certificate_hashes,
    }))
}

pub(crate) fn user(c: &mut impl Conn, key: &Key) -> StoreResult<Option<User>> {
    let Some(mut r) = c.query_opt(
        "SELECT id, pin_hash, password_hash, name, max_login_minutes, extension
         FROM users WHERE key = $1",
        args![key],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(User {
        id: r.get()?,
        pin_hash: r.get()?,
        password_hash: r.get()?,
        name: r.get()?,
        max_login_minutes: r.get()?,
        extension: r.get()?,
        profiles: c.query_map(
            "SELECT profile FROM user_profiles WHERE user_key = $1 ORDER BY position",
            args![key],
            |mut r| r.get(),
        )?,
    }))
}

/// The device and its `last_user`.
pub(crate) fn device(
    c: &mut impl Conn,
    key: &Key,
) -> StoreResult<Option<(Device, Option<String>)>> {
    c.query_opt(
        "SELECT name, model, em_enabled, logout_profile, last_user FROM devices WHERE key = $1",
        args![key],
    )?
    .map(|mut r| {
        Ok((
            Device {
                name: r.get()?,
                model: r.get()?,
                em_enabled: r.get()?,
                logout_profile: r.get()?,
            },
            r.get()?,
        ))
    })
    .transpose()
}

pub(crate) fn profile(c: &mut impl Conn, key: &Key) -> StoreResult<Option<DeviceProfile>> {
    let Some(mut r) = c.query_opt(
        "SELECT name, description FROM profiles WHERE key = $1",
        args![key],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(DeviceProfile {
        name: r.get()?,
        description: r.get()?,
        lines: c.query_map(
            "SELECT line FROM profile_lines WHERE profile_key = $1 ORDER BY position",
            args![key],
            |mut r| r.get(),
        )?,
    }))
}

pub(crate) fn admin(c: &mut impl Conn, key: &Key) -> StoreResult<Option<Admin>> {
    c.query_opt(
        "SELECT username, password_hash, role FROM admins WHERE key = $1",
        args![key],
    )?
    .map(|mut r| {
        Ok(Admin {
            username: r.get()?,
            password_hash: r.get()?,
            role: r.parsed("role", Role::parse)?,
        })
    })
    .transpose()
}

const SESSIONS: &str = "SELECT s.token_hash, a.username, a.role, s.created_at, s.expires_at,
         s.callback_url, s.peer, s.events_after
     FROM admin_sessions s JOIN admins a ON a.key = s.admin_key";

fn session_from(mut r: Row) -> StoreResult<AdminSession> {
    Ok(AdminSession {
        token_hash: r.get()?,
        username: r.get()?,
        role: r.parsed("role", Role::parse)?,
        created_at: r.get()?,
        expires_at: r.get()?,
        callback_url: r.get()?,
        peer: r.get()?,
        events_after: r.get()?,
    })
}

pub(crate) fn session(c: &mut impl Conn, token_hash: &str) -> StoreResult<Option<AdminSession>> {
    let sql = format!("{SESSIONS} WHERE s.token_hash = $1");
    c.query_opt(&sql, args![token_hash])?
        .map(session_from)
        .transpose()
}

fn live_sessions(c: &mut impl Conn, now: Timestamp) -> StoreResult<Vec<AdminSession>> {
    let sql = format!("{SESSIONS} WHERE s.expires_at > $1 ORDER BY s.created_at, s.token_hash");
    c.query_map(&sql, args![now], session_from)
}

pub(crate) fn policy(c: &mut impl Conn) -> StoreResult<Policy> {
    // One statement, a row per trusted address (one with NULL when there are none): every EM
    // request reads the policy.
    let rows = c.query(
        "SELECT multiple_login, max_login_minutes, enforce_max_login, remember_last_user,
                max_concurrent_requests, validate_ip, allow_proxy, min_pin_length, phone_service,
                t.ip
         FROM policy LEFT JOIN policy_trusted_ips t ON true
         WHERE id = 1 ORDER BY t.position",
        args![],
    )?;
    let mut rows = rows.into_iter();
    let Some(mut r) = rows.next() else {
        return Ok(Policy::default());
    };
    let mut policy = Policy {
        multiple_login: r.parsed("multiple-login behaviour", MultipleLogin::parse)?,
        max_login_minutes: r.get()?,
        enforce_max_login: r.get()?,
        remember_last_user: r.get()?,
        max_concurrent_requests: r.get()?,
        validate_ip: r.get()?,
        allow_proxy: r.get()?,
        min_pin_length: r.get()?,
        phone_service: r.get()?,
        trusted_ips: Default::default(),
    };
    let mut ips: Vec<String> = r.get::<Option<String>>()?.into_iter().collect();
    for mut r in rows {
        r.skip(9)?;
        ips.push(r.get()?);
    }
    policy.trusted_ips = ips.into();
    Ok(policy)
}

pub(crate) fn change_set(c: &mut impl Conn, id: &str) -> StoreResult<Option<ChangeSet>> {
    let Some(mut r) = c.query_opt(
        "SELECT owner, created_at FROM change_sets WHERE id = $1",
        args![id],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(ChangeSet {
        id: id.to_string(),
        owner: r.get()?,
        created_at: r.get()?,
        edits: c.query_map(
            "SELECT edit FROM change_set_edits WHERE change_set_id = $1 ORDER BY position",
            args![id],
            |mut r| r.get(),
        )?,
    }))
}

pub(crate) fn pin_guard(c: &mut impl Conn, user: &Key) -> StoreResult<Option<PinGuard>> {
    c.query_opt(
        "SELECT failures, window_start, locked_until FROM pin_guards WHERE user_key = $1",
        args![user],
    )?
    .map(|mut r| {
        Ok(PinGuard {
            failures: r.get()?,
            window_start: r.get()?,
            locked_until: r.get()?,
        })
    })
    .transpose()
}

/// Logins whose deadline is after this instant, or that have none: with no instant, all.
fn live_after(live_at: Option<Timestamp>) -> i64 {
    live_at.map_or(i64::MIN, |t| t.0)
}

/// The login on a device. With `live_at`, a login due at that instant counts as gone.
pub(crate) fn device_login(
    c: &mut impl Conn,
    device: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Option<Login>> {
    let sql = format!(
        "SELECT {LOGIN_COLUMNS} FROM logins
         WHERE device_key = $1 AND (expires_at IS NULL OR expires_at > $2)"
    );
    let row = c.query_opt(&sql, args![device, live_after(live_at)])?;
    row.map(login).transpose()
}

/// A user's logins, oldest first. With `live_at`, logins due at that instant are left out.
pub(crate) fn user_logins(
    c: &mut impl Conn,
    user: &Key,
    live_at: Option<Timestamp>,
) -> StoreResult<Vec<Login>> {
    let sql = format!(
        "SELECT {LOGIN_COLUMNS} FROM logins
         WHERE user_key = $1 AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY logged_in_at, device_key"
    );
    c.query_map(&sql, args![user, live_after(live_at)], login)
}

const EVENTS: &str =
    r#"SELECT seq, at, kind, actor, device, "user", profile, detail, state FROM events"#;

fn event_from(mut r: Row) -> StoreResult<Event> {
    Ok(Event {
        seq: r.get()?,
        event: NewEvent {
            at: r.get()?,
            kind: r.parsed("event kind", EventKind::parse)?,
            actor: r.get()?,
            device: r.get()?,
            user: r.get()?,
            profile: r.get()?,
            detail: r.get()?,
            // A state this build cannot read loses the state, not the event: the outbox must
            // go on being read (history, streams, delivery) past it.
            state: r.get::<Option<String>>()?.and_then(|s| {
                super::outbox::state_from(&s)
                    .inspect_err(|e| tracing::warn!(error = %e, "an event's state is left out"))
                    .ok()
            }),
        },
    })
}

/// The same in a read job's snapshot and in a write job's transaction.
impl<E: Engine> Lookup for Sql<E> {
    fn app(&mut self, id: &Key) -> StoreResult<Option<AppUser>> {
        app(&mut self.0, id)
    }

    fn user(&mut self, id: &Key) -> StoreResult<Option<User>> {
        user(&mut self.0, id)
    }

    fn device(&mut self, name: &Key) -> StoreResult<Option<Device>> {
        Ok(device(&mut self.0, name)?.map(|(device, _)| device))
    }

    fn profile(&mut self, name: &Key) -> StoreResult<Option<DeviceProfile>> {
        profile(&mut self.0, name)
    }

    fn admin(&mut self, username: &Key) -> StoreResult<Option<Admin>> {
        admin(&mut self.0, username)
    }

    fn policy(&mut self) -> StoreResult<Policy> {
        policy(&mut self.0)
    }

    fn session(&mut self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        session(&mut self.0, token_hash)
    }
}

impl<E: Engine> Reader for Sql<E> {
    /// One statement for the device and its live login: what a `deviceUserQuery` asks.
    fn device_state(&mut self, name: &Key, now: Timestamp) -> StoreResult<Option<DeviceState>> {
        let sql = concat!(
            "SELECT d.name, d.model, d.em_enabled, d.logout_profile, d.last_user, ",
            "l.device, l.\"user\", l.profile, l.app, l.logged_in_at, l.expires_at ",
            "FROM devices d LEFT JOIN logins l ON l.device_key = d.key ",
            "AND (l.expires_at IS NULL OR l.expires_at > $2) WHERE d.key = $1"
        );
        let Some(mut r) = self.0.query_opt(sql, args![name, live_after(Some(now))])? else {
            return Ok(None);
        };
        let device = Device {
            name: r.get()?,
            model: r.get()?,
            em_enabled: r.get()?,
            logout_profile: r.get()?,
        };
        let last_user = r.get()?;
        let login = match r.get()? {
            None => None,
            Some(device) => Some(Login {
                device,
                user: r.get()?,
                profile: r.get()?,
                app: r.get()?,
                logged_in_at: r.get()?,
                deadline: r.get()?,
            }),
        };
        Ok(Some(DeviceState {
            device,
            login,
            last_user,
        }))
    }

    fn user_logins(&mut self, user: &Key, now: Timestamp) -> StoreResult<Vec<Login>> {
        user_logins(&mut self.0, user, Some(now))
    }

    fn live_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>> {
        self.0.query_map(
            &format!(
                "SELECT {LOGIN_COLUMNS} FROM logins WHERE expires_at IS NULL OR expires_at > $1
                 ORDER BY device_key"
            ),
            args![now],
            login,
        )
    }

    fn next_deadline(&mut self) -> StoreResult<Option<Timestamp>> {
        self.0
            // The condition lets both engines answer from the partial index of deadlines;
            // without it SQLite read every login, once per login with a deadline (the
            // scheduler asks after each).
            .query_one(
                "SELECT MIN(expires_at) FROM logins WHERE expires_at IS NOT NULL",
                args![],
            )?
            .get()
    }

    fn events_after(&mut self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let sql = format!("{EVENTS} WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.0.query_map(&sql, args![after, limit], event_from)
    }

    fn event_log(&mut self, q: &EventQuery) -> StoreResult<Vec<Event>> {
        if q.kinds.is_empty() {
            return Ok(Vec::new());
        }
        // The kinds are the domain's fixed names, never input: written into the text, they
        // keep one statement per set of kinds.
        let kinds: Vec<String> = q
            .kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect();
        let sql = format!(
            r#"{EVENTS} WHERE seq > $1 AND at >= $2 AND at < $3 AND kind IN ({})
               ORDER BY seq LIMIT $4"#,
            kinds.join(", ")
        );
        let (from, to) = (
            q.from.map_or(i64::MIN, |t| t.0),
            q.to.map_or(i64::MAX, |t| t.0),
        );
        self.0
            .query_map(&sql, args![q.after, from, to, q.limit], event_from)
    }

    fn counts(&mut self) -> StoreResult<DirectoryCounts> {
        let mut r = self.0.query_one(
            "SELECT (SELECT COUNT(*) FROM apps), (SELECT COUNT(*) FROM users),
                    (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM devices),
                    (SELECT COUNT(*) FROM admins)",
            args![],
        )?;
        Ok(DirectoryCounts {
            apps: r.count()?,
            users: r.count()?,
            profiles: r.count()?,
            devices: r.count()?,
            admins: r.count()?,
        })
    }

    fn gauges(&mut self, now: Timestamp) -> StoreResult<Gauges> {
        let mut r = self.0.query_one(
            "SELECT
               (SELECT COUNT(*) FROM logins WHERE expires_at IS NULL OR expires_at > $1),
               (SELECT COUNT(*) FROM logins WHERE expires_at > $1),
               (SELECT COUNT(*) FROM admin_sessions WHERE expires_at > $1),
               (SELECT COALESCE((SELECT MAX(seq) FROM events) - MIN(events_after), 0)
                  FROM admin_sessions WHERE events_after IS NOT NULL AND expires_at > $1)",
            args![now],
        )?;
        Ok(Gauges {
            logged_in: r.count()?,
            pending_deadlines: r.count()?,
            admin_sessions: r.count()?,
            event_backlog: r.count()?,
        })
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        self.0.last_event_seq()
    }

    fn login_activity(
        &mut self,
        from: Timestamp,
        bucket: i64,
    ) -> StoreResult<Vec<(i64, u64, u64)>> {
        let (login, logout, auto) = (
            EventKind::Login.as_str(),
            EventKind::Logout.as_str(),
            EventKind::AutoLogout.as_str(),
        );
        // The kinds are the domain's fixed names, never input.
        let sql = format!(
            "SELECT (at - $1) / $2 AS bucket,
                    SUM(CASE WHEN kind = '{login}' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN kind = '{login}' THEN 0 ELSE 1 END)
             FROM events WHERE at >= $1 AND kind IN ('{login}', '{logout}', '{auto}')
             GROUP BY bucket ORDER BY bucket"
        );
        self.0.query_map(&sql, args![from, bucket.max(1)], |mut r| {
            Ok((r.get()?, r.count()?, r.count()?))
        })
    }

    fn live_sessions(&mut self, now: Timestamp) -> StoreResult<Vec<AdminSession>> {
        live_sessions(&mut self.0, now)
    }

    fn names(
        &mut self,
        kind: EntityKind,
        contains: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<Key>)> {
        let (table, find, by_key) = (table(kind), E::FIND, E::BY_KEY);
        let filter = contains.unwrap_or("");
        let total = self
            .0
            .query_one(
                &format!("SELECT COUNT(*) FROM {table} WHERE {find}(key, $1) > 0"),
                args![filter],
            )?
            .count()?;
        let keys = self.0.query_map(
            &format!(
                "SELECT key FROM {table} WHERE {find}(key, $1) > 0
                 ORDER BY {by_key} LIMIT $2 OFFSET $3"
            ),
            args![filter, limit, offset],
            |mut r| Ok(Key::of(&r.get::<String>()?)),
        )?;
        Ok((total, keys))
    }

    fn users_with_extension(&mut self, extension: &str, limit: u32) -> StoreResult<Vec<User>> {
        let keys: Vec<String> = self.0.query_map(
            "SELECT key FROM users WHERE extension = $1 ORDER BY key LIMIT $2",
            args![extension, limit],
            |mut r| r.get(),
        )?;
        let mut users = Vec::with_capacity(keys.len());
        for key in keys {
            users.extend(user(&mut self.0, &Key::of(&key))?);
        }
        Ok(users)
    }
}
