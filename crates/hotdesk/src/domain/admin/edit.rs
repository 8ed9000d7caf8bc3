//! Admin edits of the directory: add, update and delete of applications, users, device
//! profiles, devices and admin accounts, and the reads that go with them.
//!
//! An edit arrives as a neutral field map (`<user><id>jdoe</id><profiles><profile>P</profile>
//! </profiles></user>` becomes `{id: "jdoe", profiles: [P]}`); the HTTP layer only does that
//! translation. Everything else is here: which fields exist, what they may hold, what a delete
//! does to a live login. An edit is prepared once (secrets hashed, off the async workers) and
//! then applied in a transaction, either at once or later as part of a change set, so a
//! change set never holds a plaintext secret.

use std::collections::BTreeMap;

use hotdesk_proto::nbi::{NbiCode, NbiError};
use serde::{Deserialize, Serialize};

use super::AdminService;
use super::config::{Privilege, require};
use crate::domain::clock::Timestamp;
use crate::domain::directory::{check_extension, put_user, storable};
use crate::domain::em::{end_login, expire_due};
use crate::domain::model::*;
use crate::domain::pin::PinKey;
use crate::domain::store::run_read;
use crate::domain::{Reader, StoreResult, Tx, run_tx};

/// One field of an object: a text, or a list (one child element per item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// An object's fields by element name.
pub type Fields = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    Add,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// One requested change. Stored as JSON in a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub op: Op,
    pub kind: EntityKind,
    pub fields: Fields,
}

impl Edit {
    /// The name of the object the edit is about, as given.
    pub fn name(&self) -> &str {
        match self.fields.get(self.kind.key_field()) {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }

    /// `addUser jdoe`: the method and the object, for events and error messages.
    pub fn describe(&self) -> String {
        format!("{}{} {}", self.op.as_str(), self.kind.stem(), self.name())
    }
}

/// An object as the admin API shows it. Secrets are in the values but never rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Application(AppUser),
    User(User),
    DeviceProfile(DeviceProfile),
    Device(Device),
    Admin(Admin),
}

/// What an edit request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    /// Applied: the object as it is now (`None` after a delete).
    Applied(Option<Object>),
    /// Staged in a change set that now holds `edits` edits.
    Staged { change_set: String, edits: u32 },
}

/// The fields each kind takes; the first is its key.
fn known_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Application => &["id", "certificate", "certificates", "proxy"],
        EntityKind::User => &[
            "id",
            "pin",
            "password",
            "name",
            "profiles",
            "maxLoginMinutes",
            "extension",
        ],
        EntityKind::DeviceProfile => &["name", "description", "lines"],
        EntityKind::Device => &["name", "model", "emEnabled"],
        EntityKind::Admin => &["username", "password", "role"],
    }
}

pub(super) fn invalid(detail: impl std::fmt::Display) -> NbiError {
    NbiError::with_detail(NbiCode::InvalidValue, detail)
}

pub(super) fn text<'a>(fields: &'a Fields, name: &str) -> Result<Option<&'a str>, NbiError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Text(t)) => Ok(Some(t.as_str())),
        Some(Value::List(_)) => Err(invalid(format!("{name} takes text, not a list"))),
    }
}

/// A list field; an empty element is the empty list.
pub(super) fn list(fields: &Fields, name: &str) -> Result<Option<Vec<String>>, NbiError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::List(items)) => Ok(Some(items.clone())),
        Some(Value::Text(t)) if t.is_empty() => Ok(Some(Vec::new())),
        Some(Value::Text(_)) => Err(invalid(format!("{name} holds one element per item"))),
    }
}

pub(super) fn flag(fields: &Fields, name: &str) -> Result<Option<bool>, NbiError> {
    text(fields, name)?
        .map(|t| match t {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(invalid(format!("{name} must be true or false"))),
        })
        .transpose()
}

