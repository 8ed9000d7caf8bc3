//! How the EM servlet finds its document: a form body's `xml` field, a raw XML body or the
//! query's `xml`, percent-decoded, then parsed. Never a panic; a refusal is code 1 or 8.

#![no_main]

use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&[u8]; 4] = [
    b"application/x-www-form-urlencoded",
    b"text/xml; charset=utf-8",
    b"",
    b"multipart/form-data",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the content type and where the input goes; a query must be text.
    let content_type = CONTENT_TYPES[usize::from(pick & 3)];
    let (query, body) = if pick & 4 == 0 {
        (None, rest)
    } else {
        match std::str::from_utf8(rest) {
            Ok(q) => (Some(q), &[][..]),
            Err(_) => return,
        }
    };
    if let Err(code) = hotdesk::http::fuzzing::em_request(content_type, query, body) {
        assert!(code == 1 || code == 8, "code {code} for {data:?}");
    }
});
