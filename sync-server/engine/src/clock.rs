//! The server's wall clock, in one place so every table and log agrees on
//! what "now" is (ms since the Unix epoch, UTC).

/// Wall clock in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