/// Optional text: an empty element clears it.
fn optional_text(fields: &Fields, name: &str, into: &mut Option<String>) -> Result<(), NbiError> {
    if let Some(t) = text(fields, name)? {
        *into = (!t.is_empty()).then(|| t.to_string());
    }
    Ok(())
}

/// Check an edit's shape and hash its secrets: the slow part, done before any transaction.
/// A PIN is hashed under `pin_key` (see `domain::pin`), the other secrets with argon2.
pub fn prepare(mut edit: Edit, pin_key: &PinKey) -> Result<Edit, NbiError> {
    let known = known_fields(edit.kind);
    let key = edit.kind.key_field();
    if let Some(unknown) = edit.fields.keys().find(|f| !known.contains(&f.as_str())) {
        return Err(invalid(format!(
            "{} has no field {unknown}",
            edit.kind.element()
        )));
    }
    match text(&edit.fields, key)? {
        Some(name) if !name.trim().is_empty() && name.trim() == name => {}
        _ => return Err(invalid(format!("{key} is required"))),
    }
    if edit.op == Op::Delete && edit.fields.len() > 1 {
        return Err(invalid(format!("a delete names the object by {key} only")));
    }
    // Every secret is hashed here or refused here: a change set must never hold one in clear.
    let user_key = Key::of(edit.name());
    match edit.fields.get_mut("pin") {
        Some(Value::Text(t)) if !t.is_empty() => {
            *t = pin_key
                .storable(&user_key, t)
                .map_err(|e| invalid(format!("pin: {e}")))?;
        }
        Some(Value::List(_)) => return Err(invalid("pin takes text, not a list")),
        _ => {}
    }
    for secret in ["password", "certificate"] {
        match edit.fields.get_mut(secret) {
            Some(Value::Text(t)) if !t.is_empty() => *t = storable(t),
            Some(Value::List(_)) => {
                return Err(invalid(format!("{secret} takes text, not a list")));
            }
            _ => {}
        }
    }
    match edit.fields.get_mut("certificates") {
        Some(Value::List(items)) => {
            for item in items.iter_mut() {
                if item.is_empty() {
                    return Err(invalid("an empty certificate"));
                }
                *item = storable(item);
            }
        }
        Some(Value::Text(t)) if !t.is_empty() => {
            return Err(invalid(
                "certificates holds one <certificate> element per item",
            ));
        }
        _ => {}
    }
    Ok(edit)
}

/// Apply a prepared edit in the caller's transaction, with its `configChange` event.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    edit: &Edit,
    actor: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<Option<Object>, NbiError>> {
    let name = edit.name().to_string();
    let key = Key::of(&name);
    // Two admins editing one object on two nodes take turns; so do an edit and a delete.
    tx.lock_object(edit.kind, &key)?;
    let existing = current(tx, edit.kind, &key)?;
    let result = match (edit.op, existing) {
        (Op::Add, Some(_)) => Err(NbiError::with_detail(
            NbiCode::AlreadyExists,
            format!("{} {name}", edit.kind.element()),
        )),
        (Op::Update | Op::Delete, None) => Err(NbiError::with_detail(
            NbiCode::NotFound,
            format!("{} {name}", edit.kind.element()),
        )),
        (Op::Delete, Some(old)) => delete(tx, &old, &key, actor, now)?.map(|()| None),
        (op, old) => match merge(tx, edit, old, &name)? {
            Ok(object) => {
                if op == Op::Update
                    && let Object::Admin(a) = &object
                    && let Err(e) = keep_an_admin(tx, &key, Some(a.role))?
                {
                    return Ok(Err(e));
                }
                let pin_set =
                    matches!(edit.fields.get("pin"), Some(Value::Text(t)) if !t.is_empty());
                store(tx, &object, pin_set)?;
                Ok(Some(object))
            }
            Err(e) => Err(e),
        },
    };
    if result.is_ok() {
        let mut event =
            NewEvent::new(now, EventKind::ConfigChange).detail(actor.audit(edit.describe()));
        event.actor = Some(actor.username.clone());
        match edit.kind {
            EntityKind::Device => event.device = Some(name),
            EntityKind::User => event.user = Some(name),
            EntityKind::DeviceProfile => event.profile = Some(name),
            _ => {}
        }
        tx.append_event(&event)?;
    }
    Ok(result)
}

