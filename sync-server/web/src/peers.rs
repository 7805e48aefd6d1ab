//! Traffic between the instances of one database ([`linli_sync_engine::cluster`]):
//! a kiosk whose hall another instance serves is piped there
//! ([`route_kiosk`], [`pipe`]), and a holder takes other instances'
//! relay repos as automerge-repo peers at
//! `GET /internal/v1/halls/{hall}/peer` ([`peer_handler`]), authenticated
//! by the secret the instances of a database share.
//!
//! Without a cluster (SQLite) every hall is served here and the peer
//! endpoint answers 404.

use std::time::{Duration, Instant};

use axum::{
    extract::{
        Path, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use linli_core::protocol::{APP_VERSION_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};
use linli_sync_engine::{
    Error, Result, auth,
    clock::now_ms,
    cluster::Cluster,
    db::Kiosk,
    registry::KioskIdentity,
    relay::{self, DialProblem, PeerSocket},
    repos::{Lease, Serving},
};
use samod::{AcceptorEvent, Transport};
use subtle::ConstantTimeEq;
use tokio_tungstenite::tungstenite::{
    self,
    http::{HeaderName, HeaderValue},
};

use crate::{
    client::{self, ClientAddr},
    state::AppState,
};

/// The largest message instances send each other (a relay passes on
/// whole documents of a hall, not only kiosks' messages).
const MAX_PEER_MESSAGE_BYTES: usize = 64 << 20;

/// Where a kiosk's socket goes.
pub enum Route {
    /// Served here: the hall's repo.
    Here(Lease),
    /// Piped to the hall's holder, over this socket.
    Piped(Box<PeerSocket>),
}

/// Find the instance that serves the kiosk's hall: this one, or the
/// holder (dialled with the kiosk's own token, so the holder checks it
/// again). While the hall changes hands (a killed holder's lease has yet
/// to run out) this waits, up to a lease's length and a little more.
pub async fn route_kiosk(
    state: &AppState,
    kiosk: &Kiosk,
    token: &str,
    app_version: Option<&str>,
) -> Result<Route> {
    let repos = &state.core.repos;
    let patience = repos
        .cluster()
        .map_or(Duration::ZERO, |c| c.ttl + Duration::from_secs(3));
    let deadline = Instant::now() + patience;
    loop {
        match repos.serving(&kiosk.hall_id).await? {
            Some(Serving::Here(hall)) => return Ok(Route::Here(hall)),
            Some(Serving::At(holder)) => {
                match relay::dial(&sync_url(&holder)?, kiosk_headers(token, app_version)?).await {
                    Ok(socket) => return Ok(Route::Piped(Box::new(socket))),
                    Err(DialProblem::Refused(status)) if status != 503 && status != 409 => {
                        return Err(refusal(status));
                    }
                    Err(e) => {
                        tracing::info!(hall = %kiosk.hall_id, %holder, error = %e, "the hall's holder cannot be reached");
                    }
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::Unavailable(format!(
                "hall {} is moving between instances",
                kiosk.hall_id
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The holder's answer to a piped kiosk, passed on as the kiosk would
/// have had it.
fn refusal(status: u16) -> Error {
    match status {
        401 => Error::Unauthorized,
        403 => Error::Forbidden("refused by the instance serving the hall".into()),
        426 => Error::Protocol("?".into(), PROTOCOL_VERSION),
        429 => Error::TooMany("sync connections for this kiosk".into()),
        s => Error::Unavailable(format!("the instance serving the hall answered HTTP {s}")),
    }
}

/// A holder's `/sync`.
fn sync_url(holder: &str) -> Result<url::Url> {
    let mut url = Cluster::peer_url(holder, "-")?;
    url.set_path("/sync");
    Ok(url)
}

/// What a piped kiosk's dial carries: its token and versions.
fn kiosk_headers(token: &str, app_version: Option<&str>) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let bad = |_| Error::Unauthorized;
    let mut headers = vec![
        (
            tungstenite::http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(bad)?,
        ),
        (
            HeaderName::from_static(PROTOCOL_HEADER),
            HeaderValue::from(PROTOCOL_VERSION),
        ),
    ];
    if let Some(v) = app_version.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.push((HeaderName::from_static(APP_VERSION_HEADER), v));
    }
    Ok(headers)
}

/// Pass a kiosk's frames to its hall's holder and back until either end
/// closes, the kiosk is revoked or this instance stops.
pub async fn pipe(state: AppState, kiosk: Kiosk, socket: WebSocket, holder: Box<PeerSocket>) {
    let core = state.core.clone();
    let (conn_no, mut kill) = core
        .registry
        .open(KioskIdentity::kiosk(&kiosk.id, &kiosk.hall_id));
    tracing::info!(kiosk = %kiosk.id, "sync connection piped to the instance serving its hall");
    let (mut to_kiosk, mut from_kiosk) = socket.split();
    let (mut to_holder, mut from_holder) = (*holder).split();
    let upstream = async {
        while let Some(Ok(m)) = from_kiosk.next().await {
            let out = match m {
                Message::Binary(b) => tungstenite::Message::Binary(b),
                // Pings keep the holder from closing an idle-looking pipe.
                Message::Ping(p) => tungstenite::Message::Ping(p),
                Message::Close(_) => break,
                Message::Text(_) | Message::Pong(_) => continue,
            };
            if to_holder.send(out).await.is_err() {
                break;
            }
        }
        let _ = to_holder.close().await;
    };
    let downstream = async {
        while let Some(Ok(m)) = from_holder.next().await {
            let out = match m {
                tungstenite::Message::Binary(b) => Message::Binary(b),
                tungstenite::Message::Close(_) => break,
                _ => continue,
            };
            if to_kiosk.send(out).await.is_err() {
                break;
            }
        }
        let _ = to_kiosk.close().await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        _ = async { kill.wait_for(|k| *k).await.is_ok() } => {}
    }
    core.registry.close(conn_no);
    let _ = core.tables.touch_kiosk(&kiosk.id, now_ms(), None).await;
    tracing::info!(kiosk = %kiosk.id, "piped sync connection closed");
}

#[utoipa::path(get, path = "/internal/v1/halls/{hall}/peer", tag = "sync", security(("instance_secret" = [])),
    description = "Between instances on one PostgreSQL database only: another instance's relay for a hall this one holds (the cluster's secret).",
    params(("hall" = String, Path, description = "The hall's id")),
    responses(
        (status = 101, description = "Upgraded to the relay WebSocket"),
        (status = 401, description = "Not the instances' secret"),
        (status = 404, description = "A server alone (SQLite), or a hall this instance does not hold"),
    ))]
/// `GET /internal/v1/halls/{hall}/peer`: another instance's relay repo
/// for a hall this instance holds.
pub async fn peer_handler(
    State(state): State<AppState>,
    addr: ClientAddr,
    Path(hall): Path<String>,
    headers: HeaderMap,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(cluster) = state.core.repos.cluster().cloned() else {
        return Error::NotFound("this server runs alone: it has no peers".into()).into_response();
    };
    let given = auth::bearer(&headers).unwrap_or_default();
    let checked = client::token_check(&state, addr, given, async {
        if bool::from(given.as_bytes().ct_eq(cluster.secret.as_bytes())) {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    })
    .await;
    if let Err(e) = checked {
        tracing::warn!(error = %e, "a peer connection without the cluster's secret: refused");
        return e.into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    match state.core.repos.serving(&hall).await {
        Ok(Some(Serving::Here(lease))) => ws
            .max_message_size(MAX_PEER_MESSAGE_BYTES)
            .on_upgrade(move |socket| run_peer(state, hall, socket, lease)),
        Ok(_) => Error::Unavailable(format!("hall {hall} is not served by this instance"))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A relay repo's connection, attached to the hall's repo here until it
/// closes, the hall stops or this instance does.
async fn run_peer(state: AppState, hall_id: String, socket: WebSocket, hall: Lease) {
    let core = state.core.clone();
    let (conn_no, mut kill) = core.registry.open(KioskIdentity::relay(&hall_id));
    let (sink, stream) = socket.split();
    let stream = stream
        .take_while(|m| futures::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| async move {
            match m {
                Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                Ok(_) => None,
                Err(e) => Some(Err(PeerError(format!("receiving: {e}")))),
            }
        })
        .boxed();
    let sink = sink
        .sink_map_err(|e| PeerError(format!("sending: {e}")))
        .with(|bytes: Vec<u8>| {
            futures::future::ready(Ok::<_, PeerError>(Message::Binary(bytes.into())))
        });
    let Ok(conn) = hall.acceptor.accept(Transport::new(stream, Box::pin(sink))) else {
        core.registry.close(conn_no);
        return;
    };
    let mut events = conn.events();
    match conn.handshake_complete().await {
        Ok(info) => {
            if let Err(reason) = core.registry.bind(conn_no, info.peer_id, &core.peer_id) {
                tracing::warn!(hall = %hall_id, %reason, "a peer's handshake refused");
                core.registry.kill_conn(conn_no);
            }
        }
        Err(_) => {
            core.registry.close(conn_no);
            return;
        }
    }
    tracing::debug!(hall = %hall_id, "a peer instance relays this hall");
    loop {
        let killed = tokio::select! {
            ev = events.next() => match ev {
                Some(AcceptorEvent::ClientDisconnected { .. }) | None => break,
                Some(_) => false,
            },
            r = kill.wait_for(|k| *k) => r.is_ok(),
        };
        if killed {
            let _ = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
            break;
        }
    }
    core.registry.close(conn_no);
    drop(hall);
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PeerError(String);
