//! The kiosk's WebSocket dialer. samod's own dialer takes only a URL;
//! ours sends the kiosk token as `Authorization: Bearer`, the protocol and
//! app versions as headers, binds the connection to the server's peer id,
//! and tells a refused token (re-pair) apart from a network that is down
//! (retry with backoff). Over `wss://` it trusts the kiosk's
//! [`Trust`](crate::tls::Trust): the public roots or a pinned CA.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use futures::{FutureExt, SinkExt, StreamExt, future::BoxFuture};
use samod::{DialError, PeerId, Transport};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};
use url::Url;

use crate::protocol::{APP_VERSION, APP_VERSION_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};

/// Why the dialer gave up for good.
#[derive(Debug, thiserror::Error)]
pub enum DialFailure {
    /// The server refused the token.
    #[error("the server refused this kiosk's token (revoked or wrong): re-pair the kiosk")]
    Unauthorized,
    /// The server speaks another protocol version.
    #[error("the server speaks another protocol version (ours is {ours}): update the kiosk")]
    ProtocolMismatch {
        /// Ours.
        ours: u32,
    },
    /// The address cannot be dialled by this build.
    #[error("cannot dial {0}")]
    BadAddress(String),
}

/// Dials the sync server with the kiosk's token.
pub struct KioskDialer {
    url: Url,
    token: String,
    trust: crate::tls::Trust,
    server_peer_id: PeerId,
    last_error: Arc<Mutex<Option<String>>>,
    bytes_sent: Arc<AtomicU64>,
}

impl KioskDialer {
    /// A dialer for `url` (`ws://…/sync`).
    pub fn new(url: Url, token: String, server_peer_id: PeerId) -> Self {
        Self {
            url,
            token,
            trust: crate::tls::Trust::default(),
            server_peer_id,
            last_error: Arc::new(Mutex::new(None)),
            bytes_sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Trust these anchors for `wss://` (default: the public web's roots).
    pub fn with_trust(mut self, trust: crate::tls::Trust) -> Self {
        self.trust = trust;
        self
    }

    /// Count bytes of sync messages sent into `counter` (shared across
    /// reconnects and dialers).
    pub fn with_byte_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.bytes_sent = counter;
        self
    }

    /// Where the last failed attempt's reason is kept, for the status strip.
    pub fn last_error_slot(&self) -> Arc<Mutex<Option<String>>> {
        self.last_error.clone()
    }

    fn note(slot: &Arc<Mutex<Option<String>>>, msg: Option<String>) {
        if let Ok(mut s) = slot.lock() {
            *s = msg;
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WsError(String);

impl samod::Dialer for KioskDialer {
    type Error = DialFailure;

    fn url(&self) -> Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<DialFailure>>> {
        let url = self.url.clone();
        let token = self.token.clone();
        let server_peer_id = self.server_peer_id.clone();
        let slot = self.last_error.clone();
        let counter = self.bytes_sent.clone();
        let tls = self.trust.client_config();
        async move {
            if !matches!(url.scheme(), "ws" | "wss") {
                let msg = format!("{url}: a kiosk dials ws:// or wss:// only");
                Self::note(&slot, Some(msg.clone()));
                return Err(DialError::PermanentFailure(DialFailure::BadAddress(msg)));
            }
            let mut request = url
                .as_str()
                .into_client_request()
                .map_err(|e| DialError::PermanentFailure(DialFailure::BadAddress(e.to_string())))?;
            let headers = request.headers_mut();
            let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| DialError::PermanentFailure(DialFailure::Unauthorized))?;
            headers.insert("authorization", bearer);
            headers.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
            headers.insert(APP_VERSION_HEADER, HeaderValue::from_static(APP_VERSION));
            // The connector is used for wss:// only; ws:// stays plain.
            let connector = tokio_tungstenite::Connector::Rustls(tls);
            let (ws, _resp) = match tokio_tungstenite::connect_async_tls_with_config(
                request,
                None,
                false,
                Some(connector),
            )
            .await
            {
                Ok(ok) => ok,
                Err(tungstenite::Error::Http(resp)) => {
                    let status = resp.status().as_u16();
                    return Err(match status {
                        401 | 403 => {
                            Self::note(&slot, Some(DialFailure::Unauthorized.to_string()));
                            DialError::PermanentFailure(DialFailure::Unauthorized)
                        }
                        426 => {
                            let f = DialFailure::ProtocolMismatch {
                                ours: PROTOCOL_VERSION,
                            };
                            Self::note(&slot, Some(f.to_string()));
                            DialError::PermanentFailure(f)
                        }
                        s => {
                            let msg = format!("server answered HTTP {s}");
                            Self::note(&slot, Some(msg.clone()));
                            DialError::transient(WsError(msg))
                        }
                    });
                }
                Err(e) => {
                    let msg = format!("cannot reach the server: {e}");
                    Self::note(&slot, Some(msg.clone()));
                    return Err(DialError::transient(WsError(msg)));
                }
            };
            Self::note(&slot, None);
            Ok(ws_transport(ws, Some(counter)).with_expected_peer_id(server_peer_id))
        }
        .boxed()
    }
}

/// A client WebSocket as samod's transport, for a kiosk's dialer and a
/// server instance's relay alike: binary frames are sync messages, a text
/// frame is an error and a close frame ends the stream. Each message sent
/// adds its size to `sent`, when given.
pub fn ws_transport<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    sent: Option<Arc<AtomicU64>>,
) -> Transport
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    let stream = stream
        .take_while(|m| futures::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| async move {
            match m {
                Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                Ok(Message::Text(_)) => Some(Err(WsError("unexpected text message".into()))),
                Ok(_) => None,
                Err(e) => Some(Err(WsError(format!("receiving: {e}")))),
            }
        })
        .boxed();
    let sink = sink
        .sink_map_err(|e| WsError(format!("sending: {e}")))
        .with(move |bytes: Vec<u8>| {
            if let Some(sent) = &sent {
                sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            futures::future::ready(Ok::<_, WsError>(Message::Binary(bytes.into())))
        });
    Transport::new(stream, Box::pin(sink))
}
