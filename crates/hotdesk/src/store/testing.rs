//! Databases for tests: a private PostgreSQL schema per test, on the server that
//! `HOTDESK_TEST_POSTGRES` names (`scripts/test` sets it to the local server). Not used by the service itself.

use std::sync::atomic::{AtomicU64, Ordering};

/// The variable that names the PostgreSQL server the tests may use.
pub const POSTGRES_ENV: &str = "HOTDESK_TEST_POSTGRES";

/// A schema of its own on the test server, dropped with this value.
pub struct ScratchSchema {
    base: String,
    name: String,
    /// A `postgres://` URL whose connections see only this schema.
    pub url: String,
}

/// A fresh schema, or `None` when no test server is configured. Under `CI=true` a missing or
/// unreachable server is a failure, never a silent skip.
pub fn scratch_postgres() -> Option<ScratchSchema> {
    let Ok(base) = std::env::var(POSTGRES_ENV) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {POSTGRES_ENV} is not set: the PostgreSQL tests must run in CI"
        );
        eprintln!("{POSTGRES_ENV} is not set: skipping a PostgreSQL test");
        return None;
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "hd_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let sql = format!("CREATE SCHEMA {name}");
    run_admin(&base, &sql).unwrap_or_else(|e| panic!("cannot reach {POSTGRES_ENV}={base}: {e}"));
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
    Some(ScratchSchema { base, name, url })
}

/// Run one statement on its own thread: the blocking client must not run on an async worker.
fn run_admin(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
        client.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the admin connection panicked".to_string())?
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = run_admin(&self.base, &sql) {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}
