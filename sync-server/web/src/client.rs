//! Who is asking: the client's address ([`ClientAddr`]: the TCP peer, or
//! behind a trusted reverse proxy the one it names, [`crate::proxies`]),
//! and the limit on distinct wrong tokens per address ([`token_check`],
//! counted by [`crate::limiters::TokenLimiter`]).

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use linli_sync_engine::{Error, Result, clock::now_ms};

use crate::state::AppState;

/// The client's address, when the server knows it (not in `oneshot` tests
/// without a `ConnectInfo`): the TCP peer, or the client a trusted reverse
/// proxy names in `X-Forwarded-For` ([`crate::proxies`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(peer.map(|peer| {
            state.web.trusted_proxies().client(peer, &parts.headers)
        })))
    }
}

/// Check a token (`check`) under the failure limit of the client's
/// address: an address over its limit is refused before the check, and a
/// refused token counts against it.
pub async fn token_check<T>(
    state: &AppState,
    addr: ClientAddr,
    token: &str,
    check: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let now = now_ms();
    if state.web.token_limiter.blocked(addr.0, now) {
        return Err(Error::TooMany(
            "failed token checks from this address".into(),
        ));
    }
    let result = check.await;
    if matches!(result, Err(Error::Unauthorized)) {
        state.web.token_limiter.fail(addr.0, token, now);
    }
    result
}
