//! `parse` on arbitrary bytes: it must never panic, and refuse only with code 1 or 8.

#![no_main]

use hotdesk_proto::{ErrorCode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The service hands parse a `&str`; bytes that are not UTF-8 never reach it.
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse(xml) {
        assert!(
            matches!(
                e.code,
                ErrorCode::Parsing | ErrorCode::QueryTypeUndetermined
            ),
            "code {} for {xml:?}: {e}",
            e.code
        );
    }
});
