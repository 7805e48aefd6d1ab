//! Several instances on one database: which instance serves each hall,
//! and how the others reach it.
//!
//! A district runs several `linli-server` instances on one PostgreSQL
//! behind a load balancer, which sends any kiosk and any admin to any
//! instance. A hall's documents must never be written by two instances'
//! samod repos at once without them syncing: a repo keeps each document in
//! memory, saves it in content-addressed chunks and deletes the chunks a
//! newer snapshot covers, so two unsynced repos on one store would delete
//! each other's work. So:
//!
//! - **One holder per hall.** Each hall has a lease in the database
//!   ([`HallLeases`]): its holder, the holder's address, and an epoch that
//!   grows each time the hall changes hands. The holder is the only
//!   instance whose repo loads, receives into, saves and projects that
//!   hall's documents. It renews the lease every [`LEASE_TTL`] / 3 and
//!   gives it back when the hall goes idle or the instance stops.
//! - **The fence.** A holder writes a hall's documents only until the
//!   moment its last renewal was *sent* plus the lease's length minus a
//!   margin ([`Fence`]): the database counts the lease from when it ran
//!   the renewal, later than that, so a holder that was paused (or cut off
//!   from the database) stops writing before anyone else may take the hall.
//!   When a renewal finds the hall lost, the repo is stopped and the hall's
//!   connections closed.
//! - **Kiosks are piped to the holder.** A kiosk that reaches another
//!   instance is authenticated there, then its WebSocket is piped, frame
//!   for frame, to the holder's `/sync`, so the kiosk syncs with the one
//!   repo that stores its hall and its acknowledgements are the holder's.
//! - **Instances are automerge-repo peers.** When an instance itself needs
//!   a hall it does not hold (an admin's reply, a calendar edit, a page
//!   that reads the calendar), it runs a *relay* repo for the hall: samod
//!   with its own peer id, reading the shared store but never writing it,
//!   dialled to the holder's peer endpoint ([`PEER_PATH`]) with the
//!   cluster's secret. What it changes syncs to the holder, which saves it
//!   and passes it to its kiosks; writers wait for the holder to confirm
//!   ([`crate::repos::HallDoc::confirmed`]).
//! - **Handing a hall over.** Work that rewrites a hall's documents with
//!   no repo running (an erasure) must hold the hall itself: it asks the
//!   holder for it ([`HallLeases::ask_for`]), the holder stops serving the
//!   hall and gives the lease back at its next renewal, and the asker takes
//!   it. Kiosks reconnect by themselves.
//! - **Failover.** An instance killed outright stops renewing; its leases
//!   run out within [`LEASE_TTL`], and the next instance that a kiosk or
//!   an admin reaches for one of its halls takes the hall (next epoch) and
//!   loads it from the database. Kiosks lose nothing: every change they
//!   made is in their own store until a holder has it, and sync sends
//!   whatever the new holder lacks.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use samod::PeerId;
use url::Url;

use crate::Result;

/// How long a lease lasts without renewal: the longest a killed holder's
/// halls wait for a new one.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// How much before its lease ends a holder stops writing (the time a
/// renewal may take to reach the database).
pub const FENCE_MARGIN: Duration = Duration::from_millis(1000);

/// Where a holder takes its peers' relay connections, with the hall id
/// after it (`/internal/v1/halls/{hall}/peer`).
pub const PEER_PATH: &str = "/internal/v1/halls";

/// A hall's lease as the database has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The hall.
    pub hall_id: String,
    /// The instance that holds it.
    pub holder: String,
    /// Where its peers reach it (`http://host:port`); empty for an
    /// operator command, which no one dials.
    pub address: String,
    /// Grows each time the hall changes hands.
    pub epoch: i64,
    /// Left before it runs out (from the database's clock, when asked).
    pub remaining: Duration,
}

/// The answer to a request for a hall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The hall is ours, until renewed or lost.
    Held(Lease),
    /// Another instance holds it.
    Elsewhere(Lease),
    /// We hold it, but another instance asked for it
    /// ([`HallLeases::ask_for`]): stop serving it and give it back.
    Yield(Lease),
}

