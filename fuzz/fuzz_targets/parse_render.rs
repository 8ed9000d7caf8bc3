//! `parse`, then `render` of the answer the service would send: on success a `<success/>`, on
//! failure the `Failure` built from the error. The answer must be well-formed XML, and the
//! error detail short whatever the input (it quotes input-derived names cut to 64 characters).

#![no_main]

use hotdesk_proto::{EmResponse, ErrorCode, Failure, parse, render};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// The longest error detail, in characters.
const MAX_DETAIL_CHARS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let response = match parse(xml) {
        Ok(_) => EmResponse::Success,
        Err(e) => {
            assert!(
                matches!(
                    e.code,
                    ErrorCode::Parsing | ErrorCode::QueryTypeUndetermined
                ),
                "code {} for {xml:?}: {e}",
                e.code
            );
            let chars = e.detail.chars().count();
            assert!(
                chars <= MAX_DETAIL_CHARS,
                "detail of {chars} characters: {e}"
            );
            EmResponse::Failure(Failure::from(e))
        }
    };
    let doc = render(&response);
    assert_well_formed(&doc);
});

/// Reads `doc` to the end, checking end tags, attributes and every reference.
fn assert_well_formed(doc: &str) {
    let mut reader = Reader::from_str(doc);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event() {
            Err(e) => panic!("rendered answer is malformed ({e}): {doc:?}"),
            Ok(Event::Start(start)) => {
                roots += usize::from(depth == 0);
                depth += 1;
                for attr in start.attributes() {
                    let attr = attr.unwrap_or_else(|e| panic!("bad attribute ({e}): {doc:?}"));
                    attr.normalized_value(XmlVersion::Explicit1_0)
                        .unwrap_or_else(|e| panic!("bad attribute value ({e}): {doc:?}"));
                }
            }
            Ok(Event::Empty(_)) => roots += usize::from(depth == 0),
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => assert!(
                depth > 0 || t.chars().all(|c| c.is_ascii_whitespace()),
                "text outside the root: {doc:?}"
            ),
            Ok(Event::GeneralRef(r)) => {
                let known = matches!(&*r, "lt" | "gt" | "amp" | "apos" | "quot");
                assert!(
                    known || matches!(r.resolve_char_ref(), Ok(Some(_))),
                    "bad reference &{}; in {doc:?}",
                    &*r
                );
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    assert_eq!((depth, roots), (0, 1), "not one closed root: {doc:?}");
}
