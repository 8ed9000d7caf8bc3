//! The provisioned directory, over any engine.

use super::{Engine, Sql, Value, args, reads, replace_list, row_exists, table};
use crate::domain::{
    Admin, AppUser, Device, DeviceProfile, DirectoryTx, EntityKind, Key, Policy, ProfileName, Role,
    StoreResult, User,
};

impl<E: Engine> DirectoryTx for Sql<E> {
    fn lock_directory(&mut self, whole: bool) -> StoreResult<()> {
        self.0.lock("directory", "", !whole)
    }

    fn lock_object(&mut self, kind: EntityKind, key: &Key) -> StoreResult<()> {
        self.0
            .lock(&format!("object:{}", kind.element()), key.as_str(), false)
    }

    fn upsert_app(&mut self, app: &AppUser) -> StoreResult<bool> {
        let key = app.id.key();
        let created = !row_exists(&mut self.0, "apps", &key)?;
        self.0.execute(
            "INSERT INTO apps (key, id, proxy) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET id = excluded.id, proxy = excluded.proxy",
            args![&key, &app.id, app.proxy],
        )?;
        let rows = app.certificate_hashes.iter().map(|h| vec![Value::from(h)]);
        replace_list(
            &mut self.0,
            "app_certificates",
            "app_key",
            &key,
            &["hash"],
            rows,
        )?;
        Ok(created)
    }

    fn upsert_user(&mut self, user: &User) -> StoreResult<bool> {
        let key = user.id.key();
        let created = !row_exists(&mut self.0, "users", &key)?;
        // ON CONFLICT ... DO UPDATE, not a replace: deleting the row first would cascade to
        // the user's profile list and PIN tries.
        self.0.execute(
            "INSERT INTO users
                 (key, id, pin_hash, password_hash, name, max_login_minutes, extension)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (key) DO UPDATE SET
                 id = excluded.id, pin_hash = excluded.pin_hash,
                 password_hash = excluded.password_hash, name = excluded.name,
                 max_login_minutes = excluded.max_login_minutes,
                 extension = excluded.extension",
            args![
                &key,
                &user.id,
                user.pin_hash.as_deref(),
                user.password_hash.as_deref(),
                user.name.as_deref(),
                user.max_login_minutes,
                user.extension.as_deref(),
            ],
        )?;
        let profile_keys: Vec<Key> = user.profiles.iter().map(|p| Key::of(p)).collect();
        let rows = user
            .profiles
            .iter()
            .zip(&profile_keys)
            .map(|(p, k)| vec![Value::from(p), Value::from(k)]);
        let columns = ["profile", "profile_key"];
        replace_list(
            &mut self.0,
            "user_profiles",
            "user_key",
            &key,
            &columns,
            rows,
        )?;
        Ok(created)
    }

    fn upsert_profile(&mut self, profile: &DeviceProfile) -> StoreResult<bool> {
        let key = profile.name.key();
        let created = !row_exists(&mut self.0, "profiles", &key)?;
        self.0.execute(
            "INSERT INTO profiles (key, name, description) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name,
                 description = excluded.description",
            args![&key, &profile.name, profile.description.as_deref()],
        )?;
        let rows = profile.lines.iter().map(|l| vec![Value::from(l)]);
        replace_list(
            &mut self.0,
            "profile_lines",
            "profile_key",
            &key,
            &["line"],
            rows,
        )?;
        Ok(created)
    }

    fn upsert_device(&mut self, device: &Device) -> StoreResult<bool> {
        let key = device.name.key();
        let created = !row_exists(&mut self.0, "devices", &key)?;
        self.0.execute(
            "INSERT INTO devices (key, name, model, em_enabled, logout_profile, logout_profile_key)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, model = excluded.model,
                 em_enabled = excluded.em_enabled, logout_profile = excluded.logout_profile,
                 logout_profile_key = excluded.logout_profile_key",
            args![
                &key,
                &device.name,
                device.model.as_deref(),
                device.em_enabled,
                device.logout_profile.as_ref(),
                device.logout_profile.as_ref().map(|p| p.key()).as_ref(),
            ],
        )?;
        Ok(created)
    }

    fn upsert_admin(&mut self, admin: &Admin) -> StoreResult<bool> {
        let key = admin.username.key();
        let created = !row_exists(&mut self.0, "admins", &key)?;
        self.0.execute(
            "INSERT INTO admins (key, username, password_hash, role) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET username = excluded.username,
                 password_hash = excluded.password_hash, role = excluded.role",
            args![
                &key,
                &admin.username,
                &admin.password_hash,
                admin.role.as_str()
            ],
        )?;
        Ok(created)
    }

    fn set_policy(&mut self, p: &Policy) -> StoreResult<()> {
        self.0.execute(
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
            args![
                p.multiple_login.as_str(),
                p.max_login_minutes,
                p.enforce_max_login,
                p.remember_last_user,
                p.max_concurrent_requests,
                p.validate_ip,
                p.allow_proxy,
                p.min_pin_length,
                p.phone_service,
            ],
        )?;
        self.0.execute("DELETE FROM policy_trusted_ips", args![])?;
        for (position, ip) in p.trusted_ips.as_written().iter().enumerate() {
            self.0.execute(
                "INSERT INTO policy_trusted_ips (position, ip) VALUES ($1, $2)",
                args![position, ip],
            )?;
        }
        Ok(())
    }

    fn policy_for_update(&mut self) -> StoreResult<Policy> {
        self.0.lock("policy", "", false)?;
        reads::policy(&mut self.0)
    }

    fn profile_name(&mut self, key: &Key) -> StoreResult<Option<ProfileName>> {
        self.0
            .query_opt("SELECT name FROM profiles WHERE key = $1", args![key])?
            .map(|mut r| r.get())
            .transpose()
    }

    fn exists(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        row_exists(&mut self.0, table(kind), key)
    }

    /// The lists (certificates, profiles, lines) go with their object: ON DELETE CASCADE.
    fn delete(&mut self, kind: EntityKind, key: &Key) -> StoreResult<bool> {
        let sql = format!("DELETE FROM {} WHERE key = $1", table(kind));
        Ok(self.0.execute(&sql, args![key])? > 0)
    }

    fn profile_users(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>> {
        self.0.query_map(
            "SELECT u.id FROM user_profiles p JOIN users u ON u.key = p.user_key
             WHERE p.profile_key = $1 ORDER BY u.key LIMIT $2",
            args![profile, limit],
            |mut r| r.get(),
        )
    }

    fn profile_devices(&mut self, profile: &Key, limit: u32) -> StoreResult<Vec<String>> {
        self.0.query_map(
            "SELECT name FROM devices WHERE logout_profile_key = $1 ORDER BY key LIMIT $2",
            args![profile, limit],
            |mut r| r.get(),
        )
    }

    fn count_admins(&mut self, role: Role) -> StoreResult<u64> {
        self.0
            .query_one(
                "SELECT COUNT(*) FROM admins WHERE role = $1",
                args![role.as_str()],
            )?
            .count()
    }
}