/// One object from a snapshot.
fn read_object(r: &mut dyn Reader, kind: EntityKind, key: &Key) -> StoreResult<Option<Object>> {
    Ok(match kind {
        EntityKind::Application => r.app(key)?.map(Object::Application),
        EntityKind::User => r.user(key)?.map(Object::User),
        EntityKind::DeviceProfile => r.profile(key)?.map(Object::DeviceProfile),
        EntityKind::Device => r.device(key)?.map(Object::Device),
        EntityKind::Admin => r.admin(key)?.map(Object::Admin),
    })
}

/// One object as the transaction sees it.
fn current(tx: &mut dyn Tx, kind: EntityKind, key: &Key) -> StoreResult<Option<Object>> {
    Ok(match kind {
        EntityKind::Application => tx.app(key)?.map(Object::Application),
        EntityKind::User => tx.user(key)?.map(Object::User),
        EntityKind::DeviceProfile => tx.profile(key)?.map(Object::DeviceProfile),
        EntityKind::Device => tx.device(key)?.map(Object::Device),
        EntityKind::Admin => tx.admin(key)?.map(Object::Admin),
    })
}

/// `pin_set`: the edit gave a user a PIN (which ends its lockout).
fn store(tx: &mut dyn Tx, object: &Object, pin_set: bool) -> StoreResult<()> {
    match object {
        Object::Application(a) => tx.upsert_app(a)?,
        Object::User(u) => put_user(tx, u, pin_set)?,
        Object::DeviceProfile(p) => tx.upsert_profile(p)?,
        Object::Device(d) => tx.upsert_device(d)?,
        Object::Admin(a) => tx.upsert_admin(a)?,
    };
    Ok(())
}

/// Refuse to leave the service without an account that can manage it: code 1006 when the
/// account `key` is the last admin and would be deleted (`new_role` None) or demoted.
fn keep_an_admin(
    tx: &mut dyn Tx,
    key: &Key,
    new_role: Option<Role>,
) -> StoreResult<Result<(), NbiError>> {
    // One at a time may count the admins and act on the count.
    tx.lock_object(EntityKind::Admin, &Key::of(""))?;
    let was_admin = tx.admin(key)?.is_some_and(|a| a.role == Role::Admin);
    if was_admin && new_role != Some(Role::Admin) && tx.count_admins(Role::Admin)? <= 1 {
        return Ok(Err(NbiError::with_detail(
            NbiCode::InUse,
            "this is the last account with the admin role",
        )));
    }
    Ok(Ok(()))
}

