//! The directory file (README "The directory file"): one TOML model of apps, users, profiles, devices, admins
//! and the policy, used by `hotdesk import`, `serve --demo` and, later, export.
//!
//! Import is an upsert by ID or name in one transaction with one `configChange` event: run it
//! twice and the second run changes nothing that matters. A secret the file leaves out keeps
//! its stored value, and a value that already is a hash is stored as is (so an export can be
//! imported without anybody knowing the secrets; a PIN hash only under the same secret key).

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
pub use super::directory_source::DirectorySource;
use super::directory_source::Pass;
use super::model::*;
use super::pin::PinKey;
use super::provision::{
    self, AdminPatch, AppPatch, DevicePatch, Mode, Patch, Plain, ProfilePatch, ProvisionError,
    UserPatch,
};
use super::run_tx;
use super::secrets;
use super::store::{Store, StoreError, StoreResult, Tx};

/// The built-in directory of `serve --demo`: every entity the seed examples name.
pub const DEMO: &str = include_str!("demo.toml");

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<AdminEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppEntry {
    pub id: String,
    /// One secret, or several while one is being rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_login_minutes: Option<u32>,
    /// The primary extension, for a phone login by extension; `""` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub em_enabled: Option<bool>,
    /// The profile the device takes while nobody is logged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_profile: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEntry {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The file is not valid: `file:line:column: message`.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A CSV file's cell (or header) is not valid: `file: row N, column C: message`.
    #[error("{file}: row {row}, column {column}: {message}")]
    Cell {
        file: String,
        row: u64,
        column: String,
        message: String,
    },
    /// The file parses but does not make sense (unknown profile, duplicate ID, bad policy).
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error(transparent)]
    PinKey(#[from] super::pin::PinKeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parse a directory file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<DirectoryFile, DirectoryError> {
    parse_at(file, text, 1)
}

/// Parse a piece of a directory file that starts on line `first_line` of it.
pub(crate) fn parse_at(
    file: &str,
    text: &str,
    first_line: usize,
) -> Result<DirectoryFile, DirectoryError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        DirectoryError::Syntax {
            file: file.to_string(),
            line: line + first_line - 1,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// What an import did, per entity: (created, updated).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub apps: (u32, u32),
    pub users: (u32, u32),
    pub profiles: (u32, u32),
    pub devices: (u32, u32),
    pub admins: (u32, u32),
    pub policy: bool,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part =
            |name: &str, (c, u): (u32, u32)| format!("{name}: {} ({c} new, {u} updated)", c + u);
        write!(
            f,
            "{}, {}, {}, {}, {}, policy: {}",
            part("apps", self.apps),
            part("users", self.users),
            part("profiles", self.profiles),
            part("devices", self.devices),
            part("admins", self.admins),
            if self.policy { "set" } else { "unchanged" }
        )
    }
}

fn bump(counter: &mut (u32, u32), created: bool) {
    if created {
        counter.0 += 1
    } else {
        counter.1 += 1
    }
}

