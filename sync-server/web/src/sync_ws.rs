//! `GET /sync`: the automerge-repo WebSocket endpoint. The kiosk token
//! comes in `Authorization: Bearer` or, for browser-style clients that
//! cannot set headers, a `token` query parameter (never logged). No or bad
//! token: 401 before any upgrade. After the upgrade the socket is handed
//! to samod; the peer id its handshake claims is bound to the token's
//! kiosk (see [`linli_sync_engine::registry`]), and the connection closes at once when
//! the kiosk is revoked or the server stops. When another instance serves
//! the kiosk's hall, the socket is piped to it instead ([`crate::peers`]).

use std::collections::HashMap;

use axum::{
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use linli_core::protocol::{APP_VERSION_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};
use samod::{AcceptorEvent, Transport};

use crate::{
    client::{self, ClientAddr},
    peers::{self, Route},
    state::AppState,
};
use linli_sync_engine::{
    Error, auth,
    clock::now_ms,
    db::{Claim, Kiosk, NewDoc},
    limits, provision,
    registry::KioskIdentity,
};

pub use linli_sync_engine::limits::MAX_MESSAGE_BYTES;

/// Check the protocol header, if the client sent one.
pub fn check_protocol(headers: &HeaderMap) -> Result<(), Error> {
    if let Some(v) = headers.get(PROTOCOL_HEADER) {
        let v = v.to_str().unwrap_or("?");
        if v.trim() != PROTOCOL_VERSION.to_string() {
            return Err(Error::Protocol(v.to_string(), PROTOCOL_VERSION));
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/sync", tag = "sync", security(("kiosk_token" = [])),
    description = "The kiosks' Automerge sync WebSocket (automerge-repo's protocol, binary frames); the kiosk token in `Authorization` (or `?token=`).",
    responses(
        (status = 101, description = "Upgraded to the sync WebSocket"),
        (status = 401, description = "No or a wrong kiosk token"),
        (status = 426, description = "A kiosk too old for this server's sync protocol"),
    ))]
/// The `/sync` handler.
pub async fn sync_handler(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(e) = check_protocol(&headers) {
        return e.into_response();
    }
    let token = auth::bearer(&headers).or_else(|| params.get("token").map(String::as_str));
    let Some(token) = token else {
        return Error::Unauthorized.into_response();
    };
    let checked = client::token_check(
        &state,
        addr,
        token,
        provision::authenticate_kiosk(&state.core, token),
    )
    .await;
    let kiosk = match checked {
        Ok(k) => k,
        Err(e) => {
            tracing::info!(error = %e, "sync connection refused");
            return e.into_response();
        }
    };
    if state.core.registry.connections_of(&kiosk.id) >= limits::MAX_CONNECTIONS_PER_KIOSK {
        tracing::warn!(kiosk = %kiosk.id, "sync connection refused: too many open for this kiosk");
        return Error::TooMany("sync connections for this kiosk".into()).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let app_version = headers
        .get(APP_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(32).collect::<String>());
    let ws = ws.max_message_size(MAX_MESSAGE_BYTES);
    match peers::route_kiosk(&state, &kiosk, token, app_version.as_deref()).await {
        Ok(Route::Here(hall)) => {
            ws.on_upgrade(move |socket| run_connection(state, kiosk, app_version, socket, hall))
        }
        Ok(Route::Piped(holder)) => {
            ws.on_upgrade(move |socket| peers::pipe(state, kiosk, socket, holder))
        }
        Err(e) => {
            tracing::warn!(kiosk = %kiosk.id, error = %e, "sync connection refused: the hall cannot be served now");
            e.into_response()
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WsError(String);

/// Claims documents for the kiosk that first delivers them, before samod
/// processes the message (so the share policy already knows the owner).
#[derive(Clone)]
struct Claims {
    core: std::sync::Arc<linli_sync_engine::ServerCore>,
    kiosk: Kiosk,
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<samod::DocumentId>>>,
}

impl Claims {
    /// Claim a document the message delivers first; `Err` when this kiosk
    /// has created its day's share of documents already (the connection
    /// then closes before samod stores anything of it).
    async fn observe(&self, bytes: &[u8]) -> Result<(), WsError> {
        let Some((kind, doc)) = linli_sync_engine::wire::peek(bytes) else {
            return Ok(());
        };
        if kind != "sync" {
            return Ok(());
        }
        if !self
            .seen
            .lock()
            .map(|mut s| s.insert(doc.clone()))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let new = NewDoc {
            doc_id: doc.to_string(),
            hall_id: self.kiosk.hall_id.clone(),
            kiosk_id: self.kiosk.id.clone(),
        };
        // The claims of many connections share one trip to the store: the
        // group commit's writer thread waits here for the store's answer.
        let (tables, rt) = (self.core.tables.clone(), tokio::runtime::Handle::current());
        let claim_together = move |docs: Vec<NewDoc>| {
            rt.block_on(tables.claim_docs(&docs, limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY, now_ms()))
        };
        let result = self
            .core
            .claims
            .submit(new, claim_together)
            .await
            .unwrap_or(Err(Error::Stopped));
        match result {
            Ok(Claim::Claimed) => {
                tracing::info!(doc = %doc, kiosk = %self.kiosk.id, "document delivered first by this kiosk: claimed for its hall");
                Ok(())
            }
            Ok(Claim::Known) => Ok(()),
            Ok(Claim::OverLimit) => {
                tracing::warn!(kiosk = %self.kiosk.id, "kiosk created too many documents today: connection closed");
                Err(WsError(format!(
                    "more than {} new documents in a day",
                    limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY
                )))
            }
            Err(e) => {
                tracing::error!(doc = %doc, error = %e, "claiming a document failed");
                Ok(())
            }
        }
    }
}

/// [`linli_sync_engine::intake::screen`] a message; `Err` with the reason to refuse it.
fn screen(bytes: &[u8]) -> Result<(), String> {
    match linli_sync_engine::intake::screen(bytes) {
        linli_sync_engine::intake::Screen::Pass => Ok(()),
        linli_sync_engine::intake::Screen::Refuse(reason) => Err(reason),
    }
}

async fn run_connection(
    state: AppState,
    kiosk: Kiosk,
    app_version: Option<String>,
    socket: WebSocket,
    hall: linli_sync_engine::repos::Lease,
) {
    let core = state.core.clone();
    let identity = KioskIdentity::kiosk(&kiosk.id, &kiosk.hall_id);
    let (conn_no, mut kill) = core.registry.open(identity);
    let kiosk_id = kiosk.id.clone();
    let _ = core
        .tables
        .touch_kiosk(&kiosk_id, now_ms(), app_version.as_deref())
        .await;
    tracing::info!(kiosk = %kiosk_id, "sync connection opened");

    let (sink, stream) = socket.split();
    let mut kill_for_stream = kill.clone();
    // Any frame, pings included, shows the peer is alive.
    let last_frame = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(now_ms()));
    let seen = last_frame.clone();
    let idle_kiosk = kiosk.id.clone();
    let idle_after = core.idle_timeout();
    let stream = stream
        .inspect(move |_| seen.store(now_ms(), std::sync::atomic::Ordering::Relaxed))
        .take_until(async move {
            let idle_ms = i64::try_from(idle_after.as_millis()).unwrap_or(i64::MAX);
            loop {
                let quiet = now_ms() - last_frame.load(std::sync::atomic::Ordering::Relaxed);
                if quiet >= idle_ms {
                    tracing::info!(kiosk = %idle_kiosk, "sync connection idle too long: closed");
                    return;
                }
                let wait = std::time::Duration::from_millis(
                    u64::try_from(idle_ms - quiet).unwrap_or(1000),
                );
                tokio::select! {
                    _ = kill_for_stream.wait_for(|k| *k) => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        })
        .take_while(|m| futures::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| async move {
            match m {
                Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                Ok(Message::Text(_)) => Some(Err(WsError(
                    "text frames are not part of the protocol".into(),
                ))),
                Ok(_) => None,
                Err(e) => Some(Err(WsError(format!("receiving: {e}")))),
            }
        })
        .then({
            let claims = Claims {
                core: core.clone(),
                kiosk: kiosk.clone(),
                seen: Default::default(),
            };
            // The first message must be a `join` this server can read: its
            // peer id is bound before samod sees anything (an unreadable
            // join would otherwise slip past the binding).
            let joined = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let web = state.web.clone();
            move |item| {
                let claims = claims.clone();
                let joined = joined.clone();
                let web = web.clone();
                async move {
                    let arrived = std::time::Instant::now();
                    match &item {
                        Ok(bytes) => {
                            let join = linli_sync_engine::wire::peek_join(bytes);
                            if !joined.load(std::sync::atomic::Ordering::Relaxed) && join.is_none() {
                                claims.core.registry.kill_conn(conn_no);
                                return Err(WsError("the first message must be a join".into()));
                            }
                            if let Some(peer) = join {
                                if let Err(reason) = claims.core.registry.bind(
                                    conn_no,
                                    samod::PeerId::from(peer),
                                    &claims.core.peer_id,
                                ) {
                                    tracing::warn!(kiosk = %claims.kiosk.id, %reason, "handshake refused");
                                    claims.core.registry.kill_conn(conn_no);
                                    return Err(WsError(reason));
                                }
                                joined.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            if let Err(reason) = screen(bytes) {
                                tracing::warn!(kiosk = %claims.kiosk.id, %reason, "sync message refused: connection closed");
                                claims.core.registry.kill_conn(conn_no);
                                return Err(WsError(reason));
                            }
                            let taken = claims.observe(bytes).await.and(item);
                            web.metrics.observe_sync(arrived.elapsed().as_secs_f64());
                            taken
                        }
                        Err(_) => item,
                    }
                }
            }
        })
        .boxed();
    let sink = sink
        .sink_map_err(|e| WsError(format!("sending: {e}")))
        .with(|bytes: Vec<u8>| {
            futures::future::ready(Ok::<_, WsError>(Message::Binary(bytes.into())))
        });
    // The hall's repo stays loaded while this connection lives (`hall`).
    let conn = match hall.acceptor.accept(Transport::new(stream, Box::pin(sink))) {
        Ok(c) => c,
        Err(_) => {
            core.registry.close(conn_no);
            return;
        }
    };
    let mut events = conn.events();
    match conn.handshake_complete().await {
        Ok(info) => {
            if let Err(reason) = core
                .registry
                .bind(conn_no, info.peer_id.clone(), &core.peer_id)
            {
                tracing::warn!(kiosk = %kiosk_id, %reason, "handshake refused");
                core.registry.kill_conn(conn_no);
            }
        }
        Err(reason) => {
            tracing::info!(kiosk = %kiosk_id, ?reason, "connection ended before its handshake");
            core.registry.close(conn_no);
            return;
        }
    }
    loop {
        let killed = tokio::select! {
            ev = events.next() => match ev {
                Some(AcceptorEvent::ClientDisconnected { reason, .. }) => {
                    tracing::info!(kiosk = %kiosk_id, ?reason, "sync connection closed");
                    break;
                }
                Some(_) => false,
                None => break,
            },
            r = kill.wait_for(|k| *k) => r.is_ok(),
        };
        if killed {
            // The stream ends on the kill switch; give samod a moment to notice.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), events.next()).await;
            tracing::info!(kiosk = %kiosk_id, "sync connection closed by the server");
            break;
        }
    }
    core.registry.close(conn_no);
    drop(hall);
    let _ = core.tables.touch_kiosk(&kiosk_id, now_ms(), None).await;
}
