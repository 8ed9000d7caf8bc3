//! `get<Kind>`, `list<Kind>s`, `add<Kind>`, `update<Kind>`, `delete<Kind>` for applications,
//! users, device profiles, devices and admin accounts (the names are in
//! `domain::admin::method`).

use hotdesk_proto::nbi::{self, Element, NbiCode, NbiError, Paging};

use super::{Call, PAGE, Reply, change_sets, fields_of, required};
use crate::domain::EntityKind;
use crate::domain::admin::edit::{Edit, Edited, Fields, Object, Op, Value};
use crate::domain::admin::method::Method;

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
    let (op, kind) = match method {
        Method::Add(kind) => (Op::Add, kind),
        Method::Update(kind) => (Op::Update, kind),
        Method::Delete(kind) => (Op::Delete, kind),
        _ => return Err(NbiError::with_detail(NbiCode::UnknownMethod, method.name())),
    };
    let fields = if op == Op::Delete {
        let name = named(c.root, kind)?.to_string();
        Fields::from([(kind.key_field().to_string(), Value::Text(name))])
    } else {
        fields_of(required(c.root, kind.element())?)?
    };
    let edit = Edit { op, kind, fields };
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

/// An object as the API shows it: every field but the secrets.
fn object_element(object: &Object) -> Element {
    fn list(name: &str, item: &str, items: &[String]) -> Element {
        let mut e = Element::new(name);
        for i in items {
            e.push(Element::with_text(item, i.as_str()));
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
            e.field("emEnabled", d.em_enabled.to_string())
        }
        Object::Admin(a) => Element::new("admin")
            .field("username", a.username.as_str())
            .field("role", a.role.as_str()),
    }
}