/// An extension as a phone's telephone-number field can type it: digits, `*`, `#` and a
/// leading `+`, at most 32; empty clears it.
pub(crate) fn check_extension(ext: &str) -> Result<(), String> {
    let ok = ext.len() <= 32
        && ext
            .char_indices()
            .all(|(i, c)| c.is_ascii_digit() || c == '*' || c == '#' || (c == '+' && i == 0));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{ext}` is not a number a phone can dial (digits, *, # and a leading +, at most 32)"
        ))
    }
}

/// Store a user; `pin_set` ends a lockout of the user's PIN: whoever set the PIN knows the
/// user has it.
pub(crate) fn put_user(tx: &mut dyn Tx, user: &User, pin_set: bool) -> StoreResult<bool> {
    let created = tx.upsert_user(user)?;
    if pin_set && !created {
        tx.put_pin_guard(&user.id.key(), None)?;
    }
    Ok(created)
}

/// A secret from the file, made storable: hashed, unless it already is a hash.
pub(crate) fn storable(secret: &str) -> String {
    if secrets::is_hash(secret) {
        secret.to_string()
    } else {
        secrets::hash(secret)
    }
}

/// A value given in the file sets the field; `""` clears the fields that can be cleared.
fn clearable(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| (!v.is_empty()).then_some(v))
}

/// Names already given in this import, per list, to refuse one given twice even when the two
/// are far apart in a large file.
#[derive(Default)]
struct Seen {
    apps: HashSet<Key>,
    users: HashSet<Key>,
    profiles: HashSet<Key>,
    devices: HashSet<Key>,
    admins: HashSet<Key>,
}

fn check_unique<'a>(
    file: &str,
    kind: &str,
    seen: &mut HashSet<Key>,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), DirectoryError> {
    for n in names {
        if n.trim().is_empty() {
            return Err(DirectoryError::Invalid {
                file: file.into(),
                message: format!("{kind}: an empty name"),
            });
        }
        if !seen.insert(Key::of(n)) {
            return Err(DirectoryError::Invalid {
                file: file.into(),
                message: format!("{kind}: `{n}` appears twice"),
            });
        }
    }
    Ok(())
}

/// The whole directory and policy as a directory file, every secret as its stored argon2 hash
/// (which `import` stores as is): a backup, or the way to move an installation from one
/// database to another. Read in one snapshot. Logins and the event history are not part of it.
pub async fn export(store: &dyn Store) -> Result<DirectoryFile, StoreError> {
    super::store::run_read(store, |r| {
        const PAGE: u32 = 1000;
        let mut keys = |kind: EntityKind| -> Result<Vec<Key>, StoreError> {
            let mut all = Vec::new();
            loop {
                let (total, page) = r.names(kind, None, all.len() as u64, PAGE)?;
                let done = page.is_empty() || all.len() + page.len() >= total as usize;
                all.extend(page);
                if done {
                    return Ok(all);
                }
            }
        };
        let (apps, users, profiles, devices, admins) = (
            keys(EntityKind::Application)?,
            keys(EntityKind::User)?,
            keys(EntityKind::DeviceProfile)?,
            keys(EntityKind::Device)?,
            keys(EntityKind::Admin)?,
        );
        let mut dir = DirectoryFile {
            policy: Some(r.policy()?),
            ..DirectoryFile::default()
        };
        for key in apps {
            if let Some(a) = r.app(&key)? {
                dir.apps.push(AppEntry {
                    id: a.id.into(),
                    certificate: Some(OneOrMany::Many(a.certificate_hashes)),
                    proxy: Some(a.proxy),
                });
            }
        }
        for key in users {
            if let Some(u) = r.user(&key)? {
                dir.users.push(UserEntry {
                    id: u.id.into(),
                    pin: u.pin_hash,
                    password: u.password_hash,
                    name: u.name,
                    profiles: Some(u.profiles.into_iter().map(String::from).collect()),
                    max_login_minutes: u.max_login_minutes,
                    extension: u.extension,
                });
            }
        }
        for key in profiles {
            if let Some(p) = r.profile(&key)? {
                dir.profiles.push(ProfileEntry {
                    name: p.name.into(),
                    description: p.description,
                    lines: Some(p.lines),
                });
            }
        }
        for key in devices {
            if let Some(d) = r.device(&key)? {
                dir.devices.push(DeviceEntry {
                    name: d.name.into(),
                    model: d.model,
                    em_enabled: Some(d.em_enabled),
                    logout_profile: d.logout_profile.map(Into::into),
                });
            }
        }
        for key in admins {
            if let Some(a) = r.admin(&key)? {
                dir.admins.push(AdminEntry {
                    username: a.username.into(),
                    password: Some(a.password_hash),
                    role: Some(a.role),
                });
            }
        }
        Ok(dir)
    })
    .await
}

/// A directory file as TOML text.
pub fn to_toml(dir: &DirectoryFile) -> String {
    // Every field is a string, number, boolean or list of them: serialization cannot fail.
    toml::to_string(dir).unwrap_or_default()
}

/// Load a parsed directory into the store. PINs are hashed under `pin_key`, which must be the
/// key the database's PINs are hashed under (it becomes that key on a new database).
pub async fn import(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    pin_key: &PinKey,
    file: &str,
    dir: DirectoryFile,
    actor: &str,
) -> Result<ImportReport, DirectoryError> {
    // Checked and hashed (argon2 is slow on purpose) on a blocking thread before the
    // transaction, as the admin API does, so that no write waits for it; then one piece, all
    // lists in it, profiles first. A backend that runs the transaction again gets a copy.
    let (key, name) = (pin_key.clone(), file.to_string());
    let checked = tokio::task::spawn_blocking(move || Checker::new(&key, &name).check(dir))
        .await
        .map_err(|e| DirectoryError::Invalid {
            file: file.to_string(),
            message: format!("hashing secrets failed: {e}"),
        })??;
    run_import(
        store,
        clock,
        pin_key,
        file,
        actor,
        move |pass, f| match pass {
            Pass::Profiles => f(Piece::Checked(checked.clone())),
            Pass::Rest => Ok(()),
        },
    )
    .await
}

/// Load a directory file into the store a piece at a time (`directory_source`): a file of
/// any size in bounded memory, still in one transaction with one event, and with the same
/// rules, checks and messages as [`import`].
pub async fn import_source(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    pin_key: &PinKey,
    source: DirectorySource,
    actor: &str,
) -> Result<ImportReport, DirectoryError> {
    let file = source.name().to_string();
    run_import(store, clock, pin_key, &file, actor, move |pass, f| {
        source.for_each_piece(pass, &mut |dir| f(Piece::File(dir)))
    })
    .await
}

/// Why an import's transaction stops early: the store failed, or the file is wrong.
enum Stop {
    Store(StoreError),
    File(DirectoryError),
}

impl From<DirectoryError> for Stop {
    fn from(e: DirectoryError) -> Self {
        Stop::File(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

async fn run_import<F>(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    pin_key: &PinKey,
    file: &str,
    actor: &str,
    pieces: F,
) -> Result<ImportReport, DirectoryError>
where
    F: FnMut(Pass, &mut dyn FnMut(Piece) -> Result<(), Stop>) -> Result<(), Stop> + Send + 'static,
{
    let now = clock.now();
    let file = file.to_string();
    let actor = actor.to_string();
    let pin_key = pin_key.clone();
    let mut pieces = pieces;
    run_tx(store.as_ref(), move |tx| {
        let mut run = ImportRun::new(&pin_key, &file);
        // The whole directory at once: one lock however large the file (see `lock_directory`).
        tx.lock_directory(true)?;
        // Profiles first: users and devices name them, wherever in the file they are defined.
        for pass in [Pass::Profiles, Pass::Rest] {
            match pieces(pass, &mut |dir| run.piece(tx, dir)) {
                Ok(()) => {}
                Err(Stop::Store(e)) => return Err(e),
                Err(Stop::File(e)) => return Ok(Err(e)),
            }
        }
        run.finish(tx, &actor, now)
    })
    .await?
}

/// A piece as the import's transaction receives it: read from a file (checked and hashed in
/// the transaction), or checked and hashed before it began.
pub(crate) enum Piece {
    File(DirectoryFile),
    Checked(Checked),
}

/// A piece whose names and PINs are checked and whose secrets are hashed: what the transaction
/// applies (cloned if the backend runs the transaction again after a conflict).
#[derive(Clone)]
pub(crate) struct Checked {
    policy: Option<Policy>,
    /// Profiles first: users name them, and a user may name one defined further down.
    patches: Vec<Patch>,
    /// Whether any patch sets a PIN hash, which binds the database's PIN key.
    pins: bool,
}

/// The checks of a directory that need no database: names given twice (across all pieces), a
/// policy that does not make sense, PINs a phone cannot type; and the hashing of secrets.
struct Checker<'a> {
    pin_key: &'a PinKey,
    file: &'a str,
    seen: Seen,
}

impl<'a> Checker<'a> {
    fn new(pin_key: &'a PinKey, file: &'a str) -> Self {
        Checker {
            pin_key,
            file,
            seen: Seen::default(),
        }
    }

    fn invalid(&self, message: String) -> DirectoryError {
        DirectoryError::Invalid {
            file: self.file.to_string(),
            message,
        }
    }

    fn check(&mut self, dir: DirectoryFile) -> Result<Checked, DirectoryError> {
        let file = self.file;
        let seen = &mut self.seen;
        check_unique(
            file,
            "apps",
            &mut seen.apps,
            dir.apps.iter().map(|a| a.id.as_str()),
        )?;
        check_unique(
            file,
            "users",
            &mut seen.users,
            dir.users.iter().map(|u| u.id.as_str()),
        )?;
        check_unique(
            file,
            "profiles",
            &mut seen.profiles,
            dir.profiles.iter().map(|p| p.name.as_str()),
        )?;
        check_unique(
            file,
            "devices",
            &mut seen.devices,
            dir.devices.iter().map(|d| d.name.as_str()),
        )?;
        check_unique(
            file,
            "admins",
            &mut seen.admins,
            dir.admins.iter().map(|a| a.username.as_str()),
        )?;
        let mut dir = dir;
        let policy = dir.policy.take();
        if let Some(problem) = policy
            .as_ref()
            .and_then(|p| p.problems().into_iter().next())
        {
            return Err(self.invalid(format!("policy: {problem}")));
        }
        // A PIN that cannot be typed at a phone, or a hash that cannot match under this key,
        // is a mistake in the file, reported before the slow part. An HMAC costs
        // microseconds, not argon2's milliseconds (BENCHMARKS.md).
        for u in &dir.users {
            if let Some(pin) = &u.pin
                && let Err(e) = self.pin_key.storable(&Key::of(&u.id), pin)
            {
                return Err(self.invalid(format!("user `{}`: pin: {e}", u.id)));
            }
        }
        let pins = dir.users.iter().any(|u| u.pin.is_some());
        let patches = patches(dir)
            .map(|p| {
                let (kind, name) = (p.kind().element(), p.name().to_string());
                p.hashed(self.pin_key)
                    .map_err(|e| self.invalid(format!("{kind} `{name}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checked {
            policy,
            patches,
            pins,
        })
    }
}

