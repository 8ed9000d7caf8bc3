//! Property tests of the NBI wire format ([`hotdesk_proto::nbi`]):
//!
//! - [`parse_request`] never panics, on arbitrary text, XML token soup and mutations of valid
//!   requests, and refuses only with code 13 or 15 and a short description; [`base`] and
//!   [`login_request`] never panic on what it accepts and refuse only with their own codes;
//! - generated trees, holding every XML special character, survive [`write_element`] then
//!   [`parse_request`] unchanged;
//! - [`render_response`] and [`render_base_error`] always yield a document that reads back as
//!   the values rendered.
//!
//! The exact bytes, codes and limits are unit tests in `src/nbi/tests.rs`.
//! `PROPTEST_CASES=100000 cargo test -p hotdesk-proto --release --test nbi` runs deeper.

use hotdesk_proto::nbi::{
    Element, NbiCode, NbiError, Paging, base, check_callback_url, is_ncname, login_request,
    parse_request, render_base_error, render_response, write_element,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

/// A bound on a refusal's description, in characters, whatever the input.
const MAX_DESCRIPTION_CHARS: usize = 300;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// What `render_*` makes of a string: characters XML cannot carry become U+FFFD.
fn carried(s: &str) -> String {
    s.chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// A short, bounded description.
fn check_description(e: &NbiError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.description.chars().count() <= MAX_DESCRIPTION_CHARS,
        "description of {} characters: {}",
        e.description.chars().count(),
        e.description
    );
    prop_assert!(e.description.starts_with(e.code.description()));
    // The answer built from it reads back.
    let doc =
        parse_request(&render_base_error(e)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let code = e.code.code().to_string();
    prop_assert_eq!(doc.text_of("code"), Some(code.as_str()));
    Ok(())
}

/// What every outcome must satisfy, valid input or not.
fn check_outcome(body: &str) -> Result<(), TestCaseError> {
    match parse_request(body) {
        Ok(root) => {
            prop_assert!(is_ncname(&root.name), "root name {:?}", root.name);
            if let Err(e) = base(&root) {
                prop_assert!(
                    matches!(e.code, NbiCode::InvalidXml | NbiCode::UnsupportedVersion),
                    "{e}"
                );
                check_description(&e)?;
            }
            match login_request(&root) {
                Ok(login) => {
                    prop_assert_eq!(login.heartbeat_requested, login.callback_url.is_some());
                }
                Err(e) => {
                    prop_assert!(
                        matches!(
                            e.code,
                            NbiCode::InvalidXml | NbiCode::BadInput | NbiCode::CallbackNotHttps
                        ),
                        "{e}"
                    );
                    check_description(&e)?;
                }
            }
        }
        Err(e) => {
            prop_assert!(
                matches!(e.code, NbiCode::EmptyPayload | NbiCode::InvalidXml),
                "code {:?} for {body:?}: {e}",
                e.code
            );
            check_description(&e)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// parse_request never panics

fn seeds() -> Vec<&'static str> {
    let seeds = vec![
        "<loginRequest><protVersion>1.0</protVersion><reqId>42</reqId><username>admin</username>\
         <password>pw</password></loginRequest>",
        "<csm:loginRequest xmlns:csm=\"csm\"><username>a</username><password/>\
         <heartbeatRequested>true</heartbeatRequested>\
         <callbackUrl>https://client.example:8443/hb?a=%20</callbackUrl></csm:loginRequest>",
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- c -->\
         <loginRequest xmlns=\"csm\">\n  <username><![CDATA[a&b]]></username>\n  \
         <password>&lt;&#65;&#x42;</password>\n</loginRequest>\n<?pi?>",
        "<csm:logoutRequest xmlns:csm=\"csm\"/>",
        "<listUsersRequest><protVersion>1</protVersion><startIndex>10</startIndex>\
         <endIndex>20</endIndex></listUsersRequest>",
        "<addUserRequest><reqId>r</reqId><user><username>u</username><profiles>\
         <profile>P1</profile><profile>P2</profile></profiles></user></addUserRequest>",
    ];
    for seed in &seeds {
        assert!(parse_request(seed).is_ok(), "seed does not parse: {seed}");
    }
    seeds
}

const NAMES: &[&str] = &[
    "loginRequest",
    "csm:loginRequest",
    "username",
    "password",
    "heartbeatRequested",
    "callbackUrl",
    "protVersion",
    "reqId",
    "startIndex",
    "endIndex",
    "user",
    "x",
];

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
    ";",
    "<!DOCTYPE a>",
    "<!DOCTYPE a [<!ENTITY e \"&e;&e;\">]>",
    "]]>",
    "<![CDATA[",
    "<![CDATA[x]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?pi?>",
    "<",
    ">",
    "</",
    "/>",
    "<>",
    "</>",
    "<a b='c'>",
    "<a b>",
    "<:/>",
    "<a:/>",
    "<a:b:c/>",
    " xmlns=\"csm\"",
    " xmlns:csm=\"csm\"",
    "csm:",
    "\"",
    "'",
    "\u{feff}",
    "\u{0}",
    "\u{1b}",
    "\u{FFFE}",
    "\r",
    "\r\n",
    "\t",
    " ",
    "true",
    "false",
    "1",
    "1.0",
    "2.0",
    "-1",
    "18446744073709551616",
    "https://",
    "http://",
    "https://h:0/",
    "https://[::1]/",
    "@",
    "%",
    "%zz",
    "é",
    "😀",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, String),
    Truncate(Index),
    Nest(Index, usize),
}

fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect()
}

fn apply(doc: &mut String, mutation: &Mutation) {
    let b = boundaries(doc);
    let at = |i: &Index| b[i.index(b.len())];
    match mutation {
        Mutation::Delete(i, n) => {
            let start = i.index(b.len());
            let end = (start + n).min(b.len() - 1);
            doc.replace_range(b[start]..b[end], "");
        }
        Mutation::Insert(i, text) => doc.insert_str(at(i), text),
        Mutation::Truncate(i) => doc.truncate(at(i)),
        Mutation::Nest(i, depth) => {
            let nest = "<a>".repeat(*depth) + &"</a>".repeat(*depth);
            doc.insert_str(at(i), &nest);
        }
    }
}

fn small_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..16usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        4 => (any::<Index>(), select(SNIPPETS).prop_map(String::from))
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => (any::<Index>(), small_string()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1..40usize).prop_map(|(i, d)| Mutation::Nest(i, d)),
    ]
}

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

