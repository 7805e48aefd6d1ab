//! Schema migrations, append-only, per component, as the SQLite store
//! keeps them (`linli_core::sqlite::migrate`): a table of applied
//! versions, and what is missing applied once, in one transaction.
//!
//! Several instances may start at once against one database: each runs
//! the migrations under a transaction-scoped advisory lock, so exactly one
//! applies a version and the others find it applied. A database whose
//! version is newer than this build knows is refused with
//! [`Error::NewerSchema`] rather than used or migrated backwards.

use deadpool_postgres::Pool;

use crate::{Error, Result};

/// The advisory lock every migrating instance takes ("linli" in ASCII).
const MIGRATION_LOCK: i64 = 0x006c_696e_6c69;

/// Bring `component`'s schema up to `migrations` (index + 1 is the
/// version), applying what is missing.
pub async fn migrate(pool: &Pool, component: &str, migrations: &[&str]) -> Result<()> {
    let mut client = crate::connection(pool, "migrating the schema").await?;
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    // One transaction under the lock: instances starting together queue
    // here, and a migration that fails leaves nothing half applied.
    let tx = client
        .transaction()
        .await
        .map_err(|e| Error::pg("starting to migrate", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| Error::pg("waiting for other instances' migrations", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS linli_migrations (
             component TEXT NOT NULL,
             version BIGINT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
             PRIMARY KEY (component, version)
         )",
    )
    .await
    .map_err(|e| Error::pg("creating the migrations table", e))?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM linli_migrations WHERE component = $1",
            &[&component],
        )
        .await
        .map_err(|e| Error::pg("reading the schema version", e))?
        .get(0);
    if found > known {
        return Err(Error::NewerSchema {
            component: component.to_string(),
            found,
            known,
        });
    }
    for (i, sql) in migrations
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.batch_execute(sql)
            .await
            .map_err(|e| Error::pg(format!("applying {component} migration {version}"), e))?;
        tx.execute(
            "INSERT INTO linli_migrations (component, version) VALUES ($1, $2)",
            &[&component, &version],
        )
        .await
        .map_err(|e| Error::pg("recording a migration", e))?;
        tracing::info!(component, version, "PostgreSQL schema migrated");
    }
    tx.commit()
        .await
        .map_err(|e| Error::pg(format!("committing the {component} migrations"), e))
}