/// The halls' leases, shared by every instance on one database.
#[async_trait]
pub trait HallLeases: Send + Sync {
    /// Take or renew `hall_id` for instance `me` (reached at `address`) for
    /// `ttl`: ours if no one holds it, if we hold it already, or if its
    /// holder's lease has run out; otherwise who holds it.
    async fn acquire(
        &self,
        hall_id: &str,
        me: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Acquired>;

    /// Give `hall_id` up so another instance may take it at once; whether
    /// we held it.
    async fn release(&self, hall_id: &str, me: &str) -> Result<bool>;

    /// Ask the instance holding `hall_id` to give it up: its next renewal
    /// answers [`Acquired::Yield`]. For work that needs the hall with no
    /// repo running anywhere (an erasure rewriting its documents).
    async fn ask_for(&self, hall_id: &str, me: &str) -> Result<()>;

    /// Let go of the leases' connections once this instance has stopped.
    fn close(&self) {}
}

/// This instance's part in a cluster of instances on one database.
pub struct Cluster {
    /// The shared leases.
    pub leases: Arc<dyn HallLeases>,
    /// This process's id (new at every start: a restarted instance is a
    /// new holder).
    pub instance: String,
    /// The secret every instance of the database shares (kept in the
    /// database), which a relay shows the holder's peer endpoint.
    pub secret: String,
    /// The peer id of this instance's relay repos (the holders' repos use
    /// the server's one peer id, which kiosks are paired with).
    pub relay_peer: PeerId,
    /// How long a lease lasts.
    pub ttl: Duration,
    address: OnceLock<Url>,
}

impl Cluster {
    /// A member of the cluster over `leases`, not reachable by peers until
    /// [`Cluster::set_address`] (an operator command never is).
    pub fn new(leases: Arc<dyn HallLeases>, secret: String) -> Cluster {
        let instance = format!("{}-{}", std::process::id(), crate::random::random_hex(6));
        Cluster {
            relay_peer: PeerId::from(format!("linli-relay-{instance}")),
            leases,
            instance,
            secret,
            ttl: LEASE_TTL,
            address: OnceLock::new(),
        }
    }

    /// Where peers reach this instance; set once, before it serves.
    pub fn set_address(&self, address: Url) {
        let _ = self.address.set(address);
    }

    /// Where peers reach this instance, as the lease records it.
    pub fn address(&self) -> String {
        self.address
            .get()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// Take or renew a hall; a held lease comes with its fence deadline.
    pub async fn acquire(&self, hall_id: &str) -> Result<(Acquired, Instant)> {
        let asked = Instant::now();
        let got = self
            .leases
            .acquire(hall_id, &self.instance, &self.address(), self.ttl)
            .await?;
        Ok((got, asked + self.ttl.saturating_sub(FENCE_MARGIN)))
    }

    /// The WebSocket URL of a holder's peer endpoint for `hall_id`.
    pub fn peer_url(holder: &str, hall_id: &str) -> Result<Url> {
        let mut url = Url::parse(holder).map_err(|e| {
            crate::Error::Config(format!("a holder's address {holder:?} is not a URL: {e}"))
        })?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        let _ = url.set_scheme(scheme);
        url.set_path(&format!("{PEER_PATH}/{hall_id}/peer"));
        Ok(url)
    }
}

/// Until when a holder may write a hall's documents. Without a cluster
/// (SQLite, one instance) it never ends.
#[derive(Default)]
pub struct Fence {
    until: Mutex<Option<Instant>>,
    clustered: bool,
}

impl Fence {
    /// A fence that holds until `until`, moved by each renewal.
    pub fn until(until: Instant) -> Fence {
        Fence {
            until: Mutex::new(Some(until)),
            clustered: true,
        }
    }

    /// Move the deadline after a renewal.
    pub fn renewed(&self, until: Instant) {
        *self.until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
    }

    /// Whether the holder may still write.
    pub fn open(&self) -> bool {
        if !self.clustered {
            return true;
        }
        self.until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|u| Instant::now() < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_closes_at_its_deadline_and_a_renewal_opens_it_again() {
        assert!(Fence::default().open(), "no cluster: always open");
        let fence = Fence::until(Instant::now() + Duration::from_millis(30));
        assert!(fence.open());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!fence.open(), "past its deadline the holder writes nothing");
        fence.renewed(Instant::now() + Duration::from_secs(1));
        assert!(fence.open());
    }

    #[test]
    fn a_holders_peer_url_is_its_websocket_endpoint_for_the_hall() {
        let url = Cluster::peer_url("http://10.0.0.5:8080", "h1").expect("a URL");
        assert_eq!(url.as_str(), "ws://10.0.0.5:8080/internal/v1/halls/h1/peer");
        let url = Cluster::peer_url("https://a.example/", "h1").expect("a URL");
        assert_eq!(url.as_str(), "wss://a.example/internal/v1/halls/h1/peer");
        assert!(Cluster::peer_url("", "h1").is_err());
    }
}
