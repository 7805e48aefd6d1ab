//! Downloads produced on a blocking thread and streamed to the browser.
//!
//! An export of 100,000 rows must neither be held whole in memory nor keep
//! the browser waiting for its first byte: the producer writes into a
//! [`ChunkWriter`], which hands 64 KiB chunks to the response body through
//! a small bounded channel (so a slow reader slows the producer instead of
//! filling memory). If the browser goes away, the next write fails and the
//! producer stops.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;

/// The producer's end: an [`io::Write`] that sends full chunks.
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the browser stopped reading"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A body whose bytes `produce` writes on a blocking thread. An error after
/// the first bytes ends the body abruptly (the browser shows a failed
/// download, never a silently short file) and is logged.
pub fn streamed<E: std::fmt::Display>(
    what: &'static str,
    produce: impl FnOnce(&mut ChunkWriter) -> Result<(), E> + Send + 'static,
) -> Body {
    let (tx, mut rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx: tx.clone(),
        };
        let outcome = produce(&mut w)
            .map_err(|e| e.to_string())
            .and_then(|()| w.flush().map_err(|e| e.to_string()));
        if let Err(e) = outcome {
            tracing::warn!(export = what, error = %e, "download stopped");
            let _ = tx.blocking_send(Err(io::Error::other(e)));
        }
    });
    Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
