//! What kiosk and server say to each other besides Automerge sync: the
//! protocol version both sides check, the kiosk's configuration fetched at
//! pairing, and the names of headers and peer ids. An older kiosk meeting
//! a newer server gets a clear message, never corrupted data.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{Error, Result};

/// The Linli wire protocol version (sync endpoint and kiosk API).
///
/// Version 2 (issue 12): residents are argon2id pseudonyms with sealed
/// contacts; a kiosk of version 1 would still write reversible hashes and
/// masked numbers, so the server refuses it.
pub const PROTOCOL_VERSION: u32 = 2;
/// Header carrying [`PROTOCOL_VERSION`] on kiosk requests and the sync upgrade.
pub const PROTOCOL_HEADER: &str = "x-linli-protocol";
/// Header carrying the kiosk app's version.
pub const APP_VERSION_HEADER: &str = "x-linli-app-version";
/// This build's version, sent by kiosks.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The samod peer id a kiosk uses.
pub fn kiosk_peer_id(kiosk_id: &str) -> String {
    format!("kiosk-{kiosk_id}")
}

/// Everything a kiosk needs from the server to work offline afterwards.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct KioskConfig {
    /// Protocol version of the server.
    pub protocol: u32,
    /// This kiosk's id.
    pub kiosk_id: String,
    /// This kiosk's display name.
    pub kiosk_name: String,
    /// Its hall.
    pub hall_id: String,
    /// The hall's display name.
    pub hall_name: String,
    /// The hall's IANA time zone.
    pub tz: String,
    /// `automerge:` URL of the hall calendar.
    pub calendar_url: String,
    /// `automerge:` URL of the hall directory.
    pub directory_url: String,
    /// The pseudonym salt and the server's sealing key. `None` only in a
    /// configuration stored by a kiosk paired before protocol 2, which
    /// [`crate::KioskNode::open`] refuses.
    #[serde(default)]
    pub identity: Option<crate::resident::IdentityConfig>,
    /// The server's samod peer id (checked at every handshake).
    pub server_peer_id: String,
}

impl std::fmt::Debug for KioskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskConfig")
            .field("kiosk_id", &self.kiosk_id)
            .field("hall_id", &self.hall_id)
            .field("calendar_url", &self.calendar_url)
            .field("directory_url", &self.directory_url)
            .finish_non_exhaustive()
    }
}

/// `server` with its scheme swapped for the secure or plain form of
/// `kind` (`("ws", "wss")` or `("http", "https")`), path `path`, no query.
fn with_scheme(server: &Url, kind: (&str, &str), path: &str) -> Result<Url> {
    let scheme = match server.scheme() {
        "http" | "ws" => kind.0,
        "https" | "wss" => kind.1,
        other => {
            return Err(Error::invalid(
                "server address",
                format!("unsupported scheme {other:?}; use http:// or https://"),
            ));
        }
    };
    let mut url = server.clone();
    url.set_scheme(scheme)
        .map_err(|()| Error::invalid("server address", format!("cannot be a {scheme} URL")))?;
    url.set_path(path);
    url.set_query(None);
    Ok(url)
}

/// The WebSocket sync URL for a server base URL (`http://h:p` → `ws://h:p/sync`).
pub fn sync_url(server: &Url) -> Result<Url> {
    with_scheme(server, ("ws", "wss"), "/sync")
}

/// The HTTP base URL for a server address (`ws://h:p/sync` → `http://h:p/`).
pub fn http_base(server: &Url) -> Result<Url> {
    with_scheme(server, ("http", "https"), "/")
}

/// An error with its causes ("error sending request: … invalid peer
/// certificate: UnknownIssuer"): the outer message alone hides what to fix.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Ask the server for this kiosk's configuration (at pairing, and to
/// refresh it), trusting `trust` for https. `Unauthorized` for a wrong or
/// revoked token.
pub async fn fetch_kiosk_config(
    server: &Url,
    token: &str,
    trust: &crate::tls::Trust,
) -> Result<KioskConfig> {
    let url = http_base(server)?
        .join("api/v1/kiosk/config")
        .map_err(|e| Error::invalid("server address", e.to_string()))?;
    let http_err = |reason: String| Error::Http {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .use_preconfigured_tls((*trust.client_config()).clone())
        .build()
        .map_err(|e| http_err(e.to_string()))?;
    let resp = client
        .get(url.clone())
        .bearer_auth(token)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .header(APP_VERSION_HEADER, APP_VERSION)
        .send()
        .await
        .map_err(|e| http_err(with_causes(&e)))?;
    match resp.status().as_u16() {
        200 => {}
        401 | 403 => return Err(Error::Unauthorized),
        426 => {
            let server_version = resp
                .headers()
                .get(PROTOCOL_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Err(Error::ProtocolMismatch {
                server: server_version,
                ours: PROTOCOL_VERSION,
            });
        }
        s => return Err(http_err(format!("unexpected status {s}"))),
    }
    let config: KioskConfig = resp
        .json()
        .await
        .map_err(|e| http_err(format!("reading the configuration: {e}")))?;
    if config.protocol != PROTOCOL_VERSION {
        return Err(Error::ProtocolMismatch {
            server: config.protocol,
            ours: PROTOCOL_VERSION,
        });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_between_http_and_ws() {
        let u = Url::parse("http://127.0.0.1:7878").expect("url");
        assert_eq!(
            sync_url(&u).expect("ws").as_str(),
            "ws://127.0.0.1:7878/sync"
        );
        let w = Url::parse("wss://hall.example/sync?x=1").expect("url");
        assert_eq!(
            http_base(&w).expect("http").as_str(),
            "https://hall.example/"
        );
        assert!(sync_url(&Url::parse("ftp://x").expect("url")).is_err());
    }
}
