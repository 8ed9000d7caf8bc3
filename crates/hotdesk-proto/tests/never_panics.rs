//! Property tests of the wire format, the CI half of "fuzzed" (the coverage-guided half is the
//! cargo-fuzz targets in `/fuzz`, see `fuzz/README.md`):
//!
//! - [`parse`] never panics, on arbitrary text and on mutations of valid documents, and refuses
//!   only with code 1 or 8 and a short detail;
//! - generated valid documents, written with every legal way of escaping, parse back to exactly
//!   the values they were written from;
//! - [`render`] always yields well-formed XML that a conforming reader reads back as the values
//!   rendered, with every user ID percent-encoded.
//!
//! Each property runs a bounded number of cases so that the file takes seconds in a debug build;
//! `PROPTEST_CASES=100000 cargo test -p hotdesk-proto --release --test never_panics` runs
//! deeper. The size limits themselves (a 1,000,000-element or 1,000,000-deep document refused
//! with code 1, quickly) are unit tests in `src/parse.rs`.

use hotdesk_proto::{
    AppInfo, CheckUserResult, Credential, DeviceProfileResult, DeviceUserResult, EmMessage,
    EmResponse, ErrorCode, ExclusiveDuration, Failure, Login, Logout, Operation, Origin,
    ProfileEntry, Query, UserDevices, UserDevicesResult, UserProfiles, encode_user_id, parse,
    render,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// The bound on an error detail's length, in characters, whatever the input: details quote
/// input-derived names cut to 64 characters, inside messages of about a hundred.
const MAX_DETAIL_CHARS: usize = 256;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // A failure's seed is saved beside this file, as never_panics.proptest-regressions,
        // and tried first on later runs; commit it with the fix.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// What every parse outcome must satisfy, valid input or not.
fn check_outcome(xml: &str) -> Result<(), TestCaseError> {
    match parse(xml) {
        Ok(message) => {
            // What parse accepts carries the values the service relies on.
            let (app, names) = match &message {
                EmMessage::Request { app, op } => (
                    app,
                    match op {
                        Operation::Login(l) => vec![l.device_name.as_str(), l.user_id.as_str()],
                        Operation::Logout(l) => vec![l.device_name.as_str()],
                        Operation::LogoutAll { .. } => vec![],
                    },
                ),
                EmMessage::Query { app, query, .. } => (
                    app,
                    match query {
                        Query::DeviceUser { device_names: v }
                        | Query::UserDevices { user_ids: v }
                        | Query::DeviceProfile { user_ids: v }
                        | Query::CheckUser { user_ids: v } => {
                            prop_assert!(!v.is_empty());
                            v.iter().map(String::as_str).collect()
                        }
                    },
                ),
            };
            prop_assert!(!app.app_id.is_empty());
            for name in names {
                prop_assert!(!name.is_empty(), "empty name in {message:?}");
            }
        }
        Err(e) => {
            prop_assert!(
                matches!(
                    e.code,
                    ErrorCode::Parsing | ErrorCode::QueryTypeUndetermined
                ),
                "code {} for {xml:?}: {e}",
                e.code
            );
            prop_assert!(
                e.detail.chars().count() <= MAX_DETAIL_CHARS,
                "detail of {} characters: {}",
                e.detail.chars().count(),
                e.detail
            );
            // The failure answer built from it is a well-formed document.
            read_xml(&render(&EmResponse::Failure(Failure::from(e))))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// parse never panics

const APP: &str =
    "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
const EMAPP: &str = "<appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>";

/// Valid documents, from the unit tests and `tests/dtd_validation.rs`: Cisco's examples,
/// EMApp's traces, and the odd corners (BOM, DOCTYPE, CDATA, references, comments, padding).
fn seeds() -> Vec<String> {
    let seeds = vec![
        format!(
            "<request>\n  {APP}\n  <login>\n    <deviceName>SEP003094C25B15</deviceName>\n    \
             <userID>john</userID>\n    <deviceProfile>UserDevProf</deviceProfile>          \
             <!-- optional -->\n    <exclusiveDuration><time>60</time></exclusiveDuration>\n  \
             </login>\n</request>"
        ),
        format!(
            "<request>{APP}<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID>\
             <exclusiveDuration><indefinite/></exclusiveDuration></login></request>"
        ),
        format!(
            "<request>{EMAPP}<login><deviceName>SEP1</deviceName><userID>EMuser</userID>\
             <remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet>\
             <loginType>UID</loginType></login></request>"
        ),
        format!(
            "<request>{APP}<logout><deviceName>SEP003094C25B15</deviceName></logout></request>"
        ),
        format!(
            "<request>{EMAPP}\n<logout><deviceName>test_secure</deviceName><remoteIPAddr>\
             10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></logout></request>"
        ),
        format!("<request>{APP}<logoutAll></logoutAll></request>"),
        format!(
            "<request>{APP}<logoutAll><remoteIPAddr>10.0.0.1</remoteIPAddr><isViaHeaderSet>True\
             </isViaHeaderSet></logoutAll></request>"
        ),
        format!(
            "<query>{APP}<deviceUserQuery><deviceName>SEP003094C25B15</deviceName>\
             </deviceUserQuery></query>"
        ),
        format!(
            "<query>{EMAPP}\n<deviceUserQuery><deviceName>SEP74A02FC09CDF</deviceName><loginType>\
             DN</loginType><remoteIPAddr>10.106.99.235</remoteIPAddr></deviceUserQuery></query>"
        ),
        format!("<query>{APP}<userDevicesQuery><userID>john</userID></userDevicesQuery></query>"),
        format!(
            "<query>{APP}<userDeviceProfileQuery><userID>john</userID><userID>b%20c</userID>\
             </userDeviceProfileQuery></query>"
        ),
        format!(
            "<query>{EMAPP}\n<checkUser><userID>EMuser</userID><remoteIPAddr>10.65.40.61\
             </remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></checkUser></query>"
        ),
        format!(
            "<query>{APP}<deviceUserQuery><deviceName>SEP1</deviceName><deviceName>SEP2\
             </deviceName></deviceUserQuery></query>"
        ),
        format!(
            "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY e \"x\">]><request>{APP}\
             <login><deviceName>S&amp;P&#65;&#x42;</deviceName><userID><![CDATA[jürgen]]>\
             </userID><exclusiveDuration><time>5</time></exclusiveDuration></login></request>"
        ),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!DOCTYPE query SYSTEM \
             \"http://10.0.0.1:8080/emservice/jsp/LoginQuery.dtd\">\r\n<!-- c --><?pi x?>\
             <query>{APP}<checkUser><userID>a</userID><userID>50%off+x</userID></checkUser>\
             </query><!-- trailing -->\n"
        ),
    ];
    for seed in &seeds {
        assert!(parse(seed).is_ok(), "seed does not parse: {seed}");
    }
    seeds
}

/// Every element name of the EM DTDs, for renaming one element into another.
const NAMES: &[&str] = &[
    "request",
    "query",
    "appInfo",
    "appID",
    "appCertificate",
    "appEncryptedCertificate",
    "login",
    "logout",
    "logoutAll",
    "deviceName",
    "userID",
    "deviceProfile",
    "exclusiveDuration",
    "time",
    "indefinite",
    "remoteIPAddr",
    "isViaHeaderSet",
    "loginType",
    "deviceUserQuery",
    "userDevicesQuery",
    "deviceProfileQuery",
    "userDeviceProfileQuery",
    "checkUser",
    "response",
    "x",
];

/// Pieces of markup and text that make parsers stumble.
const SNIPPETS: &[&str] = &[
    "&",
    "&amp;",
    "&lt;",
    "&lol;",
    "&#0;",
    "&#1;",
    "&#65;",
    "&#x10FFFF;",
    "&#x110000;",
    "&#xD800;",
    "&#99999999999999999999;",
    "&#;",
    "&#x;",
    ";",
    "<!DOCTYPE request>",
    "<!DOCTYPE request [<!ENTITY e \"&e;&e;\">]>",
    "<!DOCTYPE",
    "]]>",
    "<![CDATA[",
    "<![CDATA[x]]>",
    "<!--",
    "-->",
    "<!-- -- -->",
    "<?xml version=\"1.0\"?>",
    "<?xml?>",
    "<?pi?>",
    "<?",
    "?>",
    "<",
    ">",
    "</",
    "/>",
    "<>",
    "</>",
    "<a b='c'>",
    "<a b=\"c\" b=\"d\"/>",
    "<a b>",
    "<:/>",
    "<a:b/>",
    "=",
    "\"",
    "'",
    "\u{feff}",
    "\u{0}",
    "\u{1b}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\r",
    "\r\n",
    "\t",
    " ",
    "%",
    "%40",
    "%FF",
    "%C3",
    "+",
    "0",
    "-1",
    "4294967296",
    "true",
    "é",
    "😀",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Removes up to n characters.
    Delete(Index, usize),
    /// Repeats up to n characters in place.
    Duplicate(Index, usize),
    /// Repeats one character n times, which makes long names and values.
    Stretch(Index, usize),
    Insert(Index, String),
    /// Replaces one occurrence of one element name with another name.
    Rename(Index, Index, Index),
    /// Splices in n nested elements, closed or left open.
    Nest(Index, usize, bool),
    Truncate(Index),
}

/// The character boundaries of `s`, end included: where a `&str` may be cut.
fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect()
}

fn apply(doc: &mut String, mutation: &Mutation) {
    let b = boundaries(doc);
    let at = |i: &Index| i.index(b.len());
    match mutation {
        Mutation::Delete(i, n) | Mutation::Duplicate(i, n) => {
            let start = at(i);
            let end = (start + n).min(b.len() - 1);
            let (start, end) = (b[start], b[end]);
            if matches!(mutation, Mutation::Delete(..)) {
                doc.replace_range(start..end, "");
            } else {
                let span = doc[start..end].to_string();
                doc.insert_str(end, &span);
            }
        }
        Mutation::Stretch(i, n) => {
            let start = b[at(i)];
            if let Some(c) = doc[start..].chars().next() {
                doc.insert_str(start, &c.to_string().repeat(*n));
            }
        }
        Mutation::Insert(i, text) => doc.insert_str(b[at(i)], text),
        Mutation::Rename(which, occurrence, to) => {
            let from = NAMES[which.index(NAMES.len())];
            let found: Vec<usize> = doc.match_indices(from).map(|(i, _)| i).collect();
            if !found.is_empty() {
                let start = found[occurrence.index(found.len())];
                doc.replace_range(start..start + from.len(), NAMES[to.index(NAMES.len())]);
            }
        }
        Mutation::Nest(i, depth, closed) => {
            let mut nest = "<a>".repeat(*depth);
            if *closed {
                nest.push_str(&"</a>".repeat(*depth));
            }
            doc.insert_str(b[at(i)], &nest);
        }
        Mutation::Truncate(i) => doc.truncate(b[at(i)]),
    }
}

fn small_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..16usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), 1..48usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => (any::<Index>(), 1..400usize).prop_map(|(i, n)| Mutation::Stretch(i, n)),
        3 => (any::<Index>(), select(SNIPPETS).prop_map(String::from))
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => (any::<Index>(), small_string()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        3 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, c)| Mutation::Rename(a, b, c)),
        1 => (any::<Index>(), 1..1500usize, any::<bool>())
            .prop_map(|(i, d, c)| Mutation::Nest(i, d, c)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Arbitrary text made of XML's pieces, which reaches deeper into the reader than random text.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        3 => select(SNIPPETS).prop_map(String::from),
        2 => select(NAMES).prop_map(|n| format!("<{n}>")),
        2 => select(NAMES).prop_map(|n| format!("</{n}>")),
        1 => select(NAMES).prop_map(|n| format!("<{n}/>")),
        1 => select(NAMES).prop_map(String::from),
        1 => small_string(),
    ];
    prop::collection::vec(token, 0..64).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        check_outcome(&s)?;
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_outcome(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn parse_never_panics_on_token_soup(s in token_soup()) {
        check_outcome(&s)?;
    }

    #[test]
    fn parse_never_panics_on_mutated_documents(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds();
        let mut doc = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            apply(&mut doc, m);
        }
        check_outcome(&doc)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip: a valid document parses to exactly the values it was written from

/// A small deterministic generator for the choices of how to write a document, so that one
/// `u64` from proptest stands for them all.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// An element to write. `text` is the character data before XML escaping.
#[derive(Debug, Clone)]
struct El {
    name: &'static str,
    text: String,
    children: Vec<El>,
}

fn el(name: &'static str, children: Vec<El>) -> El {
    El {
        name,
        text: String::new(),
        children,
    }
}

fn leaf(name: &'static str, text: impl Into<String>) -> El {
    El {
        name,
        text: text.into(),
        children: vec![],
    }
}

/// Escapes character data in one of the legal ways: predefined entities (minimal or all),
/// character references, or CDATA sections. A carriage return is always a reference, since a
/// literal one is read as a line feed.
fn escape(text: &str, c: &mut Choices) -> String {
    let mut out = String::new();
    match c.below(4) {
        0 | 1 => {
            let all = c.one_in(2);
            for ch in text.chars() {
                match ch {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    // `]]>` is not allowed in text; escaping every `>` is simplest.
                    '>' => out.push_str("&gt;"),
                    '"' if all => out.push_str("&quot;"),
                    '\'' if all => out.push_str("&apos;"),
                    '\r' => out.push_str("&#13;"),
                    _ => out.push(ch),
                }
            }
        }
        2 => {
            for ch in text.chars() {
                if ch.is_ascii_alphanumeric() {
                    out.push(ch);
                } else if c.one_in(2) {
                    out.push_str(&format!("&#{};", u32::from(ch)));
                } else {
                    out.push_str(&format!("&#x{:X};", u32::from(ch)));
                }
            }
        }
        _ => {
            // CDATA cannot hold `]]>` nor keep `\r`: both are split out of the section.
            out.push_str("<![CDATA[");
            out.push_str(
                &text
                    .replace("]]>", "]]]]><![CDATA[>")
                    .replace('\r', "]]>&#13;<![CDATA["),
            );
            out.push_str("]]>");
        }
    }
    out
}

/// Whitespace that the parser trims or skips.
fn pad(c: &mut Choices, pretty: bool) -> &'static str {
    if pretty {
        c.pick(&["", " ", "\n  ", "\r\n\t", "\t \n"])
    } else {
        ""
    }
}

