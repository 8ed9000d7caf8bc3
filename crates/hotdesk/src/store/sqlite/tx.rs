//! [`Tx`] over the writer's connection, while a batch transaction is open.
//!
//! The writer has already begun the transaction and a savepoint for this job
//! ([`super::writer`]); these methods only run statements. They never commit, roll back or
//! release anything: the job cannot end its own transaction, so it cannot break the batch it
//! shares with others.

use super::queries::{self, LOGIN_COLUMNS, login_from_row};
use crate::domain::{
    Admin, AdminSession, AppUser, ChangeSet, Device, DeviceProfile, EntityKind, Key, Login,
    NewEvent, PhoneMenu, PinGuard, Policy, Role, StoreResult, Timestamp, Tx, User,
};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) struct SqlTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqlTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        SqlTx { conn }
    }

    fn row_exists(&self, table: &'static str, key: &str) -> StoreResult<bool> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE key = ?1)"
        ))?;
        Ok(st.query_row([key], |r| r.get(0))?)
    }

    /// Run a `DELETE ... RETURNING` over logins. RETURNING hands rows back in no promised
    /// order, so they are sorted (earliest deadline first, indefinite last, then by device) to
    /// keep events and answers stable.
    fn delete_logins(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<Login>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut logins = st
            .query_map(params, login_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        logins.sort_by_cached_key(|l| (l.deadline.is_none(), l.deadline, Key::of(&l.device)));
        Ok(logins)
    }
}

