//! One way to write the directory, whoever asks: an admin API edit (at once or from a change
//! set) and an import of a directory file both become [`Patch`]es applied by [`apply`], under
//! the same locks, with the same rules and the same canonical names. So the same entities give
//! the same rows, and the same export, however they arrived.
//!
//! A patch names one object and the fields to change; a field left out keeps its value. A
//! patch arrives with its secrets as given ([`Plain`]) and is applied with them hashed
//! ([`Hashed`], by [`Patch::hashed`], off the async workers): only the hashed form can be
//! serialized, so a change set, which is stored, cannot hold a plaintext secret.

use serde::{Deserialize, Serialize};

use super::directory::{check_extension, put_user, storable};
use super::model::*;
use super::pin::PinKey;
use super::store::{Lookup, StoreResult, Tx};

/// A secret as a person gave it: a PIN, a password, a certificate (or a hash that was given,
/// which hashing keeps). Not `Serialize`, and its `Debug` shows nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Plain(pub String);

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plain(..)")
    }
}

/// A secret as it is stored: an argon2 hash, or a keyed PIN hash (`domain::pin`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hashed(pub String);

/// What an apply does when the object exists, or does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create; the object must not exist (`addUser`).
    Add,
    /// Change; the object must exist (`updateUser`).
    Update,
    /// Create or change: a directory file says how things are. Re-applying the same patch
    /// changes nothing that matters: a PIN the same as the stored one ends no lockout.
    Upsert,
}

/// A change to an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPatch<S = Hashed> {
    pub id: String,
    /// Replace the accepted certificates.
    pub certificates: Option<Vec<S>>,
    pub proxy: Option<bool>,
}

/// A change to a user. `Some(None)` clears a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPatch<S = Hashed> {
    pub id: String,
    pub pin: Option<Option<S>>,
    pub password: Option<Option<S>>,
    pub name: Option<Option<String>>,
    /// Profile names in order, any spelling: stored as each profile spells itself, once.
    pub profiles: Option<Vec<String>>,
    pub max_login_minutes: Option<Option<u32>>,
    pub extension: Option<Option<String>>,
}

/// A change to a device profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePatch {
    pub name: String,
    pub description: Option<Option<String>>,
    pub lines: Option<Vec<String>>,
}

/// A change to a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePatch {
    pub name: String,
    pub model: Option<Option<String>>,
    pub em_enabled: Option<bool>,
    /// A profile's name; `Some(None)` clears it.
    pub logout_profile: Option<Option<String>>,
}

/// A change to an admin account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPatch<S = Hashed> {
    pub username: String,
    /// An account always has one.
    pub password: Option<S>,
    pub role: Option<Role>,
}

/// A change to one object of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Patch<S = Hashed> {
    Application(AppPatch<S>),
    User(UserPatch<S>),
    DeviceProfile(ProfilePatch),
    Device(DevicePatch),
    Admin(AdminPatch<S>),
}

impl Patch<Plain> {
    /// The patch with its secrets hashed: a PIN under `pin_key` for this user (microseconds),
    /// the others with argon2 (slow on purpose: call it on a blocking thread). A value that
    /// already is a hash is kept; an empty user password clears it; any other empty secret is
    /// kept empty for the rules to refuse (an application's certificate, an admin's password).
    pub fn hashed(self, pin_key: &PinKey) -> Result<Patch<Hashed>, ProvisionError> {
        let hash = |Plain(s): Plain| Hashed(if s.is_empty() { s } else { storable(&s) });
        Ok(match self {
            Patch::Application(p) => Patch::Application(AppPatch {
                id: p.id,
                certificates: p.certificates.map(|c| c.into_iter().map(hash).collect()),
                proxy: p.proxy,
            }),
            Patch::User(p) => {
                let key = Key::of(&p.id);
                let pin = match p.pin {
                    Some(Some(Plain(pin))) => {
                        Some(Some(Hashed(pin_key.storable(&key, &pin).map_err(|e| {
                            ProvisionError::Invalid(format!("pin: {e}"))
                        })?)))
                    }
                    Some(None) => Some(None),
                    None => None,
                };
                Patch::User(UserPatch {
                    id: p.id,
                    pin,
                    // An empty password is no password: it clears, on every path.
                    password: p
                        .password
                        .map(|p| p.filter(|Plain(s)| !s.is_empty()).map(hash)),
                    name: p.name,
                    profiles: p.profiles,
                    max_login_minutes: p.max_login_minutes,
                    extension: p.extension,
                })
            }
            Patch::DeviceProfile(p) => Patch::DeviceProfile(p),
            Patch::Device(p) => Patch::Device(p),
            Patch::Admin(p) => Patch::Admin(AdminPatch {
                username: p.username,
                password: p.password.map(hash),
                role: p.role,
            }),
        })
    }
}

