//! What one client may use of what all share, and the clear refusals when
//! it asks for more. A hostile or broken kiosk can exhaust nothing shared:
//!
//! | limit | value | refusal |
//! | --- | --- | --- |
//! | WebSocket message | [`MAX_MESSAGE_BYTES`] | that connection closes |
//! | connections per kiosk token | [`MAX_CONNECTIONS_PER_KIOSK`] | 429 before the upgrade |
//! | new documents per kiosk per day | [`MAX_NEW_DOCS_PER_KIOSK_PER_DAY`] | connection closed, logged |
//! | silence on a sync connection | [`IDLE_TIMEOUT`] | connection closed (the kiosk redials) |
//! | request headers | [`crate::listen::DEFAULT_HEADER_TIMEOUT`] | socket closed |
//! | distinct wrong tokens per client address | [`MAX_TOKEN_FAILURES`] per [`TOKEN_FAILURE_WINDOW_MS`] | 429 |
//! | TLS handshake | [`crate::tls::HANDSHAKE_TIMEOUT`] | socket closed |
//!
//! A client's address is the TCP peer's, or behind a trusted reverse proxy
//! the one it names in `X-Forwarded-For` ([`ClientAddr`], [`crate::proxies`]).
//!
//! Records per document and text lengths are checked by the projection's
//! schema validation (a misfit is quarantined, the rest counts); the
//! resident page has its own body and rate limits ([`crate::console::mobile`]).

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

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

/// Addresses remembered at most (older ones are forgotten first).
const MAX_TRACKED: usize = 10_000;

/// The client's address, when the server knows it (not in `oneshot` tests
/// without a `ConnectInfo`): the TCP peer, or the client a trusted reverse
/// proxy names in `X-Forwarded-For` ([`crate::proxies`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<crate::api::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::api::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(peer.map(|peer| {
            state.core.trusted_proxies().client(peer, &parts.headers)
        })))
    }
}

/// Check a token (`check`) under the failure limit of the client's
/// address: an address over its limit is refused before the check, and a
/// refused token counts against it.
pub async fn token_check<T>(
    core: &crate::ServerCore,
    addr: ClientAddr,
    token: &str,
    check: impl std::future::Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    let now = crate::server::now_ms();
    if core.token_limiter.blocked(addr, now) {
        return Err(crate::Error::TooMany(
            "failed token checks from this address".into(),
        ));
    }
    let result = check.await;
    if matches!(result, Err(crate::Error::Unauthorized)) {
        core.token_limiter.fail(addr, token, now);
    }
    result
}

/// Counts distinct wrong tokens per client address.
#[derive(Debug, Default)]
pub struct TokenLimiter {
    failures: Mutex<HashMap<IpAddr, (HashSet<u64>, i64)>>,
}

fn token_key(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

impl TokenLimiter {
    /// Whether `addr` has used up its failures for now.
    pub fn blocked(&self, addr: ClientAddr, now: i64) -> bool {
        let Some(ip) = addr.0 else { return false };
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|(tokens, since)| {
            tokens.len() >= MAX_TOKEN_FAILURES && now - since < TOKEN_FAILURE_WINDOW_MS
        })
    }

    /// Count a failed check of `token` by `addr`.
    pub fn fail(&self, addr: ClientAddr, token: &str, now: i64) {
        let Some(ip) = addr.0 else { return };
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now - *since < TOKEN_FAILURE_WINDOW_MS);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let e = map.entry(ip).or_insert_with(|| (HashSet::new(), now));
        if now - e.1 >= TOKEN_FAILURE_WINDOW_MS {
            *e = (HashSet::new(), now);
        }
        if e.0.len() < MAX_TOKEN_FAILURES {
            e.0.insert(token_key(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_and_freed_after_the_window() {
        let l = TokenLimiter::default();
        let a = ClientAddr(Some("127.0.0.1".parse().expect("ip")));
        let b = ClientAddr(Some("127.0.0.2".parse().expect("ip")));
        // One wrong token retried for ever is not guessing.
        for _ in 0..100 {
            l.fail(a, "la_revoked", 0);
        }
        assert!(!l.blocked(a, 0));
        // It is one of the distinct wrong tokens, though.
        for i in 1..MAX_TOKEN_FAILURES {
            assert!(!l.blocked(a, 0));
            l.fail(a, &format!("la_guess_{i}"), 0);
        }
        assert!(l.blocked(a, 1));
        assert!(!l.blocked(b, 1), "another address is not affected");
        assert!(!l.blocked(a, TOKEN_FAILURE_WINDOW_MS + 1));
        // Without an address (in-process callers) nothing is counted.
        l.fail(ClientAddr(None), "x", 0);
        assert!(!l.blocked(ClientAddr(None), 0));
    }
}
