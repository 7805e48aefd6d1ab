//! `sync_message`: see `linli_sync_server::harness::sync_message`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("sync_message", data, linli_sync_server::harness::sync_message);
});
