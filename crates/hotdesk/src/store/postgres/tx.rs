//! [`Tx`] and [`Reader`] over one PostgreSQL transaction.
//!
//! Writes run at READ COMMITTED. What makes a rule that reads then writes safe across nodes is
//! locking, taken in one order everywhere so two transactions never wait on each other in a
//! circle: an admin edit's object locks ([`Tx::lock_object`]: the object, then the profiles it
//! names, then a kind's lock), then a user's advisory lock ([`Tx::lock_user`]), then a
//! device's (taken by [`Tx::device_login`], which every rule about a device reads first), then,
//! at commit, the event counter (see [`super::schema`]): events are buffered and written last.

use super::conn::Db;

use super::queries::{self, LOGIN_COLUMNS, login_from_row};
use crate::domain::{
    Admin, AdminSession, AppUser, ChangeSet, Device, DeviceProfile, DeviceState, DirectoryCounts,
    EntityKind, Event, Key, Login, NewEvent, PhoneMenu, PinGuard, Policy, Reader, Role, StoreError,
    StoreResult, Timestamp, Tx, User,
};

/// Advisory locks live in one 64-bit space per database: tag them so a user and a device with
/// the same name do not share one.
fn lock(tx: &mut Db<'_, '_>, kind: &str, key: &Key) -> StoreResult<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("{kind}:{}", key.as_str())],
    )?;
    Ok(())
}

pub(super) struct PgTx<'a, 't> {
    tx: Db<'a, 't>,
    /// Events appended by the job, written at commit with their sequence numbers.
    pub(super) events: Vec<NewEvent>,
    /// A login was written: other nodes' schedulers must look at the deadlines again.
    logins_changed: bool,
}

impl<'a, 't> PgTx<'a, 't> {
    pub(super) fn new(tx: Db<'a, 't>) -> Self {
        PgTx {
            tx,
            events: Vec::new(),
            logins_changed: false,
        }
    }

    fn delete_logins(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<Login>> {
        let mut logins: Vec<Login> = self
            .tx
            .query(sql, params)?
            .iter()
            .map(login_from_row)
            .collect();
        logins.sort_by_cached_key(|l| (l.deadline.is_none(), l.deadline, Key::of(&l.device)));
        Ok(logins)
    }

    fn row_exists(&mut self, table: &str, key: &Key) -> StoreResult<bool> {
        Ok(self
            .tx
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE key = $1)"),
                &[&key.as_str()],
            )?
            .get(0))
    }

    fn replace_list(
        &mut self,
        table: &str,
        owner_column: &str,
        owner: &Key,
        columns: &str,
        rows: &[(i32, Vec<String>)],
    ) -> StoreResult<()> {
        self.tx.execute(
            &format!("DELETE FROM {table} WHERE {owner_column} = $1"),
            &[&owner.as_str()],
        )?;
        let owner = owner.as_str();
        for (position, values) in rows {
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&owner, position];
            for v in values {
                params.push(v);
            }
            let placeholders: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
            self.tx.execute(
                &format!(
                    "INSERT INTO {table} ({owner_column}, position, {columns}) VALUES ({})",
                    placeholders.join(", ")
                ),
                &params,
            )?;
        }
        Ok(())
    }

    /// What the job leaves to do before COMMIT: tell the other nodes about new deadlines
    /// (PostgreSQL delivers a NOTIFY at commit, and only then), and write the events.
    pub(super) fn finish(&mut self) -> StoreResult<()> {
        if self.logins_changed {
            self.tx
                .execute("SELECT pg_notify($1, '')", &[&super::LOGINS_CHANNEL])?;
        }
        if !self.events.is_empty() {
            self.tx
                .execute("SELECT pg_notify($1, '')", &[&super::EVENTS_CHANNEL])?;
        }
        self.flush_events()
    }

    /// Give the buffered events their numbers and write them: the last thing before COMMIT.
    fn flush_events(&mut self) -> StoreResult<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let n = self.events.len() as i64;
        let last: i64 = self
            .tx
            .query_one(
                "UPDATE event_counter SET last = last + $1 WHERE id = 1 RETURNING last",
                &[&n],
            )?
            .get(0);
        for (i, e) in std::mem::take(&mut self.events).into_iter().enumerate() {
            let seq = last - n + 1 + i as i64;
            self.tx.execute(
                r#"INSERT INTO events (seq, at, kind, actor, device, "user", profile, detail)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
                &[
                    &seq,
                    &e.at.0,
                    &e.kind.as_str(),
                    &e.actor,
                    &e.device,
                    &e.user,
                    &e.profile,
                    &e.detail,
                ],
            )?;
        }
        Ok(())
    }
}