/// Delete an object. A device or user with a live login is logged out first, each with a
/// `logout` event; a profile still associated with users is code 1006; an admin's sessions
/// end with the account.
fn delete(
    tx: &mut dyn Tx,
    old: &Object,
    key: &Key,
    actor: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<(), NbiError>> {
    let kind = match old {
        Object::Application(_) => EntityKind::Application,
        Object::User(_) => EntityKind::User,
        Object::DeviceProfile(_) => EntityKind::DeviceProfile,
        Object::Device(_) => EntityKind::Device,
        Object::Admin(_) => EntityKind::Admin,
    };
    let why = format!("{} deleted", kind.element());
    match kind {
        EntityKind::Device | EntityKind::User => {
            // The same locks a login takes, so no login can slip in after this delete.
            let logins = if kind == EntityKind::Device {
                let device = tx.lock_device(key)?;
                expire_due(tx, now)?;
                tx.device_login(&device)?.into_iter().collect()
            } else {
                let user = tx.lock_user(key)?;
                expire_due(tx, now)?;
                tx.user_logins(&user)?
            };
            for login in logins {
                if let Some(ended) = tx.remove_login(&Key::of(&login.device))? {
                    end_login(
                        tx,
                        &ended,
                        now,
                        EventKind::Logout,
                        &actor.username,
                        Some(&why),
                    )?;
                }
            }
        }
        EntityKind::DeviceProfile => {
            let users = tx.profile_users(key, 5)?;
            if !users.is_empty() {
                return Ok(Err(NbiError::with_detail(
                    NbiCode::InUse,
                    format!("associated with users {}", users.join(", ")),
                )));
            }
        }
        EntityKind::Admin => {
            if let Err(e) = keep_an_admin(tx, key, None)? {
                return Ok(Err(e));
            }
            tx.remove_sessions_of(key)?;
        }
        EntityKind::Application => {}
    }
    tx.delete(kind, key)?;
    Ok(Ok(()))
}

/// The object an add or update produces: `old` (or a new one) with the given fields applied.
fn merge(
    tx: &mut dyn Tx,
    edit: &Edit,
    old: Option<Object>,
    name: &str,
) -> StoreResult<Result<Object, NbiError>> {
    let f = &edit.fields;
    let adding = old.is_none();
    let required = |field: &str| -> Result<(), NbiError> {
        if adding && !matches!(f.get(field), Some(Value::Text(t)) if !t.is_empty()) {
            return Err(invalid(format!("{field} is required")));
        }
        Ok(())
    };
    let built: Result<Object, NbiError> = (|| match edit.kind {
        EntityKind::Application => {
            let mut app = match old {
                Some(Object::Application(a)) => a,
                _ => AppUser {
                    id: String::new(),
                    certificate_hashes: Vec::new(),
                    proxy: false,
                },
            };
            app.id = name.to_string();
            match (text(f, "certificate")?, list(f, "certificates")?) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give certificate or certificates, not both"));
                }
                (Some(one), None) => app.certificate_hashes = vec![one.to_string()],
                (None, Some(many)) => app.certificate_hashes = many,
                (None, None) => {}
            }
            if app.certificate_hashes.iter().all(|c| c.is_empty()) {
                return Err(invalid("an application needs a certificate"));
            }
            if let Some(p) = flag(f, "proxy")? {
                app.proxy = p;
            }
            Ok(Object::Application(app))
        }
        EntityKind::User => {
            let mut user = match old {
                Some(Object::User(u)) => u,
                _ => User::default(),
            };
            user.id = name.to_string();
            optional_text(f, "pin", &mut user.pin_hash)?;
            optional_text(f, "password", &mut user.password_hash)?;
            optional_text(f, "name", &mut user.name)?;
            optional_text(f, "extension", &mut user.extension)?;
            if let Some(ext) = &user.extension {
                check_extension(ext).map_err(|e| invalid(format!("extension: {e}")))?;
            }
            if let Some(profiles) = list(f, "profiles")? {
                user.profiles = profiles;
            }
            if let Some(t) = text(f, "maxLoginMinutes")? {
                user.max_login_minutes = if t.is_empty() {
                    None
                } else {
                    Some(t.parse().map_err(|_| {
                        invalid("maxLoginMinutes must be a whole number of minutes")
                    })?)
                };
            }
            Ok(Object::User(user))
        }
        EntityKind::DeviceProfile => {
            let mut profile = match old {
                Some(Object::DeviceProfile(p)) => p,
                _ => DeviceProfile::default(),
            };
            profile.name = name.to_string();
            optional_text(f, "description", &mut profile.description)?;
            if let Some(lines) = list(f, "lines")? {
                profile.lines = lines;
            }
            Ok(Object::DeviceProfile(profile))
        }
        EntityKind::Device => {
            let mut device = match old {
                Some(Object::Device(d)) => d,
                _ => Device {
                    name: String::new(),
                    model: None,
                    em_enabled: true,
                },
            };
            device.name = name.to_string();
            optional_text(f, "model", &mut device.model)?;
            if let Some(e) = flag(f, "emEnabled")? {
                device.em_enabled = e;
            }
            Ok(Object::Device(device))
        }
        EntityKind::Admin => {
            required("password")?;
            required("role")?;
            let mut admin = match old {
                Some(Object::Admin(a)) => a,
                _ => Admin {
                    username: String::new(),
                    password_hash: String::new(),
                    role: Role::Auditor,
                },
            };
            admin.username = name.to_string();
            match text(f, "password")? {
                Some("") => return Err(invalid("an admin password cannot be empty")),
                Some(hash) => admin.password_hash = hash.to_string(),
                None => {}
            }
            if let Some(r) = text(f, "role")? {
                admin.role = Role::parse(r)
                    .ok_or_else(|| invalid("role must be admin, operator or auditor"))?;
            }
            Ok(Object::Admin(admin))
        }
    })();
    let object = match built {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    if let Object::User(user) = &object {
        // A profile's delete takes these locks, so none can vanish under this user; in key
        // order, so two edits naming the same profiles never wait on each other in a circle.
        let mut keys: Vec<Key> = user.profiles.iter().map(|p| Key::of(p)).collect();
        keys.sort();
        keys.dedup();
        for key in &keys {
            tx.lock_object(EntityKind::DeviceProfile, key)?;
        }
        for profile in &user.profiles {
            if !tx.exists(EntityKind::DeviceProfile, &Key::of(profile))? {
                return Ok(Err(invalid(format!("no device profile {profile}"))));
            }
        }
    }
    Ok(Ok(object))
}

