//! XML text to an [`Element`] tree: the reading both wire formats share.
//!
//! [`read_tree`] enforces the XML rules that matter for safety: one root element, nesting and
//! element counts bounded by [`Limits`], no entity but the five predefined ones and character
//! references ever expanded (so a `<!DOCTYPE>` with an internal subset, "billion laughs",
//! costs nothing), nothing but XML 1.0 characters. Where EM and the NBI differ ([`Limits`]:
//! bounds, DOCTYPE, element names, processing instructions after the root), each passes its own
//! rules; each maps a [`TreeError`] onto its own error codes.

use std::borrow::Cow;

use quick_xml::errors::IllFormedError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Error as XmlError, Reader};

/// Input-derived names and values are cut to this many characters in error details, so that
/// a hostile document cannot make the error answer as large as itself.
pub(crate) const DETAIL_VALUE_MAX: usize = 64;

/// quick-xml's own error messages are cut to this many characters, once the names they quote
/// are cut to [`DETAIL_VALUE_MAX`]; the longest it writes today (a mismatched end tag with
/// both names cut) is 191. With its prefix, a detail stays under 256 characters.
const XML_MESSAGE_MAX: usize = 200;

/// A parsed XML element: its name, its own character data (entities decoded, CDATA as text,
/// trimmed of XML whitespace) and its child elements in document order. Attributes are not
/// kept. The name is as written for EM documents; NBI requests keep only the local name (any
/// namespace prefix stripped).
///
/// The same type builds NBI answers: [`write_element`](crate::nbi::write_element) writes the
/// text, then the children.
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
}

/// What one wire format accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The deepest element nesting accepted; the root is at depth 1.
    pub max_depth: usize,
    /// The most elements one document may hold, counting every start and empty-element tag,
    /// root included.
    pub max_elements: usize,
    pub doctype: DoctypePolicy,
    pub names: NamePolicy,
    /// Whether processing instructions may follow the root element (XML allows them there).
    pub pi_after_root: bool,
}

/// What to do with a `<!DOCTYPE>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DoctypePolicy {
    /// Accept one, before the root, and ignore it: its external id is never fetched and the
    /// entities of its internal subset never expanded (see [`resolve_reference`]).
    Ignore,
    /// Refuse any: no entity of an internal subset can then ever be declared.
    Refuse,
}

/// Which element names are accepted, and what [`Element::name`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamePolicy {
    /// Any XML 1.0 `Name` (colons anywhere), kept as written.
    Qualified,
    /// A namespace-valid name, `local` or `prefix:local` with both parts `NCName`s; only the
    /// local part is kept.
    Local,
}

/// What kind of document [`read_tree`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeErrorKind {
    /// No root element: nothing, whitespace, or only prolog material.
    Empty,
    /// Not well-formed, or not allowed by the rules common to both formats.
    Malformed,
    /// Nested deeper than [`Limits::max_depth`].
    TooDeep,
    /// More than [`Limits::max_elements`] elements.
    TooMany,
    /// A `<!DOCTYPE>` that [`Limits::doctype`] does not allow.
    Doctype,
}

/// Why [`read_tree`] refused a document, with a short English detail (input-derived parts cut
/// by [`shorten`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeError {
    pub kind: TreeErrorKind,
    pub detail: String,
}

impl TreeError {
    fn new(kind: TreeErrorKind, detail: impl Into<String>) -> Self {
        TreeError {
            kind,
            detail: detail.into(),
        }
    }

    fn malformed(detail: impl Into<String>) -> Self {
        TreeError::new(TreeErrorKind::Malformed, detail)
    }
}

