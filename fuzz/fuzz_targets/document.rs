//! `document`: see `linli_sync_server::harness::document`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("document", data, linli_sync_server::harness::document);
});
