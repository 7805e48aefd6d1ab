//! Dialling another instance of the cluster ([`crate::cluster`]): a relay
//! repo's connection to a hall's holder ([`PeerDialer`], an automerge-repo
//! peer authenticated by the cluster's secret), and the plain WebSocket
//! a piped kiosk's frames are passed on over ([`dial`]).

use std::time::Duration;

use futures::{FutureExt, future::BoxFuture};
use samod::{DialError, PeerId, Transport};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        self,
        client::IntoClientRequest,
        http::{HeaderName, HeaderValue},
    },
};
use url::Url;

use crate::{Error, Result};

/// A WebSocket to another instance.
pub type PeerSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long dialling an instance may take before it counts as unreachable.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why another instance could not be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialProblem {
    /// It answered the upgrade with an HTTP status (refused, or it no
    /// longer holds the hall).
    #[error("the instance answered HTTP {0}")]
    Refused(u16),
    /// It did not answer (down, or cut off).
    #[error("the instance cannot be reached: {0}")]
    Unreachable(String),
}

/// Open a WebSocket to `url` with `headers` (a kiosk's own, or the
/// cluster's secret), within [`DIAL_TIMEOUT`].
pub async fn dial(
    url: &Url,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
) -> std::result::Result<PeerSocket, DialProblem> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| DialProblem::Unreachable(e.to_string()))?;
    request.headers_mut().extend(headers);
    match tokio::time::timeout(DIAL_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Err(_) => Err(DialProblem::Unreachable(format!(
            "no answer within {DIAL_TIMEOUT:?}"
        ))),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            Err(DialProblem::Refused(resp.status().as_u16()))
        }
        Ok(Err(e)) => Err(DialProblem::Unreachable(e.to_string())),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

/// The `Authorization` header that proves a peer is an instance of this
/// database.
pub fn secret_header(secret: &str) -> Result<(HeaderName, HeaderValue)> {
    let value = HeaderValue::from_str(&format!("Bearer {secret}"))
        .map_err(|_| Error::Config("the cluster secret is not a header value".into()))?;
    Ok((tungstenite::http::header::AUTHORIZATION, value))
}

/// A relay repo's dialer: the holder's peer endpoint for one hall, with
/// the cluster's secret; the holder must answer as the server's peer id.
pub struct PeerDialer {
    /// The holder's peer endpoint for the hall.
    pub url: Url,
    /// The cluster's secret.
    pub secret: String,
    /// The peer id the holder's repos use.
    pub holder_peer: PeerId,
}

impl samod::Dialer for PeerDialer {
    type Error = DialProblem;

    fn url(&self) -> Url {
        self.url.clone()
    }

    fn connect(
        &self,
    ) -> BoxFuture<'static, std::result::Result<Transport, DialError<DialProblem>>> {
        let url = self.url.clone();
        let header = secret_header(&self.secret);
        let holder_peer = self.holder_peer.clone();
        async move {
            let header = header.map_err(|e| {
                DialError::PermanentFailure(DialProblem::Unreachable(e.to_string()))
            })?;
            let ws = match dial(&url, [header]).await {
                Ok(ws) => ws,
                // Refused: the instance no longer holds the hall (or the
                // secret differs); the relay is dropped and the hall placed
                // again.
                Err(refused @ DialProblem::Refused(_)) => {
                    return Err(DialError::PermanentFailure(refused));
                }
                Err(e) => return Err(DialError::transient(e)),
            };
            Ok(linli_core::node::dialer::ws_transport(ws, None).with_expected_peer_id(holder_peer))
        }
        .boxed()
    }
}
