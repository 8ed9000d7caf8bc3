//! A CSV directory file of each kind, streamed as `hotdesk import` reads one. Never a panic.

#![no_main]

use hotdesk::domain::directory_csv::CsvKind;
use hotdesk::domain::directory_source::DirectorySource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in CsvKind::ALL {
        let _ = DirectorySource::csv_text("fuzz.csv", kind, text.to_string()).check();
    }
});
