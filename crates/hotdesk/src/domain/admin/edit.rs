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

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::clock::Timestamp;
use crate::domain::directory::storable;
use crate::domain::em::{end_login, expire_due};
use crate::domain::model::*;
use crate::domain::pin::PinKey;
pub use crate::domain::provision::Object;
use crate::domain::provision::{
    self, AdminPatch, AppPatch, DevicePatch, Mode, Patch, ProfilePatch, ProvisionError, UserPatch,
};
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

    /// The admin API method that asks for this edit.
    pub fn method(&self) -> Method {
        match self.op {
            Op::Add => Method::Add(self.kind),
            Op::Update => Method::Update(self.kind),
            Op::Delete => Method::Delete(self.kind),
        }
    }

    /// `addUser jdoe`: the method and the object, for events and error messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method().name(), self.name())
    }
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

pub(super) fn text<'a>(fields: &'a Fields, name: &str) -> Result<Option<&'a str>, AdminError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Text(t)) => Ok(Some(t.as_str())),
        Some(Value::List(_)) => Err(invalid(format!("{name} takes text, not a list"))),
    }
}

/// A list field; an empty element is the empty list.
pub(super) fn list(fields: &Fields, name: &str) -> Result<Option<Vec<String>>, AdminError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::List(items)) => Ok(Some(items.clone())),
        Some(Value::Text(t)) if t.is_empty() => Ok(Some(Vec::new())),
        Some(Value::Text(_)) => Err(invalid(format!("{name} holds one element per item"))),
    }
}

pub(super) fn flag(fields: &Fields, name: &str) -> Result<Option<bool>, AdminError> {
    text(fields, name)?
        .map(|t| match t {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(invalid(format!("{name} must be true or false"))),
        })
        .transpose()
}

/// Check an edit's shape and hash its secrets: the slow part, done before any transaction.
/// A PIN is hashed under `pin_key` (see `domain::pin`), the other secrets with argon2.
pub fn prepare(mut edit: Edit, pin_key: &PinKey) -> Result<Edit, AdminError> {
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

/// The typed change a prepared add or update asks for.
fn patch_of(edit: &Edit) -> Result<Patch, AdminError> {
    let f = &edit.fields;
    let name = edit.name().to_string();
    // Optional text: an empty element clears it.
    let clearable = |field: &str| -> Result<Option<Option<String>>, AdminError> {
        Ok(text(f, field)?.map(|t| (!t.is_empty()).then(|| t.to_string())))
    };
    Ok(match edit.kind {
        EntityKind::Application => Patch::Application(AppPatch {
            id: name,
            certificates: match (text(f, "certificate")?, list(f, "certificates")?) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give certificate or certificates, not both"));
                }
                (Some(one), None) => Some(vec![one.to_string()]),
                (None, many) => many,
            },
            proxy: flag(f, "proxy")?,
        }),
        EntityKind::User => Patch::User(UserPatch {
            id: name,
            pin: clearable("pin")?,
            password: clearable("password")?,
            name: clearable("name")?,
            profiles: list(f, "profiles")?,
            max_login_minutes: match text(f, "maxLoginMinutes")? {
                None => None,
                Some("") => Some(None),
                Some(t) => Some(Some(t.parse().map_err(|_| {
                    invalid("maxLoginMinutes must be a whole number of minutes")
                })?)),
            },
            extension: clearable("extension")?,
        }),
        EntityKind::DeviceProfile => Patch::DeviceProfile(ProfilePatch {
            name,
            description: clearable("description")?,
            lines: list(f, "lines")?,
        }),
        EntityKind::Device => Patch::Device(DevicePatch {
            name,
            model: clearable("model")?,
            em_enabled: flag(f, "emEnabled")?,
        }),
        EntityKind::Admin => Patch::Admin(AdminPatch {
            username: name,
            password: text(f, "password")?.map(str::to_string),
            role: text(f, "role")?
                .map(|r| {
                    Role::parse(r).ok_or_else(|| invalid("role must be admin, operator or auditor"))
                })
                .transpose()?,
        }),
    })
}

