use std::time::{Duration, Instant};

use super::*;

const P: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Asserts that `body` is refused with `code` and a description containing `needle`.
#[track_caller]
fn fails(body: &str, code: NbiCode, needle: &str) {
    let err = parse_request(body).expect_err(body);
    assert_eq!(err.code, code, "{body}: {err}");
    assert!(
        err.description.contains(needle),
        "{body}: {:?} lacks {needle:?}",
        err.description
    );
}

fn root(body: &str) -> Element {
    parse_request(body).unwrap_or_else(|e| panic!("{body}: {e}"))
}

// --- parse_request: shape -------------------------------------------------------------------

#[test]
fn plain_default_namespace_and_prefixed_roots_read_alike() {
    let expected = Element::new("loginRequest")
        .field("protVersion", "1.0")
        .field("username", "admin")
        .field("password", "pw");
    for body in [
        "<loginRequest><protVersion>1.0</protVersion><username>admin</username>\
         <password>pw</password></loginRequest>",
        "<loginRequest xmlns=\"csm\"><protVersion>1.0</protVersion><username>admin</username>\
         <password>pw</password></loginRequest>",
        "<csm:loginRequest xmlns:csm=\"csm\"><protVersion>1.0</protVersion>\
         <username>admin</username><password>pw</password></csm:loginRequest>",
        "<csm:loginRequest xmlns:csm=\"csm\"><csm:protVersion>1.0</csm:protVersion>\
         <csm:username>admin</csm:username><password>pw</password></csm:loginRequest>",
        // Undeclared prefixes are not checked either: namespaces are ignored.
        "<p:loginRequest><p:protVersion>1.0</p:protVersion><username>admin</username>\
         <password>pw</password></p:loginRequest>",
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<loginRequest a='1'>\n  \
         <protVersion> 1.0 </protVersion>\n  <username>admin</username>\n  \
         <password>pw</password>\n</loginRequest>\n<!-- after -->\n<?pi after?>\n",
    ] {
        assert_eq!(root(body), expected, "{body}");
    }
}

#[test]
fn self_closing_root() {
    assert_eq!(
        root("<csm:logoutRequest xmlns:csm=\"csm\"/>"),
        Element::new("logoutRequest")
    );
}

#[test]
fn text_is_decoded_trimmed_and_direct_only() {
    let r =
        root("<a> x &amp; <b>in b</b> y&lt;&gt;&apos;&quot;&#65;&#x42; <![CDATA[<c>&amp;]]> </a>");
    assert_eq!(r.text, "x &  y<>'\"AB <c>&amp;");
    assert_eq!(r.children, vec![Element::with_text("b", "in b")]);
    // Whitespace written as character references is XML whitespace all the same.
    assert_eq!(root("<a>&#9;x&#10;</a>").text, "x");
    // Other Unicode spaces are data.
    assert_eq!(root("<a>\u{a0}x</a>").text, "\u{a0}x");
}

