//! The secret key file (`serve --secret-key-file`): the key PINs are hashed under.
//!
//! The key is never in the database, so a copy of the database alone reveals no PIN (see
//! `domain::pin`). It lives in a file of 64 hex digits, created with mode 0600 on first start,
//! by default beside the SQLite file (`hotdesk-data/secret.key`). Every node of a cluster
//! must be given the same file; the database records which key its PINs are hashed under, so
//! a node with another key refuses to start instead of refusing every PIN.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::pin::PinKey;
use crate::domain::secrets::{hex, unhex};
use crate::store::DatabaseUrl;

/// The file name beside the database.
pub const FILE_NAME: &str = "secret.key";

/// Where the key of `database` is kept unless `--secret-key-file` says otherwise: beside a
/// SQLite file, in `hotdesk-data/` for PostgreSQL; `None` for an in-memory database, whose
/// PINs die with it.
pub fn default_path(database: &str) -> anyhow::Result<Option<PathBuf>> {
    Ok(match DatabaseUrl::parse(database)? {
        DatabaseUrl::SqliteFile(path) => Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(FILE_NAME),
        ),
        DatabaseUrl::Postgres(_) => Some(Path::new("hotdesk-data").join(FILE_NAME)),
        DatabaseUrl::SqliteMemory => None,
    })
}

/// The key for `database`: from `explicit`, else from the default path; created there if the
/// file does not exist yet.
pub fn resolve(explicit: Option<&Path>, database: &str) -> anyhow::Result<PinKey> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path(database)? {
            Some(p) => p,
            None => return Ok(PinKey::default()),
        },
    };
    load_or_create(&path)
}

/// Read the key in `path`, or make a new one there (mode 0600) if there is no file.
pub fn load_or_create(path: &Path) -> anyhow::Result<PinKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the secret key file {}", path.display()))
        }
    }
}

fn parse(path: &Path, text: &str) -> anyhow::Result<PinKey> {
    let bytes = unhex(text.trim())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .with_context(|| {
            format!(
                "{} is not a hotdesk secret key: it must hold 64 hex digits",
                path.display()
            )
        })?;
    warn_if_readable_by_others(path);
    Ok(PinKey::from_bytes(bytes))
}

/// Write a new key beside `path`, durable, then link it into place: a process that reads
/// `path` finds a whole key or none, and two processes making it at once end with one key.
fn create(path: &Path) -> anyhow::Result<PinKey> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    let name = path
        .file_name()
        .map_or("secret.key".into(), |n| n.to_string_lossy());
    let temp = parent.join(format!(
        ".{name}.{}.{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let written = write_private(&temp, format!("{}\n", hex(&key)).as_bytes());
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {}
        // Another node or process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
            return parse(path, &text);
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot create the secret key file {}", path.display()));
        }
    }
    // The name must survive a power loss as the database's record of the key id will.
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    tracing::warn!(
        file = %path.display(),
        "created a new secret key for PINs: back it up (apart from the database backups), and give every node the same file"
    );
    Ok(PinKey::from_bytes(key))
}

/// A new file readable by its owner only, written and flushed to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            "the secret key file can be read by other users: chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_created_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secret.key");
        let made = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(made.id(), again.id());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_made_by_someone_else_first_is_the_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let theirs = load_or_create(&path).unwrap();
        // A second maker that lost the race to the name (the file appeared after it looked).
        let ours = create(&path).unwrap();
        assert_eq!(ours.id(), theirs.id());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_file_that_is_not_a_key_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "not a key\n").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("k is not a hotdesk secret key"), "{err}");
    }

    #[test]
    fn the_default_is_beside_the_sqlite_file() {
        assert_eq!(
            default_path("sqlite://hotdesk-data/hotdesk.db").unwrap(),
            Some(PathBuf::from("hotdesk-data/secret.key"))
        );
        assert_eq!(
            default_path("sqlite:///var/lib/hd/x.db").unwrap(),
            Some(PathBuf::from("/var/lib/hd/secret.key"))
        );
        assert_eq!(
            default_path("sqlite://x.db").unwrap(),
            Some(PathBuf::from("./secret.key"))
        );
        assert_eq!(
            default_path("postgres://u@h/db").unwrap(),
            Some(PathBuf::from("hotdesk-data/secret.key"))
        );
        assert_eq!(default_path("sqlite::memory:").unwrap(), None);
    }
}