/// One import's progress through its transaction.
struct ImportRun<'a> {
    checker: Checker<'a>,
    /// Whether this transaction has bound the database's PIN key (before its first PIN).
    key_bound: bool,
    policy: Option<Policy>,
    report: ImportReport,
}

impl<'a> ImportRun<'a> {
    fn new(pin_key: &'a PinKey, file: &'a str) -> Self {
        ImportRun {
            checker: Checker::new(pin_key, file),
            key_bound: false,
            policy: None,
            report: ImportReport::default(),
        }
    }

    /// Check one piece and put it through the one provisioning path ([`provision::apply`]).
    fn piece(&mut self, tx: &mut dyn Tx, piece: Piece) -> Result<(), Stop> {
        let checked = match piece {
            Piece::Checked(checked) => checked,
            // A file read in pieces: its few passwords and certificates get argon2 here, in
            // the transaction, rather than a second copy of every entry held in memory.
            Piece::File(dir) => self.checker.check(dir)?,
        };
        if let Some(policy) = checked.policy {
            if self.policy.is_some() {
                return Err(self.checker.invalid("policy: given twice".into()).into());
            }
            self.policy = Some(policy);
        }
        // PIN hashes are stored only under the database's key, which they bind on a new
        // database.
        if !self.key_bound && checked.pins {
            if let Err(e) = super::pin::bind_key_in(tx, self.checker.pin_key)? {
                return Err(DirectoryError::from(e).into());
            }
            self.key_bound = true;
        }
        for patch in &checked.patches {
            let applied = match provision::apply(tx, Mode::Upsert, patch, true)? {
                Ok(applied) => applied,
                Err(e) => {
                    let (kind, name) = (patch.kind().element(), patch.name());
                    let message = match e {
                        ProvisionError::UnknownProfile(profile) => {
                            format!("{kind} `{name}`: profile `{profile}` is not defined")
                        }
                        e => format!("{kind} `{name}`: {e}"),
                    };
                    return Err(self.checker.invalid(message).into());
                }
            };
            let counter = match patch {
                Patch::Application(_) => &mut self.report.apps,
                Patch::User(_) => &mut self.report.users,
                Patch::DeviceProfile(_) => &mut self.report.profiles,
                Patch::Device(_) => &mut self.report.devices,
                Patch::Admin(_) => &mut self.report.admins,
            };
            bump(counter, applied.created);
        }
        Ok(())
    }

