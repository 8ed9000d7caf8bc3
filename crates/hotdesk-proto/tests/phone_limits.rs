//! Property tests of the phone objects: whatever the texts (names and descriptions come from the
//! directory, so from anyone with admin rights), [`render`] yields well-formed XML within what
//! older phones accept: at most 4,000 bytes, 5 input items, 100 menu items, 8 soft keys, and the
//! first menu item (the default profile) always there; or, when a URL is longer than a phone
//! follows, a message that says the screen does not fit.

use hotdesk_proto::phone::{
    DOES_NOT_FIT, Input, InputFlags, InputItem, MAX_OBJECT_BYTES, MAX_URL_BYTES, Menu, MenuItem,
    PhoneObject, SoftKey, Text, render,
};
use proptest::prelude::*;
use quick_xml::Reader;
use quick_xml::events::Event;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any text, markup characters and multi-byte ones included.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('&'),
            Just('<'),
            Just('"'),
            Just('\''),
            Just('é'),
            Just('漢'),
            Just('\n'),
            proptest::char::range('a', 'z'),
        ],
        0..max,
    )
    .prop_map(|c| c.into_iter().collect())
}

/// A URL as the service builds them, sometimes past the 256 bytes a phone follows.
fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => "[a-z0-9&=?]{0,200}",
        1 => "[a-z0-9&=?]{200,240}",
    ]
    .prop_map(|q| format!("http://em.example:8080/emapp/EMAppServlet?{q}"))
}

fn soft_keys() -> impl Strategy<Value = Vec<SoftKey>> {
    proptest::collection::vec(
        (text(40), url(), 1u8..9).prop_map(|(n, u, p)| SoftKey::new(n, u, p)),
        0..12,
    )
}

/// Well-formed, and the counts of `element`.
fn check(xml: &str, element: &str) -> usize {
    assert!(xml.len() <= MAX_OBJECT_BYTES, "{} bytes", xml.len());
    let mut reader = Reader::from_str(xml);
    let mut count = 0;
    let mut soft = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().into_inner() == element => count += 1,
            Ok(Event::Start(e)) if e.name().into_inner() == "SoftKeyItem" => soft += 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed ({e}): {xml}"),
        }
    }
    assert!(soft <= 8, "{soft} soft keys");
    count
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_menu_fits_and_keeps_its_first_item(
        title in text(60),
        prompt in text(60),
        items in proptest::collection::vec((text(80), url()), 1..130),
        keys in soft_keys(),
    ) {
        let first = items[0].0.clone();
        let too_long = items.iter().any(|(_, u)| u.len() > MAX_URL_BYTES)
            || keys.iter().any(|k| k.url.len() > MAX_URL_BYTES);
        let menu = Menu {
            title,
            prompt,
            items: items.into_iter().map(|(name, url)| MenuItem { name, url }).collect(),
            soft_keys: keys,
        };
        let xml = render(&PhoneObject::Menu(menu));
        if too_long {
            prop_assert!(xml.contains(DOES_NOT_FIT));
            check(&xml, "Text");
            return Ok(());
        }
        let n = check(&xml, "MenuItem");
        prop_assert!((1..=100).contains(&n), "{n} items");
        let shown: String = first.chars().take(64).collect();
        let expected = format!("<Name>{}</Name>", quick_xml::escape::escape(&shown));
        prop_assert!(xml.contains(&expected), "the first item is missing");
    }

    #[test]
    fn a_text_fits(title in text(60), body in text(3000), keys in soft_keys()) {
        let xml = render(&PhoneObject::Text(Text { title, text: body, soft_keys: keys }));
        check(&xml, "Text");
    }

    #[test]
    fn a_form_fits(
        title in text(60),
        prompt in text(60),
        action in url(),
        items in proptest::collection::vec((text(60), "[a-z]{1,32}", text(60)), 0..9),
    ) {
        let input = Input {
            title,
            prompt,
            url: action,
            items: items
                .into_iter()
                .map(|(display_name, param, default_value)| InputItem {
                    display_name,
                    param,
                    default_value,
                    flags: InputFlags::PIN,
                })
                .collect(),
        };
        let n = check(&render(&PhoneObject::Input(input)), "InputItem");
        prop_assert!(n <= 5);
    }
}
