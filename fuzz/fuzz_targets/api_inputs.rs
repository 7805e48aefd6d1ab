//! `api_inputs`: see `linli_test_kit::harness::api_inputs`. A 5xx
//! answer (or a body that fails, or no answer) is a crash here.
#![no_main]

mod open_findings;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let open = open_findings::run("api_inputs", data, |data| {
        if let Err(finding) = linli_test_kit::harness::api_inputs(data) {
            panic!("api_inputs: {finding}");
        }
    });
    if open {
        // A handler that panicked may have left the server half-changed.
        linli_test_kit::harness::api_inputs_shutdown();
    }
});
