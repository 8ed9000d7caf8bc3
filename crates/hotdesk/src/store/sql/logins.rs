//! Who is logged in where, over any engine.

use super::{Engine, LOGIN_COLUMNS, Sql, Value, args, login, reads};
use crate::domain::{Device, DeviceLock, Key, Login, LoginTx, StoreResult, Timestamp, UserLock};

impl<E: Engine> Sql<E> {
    /// Run a `DELETE ... RETURNING` over logins. RETURNING hands rows back in no promised
    /// order, so they are sorted (earliest deadline first, indefinite last, then by device) to
    /// keep events and answers stable.
    fn delete_logins(&mut self, sql: &str, args: &[Value<'_>]) -> StoreResult<Vec<Login>> {
        let mut logins = self.0.query_map(sql, args, login)?;
        logins.sort_by_cached_key(|l| (l.deadline.is_none(), l.deadline, l.device.key()));
        Ok(logins)
    }
}

impl<E: Engine> LoginTx for Sql<E> {
    fn lock_user(&mut self, user: &Key) -> StoreResult<UserLock> {
        self.0.lock("user", user.as_str(), false)?;
        Ok(UserLock::held(user))
    }

    fn lock_device(&mut self, device: &Key) -> StoreResult<DeviceLock> {
        self.0.lock("device", device.as_str(), false)?;
        Ok(DeviceLock::held(device))
    }

    fn device_login(&mut self, device: &DeviceLock) -> StoreResult<Option<Login>> {
        reads::device_login(&mut self.0, device.key(), None)
    }

    fn user_logins(&mut self, user: &UserLock) -> StoreResult<Vec<Login>> {
        reads::user_logins(&mut self.0, user.key(), None)
    }

    fn put_login(&mut self, login: &Login) -> StoreResult<()> {
        self.0.login_written();
        self.0.execute(
            r#"INSERT INTO logins
                   (device_key, device, user_key, "user", profile, app, logged_in_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (device_key) DO UPDATE SET
                   device = excluded.device, user_key = excluded.user_key,
                   "user" = excluded."user", profile = excluded.profile, app = excluded.app,
                   logged_in_at = excluded.logged_in_at, expires_at = excluded.expires_at"#,
            args![
                &login.device.key(),
                &login.device,
                &login.user.key(),
                &login.user,
                &login.profile,
                &login.app,
                login.logged_in_at,
                login.deadline,
            ],
        )?;
        Ok(())
    }

    fn remove_login(&mut self, device: &Key) -> StoreResult<Option<Login>> {
        let sql = format!("DELETE FROM logins WHERE device_key = $1 RETURNING {LOGIN_COLUMNS}");
        Ok(self.delete_logins(&sql, args![device])?.pop())
    }

    fn remove_all_logins(&mut self) -> StoreResult<Vec<Login>> {
        let sql = format!("DELETE FROM logins RETURNING {LOGIN_COLUMNS}");
        self.delete_logins(&sql, args![])
    }

    fn remove_due_logins(&mut self, now: Timestamp) -> StoreResult<Vec<Login>> {
        self.delete_logins(E::REMOVE_DUE_LOGINS, args![now])
    }

    fn set_last_user(&mut self, device: &Key, user: &str) -> StoreResult<Option<Device>> {
        // RETURNING saves the read of the device that every ended login's event needs: one
        // round trip of a logoutAll's or an expiry pass's few per login.
        let row = self.0.query_opt(
            "UPDATE devices SET last_user = $2 WHERE key = $1
             RETURNING name, model, em_enabled, logout_profile",
            args![device, user],
        )?;
        row.map(|mut r| {
            Ok(Device {
                name: r.get()?,
                model: r.get()?,
                em_enabled: r.get()?,
                logout_profile: r.get()?,
            })
        })
        .transpose()
    }
}
