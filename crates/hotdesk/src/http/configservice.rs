//! `/nbi/configservice/<method>`: the config service. Method `M` takes `<MRequest>` and answers
//! `<MResponse>`; an empty body is code 13, as in CSM, except for `getServiceInfo` (a probe)
//! and on the event service, where it stands for a request with no arguments. This file only
//! translates between XML elements and domain values; the rules are in `domain::admin`.

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use hotdesk_proto::nbi::{self, Element, NbiCode, NbiError, Paging};

use super::AppState;
use super::nbi::{Document, Refused, as_cookie, document, unauthorized, xml};
use crate::domain::admin::config::{HistoryRange, LoginFilter};
use crate::domain::admin::edit::{Edit, Edited, Fields, Object, Op, Value};
use crate::domain::{AdminSession, EntityKind, Event, Login, Policy, Timestamp};

/// Rows in one page of a list answer.
const PAGE: usize = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/nbi/configservice/{method}", post(config).put(config))
        .route("/nbi/eventservice/{method}", post(events).put(events))
}

/// The two services share the envelope, the session check and `getServiceInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Config,
    Events,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Config => "configservice",
            Service::Events => "eventservice",
        }
    }
}

async fn config(
    state: State<AppState>,
    method: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(Service::Config, state, method, headers, body).await
}

async fn events(
    state: State<AppState>,
    method: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(Service::Events, state, method, headers, body).await
}

/// What a method answers besides the envelope.
struct Reply {
    body: Vec<Element>,
    paging: Option<Paging>,
}

impl Reply {
    fn of(body: Vec<Element>) -> Self {
        Reply { body, paging: None }
    }

    /// One page of `items` from `start`, with CSM's paging fields.
    fn page(items: Vec<Element>, start: u64) -> Self {
        let total = items.len();
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(total);
        let to = (from + PAGE).min(total);
        let body: Vec<Element> = items.into_iter().skip(from).take(to - from).collect();
        Reply {
            body,
            paging: Some(Paging {
                start_index: from as u64,
                end_index: (to < total).then_some(to as u64),
                total_count: total as u64,
            }),
        }
    }
}

async fn call(
    service: Service,
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = |name: &str, req_id: Option<&str>, result: Result<Reply, NbiError>| {
        let text = match result {
            Ok(reply) => {
                nbi::render_response(name, req_id, reply.paging.as_ref(), &reply.body, None)
            }
            Err(e) => nbi::render_response(name, req_id, None, &[], Some(&e)),
        };
        xml(StatusCode::OK, text)
    };
    let response_name = format!("{method}Response");
    let session = match state.admin.session(as_cookie(&headers).as_deref()).await {
        Ok(s) => s,
        Err(e) => return unauthorized(&e),
    };
    // An empty body that meant "list everything" would let a truncated request act on all.
    let probe = service == Service::Events || method.eq_ignore_ascii_case("getServiceInfo");
    let (root, req_id) = match document(&body, false) {
        Ok(Some(Document { root, req_id })) => (root, req_id),
        Ok(None) if probe || !is_method(service, &method) => {
            (Element::new(format!("{method}Request")), None)
        }
        Ok(None) => {
            return answer(
                &response_name,
                None,
                Err(NbiError::new(NbiCode::EmptyPayload)),
            );
        }
        Err(Refused { error, req_id }) => {
            return answer(&response_name, req_id.as_deref(), Err(error));
        }
    };
    // CSM names the event service's pair eventSubRequest / eventSubResponse: answer in kind.
    let (expected, response_name) = if service == Service::Events
        && method == "eventSubscription"
        && root.name == "eventSubRequest"
    {
        (root.name.clone(), "eventSubResponse".to_string())
    } else {
        (format!("{method}Request"), response_name)
    };
    let result = if root.name != expected && is_method(service, &method) {
        Err(NbiError::with_detail(
            NbiCode::InvalidXml,
            format!("expected {expected}"),
        ))
    } else {
        match service {
            Service::Config => dispatch(&state, &session, &method, &root).await,
            Service::Events => dispatch_events(&state, &session, &method, &root).await,
        }
    };
    answer(&response_name, req_id.as_deref(), result)
}

