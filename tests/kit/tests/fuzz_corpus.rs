//! Replays every fuzz input kept in the repository — the minimized corpus
//! (`fuzz/corpus/<target>/`) and the inputs that once crashed
//! (`fuzz/regressions/<target>/`) — through the harnesses the cargo-fuzz
//! targets run (`linli_test_kit::harness`), on stable Rust in CI: what
//! a fuzzer found stays fixed, and what it reached keeps working.
//!
//! Crashes inside automerge are among the regressions: the server screens
//! what reaches automerge (`linli_sync_engine::intake`), and the harnesses
//! go through that screen as the connection does.

use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
};

use linli_test_kit::harness;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file of `fuzz/<kind>/<target>/`, sorted.
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The inputs of `files` on which `harness` panicked.
fn failures(files: &[PathBuf], harness: impl Fn(&[u8])) -> Vec<String> {
    let mut failed = Vec::new();
    for path in files {
        let data = std::fs::read(path).expect("reading a fuzz input");
        if std::panic::catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    failed
}

/// Run `harness` over the corpus and regressions of `target` (neither may
/// be empty); fail naming every input that panicked.
fn replay(target: &str, harness: impl Fn(&[u8])) {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let found = files(kind, target);
        assert!(!found.is_empty(), "fuzz/{kind}/{target} has no inputs");
        inputs.extend(found);
    }
    let failed = failures(&inputs, harness);
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs failed:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

fn api_inputs(data: &[u8]) {
    if let Err(finding) = harness::api_inputs(data) {
        panic!("{finding}");
    }
}

#[test]
fn sync_message_inputs_are_harmless() {
    replay("sync_message", harness::sync_message);
}

#[test]
fn document_inputs_are_harmless() {
    replay("document", harness::document);
}

#[test]
fn document_field_inputs_are_harmless() {
    replay("document_fields", harness::document_fields);
}

#[test]
fn config_file_inputs_are_harmless() {
    replay("config_files", harness::config_files);
}

#[test]
fn api_inputs_get_no_server_error() {
    replay("api_inputs", api_inputs);
    harness::api_inputs_shutdown();
}