/// Login requests with arbitrary values in their fields, to exercise `login_request`.
fn login_soup() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        2 => select(SNIPPETS).prop_map(String::from),
        1 => small_string().prop_map(|s| s.replace(['<', '&'], "")),
        2 => select(&["true", "false", "1", "0", "https://h/", "http://h/", "https://h:99999/",
                      "https://[::1]:1/x", "https://u@h/", "ftp://h", "not a url"][..])
            .prop_map(String::from),
    ];
    let field = (
        select(
            &[
                "username",
                "password",
                "heartbeatRequested",
                "callbackUrl",
                "protVersion",
            ][..],
        ),
        value,
    )
        .prop_map(|(name, value)| format!("<{name}>{value}</{name}>"));
    prop::collection::vec(field, 0..8)
        .prop_map(|fields| format!("<loginRequest>{}</loginRequest>", fields.concat()))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        check_outcome(&s)?;
    }

    #[test]
    fn parse_never_panics_on_token_soup(s in token_soup()) {
        check_outcome(&s)?;
    }

    #[test]
    fn parse_never_panics_on_mutated_requests(
        seed in select(seeds()),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut doc = seed.to_string();
        for m in &mutations {
            apply(&mut doc, m);
        }
        check_outcome(&doc)?;
    }

    #[test]
    fn login_request_never_panics(body in login_soup()) {
        check_outcome(&body)?;
    }

    #[test]
    fn callback_check_never_panics(url in prop_oneof![
        any::<String>(),
        small_string().prop_map(|s| format!("https://{s}")),
        (small_string(), small_string()).prop_map(|(a, b)| format!("https://h{a}/{b}")),
    ]) {
        match check_callback_url(&url) {
            Ok(()) => {
                prop_assert!(url.is_ascii());
                prop_assert!(url[..8].eq_ignore_ascii_case("https://"));
                prop_assert!(!url.contains('@'));
            }
            Err(e) => {
                prop_assert!(matches!(e.code, NbiCode::BadInput | NbiCode::CallbackNotHttps));
                check_description(&e)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// write_element then parse_request is the identity

/// `NCName`s, ASCII and not.
fn name() -> impl Strategy<Value = String> {
    let start = select(&['a', 'Z', '_', 'é', 'Ω', '中', '\u{10000}'][..]);
    let rest = prop::collection::vec(
        select(
            &[
                'a', 'Z', '_', '-', '.', '0', '9', '\u{B7}', '\u{300}', 'é', '中',
            ][..],
        ),
        0..6,
    );
    prop_oneof![
        3 => select(&["user", "username", "profiles", "profile", "error", "code", "x"][..])
            .prop_map(String::from),
        2 => (start, rest).prop_map(|(s, r)| std::iter::once(s).chain(r).collect()),
    ]
}

/// Text with every XML special and whitespace, as `parse_request` yields it: XML characters
/// only, no leading or trailing XML whitespace.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => select(&["&", "<", ">", "\"", "'", "]]>", "&amp;", "&#65;", "<![CDATA[x]]>",
                      "\t", "\n", "\r", "\r\n", " ", "\u{a0}", "\u{85}", "\u{2028}", "😀"][..])
            .prop_map(String::from),
        2 => small_string(),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| {
        let s: String = pieces
            .concat()
            .chars()
            .filter(|&c| is_xml_char(c))
            .collect();
        s.trim_matches(is_xml_space).to_string()
    })
}

