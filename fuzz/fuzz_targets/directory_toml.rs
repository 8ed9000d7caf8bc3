//! A TOML directory file, read both ways the service reads one: whole (`directory::parse`) and
//! in pieces as `hotdesk import` streams it (`DirectorySource::check`). Never a panic.

#![no_main]

use hotdesk::domain::directory;
use hotdesk::domain::directory_source::DirectorySource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = directory::parse("fuzz.toml", text);
    let _ = DirectorySource::toml_text("fuzz.toml", text.to_string()).check();
});
