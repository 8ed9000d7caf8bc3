//! NBI XML text to an [`Element`] tree and back.
//!
//! Reading is `crate::tree`'s, shared with EM's parser: one root element, at most
//! [`MAX_DEPTH`] levels and [`MAX_ELEMENTS`] elements, only the five predefined entities and
//! character references, nothing but XML 1.0 characters. It differs where the NBI differs:
//! element names lose their namespace prefix (CSM's clients send `csm:loginRequest` as often
//! as `loginRequest`), a `<!DOCTYPE>` is refused outright (an XSD-described API has no use
//! for one), and comments and processing instructions may follow the root.

use std::borrow::Cow;
use std::fmt::Write as _;

pub(super) use crate::tree::shorten;
use crate::tree::{
    DoctypePolicy, Limits, NamePolicy, TreeErrorKind, is_name_char, is_name_start, read_tree,
};
pub use crate::tree::{Element, is_ncname};

use super::{NbiCode, NbiError};

/// The deepest element nesting accepted; the root is at depth 1.
pub const MAX_DEPTH: usize = 32;

/// The most elements one request may hold, counting every start and empty-element tag, root
/// included.
pub const MAX_ELEMENTS: usize = 10_000;

/// What an NBI request may hold.
const LIMITS: Limits = Limits {
    max_depth: MAX_DEPTH,
    max_elements: MAX_ELEMENTS,
    // Never needed by an NBI client; refusing it means no entity of an internal subset can
    // ever be declared, let alone expanded.
    doctype: DoctypePolicy::Refuse,
    names: NamePolicy::Local,
    pi_after_root: true,
};

impl Element {
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
    read_tree(body, &LIMITS).map_err(|e| match e.kind {
        TreeErrorKind::Empty => NbiError::new(NbiCode::EmptyPayload),
        _ => invalid(e.detail),
    })
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
