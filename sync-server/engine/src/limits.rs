//! What one client may use of what all share, and the clear refusals when
//! it asks for more. A hostile or broken kiosk can exhaust nothing shared:
//!
//! | limit | value | refusal |
//! | --- | --- | --- |
//! | WebSocket message | [`MAX_MESSAGE_BYTES`] | that connection closes |
//! | connections per kiosk token | [`MAX_CONNECTIONS_PER_KIOSK`] | 429 before the upgrade |
//! | new documents per kiosk per day | [`MAX_NEW_DOCS_PER_KIOSK_PER_DAY`] | connection closed, logged |
//! | silence on a sync connection | [`IDLE_TIMEOUT`] | connection closed (the kiosk redials) |
//! | request headers | the web crate's `listen::DEFAULT_HEADER_TIMEOUT` | socket closed |
//! | distinct wrong tokens per client address | [`MAX_TOKEN_FAILURES`] per [`TOKEN_FAILURE_WINDOW_MS`] | 429 |
//! | TLS handshake | the web crate's `tls::HANDSHAKE_TIMEOUT` | socket closed |
//!
//! A client's address is the TCP peer's, or behind a trusted reverse proxy
//! the one it names in `X-Forwarded-For` (the web crate's `client` and `proxies`).
//!
//! Records per document and text lengths are checked by the projection's
//! schema validation (a misfit is quarantined, the rest counts); the
//! resident page has its own body and rate limits (the web crate's `console::mobile`).

use std::time::Duration;

/// Largest WebSocket message a peer may send. A day's ledger of 10,000
/// check-ins syncs in well under 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Sync connections one kiosk token may hold at once (a kiosk needs one;
/// a few more cover a reconnect racing its old socket's close).
pub const MAX_CONNECTIONS_PER_KIOSK: usize = 4;

/// Documents one kiosk may create on the server per day (it needs a day
/// ledger and, at most, a new monthly request book).
pub const MAX_NEW_DOCS_PER_KIOSK_PER_DAY: i64 = 24;

/// A sync connection on which the peer sends nothing for this long is
/// closed; a live kiosk simply dials again.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Distinct wrong tokens one client address may try per window. Guessing
/// needs many different tokens; a revoked kiosk retrying its one old token
/// is told 401 (re-pair) each time and never blocked.
pub const MAX_TOKEN_FAILURES: usize = 20;

/// The window of [`MAX_TOKEN_FAILURES`].
pub const TOKEN_FAILURE_WINDOW_MS: i64 = 10 * 60 * 1000;
