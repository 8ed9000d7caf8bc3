//! From an EM XML document to an [`EmMessage`].
//!
//! Parsing happens in two steps. First [`quick_xml`] reads the text into a small element tree
//! (names, trimmed text, children; attributes are ignored because EM requests carry none). That
//! step enforces the limits and the XML rules that matter for safety: documents nested deeper
//! than [`MAX_DEPTH`] or holding more than [`MAX_ELEMENTS`] elements are refused, and no entity
//! other than the five predefined ones and character references is ever expanded, so a
//! `<!DOCTYPE>` with an internal subset ("billion laughs") costs nothing. Second, the tree is
//! mapped onto the typed request, with the element names of Cisco's DTDs (case-sensitive).
//!
//! The mapping is as lenient as Cisco's clients need and no more: child order is not checked
//! and unknown children are ignored (EMApp adds elements across releases, such as `loginType`),
//! but a known element that appears twice is refused, so no two readers of one document can
//! disagree about which value counts.

use std::borrow::Cow;
use std::fmt;

use quick_xml::errors::IllFormedError;
use quick_xml::events::{BytesRef, Event};
use quick_xml::{Error as XmlError, Reader};

use crate::{
    AppInfo, Credential, EmMessage, ErrorCode, ExclusiveDuration, Login, Logout, Operation, Origin,
    Query, decode_user_id,
};

/// The deepest element nesting accepted; the root is at depth 1. Real EM documents reach 4
/// (`request/login/exclusiveDuration/time`), so 16 leaves room while bounding the tree.
pub const MAX_DEPTH: usize = 16;

/// The most elements one document may hold, counting every start and empty-element tag,
/// root included. A batch query of about a thousand names still fits.
pub const MAX_ELEMENTS: usize = 1024;

/// Input-derived names and values are cut to this many characters in error details, so that
/// a hostile document cannot make the error answer as large as itself.
const DETAIL_VALUE_MAX: usize = 64;

/// quick-xml's own error messages are cut to this many characters, once the names they quote
/// are cut to [`DETAIL_VALUE_MAX`]; the longest it writes today (a mismatched end tag with
/// both names cut) is 191. With its prefix, a detail stays under 256 characters.
const XML_MESSAGE_MAX: usize = 200;

/// Why a document was refused: the EM code to answer with and a short English detail that
/// names the offending element. The detail is meant for a developer and is shown after the
/// code's message, as in `Error on Parsing: missing element appInfo in request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub detail: String,
}

impl ParseError {
    /// Code 1: not well-formed XML, or not a document the DTDs allow.
    fn syntax(detail: impl Into<String>) -> Self {
        ParseError {
            code: ErrorCode::Parsing,
            detail: detail.into(),
        }
    }

    /// Code 8: a well-formed `<query>` whose query type is not one we know.
    fn query_type(detail: impl Into<String>) -> Self {
        ParseError {
            code: ErrorCode::QueryTypeUndetermined,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.message(), self.detail)
    }
}

impl std::error::Error for ParseError {}

