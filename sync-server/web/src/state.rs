//! What the HTTP side keeps in memory beside the engine's `ServerCore`:
//! per-client limits, the reverse proxies it believes and, over TLS, the
//! certificate the pairing links name. One per serving
//! server, shared by every handler through [`crate::state::AppState`].

use std::sync::{Arc, RwLock};

use linli_core::tls::Fingerprint;
use linli_sync_engine::{ServerCore, accounts::Passwords};

use crate::{
    limiters::{LoginLimiter, TokenLimiter, WebLimiter},
    proxies::TrustedProxies,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The server.
    pub core: Arc<ServerCore>,
    /// The web side's limits and settings.
    pub web: Arc<WebState>,
}

impl AppState {
    /// Handlers over `core`, with a fresh web side that believes no
    /// reverse proxy.
    pub fn new(core: Arc<ServerCore>) -> Self {
        Self {
            core,
            web: Arc::default(),
        }
    }
}

/// The web side's own state.
#[derive(Default)]
pub struct WebState {
    /// Failed console sign-ins per user name.
    pub login_limiter: LoginLimiter,
    /// Console password checks (off the async workers).
    pub passwords: Passwords,
    /// Submissions of the resident mobile page per hall.
    pub web_limiter: WebLimiter,
    /// Failed token checks per client address.
    pub token_limiter: TokenLimiter,
    /// Whose `X-Forwarded-For` is believed.
    trusted_proxies: RwLock<Arc<TrustedProxies>>,
    /// Set once the server is shutting down: `/readyz` answers 503 so a
    /// load balancer sends nothing new here.
    pub draining: std::sync::atomic::AtomicBool,
    /// What `/metrics` shows.
    pub metrics: crate::metrics::Metrics,
    /// Set when the server serves TLS: the fingerprint of the certificate
    /// kiosks pin ([`crate::tls::pairing_ca`]), which the console's
    /// pairing link carries. `None`: plain HTTP, an `http://` link.
    pairing_ca: Option<Fingerprint>,
}

impl WebState {
    /// A web side that believes these reverse proxies.
    pub fn new(trusted_proxies: TrustedProxies) -> Self {
        Self {
            trusted_proxies: RwLock::new(Arc::new(trusted_proxies)),
            ..Default::default()
        }
    }

    /// This web side as a server serving TLS whose pairing links name
    /// `ca` (see [`WebState::pairing_ca`]).
    pub fn with_pairing_ca(mut self, ca: Option<Fingerprint>) -> Self {
        self.pairing_ca = ca;
        self
    }

    /// When the server serves TLS, the fingerprint of the certificate
    /// kiosks pin; `None` over plain HTTP.
    pub fn pairing_ca(&self) -> Option<&Fingerprint> {
        self.pairing_ca.as_ref()
    }

    /// The reverse proxies whose `X-Forwarded-For` names the client.
    pub fn trusted_proxies(&self) -> Arc<TrustedProxies> {
        self.trusted_proxies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Set [`WebState::trusted_proxies`] (while serving).
    pub fn set_trusted_proxies(&self, proxies: TrustedProxies) {
        *self
            .trusted_proxies
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(proxies);
    }
}
