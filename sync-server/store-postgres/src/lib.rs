//! # linli-store-postgres
//!
//! The server's store on PostgreSQL, for a district or a city that runs
//! several instances of `linli-server` on one database its operators
//! already run and back up (`pg_dump`); a street office keeps the embedded
//! SQLite store, which needs no setup.
//!
//! Everything the server keeps is here when it runs on PostgreSQL
//! ([`PgStore::server_store`]): the documents behind the engine's
//! `DocumentStore` ([`documents`]), its own tables behind `ServerTables`
//! ([`tables`]) and the projection behind `ProjectionTables`
//! ([`projection`]), each migrated by [`PgStore::open`] from a
//! `postgres://` URL ([`migrate`]; several instances starting at once
//! migrate once).
//!
//! Several instances may serve one database: each hall is served by the
//! instance that holds its lease ([`leases`], the engine's `HallLeases`),
//! and the others pass that hall's kiosks and writes on to it (the
//! engine's `cluster` module says how).
//!
//! Connections are plain TCP (`NoTls`): the database is expected on the
//! office's own network or loopback.
//!
//! # Layout
//! - [`error`]: the store's error type.
//! - [`migrate`]: append-only migrations per component, under an advisory
//!   lock; a newer database is refused.
//! - [`documents`]: [`documents::PgDocuments`], samod's storage and the
//!   server's whole-document reads and deletions.
//! - [`leases`]: [`leases::HallLeases`], one holder per hall.
//! - [`tables`]: [`tables::PgTables`], the server's own tables.
//! - [`projection`]: [`projection::PgProjection`], the projection's
//!   tables, their roll-ups kept by triggers.

mod documents;
mod error;
pub mod leases;
mod migrate;
mod projection;
mod tables;

pub use error::{Error, Result};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

/// A connection from `pool`, for `what` we are about to do (named in
/// the error if none can be had).
pub(crate) async fn connection(pool: &Pool, what: &str) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| Error::pool(what, e))
}

/// Connections the pool keeps at most, per instance.
pub const MAX_CONNECTIONS: usize = 16;

/// Connections kept for the hall leases alone, per instance.
pub const LEASE_CONNECTIONS: usize = 2;

/// The store: a pool of connections to one database, migrated.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    lease_pool: Pool,
}

impl PgStore {
    /// Connect to the database at `url` (`postgres://USER@HOST/DB`) and
    /// bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::Config(format!(
                "the database URL is not a PostgreSQL URL (postgres://USER@HOST/DB): {e}"
            ))
        })?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(format!("building the connection pool: {e}")))?;
        // The hall leases' renewals never queue behind the store's work: a
        // renewal that waited for a busy pool could let the lease run out.
        let lease_pool = Pool::builder(Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(LEASE_CONNECTIONS)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| Error::Config(format!("building the leases' connection pool: {e}")))?;
        migrate::migrate(&pool, "documents", documents::MIGRATIONS).await?;
        migrate::migrate(&pool, "leases", leases::MIGRATIONS).await?;
        migrate::migrate(&pool, "server", tables::MIGRATIONS).await?;
        migrate::migrate(&pool, "projection", projection::MIGRATIONS).await?;
        Ok(Self { pool, lease_pool })
    }

    /// samod's storage for the documents of every hall.
    pub fn documents(&self) -> documents::PgDocuments {
        documents::PgDocuments::new(self.pool.clone())
    }

    /// The server's own tables (halls, kiosks, admins, sessions, audit,
    /// document ownership).
    pub fn tables(&self) -> tables::PgTables {
        tables::PgTables::new(self.pool.clone())
    }

    /// The projection's tables (records, roll-ups, quarantine, answers).
    pub fn projection(&self) -> projection::PgProjection {
        projection::PgProjection::new(self.pool.clone())
    }

    /// Everything the server keeps, on this database: what
    /// `ServerCore::open_on` is opened on.
    pub fn server_store(&self) -> linli_sync_engine::server::Store {
        linli_sync_engine::server::Store {
            tables: std::sync::Arc::new(self.tables()),
            projection: std::sync::Arc::new(self.projection()),
            documents: std::sync::Arc::new(self.documents()),
            sqlite: None,
            leases: Some(std::sync::Arc::new(self.leases())),
        }
    }

    /// The hall leases.
    pub fn leases(&self) -> leases::HallLeases {
        leases::HallLeases::new(self.lease_pool.clone())
    }

    /// The pool (for this crate's parts and tests).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}
