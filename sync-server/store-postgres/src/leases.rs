//! Hall leases: which instance serves a hall's documents.
//!
//! Several instances of the server share one PostgreSQL database, and a
//! hall's documents must never be written by two instances' samod repos at
//! once without them syncing (each repo keeps a document in memory and
//! saves it whole). So each hall has at most one *holder*: the instance
//! whose repo loads, receives into and saves that hall's documents. Any
//! other instance that a kiosk of the hall reaches (the load balancer
//! sends kiosks anywhere) relays to the holder instead of loading the
//! hall itself.
//!
//! A lease is a row per hall: its holder, until when (by the database's
//! clock, so instances' clocks do not matter), and an *epoch* that grows
//! each time the hall changes hands. The holder renews it well before it
//! ends ([`HallLeases::acquire`] again); an instance that dies (kill -9)
//! stops renewing, and once the lease has run out the next instance to
//! ask takes the hall, with the next epoch. The epoch is the fence: an
//! instance about to write for a hall checks that its epoch is still the
//! lease's ([`HallLeases::holds`]), so a holder that was paused past its
//! lease and wakes up cannot write over the new holder's work.

use std::time::Duration;

use deadpool_postgres::Pool;

use crate::{Error, Result};

/// The hall leases table (component `leases`).
pub const MIGRATIONS: &[&str] = &["CREATE TABLE hall_leases (
        hall_id TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )"];

/// A hall held by an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The hall.
    pub hall_id: String,
    /// The instance that holds it.
    pub holder: String,
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
    /// Another instance holds it; relay to it.
    Elsewhere(Lease),
}

/// The leases of every hall, shared by every instance.
#[derive(Clone)]
pub struct HallLeases {
    pool: Pool,
}

fn remaining(ms: f64) -> Duration {
    Duration::from_millis(ms.max(0.0) as u64)
}

impl HallLeases {
    /// Leases over `pool` (migrated with [`MIGRATIONS`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Take or renew `hall_id` for instance `me` for `ttl`: ours if no one
    /// holds it, if we hold it already, or if its holder's lease has run
    /// out; otherwise who holds it.
    pub async fn acquire(&self, hall_id: &str, me: &str, ttl: Duration) -> Result<Acquired> {
        let client = crate::connection(&self.pool, "taking a hall lease").await?;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let won = client
            .query_opt(
                "INSERT INTO hall_leases (hall_id, holder, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
                 ON CONFLICT (hall_id) DO UPDATE SET
                     holder = EXCLUDED.holder,
                     epoch = hall_leases.epoch
                         + CASE WHEN hall_leases.holder = EXCLUDED.holder THEN 0 ELSE 1 END,
                     expires_at = EXCLUDED.expires_at
                 WHERE hall_leases.holder = EXCLUDED.holder OR hall_leases.expires_at <= now()
                 RETURNING holder, epoch,
                     (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::FLOAT8",
                &[&hall_id, &me, &(ttl_ms as f64)],
            )
            .await
            .map_err(|e| Error::pg(format!("taking the lease of hall {hall_id}"), e))?;
        if let Some(r) = won {
            return Ok(Acquired::Held(Lease {
                hall_id: hall_id.to_string(),
                holder: r.get(0),
                epoch: r.get(1),
                remaining: remaining(r.get(2)),
            }));
        }
        match self.holder(hall_id).await? {
            Some(lease) => Ok(Acquired::Elsewhere(lease)),
            // Released between our two statements: ask again.
            None => Box::pin(self.acquire(hall_id, me, ttl)).await,
        }
    }

    /// Who holds `hall_id` now, if anyone (a lease that has run out counts
    /// as no one's).
    pub async fn holder(&self, hall_id: &str) -> Result<Option<Lease>> {
        let client = crate::connection(&self.pool, "reading a hall lease").await?;
        let row = client
            .query_opt(
                "SELECT holder, epoch, (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::FLOAT8
                 FROM hall_leases WHERE hall_id = $1 AND expires_at > now()",
                &[&hall_id],
            )
            .await
            .map_err(|e| Error::pg(format!("reading the lease of hall {hall_id}"), e))?;
        Ok(row.map(|r| Lease {
            hall_id: hall_id.to_string(),
            holder: r.get(0),
            epoch: r.get(1),
            remaining: remaining(r.get(2)),
        }))
    }

    /// Whether `me` still holds `hall_id` at `epoch`, with time left: the
    /// fence checked before writing for the hall.
    pub async fn holds(&self, hall_id: &str, me: &str, epoch: i64) -> Result<bool> {
        Ok(self
            .holder(hall_id)
            .await?
            .is_some_and(|l| l.holder == me && l.epoch == epoch))
    }

    /// Give `hall_id` up (at a clean shutdown, or when the hall has been
    /// idle), so another instance may take it at once. Returns whether we
    /// held it.
    pub async fn release(&self, hall_id: &str, me: &str) -> Result<bool> {
        let client = crate::connection(&self.pool, "releasing a hall lease").await?;
        let n = client
            .execute(
                "DELETE FROM hall_leases WHERE hall_id = $1 AND holder = $2",
                &[&hall_id, &me],
            )
            .await
            .map_err(|e| Error::pg(format!("releasing the lease of hall {hall_id}"), e))?;
        Ok(n > 0)
    }
}
