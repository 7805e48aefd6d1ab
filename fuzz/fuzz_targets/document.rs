//! `document`: see `linli_test_kit::harness::document`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("document", data, linli_test_kit::harness::document);
});