/// Writes `el`, its children in a shuffled order that keeps same-named siblings in order (the
/// mapping ignores child order but batches are read in document order), with comments,
/// processing instructions and unknown elements between them now and then.
fn write(out: &mut String, el: &El, c: &mut Choices, pretty: bool) {
    out.push('<');
    out.push_str(el.name);
    if c.one_in(8) {
        // Attributes are ignored.
        out.push_str(c.pick(&[" a=\"1\"", " xmlns=\"urn:x\"", " b='&amp;&lt;'"]));
    }
    if el.children.is_empty() && el.text.is_empty() && c.one_in(2) {
        out.push_str("/>");
        return;
    }
    out.push('>');
    if !el.text.is_empty() {
        out.push_str(pad(c, pretty));
        out.push_str(&escape(&el.text, c));
        out.push_str(pad(c, pretty));
    } else if pretty && c.one_in(2) {
        out.push_str(pad(c, pretty));
    }
    for child in &shuffled(&el.children, c) {
        out.push_str(pad(c, pretty));
        match c.below(12) {
            0 => out.push_str("<!-- a comment -->"),
            1 => out.push_str("<?pi data?>"),
            2 => out.push_str("<future>x<y/></future>"),
            _ => {}
        }
        write(out, child, c, pretty);
    }
    out.push_str(pad(c, pretty));
    out.push_str("</");
    out.push_str(el.name);
    out.push('>');
}