#[test]
fn element_accessors() {
    let r = root("<r><a>1</a><b/><a>2</a><c><d>x</d></c></r>");
    assert_eq!(r.get("a").map(|a| a.text.as_str()), Some("1"));
    assert_eq!(r.text_of("a"), Some("1"));
    assert_eq!(r.text_of("b"), Some(""));
    assert_eq!(r.text_of("zz"), None);
    assert_eq!(
        r.all("a").map(|a| a.text.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(r.get("c").and_then(|c| c.text_of("d")), Some("x"));
    assert_eq!(r.optional("b").unwrap(), Some(&Element::new("b")));
    assert_eq!(r.optional("zz").unwrap(), None);
    let dup = r.optional("a").unwrap_err();
    assert_eq!(dup.code, NbiCode::InvalidXml);
    assert!(
        dup.description
            .contains("element a appears more than once in r")
    );
    let missing = r.required("zz").unwrap_err();
    assert_eq!(missing.code, NbiCode::InvalidXml);
    assert!(missing.description.contains("missing element zz in r"));
    assert_eq!(r.required("c").unwrap().children.len(), 1);
}

#[test]
fn builders() {
    let mut e = Element::new("user");
    e.push(Element::with_text("id", "1"))
        .push(Element::new("lines").field("line", "1001"));
    let built = Element::new("user")
        .field("id", "1")
        .child(Element::new("lines").child(Element::with_text("line", "1001")));
    assert_eq!(e, built);
    assert_eq!(
        built,
        Element {
            name: "user".into(),
            text: String::new(),
            children: vec![
                Element {
                    name: "id".into(),
                    text: "1".into(),
                    children: vec![],
                },
                Element {
                    name: "lines".into(),
                    text: String::new(),
                    children: vec![Element {
                        name: "line".into(),
                        text: "1001".into(),
                        children: vec![],
                    }],
                },
            ],
        }
    );
}

// --- parse_request: refusals ----------------------------------------------------------------

#[test]
fn empty_payloads_are_13() {
    for body in [
        "",
        " ",
        " \t\r\n ",
        "\u{feff}",
        "\u{feff}  \n",
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n  ",
        "<!-- nothing -->",
        "<?pi?>",
    ] {
        let err = parse_request(body).expect_err(body);
        assert_eq!(err, NbiError::new(NbiCode::EmptyPayload), "{body:?}");
    }
}

#[test]
fn malformed_xml_is_15() {
    for (body, needle) in [
        ("<a>", "unclosed element a"),
        ("<a><b></a>", "malformed XML at byte"),
        ("</a>", "malformed XML"),
        ("<a></a><b/>", "content after the root element"),
        ("<a></a>x", "text outside the root element"),
        ("x<a></a>", "text outside the root element"),
        ("hello", "text outside the root element"),
        ("<a>&foo;</a>", "entity reference &foo;"),
        ("<a>&amp</a>", "malformed XML"),
        ("<a>a & b</a>", "malformed XML"),
        ("<a>&#0;</a>", "invalid character reference &#0;"),
        ("<a>&#1;</a>", "invalid character reference"),
        ("<a>&#xD800;</a>", "invalid character reference"),
        ("<a>\u{1}</a>", "character U+0001 is not allowed"),
        ("<a>\u{fffe}</a>", "character U+FFFE"),
        ("<1a/>", "invalid element name 1a"),
        ("<:a/>", "invalid element name :a"),
        ("<a:/>", "invalid element name a:"),
        ("<a:b:c/>", "invalid element name a:b:c"),
        ("<a b=></a>", "malformed attribute"),
        ("<a b></a>", "malformed attribute"),
        ("<a><!-- x -- y --></a>", "malformed XML"),
        ("<a><![CDATA[x</a>", "malformed XML"),
        (
            "<!-- c --><?xml version=\"1.0\"?><a/>",
            "XML declaration not at the start",
        ),
        ("<!DOCTYPE a><a/>", "DOCTYPE is not allowed"),
        ("<a/><!DOCTYPE a>", "DOCTYPE is not allowed"),
        ("<!DOCTYPE a SYSTEM \"http://evil/x.dtd\"><a/>", "DOCTYPE"),
    ] {
        fails(body, NbiCode::InvalidXml, needle);
        // Every detail follows the code's own description.
        let err = parse_request(body).unwrap_err();
        assert!(err.description.starts_with("XML request is invalid: "));
    }
}

const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
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
fn billion_laughs_is_15_quickly() {
    let start = Instant::now();
    let body = format!(
        "{LAUGHS}<loginRequest><username>&lol9;</username><password>x</password></loginRequest>"
    );
    fails(&body, NbiCode::InvalidXml, "DOCTYPE is not allowed");
    // Without the DOCTYPE the reference alone is just as dead.
    fails(
        "<loginRequest><username>&lol9;</username></loginRequest>",
        NbiCode::InvalidXml,
        "entity reference &lol9;",
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn depth_limit() {
    let nested = |depth: usize| "<a>".repeat(depth) + &"</a>".repeat(depth);
    let mut e = &root(&nested(MAX_DEPTH));
    for _ in 1..MAX_DEPTH {
        e = &e.children[0];
    }
    assert!(e.children.is_empty());
    fails(
        &nested(MAX_DEPTH + 1),
        NbiCode::InvalidXml,
        "elements nested deeper than 32 levels",
    );
    // An empty element at the limit counts as a level too.
    let body = "<a>".repeat(MAX_DEPTH) + "<b/>" + &"</a>".repeat(MAX_DEPTH);
    fails(&body, NbiCode::InvalidXml, "nested deeper");
    let start = Instant::now();
    fails(
        &"<a>".repeat(1_000_000),
        NbiCode::InvalidXml,
        "nested deeper",
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn element_count_limit() {
    let with = |n: usize| format!("<r>{}</r>", "<x/>".repeat(n));
    assert_eq!(
        root(&with(MAX_ELEMENTS - 1)).children.len(),
        MAX_ELEMENTS - 1
    );
    fails(
        &with(MAX_ELEMENTS),
        NbiCode::InvalidXml,
        "too many elements: more than 10000",
    );
    let start = Instant::now();
    fails(&with(1_000_000), NbiCode::InvalidXml, "too many elements");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn details_quote_input_briefly() {
    let long = "x".repeat(10_000);
    for body in [
        format!("<{long}>"),
        format!("<{long}></{long}y>"),
        format!("<a>&{long};</a>"),
        format!("<1{long}/>"),
        format!("<r><protVersion>{long}</protVersion></r>"),
    ] {
        let err = parse_request(&body)
            .and_then(|r| base(&r))
            .expect_err("refused");
        assert!(
            err.description.chars().count() < 300,
            "{} chars: {}",
            err.description.len(),
            err.description
        );
    }
}

#[test]
fn never_panics_on_truncations_of_a_valid_document() {
    let body = "\u{feff}<?xml version=\"1.0\"?><!-- c --><csm:loginRequest xmlns:csm=\"csm\">\
                <reqId>a&amp;b&#x41;</reqId><username><![CDATA[x]]></username><password/>\
                </csm:loginRequest><?pi?>";
    for (i, _) in body.char_indices() {
        if let Ok(r) = parse_request(&body[..i]) {
            let _ = base(&r);
            let _ = login_request(&r);
        }
    }
    assert!(parse_request(body).is_ok());
}

// --- base -----------------------------------------------------------------------------------

fn base_of(body: &str) -> Result<Base, NbiError> {
    base(&root(body))
}

#[test]
fn base_fields() {
    assert_eq!(base_of("<r/>").unwrap(), Base::default());
    assert_eq!(
        base_of(
            "<r><protVersion>1.0</protVersion><reqId> 42 </reqId><startIndex>10</startIndex>\
             <endIndex>+20</endIndex><other/></r>"
        )
        .unwrap(),
        Base {
            prot_version: Some("1.0".into()),
            req_id: Some("42".into()),
            start_index: Some(10),
            end_index: Some(20),
        }
    );
    assert_eq!(
        base_of("<r><reqId/></r>").unwrap().req_id,
        Some(String::new())
    );
    assert_eq!(
        base_of("<r><startIndex>18446744073709551615</startIndex></r>")
            .unwrap()
            .start_index,
        Some(u64::MAX)
    );
}

#[test]
fn prot_version_must_be_one() {
    for v in ["1.0", "1", "1.00", "01.0", "1e0", "+1.0", " 1.0\n"] {
        let b = base_of(&format!("<r><protVersion>{v}</protVersion></r>")).unwrap();
        assert_eq!(b.prot_version.as_deref(), Some(v.trim()));
    }
    for v in ["2.0", "1.1", "0", "abc", "", "NaN", "inf", "1.0.0", "-1"] {
        let err = base_of(&format!("<r><protVersion>{v}</protVersion></r>")).unwrap_err();
        assert_eq!(err.code, NbiCode::UnsupportedVersion, "{v}");
        assert_eq!(
            err.description,
            format!("Unsupported protVersion: \"{v}\": only 1.0 is supported")
        );
    }
}

#[test]
fn bad_indexes_are_15() {
    for (body, needle) in [
        (
            "<r><startIndex>x</startIndex></r>",
            "startIndex must be a non-negative integer, not \"x\"",
        ),
        ("<r><startIndex>-1</startIndex></r>", "startIndex"),
        ("<r><startIndex></startIndex></r>", "not \"\""),
        ("<r><startIndex>1.5</startIndex></r>", "startIndex"),
        (
            "<r><startIndex>18446744073709551616</startIndex></r>",
            "startIndex",
        ),
        ("<r><startIndex>+</startIndex></r>", "startIndex"),
        ("<r><startIndex>++1</startIndex></r>", "startIndex"),
        ("<r><endIndex>1 0</endIndex></r>", "endIndex must be"),
        ("<r><endIndex>١</endIndex></r>", "endIndex must be"),
    ] {
        let err = base_of(body).unwrap_err();
        assert_eq!(err.code, NbiCode::InvalidXml, "{body}");
        assert!(
            err.description.contains(needle),
            "{body}: {}",
            err.description
        );
    }
}

#[test]
fn repeated_base_fields_are_15() {
    for name in ["protVersion", "reqId", "startIndex", "endIndex"] {
        let err = base_of(&format!("<r><{name}>1</{name}><{name}>1</{name}></r>")).unwrap_err();
        assert_eq!(err.code, NbiCode::InvalidXml);
        assert!(err.description.contains("appears more than once"));
    }
}

// --- rendering ------------------------------------------------------------------------------

#[test]
fn login_response_exact_bytes() {
    let body = [
        Element::with_text("serviceVersion", "1.0"),
        Element::with_text("sessionTimeoutInMins", "15"),
    ];
    assert_eq!(
        render_response("loginResponse", Some("42"), None, &body, None),
        format!(
            "{P}<loginResponse><protVersion>1.0</protVersion><reqId>42</reqId>\
             <serviceVersion>1.0</serviceVersion><sessionTimeoutInMins>15</sessionTimeoutInMins>\
             </loginResponse>"
        )
    );
    assert_eq!(
        render_response("logoutResponse", None, None, &[], None),
        format!("{P}<logoutResponse><protVersion>1.0</protVersion></logoutResponse>")
    );
}

#[test]
fn response_with_paging() {
    let users = [
        Element::new("user").field("username", "a"),
        Element::new("user").field("username", "b"),
    ];
    let paging = Paging {
        start_index: 0,
        end_index: Some(2),
        total_count: 5,
    };
    assert_eq!(
        render_response("listUsersResponse", Some("r1"), Some(&paging), &users, None),
        format!(
            "{P}<listUsersResponse><protVersion>1.0</protVersion><reqId>r1</reqId>\
             <startIndex>0</startIndex><endIndex>2</endIndex><totalCount>5</totalCount>\
             <user><username>a</username></user><user><username>b</username></user>\
             </listUsersResponse>"
        )
    );
    let last = Paging {
        start_index: 4,
        end_index: None,
        total_count: 5,
    };
    assert_eq!(
        render_response("listUsersResponse", None, Some(&last), &[], None),
        format!(
            "{P}<listUsersResponse><protVersion>1.0</protVersion>\
             <startIndex>4</startIndex><totalCount>5</totalCount></listUsersResponse>"
        )
    );
}

#[test]
fn response_with_error() {
    let err = NbiError::with_detail(NbiCode::NotFound, "user <bob> & co");
    assert_eq!(
        render_response("getUserResponse", Some("a<b"), None, &[], Some(&err)),
        format!(
            "{P}<getUserResponse><protVersion>1.0</protVersion><reqId>a&lt;b</reqId>\
             <error><code>1001</code><description>Object not found: user &lt;bob&gt; &amp; co\
             </description></error></getUserResponse>"
        )
    );
    // Order: base fields, body, error.
    let paging = Paging::default();
    let doc = render_response(
        "x",
        Some("1"),
        Some(&paging),
        &[Element::new("b")],
        Some(&NbiError::new(NbiCode::GeneralFailure)),
    );
    assert_eq!(
        doc,
        format!(
            "{P}<x><protVersion>1.0</protVersion><reqId>1</reqId><startIndex>0</startIndex>\
             <totalCount>0</totalCount><b/><error><code>1</code><description>General Failure\
             </description></error></x>"
        )
    );
}

#[test]
fn base_error_exact_bytes() {
    assert_eq!(
        render_base_error(&NbiError::new(NbiCode::NoSession)),
        format!(
            "{P}<baseError><code>4</code><description>Authorization Failure: No session found\
             </description></baseError>"
        )
    );
    assert_eq!(
        render_base_error(&NbiError::new(NbiCode::InvalidSession)),
        format!(
            "{P}<baseError><code>5</code><description>Authorization Failure: Invalid or \
             expired session</description></baseError>"
        )
    );
}

#[test]
fn rendered_documents_read_back() {
    let err = NbiError::with_detail(NbiCode::InvalidXml, "a\r\nb\t<&>\u{0}");
    let paging = Paging {
        start_index: 3,
        end_index: Some(9),
        total_count: 12,
    };
    let doc = render_response(
        "listResponse",
        Some("i\"d'"),
        Some(&paging),
        &[Element::with_text("v", "]]>")],
        Some(&err),
    );
    let r = root(&doc);
    assert_eq!(
        r,
        Element::new("listResponse")
            .field("protVersion", "1.0")
            .field("reqId", "i\"d'")
            .field("startIndex", "3")
            .field("endIndex", "9")
            .field("totalCount", "12")
            .field("v", "]]>")
            .child(
                Element::new("error")
                    .field("code", "15")
                    .field("description", "XML request is invalid: a\r\nb\t<&>\u{FFFD}")
            )
    );
    assert_eq!(base(&r).unwrap().req_id.as_deref(), Some("i\"d'"));
    let r = root(&render_base_error(&err));
    assert_eq!(r.name, "baseError");
    assert_eq!(r.text_of("code"), Some("15"));
}

#[test]
fn write_element_shapes_and_escapes() {
    let mut out = String::new();
    write_element(&mut out, &Element::new("a"));
    assert_eq!(out, "<a/>");
    let e = Element::with_text("a", "t&<>\"'\t\n\r\u{1}\u{FFFF}é")
        .child(Element::new("b"))
        .child(Element::with_text("c", "x").child(Element::new("d")));
    let mut out = String::new();
    write_element(&mut out, &e);
    assert_eq!(
        out,
        "<a>t&amp;&lt;&gt;\"'&#9;&#10;&#13;\u{FFFD}\u{FFFD}é<b/><c>x<d/></c></a>"
    );
    // write_element appends.
    write_element(&mut out, &Element::new("z"));
    assert!(out.ends_with("</a><z/>"));
}

#[test]
fn names_that_are_not_xml_names_are_repaired() {
    let cases = [
        ("", "_"),
        ("1a", "_1a"),
        ("-a", "_-a"),
        ("a b", "a_b"),
        ("a<b>", "a_b_"),
        ("csm:x", "csm_x"),
        ("<", "__"),
        ("ok_name-1.2", "ok_name-1.2"),
        ("héllo", "héllo"),
    ];
    for (name, written) in cases {
        let mut out = String::new();
        write_element(&mut out, &Element::new(name));
        assert_eq!(out, format!("<{written}/>"), "{name:?}");
        assert!(is_ncname(written));
        let doc = render_response(name, None, None, &[], None);
        assert_eq!(
            doc,
            format!("{P}<{written}><protVersion>1.0</protVersion></{written}>")
        );
        assert_eq!(root(&doc).name, written);
    }
}

#[test]
fn deep_trees_are_written_without_recursion() {
    let depth = 5_000;
    let mut e = Element::new("a");
    for _ in 1..depth {
        e = Element::new("a").child(e);
    }
    let mut out = String::new();
    write_element(&mut out, &e);
    assert_eq!(
        out,
        "<a>".repeat(depth - 1) + "<a/>" + &"</a>".repeat(depth - 1)
    );
}

#[test]
fn hand_written_round_trip() {
    let tree = Element::with_text("r", "a&b<c>d]]>e'f\"g")
        .child(Element::with_text("x", "line1\nline2\r\nline3\ttab"))
        .child(
            Element::new("y")
                .field("z", "é😀")
                .child(Element::new("empty")),
        )
        .field("x", "second x");
    let mut out = String::new();
    write_element(&mut out, &tree);
    assert_eq!(root(&out), tree);
    assert_eq!(root(&format!("{P}{out}")), tree);
}

// --- login_request --------------------------------------------------------------------------

fn login(fields: &str) -> Result<LoginRequest, NbiError> {
    login_request(&root(&format!("<loginRequest>{fields}</loginRequest>")))
}

fn hb(url: &str) -> Result<LoginRequest, NbiError> {
    login(&format!(
        "<username>u</username><password>p</password><heartbeatRequested>true\
         </heartbeatRequested><callbackUrl>{url}</callbackUrl>"
    ))
}

#[track_caller]
fn login_fails(result: Result<LoginRequest, NbiError>, code: NbiCode, needle: &str) {
    let err = result.expect_err("refused");
    assert_eq!(err.code, code, "{err}");
    assert!(
        err.description.contains(needle),
        "{:?} lacks {needle:?}",
        err.description
    );
}

#[test]
fn login_minimal_and_namespaced() {
    let expected = LoginRequest {
        username: "admin".into(),
        password: "secret".into(),
        heartbeat_requested: false,
        callback_url: None,
    };
    for body in [
        "<loginRequest><username>admin</username><password>secret</password></loginRequest>",
        "<loginRequest xmlns=\"csm\"><protVersion>1.0</protVersion><reqId>1</reqId>\
         <username>admin</username><password>secret</password><unknown/></loginRequest>",
        "<csm:loginRequest xmlns:csm=\"csm\"><csm:username>admin</csm:username>\
         <password>secret</password><heartbeatRequested>false</heartbeatRequested>\
         </csm:loginRequest>",
        "<loginRequest><password>secret</password><username>admin</username>\
         <heartbeatRequested>0</heartbeatRequested><callbackUrl/></loginRequest>",
    ] {
        assert_eq!(login_request(&root(body)).unwrap(), expected, "{body}");
    }
}

#[test]
fn login_with_heartbeat() {
    let l = hb("https://client.example.com:8443/nbi/heartbeat?x=1&amp;y=%2F#top").unwrap();
    assert!(l.heartbeat_requested);
    assert_eq!(
        l.callback_url.as_deref(),
        Some("https://client.example.com:8443/nbi/heartbeat?x=1&y=%2F#top")
    );
    let l = login(
        "<username>u</username><password>p</password><heartbeatRequested>1</heartbeatRequested>\
         <callbackUrl> HTTPS://10.0.0.1/hb </callbackUrl>",
    )
    .unwrap();
    assert_eq!(l.callback_url.as_deref(), Some("HTTPS://10.0.0.1/hb"));
    for url in [
        "https://h",
        "https://h/",
        "https://h.",
        "https://h:1",
        "https://h:65535/",
        "https://[::1]",
        "https://[::1]:8443/hb",
        "https://[2001:db8::ffff:1.2.3.4]/",
        "https://my_host.example/a/b;c=d",
        "https://h?q",
        "https://h#f",
        "hTTpS://h/~user/%41",
    ] {
        assert_eq!(hb(url).unwrap().callback_url.as_deref(), Some(url), "{url}");
    }
}

#[test]
fn login_empty_credentials_are_accepted() {
    let l = login("<username/><password></password>").unwrap();
    assert_eq!((l.username.as_str(), l.password.as_str()), ("", ""));
}

#[test]
fn login_structure_errors_are_15() {
    let err = login_request(&root("<logoutRequest/>")).unwrap_err();
    assert_eq!(
        err,
        NbiError::with_detail(NbiCode::InvalidXml, "expected loginRequest")
    );
    let err = login_request(&root("<csm:loginResponse xmlns:csm='csm'/>")).unwrap_err();
    assert_eq!(err.code, NbiCode::InvalidXml);
    login_fails(
        login("<password>p</password>"),
        NbiCode::InvalidXml,
        "missing element username in loginRequest",
    );
    login_fails(
        login("<username>u</username>"),
        NbiCode::InvalidXml,
        "missing element password in loginRequest",
    );
    login_fails(
        login("<username>u</username><username>v</username><password>p</password>"),
        NbiCode::InvalidXml,
        "element username appears more than once",
    );
    login_fails(
        login(
            "<username>u</username><password>p</password><heartbeatRequested>true\
             </heartbeatRequested><heartbeatRequested>true</heartbeatRequested>",
        ),
        NbiCode::InvalidXml,
        "more than once",
    );
}

#[test]
fn login_heartbeat_input_errors_are_11() {
    for value in ["yes", "TRUE", "True", "", "2", "t"] {
        login_fails(
            login(&format!(
                "<username>u</username><password>p</password>\
                 <heartbeatRequested>{value}</heartbeatRequested>"
            )),
            NbiCode::BadInput,
            "heartbeatRequested must be true or false",
        );
    }
    for flag in ["", "<heartbeatRequested>false</heartbeatRequested>"] {
        login_fails(
            login(&format!(
                "<username>u</username><password>p</password>{flag}\
                 <callbackUrl>https://h/</callbackUrl>"
            )),
            NbiCode::BadInput,
            "callbackUrl is given but heartbeatRequested is not true",
        );
    }
    for url in ["", "<callbackUrl/>", "<callbackUrl>  </callbackUrl>"] {
        login_fails(
            login(&format!(
                "<username>u</username><password>p</password>\
                 <heartbeatRequested>true</heartbeatRequested>{url}"
            )),
            NbiCode::BadInput,
            "heartbeatRequested is true but callbackUrl is missing",
        );
    }
}

#[test]
fn callback_must_be_https_16() {
    for url in [
        "http://client.example/hb",
        "HTTP://client.example/hb",
        "ftp://h/",
        "javascript:alert(1)",
        "http:garbage",
        "httpss://h/",
    ] {
        let err = hb(url).unwrap_err();
        assert_eq!(err.code, NbiCode::CallbackNotHttps, "{url}: {err}");
        assert!(
            err.description.starts_with(
                "Only the HTTPS protocol is allowed for a callback URL: the scheme is"
            )
        );
    }
}

#[test]
fn callback_must_be_a_url_with_a_host_11() {
    for (url, needle) in [
        ("client.example/hb", "is not an absolute URL"),
        ("not a url", "is not an absolute URL"),
        ("//h/x", "is not an absolute URL"),
        ("1https://h/", "is not an absolute URL"),
        ("https:h/x", "has no host"),
        ("https:/h/x", "has no host"),
        ("https://", "has no valid host"),
        ("https:///x", "has no valid host"),
        ("https://:443/", "has no valid host"),
        ("https://h..x/", "has no valid host"),
        ("https://h x/", "has no valid host"),
        ("https://hé/", "has no valid host"),
        ("https://h%41/", "has no valid host"),
        ("https://[::1/", "has no valid host"),
        ("https://[zz]/", "has no valid host"),
        ("https://[::1]x/", "has no valid port"),
        ("https://::1/", "has no valid host"),
        ("https://user@h/", "must not carry user information"),
        ("https://u:p@h/", "must not carry user information"),
        ("https://h:/", "has no valid port"),
        ("https://h:0/", "has no valid port"),
        ("https://h:65536/", "has no valid port"),
        ("https://h:000001/", "has no valid port"),
        ("https://h:+1/", "has no valid port"),
        ("https://h:1:2/", "has no valid port"),
        ("https://h/a b", "cannot carry"),
        ("https://h/a<b", "cannot carry"),
        ("https://h/%zz", "bad % escape"),
        ("https://h/%4", "bad % escape"),
        ("https://h/é", "cannot carry"),
        ("https://h/\u{7f}", "cannot carry"),
    ] {
        let err = check_callback_url(url).unwrap_err();
        assert_eq!(err.code, NbiCode::BadInput, "{url}: {err}");
        assert!(
            err.description.contains(needle),
            "{url}: {}",
            err.description
        );
    }
    // Through the login request, escaped in XML, the same.
    login_fails(
        hb("https://h/a&lt;b"),
        NbiCode::BadInput,
        "callbackUrl \"https://h/a<b\"",
    );
    let long = format!("https://h/{}", "a".repeat(MAX_CALLBACK_URL_LEN));
    login_fails(hb(&long), NbiCode::BadInput, "longer than 2048 bytes");
    let label = "a".repeat(64);
    login_fails(
        hb(&format!("https://{label}/")),
        NbiCode::BadInput,
        "no valid host",
    );
    let name = vec!["a".repeat(63); 4].join(".");
    login_fails(
        hb(&format!("https://{name}/")),
        NbiCode::BadInput,
        "no valid host",
    );
    assert!(hb(&format!("https://{}/", &name[..253])).is_ok());
}
