//! `sync_message`: see `linli_test_kit::harness::sync_message`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("sync_message", data, linli_test_kit::harness::sync_message);
});