/// Reads `xml` into a tree, enforcing `limits` and refusing anything but one root element
/// surrounded by prolog material (declaration, comments, processing instructions and, if
/// allowed, a DOCTYPE). A leading UTF-8 BOM is skipped. Never panics.
pub(crate) fn read_tree(xml: &str, limits: &Limits) -> Result<Element, TreeError> {
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
            TreeError::malformed(format!(
                "malformed XML at byte {}: {}",
                reader.error_position(),
                xml_error_message(e)
            ))
        })?;
        let is_blank = matches!(&event, Event::Text(t) if trim_xml(t).is_empty());
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(TreeError::malformed("content after the root element"));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(TreeError::new(
                        TreeErrorKind::TooMany,
                        format!("too many elements: more than {}", limits.max_elements),
                    ));
                }
                if stack.len() >= limits.max_depth {
                    return Err(TreeError::new(
                        TreeErrorKind::TooDeep,
                        format!("elements nested deeper than {} levels", limits.max_depth),
                    ));
                }
                let element = Element::new(element_name(start, limits.names)?);
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
                    .ok_or_else(|| TreeError::malformed("end tag without a start tag"))?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(text) => append_text(&mut stack, &text.xml10_content())?,
            Event::CData(cdata) => append_text(&mut stack, &cdata.xml10_content())?,
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                append_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => {
                let refused = match limits.doctype {
                    DoctypePolicy::Refuse => Some("DOCTYPE is not allowed"),
                    DoctypePolicy::Ignore if root.is_some() || !stack.is_empty() => {
                        Some("DOCTYPE after the start of the root element")
                    }
                    DoctypePolicy::Ignore if seen_doctype => Some("more than one DOCTYPE"),
                    DoctypePolicy::Ignore => None,
                };
                if let Some(detail) = refused {
                    return Err(TreeError::new(TreeErrorKind::Doctype, detail));
                }
                seen_doctype = true;
            }
            Event::Decl(_) if seen_markup => {
                return Err(TreeError::malformed(
                    "XML declaration not at the start of the document",
                ));
            }
            Event::PI(_) if root.is_some() && !limits.pi_after_root => {
                return Err(TreeError::malformed("content after the root element"));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        seen_markup |= !is_blank;
    }

    if let Some(open) = stack.last() {
        return Err(TreeError::malformed(format!(
            "unclosed element {}",
            shorten(&open.name)
        )));
    }
    root.ok_or_else(|| TreeError::new(TreeErrorKind::Empty, "empty document: no root element"))
}

/// The name of a start tag, after checking it against `policy`: the whole name as written, or
/// its local part.
fn element_name(start: &BytesStart<'_>, policy: NamePolicy) -> Result<String, TreeError> {
    let qname = start.name().into_inner();
    let valid = match policy {
        NamePolicy::Qualified => is_xml_name(qname),
        NamePolicy::Local => match qname.split_once(':') {
            Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
            None => is_ncname(qname),
        },
    };
    if !valid {
        return Err(TreeError::malformed(format!(
            "invalid element name {}",
            shorten(qname)
        )));
    }
    // Attributes are ignored, but a malformed one still makes the document malformed.
    // Duplicate checks are off: they are quadratic in the count.
    if let Some(Err(e)) = start.attributes().with_checks(false).find(Result::is_err) {
        return Err(TreeError::malformed(format!(
            "malformed attribute in element {}: {e}",
            shorten(qname)
        )));
    }
    Ok(match policy {
        NamePolicy::Qualified => qname.to_string(),
        NamePolicy::Local => start.local_name().into_inner().to_string(),
    })
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
fn append_text(stack: &mut [Element], text: &str) -> Result<(), TreeError> {
    if let Some(bad) = text.chars().find(|&c| !is_xml_char(c)) {
        return Err(TreeError::malformed(format!(
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
        None => Err(TreeError::malformed("text outside the root element")),
    }
}

/// Resolves `&name;`: only the five entities XML predefines and numeric character references.
/// Every other name, including ones declared in a DOCTYPE's internal subset, is refused: that
/// is what makes entity-expansion bombs harmless.
pub(crate) fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, TreeError> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) if is_xml_char(c) => return Ok(c),
        Ok(Some(_)) | Err(_) => {
            return Err(TreeError::malformed(format!(
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
        other => Err(TreeError::malformed(format!(
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
pub(crate) fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 `NameChar`, without `:`.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// XML 1.0 (fifth edition) `Name`, colons allowed anywhere: quick-xml does not check names,
/// and a document with an element called `1x` is not XML.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == ':' || is_name_start(c))
        && chars.all(|c| c == ':' || is_name_char(c))
}

/// Whether `name` is an XML name without a colon (Namespaces in XML's `NCName`): what
/// [`write_element`](crate::nbi::write_element) writes unchanged and what
/// [`parse_request`](crate::nbi::parse_request) yields as a local name.
pub fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Trims XML whitespace (space, tab, CR, LF) only: other Unicode spaces are data.
fn trim_xml(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Cuts an input-derived string for use in an error detail.
pub(crate) fn shorten(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(DETAIL_VALUE_MAX) {
        Some((end, _)) => Cow::Owned(format!("{}...", &s[..end])),
        None => Cow::Borrowed(s),
    }
}
