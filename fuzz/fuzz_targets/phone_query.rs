//! What the phone service reads of a request: the query string's parameters, the login type,
//! and whether a `Host` may become part of the URLs it sends back. Never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query, host) = text.split_once('\n').unwrap_or((text, "127.0.0.1:8080"));
    hotdesk::http::fuzzing::phone_request(query, host);
});
