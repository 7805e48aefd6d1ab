//! Accepting connections, plain or TLS, for the router: hyper with
//! upgrades (the kiosks' WebSockets), HTTP/1.1. Slow clients cannot hold
//! the server: a TLS handshake must finish within
//! [`crate::tls::HANDSHAKE_TIMEOUT`] and request headers must arrive within
//! the header timeout ([`DEFAULT_HEADER_TIMEOUT`]), else the socket is
//! closed. On shutdown the server stops accepting and gives open
//! connections [`DRAIN`] to finish. Handlers see the client's address as
//! `ConnectInfo<SocketAddr>` (for [`crate::client::ClientAddr`]).

use std::{future::Future, sync::Arc, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use crate::tls::HANDSHAKE_TIMEOUT;
use linli_sync_engine::Result;

/// How long open connections may finish after shutdown is asked for.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Longest a client may take to send a request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

async fn serve_connection<S>(stream: S, app: Router, header_timeout: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    if let Err(e) = builder
        .http1_only()
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Serve `app` on `listener` (over TLS with `tls`) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        connections.spawn(async move {
            let Some(acceptor) = acceptor else {
                serve_connection(tcp, app, header_timeout).await;
                return;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => serve_connection(stream, app, header_timeout).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    Ok(())
}