impl Tx for PgTx<'_, '_> {
    fn device_login(&mut self, device: &Key) -> StoreResult<Option<Login>> {
        lock(&mut self.tx, "device", device)?;
        queries::device_login(&mut self.tx, device, None)
    }

    fn user_logins(&mut self, user: &Key) -> StoreResult<Vec<Login>> {
        queries::user_logins(&mut self.tx, user, None)
    }

    fn lock_user(&mut self, user: &Key) -> StoreResult<()> {
        lock(&mut self.tx, "user", user)
    }

    fn lock_object(&mut self, kind: EntityKind, key: &Key) -> StoreResult<()> {
        lock(&mut self.tx, &format!("object:{}", kind.element()), key)
    }

    fn put_login(&mut self, login: &Login) -> StoreResult<()> {
        self.logins_changed = true;
        self.tx.execute(
            r#"INSERT INTO logins
                   (device_key, device, user_key, "user", profile, app, logged_in_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (device_key) DO UPDATE SET
                   device = excluded.device, user_key = excluded.user_key,
                   "user" = excluded."user", profile = excluded.profile, app = excluded.app,
                   logged_in_at = excluded.logged_in_at, expires_at = excluded.expires_at"#,
            &[
                &Key::of(&login.device).as_str(),
                &login.device,
                &Key::of(&login.user).as_str(),
                &login.user,
                &login.profile,
                &login.app,
                &login.logged_in_at.0,
                &login.deadline.map(|d| d.0),
            ],
        )?;
        Ok(())
    }

    fn remove_login(&mut self, device: &Key) -> StoreResult<Option<Login>> {
        let sql = format!("DELETE FROM logins WHERE device_key = $1 RETURNING {LOGIN_COLUMNS}");
        Ok(self.delete_logins(&sql, &[&device.as_str()])?.pop())
    }

    fn remove_all_logins(&mut self) -> StoreResult<Vec<Login>> {
        self.delete_logins(
            &format!("DELETE FROM logins RETURNING {LOGIN_COLUMNS}"),
            &[],
        )
    }

    /// Rows another node is ending right now are skipped, not waited for: that node's delete
    /// returns them, so each expiry happens exactly once and nobody queues behind it.
    fn remove_due_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>> {
        let sql = format!(
            "DELETE FROM logins WHERE device_key IN (
                 SELECT device_key FROM logins WHERE expires_at <= $1
                 ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
             RETURNING {LOGIN_COLUMNS}"
        );
        self.delete_logins(&sql, &[&now.0])
    }

    fn set_last_user(&mut self, device: &Key, user: &str) -> StoreResult<()> {
        self.tx.execute(
            "UPDATE devices SET last_user = $2 WHERE key = $1",
            &[&device.as_str(), &user],
        )?;
        Ok(())
    }

    fn append_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        self.events.push(event.clone());
        Ok(())
    }

    fn last_event_seq(&mut self) -> StoreResult<i64> {
        Ok(self
            .tx
            .query_one("SELECT last FROM event_counter WHERE id = 1", &[])?
            .get(0))
    }

    fn prune_events(&mut self, before: Timestamp, through: i64) -> StoreResult<u64> {
        Ok(self.tx.execute(
            "DELETE FROM events WHERE at < $1 AND seq <= $2",
            &[&before.0, &through],
        )?)
    }

    fn min_subscription_cursor(&mut self) -> StoreResult<Option<i64>> {
        Ok(self
            .tx
            .query_one("SELECT MIN(events_after) FROM admin_sessions", &[])?
            .get(0))
    }