fn shuffled(children: &[El], c: &mut Choices) -> Vec<El> {
    let mut names: Vec<&str> = children.iter().map(|ch| ch.name).collect();
    for i in (1..names.len()).rev() {
        let j = c.below(i + 1);
        names.swap(i, j);
    }
    let mut taken = vec![false; children.len()];
    names
        .iter()
        .map(|name| {
            let i = (0..children.len())
                .find(|&i| !taken[i] && children[i].name == *name)
                .expect("a child of that name");
            taken[i] = true;
            children[i].clone()
        })
        .collect()
}

fn document(root: &El, c: &mut Choices) -> String {
    let pretty = c.one_in(2);
    let mut out = String::new();
    match c.below(4) {
        0 => {}
        1 => out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        2 => out.push_str(
            "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE request SYSTEM \"LoginRequest.dtd\">\
             <!-- hello -->\n",
        ),
        _ => out.push_str("<!DOCTYPE query [<!ENTITY unused \"&unused;\">]>\n"),
    }
    write(&mut out, root, c, pretty);
    if pretty {
        out.push_str("\n<!-- end -->\r\n");
    }
    out
}

/// A value of a text element: XML characters, not empty, no XML whitespace at either end
/// (the parser trims it). Weighted towards what breaks escaping and encoding.
fn text_value() -> impl Strategy<Value = String> {
    prop::collection::vec(value_char(), 1..24)
        .prop_map(|chars| {
            String::from_iter(chars)
                .trim_matches(is_xml_space)
                .to_string()
        })
        .prop_filter("not blank", |s| !s.is_empty())
}

