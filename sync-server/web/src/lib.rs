//! # linli-web
//!
//! The street office server's HTTP surface over the sync engine
//! (`linli-sync-engine`): the `/sync` WebSocket kiosks sync through, the
//! JSON API under `/api/v1`, the admin console under `/admin` and the
//! residents' request page. [`api::router`] is a plain function, so
//! routes are tested with `oneshot` and no socket; [`listen::serve`]
//! accepts connections, plain or TLS.
//!
//! # Layout (lower modules first)
//! - [`proxies`]: the client's address behind trusted reverse proxies.
//! - [`tls`], [`listen`]: HTTPS/WSS with rustls; accepting connections
//!   with timeouts.
//! - [`limiters`]: what is counted per client, in bounded memory.
//! - [`state`]: [`state::AppState`], what every handler reaches: the
//!   engine's core, the limiters, the trusted proxies.
//! - [`client`]: who is asking, and the limit on wrong tokens.
//! - [`peers`]: traffic between instances of one database: kiosks piped
//!   to their hall's holder, relays taken as peers.
//! - [`sync_ws`]: the `/sync` WebSocket endpoint.
//! - [`console`]: the admin console (`/admin`): sessions, roles, pages;
//!   the resident page.
//! - [`metrics`]: `/metrics`, the server's figures for Prometheus.
//! - [`api`]: the router (`/healthz`, `/readyz`, `/metrics`, `/api/v1`,
//!   `/sync`, the console).

pub mod api;
mod client;
pub mod console;
pub mod limiters;
pub mod listen;
pub mod metrics;
mod peers;
pub mod proxies;
pub mod state;
pub mod sync_ws;
pub mod tls;
