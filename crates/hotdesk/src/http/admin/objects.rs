//! `get<Kind>`, `list<Kind>s`, `add<Kind>`, `update<Kind>`, `delete<Kind>` for applications,
//! users, device profiles, devices and admin accounts (the names are in
//! `domain::admin::method`).

use hotdesk_proto::nbi::{self, Element, NbiCode, NbiError, Paging};

use super::{
    Call, Fields, PAGE, Reply, Value, change_sets, count, fields_of, flag, invalid, only, required,
    text,
};
use crate::domain::admin::edit::{Edit, Edited, Object};
use crate::domain::admin::method::Method;
use crate::domain::provision::{
    AdminPatch, AppPatch, DevicePatch, Patch, Plain, ProfilePatch, UserPatch,
};
use crate::domain::{EntityKind, Role};

/// The element that names the object: `<id>jdoe</id>`.
fn named(root: &Element, kind: EntityKind) -> Result<&str, NbiError> {
    let key = kind.key_field();
    root.text_of(key)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| NbiError::with_detail(NbiCode::InvalidXml, format!("missing element {key}")))
}

pub(super) async fn get(c: &Call<'_>, kind: EntityKind) -> Result<Reply, NbiError> {
    let object = c
        .state
        .admin
        .get_object(c.session, kind, named(c.root, kind)?)
        .await?;
    Ok(Reply::of(vec![object_element(&object)]))
}

pub(super) async fn list(c: &Call<'_>, kind: EntityKind) -> Result<Reply, NbiError> {
    let start = nbi::base(c.root)?.start_index.unwrap_or(0);
    let filter = c.root.text_of("nameFilter").filter(|f| !f.is_empty());
    let (total, objects) = c
        .state
        .admin
        .list_objects(c.session, kind, filter, start, PAGE as u32)
        .await?;
    let start = start.min(total);
    let next = start + objects.len() as u64;
    Ok(Reply {
        body: objects.iter().map(object_element).collect(),
        paging: Some(Paging {
            start_index: start,
            end_index: (next < total).then_some(next),
            total_count: total,
        }),
    })
}

/// An add, update or delete: applied at once, or staged in the change set the request names.
pub(super) async fn edit(c: &Call<'_>, method: Method) -> Result<Reply, NbiError> {
    let edit = edit_of(method, c.root)?;
    match c
        .state
        .admin
        .edit(c.session, edit, change_sets::id(c.root)?)
        .await?
    {
        Edited::Applied(object) => Ok(Reply::of(object.iter().map(object_element).collect())),
        Edited::Staged { change_set, edits } => Ok(change_sets::reply(change_set, Some(edits))),
    }
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
        EntityKind::Device => &["name", "model", "emEnabled", "logoutProfile"],
        EntityKind::Admin => &["username", "password", "role"],
    }
}

/// The request as a typed edit, its secrets as given: `<deleteUserRequest><id>` names the
/// object, `<addUserRequest><user>...</user>` carries it.
fn edit_of(method: Method, root: &Element) -> Result<Edit<Plain>, NbiError> {
    let kind = match method {
        Method::Add(kind) | Method::Update(kind) | Method::Delete(kind) => kind,
        _ => return Err(NbiError::with_detail(NbiCode::UnknownMethod, method.name())),
    };
    let key = kind.key_field();
    let checked = |name: &str| -> Result<String, NbiError> {
        match name {
            n if !n.trim().is_empty() && n.trim() == n => Ok(n.to_string()),
            _ => Err(invalid(format!("{key} is required"))),
        }
    };
    if let Method::Delete(_) = method {
        let name = checked(named(root, kind)?)?;
        return Ok(Edit::Delete { kind, name });
    }
    let fields = fields_of(required(root, kind.element())?)?;
    only(&fields, kind.element(), known_fields(kind))?;
    let name = checked(text(&fields, key)?.unwrap_or(""))?;
    let patch = patch_of(kind, name, &fields, matches!(method, Method::Add(_)))?;
    Ok(match method {
        Method::Add(_) => Edit::Add(patch),
        _ => Edit::Update(patch),
    })
}

