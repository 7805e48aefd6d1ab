//! `config_files`: see `linli_test_kit::harness::config_files`.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = open_findings::run("config_files", data, linli_test_kit::harness::config_files);
});
