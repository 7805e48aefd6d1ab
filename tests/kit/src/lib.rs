//! # linli-test-kit
//!
//! What Linli's tests and fuzz targets share, kept out of the production
//! crates:
//! - [`harness`]: one function per cargo-fuzz target (`fuzz/`), each
//!   taking arbitrary bytes the way a kiosk or a browser could send them
//!   and driving the server's own code; `sync-server/tests/fuzz_corpus.rs`
//!   replays every saved input on stable.

pub mod harness;
