//! `GET /sync`: the automerge-repo WebSocket endpoint. The kiosk token
//! comes in `Authorization: Bearer` or, for browser-style clients that
//! cannot set headers, a `token` query parameter (never logged). No or bad
//! token: 401 before any upgrade. After the upgrade the socket is handed
//! to samod; the peer id its handshake claims is bound to the token's
//! kiosk (see [`crate::registry`]), and the connection closes at once when
//! the kiosk is revoked or the server stops.

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
    Error, api::AppState, auth, db::Kiosk, provision, registry::KioskIdentity, server::now_ms,
};

/// Largest message a peer may send (a day's ledger in one sync message
/// fits many times over).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

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

/// The `/sync` handler.
pub async fn sync_handler(
    State(state): State<AppState>,
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
    let kiosk = match provision::authenticate_kiosk(&state.core, token).await {
        Ok(k) => k,
        Err(e) => {
            tracing::info!("sync connection refused: bad or revoked token");
            return e.into_response();
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let app_version = headers
        .get(APP_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(32).collect::<String>());
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run_connection(state, kiosk, app_version, socket))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WsError(String);

/// Claims documents for the kiosk that first delivers them, before samod
/// processes the message (so the share policy already knows the owner).
#[derive(Clone)]
struct Claims {
    core: std::sync::Arc<crate::ServerCore>,
    kiosk: Kiosk,
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<samod::DocumentId>>>,
}

impl Claims {
    async fn observe(&self, bytes: &[u8]) {
        let Some((kind, doc)) = crate::wire::peek(bytes) else {
            return;
        };
        if kind != "sync" {
            return;
        }
        if !self
            .seen
            .lock()
            .map(|mut s| s.insert(doc.clone()))
            .unwrap_or(false)
        {
            return;
        }
        let (k, h, d) = (
            self.kiosk.id.clone(),
            self.kiosk.hall_id.clone(),
            doc.to_string(),
        );
        let result = self
            .core
            .db
            .call(move |db| {
                if db.doc_owner(&d)?.is_some() {
                    return Ok(false);
                }
                let owner = db.claim_doc(&d, &h, &k, now_ms())?;
                Ok(owner.owner_kiosk.as_deref() == Some(k.as_str()))
            })
            .await;
        match result {
            Ok(true) => {
                tracing::info!(doc = %doc, kiosk = %self.kiosk.id, "document delivered first by this kiosk: claimed for its hall")
            }
            Ok(false) => {}
            Err(e) => tracing::error!(doc = %doc, error = %e, "claiming a document failed"),
        }
    }
}

async fn run_connection(
    state: AppState,
    kiosk: Kiosk,
    app_version: Option<String>,
    socket: WebSocket,
) {
    let core = state.core.clone();
    let identity = KioskIdentity {
        kiosk_id: kiosk.id.clone(),
        hall_id: kiosk.hall_id.clone(),
    };
    let (conn_no, mut kill) = core.registry.open(identity);
    let kiosk_id = kiosk.id.clone();
    let _ = core
        .db
        .call({
            let k = kiosk_id.clone();
            move |db| db.touch_kiosk(&k, now_ms(), app_version.as_deref())
        })
        .await;
    tracing::info!(kiosk = %kiosk_id, "sync connection opened");

    let (sink, stream) = socket.split();
    let mut kill_for_stream = kill.clone();
    let stream = stream
        .take_until(async move {
            let _ = kill_for_stream.wait_for(|k| *k).await;
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
            move |item| {
                let claims = claims.clone();
                async move {
                    if let Ok(bytes) = &item {
                        claims.observe(bytes).await;
                    }
                    item
                }
            }
        })
        .boxed();
    let sink = sink
        .sink_map_err(|e| WsError(format!("sending: {e}")))
        .with(|bytes: Vec<u8>| {
            futures::future::ready(Ok::<_, WsError>(Message::Binary(bytes.into())))
        });
    let conn = match state
        .acceptor
        .accept(Transport::new(stream, Box::pin(sink)))
    {
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
    let _ = core
        .db
        .call(move |db| db.touch_kiosk(&kiosk_id, now_ms(), None))
        .await;
}