    fn upsert_app(&mut self, app: &AppUser) -> StoreResult<bool> {
        let key = Key::of(&app.id);
        let created = !self.row_exists("apps", &key)?;
        self.tx.execute(
            "INSERT INTO apps (key, id, proxy) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET id = excluded.id, proxy = excluded.proxy",
            &[&key.as_str(), &app.id, &app.proxy],
        )?;
        let rows: Vec<(i32, Vec<String>)> = app
            .certificate_hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (i as i32, vec![h.clone()]))
            .collect();
        self.replace_list("app_certificates", "app_key", &key, "hash", &rows)?;
        Ok(created)
    }

    fn upsert_user(&mut self, user: &User) -> StoreResult<bool> {
        let key = Key::of(&user.id);
        let created = !self.row_exists("users", &key)?;
        self.tx.execute(
            "INSERT INTO users
                 (key, id, pin_hash, password_hash, name, max_login_minutes, extension)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (key) DO UPDATE SET
                 id = excluded.id, pin_hash = excluded.pin_hash,
                 password_hash = excluded.password_hash, name = excluded.name,
                 max_login_minutes = excluded.max_login_minutes,
                 extension = excluded.extension",
            &[
                &key.as_str(),
                &user.id,
                &user.pin_hash,
                &user.password_hash,
                &user.name,
                &user.max_login_minutes.map(i64::from),
                &user.extension,
            ],
        )?;
        let rows: Vec<(i32, Vec<String>)> = user
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, vec![p.clone(), Key::of(p).as_str().to_string()]))
            .collect();
        self.replace_list(
            "user_profiles",
            "user_key",
            &key,
            "profile, profile_key",
            &rows,
        )?;
        Ok(created)
    }

    fn upsert_profile(&mut self, profile: &DeviceProfile) -> StoreResult<bool> {
        let key = Key::of(&profile.name);
        let created = !self.row_exists("profiles", &key)?;
        self.tx.execute(
            "INSERT INTO profiles (key, name, description) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name,
                 description = excluded.description",
            &[&key.as_str(), &profile.name, &profile.description],
        )?;
        let rows: Vec<(i32, Vec<String>)> = profile
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i32, vec![l.clone()]))
            .collect();
        self.replace_list("profile_lines", "profile_key", &key, "line", &rows)?;
        Ok(created)
    }

    fn upsert_device(&mut self, device: &Device) -> StoreResult<bool> {
        let key = Key::of(&device.name);
        let created = !self.row_exists("devices", &key)?;
        self.tx.execute(
            "INSERT INTO devices (key, name, model, em_enabled) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, model = excluded.model,
                 em_enabled = excluded.em_enabled",
            &[
                &key.as_str(),
                &device.name,
                &device.model,
                &device.em_enabled,
            ],
        )?;
        Ok(created)
    }

    fn upsert_admin(&mut self, admin: &Admin) -> StoreResult<bool> {
        let key = Key::of(&admin.username);
        let created = !self.row_exists("admins", &key)?;
        self.tx.execute(
            "INSERT INTO admins (key, username, password_hash, role) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET username = excluded.username,
                 password_hash = excluded.password_hash, role = excluded.role",
            &[
                &key.as_str(),
                &admin.username,
                &admin.password_hash,
                &admin.role.as_str(),
            ],
        )?;
        Ok(created)
    }

    fn set_policy(&mut self, policy: &Policy) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO policy
                 (id, multiple_login, max_login_minutes, enforce_max_login, remember_last_user,
                  max_concurrent_requests, validate_ip, allow_proxy, min_pin_length, phone_service)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET multiple_login = excluded.multiple_login,
                 max_login_minutes = excluded.max_login_minutes,
                 enforce_max_login = excluded.enforce_max_login,
                 remember_last_user = excluded.remember_last_user,
                 max_concurrent_requests = excluded.max_concurrent_requests,
                 validate_ip = excluded.validate_ip, allow_proxy = excluded.allow_proxy,
                 min_pin_length = excluded.min_pin_length,
                 phone_service = excluded.phone_service",
            &[
                &policy.multiple_login.as_str(),
                &i64::from(policy.max_login_minutes),
                &policy.enforce_max_login,
                &policy.remember_last_user,
                &i64::from(policy.max_concurrent_requests),
                &policy.validate_ip,
                &policy.allow_proxy,
                &i64::from(policy.min_pin_length),
                &policy.phone_service,
            ],
        )?;
        self.tx.execute("DELETE FROM policy_trusted_ips", &[])?;
        for (position, ip) in policy.trusted_ips.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO policy_trusted_ips (position, ip) VALUES ($1, $2)",
                &[&(position as i32), ip],
            )?;
        }
        Ok(())
    }

    fn exists(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        self.row_exists(queries::table(kind), key)
    }

    fn policy_for_update(&mut self) -> StoreResult<Policy> {
        lock(&mut self.tx, "policy", &Key::of(""))?;
        queries::policy(&mut self.tx)
    }

    fn profile_exists(&mut self, name: &Key) -> StoreResult<bool> {
        self.row_exists("profiles", name)
    }

    fn user(&mut self, id: &Key) -> StoreResult<Option<User>> {
        queries::user(&mut self.tx, id)
    }

    fn app(&mut self, id: &Key) -> StoreResult<Option<AppUser>> {
        queries::app(&mut self.tx, id)
    }

    fn admin(&mut self, username: &Key) -> StoreResult<Option<Admin>> {
        queries::admin(&mut self.tx, username)
    }

    fn insert_session(&mut self, session: &AdminSession) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO admin_sessions
                 (token_hash, admin_key, created_at, expires_at, callback_url, peer, events_after)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &session.token_hash,
                &Key::of(&session.username).as_str(),
                &session.created_at.0,
                &session.expires_at.0,
                &session.callback_url,
                &session.peer,
                &session.events_after,
            ],
        )?;
        Ok(())
    }

    fn session(&mut self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        queries::session(&mut self.tx, token_hash)
    }

    fn touch_session(&mut self, token_hash: &str, expires_at: Timestamp) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "UPDATE admin_sessions SET expires_at = $2 WHERE token_hash = $1",
            &[&token_hash, &expires_at.0],
        )? > 0)
    }

    fn remove_session(&mut self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "DELETE FROM admin_sessions WHERE token_hash = $1",
            &[&token_hash],
        )? > 0)
    }

    fn remove_expired_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        Ok(self.tx.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= $1",
            &[&now.0],
        )?)
    }

    fn session_count(&mut self) -> StoreResult<u64> {
        Ok(self
            .tx
            .query_one("SELECT COUNT(*) FROM admin_sessions", &[])?
            .get::<_, i64>(0)
            .max(0) as u64)
    }

    fn remove_sessions_of(&mut self, admin: &Key) -> StoreResult<u64> {
        Ok(self.tx.execute(
            "DELETE FROM admin_sessions WHERE admin_key = $1",
            &[&admin.as_str()],
        )?)
    }

    fn set_subscription(&mut self, token_hash: &str, after: Option<i64>) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "UPDATE admin_sessions SET events_after = $2 WHERE token_hash = $1",
            &[&token_hash, &after],
        )? > 0)
    }

    fn claim_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "UPDATE admin_sessions SET delivery_node = $2, delivery_until = $4
             WHERE token_hash = $1 AND (delivery_node IS NULL OR delivery_node = $2
                                        OR delivery_until <= $3)",
            &[&token_hash, &node, &now.0, &until.0],
        )? > 0)
    }

    fn advance_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        from: i64,
        to: i64,
        until: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "UPDATE admin_sessions SET events_after = $4, delivery_until = $5
             WHERE token_hash = $1 AND delivery_node = $2 AND events_after = $3",
            &[&token_hash, &node, &from, &to, &until.0],
        )? > 0)
    }

    fn device(&mut self, name: &Key) -> StoreResult<Option<Device>> {
        Ok(queries::device(&mut self.tx, name)?.map(|(d, _)| d))
    }

    fn profile(&mut self, name: &Key) -> StoreResult<Option<DeviceProfile>> {
        queries::profile(&mut self.tx, name)
    }

    fn delete(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        let table = queries::table(kind);
        Ok(self.tx.execute(
            &format!("DELETE FROM {table} WHERE key = $1"),
            &[&key.as_str()],
        )? > 0)
    }

    fn profile_users(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>> {
        Ok(self
            .tx
            .query(
                "SELECT u.id FROM user_profiles p JOIN users u ON u.key = p.user_key
                 WHERE p.profile_key = $1 ORDER BY u.key LIMIT $2",
                &[&profile.as_str(), &i64::from(limit)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn count_admins(&mut self, role: Role) -> StoreResult<u64> {
        Ok(self
            .tx
            .query_one(
                "SELECT COUNT(*) FROM admins WHERE role = $1",
                &[&role.as_str()],
            )?
            .get::<_, i64>(0)
            .max(0) as u64)
    }

    fn insert_change_set(&mut self, set: &ChangeSet) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO change_sets (id, owner, created_at) VALUES ($1, $2, $3)",
            &[&set.id, &set.owner, &set.created_at.0],
        )?;
        for edit in &set.edits {
            self.stage_edit(&set.id, edit)?;
        }
        Ok(())
    }

    fn change_set(&mut self, id: &str) -> StoreResult<Option<ChangeSet>> {
        queries::change_set(&mut self.tx, id)
    }

    fn stage_edit(&mut self, id: &str, edit: &str) -> StoreResult<u32> {
        // The set's row lock orders two stagings into one set.
        self.tx
            .execute("SELECT 1 FROM change_sets WHERE id = $1 FOR UPDATE", &[&id])?;
        let count: i64 = self
            .tx
            .query_one(
                "INSERT INTO change_set_edits (change_set_id, position, edit)
                 VALUES ($1, (SELECT COUNT(*) FROM change_set_edits WHERE change_set_id = $1), $2)
                 RETURNING position + 1",
                &[&id, &edit],
            )?
            .get::<_, i32>(0)
            .into();
        Ok(count.max(0) as u32)
    }

    fn remove_change_set(&mut self, id: &str) -> StoreResult<bool> {
        Ok(self
            .tx
            .execute("DELETE FROM change_sets WHERE id = $1", &[&id])?
            > 0)
    }

    fn pin_guard(&mut self, user: &Key) -> StoreResult<Option<PinGuard>> {
        queries::pin_guard(&mut self.tx, user)
    }

    fn put_pin_guard(&mut self, user: &Key, guard: Option<&PinGuard>) -> StoreResult<()> {
        match guard {
            Some(g) => self.tx.execute(
                "INSERT INTO pin_guards (user_key, failures, window_start, locked_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_key) DO UPDATE SET failures = excluded.failures,
                     window_start = excluded.window_start, locked_until = excluded.locked_until",
                &[
                    &user.as_str(),
                    &i64::from(g.failures),
                    &g.window_start.0,
                    &g.locked_until.map(|t| t.0),
                ],
            )?,
            None => self.tx.execute(
                "DELETE FROM pin_guards WHERE user_key = $1",
                &[&user.as_str()],
            )?,
        };
        Ok(())
    }

    fn set_pin_hash(&mut self, user: &Key, hash: &str) -> StoreResult<bool> {
        Ok(self.tx.execute(
            "UPDATE users SET pin_hash = $2 WHERE key = $1",
            &[&user.as_str(), &hash],
        )? > 0)
    }

    fn insert_phone_menu(&mut self, menu: &PhoneMenu) -> StoreResult<()> {
        let profiles = serde_json::to_string(&menu.profiles)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.tx.execute(
            r#"INSERT INTO phone_menus (token_hash, device, "user", profiles, expires_at)
               VALUES ($1, $2, $3, $4, $5)"#,
            &[
                &menu.token_hash,
                &menu.device,
                &menu.user,
                &profiles,
                &menu.expires_at.0,
            ],
        )?;
        Ok(())
    }

    fn take_phone_menu(&mut self, token_hash: &str) -> StoreResult<Option<PhoneMenu>> {
        self.tx
            .query_opt(
                r#"DELETE FROM phone_menus WHERE token_hash = $1
                   RETURNING token_hash, device, "user", profiles, expires_at"#,
                &[&token_hash],
            )?
            .map(|r| {
                Ok(PhoneMenu {
                    token_hash: r.get(0),
                    device: r.get(1),
                    user: r.get(2),
                    profiles: serde_json::from_str(r.get::<_, &str>(3))
                        .map_err(|e| StoreError::Database(e.to_string()))?,
                    expires_at: Timestamp(r.get(4)),
                })
            })
            .transpose()
    }

    fn remove_phone_menus(&mut self, device: &str, now: Timestamp) -> StoreResult<u64> {
        Ok(self.tx.execute(
            "DELETE FROM phone_menus WHERE device = $1 OR expires_at <= $2",
            &[&device, &now.0],
        )?)
    }

    fn claim_pin_key_id(&mut self, key_id: &str) -> StoreResult<String> {
        self.tx.execute(
            "INSERT INTO pin_key (id, key_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&key_id],
        )?;
        Ok(self
            .tx
            .query_one("SELECT key_id FROM pin_key WHERE id = 1", &[])?
            .get(0))
    }
}

/// A read-only snapshot (REPEATABLE READ): every fact a job reads is from one instant.
pub(super) struct PgReader<'a, 't>(pub(super) Db<'a, 't>);

impl Reader for PgReader<'_, '_> {
    fn app(&mut self, id: &Key) -> StoreResult<Option<AppUser>> {
        queries::app(&mut self.0, id)
    }

    fn user(&mut self, id: &Key) -> StoreResult<Option<User>> {
        queries::user(&mut self.0, id)
    }

    fn device(&mut self, name: &Key) -> StoreResult<Option<Device>> {
        Ok(queries::device(&mut self.0, name)?.map(|(d, _)| d))
    }

    fn profile(&mut self, name: &Key) -> StoreResult<Option<DeviceProfile>> {
        queries::profile(&mut self.0, name)
    }

    fn policy(&mut self) -> StoreResult<Policy> {
        queries::policy(&mut self.0)
    }

    fn device_state(&mut self, name: &Key, now: Timestamp) -> StoreResult<Option<DeviceState>> {
        let Some((device, last_user)) = queries::device(&mut self.0, name)? else {
            return Ok(None);
        };
        let login = queries::device_login(&mut self.0, name, Some(now))?;
        Ok(Some(DeviceState {
            device,
            login,
            last_user,
        }))
    }

    fn user_logins(&mut self, user: &Key, now: Timestamp) -> StoreResult<Vec<Login>> {
        queries::user_logins(&mut self.0, user, Some(now))
    }

    fn live_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>> {
        queries::live_logins(&mut self.0, now)
    }

    fn next_deadline(&mut self) -> StoreResult<Option<Timestamp>> {
        queries::next_deadline(&mut self.0)
    }

    fn events_after(&mut self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        queries::events_after(&mut self.0, after, limit)
    }

    fn counts(&mut self) -> StoreResult<DirectoryCounts> {
        queries::counts(&mut self.0)
    }

    fn admin(&mut self, username: &Key) -> StoreResult<Option<Admin>> {
        queries::admin(&mut self.0, username)
    }

    fn session(&mut self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        queries::session(&mut self.0, token_hash)
    }

    fn live_sessions(&mut self, now: Timestamp) -> StoreResult<Vec<AdminSession>> {
        queries::live_sessions(&mut self.0, now)
    }

    fn names(
        &mut self,
        kind: EntityKind,
        contains: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<Key>)> {
        queries::names(&mut self.0, kind, contains, offset, limit)
    }

    fn users_with_extension(&mut self, extension: &str, limit: u32) -> StoreResult<Vec<User>> {
        queries::users_with_extension(&mut self.0, extension, limit)
    }
}