impl<S> Patch<S> {
    pub fn kind(&self) -> EntityKind {
        match self {
            Patch::Application(_) => EntityKind::Application,
            Patch::User(_) => EntityKind::User,
            Patch::DeviceProfile(_) => EntityKind::DeviceProfile,
            Patch::Device(_) => EntityKind::Device,
            Patch::Admin(_) => EntityKind::Admin,
        }
    }

    /// The object's name, as given.
    pub fn name(&self) -> &str {
        match self {
            Patch::Application(p) => &p.id,
            Patch::User(p) => &p.id,
            Patch::DeviceProfile(p) => &p.name,
            Patch::Device(p) => &p.name,
            Patch::Admin(p) => &p.username,
        }
    }
}

/// An object of the directory as stored. Secrets are in the values but never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Application(AppUser),
    User(User),
    DeviceProfile(DeviceProfile),
    Device(Device),
    Admin(Admin),
}

/// Why a patch was not applied. The admin API and the import each turn these into their own
/// words (`admin::edit`, `directory`); the rule is decided once, here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0} {1} already exists")]
    AlreadyExists(&'static str, String),
    #[error("there is no {0} {1}")]
    NotFound(&'static str, String),
    /// A value the object cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// A user names a device profile that does not exist.
    #[error("no device profile {0}")]
    UnknownProfile(String),
    /// The change would take away something still in use (the last admin account).
    #[error("{0}")]
    InUse(String),
}

/// One object by its key, in a read job's snapshot or a write job's transaction.
pub(crate) fn current(
    r: &mut dyn Lookup,
    kind: EntityKind,
    key: &Key,
) -> StoreResult<Option<Object>> {
    Ok(match kind {
        EntityKind::Application => r.app(key)?.map(Object::Application),
        EntityKind::User => r.user(key)?.map(Object::User),
        EntityKind::DeviceProfile => r.profile(key)?.map(Object::DeviceProfile),
        EntityKind::Device => r.device(key)?.map(Object::Device),
        EntityKind::Admin => r.admin(key)?.map(Object::Admin),
    })
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub object: Object,
    pub created: bool,
}

/// Apply a patch in the caller's transaction: the object is locked, read, changed, checked
/// and stored, or nothing happens. `whole`: the caller holds the whole directory
/// (`lock_directory(true)`: an import, a change set), so no object needs a lock of its own;
/// otherwise it holds the directory shared and each object is locked here. Writes no event:
/// an admin edit writes one per edit, an import one per file.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    mode: Mode,
    patch: &Patch<Hashed>,
    whole: bool,
) -> StoreResult<Result<Applied, ProvisionError>> {
    let (kind, name) = (patch.kind(), patch.name().to_string());
    let key = Key::of(&name);
    let lock = !whole;
    if lock {
        // Two admins editing one object on two nodes take turns; so do an edit and a delete.
        tx.lock_object(kind, &key)?;
    }
    let old = current(tx, kind, &key)?;
    match (mode, &old) {
        (Mode::Add, Some(_)) => {
            return Ok(Err(ProvisionError::AlreadyExists(kind.element(), name)));
        }
        (Mode::Update, None) => return Ok(Err(ProvisionError::NotFound(kind.element(), name))),
        _ => {}
    }
    let created = old.is_none();
    let object = match merge(tx, mode, patch, old.clone(), lock)? {
        Ok(object) => object,
        Err(e) => return Ok(Err(e)),
    };
    if let (Object::Admin(new), Some(Object::Admin(was))) = (&object, &old)
        && let Err(e) = keep_an_admin(tx, was, Some(new.role), lock)?
    {
        return Ok(Err(e));
    }
    match &object {
        Object::Application(a) => tx.upsert_app(a)?,
        Object::User(u) => {
            let given = match patch {
                Patch::User(p) => p.pin.as_ref().and_then(|p| p.as_ref()).map(|h| &h.0),
                _ => None,
            };
            let was = match &old {
                Some(Object::User(o)) => o.pin_hash.as_ref(),
                _ => None,
            };
            // Whoever sets a PIN knows the user has it: the lockout ends. A directory file
            // re-imported with the same PIN sets nothing.
            let pin_set = given.is_some() && !(mode == Mode::Upsert && given == was);
            put_user(tx, u, pin_set)?
        }
        Object::DeviceProfile(p) => tx.upsert_profile(p)?,
        Object::Device(d) => tx.upsert_device(d)?,
        Object::Admin(a) => tx.upsert_admin(a)?,
    };
    Ok(Ok(Applied { object, created }))
}

