//! Admin edits of the directory: add, update and delete of applications, users, device
//! profiles, devices and admin accounts, and the reads that go with them.
//!
//! An edit arrives typed ([`Edit`] of a [`Patch`], parsed from the request by the HTTP layer)
//! with its secrets as given. [`prepare`] hashes them, off the async workers, and only then is
//! the edit applied ([`provision::apply`], the path an import takes too) or staged in a change
//! set: an `Edit<Plain>` cannot be serialized, so a change set never holds a plaintext secret.

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::clock::Timestamp;
use crate::domain::em::{end_login, expire_due};
use crate::domain::model::*;
use crate::domain::pin::PinKey;
pub use crate::domain::provision::Object;
use crate::domain::provision::{self, Hashed, Mode, Patch, Plain, ProvisionError};
use crate::domain::store::run_read;
use crate::domain::{StoreResult, Tx, run_tx};

/// One requested change. `S` is how its secrets are held: [`Plain`] as they arrive,
/// [`Hashed`] once prepared. Stored as JSON in a change set (as `Edit<Hashed>` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Edit<S = Hashed> {
    Add(Patch<S>),
    Update(Patch<S>),
    Delete { kind: EntityKind, name: String },
}

impl<S> Edit<S> {
    pub fn kind(&self) -> EntityKind {
        match self {
            Edit::Add(p) | Edit::Update(p) => p.kind(),
            Edit::Delete { kind, .. } => *kind,
        }
    }

    /// The name of the object the edit is about, as given.
    pub fn name(&self) -> &str {
        match self {
            Edit::Add(p) | Edit::Update(p) => p.name(),
            Edit::Delete { name, .. } => name,
        }
    }

    /// The admin API method that asks for this edit.
    pub fn method(&self) -> Method {
        match self {
            Edit::Add(p) => Method::Add(p.kind()),
            Edit::Update(p) => Method::Update(p.kind()),
            Edit::Delete { kind, .. } => Method::Delete(*kind),
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

/// Hash an edit's secrets: the slow part, done before any transaction. A PIN is hashed under
/// `pin_key` (see `domain::pin`), the other secrets with argon2.
pub fn prepare(edit: Edit<Plain>, pin_key: &PinKey) -> Result<Edit<Hashed>, AdminError> {
    Ok(match edit {
        Edit::Add(p) => Edit::Add(p.hashed(pin_key)?),
        Edit::Update(p) => Edit::Update(p.hashed(pin_key)?),
        Edit::Delete { kind, name } => Edit::Delete { kind, name },
    })
}

/// Apply a prepared edit in the caller's transaction, with its `configChange` event. `whole`:
/// the caller holds the whole directory (a change set); else edits go on side by side, each
/// under its object's lock, but never beside an import or a change set.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    edit: &Edit,
    actor: &AdminSession,
    now: Timestamp,
    whole: bool,
) -> StoreResult<Result<Option<Object>, AdminError>> {
    let name = edit.name().to_string();
    if !whole {
        tx.lock_directory(false)?;
    }
    let result = match edit {
        Edit::Delete { kind, name } => delete(tx, *kind, name, actor, now, whole)?.map(|()| None),
        Edit::Add(patch) | Edit::Update(patch) => {
            let mode = match edit {
                Edit::Add(_) => Mode::Add,
                _ => Mode::Update,
            };
            provision::apply(tx, mode, patch, whole)?
                .map(|applied| Some(applied.object))
                .map_err(AdminError::from)
        }
    };
    if result.is_ok() {
        let mut event =
            NewEvent::new(now, EventKind::ConfigChange).detail(actor.audit(edit.describe()));
        event.actor = Some(actor.username.to_string());
        match edit.kind() {
            EntityKind::Device => event.device = Some(name),
            EntityKind::User => event.user = Some(name),
            EntityKind::DeviceProfile => event.profile = Some(name),
            _ => {}
        }
        tx.append_event(&event)?;
    }
    Ok(result)
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
    whole: bool,
) -> StoreResult<Result<(), AdminError>> {
    let key = &Key::of(name);
    if !whole {
        // Two admins editing one object on two nodes take turns; so do an edit and a delete.
        tx.lock_object(kind, key)?;
    }
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
                if let Some(ended) = tx.remove_login(&login.device.key())? {
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
            let devices = tx.profile_devices(key, 5)?;
            if !devices.is_empty() {
                return Ok(Err(AdminError::InUse(format!(
                    "the logout profile of devices {}",
                    devices.join(", ")
                ))));
            }
        }
        Object::Admin(admin) => {
            if let Err(e) = provision::keep_an_admin(tx, &admin, None, !whole)? {
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
        let found = run_read(self.store.as_ref(), move |r| {
            provision::current(r, kind, &key)
        })
        .await?;
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
                objects.extend(provision::current(r, kind, &key)?);
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
        edit: Edit<Plain>,
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
                    tx.lock_change_set(&id)?;
                    let Some(set) = tx.change_set(&id)? else {
                        return Ok(Err(super::changeset::not_found(&id)));
                    };
                    if set.owner.key() != actor.username.key() {
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
                let applied = run_tx(self.store.as_ref(), move |tx| {
                    apply(tx, &edit, &actor, now, false)
                })
                .await??;
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
    use crate::domain::provision::{AdminPatch, AppPatch, UserPatch};

    fn plain(s: &str) -> Plain {
        Plain(s.to_string())
    }

    #[test]
    fn prepare_hashes_every_secret_and_nothing_else() {
        let user = Edit::Add(Patch::User(UserPatch {
            id: "anna".into(),
            pin: Some(Some(plain("4321"))),
            name: Some(Some("Anna".into())),
            ..UserPatch::default()
        }));
        let key = PinKey::default();
        let Edit::Add(Patch::User(prepared)) = prepare(user, &key).unwrap() else {
            panic!("not a user")
        };
        let Some(Some(Hashed(pin))) = &prepared.pin else {
            panic!("no pin")
        };
        assert_eq!(
            key.check(&Key::of("anna"), "4321", pin),
            crate::domain::pin::PinCheck::Right
        );
        assert_eq!(prepared.name, Some(Some("Anna".into())));

        let app = Edit::Update(Patch::Application(AppPatch {
            id: "kiosk".into(),
            certificates: Some(vec![plain("new"), plain("old")]),
            proxy: None,
        }));
        let Edit::Update(Patch::Application(app)) = prepare(app, &key).unwrap() else {
            panic!("not an application")
        };
        let certs = app.certificates.unwrap();
        assert!(crate::domain::secrets::verify("old", &certs[1].0));
        // The JSON a change set stores carries no plaintext.
        let admin = Edit::Add(Patch::Admin(AdminPatch {
            username: "eve".into(),
            password: Some(plain("hunter2")),
            role: None,
        }));
        let json = serde_json::to_string(&prepare(admin, &key).unwrap()).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[test]
    fn a_pin_no_phone_can_type_is_refused_before_anything_is_staged() {
        let user = Edit::Update(Patch::User(UserPatch {
            id: "u".into(),
            pin: Some(Some(plain("12ab"))),
            ..UserPatch::default()
        }));
        let e = prepare(user, &PinKey::default()).unwrap_err();
        assert_eq!(e.code(), hotdesk_proto::nbi::NbiCode::InvalidValue);
        assert_eq!(
            Edit::<Hashed>::Delete {
                kind: EntityKind::DeviceProfile,
                name: "P".into()
            }
            .describe(),
            "deleteDeviceProfile P"
        );
    }
}
