//! The admin API over HTTP (CSM's northbound API): `/nbi/login`, `/nbi/ping`, `/nbi/logout`
//! ([`sessions`]), `/nbi/configservice/<method>` and `/nbi/eventservice/<method>`.
//!
//! Method `M` takes `<MRequest>` and answers `<MResponse>`. This module is the envelope: the
//! session check, the body, the method's name looked up in the one table
//! (`domain::admin::method`), and the answer. Each method's handler is in the module of its
//! family ([`logins`], [`policy`], [`change_sets`], [`objects`], [`events`]); handlers only
//! translate between XML elements and domain values, the rules are in `domain::admin`.
//!
//! An empty body is code 13, as in CSM, except for `getServiceInfo` (a probe) and on the event
//! service, where it stands for a request with no arguments: a body lost on the way must not
//! turn into "all".

mod change_sets;
mod events;
mod logins;
mod objects;
mod policy;
mod sessions;

pub(super) use logins::event_element;
pub(super) use sessions::{as_cookie, session_cookie};

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use hotdesk_proto::nbi::{self, Element, NbiCode, NbiError, Paging};

use super::AppState;
use crate::domain::Timestamp;
use crate::domain::admin::method::{Method, require};
use crate::domain::model::AdminSession;
use sessions::{Document, Refused, document, unauthorized, xml};

/// Rows in one page of a list answer.
const PAGE: usize = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .merge(sessions::routes())
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

    fn method(self, name: &str) -> Option<Method> {
        match self {
            Service::Config => Method::parse(name),
            Service::Events => Method::event(name),
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

/// What every handler gets: the server, the caller, the request's root element.
struct Call<'a> {
    state: &'a AppState,
    session: &'a AdminSession,
    root: &'a Element,
}

async fn call(
    service: Service,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = service.method(&name);
    // The request's log line and metrics name a method of the table, never an unknown name
    // as sent (that would make a label of any text).
    let label = method.map_or("unknown", Method::name);
    super::log::record(label, None, None);
    let answer = |name: &str, req_id: Option<&str>, result: Result<Reply, NbiError>| {
        let code = result.as_ref().err().map_or(0, |e| e.code.code());
        super::log::record_code(code);
        state.metrics.admin_request(label, code);
        let text = match result {
            Ok(reply) => {
                nbi::render_response(name, req_id, reply.paging.as_ref(), &reply.body, None)
            }
            Err(e) => nbi::render_response(name, req_id, None, &[], Some(&e)),
        };
        xml(StatusCode::OK, text)
    };
    let response_name = format!("{name}Response");
    let session = match state.admin.session(as_cookie(&headers).as_deref()).await {
        Ok(s) => s,
        Err(e) => {
            let e = NbiError::from(e);
            super::log::record_code(e.code.code());
            state.metrics.admin_request(label, e.code.code());
            return unauthorized(e);
        }
    };
    super::log::record_admin(session.username.as_str());
    let probe = service == Service::Events || method == Some(Method::ServiceInfo);
    let (root, req_id) = match document(&body, false) {
        Ok(Some(Document { root, req_id })) => (root, req_id),
        Ok(None) if probe || method.is_none() => (Element::new(format!("{name}Request")), None),
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
    let Some(method) = method else {
        let unknown = NbiError::with_detail(NbiCode::UnknownMethod, name.as_str());
        return answer(&response_name, req_id.as_deref(), Err(unknown));
    };
    // CSM names the event service's pair eventSubRequest / eventSubResponse: answer in kind.
    let (expected, response_name) =
        if method == Method::EventSubscription && root.name == "eventSubRequest" {
            (root.name.clone(), "eventSubResponse".to_string())
        } else {
            (format!("{name}Request"), response_name)
        };
    let result = if root.name != expected {
        Err(NbiError::with_detail(
            NbiCode::InvalidXml,
            format!("expected {expected}"),
        ))
    } else if let Err(e) = require(&session, method) {
        // The role first: a caller that may not call the method learns nothing from how its
        // request would have been parsed.
        Err(e.into())
    } else {
        let call = Call {
            state: &state,
            session: &session,
            root: &root,
        };
        dispatch(service, method, &call).await
    };
    answer(&response_name, req_id.as_deref(), result)
}

/// The one dispatch: each method to its handler.
async fn dispatch(service: Service, method: Method, c: &Call<'_>) -> Result<Reply, NbiError> {
    match method {
        Method::ServiceInfo => Ok(service_info(c.state, service)),
        Method::ListLogins => logins::list(c).await,
        Method::LoginHistory => logins::history(c).await,
        Method::GetDeviceState => logins::device_state(c).await,
        Method::ForceLogout => logins::force_logout(c).await,
        Method::GetPolicy => policy::get(c).await,
        Method::SetPolicy => policy::set(c).await,
        Method::CreateChangeSet => change_sets::create(c).await,
        Method::ValidateChangeSet => change_sets::validate(c).await,
        Method::SubmitChangeSet => change_sets::submit(c).await,
        Method::DiscardChangeSet => change_sets::discard(c).await,
        Method::Get(kind) => objects::get(c, kind).await,
        Method::List(kind) => objects::list(c, kind).await,
        Method::Add(_) | Method::Update(_) | Method::Delete(_) => objects::edit(c, method).await,
        Method::EventSubscription => events::subscription(c).await,
    }
}

fn service_info(state: &AppState, service: Service) -> Reply {
    Reply::of(vec![
        Element::with_text("serviceName", service.name()),
        Element::with_text("serviceVersion", sessions::SERVICE_VERSION),
        Element::with_text("productVersion", env!("CARGO_PKG_VERSION")),
        Element::with_text(
            "sessionTimeoutInMins",
            (state.admin.settings().session_timeout.as_secs() / 60).to_string(),
        ),
    ])
}

fn invalid(detail: impl std::fmt::Display) -> NbiError {
    NbiError::with_detail(NbiCode::InvalidValue, detail)
}

/// A child element the request must have (code 15 without it).
fn required<'e>(root: &'e Element, name: &str) -> Result<&'e Element, NbiError> {
    root.get(name).ok_or_else(|| {
        NbiError::with_detail(NbiCode::InvalidXml, format!("missing element {name}"))
    })
}