impl Tx for SqlTx<'_> {
    fn device_login(&mut self, device: &Key) -> StoreResult<Option<Login>> {
        queries::device_login(self.conn, device, None)
    }

    fn user_logins(&mut self, user: &Key) -> StoreResult<Vec<Login>> {
        queries::user_logins(self.conn, user, None)
    }

    /// Nothing to do: one writer thread runs every job, one after another, so no other
    /// transaction can interleave with this one.
    fn lock_user(&mut self, _user: &Key) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to do, as for [`Tx::lock_user`].
    fn lock_object(&mut self, _kind: EntityKind, _key: &Key) -> StoreResult<()> {
        Ok(())
    }

    fn put_login(&mut self, login: &Login) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO logins
                 (device_key, device, user_key, user, profile, app, logged_in_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        st.execute(params![
            Key::of(&login.device).as_str(),
            login.device,
            Key::of(&login.user).as_str(),
            login.user,
            login.profile,
            login.app,
            login.logged_in_at.0,
            login.deadline.map(|d| d.0),
        ])?;
        Ok(())
    }

    fn remove_login(&mut self, device: &Key) -> StoreResult<Option<Login>> {
        let sql = format!("DELETE FROM logins WHERE device_key = ?1 RETURNING {LOGIN_COLUMNS}");
        Ok(self.delete_logins(&sql, [device.as_str()])?.pop())
    }

    fn remove_all_logins(&mut self) -> StoreResult<Vec<Login>> {
        self.delete_logins(&format!("DELETE FROM logins RETURNING {LOGIN_COLUMNS}"), [])
    }

    fn remove_due_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>> {
        let sql = format!("DELETE FROM logins WHERE expires_at <= ?1 RETURNING {LOGIN_COLUMNS}");
        self.delete_logins(&sql, [now.0])
    }

    /// An unknown device has no `lastlogin` to keep: nothing happens.
    fn set_last_user(&mut self, device: &Key, user: &str) -> StoreResult<()> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE devices SET last_user = ?2 WHERE key = ?1")?;
        st.execute(params![device.as_str(), user])?;
        Ok(())
    }

    /// One writer commits one batch at a time, so AUTOINCREMENT already follows commit order;
    /// a rolled-back job returns its numbers with its savepoint.
    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO events (at, kind, actor, device, user, profile, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            event.at.0,
            event.kind.as_str(),
            event.actor,
            event.device,
            event.user,
            event.profile,
            event.detail,
        ])?;
        Ok(())
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        let mut st = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    fn prune_events(&mut self, before: Timestamp, through: i64) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM events WHERE at < ?1 AND seq <= ?2")?;
        Ok(st.execute(params![before.0, through])? as u64)
    }

    fn min_subscription_cursor(&mut self) -> StoreResult<Option<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT MIN(events_after) FROM admin_sessions")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    fn upsert_app(&mut self, app: &AppUser) -> StoreResult<bool> {
        let key = Key::of(&app.id);
        let created = !self.row_exists("apps", key.as_str())?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO apps (key, id, proxy) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET id = excluded.id, proxy = excluded.proxy",
        )?;
        st.execute(params![key.as_str(), app.id, app.proxy])?;
        self.conn
            .prepare_cached("DELETE FROM app_certificates WHERE app_key = ?1")?
            .execute([key.as_str()])?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO app_certificates (app_key, position, hash) VALUES (?1, ?2, ?3)",
        )?;
        for (position, hash) in app.certificate_hashes.iter().enumerate() {
            st.execute(params![key.as_str(), position as i64, hash])?;
        }
        Ok(created)
    }

    fn upsert_user(&mut self, user: &User) -> StoreResult<bool> {
        let key = Key::of(&user.id);
        let created = !self.row_exists("users", key.as_str())?;
        // ON CONFLICT ... DO UPDATE, not INSERT OR REPLACE: REPLACE deletes the row first,
        // which would cascade to the user's profile list.
        let mut st = self.conn.prepare_cached(
            "INSERT INTO users
                 (key, id, pin_hash, password_hash, name, max_login_minutes, extension)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (key) DO UPDATE SET
                 id = excluded.id, pin_hash = excluded.pin_hash,
                 password_hash = excluded.password_hash, name = excluded.name,
                 max_login_minutes = excluded.max_login_minutes,
                 extension = excluded.extension",
        )?;
        st.execute(params![
            key.as_str(),
            user.id,
            user.pin_hash,
            user.password_hash,
            user.name,
            user.max_login_minutes,
            user.extension,
        ])?;
        self.conn
            .prepare_cached("DELETE FROM user_profiles WHERE user_key = ?1")?
            .execute([key.as_str()])?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO user_profiles (user_key, position, profile, profile_key)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (position, profile) in user.profiles.iter().enumerate() {
            st.execute(params![
                key.as_str(),
                position as i64,
                profile,
                Key::of(profile).as_str()
            ])?;
        }
        Ok(created)
    }

    fn upsert_profile(&mut self, profile: &DeviceProfile) -> StoreResult<bool> {
        let key = Key::of(&profile.name);
        let created = !self.row_exists("profiles", key.as_str())?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO profiles (key, name, description) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name,
                 description = excluded.description",
        )?;
        st.execute(params![key.as_str(), profile.name, profile.description])?;
        self.conn
            .prepare_cached("DELETE FROM profile_lines WHERE profile_key = ?1")?
            .execute([key.as_str()])?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO profile_lines (profile_key, position, line) VALUES (?1, ?2, ?3)",
        )?;
        for (position, line) in profile.lines.iter().enumerate() {
            st.execute(params![key.as_str(), position as i64, line])?;
        }
        Ok(created)
    }

    fn upsert_device(&mut self, device: &Device) -> StoreResult<bool> {
        let key = Key::of(&device.name);
        let created = !self.row_exists("devices", key.as_str())?;
        // last_user is EM state, not provisioning: an import must not forget it.
        let mut st = self.conn.prepare_cached(
            "INSERT INTO devices (key, name, model, em_enabled) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, model = excluded.model,
                 em_enabled = excluded.em_enabled",
        )?;
        st.execute(params![
            key.as_str(),
            device.name,
            device.model,
            device.em_enabled
        ])?;
        Ok(created)
    }

    fn upsert_admin(&mut self, admin: &Admin) -> StoreResult<bool> {
        let key = Key::of(&admin.username);
        let created = !self.row_exists("admins", key.as_str())?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO admins (key, username, password_hash, role) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET username = excluded.username,
                 password_hash = excluded.password_hash, role = excluded.role",
        )?;
        st.execute(params![
            key.as_str(),
            admin.username,
            admin.password_hash,
            admin.role.as_str()
        ])?;
        Ok(created)
    }

    fn set_policy(&mut self, policy: &Policy) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO policy
                 (id, multiple_login, max_login_minutes, enforce_max_login, remember_last_user,
                  max_concurrent_requests, validate_ip, allow_proxy, min_pin_length, phone_service)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        st.execute(params![
            policy.multiple_login.as_str(),
            policy.max_login_minutes,
            policy.enforce_max_login,
            policy.remember_last_user,
            policy.max_concurrent_requests,
            policy.validate_ip,
            policy.allow_proxy,
            policy.min_pin_length,
            policy.phone_service,
        ])?;
        self.conn
            .prepare_cached("DELETE FROM policy_trusted_ips")?
            .execute([])?;
        let mut st = self
            .conn
            .prepare_cached("INSERT INTO policy_trusted_ips (position, ip) VALUES (?1, ?2)")?;
        for (position, ip) in policy.trusted_ips.iter().enumerate() {
            st.execute(params![position as i64, ip])?;
        }
        Ok(())
    }

    fn exists(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        self.row_exists(queries::table(kind), key.as_str())
    }

    /// One writer: nobody else is changing it.
    fn policy_for_update(&mut self) -> StoreResult<Policy> {
        queries::policy(self.conn)
    }

    fn profile_exists(&mut self, name: &Key) -> StoreResult<bool> {
        queries::profile_exists(self.conn, name)
    }

    fn user(&mut self, id: &Key) -> StoreResult<Option<User>> {
        queries::user(self.conn, id)
    }

    fn app(&mut self, id: &Key) -> StoreResult<Option<AppUser>> {
        queries::app(self.conn, id)
    }

    fn admin(&mut self, username: &Key) -> StoreResult<Option<Admin>> {
        queries::admin(self.conn, username)
    }

    fn insert_session(&mut self, session: &AdminSession) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO admin_sessions
                 (token_hash, admin_key, created_at, expires_at, callback_url, peer, events_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            session.token_hash,
            Key::of(&session.username).as_str(),
            session.created_at.0,
            session.expires_at.0,
            session.callback_url,
            session.peer,
            session.events_after
        ])?;
        Ok(())
    }

    fn session(&mut self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        queries::session(self.conn, token_hash)
    }

    fn touch_session(&mut self, token_hash: &str, expires_at: Timestamp) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE admin_sessions SET expires_at = ?2 WHERE token_hash = ?1")?;
        Ok(st.execute(params![token_hash, expires_at.0])? > 0)
    }

    fn remove_session(&mut self, token_hash: &str) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM admin_sessions WHERE token_hash = ?1")?;
        Ok(st.execute([token_hash])? > 0)
    }

    fn remove_expired_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM admin_sessions WHERE expires_at <= ?1")?;
        Ok(st.execute([now.0])? as u64)
    }

    fn session_count(&mut self) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM admin_sessions")?;
        Ok(st.query_row([], |r| r.get::<_, i64>(0))? as u64)
    }

    fn remove_sessions_of(&mut self, admin: &Key) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM admin_sessions WHERE admin_key = ?1")?;
        Ok(st.execute([admin.as_str()])? as u64)
    }

    fn set_subscription(&mut self, token_hash: &str, after: Option<i64>) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE admin_sessions SET events_after = ?2 WHERE token_hash = ?1")?;
        Ok(st.execute(params![token_hash, after])? > 0)
    }

    fn claim_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE admin_sessions SET delivery_node = ?2, delivery_until = ?4
             WHERE token_hash = ?1 AND (delivery_node IS NULL OR delivery_node = ?2
                                        OR delivery_until <= ?3)",
        )?;
        Ok(st.execute(params![token_hash, node, now.0, until.0])? > 0)
    }

    fn advance_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        from: i64,
        to: i64,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE admin_sessions SET events_after = ?4, delivery_until = ?5
             WHERE token_hash = ?1 AND delivery_node = ?2 AND events_after = ?3",
        )?;
        Ok(st.execute(params![token_hash, node, from, to, until.0])? > 0)
    }

    fn device(&mut self, name: &Key) -> StoreResult<Option<Device>> {
        Ok(queries::device(self.conn, name)?.map(|(device, _)| device))
    }

    fn profile(&mut self, name: &Key) -> StoreResult<Option<DeviceProfile>> {
        queries::profile(self.conn, name)
    }

    /// The lists (certificates, profiles, lines) go with their object: ON DELETE CASCADE.
    fn delete(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        let table = queries::table(kind);
        let mut st = self
            .conn
            .prepare_cached(&format!("DELETE FROM {table} WHERE key = ?1"))?;
        Ok(st.execute([key.as_str()])? > 0)
    }

    fn profile_users(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT u.id FROM user_profiles p JOIN users u ON u.key = p.user_key
             WHERE p.profile_key = ?1 ORDER BY u.key LIMIT ?2",
        )?;
        Ok(st
            .query_map(params![profile.as_str(), limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn count_admins(&mut self, role: Role) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM admins WHERE role = ?1")?;
        Ok(st
            .query_row([role.as_str()], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }

    fn insert_change_set(&mut self, set: &ChangeSet) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO change_sets (id, owner, created_at) VALUES (?1, ?2, ?3)",
        )?;
        st.execute(params![set.id, set.owner, set.created_at.0])?;
        for edit in &set.edits {
            self.stage_edit(&set.id, edit)?;
        }
        Ok(())
    }

    fn change_set(&mut self, id: &str) -> StoreResult<Option<ChangeSet>> {
        queries::change_set(self.conn, id)
    }

    fn stage_edit(&mut self, id: &str, edit: &str) -> StoreResult<u32> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO change_set_edits (change_set_id, position, edit)
             VALUES (?1, (SELECT COUNT(*) FROM change_set_edits WHERE change_set_id = ?1), ?2)
             RETURNING position + 1",
        )?;
        Ok(st.query_row(params![id, edit], |r| r.get(0))?)
    }

    fn remove_change_set(&mut self, id: &str) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM change_sets WHERE id = ?1")?;
        Ok(st.execute([id])? > 0)
    }

    fn pin_guard(&mut self, user: &Key) -> StoreResult<Option<PinGuard>> {
        queries::pin_guard(self.conn, user)
    }

    fn put_pin_guard(&mut self, user: &Key, guard: Option<&PinGuard>) -> StoreResult<()> {
        match guard {
            Some(g) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO pin_guards (user_key, failures, window_start, locked_until)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (user_key) DO UPDATE SET failures = excluded.failures,
                             window_start = excluded.window_start,
                             locked_until = excluded.locked_until",
                    )?
                    .execute(params![
                        user.as_str(),
                        g.failures,
                        g.window_start.0,
                        g.locked_until.map(|t| t.0)
                    ])?;
            }
            None => {
                self.conn
                    .prepare_cached("DELETE FROM pin_guards WHERE user_key = ?1")?
                    .execute([user.as_str()])?;
            }
        }
        Ok(())
    }

    fn set_pin_hash(&mut self, user: &Key, hash: &str) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE users SET pin_hash = ?2 WHERE key = ?1")?;
        Ok(st.execute(params![user.as_str(), hash])? > 0)
    }

    fn insert_phone_menu(&mut self, menu: &PhoneMenu) -> StoreResult<()> {
        let profiles = serde_json::to_string(&menu.profiles)
            .map_err(|e| crate::domain::StoreError::Database(e.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO phone_menus (token_hash, device, user, profiles, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                menu.token_hash,
                menu.device,
                menu.user,
                profiles,
                menu.expires_at.0
            ])?;
        Ok(())
    }

    fn take_phone_menu(&mut self, token_hash: &str) -> StoreResult<Option<PhoneMenu>> {
        let mut st = self.conn.prepare_cached(
            "DELETE FROM phone_menus WHERE token_hash = ?1
             RETURNING token_hash, device, user, profiles, expires_at",
        )?;
        let row = st
            .query_row([token_hash], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        row.map(|(token_hash, device, user, profiles, expires_at)| {
            Ok(PhoneMenu {
                token_hash,
                device,
                user,
                profiles: serde_json::from_str(&profiles)
                    .map_err(|e| crate::domain::StoreError::Database(e.to_string()))?,
                expires_at: Timestamp(expires_at),
            })
        })
        .transpose()
    }

    fn remove_phone_menus(&mut self, device: &str, now: Timestamp) -> StoreResult<u64> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM phone_menus WHERE device = ?1 OR expires_at <= ?2")?;
        Ok(st.execute(params![device, now.0])? as u64)
    }

    fn claim_pin_key_id(&mut self, key_id: &str) -> StoreResult<String> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO pin_key (id, key_id) VALUES (1, ?1)")?
            .execute([key_id])?;
        let mut st = self
            .conn
            .prepare_cached("SELECT key_id FROM pin_key WHERE id = 1")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }
}
