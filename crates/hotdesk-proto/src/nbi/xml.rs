//! NBI XML text to an [`Element`] tree and back.
//!
//! Reading follows `crate::parse`'s rules for safety: one root element, at most
//! [`MAX_DEPTH`] levels and [`MAX_ELEMENTS`] elements, only the five predefined entities and
//! character references, nothing but XML 1.0 characters. It differs where the NBI differs:
//! element names lose their namespace prefix (CSM's clients send `csm:loginRequest` as often
//! as `loginRequest`), a `<!DOCTYPE>` is refused outright (an XSD-described API has no use
//! for one), and comments and processing instructions may follow the root.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::errors::IllFormedError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Error as XmlError, Reader};

use super::{NbiCode, NbiError};

/// The deepest element nesting accepted; the root is at depth 1.
pub const MAX_DEPTH: usize = 32;

/// The most elements one request may hold, counting every start and empty-element tag, root
/// included.
pub const MAX_ELEMENTS: usize = 10_000;

/// Input-derived names and values are cut to this many characters in error details, so that a
/// hostile request cannot make the error answer as large as itself.
const DETAIL_VALUE_MAX: usize = 64;

/// quick-xml's own messages are cut to this many characters, once the names they quote are cut
/// to [`DETAIL_VALUE_MAX`].
const XML_MESSAGE_MAX: usize = 200;

