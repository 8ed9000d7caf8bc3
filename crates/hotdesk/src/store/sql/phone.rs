//! What the phone service keeps, over any engine.

use super::{Engine, Sql, args, reads};
use crate::domain::{Key, PhoneMenu, PhoneTx, PinGuard, StoreError, StoreResult, Timestamp};

impl<E: Engine> PhoneTx for Sql<E> {
    fn pin_guard(&mut self, user: &Key) -> StoreResult<Option<PinGuard>> {
        reads::pin_guard(&mut self.0, user)
    }

    fn put_pin_guard(&mut self, user: &Key, guard: Option<&PinGuard>) -> StoreResult<()> {
        match guard {
            Some(g) => self.0.execute(
                "INSERT INTO pin_guards (user_key, failures, window_start, locked_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_key) DO UPDATE SET failures = excluded.failures,
                     window_start = excluded.window_start, locked_until = excluded.locked_until",
                args![user, g.failures, g.window_start, g.locked_until],
            )?,
            None => self
                .0
                .execute("DELETE FROM pin_guards WHERE user_key = $1", args![user])?,
        };
        Ok(())
    }

    fn set_pin_hash(&mut self, user: &Key, hash: &str) -> StoreResult<bool> {
        Ok(self.0.execute(
            "UPDATE users SET pin_hash = $2 WHERE key = $1",
            args![user, hash],
        )? > 0)
    }

    fn insert_phone_menu(&mut self, menu: &PhoneMenu) -> StoreResult<()> {
        let profiles = serde_json::to_string(&menu.profiles)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.0.execute(
            r#"INSERT INTO phone_menus (token_hash, device, "user", profiles, expires_at)
               VALUES ($1, $2, $3, $4, $5)"#,
            args![
                &menu.token_hash,
                &menu.device,
                &menu.user,
                &profiles,
                menu.expires_at
            ],
        )?;
        Ok(())
    }

    fn take_phone_menu(&mut self, token_hash: &str) -> StoreResult<Option<PhoneMenu>> {
        self.0
            .query_opt(
                r#"DELETE FROM phone_menus WHERE token_hash = $1
                   RETURNING token_hash, device, "user", profiles, expires_at"#,
                args![token_hash],
            )?
            .map(|mut r| {
                Ok(PhoneMenu {
                    token_hash: r.get()?,
                    device: r.get()?,
                    user: r.get()?,
                    profiles: serde_json::from_str(&r.get::<String>()?)
                        .map_err(|e| StoreError::Database(e.to_string()))?,
                    expires_at: r.get()?,
                })
            })
            .transpose()
    }

    fn remove_phone_menus(&mut self, device: &str, now: Timestamp) -> StoreResult<u64> {
        self.0.execute(
            "DELETE FROM phone_menus WHERE device = $1 OR expires_at <= $2",
            args![device, now],
        )
    }

    fn claim_pin_key_id(&mut self, key_id: &str) -> StoreResult<String> {
        self.0.execute(
            "INSERT INTO pin_key (id, key_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            args![key_id],
        )?;
        self.0
            .query_one("SELECT key_id FROM pin_key WHERE id = 1", args![])?
            .get()
    }
}