/// Apply a prepared edit in the caller's transaction, with its `configChange` event.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    edit: &Edit,
    actor: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<Option<Object>, AdminError>> {
    let name = edit.name().to_string();
    let result = match edit.op {
        Op::Delete => delete(tx, edit.kind, &name, actor, now)?.map(|()| None),
        op => match patch_of(edit) {
            Err(e) => Err(e),
            Ok(patch) => {
                let mode = if op == Op::Add {
                    Mode::Add
                } else {
                    Mode::Update
                };
                provision::apply(tx, mode, &patch)?
                    .map(|applied| Some(applied.object))
                    .map_err(AdminError::from)
            }
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

/// Delete an object. A device or user with a live login is logged out first, each with a
/// `logout` event; a profile still associated with users is code 1006; an admin's sessions
/// end with the account.
fn delete(
    tx: &mut dyn Tx,
    kind: EntityKind,
    name: &str,
    actor: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<(), AdminError>> {
    let key = &Key::of(name);
    // Two admins editing one object on two nodes take turns; so do an edit and a delete.
    tx.lock_object(kind, key)?;
    let Some(old) = provision::current(tx, kind, key)? else {
        return Ok(Err(ProvisionError::NotFound(
            kind.element(),
            name.to_string(),
        )
        .into()));
    };
    let why = format!("{} deleted", kind.element());
    match old {
        Object::Device(_) | Object::User(_) => {
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
        Object::DeviceProfile(_) => {
            let users = tx.profile_users(key, 5)?;
            if !users.is_empty() {
                return Ok(Err(AdminError::InUse(format!(
                    "associated with users {}",
                    users.join(", ")
                ))));
            }
        }
        Object::Admin(admin) => {
            if let Err(e) = provision::keep_an_admin(tx, &admin, None)? {
                return Ok(Err(e.into()));
            }
            tx.remove_sessions_of(key)?;
        }
        Object::Application(_) => {}
    }
    tx.delete(kind, key)?;
    Ok(Ok(()))
}

impl AdminService {
    /// One object by its key. Code 1001 if there is none.
    pub async fn get_object(
        &self,
        session: &AdminSession,
        kind: EntityKind,
        name: &str,
    ) -> Result<Object, AdminError> {
        require(session, Method::Get(kind))?;
        let key = Key::of(name);
        let found = run_read(self.store.as_ref(), move |r| read_object(r, kind, &key)).await?;
        found.ok_or_else(|| AdminError::NotFound(format!("{} {name}", kind.element())))
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
    ) -> Result<(u64, Vec<Object>), AdminError> {
        require(session, Method::List(kind))?;
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
    ) -> Result<Edited, AdminError> {
        require(session, edit.method())?;
        let pin_key = self.pin_key.clone();
        let edit = tokio::task::spawn_blocking(move || prepare(edit, &pin_key))
            .await
            .map_err(|_| AdminError::Interrupted)??;
        let actor = session.clone();
        let now = self.clock.now();
        let described = edit.describe();
        let result = match change_set {
            Some(id) => {
                let json = serde_json::to_string(&edit).map_err(|_| AdminError::Interrupted)?;
                run_tx(self.store.as_ref(), move |tx| {
                    let Some(set) = tx.change_set(&id)? else {
                        return Ok(Err(super::changeset::not_found(&id)));
                    };
                    if Key::of(&set.owner) != Key::of(&actor.username) {
                        return Ok(Err(super::changeset::not_found(&id)));
                    }
                    let edits = tx.stage_edit(&id, &json)?;
                    if edits > super::changeset::MAX_EDITS {
                        return Ok(Err(invalid(format!(
                            "a change set holds at most {} edits",
                            super::changeset::MAX_EDITS
                        ))));
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
        let code = |e: Edit| prepare(e, &PinKey::default()).unwrap_err().code();
        assert_eq!(
            code(edit(Op::Add, EntityKind::Device, &[("model", text("x"))])),
            hotdesk_proto::nbi::NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Device,
                &[("name", text("SEP1")), ("pin", text("1"))]
            )),
            hotdesk_proto::nbi::NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Delete,
                EntityKind::Device,
                &[("name", text("SEP1")), ("model", text("x"))]
            )),
            hotdesk_proto::nbi::NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Device,
                &[("name", Value::List(vec!["a".into()]))]
            )),
            hotdesk_proto::nbi::NbiCode::InvalidValue
        );
        // A secret in the wrong shape is refused before it could be staged in clear.
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::User,
                &[("id", text("u")), ("pin", Value::List(vec!["1234".into()]))]
            )),
            hotdesk_proto::nbi::NbiCode::InvalidValue
        );
        assert_eq!(
            code(edit(
                Op::Add,
                EntityKind::Application,
                &[("id", text("a")), ("certificates", text("plain"))]
            )),
            hotdesk_proto::nbi::NbiCode::InvalidValue
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