const METHODS: &[&str] = &[
    "getServiceInfo",
    "GetServiceInfo",
    "listLogins",
    "loginHistory",
    "forceLogout",
    "getPolicy",
    "setPolicy",
    "createChangeSet",
    "validateChangeSet",
    "submitChangeSet",
    "discardChangeSet",
];

fn is_method(service: Service, method: &str) -> bool {
    match service {
        Service::Config => METHODS.contains(&method) || object_method(method).is_some(),
        Service::Events => {
            ["getServiceInfo", "GetServiceInfo", "eventSubscription"].contains(&method)
        }
    }
}

fn service_info(state: &AppState, service: Service) -> Reply {
    Reply::of(vec![
        Element::with_text("serviceName", service.name()),
        Element::with_text("serviceVersion", super::nbi::SERVICE_VERSION),
        Element::with_text("productVersion", env!("CARGO_PKG_VERSION")),
        Element::with_text(
            "sessionTimeoutInMins",
            (state.admin.settings().session_timeout.as_secs() / 60).to_string(),
        ),
    ])
}

/// `/nbi/eventservice/eventSubscription`: `<op>add</op>` (optionally `<afterSeq>N</afterSeq>`
/// to replay from event N) or `<op>delete</op>`.
async fn dispatch_events(
    state: &AppState,
    session: &AdminSession,
    method: &str,
    root: &Element,
) -> Result<Reply, NbiError> {
    match method {
        "getServiceInfo" | "GetServiceInfo" => Ok(service_info(state, Service::Events)),
        "eventSubscription" => {
            let mut body = Vec::new();
            if let Some(id) = root.text_of("subscriptionId") {
                body.push(Element::with_text("subscriptionId", id));
            }
            match root.text_of("op") {
                Some("add") => {
                    let after = number(root, "afterSeq")?;
                    let start = state.admin.subscribe(session, after).await?;
                    body.push(Element::with_text("afterSeq", start.to_string()));
                }
                Some("delete") => state.admin.unsubscribe(session).await?,
                Some(_) => return Err(invalid("op must be add or delete")),
                None => {
                    return Err(NbiError::with_detail(
                        NbiCode::InvalidXml,
                        "missing element op",
                    ));
                }
            }
            Ok(Reply::of(body))
        }
        other => Err(NbiError::with_detail(NbiCode::UnknownMethod, other)),
    }
}

/// What an object method does: `addUser`, `listDeviceProfiles`...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectCall {
    Get,
    List,
    Edit(Op),
}

fn object_method(method: &str) -> Option<(ObjectCall, EntityKind)> {
    EntityKind::ALL.into_iter().find_map(|kind| {
        let stem = kind.stem();
        let call = match method.strip_suffix(stem) {
            Some("get") => ObjectCall::Get,
            Some("add") => ObjectCall::Edit(Op::Add),
            Some("update") => ObjectCall::Edit(Op::Update),
            Some("delete") => ObjectCall::Edit(Op::Delete),
            _ if method == format!("list{stem}s") => ObjectCall::List,
            _ => return None,
        };
        Some((call, kind))
    })
}

/// `<user><id>jdoe</id><profiles><profile>P</profile></profiles></user>` as fields: an element
/// with children is a list of their texts, any other its text.
fn fields_of(object: &Element) -> Result<Fields, NbiError> {
    let mut fields = Fields::new();
    for child in &object.children {
        let value = if child.children.is_empty() {
            Value::Text(child.text.clone())
        } else {
            Value::List(child.children.iter().map(|c| c.text.clone()).collect())
        };
        if fields.insert(child.name.clone(), value).is_some() {
            return Err(invalid(format!("{} is given twice", child.name)));
        }
    }
    Ok(fields)
}

/// The `<changeSetId>` of a request, if it names one.
fn change_set_id(root: &Element) -> Result<Option<String>, NbiError> {
    match root.text_of("changeSetId") {
        None => Ok(None),
        Some("") => Err(invalid("an empty changeSetId")),
        Some(id) => Ok(Some(id.to_string())),
    }
}

fn required_change_set(root: &Element) -> Result<String, NbiError> {
    change_set_id(root)?
        .ok_or_else(|| NbiError::with_detail(NbiCode::InvalidXml, "missing element changeSetId"))
}