fn value_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                .chars()
                .collect::<Vec<_>>()
        ),
        3 => select(vec![
            '&', '<', '>', '"', '\'', ']', ' ', '\t', '\n', '\r', '@', '%', '+', '=', ';', '#',
            '/', '\\', '-', '.', '_', '*', '~', '!', '?',
        ]),
        1 => select(vec![
            'é', 'ü', '山', '田', '😀', '\u{a0}', '\u{85}', '\u{2028}', '\u{feff}', '\u{FFFD}',
            '\u{10FFFF}',
        ]),
        1 => any::<char>().prop_filter("XML character", |&c| is_xml_char(c)),
    ]
}

/// A user ID as written and as parse must return it.
#[derive(Debug, Clone)]
struct UserId {
    wire: String,
    parsed: String,
}

fn user_id() -> impl Strategy<Value = UserId> {
    // Any ID at all, spaces at the ends and control characters included, once encoded.
    let any_id = prop::collection::vec(prop_oneof![3 => value_char(), 1 => any::<char>()], 1..16)
        .prop_map(String::from_iter);
    prop_oneof![
        // Encoded as Cisco's Java server does; its `+` for space is not decoded (a literal
        // `+` is more common in IDs), so a space comes back as `+`.
        any_id.clone().prop_map(|id| UserId {
            wire: encode_user_id(&id),
            parsed: id.replace(' ', "+"),
        }),
        // Encoded with `%20` for space, as RFC 3986 encoders do: exactly the ID.
        any_id.prop_map(|id| UserId {
            wire: encode_user_id(&id).replace('+', "%20"),
            parsed: id,
        }),
        // Not encoded: kept as sent when it holds no `%`.
        text_value()
            .prop_filter("no %", |id| !id.contains('%'))
            .prop_map(|id| UserId {
                wire: id.clone(),
                parsed: id,
            }),
    ]
}