/// A parsed XML element: its local name (any namespace prefix stripped), its own character
/// data (entities decoded, CDATA as text, trimmed of XML whitespace) and its child elements in
/// document order. Attributes are not kept.
///
/// The same type builds answers: [`write_element`] writes the text, then the children.
///
/// ```
/// use hotdesk_proto::nbi::Element;
/// let user = Element::new("user")
///     .field("username", "alice")
///     .child(Element::new("profiles").field("profile", "P1").field("profile", "P2"));
/// assert_eq!(user.text_of("username"), Some("alice"));
/// let profiles: Vec<&str> = user.get("profiles").unwrap().all("profile").map(|p| p.text.as_str()).collect();
/// assert_eq!(profiles, ["P1", "P2"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// An empty element.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Element::default()
        }
    }

    /// An element holding only text.
    pub fn with_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            text: text.into(),
            children: Vec::new(),
        }
    }

    /// Appends a child in place.
    pub fn push(&mut self, child: Element) -> &mut Self {
        self.children.push(child);
        self
    }

    /// Appends a child, builder style.
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// Appends `<name>text</name>`, builder style.
    pub fn field(self, name: &str, text: impl Into<String>) -> Self {
        self.child(Element::with_text(name, text))
    }

    /// The first child called `name`.
    pub fn get(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child called `name`, in document order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child called `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.get(name).map(|c| c.text.as_str())
    }

    /// The child called `name`, if any. A second one is an error (15), so that no two readers
    /// of one request can disagree about which value counts.
    pub fn optional(&self, name: &str) -> Result<Option<&Element>, NbiError> {
        let mut matches = self.children.iter().filter(|c| c.name == name);
        let first = matches.next();
        if matches.next().is_some() {
            return Err(invalid(format!(
                "element {name} appears more than once in {}",
                shorten(&self.name)
            )));
        }
        Ok(first)
    }

    /// The child called `name`, which must be there exactly once (else 15).
    pub fn required(&self, name: &str) -> Result<&Element, NbiError> {
        self.optional(name)?
            .ok_or_else(|| invalid(format!("missing element {name} in {}", shorten(&self.name))))
    }
}

/// Code 15 with `detail`.
pub(super) fn invalid(detail: impl std::fmt::Display) -> NbiError {
    NbiError::with_detail(NbiCode::InvalidXml, detail)
}

/// Parses an NBI request body into its root element.
///
/// An empty or whitespace-only body, or one without a root element (only a declaration or
/// comments), is code 13. Anything that is not a well-formed document is code 15 with a short
/// detail: malformed XML, a `<!DOCTYPE>`, an entity other than the five predefined ones,
/// characters XML forbids, nesting deeper than [`MAX_DEPTH`], more than [`MAX_ELEMENTS`]
/// elements, text or elements after the root. Namespace prefixes and declarations are
/// accepted and ignored. Never panics.
///
/// ```
/// use hotdesk_proto::nbi::{parse_request, NbiCode};
/// let root = parse_request(r#"<csm:logoutRequest xmlns:csm="csm"><reqId>7</reqId></csm:logoutRequest>"#).unwrap();
/// assert_eq!(root.name, "logoutRequest");
/// assert_eq!(root.text_of("reqId"), Some("7"));
/// assert_eq!(parse_request("  ").unwrap_err().code, NbiCode::EmptyPayload);
/// assert_eq!(parse_request("<a>").unwrap_err().code, NbiCode::InvalidXml);
/// ```
pub fn parse_request(body: &str) -> Result<Element, NbiError> {
    // A UTF-8 BOM is legal at the start of an XML document; some Windows clients send one.
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    if trim_xml(body).is_empty() {
        return Err(NbiError::new(NbiCode::EmptyPayload));
    }
    let mut reader = Reader::from_str(body);
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

    loop {
        let event = reader.read_event().map_err(|e| {
            invalid(format!(
                "malformed XML at byte {}: {}",
                reader.error_position(),
                xml_error_message(e)
            ))
        })?;
        let is_blank = matches!(&event, Event::Text(t) if trim_xml(t).is_empty());
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(invalid("content after the root element"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(invalid(format!(
                        "too many elements: more than {MAX_ELEMENTS}"
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(invalid(format!(
                        "elements nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                let element = Element::new(local_name(start)?);
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
                    .ok_or_else(|| invalid("end tag without a start tag"))?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(text) => append_text(&mut stack, &text.xml10_content())?,
            Event::CData(cdata) => append_text(&mut stack, &cdata.xml10_content())?,
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                append_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => {
                // Never needed by an NBI client; refusing it means no entity of an internal
                // subset can ever be declared, let alone expanded.
                return Err(invalid("DOCTYPE is not allowed"));
            }
            Event::Decl(_) if seen_markup => {
                return Err(invalid("XML declaration not at the start of the document"));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        seen_markup |= !is_blank;
    }

    if let Some(open) = stack.last() {
        return Err(invalid(format!("unclosed element {}", shorten(&open.name))));
    }
    root.ok_or_else(|| NbiError::new(NbiCode::EmptyPayload))
}

/// The local name of a start tag, after checking that the whole name is a namespace-valid
/// XML name: `local` or `prefix:local`, both parts `NCName`s.
fn local_name(start: &BytesStart<'_>) -> Result<String, NbiError> {
    let qname = start.name().into_inner();
    let valid = match qname.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(qname),
    };
    if !valid {
        return Err(invalid(format!("invalid element name {}", shorten(qname))));
    }
    // Attributes are ignored, but a malformed one still makes the document malformed.
    // Duplicate checks are off: they are quadratic in the count.
    if let Some(Err(e)) = start.attributes().with_checks(false).find(Result::is_err) {
        return Err(invalid(format!(
            "malformed attribute in element {}: {e}",
            shorten(qname)
        )));
    }
    Ok(start.local_name().into_inner().to_string())
}

/// quick-xml's message for `e`, with the names it quotes from the input cut like any other
/// input-derived value.
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
/// allowed; characters XML 1.0 forbids are refused anywhere.
fn append_text(stack: &mut [Element], text: &str) -> Result<(), NbiError> {
    if let Some(bad) = text.chars().find(|&c| !is_xml_char(c)) {
        return Err(invalid(format!(
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
        None => Err(invalid("text outside the root element")),
    }
}

/// Resolves `&name;`: only the five entities XML predefines and numeric character references.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, NbiError> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) if is_xml_char(c) => return Ok(c),
        Ok(Some(_)) | Err(_) => {
            return Err(invalid(format!(
                "invalid character reference &{};",
                shorten(reference)
            )));
        }
        Ok(None) => {}
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(invalid(format!(
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

/// XML 1.0 `NameStartChar`, without `:`.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 `NameChar`, without `:`.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `name` is an XML name without a colon (Namespaces in XML's `NCName`): what
/// [`write_element`] writes unchanged and what [`parse_request`] yields as a local name.
pub fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Trims XML whitespace (space, tab, CR, LF) only: other Unicode spaces are data.
fn trim_xml(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Cuts an input-derived string for use in an error detail.
pub(super) fn shorten(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(DETAIL_VALUE_MAX) {
        Some((end, _)) => Cow::Owned(format!("{}...", &s[..end])),
        None => Cow::Borrowed(s),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Writes `e` as compact XML (no prolog, no indentation): `<name>` + escaped text + children +
/// `</name>`, or `<name/>` when it has neither text nor children.
///
/// Text is escaped so that any string survives a conforming reader: `&`, `<`, `>` as entities;
/// tab, line feed and carriage return as character references (a reader would turn a literal
/// carriage return into a line feed); characters XML 1.0 cannot carry at all (most C0
/// controls, U+FFFE, U+FFFF) as U+FFFD. A name that is not an [`NCName`](is_ncname) has each
/// offending character replaced by `_` (and gets a leading `_` if it must), so the output is
/// well-formed whatever the tree holds. Deep trees do not recurse.
///
/// ```
/// use hotdesk_proto::nbi::{write_element, Element};
/// let mut out = String::new();
/// write_element(&mut out, &Element::new("a").field("b", "x<y").child(Element::new("c")));
/// assert_eq!(out, "<a><b>x&lt;y</b><c/></a>");
/// ```
pub fn write_element(out: &mut String, e: &Element) {
    // Open elements, each with the index of its next child to write.
    let mut stack: Vec<(&Element, usize)> = Vec::new();
    open(out, e, &mut stack);
    while let Some((element, next)) = stack.last_mut() {
        match element.children.get(*next) {
            Some(child) => {
                *next += 1;
                open(out, child, &mut stack);
            }
            None => {
                let _ = write!(out, "</{}>", xml_name(&element.name));
                stack.pop();
            }
        }
    }
}

/// Writes `e`'s start tag and text, or the whole of it if it has no children (pushing it on
/// `stack` otherwise).
fn open<'a>(out: &mut String, e: &'a Element, stack: &mut Vec<(&'a Element, usize)>) {
    let name = xml_name(&e.name);
    if e.text.is_empty() && e.children.is_empty() {
        let _ = write!(out, "<{name}/>");
        return;
    }
    let _ = write!(out, "<{name}>");
    escape_into(out, &e.text);
    if e.children.is_empty() {
        let _ = write!(out, "</{name}>");
    } else {
        stack.push((e, 0));
    }
}

/// `name` if it is an `NCName`, else a repaired copy.
pub(super) fn xml_name(name: &str) -> Cow<'_, str> {
    if is_ncname(name) {
        return Cow::Borrowed(name);
    }
    let mut fixed = String::with_capacity(name.len() + 1);
    if !name.chars().next().is_some_and(is_name_start) {
        fixed.push('_');
    }
    fixed.extend(name.chars().map(|c| if is_name_char(c) { c } else { '_' }));
    Cow::Owned(fixed)
}

/// Escapes `s` for element text (see [`write_element`]).
pub(super) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{20}'..='\u{FFFD}' | '\u{10000}'.. => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}