fn tree() -> impl Strategy<Value = Element> {
    let leaf = (name(), text()).prop_map(|(n, t)| Element::with_text(n, t));
    leaf.prop_recursive(5, 48, 6, |inner| {
        (name(), text(), prop::collection::vec(inner, 0..6)).prop_map(|(n, t, children)| Element {
            name: n,
            text: t,
            children,
        })
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn written_trees_read_back_unchanged(tree in tree()) {
        let mut out = String::new();
        write_element(&mut out, &tree);
        let back = parse_request(&out).map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
        prop_assert_eq!(&back, &tree);
        let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{out}");
        let with_prolog = parse_request(&doc).ok();
        prop_assert_eq!(with_prolog.as_ref(), Some(&tree));
    }

    #[test]
    fn responses_read_back(
        method in name(),
        req_id in prop::option::of(any::<String>()),
        paging in prop::option::of((any::<u64>(), prop::option::of(any::<u64>()), any::<u64>())),
        body in prop::collection::vec(tree(), 0..3),
        error in prop::option::of((any::<Index>(), any::<String>())),
    ) {
        let paging = paging.map(|(start_index, end_index, total_count)| Paging {
            start_index,
            end_index,
            total_count,
        });
        let codes: Vec<NbiCode> = NbiCode::all().collect();
        let error = error.map(|(i, detail)| NbiError::with_detail(codes[i.index(codes.len())], detail));
        let doc = render_response(&method, req_id.as_deref(), paging.as_ref(), &body, error.as_ref());
        let root = parse_request(&doc).map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;

        let mut expected = Element::new(method.as_str()).field("protVersion", "1.0");
        if let Some(r) = &req_id {
            expected = expected.field("reqId", carried(r).trim_matches(is_xml_space));
        }
        if let Some(p) = &paging {
            expected = expected.field("startIndex", p.start_index.to_string());
            if let Some(end) = p.end_index {
                expected = expected.field("endIndex", end.to_string());
            }
            expected = expected.field("totalCount", p.total_count.to_string());
        }
        for b in &body {
            expected = expected.child(b.clone());
        }
        if let Some(e) = &error {
            expected = expected.child(
                Element::new("error")
                    .field("code", e.code.code().to_string())
                    .field("description", carried(&e.description).trim_matches(is_xml_space)),
            );
        }
        prop_assert_eq!(&root, &expected);

        let b = base(&root).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(b.start_index, paging.as_ref().map(|p| p.start_index));
        prop_assert_eq!(b.end_index, paging.as_ref().and_then(|p| p.end_index));

        if let Some(e) = &error {
            let r = parse_request(&render_base_error(e)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(r.name.as_str(), "baseError");
            let description = carried(&e.description);
            prop_assert_eq!(r.text_of("description"), Some(description.trim_matches(is_xml_space)));
        }
    }
}