#[derive(Debug, Clone)]
struct GenOrigin {
    remote_ip: Option<String>,
    via_header_set: Option<(bool, &'static str)>,
    login_type: Option<String>,
}

fn origin() -> impl Strategy<Value = GenOrigin> {
    let via = prop_oneof![
        select(vec!["true", "TRUE", "True", "tRuE"]).prop_map(|w| (true, w)),
        select(vec!["false", "FALSE", "False"]).prop_map(|w| (false, w)),
    ];
    (
        prop::option::of(text_value()),
        prop::option::of(via),
        prop::option::of(text_value()),
    )
        .prop_map(|(remote_ip, via_header_set, login_type)| GenOrigin {
            remote_ip,
            via_header_set,
            login_type,
        })
}

impl GenOrigin {
    fn expected(&self) -> Origin {
        Origin {
            remote_ip: self.remote_ip.clone(),
            via_header_set: self.via_header_set.map(|(v, _)| v),
            login_type: self.login_type.clone(),
        }
    }

    /// The origin's elements; an absent optional value may also be written as an empty one.
    fn elements(&self, c: &mut Choices) -> Vec<El> {
        let mut out = Vec::new();
        optional(&mut out, "remoteIPAddr", self.remote_ip.as_deref(), c);
        if let Some((_, wire)) = self.via_header_set {
            out.push(leaf("isViaHeaderSet", wire));
        }
        optional(&mut out, "loginType", self.login_type.as_deref(), c);
        out
    }
}

fn optional(out: &mut Vec<El>, name: &'static str, value: Option<&str>, c: &mut Choices) {
    match value {
        Some(v) => out.push(leaf(name, v)),
        None if c.one_in(3) => out.push(leaf(name, "")),
        None => {}
    }
}

#[derive(Debug, Clone)]
enum Body {
    Login {
        device: String,
        user: UserId,
        profile: Option<String>,
        /// The duration and the zeros written before the minutes.
        duration: Option<(ExclusiveDuration, usize)>,
        origin: GenOrigin,
    },
    Logout {
        device: String,
        origin: GenOrigin,
    },
    LogoutAll {
        origin: GenOrigin,
    },
    DeviceUser {
        devices: Vec<String>,
        origin: GenOrigin,
    },
    /// `userDevicesQuery`, `deviceProfileQuery` or its alias, or `checkUser`.
    UserIds {
        element: &'static str,
        users: Vec<UserId>,
        origin: GenOrigin,
    },
}

#[derive(Debug, Clone)]
struct Case {
    app_id: String,
    /// Whether the certificate is `appEncryptedCertificate`; it may be empty.
    encrypted: bool,
    certificate: String,
    body: Body,
    /// The choices of how to write the document.
    seed: u64,
}

fn body() -> impl Strategy<Value = Body> {
    let duration = prop_oneof![
        (1..=u32::MAX, 0..3usize).prop_map(|(m, z)| (ExclusiveDuration::Minutes(m), z)),
        Just((ExclusiveDuration::Indefinite, 0)),
    ];
    let batch = 1..6usize;
    prop_oneof![
        (
            text_value(),
            user_id(),
            prop::option::of(text_value()),
            prop::option::of(duration),
            origin()
        )
            .prop_map(|(device, user, profile, duration, origin)| Body::Login {
                device,
                user,
                profile,
                duration,
                origin
            }),
        (text_value(), origin()).prop_map(|(device, origin)| Body::Logout { device, origin }),
        origin().prop_map(|origin| Body::LogoutAll { origin }),
        (prop::collection::vec(text_value(), batch.clone()), origin())
            .prop_map(|(devices, origin)| Body::DeviceUser { devices, origin }),
        (
            select(vec![
                "userDevicesQuery",
                "deviceProfileQuery",
                "userDeviceProfileQuery",
                "checkUser"
            ]),
            prop::collection::vec(user_id(), batch),
            origin()
        )
            .prop_map(|(element, users, origin)| Body::UserIds {
                element,
                users,
                origin
            }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        text_value(),
        any::<bool>(),
        prop_oneof![Just(String::new()), text_value()],
        body(),
        any::<u64>(),
    )
        .prop_map(|(app_id, encrypted, certificate, body, seed)| Case {
            app_id,
            encrypted,
            certificate,
            body,
            seed,
        })
}

impl Case {
    fn expected(&self) -> EmMessage {
        let app = AppInfo {
            app_id: self.app_id.clone(),
            certificate: if self.encrypted {
                Credential::Encrypted(self.certificate.clone())
            } else {
                Credential::Plain(self.certificate.clone())
            },
        };
        let users = |users: &[UserId]| users.iter().map(|u| u.parsed.clone()).collect();
        match &self.body {
            Body::Login {
                device,
                user,
                profile,
                duration,
                origin,
            } => EmMessage::Request {
                app,
                op: Operation::Login(Login {
                    device_name: device.clone(),
                    user_id: user.parsed.clone(),
                    device_profile: profile.clone(),
                    exclusive_duration: duration.map(|(d, _)| d),
                    origin: origin.expected(),
                }),
            },
            Body::Logout { device, origin } => EmMessage::Request {
                app,
                op: Operation::Logout(Logout {
                    device_name: device.clone(),
                    origin: origin.expected(),
                }),
            },
            Body::LogoutAll { origin } => EmMessage::Request {
                app,
                op: Operation::LogoutAll {
                    origin: origin.expected(),
                },
            },
            Body::DeviceUser { devices, origin } => EmMessage::Query {
                app,
                query: Query::DeviceUser {
                    device_names: devices.clone(),
                },
                origin: origin.expected(),
            },
            Body::UserIds {
                element,
                users: ids,
                origin,
            } => EmMessage::Query {
                app,
                query: match *element {
                    "userDevicesQuery" => Query::UserDevices {
                        user_ids: users(ids),
                    },
                    "checkUser" => Query::CheckUser {
                        user_ids: users(ids),
                    },
                    _ => Query::DeviceProfile {
                        user_ids: users(ids),
                    },
                },
                origin: origin.expected(),
            },
        }
    }

    fn xml(&self) -> String {
        let c = &mut Choices(self.seed);
        let certificate = if self.encrypted {
            "appEncryptedCertificate"
        } else {
            "appCertificate"
        };
        let app = el(
            "appInfo",
            vec![
                leaf("appID", self.app_id.as_str()),
                leaf(certificate, self.certificate.as_str()),
            ],
        );
        let (root, child) = match &self.body {
            Body::Login {
                device,
                user,
                profile,
                duration,
                origin,
            } => {
                let mut children = vec![
                    leaf("deviceName", device.as_str()),
                    leaf("userID", user.wire.as_str()),
                ];
                optional(&mut children, "deviceProfile", profile.as_deref(), c);
                match duration {
                    Some((ExclusiveDuration::Minutes(m), zeros)) => children.push(el(
                        "exclusiveDuration",
                        vec![leaf("time", format!("{}{m}", "0".repeat(*zeros)))],
                    )),
                    Some((ExclusiveDuration::Indefinite, _)) => {
                        children.push(el("exclusiveDuration", vec![leaf("indefinite", "")]))
                    }
                    None => {}
                }
                children.extend(origin.elements(c));
                ("request", el("login", children))
            }
            Body::Logout { device, origin } => {
                let mut children = vec![leaf("deviceName", device.as_str())];
                children.extend(origin.elements(c));
                ("request", el("logout", children))
            }
            Body::LogoutAll { origin } => ("request", el("logoutAll", origin.elements(c))),
            Body::DeviceUser { devices, origin } => {
                let mut children: Vec<El> = devices
                    .iter()
                    .map(|d| leaf("deviceName", d.as_str()))
                    .collect();
                children.extend(origin.elements(c));
                ("query", el("deviceUserQuery", children))
            }
            Body::UserIds {
                element,
                users,
                origin,
            } => {
                let mut children: Vec<El> = users
                    .iter()
                    .map(|u| leaf("userID", u.wire.as_str()))
                    .collect();
                children.extend(origin.elements(c));
                ("query", el(element, children))
            }
        };
        document(&el(root, vec![app, child]), c)
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn valid_documents_round_trip(case in case()) {
        let xml = case.xml();
        prop_assert_eq!(parse(&xml), Ok(case.expected()), "document: {:?}", xml);
    }
}

// ---------------------------------------------------------------------------------------------
// render yields well-formed XML that reads back as the values rendered

/// An element as a conforming XML 1.0 reader sees it: attribute values normalized, line ends
/// normalized, references resolved, text not trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

fn node(name: &str, attrs: &[(&str, String)], children: Vec<Node>) -> Node {
    Node {
        name: name.into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        text: String::new(),
        children,
    }
}

fn text_node(name: &str, text: String) -> Node {
    Node {
        text,
        ..node(name, &[], vec![])
    }
}

/// Reads `doc` to the end with quick-xml, failing on any error, and returns its root.
fn read_xml(doc: &str) -> Result<Node, TestCaseError> {
    let mut reader = Reader::from_str(doc);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    let fail = |what: String| TestCaseError::fail(format!("{what} in {doc:?}"));
    loop {
        let event = reader
            .read_event()
            .map_err(|e| fail(format!("malformed XML at {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let mut attrs = Vec::new();
                for attr in start.attributes().with_checks(true) {
                    let attr = attr.map_err(|e| fail(format!("bad attribute: {e}")))?;
                    let value = attr
                        .normalized_value(XmlVersion::Explicit1_0)
                        .map_err(|e| fail(format!("bad attribute value: {e}")))?;
                    let key = attr.key.as_ref().to_string();
                    attrs.push((key, value.into_owned()));
                }
                let n = Node {
                    name: start.name().as_ref().to_string(),
                    attrs,
                    text: String::new(),
                    children: vec![],
                };
                if matches!(event, Event::Empty(_)) {
                    close(n, &mut stack, &mut root);
                } else {
                    stack.push(n);
                }
            }
            Event::End(_) => {
                let n = stack.pop().ok_or_else(|| fail("unmatched end".into()))?;
                close(n, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match stack.last_mut() {
                    Some(n) => n.text.push_str(&text),
                    None if text.trim_matches(is_xml_space).is_empty() => {}
                    None => return Err(fail("text outside the root".into())),
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(n) => n.text.push_str(&t.xml10_content()),
                None => return Err(fail("CDATA outside the root".into())),
            },
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) if is_xml_char(c) => c,
                    Ok(None) => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(fail(format!("undeclared entity &{other};"))),
                    },
                    other => return Err(fail(format!("bad character reference: {other:?}"))),
                };
                stack
                    .last_mut()
                    .ok_or_else(|| fail("reference outside the root".into()))?
                    .text
                    .push(c);
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(fail("unclosed element".into()));
    }
    let root = root.ok_or_else(|| fail("no root element".into()))?;
    // Every character must be one XML 1.0 allows, in text and attributes alike.
    fn all_xml(n: &Node) -> bool {
        n.text.chars().all(is_xml_char)
            && n.attrs.iter().all(|(_, v)| v.chars().all(is_xml_char))
            && n.children.iter().all(all_xml)
    }
    prop_assert!(all_xml(&root), "character outside XML 1.0 in {:?}", doc);
    Ok(root)
}

fn close(n: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(n),
        None => *root = Some(n),
    }
}

/// What render promises for text it cannot carry: U+FFFD in place of each such character.
fn carried(s: &str) -> String {
    s.chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// The tree a conforming reader must see in `render(r)`.
fn expected_tree(r: &EmResponse) -> Node {
    let none = || node("none", &[], vec![]);
    let does_not_exist = || node("doesNotExist", &[], vec![]);
    let user = |id: &str, children| node("user", &[("id", encode_user_id(id))], children);
    let child = match r {
        EmResponse::Success => node("success", &[], vec![]),
        EmResponse::Failure(f) => node(
            "failure",
            &[],
            vec![Node {
                text: carried(&f.message),
                ..node("error", &[("code", f.code.code().to_string())], vec![])
            }],
        ),
        EmResponse::DeviceUsers(items) => node(
            "deviceUserResults",
            &[],
            items
                .iter()
                .map(|item| match item {
                    DeviceUserResult::Exists {
                        name,
                        user,
                        last_login,
                        emcc,
                    } => node(
                        "device",
                        &[("name", carried(name))],
                        vec![
                            user.as_deref()
                                .map_or_else(none, |u| text_node("userID", encode_user_id(u))),
                            last_login
                                .as_deref()
                                .map_or_else(none, |u| text_node("lastlogin", encode_user_id(u))),
                            text_node("emccDevice", if *emcc { "yes" } else { "no" }.into()),
                        ],
                    ),
                    DeviceUserResult::DoesNotExist { name } => {
                        node("device", &[("name", carried(name))], vec![does_not_exist()])
                    }
                })
                .collect(),
        ),
        EmResponse::UserDevices(items) => node(
            "userDevicesResults",
            &[],
            items
                .iter()
                .map(|item| {
                    user(
                        &item.user_id,
                        match &item.devices {
                            UserDevices::LoggedIn(d) if !d.is_empty() => d
                                .iter()
                                .map(|d| text_node("deviceName", carried(d)))
                                .collect(),
                            UserDevices::LoggedIn(_) | UserDevices::None => vec![none()],
                            UserDevices::DoesNotExist => vec![does_not_exist()],
                        },
                    )
                })
                .collect(),
        ),
        EmResponse::DeviceProfiles(items) => node(
            "deviceProfileResults",
            &[],
            items
                .iter()
                .map(|item| {
                    user(
                        &item.user_id,
                        match &item.profiles {
                            UserProfiles::Profiles(p) if !p.is_empty() => p
                                .iter()
                                .map(|p| {
                                    node(
                                        "deviceProfile",
                                        &[],
                                        vec![
                                            text_node("deviceProfileName", carried(&p.name)),
                                            text_node(
                                                "isDefaultDeviceProfile",
                                                if p.is_default { "t" } else { "f" }.into(),
                                            ),
                                        ],
                                    )
                                })
                                .collect(),
                            UserProfiles::Profiles(_) | UserProfiles::None => vec![none()],
                            UserProfiles::DoesNotExist => vec![does_not_exist()],
                        },
                    )
                })
                .collect(),
        ),
        EmResponse::CheckUser(items) => node(
            "checkUserResults",
            &[],
            items
                .iter()
                .map(|item| {
                    user(
                        &item.user_id,
                        vec![if item.exists {
                            text_node("exists", encode_user_id(&item.user_id))
                        } else {
                            does_not_exist()
                        }],
                    )
                })
                .collect(),
        ),
    };
    node("response", &[], vec![child])
}

/// The user IDs of a response, which must appear percent-encoded.
fn user_ids(r: &EmResponse) -> Vec<&str> {
    match r {
        EmResponse::Success | EmResponse::Failure(_) => vec![],
        EmResponse::DeviceUsers(items) => items
            .iter()
            .flat_map(|item| match item {
                DeviceUserResult::Exists {
                    user, last_login, ..
                } => vec![user.as_deref(), last_login.as_deref()],
                DeviceUserResult::DoesNotExist { .. } => vec![],
            })
            .flatten()
            .collect(),
        EmResponse::UserDevices(items) => items.iter().map(|i| i.user_id.as_str()).collect(),
        EmResponse::DeviceProfiles(items) => items.iter().map(|i| i.user_id.as_str()).collect(),
        EmResponse::CheckUser(items) => items.iter().map(|i| i.user_id.as_str()).collect(),
    }
}

/// Any text at all, control characters and XML's specials included.
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![2 => value_char(), 1 => any::<char>()], 0..16)
        .prop_map(String::from_iter)
}

fn response() -> impl Strategy<Value = EmResponse> {
    let batch = 0..5usize;
    let code = select(ErrorCode::all().collect::<Vec<_>>());
    prop_oneof![
        Just(EmResponse::Success),
        (code, any_text())
            .prop_map(|(code, message)| EmResponse::Failure(Failure { code, message })),
        prop::collection::vec(
            prop_oneof![
                (
                    any_text(),
                    prop::option::of(any_text()),
                    prop::option::of(any_text()),
                    any::<bool>()
                )
                    .prop_map(|(name, user, last_login, emcc)| {
                        DeviceUserResult::Exists {
                            name,
                            user,
                            last_login,
                            emcc,
                        }
                    }),
                any_text().prop_map(|name| DeviceUserResult::DoesNotExist { name }),
            ],
            batch.clone()
        )
        .prop_map(EmResponse::DeviceUsers),
        prop::collection::vec(
            (
                any_text(),
                prop_oneof![
                    prop::collection::vec(any_text(), 0..4).prop_map(UserDevices::LoggedIn),
                    Just(UserDevices::None),
                    Just(UserDevices::DoesNotExist),
                ]
            )
                .prop_map(|(user_id, devices)| UserDevicesResult { user_id, devices }),
            batch.clone()
        )
        .prop_map(EmResponse::UserDevices),
        prop::collection::vec(
            (
                any_text(),
                prop_oneof![
                    prop::collection::vec(
                        (any_text(), any::<bool>())
                            .prop_map(|(name, is_default)| ProfileEntry { name, is_default }),
                        0..4
                    )
                    .prop_map(UserProfiles::Profiles),
                    Just(UserProfiles::None),
                    Just(UserProfiles::DoesNotExist),
                ]
            )
                .prop_map(|(user_id, profiles)| DeviceProfileResult { user_id, profiles }),
            batch.clone()
        )
        .prop_map(EmResponse::DeviceProfiles),
        prop::collection::vec(
            (any_text(), any::<bool>())
                .prop_map(|(user_id, exists)| CheckUserResult { user_id, exists }),
            batch
        )
        .prop_map(EmResponse::CheckUser),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn render_is_well_formed_and_reads_back(r in response()) {
        let doc = render(&r);
        prop_assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>"));
        let tree = read_xml(&doc)?;
        prop_assert_eq!(tree, expected_tree(&r), "document: {:?}", doc);
        // Percent-encoding leaves no XML metacharacter, so each ID is in the bytes as encoded.
        for id in user_ids(&r) {
            let encoded = encode_user_id(id);
            prop_assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"%+.-*_".contains(&b)),
                "{:?}",
                encoded
            );
            prop_assert!(doc.contains(&encoded), "{:?} not in {:?}", encoded, doc);
        }
    }
}