fn number(root: &Element, name: &str) -> Result<Option<i64>, NbiError> {
    root.text_of(name)
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| invalid(format!("{name} must be a whole number")))
        })
        .transpose()
}

/// An optional RFC 3339 instant: `2026-01-05T08:00:00Z`, as the answers write them, or with
/// an offset (`2026-01-05T09:00:00+01:00`).
fn instant(root: &Element, name: &str) -> Result<Option<Timestamp>, NbiError> {
    let Some(text) = root.text_of(name) else {
        return Ok(None);
    };
    let bad = || invalid(format!("{name} is not an RFC 3339 time: {text:?}"));
    let text = text.trim();
    // humantime reads UTC only: an offset is taken off by hand (`+HH:MM` is east of UTC).
    let split = text
        .len()
        .checked_sub(6)
        .filter(|&i| text.is_char_boundary(i))
        .map(|i| text.split_at(i));
    let (utc, offset_ms) = match split {
        Some((base, zone))
            if zone.is_ascii() && zone.starts_with(['+', '-']) && zone.as_bytes()[3] == b':' =>
        {
            let digits = |s: &str, max: i64| -> Result<i64, NbiError> {
                match s.bytes().all(|b| b.is_ascii_digit()) {
                    true => s.parse().ok().filter(|v| *v <= max).ok_or_else(bad),
                    false => Err(bad()),
                }
            };
            let (hours, minutes) = (digits(&zone[1..3], 23)?, digits(&zone[4..], 59)?);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            (format!("{base}Z"), sign * (hours * 60 + minutes) * 60_000)
        }
        _ => (text.to_string(), 0),
    };
    let at = humantime::parse_rfc3339_weak(&utc).map_err(|_| bad())?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    let ms = i64::try_from(ms).map_err(|_| bad())?;
    match ms - offset_ms {
        before_1970 if before_1970 < 0 => Err(bad()),
        ms => Ok(Some(Timestamp(ms))),
    }
}

/// RFC 3339, UTC, milliseconds: what a person and a parser both read.
fn time(t: Timestamp) -> String {
    // RFC 3339 has four-digit years: a deadline past 9999 (a login of u32::MAX minutes) is
    // shown as the last instant it can name rather than failing the whole answer.
    const LAST: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = u64::try_from(t.0.clamp(0, LAST)).unwrap_or(0);
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// One field of an object element: a text, or a list (one child element per item).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    List(Vec<String>),
}

/// An object element's fields by element name, to be parsed into a typed request.
type Fields = std::collections::BTreeMap<String, Value>;

fn text<'a>(fields: &'a Fields, name: &str) -> Result<Option<&'a str>, NbiError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Text(t)) => Ok(Some(t.as_str())),
        Some(Value::List(_)) => Err(invalid(format!("{name} takes text, not a list"))),
    }
}

/// A list field; an empty element is the empty list.
fn list(fields: &Fields, name: &str) -> Result<Option<Vec<String>>, NbiError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::List(items)) => Ok(Some(items.clone())),
        Some(Value::Text(t)) if t.is_empty() => Ok(Some(Vec::new())),
        Some(Value::Text(_)) => Err(invalid(format!("{name} holds one element per item"))),
    }
}

fn flag(fields: &Fields, name: &str) -> Result<Option<bool>, NbiError> {
    text(fields, name)?
        .map(|t| match t {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(invalid(format!("{name} must be true or false"))),
        })
        .transpose()
}

/// A whole number that fits a `u32`.
fn count(fields: &Fields, name: &str, what: &str) -> Result<Option<u32>, NbiError> {
    text(fields, name)?
        .map(|t| {
            t.parse()
                .map_err(|_| invalid(format!("{name} must be {what}")))
        })
        .transpose()
}

/// Fields nobody asked for are a mistake, not something to ignore.
fn only(fields: &Fields, element: &str, known: &[&str]) -> Result<(), NbiError> {
    match fields.keys().find(|f| !known.contains(&f.as_str())) {
        Some(unknown) => Err(invalid(format!("{element} has no field {unknown}"))),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Result<Option<Timestamp>, NbiError> {
        let xml = format!("<r><from>{text}</from></r>");
        instant(&nbi::parse_request(&xml).unwrap(), "from")
    }

    #[test]
    fn an_instant_is_utc_or_carries_its_offset_and_nothing_else_parses() {
        let utc = at("2026-01-05T08:00:00Z").unwrap().unwrap();
        assert_eq!(at("2026-01-05T09:00:00+01:00").unwrap(), Some(utc));
        assert_eq!(at("2026-01-05T03:30:00-04:30").unwrap(), Some(utc));
        assert_eq!(at("2026-01-05T08:00:00.000Z").unwrap(), Some(utc));
        for bad in [
            "yesterday",
            "2026-01-05T09:00:00+1:000",
            "2026-01-05T09:00:0é+01:00",
            "é",
            "2026-01-05T09:00:00++1:00",
            "2026-01-05T09:00:00+99:99",
            "1970-01-01T00:30:00+01:00",
        ] {
            assert_eq!(at(bad).unwrap_err().code, NbiCode::InvalidValue, "{bad}");
        }
    }
}
