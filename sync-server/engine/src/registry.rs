//! Who is on the other end of each sync connection. A connection is
//! authenticated by its kiosk token; when its automerge-repo handshake
//! names a peer id, that peer id is bound to the token's kiosk, and the
//! share policy decides by that binding. A peer id already bound to a
//! different live kiosk, or the server's own, is refused. Each connection
//! also has a kill switch, so revoking a kiosk or shutting down closes its
//! sockets at once.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::Duration,
};

use samod::PeerId;
use tokio::sync::{Notify, watch};

/// The kiosk behind a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KioskIdentity {
    /// Kiosk id.
    pub kiosk_id: String,
    /// Its hall.
    pub hall_id: String,
    /// Not a kiosk but another instance's relay for the hall
    /// ([`crate::cluster`]), authenticated by the cluster's secret.
    pub relay: bool,
}

impl KioskIdentity {
    /// A kiosk of a hall.
    pub fn kiosk(kiosk_id: &str, hall_id: &str) -> Self {
        KioskIdentity {
            kiosk_id: kiosk_id.to_string(),
            hall_id: hall_id.to_string(),
            relay: false,
        }
    }

    /// Another instance's relay for a hall.
    pub fn relay(hall_id: &str) -> Self {
        KioskIdentity {
            kiosk_id: format!("relay:{hall_id}"),
            hall_id: hall_id.to_string(),
            relay: true,
        }
    }
}

struct Conn {
    kiosk: KioskIdentity,
    peer: Option<PeerId>,
    kill: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<u64, Conn>,
    next: u64,
}

/// Live sync connections and their peer-id bindings.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    bound: Notify,
}

impl Registry {
    /// Register a new authenticated connection; returns its number and the
    /// receiver of its kill switch.
    pub fn open(&self, kiosk: KioskIdentity) -> (u64, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.next += 1;
        let id = inner.next;
        inner.conns.insert(
            id,
            Conn {
                kiosk,
                peer: None,
                kill: tx,
            },
        );
        (id, rx)
    }

    /// Open connections of one kiosk.
    pub fn connections_of(&self, kiosk_id: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .conns
            .values()
            .filter(|c| c.kiosk.kiosk_id == kiosk_id)
            .count()
    }

    /// Bind the peer id a connection's handshake claimed. An older
    /// connection of the same kiosk with the same peer id is closed: the
    /// newest connection wins (a reconnect that raced its old socket's
    /// close, or a duplicated connection, must not leave the server
    /// answering on a socket nobody reads).
    pub fn bind(&self, conn: u64, peer: PeerId, server_peer: &PeerId) -> Result<(), String> {
        if &peer == server_peer {
            return Err("a kiosk may not claim the server's peer id".into());
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(kiosk) = inner.conns.get(&conn).map(|c| c.kiosk.clone()) else {
            return Err("connection already closed".into());
        };
        let clash = inner
            .conns
            .values()
            .any(|c| c.peer.as_ref() == Some(&peer) && c.kiosk != kiosk);
        if clash {
            return Err(format!("peer id {peer} is in use by another kiosk"));
        }
        if inner.conns.get(&conn).and_then(|c| c.peer.as_ref()) == Some(&peer) {
            // Bound already (at `join`, then again after the handshake).
            return Ok(());
        }
        for (other, c) in &inner.conns {
            if *other != conn && c.peer.as_ref() == Some(&peer) {
                tracing::info!(kiosk = %kiosk.kiosk_id, "a newer connection took over this peer id: older one closed");
                let _ = c.kill.send(true);
            }
        }
        if let Some(c) = inner.conns.get_mut(&conn) {
            c.peer = Some(peer);
        }
        drop(inner);
        self.bound.notify_waiters();
        Ok(())
    }

    /// Forget a closed connection.
    pub fn close(&self, conn: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.conns.remove(&conn);
    }

    /// The kiosk a peer id is bound to now.
    pub fn identity(&self, peer: &PeerId) -> Option<KioskIdentity> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .conns
            .values()
            .find(|c| c.peer.as_ref() == Some(peer))
            .map(|c| c.kiosk.clone())
    }