async fn object_call(
    state: &AppState,
    session: &AdminSession,
    call: ObjectCall,
    kind: EntityKind,
    root: &Element,
) -> Result<Reply, NbiError> {
    let admin = &state.admin;
    let key_field = kind.key_field();
    let named = || {
        root.text_of(key_field)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                NbiError::with_detail(NbiCode::InvalidXml, format!("missing element {key_field}"))
            })
    };
    match call {
        ObjectCall::Get => Ok(Reply::of(vec![object_element(
            &admin.get_object(session, kind, named()?).await?,
        )])),
        ObjectCall::List => {
            let start = nbi::base(root)?.start_index.unwrap_or(0);
            let filter = root.text_of("nameFilter").filter(|f| !f.is_empty());
            let (total, objects) = admin
                .list_objects(session, kind, filter, start, PAGE as u32)
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
        ObjectCall::Edit(op) => {
            let fields = if op == Op::Delete {
                Fields::from([(key_field.to_string(), Value::Text(named()?.to_string()))])
            } else {
                let object = root.get(kind.element()).ok_or_else(|| {
                    NbiError::with_detail(
                        NbiCode::InvalidXml,
                        format!("missing element {}", kind.element()),
                    )
                })?;
                fields_of(object)?
            };
            let edit = Edit { op, kind, fields };
            match admin.edit(session, edit, change_set_id(root)?).await? {
                Edited::Applied(object) => {
                    Ok(Reply::of(object.iter().map(object_element).collect()))
                }
                Edited::Staged { change_set, edits } => Ok(Reply::of(vec![
                    Element::with_text("changeSetId", change_set),
                    Element::with_text("editCount", edits.to_string()),
                ])),
            }
        }
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

fn change_set_reply(id: String, edits: Option<u32>) -> Reply {
    let mut body = vec![Element::with_text("changeSetId", id)];
    if let Some(n) = edits {
        body.push(Element::with_text("editCount", n.to_string()));
    }
    Reply::of(body)
}

async fn dispatch(
    state: &AppState,
    session: &AdminSession,
    method: &str,
    root: &Element,
) -> Result<Reply, NbiError> {
    let admin = &state.admin;
    match method {
        // CSM spells it with a capital G.
        "getServiceInfo" | "GetServiceInfo" => Ok(service_info(state, Service::Config)),
        "listLogins" => {
            let start = nbi::base(root)?.start_index.unwrap_or(0);
            let logins = admin.list_logins(session, login_filter(root)?).await?;
            Ok(Reply::page(
                logins.iter().map(login_element).collect(),
                start,
            ))
        }
        "loginHistory" => {
            let range = HistoryRange {
                after: number(root, "afterSeq")?.unwrap_or(0),
                from: instant(root, "from")?,
                to: instant(root, "to")?,
            };
            let limit = number(root, "limit")?
                .unwrap_or(PAGE as i64)
                .clamp(1, PAGE as i64);
            let history = admin
                .login_history(session, login_filter(root)?, range, limit as u32)
                .await?;
            let mut body = vec![Element::with_text("lastSeq", history.cursor.to_string())];
            body.extend(history.events.iter().map(event_element));
            Ok(Reply::of(body))
        }
        "forceLogout" => {
            let ended = admin.force_logout(session, login_filter(root)?).await?;
            Ok(Reply::of(ended.iter().map(login_element).collect()))
        }
        "getPolicy" => Ok(Reply::of(vec![policy_element(
            &admin.get_policy(session).await?,
        )])),
        "setPolicy" => {
            let given = root.get("policy").ok_or_else(|| {
                NbiError::with_detail(NbiCode::InvalidXml, "missing element policy")
            })?;
            Ok(Reply::of(vec![policy_element(
                &admin.set_policy(session, fields_of(given)?).await?,
            )]))
        }
        "createChangeSet" => Ok(change_set_reply(
            admin.create_change_set(session).await?,
            Some(0),
        )),
        "validateChangeSet" => {
            let id = required_change_set(root)?;
            let n = admin.validate_change_set(session, id.clone()).await?;
            Ok(change_set_reply(id, Some(n)))
        }
        "submitChangeSet" => {
            let id = required_change_set(root)?;
            let n = admin.submit_change_set(session, id.clone()).await?;
            Ok(change_set_reply(id, Some(n)))
        }
        "discardChangeSet" => {
            let id = required_change_set(root)?;
            admin.discard_change_set(session, id.clone()).await?;
            Ok(change_set_reply(id, None))
        }
        other => match object_method(other) {
            Some((call, kind)) => object_call(state, session, call, kind, root).await,
            None => Err(NbiError::with_detail(NbiCode::UnknownMethod, other)),
        },
    }
}

fn invalid(detail: impl std::fmt::Display) -> NbiError {
    NbiError::with_detail(NbiCode::InvalidValue, detail)
}

/// `<device>` or `<user>` (not both); neither is everything.
fn login_filter(root: &Element) -> Result<LoginFilter, NbiError> {
    match (root.text_of("device"), root.text_of("user")) {
        (Some(_), Some(_)) => Err(invalid("give device or user, not both")),
        (Some(d), None) if !d.is_empty() => Ok(LoginFilter::Device(d.to_string())),
        (None, Some(u)) if !u.is_empty() => Ok(LoginFilter::User(u.to_string())),
        (None, None) => Ok(LoginFilter::All),
        _ => Err(invalid("an empty device or user")),
    }
}

fn number(root: &Element, name: &str) -> Result<Option<i64>, NbiError> {
    root.text_of(name)
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| invalid(format!("{name} must be a whole number")))
        })
        .transpose()
}

