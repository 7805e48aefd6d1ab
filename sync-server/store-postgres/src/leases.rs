//! Hall leases on PostgreSQL: which instance serves each hall (the
//! engine's `cluster` module says why and how they are used).
//!
//! A lease is a row per hall: its holder, the holder's address for its
//! peers, until when (by the database's clock, so instances' clocks do not
//! matter), and an *epoch* that grows each time the hall changes hands.
//! Taking, renewing and giving up are one statement each, so two instances
//! asking at once cannot both win.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use linli_sync_engine::cluster::{Acquired, Lease};

use crate::{Error, Result};

/// The hall leases table (component `leases`).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE hall_leases (
        hall_id TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )",
    // Where the holder's peers reach it.
    "ALTER TABLE hall_leases ADD COLUMN address TEXT NOT NULL DEFAULT ''",
    // Another instance that asked for the hall: the holder gives it back.
    "ALTER TABLE hall_leases ADD COLUMN wanted_by TEXT",
];

/// The leases of every hall, shared by every instance.
#[derive(Clone)]
pub struct HallLeases {
    pool: Pool,
}

fn remaining(ms: f64) -> Duration {
    Duration::from_millis(ms.max(0.0) as u64)
}

fn lease(hall_id: &str, row: &tokio_postgres::Row) -> Lease {
    Lease {
        hall_id: hall_id.to_string(),
        holder: row.get(0),
        address: row.get(1),
        epoch: row.get(2),
        remaining: remaining(row.get(3)),
    }
}

/// Who holds `hall_id`, read on `client`.
async fn holder_on(client: &tokio_postgres::Client, hall_id: &str) -> Result<Option<Lease>> {
    let row = client
        .query_opt(
            "SELECT holder, address, epoch,
                 (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::FLOAT8
             FROM hall_leases WHERE hall_id = $1 AND expires_at > now()",
            &[&hall_id],
        )
        .await
        .map_err(|e| Error::pg(format!("reading the lease of hall {hall_id}"), e))?;
    Ok(row.map(|r| lease(hall_id, &r)))
}

impl HallLeases {
    /// Leases over `pool` (migrated with [`MIGRATIONS`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Take or renew `hall_id` for instance `me` (reached at `address`)
    /// for `ttl`: ours if no one holds it, if we hold it already, or if
    /// its holder's lease has run out; otherwise who holds it.
    pub async fn acquire(
        &self,
        hall_id: &str,
        me: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Acquired> {
        // One connection for both statements: taking a second while
        // holding the first would deadlock a small pool under many asks.
        let client = crate::connection(&self.pool, "taking a hall lease").await?;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        loop {
            let won = client
                .query_opt(
                    "INSERT INTO hall_leases (hall_id, holder, address, epoch, expires_at)
                     VALUES ($1, $2, $3, 1, now() + $4 * interval '1 millisecond')
                     ON CONFLICT (hall_id) DO UPDATE SET
                         holder = EXCLUDED.holder,
                         address = EXCLUDED.address,
                         epoch = hall_leases.epoch
                             + CASE WHEN hall_leases.holder = EXCLUDED.holder THEN 0 ELSE 1 END,
                         expires_at = EXCLUDED.expires_at,
                         wanted_by = NULL
                     WHERE (hall_leases.holder = EXCLUDED.holder AND hall_leases.wanted_by IS NULL)
                         OR hall_leases.expires_at <= now()
                     RETURNING holder, address, epoch,
                         (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::FLOAT8",
                    &[&hall_id, &me, &address, &(ttl_ms as f64)],
                )
                .await
                .map_err(|e| Error::pg(format!("taking the lease of hall {hall_id}"), e))?;
            if let Some(r) = won {
                return Ok(Acquired::Held(lease(hall_id, &r)));
            }
            match holder_on(&client, hall_id).await? {
                // Ours, but asked for: not renewed.
                Some(lease) if lease.holder == me => return Ok(Acquired::Yield(lease)),
                Some(lease) => return Ok(Acquired::Elsewhere(lease)),
                // Released between our two statements: ask again.
                None => {}
            }
        }
    }

    /// Who holds `hall_id` now, if anyone (a lease that has run out counts
    /// as no one's).
    pub async fn holder(&self, hall_id: &str) -> Result<Option<Lease>> {
        let client = crate::connection(&self.pool, "reading a hall lease").await?;
        holder_on(&client, hall_id).await
    }

    /// Whether `me` still holds `hall_id` at `epoch`, with time left.
    pub async fn holds(&self, hall_id: &str, me: &str, epoch: i64) -> Result<bool> {
        Ok(self
            .holder(hall_id)
            .await?
            .is_some_and(|l| l.holder == me && l.epoch == epoch))
    }

    /// Give `hall_id` up (at a clean shutdown, when the hall has been
    /// idle, or because another instance asked for it), so another
    /// instance may take it at once. Returns whether we held it.
    ///
    /// A hall another instance asked for ([`HallLeases::ask_for`]) is
    /// handed to the asker in the same statement, for what is left of the
    /// lease: otherwise a kiosk reconnecting to the old holder could take
    /// it back before the asker's next try, and the asker would have to
    /// ask again. The asker's next `acquire` renews it (and gives its
    /// address); until then the hall has no address, and other instances
    /// wait for it as they do for an operator command's.
    pub async fn release(&self, hall_id: &str, me: &str) -> Result<bool> {
        let client = crate::connection(&self.pool, "releasing a hall lease").await?;
        let row = client
            .query_one(
                "WITH handed AS (
                     UPDATE hall_leases SET holder = wanted_by, address = '',
                         epoch = epoch + 1, wanted_by = NULL
                     WHERE hall_id = $1 AND holder = $2
                         AND wanted_by IS NOT NULL AND expires_at > now()
                     RETURNING 1
                 ), dropped AS (
                     DELETE FROM hall_leases WHERE hall_id = $1 AND holder = $2
                         AND (wanted_by IS NULL OR expires_at <= now())
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM handed) + (SELECT count(*) FROM dropped)",
                &[&hall_id, &me],
            )
            .await
            .map_err(|e| Error::pg(format!("releasing the lease of hall {hall_id}"), e))?;
        Ok(row.get::<_, i64>(0) > 0)
    }
}

impl HallLeases {
    /// Ask the holder of `hall_id` to give it up (see the engine's
    /// `HallLeases::ask_for`).
    pub async fn ask_for(&self, hall_id: &str, me: &str) -> Result<()> {
        let client = crate::connection(&self.pool, "asking for a hall").await?;
        client
            .execute(
                "UPDATE hall_leases SET wanted_by = $2
                 WHERE hall_id = $1 AND holder <> $2 AND expires_at > now()",
                &[&hall_id, &me],
            )
            .await
            .map_err(|e| Error::pg(format!("asking for hall {hall_id}"), e))?;
        Ok(())
    }
}

#[async_trait]
impl linli_sync_engine::cluster::HallLeases for HallLeases {
    async fn acquire(
        &self,
        hall_id: &str,
        me: &str,
        address: &str,
        ttl: Duration,
    ) -> linli_sync_engine::Result<Acquired> {
        Ok(HallLeases::acquire(self, hall_id, me, address, ttl).await?)
    }

    async fn release(&self, hall_id: &str, me: &str) -> linli_sync_engine::Result<bool> {
        Ok(HallLeases::release(self, hall_id, me).await?)
    }

    async fn ask_for(&self, hall_id: &str, me: &str) -> linli_sync_engine::Result<()> {
        Ok(HallLeases::ask_for(self, hall_id, me).await?)
    }

    fn close(&self) {
        self.pool.close();
    }
}