impl AdminService {
    /// One object by its key. Code 1001 if there is none.
    pub async fn get_object(
        &self,
        session: &AdminSession,
        kind: EntityKind,
        name: &str,
    ) -> Result<Object, NbiError> {
        require(session, Privilege::Read)?;
        let key = Key::of(name);
        let found = run_read(self.store.as_ref(), move |r| read_object(r, kind, &key)).await?;
        found.ok_or_else(|| {
            NbiError::with_detail(NbiCode::NotFound, format!("{} {name}", kind.element()))
        })
    }

    /// A page of objects ordered by key whose key contains `filter` (any case), with the count
    /// of all that match: one snapshot, so the page and the count agree.
    pub async fn list_objects(
        &self,
        session: &AdminSession,
        kind: EntityKind,
        filter: Option<&str>,
        start: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Object>), NbiError> {
        require(session, Privilege::Read)?;
        let contains = filter.map(|f| Key::of(f).as_str().to_string());
        let page = run_read(self.store.as_ref(), move |r| {
            let (total, keys) = r.names(kind, contains.as_deref(), start, limit)?;
            let mut objects = Vec::with_capacity(keys.len());
            for key in keys {
                objects.extend(read_object(r, kind, &key)?);
            }
            Ok((total, objects))
        })
        .await?;
        Ok(page)
    }

