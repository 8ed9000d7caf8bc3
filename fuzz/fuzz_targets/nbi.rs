//! The admin API's request reader: `parse_request`, then the base fields and a login request
//! from whatever root it gives. Never a panic; every refusal renders as a well-formed
//! `baseError` document.

#![no_main]

use hotdesk_proto::nbi::{base, login_request, parse_request, render_base_error};
use libfuzzer_sys::fuzz_target;
use quick_xml::Reader;
use quick_xml::events::Event;

fn well_formed(xml: &str) -> bool {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let errors = match parse_request(body) {
        Ok(root) => [base(&root).err(), login_request(&root).err()],
        Err(e) => [Some(e), None],
    };
    for e in errors.into_iter().flatten() {
        let rendered = render_base_error(&e);
        assert!(well_formed(&rendered), "{rendered:?} for {body:?}");
    }
});
