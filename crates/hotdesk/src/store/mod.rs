//! Database backends of [`crate::domain::Store`].
//!
//! The rest of the service names a database only by its URL (`--database`); this
//! module turns that URL into a backend, so the CLI and the tests never name a backend type.

#[cfg(test)]
pub(crate) mod contract;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod testing;

use crate::domain::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// The URL forms [`open`] accepts, quoted in every "bad URL" message so the fix is in the error.
const ACCEPTED: &str = "sqlite://relative/path.db, sqlite:///abs/path.db, sqlite::memory: \
                        or postgres://user@host/db";

/// Why a database could not be opened. Its `Display` is a complete sentence for a person: the
/// CLI prints it as is and exits.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL {url:?}: use {ACCEPTED}")]
    UnsupportedUrl { url: String },
    #[error("database URL {url:?} has no file path: use {ACCEPTED}")]
    MissingPath { url: String },
    #[error("database URL {url:?} has query parameters, which are not supported: use {ACCEPTED}")]
    QueryParameters { url: String },
    #[error("cannot open the PostgreSQL database {url:?}: {message}")]
    Postgres { url: String, message: String },
    #[error("cannot create the folder {path:?} for the database: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path:?}: {message}")]
    Sqlite { path: String, message: String },
    #[error(
        "the database {path:?} has schema version {found}, newer than this hotdesk knows \
         ({known}); upgrade hotdesk or use another database"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("opening the database was interrupted: {0}")]
    Interrupted(String),
}

/// A parsed `--database` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file; relative paths are relative to the working directory.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database that lives as long as the store (tests).
    SqliteMemory,
    /// A PostgreSQL connection string, kept whole for the driver.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parse without touching the file system, so the CLI can reject a bad URL before it binds
    /// a port.
    pub fn parse(url: &str) -> Result<DatabaseUrl, OpenError> {
        if url == "sqlite::memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let Some(path) = url.strip_prefix("sqlite://") else {
            return Err(OpenError::UnsupportedUrl {
                url: url.to_string(),
            });
        };
        // `sqlite:///abs` leaves `/abs`, `sqlite://rel` leaves `rel`: the path is what follows
        // the scheme, with no host part, as in sqlx and SQLAlchemy.
        if path.contains('?') {
            return Err(OpenError::QueryParameters {
                url: url.to_string(),
            });
        }
        if path.is_empty() || path.ends_with('/') {
            return Err(OpenError::MissingPath {
                url: url.to_string(),
            });
        }
        Ok(DatabaseUrl::SqliteFile(PathBuf::from(path)))
    }
}

/// Open the backend a `--database` URL names: `sqlite://relative/path.db`,
/// `sqlite:///abs/path.db` (missing parent folders are created), `sqlite::memory:` (tests), or
/// `postgres://user@host/db` (libpq's URL form). Migrations run before it returns.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_with(url, StoreOptions::default()).await
}

/// How the service uses its database beyond the URL.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// The most one database operation may take (PostgreSQL); past it the request fails with
    /// code 6 instead of waiting. SQLite is local and has no such deadline.
    pub timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            timeout: postgres::PgOptions::default().timeout,
        }
    }
}

/// [`open`] with options.
pub async fn open_with(url: &str, options: StoreOptions) -> Result<Arc<dyn Store>, OpenError> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::SqliteMemory => {
            let store = sqlite::SqliteStore::open_in_memory()?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::SqliteFile(path) => {
            // Opening creates folders, takes locks and may migrate: blocking work, kept off
            // the async workers.
            let store = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
                .await
                .map_err(|e| OpenError::Interrupted(e.to_string()))??;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(url) => {
            let store = tokio::task::spawn_blocking(move || {
                postgres::PgStore::open(
                    &url,
                    postgres::PgOptions {
                        timeout: options.timeout,
                    },
                )
            })
            .await
            .map_err(|e| OpenError::Interrupted(e.to_string()))??;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_backends() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://hotdesk-data/hotdesk.db").unwrap(),
            DatabaseUrl::SqliteFile(PathBuf::from("hotdesk-data/hotdesk.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/hotdesk.db").unwrap(),
            DatabaseUrl::SqliteFile(PathBuf::from("/var/lib/hotdesk.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:").unwrap(),
            DatabaseUrl::SqliteMemory
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        for bad in ["mysql://x", "hotdesk.db", "sqlite:x.db", ""] {
            let e = DatabaseUrl::parse(bad).unwrap_err();
            assert!(matches!(e, OpenError::UnsupportedUrl { .. }), "{bad}: {e}");
            let msg = e.to_string();
            assert!(msg.contains("sqlite:///abs/path.db") && msg.contains(&format!("{bad:?}")));
        }
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(OpenError::MissingPath { .. })
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db?mode=ro"),
            Err(OpenError::QueryParameters { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn open_creates_parent_folders_and_names_a_bad_database() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/hotdesk.db");
        let url = format!("sqlite://{}", file.display());
        let store = open(&url).await.unwrap();
        assert!(store.counts().await.unwrap().is_empty());
        assert!(file.exists());

        let memory = open("sqlite::memory:").await.unwrap();
        assert_eq!(
            memory.policy().await.unwrap(),
            crate::domain::Policy::default()
        );

        // Port 1 refuses at once: the error names the database without its password.
        let e = open("postgres://u:secret@127.0.0.1:1/db")
            .await
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(
            text.contains("postgres://u@127.0.0.1:1/db") && !text.contains("secret"),
            "{text}"
        );
        let e = open("redis://x").await.err().unwrap();
        assert!(e.to_string().contains("redis://x"), "{e}");
    }
}
