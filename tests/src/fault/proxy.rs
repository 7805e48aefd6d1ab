//! A TCP proxy on 127.0.0.1 between one kiosk and the server, whose
//! behaviour the fault runner changes at any moment: pass, delay, drop
//! (close every connection and refuse new ones), blackhole (keep sockets
//! open, deliver nothing until healed), cut the next connection mid-message, or
//! duplicate connections (a second upstream connection replays everything
//! the kiosk sends; its answers are thrown away).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the proxy does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Forward everything, each chunk this late.
    Delay(Duration),
    /// Close every connection; refuse new ones.
    Drop,
    /// Keep connections open but let nothing through, as a network that
    /// stopped delivering packets: bytes wait (TCP would retransmit them)
    /// and flow again, in order, when the mode changes.
    Blackhole,
    /// Forward the first `n` bytes of the next chunk, then close that
    /// connection (one connection, then back to `Pass`).
    Cut(usize),
    /// Open a second upstream connection per kiosk connection that
    /// receives everything the kiosk sends.
    Duplicate,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Where kiosks connect.
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    generation: Arc<watch::Sender<u64>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listen on 127.0.0.1:0 and forward to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(watch::channel(Mode::Pass).0);
        let generation = Arc::new(watch::channel(0u64).0);
        let (m, g) = (mode.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                if *m.borrow() == Mode::Drop {
                    drop(client);
                    continue;
                }
                tokio::spawn(connection(client, upstream, m.clone(), g.clone()));
            }
        });
        Ok(Self {
            addr,
            mode,
            generation,
            task,
        })
    }

    /// Change the behaviour. `Drop` and `Blackhole` also end or freeze the
    /// connections open now; `Pass` after them lets traffic flow again.
    pub fn set(&self, mode: Mode) {
        if mode == Mode::Drop {
            self.generation.send_modify(|g| *g += 1);
        }
        self.mode.send_replace(mode);
    }

    /// The behaviour now.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.generation.send_modify(|g| *g += 1);
        self.task.abort();
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    generation: Arc<watch::Sender<u64>>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let twin = if *mode.borrow() == Mode::Duplicate {
        TcpStream::connect(upstream).await.ok()
    } else {
        None
    };
    let mut gen_rx = generation.subscribe();
    let born = *gen_rx.borrow();
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let (twin_w, twin_drain) = match twin {
        Some(t) => {
            let (mut r, w) = t.into_split();
            // The twin's answers are read and thrown away.
            let drain = tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
            });
            (Some(w), Some(drain))
        }
        None => (None, None),
    };
    let up = pump(client_r, server_w, twin_w, mode.clone());
    let down = pump(server_r, client_w, None, mode);
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = gen_rx.wait_for(|g| *g != born) => {}
    }
    if let Some(d) = twin_drain {
        d.abort();
    }
}

/// Copy chunks from `from` to `to` (and `twin`) as the mode says, until
/// either side closes or a cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut twin: Option<tokio::net::tcp::OwnedWriteHalf>,
    mode: Arc<watch::Sender<Mode>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut rx = mode.subscribe();
        let _ = rx.wait_for(|m| *m != Mode::Blackhole).await;
        let now = *rx.borrow();
        let chunk = match now {
            Mode::Pass | Mode::Duplicate => &buf[..n],
            Mode::Delay(d) => {
                tokio::time::sleep(d).await;
                &buf[..n]
            }
            Mode::Blackhole => &buf[..n],
            Mode::Drop => return,
            Mode::Cut(keep) => {
                // One connection is cut; the next ones pass again.
                mode.send_replace(Mode::Pass);
                let _ = to.write_all(&buf[..keep.min(n)]).await;
                return;
            }
        };
        if to.write_all(chunk).await.is_err() {
            return;
        }
        if let Some(t) = &mut twin
            && t.write_all(chunk).await.is_err()
        {
            twin = None;
        }
    }
}
