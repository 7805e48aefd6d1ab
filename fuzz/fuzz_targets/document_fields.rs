//! `document_fields`: see `linli_test_kit::harness::document_fields`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("document_fields", data, linli_test_kit::harness::document_fields);
});