/// An object's fields as a typed patch. An empty element clears an optional field.
fn patch_of(
    kind: EntityKind,
    name: String,
    f: &Fields,
    adding: bool,
) -> Result<Patch<Plain>, NbiError> {
    let clearable = |field: &str| -> Result<Option<Option<String>>, NbiError> {
        Ok(text(f, field)?.map(|t| (!t.is_empty()).then(|| t.to_string())))
    };
    let secret = |field: &str| -> Result<Option<Option<Plain>>, NbiError> {
        Ok(clearable(field)?.map(|s| s.map(Plain)))
    };
    Ok(match kind {
        EntityKind::Application => {
            let many = match f.get("certificates") {
                Some(Value::Text(t)) if !t.is_empty() => {
                    return Err(invalid(
                        "certificates holds one <certificate> element per item",
                    ));
                }
                _ => super::list(f, "certificates")?,
            };
            if many
                .as_ref()
                .is_some_and(|m| m.iter().any(String::is_empty))
            {
                return Err(invalid("an empty certificate"));
            }
            let certificates = match (text(f, "certificate")?, many) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give certificate or certificates, not both"));
                }
                (Some(one), None) => Some(vec![one.to_string()]),
                (None, many) => many,
            };
            Patch::Application(AppPatch {
                id: name,
                certificates: certificates.map(|c| c.into_iter().map(Plain).collect()),
                proxy: flag(f, "proxy")?,
            })
        }
        EntityKind::User => Patch::User(UserPatch {
            id: name,
            pin: secret("pin")?,
            password: secret("password")?,
            name: clearable("name")?,
            profiles: super::list(f, "profiles")?,
            max_login_minutes: match text(f, "maxLoginMinutes")? {
                Some("") => Some(None),
                _ => count(f, "maxLoginMinutes", "a whole number of minutes")?.map(Some),
            },
            extension: clearable("extension")?,
        }),
        EntityKind::DeviceProfile => Patch::DeviceProfile(ProfilePatch {
            name,
            description: clearable("description")?,
            lines: super::list(f, "lines")?,
        }),
        EntityKind::Device => Patch::Device(DevicePatch {
            name,
            model: clearable("model")?,
            em_enabled: flag(f, "emEnabled")?,
            logout_profile: clearable("logoutProfile")?,
        }),
        EntityKind::Admin => Patch::Admin(AdminPatch {
            username: name,
            password: text(f, "password")?.map(|p| Plain(p.to_string())),
            role: match text(f, "role")? {
                // A new account's empty role is a missing one ("role is required").
                Some("") if adding => None,
                Some(r) => Some(
                    Role::parse(r)
                        .ok_or_else(|| invalid("role must be admin, operator or auditor"))?,
                ),
                None => None,
            },
        }),
    })
}

/// An object as the API shows it: every field but the secrets.
fn object_element(object: &Object) -> Element {
    fn list<T: AsRef<str>>(name: &str, item: &str, items: &[T]) -> Element {
        let mut e = Element::new(name);
        for i in items {
            e.push(Element::with_text(item, i.as_ref()));
        }
        e
    }
    match object {
        Object::Application(a) => Element::new("application")
            .field("id", a.id.as_str())
            .field("proxy", a.proxy.to_string()),
        Object::User(u) => {
            let mut e = Element::new("user").field("id", u.id.as_str());
            if let Some(n) = &u.name {
                e = e.field("name", n.as_str());
            }
            e = e.child(list("profiles", "profile", &u.profiles));
            if let Some(m) = u.max_login_minutes {
                e = e.field("maxLoginMinutes", m.to_string());
            }
            if let Some(x) = &u.extension {
                e = e.field("extension", x.as_str());
            }
            e
        }
        Object::DeviceProfile(p) => {
            let mut e = Element::new("deviceProfile").field("name", p.name.as_str());
            if let Some(d) = &p.description {
                e = e.field("description", d.as_str());
            }
            e.child(list("lines", "line", &p.lines))
        }
        Object::Device(d) => {
            let mut e = Element::new("device").field("name", d.name.as_str());
            if let Some(m) = &d.model {
                e = e.field("model", m.as_str());
            }
            e = e.field("emEnabled", d.em_enabled.to_string());
            if let Some(p) = &d.logout_profile {
                e = e.field("logoutProfile", p.as_str());
            }
            e
        }
        Object::Admin(a) => Element::new("admin")
            .field("username", a.username.as_str())
            .field("role", a.role.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, body: &str) -> Result<Edit<Plain>, NbiError> {
        let name = method.name();
        let xml = format!("<{name}Request>{body}</{name}Request>");
        edit_of(method, &hotdesk_proto::nbi::parse_request(&xml).unwrap())
    }

    #[test]
    fn what_cannot_be_an_edit_is_refused_before_it_reaches_the_rules() {
        use EntityKind::*;
        let code = |m, body: &str| request(m, body).unwrap_err().code;
        let refused = [
            (Method::Add(Device), "<device><model>x</model></device>"),
            (
                Method::Add(Device),
                "<device><name>SEP1</name><pin>1</pin></device>",
            ),
            (
                Method::Add(Device),
                "<device><name><n>a</n></name></device>",
            ),
            // A secret in the wrong shape is refused before it could be staged.
            (
                Method::Add(User),
                "<user><id>u</id><pin><p>1234</p></pin></user>",
            ),
            (
                Method::Add(Application),
                "<application><id>a</id><certificates>plain</certificates></application>",
            ),
            (
                Method::Add(Application),
                "<application><id>a</id><certificates><certificate/></certificates></application>",
            ),
            (
                Method::Add(User),
                "<user><id>u</id><maxLoginMinutes>soon</maxLoginMinutes></user>",
            ),
            (
                Method::Add(Admin),
                "<admin><username>a</username><role>root</role></admin>",
            ),
        ];
        for (method, body) in refused {
            assert_eq!(code(method, body), NbiCode::InvalidValue, "{body}");
        }
        assert_eq!(code(Method::Add(User), "<id>u</id>"), NbiCode::InvalidXml);
    }

    #[test]
    fn an_edit_carries_what_was_given_and_clears_what_was_emptied() {
        let edit = request(
            Method::Update(EntityKind::User),
            "<user><id>anna</id><pin>4321</pin><name/><profiles><profile>P</profile></profiles></user>",
        )
        .unwrap();
        let Edit::Update(Patch::User(user)) = edit else {
            panic!("not a user update")
        };
        assert_eq!(user.pin, Some(Some(Plain("4321".into()))));
        assert_eq!(user.name, Some(None));
        assert_eq!(user.profiles, Some(vec!["P".to_string()]));
        assert_eq!(
            (user.password, user.extension, user.max_login_minutes),
            (None, None, None)
        );
    }
}