    /// Apply an edit now, or stage it in the change set `change_set`.
    pub async fn edit(
        &self,
        session: &AdminSession,
        edit: Edit,
        change_set: Option<String>,
    ) -> Result<Edited, NbiError> {
        require(session, Privilege::Administer)?;
        let pin_key = self.pin_key.clone();
        let edit = tokio::task::spawn_blocking(move || prepare(edit, &pin_key))
            .await
            .map_err(|_| NbiError::new(NbiCode::GeneralFailure))??;
        let actor = session.clone();
        let now = self.clock.now();
        let described = edit.describe();
        let result = match change_set {
            Some(id) => {
                let json = serde_json::to_string(&edit)
                    .map_err(|_| NbiError::new(NbiCode::GeneralFailure))?;
                run_tx(self.store.as_ref(), move |tx| {
                    let Some(set) = tx.change_set(&id)? else {
                        return Ok(Err(super::changeset::not_found(&id)));
                    };
                    if Key::of(&set.owner) != Key::of(&actor.username) {
                        return Ok(Err(super::changeset::not_found(&id)));
                    }
                    let edits = tx.stage_edit(&id, &json)?;
                    if edits > super::changeset::MAX_EDITS {
                        return Ok(Err(NbiError::with_detail(
                            NbiCode::InvalidValue,
                            format!(
                                "a change set holds at most {} edits",
                                super::changeset::MAX_EDITS
                            ),
                        )));
                    }
                    Ok(Ok(Edited::Staged {
                        change_set: id.clone(),
                        edits,
                    }))
                })
                .await??
            }
            None => {
                let applied =
                    run_tx(self.store.as_ref(), move |tx| apply(tx, &edit, &actor, now)).await??;
                Edited::Applied(applied)
            }
        };
        tracing::info!(admin = %session.username, edit = %described, "admin edit");
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(op: Op, kind: EntityKind, fields: &[(&str, Value)]) -> Edit {
        Edit {
            op,
            kind,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn text(t: &str) -> Value {
        Value::Text(t.to_string())
    }

    #[test]
    fn prepare_hashes_every_secret_and_nothing_else() {
        let user = edit(
            Op::Add,
            EntityKind::User,
            &[
                ("id", text("anna")),
                ("pin", text("4321")),
                ("name", text("Anna")),
            ],
        );
        let key = PinKey::default();
        let prepared = prepare(user, &key).unwrap();
        let Some(Value::Text(pin)) = prepared.fields.get("pin") else {
            panic!("no pin")
        };
        assert_eq!(
            key.check(&Key::of("anna"), "4321", pin),
            crate::domain::pin::PinCheck::Right
        );
        assert_eq!(prepared.fields.get("name"), Some(&text("Anna")));

        let app = edit(
            Op::Update,
            EntityKind::Application,
            &[
                ("id", text("kiosk")),
                (
                    "certificates",
                    Value::List(vec!["new".into(), "old".into()]),
                ),
            ],
        );
        let Some(Value::List(certs)) = prepare(app, &key)
            .unwrap()
            .fields
            .get("certificates")
            .cloned()
        else {
            panic!("no certificates")
        };
        assert!(crate::domain::secrets::verify("old", &certs[1]));
        // The JSON a change set stores carries no plaintext.
        let json = serde_json::to_string(
            &prepare(
                edit(
                    Op::Add,
                    EntityKind::Admin,
                    &[("username", text("eve")), ("password", text("hunter2"))],
                ),
                &key,
            )
            .unwrap(),
        )
        .unwrap();
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[test]
    fn prepare_refuses_what_cannot_be_an_edit() {
        let code = |e: Edit| prepare(e, &PinKey::default()).unwrap_err().code;
        assert_eq!(
            code(edit(Op::Add, EntityKind::Device, &[("model", text("x"))])),
            NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Device,
                &[("name", text("SEP1")), ("pin", text("1"))]
            )),
            NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Delete,
                EntityKind::Device,
                &[("name", text("SEP1")), ("model", text("x"))]
            )),
            NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Device,
                &[("name", Value::List(vec!["a".into()]))]
            )),
            NbiCode::InvalidValue
        );
        // A secret in the wrong shape is refused before it could be staged in clear.
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::User,
                &[("id", text("u")), ("pin", Value::List(vec!["1234".into()]))]
            )),
            NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Application,
                &[("id", text("a")), ("certificates", text("plain"))]
            )),
            NbiCode::InvalidValue
        );
        assert_eq!(
            edit(
                Op::Delete,
                EntityKind::DeviceProfile,
                &[("name", text("P"))]
            )
            .describe(),
            "deleteDeviceProfile P"
        );
    }
}
