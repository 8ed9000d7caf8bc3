//! The typed `loginRequest` (`reference/csm-api.md` §3.1) and its callback URL check.

use std::net::Ipv6Addr;

use super::xml::{invalid, shorten};
use super::{Element, NbiCode, NbiError};

/// The longest callback URL accepted, in bytes.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// A `loginRequest`'s own fields (its `BaseReqResp` fields are read by [`super::base`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    pub heartbeat_requested: bool,
    /// Present exactly when `heartbeat_requested` is: a checked `https://` URL, as sent.
    pub callback_url: Option<String>,
}

/// Reads a `loginRequest` root (prefixed or not).
///
/// - Another root: 15, `expected loginRequest`.
/// - `username` or `password` missing, or either given twice (as any field): 15. Empty ones are
///   schema-valid and accepted; they fail authentication later. Like every element text, they
///   are trimmed of XML whitespace.
/// - `heartbeatRequested` (absent means false) not one of `true`, `false`, `1`, `0`: 11.
/// - `callbackUrl` given while the heartbeat is not requested: 11. An empty `<callbackUrl/>`
///   counts as absent.
/// - Heartbeat requested without a callback URL: 11; with a URL whose scheme is not `https`
///   (any case): 16; with one that is not `https://host[:port][/path][?query][#fragment]`
///   (a DNS name, IPv4 or bracketed IPv6 host, no user information, printable ASCII only,
///   well-formed `%` escapes, at most [`MAX_CALLBACK_URL_LEN`] bytes): 11.
///
/// Unknown children are ignored.
///
/// ```
/// use hotdesk_proto::nbi::{login_request, parse_request};
/// let root = parse_request("<loginRequest><username>admin</username><password>pw</password>\
///     <heartbeatRequested>true</heartbeatRequested><callbackUrl>https://client.example:8443/hb</callbackUrl>\
///     </loginRequest>").unwrap();
/// let login = login_request(&root).unwrap();
/// assert_eq!(login.username, "admin");
/// assert_eq!(login.callback_url.as_deref(), Some("https://client.example:8443/hb"));
/// ```
pub fn login_request(root: &Element) -> Result<LoginRequest, NbiError> {
    if root.name != "loginRequest" {
        return Err(invalid("expected loginRequest"));
    }
    let username = root.required("username")?.text.clone();
    let password = root.required("password")?.text.clone();
    let heartbeat_requested = match root.optional("heartbeatRequested")? {
        None => false,
        Some(e) => match e.text.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(bad_input(format!(
                    "heartbeatRequested must be true or false, not \"{}\"",
                    shorten(other)
                )));
            }
        },
    };
    let callback_url = root
        .optional("callbackUrl")?
        .map(|e| e.text.as_str())
        .filter(|url| !url.is_empty());
    let callback_url = match (heartbeat_requested, callback_url) {
        (false, None) => None,
        (false, Some(_)) => {
            return Err(bad_input(
                "callbackUrl is given but heartbeatRequested is not true",
            ));
        }
        (true, None) => {
            return Err(bad_input(
                "heartbeatRequested is true but callbackUrl is missing",
            ));
        }
        (true, Some(url)) => {
            check_callback_url(url)?;
            Some(url.to_string())
        }
    };
    Ok(LoginRequest {
        username,
        password,
        heartbeat_requested,
        callback_url,
    })
}

fn bad_input(detail: impl std::fmt::Display) -> NbiError {
    NbiError::with_detail(NbiCode::BadInput, detail)
}

/// Checks a heartbeat callback URL: 16 if its scheme is not `https`, 11 if it is not a
/// usable absolute URL (see [`login_request`]). Public so that other callers (an admin
/// method that edits a session, a client) apply the same rule.
pub fn check_callback_url(url: &str) -> Result<(), NbiError> {
    let bad = |why: &str| bad_input(format!("callbackUrl \"{}\" {why}", shorten(url)));
    if url.len() > MAX_CALLBACK_URL_LEN {
        return Err(bad_input(format!(
            "callbackUrl is longer than {MAX_CALLBACK_URL_LEN} bytes"
        )));
    }
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    let Some(scheme) = scheme.filter(|s| is_scheme(s)) else {
        return Err(bad("is not an absolute URL"));
    };
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(NbiError::with_detail(
            NbiCode::CallbackNotHttps,
            format!("the scheme is {}", shorten(scheme)),
        ));
    }
    let Some(rest) = url[scheme.len() + 1..].strip_prefix("//") else {
        return Err(bad("has no host"));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(bad("must not carry user information"));
    }
    // `port` is what follows the host: nothing, or `:` and a port number.
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((ip, after)) => (ip.parse::<Ipv6Addr>().is_ok(), after),
            None => (false, ""),
        },
        None => {
            let colon = authority.find(':').unwrap_or(authority.len());
            (is_host_name(&authority[..colon]), &authority[colon..])
        }
    };
    if !host_ok {
        return Err(bad("has no valid host"));
    }
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            (1..=5).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok_and(|n| n != 0)
        });
    if !port_ok {
        return Err(bad("has no valid port"));
    }
    if !is_url_tail(tail) {
        return Err(bad(
            "holds characters a URL cannot carry unescaped, or a bad % escape",
        ));
    }
    Ok(())
}

/// RFC 3986 `scheme`: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A DNS name or dotted IPv4 address: labels of ASCII letters, digits, `-` and `_`, 1 to 63
/// bytes each, at most 253 bytes in all, one trailing dot allowed.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

/// Path, query and fragment: printable ASCII without the characters RFC 3986 never allows
/// unescaped, and every `%` followed by two hex digits.
fn is_url_tail(tail: &str) -> bool {
    let bytes = tail.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' => return false,
            0x21..=0x7e => i += 1,
            _ => return false,
        }
    }
    true
}