/// Refuse to leave the service without an account that can manage it: `was` is the last
/// admin and would be deleted (`new_role` None) or demoted.
pub(crate) fn keep_an_admin(
    tx: &mut dyn Tx,
    was: &Admin,
    new_role: Option<Role>,
    lock: bool,
) -> StoreResult<Result<(), ProvisionError>> {
    if lock {
        // One at a time may count the admins and act on the count.
        tx.lock_object(EntityKind::Admin, &Key::of(""))?;
    }
    if was.role == Role::Admin
        && new_role != Some(Role::Admin)
        && tx.count_admins(Role::Admin)? <= 1
    {
        return Ok(Err(ProvisionError::InUse(
            "this is the last account with the admin role".into(),
        )));
    }
    Ok(Ok(()))
}

fn invalid(detail: impl Into<String>) -> ProvisionError {
    ProvisionError::Invalid(detail.into())
}

/// `old` (or a new object) with the patch applied, checked.
fn merge(
    tx: &mut dyn Tx,
    mode: Mode,
    patch: &Patch<Hashed>,
    old: Option<Object>,
    lock: bool,
) -> StoreResult<Result<Object, ProvisionError>> {
    fn set<T: Clone>(into: &mut T, given: &Option<T>) {
        if let Some(v) = given {
            *into = v.clone();
        }
    }
    let secret = |h: &Option<Option<Hashed>>| h.as_ref().map(|h| h.as_ref().map(|h| h.0.clone()));
    let object = match (patch, old) {
        (Patch::Application(p), old) => {
            let mut app = match old {
                Some(Object::Application(a)) => a,
                _ => AppUser {
                    id: AppId::default(),
                    certificate_hashes: Vec::new(),
                    proxy: false,
                },
            };
            app.id = p.id.as_str().into();
            let hashes = p
                .certificates
                .as_ref()
                .map(|c| c.iter().map(|h| h.0.clone()).collect());
            set(&mut app.certificate_hashes, &hashes);
            set(&mut app.proxy, &p.proxy);
            if app.certificate_hashes.is_empty()
                || app.certificate_hashes.iter().any(|c| c.is_empty())
            {
                return Ok(Err(invalid("an application needs a certificate")));
            }
            Object::Application(app)
        }
        (Patch::User(p), old) => {
            let mut user = match old {
                Some(Object::User(u)) => u,
                _ => User::default(),
            };
            user.id = p.id.as_str().into();
            set(&mut user.pin_hash, &secret(&p.pin));
            set(&mut user.password_hash, &secret(&p.password));
            set(&mut user.name, &p.name);
            set(&mut user.max_login_minutes, &p.max_login_minutes);
            set(&mut user.extension, &p.extension);
            if let Some(ext) = &user.extension
                && let Err(e) = check_extension(ext)
            {
                return Ok(Err(invalid(format!("extension: {e}"))));
            }
            if let Some(names) = &p.profiles {
                user.profiles = match canonical_profiles(tx, names, lock)? {
                    Ok(names) => names,
                    Err(e) => return Ok(Err(e)),
                };
            }
            Object::User(user)
        }
        (Patch::DeviceProfile(p), old) => {
            let mut profile = match old {
                Some(Object::DeviceProfile(o)) => o,
                _ => DeviceProfile::default(),
            };
            profile.name = p.name.as_str().into();
            set(&mut profile.description, &p.description);
            set(&mut profile.lines, &p.lines);
            Object::DeviceProfile(profile)
        }
        (Patch::Device(p), old) => {
            let mut device = match old {
                Some(Object::Device(d)) => d,
                _ => Device {
                    name: DeviceName::default(),
                    model: None,
                    em_enabled: true,
                    logout_profile: None,
                },
            };
            device.name = p.name.as_str().into();
            set(&mut device.model, &p.model);
            set(&mut device.em_enabled, &p.em_enabled);
            match &p.logout_profile {
                None => {}
                Some(None) => device.logout_profile = None,
                Some(Some(name)) => {
                    device.logout_profile =
                        match canonical_profiles(tx, std::slice::from_ref(name), lock)? {
                            Ok(mut names) => names.pop(),
                            Err(e) => return Ok(Err(e)),
                        };
                }
            }
            Object::Device(device)
        }
        (Patch::Admin(p), old) => {
            let old = match old {
                Some(Object::Admin(a)) => Some(a),
                _ => None,
            };
            let password_hash = match (&p.password, &old) {
                (Some(Hashed(hash)), _) if !hash.is_empty() => hash.clone(),
                (Some(_), Some(_)) => {
                    return Ok(Err(invalid("an admin password cannot be empty")));
                }
                (None, Some(a)) => a.password_hash.clone(),
                (_, None) => return Ok(Err(invalid("password is required"))),
            };
            let role = match (&old, p.role, mode) {
                (_, Some(role), _) => role,
                (Some(a), None, _) => a.role,
                // A directory file's account is an admin unless it says otherwise.
                (None, None, Mode::Upsert) => Role::Admin,
                (None, None, _) => return Ok(Err(invalid("role is required"))),
            };
            Object::Admin(Admin {
                username: p.username.as_str().into(),
                password_hash,
                role,
            })
        }
    };
    Ok(Ok(object))
}

/// A user's profile names as the profiles spell themselves, each once, in the order given.
/// A profile's delete takes the same locks, so none can vanish under this user; taken in key
/// order, so two edits naming the same profiles never wait on each other in a circle.
fn canonical_profiles(
    tx: &mut dyn Tx,
    names: &[String],
    lock: bool,
) -> StoreResult<Result<Vec<ProfileName>, ProvisionError>> {
    if lock {
        let mut keys: Vec<Key> = names.iter().map(|p| Key::of(p)).collect();
        keys.sort();
        keys.dedup();
        for key in &keys {
            tx.lock_object(EntityKind::DeviceProfile, key)?;
        }
    }
    let mut canonical: Vec<ProfileName> = Vec::with_capacity(names.len());
    for name in names {
        let Some(spelled) = tx.profile_name(&Key::of(name))? else {
            return Ok(Err(ProvisionError::UnknownProfile(name.clone())));
        };
        if !canonical.iter().any(|c| c.key() == spelled.key()) {
            canonical.push(spelled);
        }
    }
    Ok(Ok(canonical))
}
