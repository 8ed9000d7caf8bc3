//! `/emservice/EMServiceServlet`: Cisco's EM API. The XML document arrives as the form field
//! `xml` (POST, the documented way), as `?xml=` (GET, which real scripts use), or as a raw
//! `text/xml` body. Every protocol outcome is HTTP 200 with an XML body.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hotdesk_proto::{
    EmMessage, EmResponse, ErrorCode, Failure, Operation, ParseError, Query, parse, render,
};

use super::AppState;
use crate::domain::RequestContext;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/emservice/EMServiceServlet", get(servlet).post(servlet))
}

async fn servlet(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let (operation, answer) =
        match extract_document(&headers, query.as_deref(), &body).and_then(|doc| parse(&doc)) {
            Ok(message) => {
                let ctx = RequestContext {
                    peer: Some(super::client_ip(&state.proxies, peer, &headers)),
                    via_header: headers.contains_key(header::VIA),
                };
                let operation = operation_name(&message);
                super::log::record_em(operation, &message);
                (operation, state.em.handle(message, &ctx).await)
            }
            Err(e) => ("unknown", EmResponse::Failure(Failure::from(e))),
        };
    let code = match &answer {
        EmResponse::Failure(f) => f.code.code(),
        _ => 0,
    };
    super::log::record_code(code.into());
    state
        .metrics
        .em_request(operation, code, started.elapsed().as_secs_f64());
    xml_response(render(&answer))
}

/// The operation's name as the EM API spells it: the label of its metrics and log lines.
fn operation_name(message: &EmMessage) -> &'static str {
    match message {
        EmMessage::Request { op, .. } => match op {
            Operation::Login(_) => "login",
            Operation::Logout(_) => "logout",
            Operation::LogoutAll { .. } => "logoutAll",
        },
        EmMessage::Query { query, .. } => match query {
            Query::DeviceUser { .. } => "deviceUserQuery",
            Query::UserDevices { .. } => "userDevicesQuery",
            Query::DeviceProfile { .. } => "deviceProfileQuery",
            Query::CheckUser { .. } => "checkUser",
        },
    }
}

pub(super) fn xml_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

fn parse_error(detail: &str) -> ParseError {
    ParseError {
        code: ErrorCode::Parsing,
        detail: detail.to_string(),
    }
}

/// Find the EM document: a form body's `xml` field, a raw XML body, or the query's `xml`.
pub(super) fn extract_document(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<String, ParseError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let raw_xml = matches!(content_type.as_str(), "text/xml" | "application/xml")
        || (content_type != "application/x-www-form-urlencoded"
            && body.trim_ascii_start().starts_with(b"<"));
    if !body.is_empty() {
        if raw_xml {
            return std::str::from_utf8(body)
                .map(str::to_string)
                .map_err(|_| parse_error("the request body is not valid UTF-8"));
        }
        let body = std::str::from_utf8(body)
            .map_err(|_| parse_error("the form body is not valid UTF-8"))?;
        if let Some(doc) = form_field(body, "xml")? {
            return Ok(doc);
        }
    }
    if let Some(doc) = query.map(|q| form_field(q, "xml")).transpose()?.flatten() {
        return Ok(doc);
    }
    Err(parse_error(
        "no EM document: send it as the form field `xml`",
    ))
}

/// The value of `name` in `application/x-www-form-urlencoded` text. Unlike a lenient decoder
/// it refuses percent-escapes that do not decode to UTF-8, so no byte is silently replaced.
fn form_field(text: &str, name: &str) -> Result<Option<String>, ParseError> {
    for pair in text.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode_form(k)? == name {
            return decode_form(v).map(Some);
        }
    }
    Ok(None)
}

fn decode_form(s: &str) -> Result<String, ParseError> {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| parse_error("the field `xml` is not valid UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn finds_the_document_wherever_clients_put_it() {
        let form = headers("application/x-www-form-urlencoded");
        assert_eq!(
            extract_document(&form, None, b"xml=%3Cquery%3E+%3C%2Fquery%3E").unwrap(),
            "<query> </query>"
        );
        assert_eq!(
            extract_document(&form, None, b"a=1&xml=%3Cx%2F%3E").unwrap(),
            "<x/>"
        );
        assert_eq!(
            extract_document(&headers("text/xml"), None, b"<request/>").unwrap(),
            "<request/>"
        );
        assert_eq!(
            extract_document(&HeaderMap::new(), Some("xml=<query/>"), b"").unwrap(),
            "<query/>"
        );
        assert_eq!(
            extract_document(&HeaderMap::new(), None, b" <query/>").unwrap(),
            " <query/>"
        );
    }

    #[test]
    fn refuses_what_is_not_there_or_not_utf8() {
        let form = headers("application/x-www-form-urlencoded");
        assert_eq!(
            extract_document(&form, None, b"foo=bar").unwrap_err().code,
            ErrorCode::Parsing
        );
        assert_eq!(
            extract_document(&form, None, b"xml=%FF%FE")
                .unwrap_err()
                .code,
            ErrorCode::Parsing
        );
        assert_eq!(
            extract_document(&headers("text/xml"), None, b"<a>\xff</a>")
                .unwrap_err()
                .code,
            ErrorCode::Parsing
        );
        assert_eq!(
            extract_document(&HeaderMap::new(), None, b"")
                .unwrap_err()
                .code,
            ErrorCode::Parsing
        );
    }
}