    /// The kiosk a peer id is bound to, waiting up to `timeout` for its
    /// handshake to be bound (the share policy may ask first).
    pub async fn wait_identity(&self, peer: &PeerId, timeout: Duration) -> Option<KioskIdentity> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.bound.notified();
            if let Some(id) = self.identity(peer) {
                return Some(id);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.identity(peer);
            }
        }
    }

    /// Close one connection.
    pub fn kill_conn(&self, conn: u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = inner.conns.get(&conn) {
            let _ = c.kill.send(true);
        }
    }

    /// Close every connection of a kiosk; returns how many.
    pub fn kill_kiosk(&self, kiosk_id: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for c in inner
            .conns
            .values()
            .filter(|c| c.kiosk.kiosk_id == kiosk_id)
        {
            let _ = c.kill.send(true);
            n += 1;
        }
        n
    }

    /// Close every connection of a hall's kiosks and relays; returns how
    /// many.
    pub fn kill_hall(&self, hall_id: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for c in inner.conns.values().filter(|c| c.kiosk.hall_id == hall_id) {
            let _ = c.kill.send(true);
            n += 1;
        }
        n
    }

    /// Close every connection (shutdown).
    pub fn kill_all(&self) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for c in inner.conns.values() {
            let _ = c.kill.send(true);
        }
    }

    /// Kiosks with at least one live connection.
    pub fn connected_kiosks(&self) -> HashSet<String> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .conns
            .values()
            .filter(|c| !c.kiosk.relay)
            .map(|c| c.kiosk.kiosk_id.clone())
            .collect()
    }

    /// Halls with a kiosk connected (relays left out), by id.
    pub fn connected_halls(&self) -> std::collections::BTreeSet<String> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .conns
            .values()
            .filter(|c| !c.kiosk.relay)
            .map(|c| c.kiosk.hall_id.clone())
            .collect()
    }

    /// Kiosks with at least one live connection, counted by hall.
    pub fn kiosks_by_hall(&self) -> std::collections::BTreeMap<String, usize> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let kiosks: HashSet<(&str, &str)> = inner
            .conns
            .values()
            .filter(|c| !c.kiosk.relay)
            .map(|c| (c.kiosk.hall_id.as_str(), c.kiosk.kiosk_id.as_str()))
            .collect();
        let mut out = std::collections::BTreeMap::new();
        for (hall, _) in kiosks {
            *out.entry(hall.to_string()).or_default() += 1;
        }
        out
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .conns
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(id: &str) -> KioskIdentity {
        KioskIdentity::kiosk(id, "h")
    }

    #[test]
    fn a_peer_id_cannot_be_taken_by_another_kiosk() {
        let r = Registry::default();
        let server = PeerId::from("server");
        let (a, _) = r.open(k("a"));
        let (b, _) = r.open(k("b"));
        r.bind(a, PeerId::from("p1"), &server)
            .expect("first binding");
        assert!(r.bind(b, PeerId::from("p1"), &server).is_err());
        assert!(r.bind(b, server.clone(), &server).is_err());
        assert_eq!(r.identity(&PeerId::from("p1")), Some(k("a")));
        r.close(a);
        assert_eq!(r.identity(&PeerId::from("p1")), None);
        r.bind(b, PeerId::from("p1"), &server).expect("free again");
    }

    #[test]
    fn kill_switch_reaches_every_connection_of_a_kiosk() {
        let r = Registry::default();
        let (_, rx1) = r.open(k("a"));
        let (_, rx2) = r.open(k("a"));
        let (_, rx3) = r.open(k("b"));
        assert_eq!(r.kill_kiosk("a"), 2);
        assert!(*rx1.borrow() && *rx2.borrow() && !*rx3.borrow());
    }
}