/// RFC 3339, UTC, milliseconds: what a person and a parser both read.
/// An optional RFC 3339 instant in UTC (`2026-01-05T08:00:00Z`), as the answers write them.
fn instant(root: &Element, name: &str) -> Result<Option<Timestamp>, NbiError> {
    let Some(text) = root.text_of(name) else {
        return Ok(None);
    };
    let bad = || invalid(format!("{name} is not an RFC 3339 time: {text:?}"));
    let at = humantime::parse_rfc3339_weak(text.trim()).map_err(|_| bad())?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    Ok(Some(Timestamp(i64::try_from(ms).map_err(|_| bad())?)))
}

fn time(t: Timestamp) -> String {
    // RFC 3339 has four-digit years: a deadline past 9999 (a login of u32::MAX minutes) is
    // shown as the last instant it can name rather than failing the whole answer.
    const LAST: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = u64::try_from(t.0.clamp(0, LAST)).unwrap_or(0);
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

fn login_element(l: &Login) -> Element {
    let mut e = Element::new("login")
        .field("device", l.device.as_str())
        .field("user", l.user.as_str())
        .field("profile", l.profile.as_str())
        .field("app", l.app.as_str())
        .field("loggedInAt", time(l.logged_in_at));
    if let Some(d) = l.deadline {
        e = e.field("deadline", time(d));
    }
    e
}

pub(super) fn event_element(e: &Event) -> Element {
    let ev = &e.event;
    let mut out = Element::new("event")
        .field("seq", e.seq.to_string())
        .field("at", time(ev.at))
        .field("kind", ev.kind.as_str());
    for (name, value) in [
        ("actor", &ev.actor),
        ("device", &ev.device),
        ("user", &ev.user),
        ("profile", &ev.profile),
        ("detail", &ev.detail),
    ] {
        if let Some(v) = value {
            out = out.field(name, v.as_str());
        }
    }
    out
}

fn policy_element(p: &Policy) -> Element {
    let mut ips = Element::new("trustedIps");
    for ip in &p.trusted_ips {
        ips.push(Element::with_text("trustedIp", ip.as_str()));
    }
    Element::new("policy")
        .field("multipleLogin", p.multiple_login.as_str())
        .field("maxLoginMinutes", p.max_login_minutes.to_string())
        .field("enforceMaxLogin", p.enforce_max_login.to_string())
        .field("rememberLastUser", p.remember_last_user.to_string())
        .field(
            "maxConcurrentRequests",
            p.max_concurrent_requests.to_string(),
        )
        .field("validateIp", p.validate_ip.to_string())
        .child(ips)
        .field("allowProxy", p.allow_proxy.to_string())
        .field("minPinLength", p.min_pin_length.to_string())
        .field("phoneService", p.phone_service.to_string())
}
