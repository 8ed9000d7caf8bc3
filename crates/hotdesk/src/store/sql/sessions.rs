//! Admin API sessions and event delivery leases, over any engine.

use super::{Engine, Sql, args};
use crate::domain::{AdminSession, Key, SessionTx, StoreResult, Timestamp};

impl<E: Engine> SessionTx for Sql<E> {
    fn insert_session(&mut self, s: &AdminSession) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO admin_sessions
                 (token_hash, admin_key, created_at, expires_at, callback_url, peer, events_after)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![
                &s.token_hash,
                &s.username.key(),
                s.created_at,
                s.expires_at,
                s.callback_url.as_deref(),
                s.peer.as_deref(),
                s.events_after,
            ],
        )?;
        Ok(())
    }

    fn touch_session(&mut self, token_hash: &str, expires_at: Timestamp) -> StoreResult<bool> {
        Ok(self.0.execute(
            "UPDATE admin_sessions SET expires_at = $2 WHERE token_hash = $1",
            args![token_hash, expires_at],
        )? > 0)
    }

    fn remove_session(&mut self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.0.execute(
            "DELETE FROM admin_sessions WHERE token_hash = $1",
            args![token_hash],
        )? > 0)
    }

    fn remove_expired_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        self.0.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= $1",
            args![now],
        )
    }

    fn session_count(&mut self) -> StoreResult<u64> {
        self.0
            .query_one("SELECT COUNT(*) FROM admin_sessions", args![])?
            .count()
    }

    fn remove_sessions_of(&mut self, admin: &Key) -> StoreResult<u64> {
        self.0.execute(
            "DELETE FROM admin_sessions WHERE admin_key = $1",
            args![admin],
        )
    }

    fn set_subscription(&mut self, token_hash: &str, after: Option<i64>) -> StoreResult<bool> {
        Ok(self.0.execute(
            "UPDATE admin_sessions SET events_after = $2 WHERE token_hash = $1",
            args![token_hash, after],
        )? > 0)
    }

    fn claim_delivery(
        &mut self,
        token_hash: &str,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.0.execute(
            "UPDATE admin_sessions SET delivery_node = $2, delivery_until = $4
             WHERE token_hash = $1 AND (delivery_node IS NULL OR delivery_node = $2
                                        OR delivery_until <= $3)",
            args![token_hash, node, now, until],
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
        Ok(self.0.execute(
            "UPDATE admin_sessions SET events_after = $4, delivery_until = $5
             WHERE token_hash = $1 AND delivery_node = $2 AND events_after = $3",
            args![token_hash, node, from, to, until],
        )? > 0)
    }
}