/// Parses one EM document (`<request>` or `<query>`).
///
/// Every failure is a [`ParseError`] with code 1, except a `<query>` whose child is not a
/// known query type, which is code 8 as in Cisco's table. This function never panics.
pub fn parse(xml: &str) -> Result<EmMessage, ParseError> {
    let root = read_tree(xml)?;
    match root.name.as_str() {
        "request" => parse_request(&root),
        "query" => parse_query(&root),
        other => Err(ParseError::syntax(format!(
            "unknown root element {}: expected request or query",
            shorten(other)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 1: XML text to element tree.

/// An element with what EM needs of it. `text` is the concatenation of the element's own
/// character data (text, CDATA, resolved references), trimmed of XML whitespace once the
/// element closes.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

/// Reads `xml` into a tree, enforcing the limits and refusing anything but one root element
/// surrounded by prolog material (declaration, comments, processing instructions, DOCTYPE).
fn read_tree(xml: &str) -> Result<Element, ParseError> {
    // A UTF-8 BOM is legal at the start of an XML document; some Windows clients send one.
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let mut reader = Reader::from_str(xml);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
    }

    // Open elements, innermost last. An element is attached to its parent when it closes.
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    // Whether anything but whitespace has been read: the XML declaration must come first.
    let mut seen_markup = false;
    let mut seen_doctype = false;

    loop {
        let event = reader.read_event().map_err(|e| {
            ParseError::syntax(format!(
                "malformed XML at byte {}: {}",
                reader.error_position(),
                xml_error_message(e)
            ))
        })?;
        let is_blank = matches!(&event, Event::Text(t) if trim_xml(t).is_empty());
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(ParseError::syntax("content after the root element"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(ParseError::syntax(format!(
                        "too many elements: more than {MAX_ELEMENTS}"
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::syntax(format!(
                        "elements nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                let name = start.name().into_inner();
                if !is_xml_name(name) {
                    return Err(ParseError::syntax(format!(
                        "invalid element name {}",
                        shorten(name)
                    )));
                }
                // Attributes are ignored, but a malformed one still makes the document
                // malformed. Duplicate checks are off: they are quadratic in the count.
                if let Some(Err(e)) = start.attributes().with_checks(false).find(Result::is_err) {
                    return Err(ParseError::syntax(format!(
                        "malformed attribute in element {}: {e}",
                        shorten(name)
                    )));
                }
                let name = name.to_string();
                let element = Element {
                    name,
                    ..Element::default()
                };
                if matches!(event, Event::Empty(_)) {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches the open one.
                let element = stack
                    .pop()
                    .ok_or_else(|| ParseError::syntax("end tag without a start tag"))?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(text) => append_text(&mut stack, &text.xml10_content())?,
            Event::CData(cdata) => append_text(&mut stack, &cdata.xml10_content())?,
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                append_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => {
                // Accepted and ignored: its external id is never fetched and the entities of
                // its internal subset never expanded (see `resolve_reference`).
                if root.is_some() || !stack.is_empty() {
                    return Err(ParseError::syntax(
                        "DOCTYPE after the start of the root element",
                    ));
                }
                if seen_doctype {
                    return Err(ParseError::syntax("more than one DOCTYPE"));
                }
                seen_doctype = true;
            }
            Event::Decl(_) if seen_markup => {
                return Err(ParseError::syntax(
                    "XML declaration not at the start of the document",
                ));
            }
            // Processing instructions are legal after the root, but the EM documents of
            // Cisco's clients never hold one there: refusing trailing content is simpler.
            Event::PI(_) if root.is_some() => {
                return Err(ParseError::syntax("content after the root element"));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        seen_markup |= !is_blank;
    }

    if let Some(open) = stack.last() {
        return Err(ParseError::syntax(format!(
            "unclosed element {}",
            shorten(&open.name)
        )));
    }
    root.ok_or_else(|| ParseError::syntax("empty document: no root element"))
}

/// quick-xml's message for `e`, with the names it quotes from the input cut like any other
/// input-derived value. Its messages for mismatched and unclosed tags quote the tag names in
/// full, so without this a document made of one long mismatched tag pair would get an error
/// detail twice its own size.
fn xml_error_message(e: XmlError) -> String {
    let cut = |s: &str| shorten(s).into_owned();
    let e = match e {
        XmlError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            XmlError::IllFormed(IllFormedError::MismatchedEndTag {
                expected: cut(&expected),
                found: cut(&found),
            })
        }
        XmlError::IllFormed(IllFormedError::UnmatchedEndTag(tag)) => {
            XmlError::IllFormed(IllFormedError::UnmatchedEndTag(cut(&tag)))
        }
        XmlError::IllFormed(IllFormedError::MissingEndTag(tag)) => {
            XmlError::IllFormed(IllFormedError::MissingEndTag(cut(&tag)))
        }
        XmlError::IllFormed(IllFormedError::MissingDeclVersion(Some(attr))) => {
            XmlError::IllFormed(IllFormedError::MissingDeclVersion(Some(cut(&attr))))
        }
        other => other,
    };
    // A backstop for messages of other or future quick-xml errors that may quote input.
    let message = e.to_string();
    match message.char_indices().nth(XML_MESSAGE_MAX) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message,
    }
}

/// Finishes `element` (trims its text) and attaches it to its parent, or makes it the root.
fn close(mut element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    let trimmed = trim_xml(&element.text);
    if trimmed.len() != element.text.len() {
        element.text = trimmed.to_string();
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Adds character data to the innermost open element. Outside the root only whitespace is
/// allowed; characters XML 1.0 forbids (most C0 controls) are refused anywhere.
fn append_text(stack: &mut [Element], text: &str) -> Result<(), ParseError> {
    if let Some(bad) = text.chars().find(|&c| !is_xml_char(c)) {
        return Err(ParseError::syntax(format!(
            "character U+{:04X} is not allowed in XML",
            u32::from(bad)
        )));
    }
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if trim_xml(text).is_empty() => Ok(()),
        None => Err(ParseError::syntax("text outside the root element")),
    }
}

/// Resolves `&name;`: only the five entities XML predefines and numeric character references.
/// Every other name, including ones declared in a DOCTYPE's internal subset, is refused: that
/// is what makes entity-expansion bombs harmless.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, ParseError> {
    let invalid = || {
        ParseError::syntax(format!(
            "invalid character reference &{};",
            shorten(reference)
        ))
    };
    match reference.resolve_char_ref() {
        Ok(Some(c)) if is_xml_char(c) => return Ok(c),
        Ok(Some(_)) | Err(_) => return Err(invalid()),
        Ok(None) => {}
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(ParseError::syntax(format!(
            "entity reference &{};: only the predefined XML entities and character \
             references are allowed",
            shorten(other)
        ))),
    }
}

/// XML 1.0's `Char` production. Rust's `char` already excludes surrogates.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML 1.0 (fifth edition) `Name`: quick-xml does not check names, and a document with an
/// element called `1x` is not XML.
fn is_xml_name(name: &str) -> bool {
    fn is_start(c: char) -> bool {
        matches!(c,
            ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
            | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
            | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
            | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    }
    fn is_rest(c: char) -> bool {
        is_start(c)
            || matches!(c,
                '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    }
    let mut chars = name.chars();
    chars.next().is_some_and(is_start) && chars.all(is_rest)
}

/// Trims XML whitespace (space, tab, CR, LF) only: other Unicode spaces are data.
fn trim_xml(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Cuts an input-derived string for use in an error detail.
fn shorten(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(DETAIL_VALUE_MAX) {
        Some((end, _)) => Cow::Owned(format!("{}...", &s[..end])),
        None => Cow::Borrowed(s),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 2: element tree to typed message.

/// The children of `<request>` that name the operation.
const OPERATIONS: [&str; 3] = ["login", "logout", "logoutAll"];

/// The children of `<query>` that name the query type. `userDeviceProfileQuery` is the name
/// in Cisco's DevNet example; the DTD and working clients use `deviceProfileQuery`.
const QUERY_TYPES: [&str; 5] = [
    "deviceUserQuery",
    "userDevicesQuery",
    "deviceProfileQuery",
    "userDeviceProfileQuery",
    "checkUser",
];

impl Element {
    /// The child called `name`, if any; a second one is an error.
    fn optional(&self, name: &str) -> Result<Option<&Element>, ParseError> {
        let mut matches = self.children.iter().filter(|c| c.name == name);
        let first = matches.next();
        if matches.next().is_some() {
            return Err(ParseError::syntax(format!(
                "element {name} appears more than once in {}",
                self.name
            )));
        }
        Ok(first)
    }

    /// The child called `name`, which must be there exactly once.
    fn required(&self, name: &str) -> Result<&Element, ParseError> {
        self.optional(name)?
            .ok_or_else(|| ParseError::syntax(format!("missing element {name} in {}", self.name)))
    }

    /// The text of the required child `name`, which must not be empty.
    fn required_text(&self, name: &str) -> Result<&str, ParseError> {
        let child = self.required(name)?;
        if child.text.is_empty() {
            return Err(ParseError::syntax(format!(
                "element {name} in {} is empty",
                self.name
            )));
        }
        Ok(&child.text)
    }

    /// The text of the optional child `name`; an empty element counts as absent.
    fn optional_text(&self, name: &str) -> Result<Option<&str>, ParseError> {
        Ok(self
            .optional(name)?
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty()))
    }

    /// The texts of every child called `name`: at least one, none empty (batch queries).
    fn texts(&self, name: &str) -> Result<Vec<String>, ParseError> {
        let mut out = Vec::new();
        for child in self.children.iter().filter(|c| c.name == name) {
            if child.text.is_empty() {
                return Err(ParseError::syntax(format!(
                    "element {name} in {} is empty",
                    self.name
                )));
            }
            out.push(child.text.clone());
        }
        if out.is_empty() {
            return Err(ParseError::syntax(format!(
                "missing element {name} in {}",
                self.name
            )));
        }
        Ok(out)
    }

    /// The children whose names are in `names`, in document order.
    fn children_among<'a>(&'a self, names: &'a [&str]) -> Vec<&'a Element> {
        self.children
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .collect()
    }
}

fn parse_request(root: &Element) -> Result<EmMessage, ParseError> {
    let app = parse_app_info(root.required("appInfo")?)?;
    let op = match root.children_among(&OPERATIONS).as_slice() {
        [] => {
            return Err(ParseError::syntax(
                "request has no login, logout or logoutAll",
            ));
        }
        [op] => *op,
        [..] => {
            return Err(ParseError::syntax(
                "request has more than one of login, logout, logoutAll",
            ));
        }
    };
    let origin = parse_origin(op)?;
    let op = match op.name.as_str() {
        "login" => Operation::Login(Login {
            device_name: op.required_text("deviceName")?.to_string(),
            user_id: decode_user_id(op.required_text("userID")?),
            device_profile: op.optional_text("deviceProfile")?.map(str::to_string),
            exclusive_duration: op
                .optional("exclusiveDuration")?
                .map(parse_exclusive_duration)
                .transpose()?,
            origin,
        }),
        "logout" => Operation::Logout(Logout {
            device_name: op.required_text("deviceName")?.to_string(),
            origin,
        }),
        _ => Operation::LogoutAll { origin },
    };
    Ok(EmMessage::Request { app, op })
}

fn parse_query(root: &Element) -> Result<EmMessage, ParseError> {
    let app = parse_app_info(root.required("appInfo")?)?;
    let child = match root.children_among(&QUERY_TYPES).as_slice() {
        [child] => *child,
        [] => {
            let detail = match root.children.iter().find(|c| c.name != "appInfo") {
                Some(unknown) => format!("unknown query type {}", shorten(&unknown.name)),
                None => "query has no deviceUserQuery, userDevicesQuery, deviceProfileQuery \
                         or checkUser"
                    .to_string(),
            };
            return Err(ParseError::query_type(detail));
        }
        [..] => {
            return Err(ParseError::syntax(
                "query has more than one query type element",
            ));
        }
    };
    let origin = parse_origin(child)?;
    let query = match child.name.as_str() {
        "deviceUserQuery" => Query::DeviceUser {
            device_names: child.texts("deviceName")?,
        },
        "userDevicesQuery" => Query::UserDevices {
            user_ids: user_ids(child)?,
        },
        "checkUser" => Query::CheckUser {
            user_ids: user_ids(child)?,
        },
        _ => Query::DeviceProfile {
            user_ids: user_ids(child)?,
        },
    };
    Ok(EmMessage::Query { app, query, origin })
}

/// The `userID` children of a query, percent-decoded.
fn user_ids(query: &Element) -> Result<Vec<String>, ParseError> {
    Ok(query
        .texts("userID")?
        .iter()
        .map(|id| decode_user_id(id))
        .collect())
}

fn parse_app_info(app: &Element) -> Result<AppInfo, ParseError> {
    let app_id = app.required_text("appID")?.to_string();
    // An empty certificate is a wrong password, not a malformed document: authentication
    // answers it (code 3), which is what a client developer needs to hear.
    let plain = app.optional("appCertificate")?;
    let encrypted = app.optional("appEncryptedCertificate")?;
    let certificate = match (plain, encrypted) {
        (Some(c), None) => Credential::Plain(c.text.clone()),
        (None, Some(c)) => Credential::Encrypted(c.text.clone()),
        (None, None) => {
            return Err(ParseError::syntax(
                "missing element appCertificate or appEncryptedCertificate in appInfo",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ParseError::syntax(
                "appInfo has both appCertificate and appEncryptedCertificate",
            ));
        }
    };
    Ok(AppInfo {
        app_id,
        certificate,
    })
}

/// `remoteIPAddr`, `isViaHeaderSet` and `loginType` of an operation or query element.
fn parse_origin(el: &Element) -> Result<Origin, ParseError> {
    let via_header_set = match el.optional("isViaHeaderSet")? {
        None => None,
        Some(v) if v.text.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.text.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => {
            return Err(ParseError::syntax(format!(
                "isViaHeaderSet in {} must be true or false, not \"{}\"",
                el.name,
                shorten(&v.text)
            )));
        }
    };
    Ok(Origin {
        remote_ip: el.optional_text("remoteIPAddr")?.map(str::to_string),
        via_header_set,
        login_type: el.optional_text("loginType")?.map(str::to_string),
    })
}

fn parse_exclusive_duration(el: &Element) -> Result<ExclusiveDuration, ParseError> {
    match (el.optional("time")?, el.optional("indefinite")?) {
        (Some(time), None) => parse_minutes(&time.text).map(ExclusiveDuration::Minutes),
        (None, Some(_)) => Ok(ExclusiveDuration::Indefinite),
        (None, None) => Err(ParseError::syntax(
            "exclusiveDuration has neither time nor indefinite",
        )),
        (Some(_), Some(_)) => Err(ParseError::syntax(
            "exclusiveDuration has both time and indefinite",
        )),
    }
}

/// Minutes as ASCII digits only: `u32::from_str` would also take `+5`, which no client sends.
fn parse_minutes(text: &str) -> Result<u32, ParseError> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u32>().ok())
        .flatten()
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            ParseError::syntax(format!(
                "exclusiveDuration/time must be a positive whole number of minutes, not \"{}\"",
                shorten(text)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const APP: &str =
        "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
    const EMAPP: &str = "<appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>";

    fn app() -> AppInfo {
        AppInfo {
            app_id: "appid".into(),
            certificate: Credential::Plain("apppasswd".into()),
        }
    }

    fn emapp() -> AppInfo {
        AppInfo {
            app_id: "CCMSysUser".into(),
            certificate: Credential::Encrypted("xxxxxxx".into()),
        }
    }

    fn request(op: &str) -> String {
        format!("<request>{APP}{op}</request>")
    }

    fn query(q: &str) -> String {
        format!("<query>{APP}{q}</query>")
    }

    fn op(xml: &str) -> Operation {
        match parse(xml) {
            Ok(EmMessage::Request { op, .. }) => op,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn q(xml: &str) -> (Query, Origin) {
        match parse(xml) {
            Ok(EmMessage::Query { query, origin, .. }) => (query, origin),
            other => panic!("expected a query, got {other:?}"),
        }
    }

    /// Asserts `xml` fails with `code` and a detail containing `needle`.
    #[track_caller]
    fn fails(xml: &str, code: ErrorCode, needle: &str) {
        match parse(xml) {
            Err(e) => {
                assert_eq!(e.code, code, "{e}");
                assert!(
                    e.detail.contains(needle),
                    "detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
            Ok(m) => panic!("expected error {code}, parsed {m:?}"),
        }
    }

    fn login(device: &str, user: &str) -> Login {
        Login {
            device_name: device.into(),
            user_id: user.into(),
            device_profile: None,
            exclusive_duration: None,
            origin: Origin::default(),
        }
    }

    // --- Cisco's examples, em-api.md §2.5 to §2.11 ------------------------------------------

    #[test]
    fn cisco_login() {
        let xml = "<request>
  <appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>
  <login>
    <deviceName>SEP003094C25B15</deviceName>
    <userID>john</userID>
    <deviceProfile>UserDevProf</deviceProfile>          <!-- optional -->
    <exclusiveDuration><time>60</time></exclusiveDuration>  <!-- optional; or <indefinite/> -->
  </login>
</request>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    device_profile: Some("UserDevProf".into()),
                    exclusive_duration: Some(ExclusiveDuration::Minutes(60)),
                    ..login("SEP003094C25B15", "john")
                }),
            })
        );
    }

    #[test]
    fn login_minimal_and_indefinite() {
        let xml = request("<login><deviceName>SEP1</deviceName><userID>john</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));

        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID>\
             <exclusiveDuration><indefinite/></exclusiveDuration></login>",
        );
        let Operation::Login(l) = op(&xml) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Indefinite));

        // <indefinite></indefinite> is the same element.
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID>\
             <exclusiveDuration><indefinite></indefinite></exclusiveDuration></login>",
        );
        let Operation::Login(l) = op(&xml) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Indefinite));
    }

    #[test]
    fn login_with_empty_profile_has_none() {
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID><deviceProfile/></login>",
        );
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID><deviceProfile>  </deviceProfile></login>",
        );
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));
    }

    #[test]
    fn login_with_origin_and_login_type() {
        let xml = format!(
            "<request>{EMAPP}<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID>\
             <remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>FALSE</isViaHeaderSet>\
             <loginType>UID</loginType></login></request>"
        );
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Request {
                app: emapp(),
                op: Operation::Login(Login {
                    origin: Origin {
                        remote_ip: Some("10.65.40.61".into()),
                        via_header_set: Some(false),
                        login_type: Some("UID".into()),
                    },
                    ..login("SEP1", "em@cisco.com")
                }),
            })
        );
    }

    #[test]
    fn cisco_logout() {
        let xml = request("<logout><deviceName>SEP003094C25B15</deviceName></logout>");
        assert_eq!(
            op(&xml),
            Operation::Logout(Logout {
                device_name: "SEP003094C25B15".into(),
                origin: Origin::default()
            })
        );
    }

    #[test]
    fn emapp_logout_trace() {
        let xml = "<request><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<logout><deviceName>test_secure</deviceName><remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></logout></request>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Request {
                app: emapp(),
                op: Operation::Logout(Logout {
                    device_name: "test_secure".into(),
                    origin: Origin {
                        remote_ip: Some("10.65.40.61".into()),
                        via_header_set: Some(false),
                        login_type: None,
                    },
                }),
            })
        );
    }

    #[test]
    fn cisco_logout_all() {
        assert_eq!(
            op(&request("<logoutAll></logoutAll>")),
            Operation::LogoutAll {
                origin: Origin::default()
            }
        );
        assert_eq!(
            op(&request("<logoutAll/>")),
            Operation::LogoutAll {
                origin: Origin::default()
            }
        );
        let xml = request(
            "<logoutAll><remoteIPAddr>10.0.0.1</remoteIPAddr><isViaHeaderSet>True</isViaHeaderSet></logoutAll>",
        );
        assert_eq!(
            op(&xml),
            Operation::LogoutAll {
                origin: Origin {
                    remote_ip: Some("10.0.0.1".into()),
                    via_header_set: Some(true),
                    login_type: None
                }
            }
        );
    }

    #[test]
    fn cisco_device_user_query() {
        let xml =
            query("<deviceUserQuery><deviceName>SEP003094C25B15</deviceName></deviceUserQuery>");
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Query {
                app: app(),
                query: Query::DeviceUser {
                    device_names: vec!["SEP003094C25B15".into()]
                },
                origin: Origin::default(),
            })
        );
    }

    #[test]
    fn emapp_device_user_query_with_login_type() {
        let xml = "<query><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<deviceUserQuery><deviceName>SEP74A02FC09CDF</deviceName><loginType>DN</loginType><remoteIPAddr>10.106.99.235</remoteIPAddr></deviceUserQuery></query>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Query {
                app: emapp(),
                query: Query::DeviceUser {
                    device_names: vec!["SEP74A02FC09CDF".into()]
                },
                origin: Origin {
                    remote_ip: Some("10.106.99.235".into()),
                    via_header_set: None,
                    login_type: Some("DN".into()),
                },
            })
        );
    }

    #[test]
    fn cisco_user_devices_query() {
        let (query, _) = q(&query(
            "<userDevicesQuery><userID>john</userID></userDevicesQuery>",
        ));
        assert_eq!(
            query,
            Query::UserDevices {
                user_ids: vec!["john".into()]
            }
        );
    }

    #[test]
    fn cisco_device_profile_query_and_alias() {
        let (query1, _) = q(&query(
            "<deviceProfileQuery><userID>john</userID></deviceProfileQuery>",
        ));
        let (query2, _) = q(&query(
            "<userDeviceProfileQuery><userID>john</userID></userDeviceProfileQuery>",
        ));
        assert_eq!(
            query1,
            Query::DeviceProfile {
                user_ids: vec!["john".into()]
            }
        );
        assert_eq!(query2, query1);
    }

    #[test]
    fn emapp_check_user_trace() {
        let xml = "<query><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<checkUser><userID>EMuser</userID><remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></checkUser></query>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Query {
                app: emapp(),
                query: Query::CheckUser {
                    user_ids: vec!["EMuser".into()]
                },
                origin: Origin {
                    remote_ip: Some("10.65.40.61".into()),
                    via_header_set: Some(false),
                    login_type: None,
                },
            })
        );
    }

    #[test]
    fn batch_queries() {
        let (query1, _) = q(&query(
            "<deviceUserQuery><deviceName>SEP1</deviceName><deviceName>SEP2</deviceName>\
             <deviceName>SEP3</deviceName></deviceUserQuery>",
        ));
        assert_eq!(
            query1,
            Query::DeviceUser {
                device_names: vec!["SEP1".into(), "SEP2".into(), "SEP3".into()]
            }
        );
        let (query2, _) = q(&query(
            "<userDevicesQuery><userID>john</userID><userID>em%40cisco.com</userID></userDevicesQuery>",
        ));
        assert_eq!(
            query2,
            Query::UserDevices {
                user_ids: vec!["john".into(), "em@cisco.com".into()]
            }
        );
        let (query3, _) = q(&query(
            "<checkUser><userID>a</userID><userID>b</userID></checkUser>",
        ));
        assert_eq!(
            query3,
            Query::CheckUser {
                user_ids: vec!["a".into(), "b".into()]
            }
        );
        let (query4, _) = q(&query(
            "<deviceProfileQuery><userID>a</userID><userID>b%20c</userID></deviceProfileQuery>",
        ));
        assert_eq!(
            query4,
            Query::DeviceProfile {
                user_ids: vec!["a".into(), "b c".into()]
            }
        );
    }

    #[test]
    fn batch_query_of_a_thousand_names_fits_the_limits() {
        let names: String = (0..1000)
            .map(|i| format!("<deviceName>SEP{i:012}</deviceName>"))
            .collect();
        let (query, _) = q(&query(&format!(
            "<deviceUserQuery>{names}</deviceUserQuery>"
        )));
        let Query::DeviceUser { device_names } = query else {
            panic!()
        };
        assert_eq!(device_names.len(), 1000);
    }

    // --- Encoding, whitespace, prolog -------------------------------------------------------

    #[test]
    fn percent_encoded_user_id_is_decoded() {
        let xml =
            request("<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "em@cisco.com")));
        // Not encoded, or not decodable: kept as sent.
        let xml = request("<login><deviceName>SEP1</deviceName><userID>50%off+x</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "50%off+x")));
    }

    #[test]
    fn whitespace_padded_pretty_printed_input() {
        let xml = "\n\n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
            .trim_start()
            .to_string()
            + "<request>\r\n\t<appInfo>\r\n\t\t<appID>\r\n\t\t\tappid\r\n\t\t</appID>\r\n\
               \t\t<appCertificate>  apppasswd  </appCertificate>\r\n\t</appInfo>\r\n\
               \t<login>\r\n\t\t<deviceName>  SEP1\t</deviceName>\r\n\
               \t\t<userID>\n john \n</userID>\r\n\
               \t\t<exclusiveDuration>\n\t\t\t<time> 30 </time>\n\t\t</exclusiveDuration>\r\n\
               \t</login>\r\n</request>\r\n\r\n";
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    exclusive_duration: Some(ExclusiveDuration::Minutes(30)),
                    ..login("SEP1", "john")
                }),
            })
        );
    }

    #[test]
    fn bom_declaration_comments_and_pis_are_ignored() {
        let xml = format!(
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><?pi x?>{}<!-- trailing -->\n",
            request("<logout><!-- inside --><deviceName>SEP1</deviceName></logout>")
        );
        assert!(matches!(op(&xml), Operation::Logout(l) if l.device_name == "SEP1"));
    }

    #[test]
    fn doctype_with_system_url_is_accepted_not_fetched() {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE query SYSTEM \"http://10.0.0.1:8080/emservice/jsp/LoginQuery.dtd\">\n{}",
            query("<deviceUserQuery><deviceName>SEP1</deviceName></deviceUserQuery>")
        );
        let (query, _) = q(&xml);
        assert_eq!(
            query,
            Query::DeviceUser {
                device_names: vec!["SEP1".into()]
            }
        );
        let xml = format!(
            "<!DOCTYPE request PUBLIC \"-//x//y\" \"file:///etc/passwd\">{}",
            request("<logoutAll/>")
        );
        assert!(matches!(op(&xml), Operation::LogoutAll { .. }));
    }

    const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE request [
 <!ENTITY lol "lol">
 <!ELEMENT request (#PCDATA)>
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"#;

    #[test]
    fn billion_laughs_entity_is_refused_not_expanded() {
        let start = Instant::now();
        let xml = format!(
            "{LAUGHS}<request><appInfo><appID>&lol9;</appID><appCertificate>x</appCertificate>\
             </appInfo><logoutAll/></request>"
        );
        fails(&xml, ErrorCode::Parsing, "&lol9;");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        // The DOCTYPE alone, with its entities unused, is harmless and ignored.
        let xml = format!("{LAUGHS}{}", request("<logoutAll/>"));
        assert!(matches!(op(&xml), Operation::LogoutAll { .. }));
    }

    #[test]
    fn predefined_entities_char_refs_and_cdata_are_text() {
        let xml = request(
            "<login><deviceName>a&amp;b&lt;c&gt;d&apos;e&quot;f&#65;&#x42;</deviceName>\
             <userID><![CDATA[j<o>&hn]]></userID></login>",
        );
        assert_eq!(
            op(&xml),
            Operation::Login(login("a&b<c>d'e\"fAB", "j<o>&hn"))
        );
    }

    #[test]
    fn bad_references_and_characters_are_refused() {
        for text in [
            "&nbsp;",
            "&#0;",
            "&#1;",
            "&#xFFFE;",
            "&#x110000;",
            "&#xZZ;",
            "a & b",
            "\u{1}",
        ] {
            let xml = request(&format!(
                "<login><deviceName>{text}</deviceName><userID>j</userID></login>"
            ));
            let err = parse(&xml).expect_err(text);
            assert_eq!(err.code, ErrorCode::Parsing, "{text}: {err}");
        }
    }

    // --- Malformed documents ----------------------------------------------------------------

    #[test]
    fn malformed_xml_is_code_1() {
        // Most documents are a valid request with one defect spliced in, so that the error
        // can only come from the defect.
        let valid = |inner: &str| format!("<request>{APP}<logoutAll/>{inner}</request>");
        let v = valid("");
        let cases = [
            String::new(),
            "   \n ".into(),
            "<!-- only a comment -->".into(),
            "<?xml version=\"1.0\"?>".into(),
            "not xml".into(),
            format!("<request>{APP}<logoutAll/>"),
            format!("<request>{APP}<logoutAll></request>"),
            format!("<request>{APP}<logoutAll/></query>"),
            format!("</request>{v}"),
            valid("<a></A>"),
            valid("<a></b>"),
            valid("<x attr=>"),
            valid("<x a/>"),
            valid("<x a=\"1/>"),
            valid("<1x/>"),
            valid("<x\u{1}/>"),
            valid("<!-- bad -- comment -->"),
            valid("<![CDATA[x"),
            valid("<!DOCTYPE x>"),
            format!("{v}<request/>"),
            format!("{v}trailing"),
            format!("text{v}"),
            format!("{v}&amp;"),
            format!("{v}<!DOCTYPE x>"),
            format!("{v}<?pi after?>"),
            format!("{v}<?xml version=\"1.0\"?>"),
            format!("<!-- c --><?xml version=\"1.0\"?>{v}"),
            format!("<!DOCTYPE request><!DOCTYPE request>{v}"),
        ];
        assert!(parse(&v).is_ok());
        for xml in &cases {
            let err = parse(xml).expect_err(xml);
            assert_eq!(err.code, ErrorCode::Parsing, "{xml:?}: {err}");
            assert!(
                !err.detail.contains("missing") && !err.detail.contains("has no"),
                "{xml:?}: {err}"
            );
        }
    }

    #[test]
    fn wrong_root_is_code_1() {
        fails(
            "<response><success/></response>",
            ErrorCode::Parsing,
            "unknown root element response",
        );
        fails(
            &format!("<Request>{APP}<logoutAll/></Request>"),
            ErrorCode::Parsing,
            "Request",
        );
        fails(
            &format!("<em:request xmlns:em=\"x\">{APP}<logoutAll/></em:request>"),
            ErrorCode::Parsing,
            "em:request",
        );
    }

    #[test]
    fn request_structure_errors() {
        fails(
            "<request><logoutAll/></request>",
            ErrorCode::Parsing,
            "missing element appInfo",
        );
        fails(
            &format!("<request>{APP}</request>"),
            ErrorCode::Parsing,
            "request has no login, logout or logoutAll",
        );
        fails(
            &request("<Login/>"),
            ErrorCode::Parsing,
            "request has no login",
        );
        fails(
            &request("<logout><deviceName>a</deviceName></logout><logoutAll/>"),
            ErrorCode::Parsing,
            "more than one",
        );
        fails(
            &format!("<request>{APP}{APP}<logoutAll/></request>"),
            ErrorCode::Parsing,
            "appInfo appears more than once",
        );
        // Unknown extra children are ignored.
        assert!(matches!(
            op(&request("<extra>1</extra><logoutAll><future/></logoutAll>")),
            Operation::LogoutAll { .. }
        ));
    }

    #[test]
    fn app_info_errors() {
        let with_app =
            |app: &str| format!("<request><appInfo>{app}</appInfo><logoutAll/></request>");
        fails(
            &with_app("<appCertificate>x</appCertificate>"),
            ErrorCode::Parsing,
            "missing element appID in appInfo",
        );
        fails(
            &with_app("<appID> </appID><appCertificate>x</appCertificate>"),
            ErrorCode::Parsing,
            "appID in appInfo is empty",
        );
        fails(
            &with_app("<appID>a</appID>"),
            ErrorCode::Parsing,
            "appCertificate",
        );
        fails(
            &with_app(
                "<appID>a</appID><appCertificate>x</appCertificate><appEncryptedCertificate>y</appEncryptedCertificate>",
            ),
            ErrorCode::Parsing,
            "both",
        );
        // An empty certificate is left to authentication.
        let Ok(EmMessage::Request { app, .. }) =
            parse(&with_app("<appID>a</appID><appCertificate/>"))
        else {
            panic!()
        };
        assert_eq!(app.certificate, Credential::Plain(String::new()));
    }

    #[test]
    fn missing_or_empty_device_name_and_user_id() {
        fails(
            &request("<login><userID>john</userID></login>"),
            ErrorCode::Parsing,
            "missing element deviceName in login",
        );
        fails(
            &request("<login><deviceName/><userID>john</userID></login>"),
            ErrorCode::Parsing,
            "deviceName in login is empty",
        );
        fails(
            &request("<login><deviceName>SEP1</deviceName></login>"),
            ErrorCode::Parsing,
            "missing element userID in login",
        );
        fails(
            &request("<login><deviceName>SEP1</deviceName><userID> </userID></login>"),
            ErrorCode::Parsing,
            "userID in login is empty",
        );
        fails(
            &request("<logout></logout>"),
            ErrorCode::Parsing,
            "missing element deviceName in logout",
        );
        fails(
            &request("<logout><deviceName>a</deviceName><deviceName>b</deviceName></logout>"),
            ErrorCode::Parsing,
            "deviceName appears more than once in logout",
        );
    }

    #[test]
    fn bad_exclusive_duration() {
        let with = |d: &str| {
            request(&format!(
                "<login><deviceName>SEP1</deviceName><userID>j</userID><exclusiveDuration>{d}</exclusiveDuration></login>"
            ))
        };
        for time in [
            "abc",
            "0",
            "-5",
            "99999999999",
            "4294967296",
            "+5",
            "1.5",
            "",
            "6 0",
            "٣",
        ] {
            fails(
                &with(&format!("<time>{time}</time>")),
                ErrorCode::Parsing,
                "exclusiveDuration/time must be a positive whole number of minutes",
            );
        }
        let Operation::Login(l) = op(&with("<time>4294967295</time>")) else {
            panic!()
        };
        assert_eq!(
            l.exclusive_duration,
            Some(ExclusiveDuration::Minutes(u32::MAX))
        );
        let Operation::Login(l) = op(&with("<time>0060</time>")) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Minutes(60)));
        fails(&with(""), ErrorCode::Parsing, "neither time nor indefinite");
        fails(
            &with("<time>5</time><indefinite/>"),
            ErrorCode::Parsing,
            "both time and indefinite",
        );
    }

    #[test]
    fn bad_is_via_header_set() {
        for value in ["yes", "1", "", "truee"] {
            fails(
                &request(&format!(
                    "<logoutAll><isViaHeaderSet>{value}</isViaHeaderSet></logoutAll>"
                )),
                ErrorCode::Parsing,
                "isViaHeaderSet in logoutAll must be true or false",
            );
        }
    }

    #[test]
    fn unknown_query_child_is_code_8() {
        fails(
            &query("<fooQuery><userID>x</userID></fooQuery>"),
            ErrorCode::QueryTypeUndetermined,
            "unknown query type fooQuery",
        );
        fails(
            &query("<DeviceUserQuery/>"),
            ErrorCode::QueryTypeUndetermined,
            "DeviceUserQuery",
        );
        fails(
            &query(""),
            ErrorCode::QueryTypeUndetermined,
            "query has no deviceUserQuery",
        );
        // A known query type wins over unknown siblings.
        let (query, _) = q(&query(
            "<fooQuery/><checkUser><userID>x</userID></checkUser>",
        ));
        assert_eq!(
            query,
            Query::CheckUser {
                user_ids: vec!["x".into()]
            }
        );
    }

    #[test]
    fn query_structure_errors() {
        fails(
            "<query><checkUser><userID>x</userID></checkUser></query>",
            ErrorCode::Parsing,
            "missing element appInfo in query",
        );
        fails(
            &query("<deviceUserQuery/>"),
            ErrorCode::Parsing,
            "missing element deviceName in deviceUserQuery",
        );
        fails(
            &query("<deviceUserQuery><userID>x</userID></deviceUserQuery>"),
            ErrorCode::Parsing,
            "deviceName",
        );
        fails(
            &query("<userDevicesQuery></userDevicesQuery>"),
            ErrorCode::Parsing,
            "missing element userID in userDevicesQuery",
        );
        fails(
            &query("<checkUser><userID>a</userID><userID/></checkUser>"),
            ErrorCode::Parsing,
            "userID in checkUser is empty",
        );
        fails(
            &query("<deviceProfileQuery><userID></userID></deviceProfileQuery>"),
            ErrorCode::Parsing,
            "userID in deviceProfileQuery is empty",
        );
        fails(
            &query(
                "<checkUser><userID>a</userID></checkUser><deviceUserQuery><deviceName>b</deviceName></deviceUserQuery>",
            ),
            ErrorCode::Parsing,
            "more than one",
        );
        fails(
            &query(
                "<checkUser><userID>a</userID><isViaHeaderSet>maybe</isViaHeaderSet></checkUser>",
            ),
            ErrorCode::Parsing,
            "isViaHeaderSet in checkUser",
        );
    }

    // --- Limits -----------------------------------------------------------------------------

    #[test]
    fn depth_bomb_is_refused() {
        let nested = |depth: usize| {
            let inner = "<a>".repeat(depth) + &"</a>".repeat(depth);
            request(&format!("<logoutAll>{inner}</logoutAll>"))
        };
        // request + logoutAll + 14 = 16 levels: fine.
        assert!(matches!(
            op(&nested(MAX_DEPTH - 2)),
            Operation::LogoutAll { .. }
        ));
        fails(
            &nested(MAX_DEPTH - 1),
            ErrorCode::Parsing,
            "nested deeper than 16",
        );
        // A huge one fails just as fast, long before the end of the input.
        let start = Instant::now();
        fails(
            &"<a>".repeat(1_000_000),
            ErrorCode::Parsing,
            "nested deeper",
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn element_count_bomb_is_refused() {
        // request, appInfo, appID, appCertificate, logoutAll: 5 elements, plus n.
        let with = |n: usize| request(&format!("<logoutAll>{}</logoutAll>", "<x/>".repeat(n)));
        assert!(matches!(
            op(&with(MAX_ELEMENTS - 5)),
            Operation::LogoutAll { .. }
        ));
        fails(
            &with(MAX_ELEMENTS - 4),
            ErrorCode::Parsing,
            "too many elements",
        );
        fails(&with(1_000_000), ErrorCode::Parsing, "too many elements");
    }

    #[test]
    fn details_quote_input_briefly() {
        let long = "x".repeat(10_000);
        let err = parse(&format!("<{long}/>")).unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail.len());
        let err = parse(&query(&format!("<{long}/>"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::QueryTypeUndetermined);
        assert!(err.detail.len() < 200);
    }

    #[test]
    fn xml_errors_quote_tag_names_briefly() {
        // Found while writing tests/never_panics.rs (its detail-length check): quick-xml's own
        // messages quote tag names in full, so one long mismatched pair gave a detail twice
        // the size of the document.
        let long = "b".repeat(10_000);
        let long_mb = "é".repeat(10_000);
        for xml in [
            format!("<a></{long}>"),
            format!("<{long}></a>"),
            format!("<{long}></{long}x>"),
            format!("<{long_mb}></{long_mb}x>"),
            format!("<request>{APP}<logoutAll/></{long}>"),
        ] {
            let err = parse(&xml).unwrap_err();
            assert_eq!(err.code, ErrorCode::Parsing);
            assert!(err.detail.chars().count() < 250, "{}", err.detail);
            // Both names cut, quick-xml's wording kept whole.
            assert!(
                err.detail.contains("ill-formed document: expected `</")
                    && err.detail.ends_with("` was found"),
                "{err}"
            );
        }
        let err = parse(&format!("<a></{long}>")).unwrap_err();
        assert_eq!(
            err.detail,
            format!(
                "malformed XML at byte 3: ill-formed document: expected `</a>`, but `</{}...>` \
                 was found",
                &long[..DETAIL_VALUE_MAX]
            )
        );
    }

    #[test]
    fn error_display_and_failure() {
        let err = parse("<request><logoutAll/></request>").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error on Parsing: missing element appInfo in request"
        );
        let failure = crate::Failure::from(err);
        assert_eq!(failure.code, ErrorCode::Parsing);
        assert_eq!(
            failure.message,
            "Error on Parsing: missing element appInfo in request"
        );
    }

    #[test]
    fn never_panics_on_truncations_of_a_valid_document() {
        let xml = format!(
            "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY e \"x\">]><request>{APP}\
             <login><deviceName>S&amp;P</deviceName><userID><![CDATA[jürgen]]></userID>\
             <exclusiveDuration><time>5</time></exclusiveDuration></login></request>"
        );
        assert!(parse(&xml).is_ok());
        for (i, _) in xml.char_indices() {
            let _ = parse(&xml[..i]);
            let _ = parse(&xml[i..]);
        }
    }
}
