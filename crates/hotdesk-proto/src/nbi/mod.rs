//! The admin API's wire format ("NBI", modelled on Cisco Security Manager's northbound API;
//! `docs/admin-api.md` has every method).
//!
//! Every request is one XML document whose root is `<MRequest>` (namespaced `csm:` or not)
//! and whose first children are the `BaseReqResp` fields; every answer is one `<MResponse>`
//! or, for a failure outside any method (no or bad session), a bare `<baseError>`. The
//! documents are generic trees ([`Element`]) rather than one type per method: the service maps
//! them onto its objects. What is common to all methods is typed here: the base fields
//! ([`base`]), the error codes ([`NbiCode`]), the login request ([`login_request`]).
//!
//! Like the rest of the crate this is pure: no I/O, no clock, no async, no panics on any
//! input.
//!
//! ```
//! use hotdesk_proto::nbi::{base, login_request, parse_request, render_response, Element};
//! let root = parse_request(
//!     r#"<csm:loginRequest xmlns:csm="csm"><protVersion>1.0</protVersion><reqId>42</reqId>
//!        <username>admin</username><password>secret</password></csm:loginRequest>"#,
//! ).unwrap();
//! let b = base(&root).unwrap();
//! let login = login_request(&root).unwrap();
//! assert_eq!((login.username.as_str(), login.heartbeat_requested), ("admin", false));
//! let body = [Element::with_text("serviceVersion", "1.0"), Element::with_text("sessionTimeoutInMins", "15")];
//! assert_eq!(
//!     render_response("loginResponse", b.req_id.as_deref(), None, &body, None),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<loginResponse><protVersion>1.0</protVersion>\
//!      <reqId>42</reqId><serviceVersion>1.0</serviceVersion><sessionTimeoutInMins>15</sessionTimeoutInMins>\
//!      </loginResponse>"
//! );
//! ```

mod codes;
mod login;
mod xml;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

pub use codes::{NbiCode, NbiError};
pub use login::{LoginRequest, MAX_CALLBACK_URL_LEN, check_callback_url, login_request};
pub use xml::{Element, MAX_DEPTH, MAX_ELEMENTS, is_ncname, parse_request, write_element};

use xml::{escape_into, invalid, shorten, xml_name};

/// The only protocol version there is; every answer carries it.
pub const PROT_VERSION: &str = "1.0";

/// The XML declaration every answer starts with.
const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The `BaseReqResp` fields of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base {
    /// As sent (trimmed); [`base`] has checked that it means 1.0.
    pub prot_version: Option<String>,
    /// As sent (trimmed), to be echoed; `<reqId/>` is `Some("")`.
    pub req_id: Option<String>,
    pub start_index: Option<u64>,
    pub end_index: Option<u64>,
}

/// Reads the `BaseReqResp` fields of a request root.
///
/// - `protVersion` absent is fine; present and not numerically 1.0 (it is an `xs:double`, so
///   `1`, `1.0`, `1.00`, `1e0` all are): 17.
/// - `startIndex` or `endIndex` not a non-negative integer that fits 64 bits: 15.
/// - Any of the four given twice: 15.
pub fn base(root: &Element) -> Result<Base, NbiError> {
    let prot_version = root.optional("protVersion")?.map(|e| e.text.clone());
    if let Some(v) = &prot_version
        && v.parse::<f64>() != Ok(1.0)
    {
        return Err(NbiError::with_detail(
            NbiCode::UnsupportedVersion,
            format!("\"{}\": only 1.0 is supported", shorten(v)),
        ));
    }
    Ok(Base {
        prot_version,
        req_id: root.optional("reqId")?.map(|e| e.text.clone()),
        start_index: index(root, "startIndex")?,
        end_index: index(root, "endIndex")?,
    })
}

/// An optional `xs:unsignedLong` child: ASCII digits (a leading `+` allowed, as XSD does).
fn index(root: &Element, name: &str) -> Result<Option<u64>, NbiError> {
    let Some(e) = root.optional(name)? else {
        return Ok(None);
    };
    let digits = e.text.strip_prefix('+').unwrap_or(&e.text);
    match digits.bytes().all(|b| b.is_ascii_digit()) {
        true => digits.parse::<u64>().ok(),
        false => None,
    }
    .map(Some)
    .ok_or_else(|| {
        invalid(format!(
            "{name} must be a non-negative integer, not \"{}\"",
            shorten(&e.text)
        ))
    })
}

/// The paging fields of a list answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    pub start_index: u64,
    /// Set when the answer does not hold all the rows: the next request's `startIndex`.
    pub end_index: Option<u64>,
    pub total_count: u64,
}

/// Renders a method's answer:
/// `<?xml version="1.0" encoding="UTF-8"?>` + newline +
/// `<{name}><protVersion>1.0</protVersion>[<reqId>…</reqId>][<startIndex>…</startIndex>
/// [<endIndex>…</endIndex>]<totalCount>…</totalCount>][body…][<error><code>N</code>
/// <description>…</description></error>]</{name}>`, compact, without a namespace, every text
/// escaped as by [`write_element`] (which also repairs a `name` that is not an XML name).
pub fn render_response(
    name: &str,
    req_id: Option<&str>,
    paging: Option<&Paging>,
    body: &[Element],
    error: Option<&NbiError>,
) -> String {
    let name = xml_name(name);
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}><protVersion>{PROT_VERSION}</protVersion>");
    if let Some(req_id) = req_id {
        out.push_str("<reqId>");
        escape_into(&mut out, req_id);
        out.push_str("</reqId>");
    }
    if let Some(p) = paging {
        let _ = write!(out, "<startIndex>{}</startIndex>", p.start_index);
        if let Some(end) = p.end_index {
            let _ = write!(out, "<endIndex>{end}</endIndex>");
        }
        let _ = write!(out, "<totalCount>{}</totalCount>", p.total_count);
    }
    for e in body {
        write_element(&mut out, e);
    }
    if let Some(error) = error {
        out.push_str("<error>");
        error_fields(&mut out, error);
        out.push_str("</error>");
    }
    let _ = write!(out, "</{name}>");
    out
}

/// Renders the whole body of a system-wide failure (sent with HTTP 401 for no or bad session):
/// `<?xml version="1.0" encoding="UTF-8"?>` + newline +
/// `<baseError><code>N</code><description>…</description></baseError>`.
pub fn render_base_error(error: &NbiError) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(PROLOG);
    out.push_str("<baseError>");
    error_fields(&mut out, error);
    out.push_str("</baseError>");
    out
}

/// `<code>N</code><description>…</description>`.
fn error_fields(out: &mut String, error: &NbiError) {
    let _ = write!(out, "<code>{}</code><description>", error.code.code());
    escape_into(out, &error.description);
    out.push_str("</description>");
}