    /// The policy, then one `configChange` event for the file.
    fn finish(
        mut self,
        tx: &mut dyn Tx,
        actor: &str,
        now: super::clock::Timestamp,
    ) -> Result<Result<ImportReport, DirectoryError>, StoreError> {
        if let Some(policy) = &self.policy {
            // As setPolicy does: its read-merge-write must not overwrite this one, nor this it.
            tx.policy_for_update()?;
            tx.set_policy(policy)?;
            self.report.policy = true;
        }
        let mut event = NewEvent::new(now, EventKind::ConfigChange)
            .detail(format!("import {}: {}", self.checker.file, self.report));
        event.actor = Some(actor.to_string());
        tx.append_event(&event)?;
        Ok(Ok(self.report))
    }
}

/// A piece's entries as provisioning patches. Profiles first: users and devices name them,
/// and may name one defined further down the piece.
fn patches(dir: DirectoryFile) -> impl Iterator<Item = Patch<Plain>> {
    let plain = |s: String| Plain(s);
    let profiles = dir.profiles.into_iter().map(|p| {
        Patch::DeviceProfile(ProfilePatch {
            name: p.name,
            description: clearable(p.description),
            lines: p.lines,
        })
    });
    let devices = dir.devices.into_iter().map(|d| {
        Patch::Device(DevicePatch {
            name: d.name,
            model: clearable(d.model),
            em_enabled: d.em_enabled,
            logout_profile: clearable(d.logout_profile),
        })
    });
    let apps = dir.apps.into_iter().map(move |a| {
        Patch::Application(AppPatch {
            id: a.id,
            certificates: a
                .certificate
                .map(|c| c.into_vec().into_iter().map(plain).collect()),
            proxy: a.proxy,
        })
    });
    let users = dir.users.into_iter().map(|u| {
        Patch::User(UserPatch {
            pin: u.pin.map(|p| Some(Plain(p))),
            password: u.password.map(|p| Some(Plain(p))),
            name: clearable(u.name),
            profiles: u.profiles,
            max_login_minutes: u.max_login_minutes.map(Some),
            extension: clearable(u.extension),
            id: u.id,
        })
    });
    let admins = dir.admins.into_iter().map(|a| {
        Patch::Admin(AdminPatch {
            password: a.password.map(Plain),
            role: a.role,
            username: a.username,
        })
    });
    profiles
        .chain(devices)
        .chain(apps)
        .chain(users)
        .chain(admins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_parses() {
        let d = parse("demo.toml", DEMO).unwrap();
        assert!(d.users.iter().any(|u| u.id == "em@cisco.com"));
        assert!(d.devices.iter().any(|u| u.name == "SEP003094C25B15"));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "[policy]\nmultiple_login = \"allowed\"\n\n[[users]]\nid = \"john\"\ncolour = \"blue\"\n";
        let err = parse("dir.toml", text).unwrap_err().to_string();
        assert!(err.starts_with("dir.toml:6:1: "), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse("d.toml", "[policy]\nmultiple_login = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("d.toml:2:"), "{err}");
        let err = parse("d.toml", "[[admins]]\nusername = \"a\"\nrole = \"boss\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("d.toml:3:"), "{err}");
        let err = parse("d.toml", "[[devices]]\nmodel = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("name"), "{err}");
    }

    #[tokio::test]
    async fn pins_and_extensions_a_phone_cannot_type_are_refused_by_name() {
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open_in_memory().unwrap());
        let clock = super::super::ManualClock::new(super::super::Timestamp(0));
        let key = PinKey::default();
        let load = |text: &str| {
            let (store, clock, key) = (store.clone(), clock.clone(), key.clone());
            let dir = parse("d.toml", text).unwrap();
            async move { import(&store, &clock, &key, "d.toml", dir, "test").await }
        };
        let err = load("[[users]]\nid = \"ann\"\npin = \"12a4\"\n")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.toml: user `ann`: pin: a PIN is 1 to 16 digits"
        );
        let err = load("[[users]]\nid = \"ann\"\nextension = \"10 01\"\n")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("d.toml: user `ann`: extension: `10 01` is not a number"),
            "{err}"
        );
        assert!(store.counts().await.unwrap().is_empty(), "nothing imported");
        // A PIN hash made under another key cannot match: refused, not stored.
        let foreign = PinKey::default().hash(&Key::of("ann"), "1234");
        let err = load(&format!("[[users]]\nid = \"ann\"\npin = \"{foreign}\"\n"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("another secret key"), "{err}");
        // The same PIN under this key, and an extension, round-trip through export.
        load("[[users]]\nid = \"Ann\"\npin = \"1234\"\nextension = \"+4930*1#\"\n")
            .await
            .unwrap();
        let exported = export(store.as_ref()).await.unwrap();
        let ann = &exported.users[0];
        assert_eq!(ann.extension.as_deref(), Some("+4930*1#"));
        assert_eq!(
            ann.pin.as_deref(),
            Some(key.hash(&Key::of("ann"), "1234").as_str())
        );
        load(&to_toml(&exported)).await.unwrap();
        // An empty extension clears it.
        load("[[users]]\nid = \"ann\"\nextension = \"\"\n")
            .await
            .unwrap();
        assert_eq!(
            export(store.as_ref()).await.unwrap().users[0].extension,
            None
        );
    }

    #[test]
    fn certificate_takes_one_or_many() {
        let d = parse(
            "d.toml",
            "[[apps]]\nid = \"a\"\ncertificate = [\"new\", \"old\"]\n",
        )
        .unwrap();
        assert!(matches!(&d.apps[0].certificate, Some(OneOrMany::Many(v)) if v.len() == 2));
    }

    /// A file of several pieces (`directory_source`), users before the profile they name.
    fn big_file(users: usize) -> String {
        let mut text = String::from("[policy]\nmultiple_login = \"allowed\"\n\n");
        for i in 0..users {
            text.push_str(&format!("[[users]]\nid = \"u{i}\"\nprofiles = [\"P\"]\n\n"));
        }
        text.push_str("[[devices]]\nname = \"D1\"\nlogout_profile = \"P\"\n\n");
        text.push_str("[[profiles]]\nname = \"P\"\n");
        text
    }

    #[tokio::test]
    async fn a_file_read_in_pieces_imports_as_the_whole_file_would() {
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open_in_memory().unwrap());
        let clock = super::super::ManualClock::new(super::super::Timestamp(0));
        let key = PinKey::default();
        let users = super::super::directory_source::PIECE_ENTRIES * 2 + 7;
        let load = |text: String| {
            let (store, clock, key) = (store.clone(), clock.clone(), key.clone());
            let source = DirectorySource::toml_text("big.toml", text);
            async move { import_source(&store, &clock, &key, source, "test").await }
        };
        let report = load(big_file(users)).await.unwrap();
        assert_eq!(report.users, (users as u32, 0));
        assert_eq!((report.profiles, report.devices), ((1, 0), (1, 0)));
        assert!(report.policy);
        let user = store
            .user(&Key::of(&format!("u{}", users - 1)))
            .await
            .unwrap();
        assert_eq!(user.unwrap().profiles, ["P"]);

        // Mistakes far apart are still found, with the line of the whole file; and nothing
        // of a refused file is kept.
        let mut twice = big_file(users);
        twice.push_str("[[users]]\nid = \"U0\"\n");
        let err = load(twice).await.unwrap_err().to_string();
        assert_eq!(err, "big.toml: users: `U0` appears twice");
        let mut policies = big_file(10);
        policies.push_str("[policy]\nremember_last_user = true\n");
        let err = load(policies).await.unwrap_err().to_string();
        assert_eq!(err, "big.toml: policy: given twice");
        let mut broken = big_file(users);
        let line = broken.matches('\n').count() + 1;
        broken.push_str("[[devices]]\nname = = 1\n");
        let err = load(broken).await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("big.toml:{}:", line + 1)),
            "{err} (line {})",
            line + 1
        );
        let counts = store.counts().await.unwrap();
        assert_eq!(counts.users, users as u64, "the refused files added nobody");
    }
}
