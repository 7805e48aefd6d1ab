//! The PostgreSQL store's error type: what was being done, and what the
//! database or the pool said.

/// Everything that can go wrong in the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL or pool settings are wrong; the message says how.
    #[error("{0}")]
    Config(String),
    /// No connection could be had from the pool (the database is down,
    /// unreachable, or refuses us).
    #[error("connecting to PostgreSQL while {context}: {detail}")]
    Pool {
        /// What we were doing.
        context: String,
        /// What the database or the network said.
        detail: String,
    },
    /// A statement failed.
    #[error("PostgreSQL error while {context}: {detail}")]
    Postgres {
        /// What we were doing.
        context: String,
        /// What the database said.
        detail: String,
        /// The driver's error.
        #[source]
        source: Box<tokio_postgres::Error>,
    },
    /// The database was written by a newer Linli; this build does not
    /// migrate backwards.
    #[error(
        "the database's {component} schema is at version {found}, newer than this Linli knows \
         ({known}); it was written by a newer Linli: run that version, or restore a backup \
         made before the upgrade"
    )]
    NewerSchema {
        /// Which part of the schema.
        component: String,
        /// The version the database is at.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl Error {
    /// Wrap a statement's error with what we were doing.
    pub fn pg(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error::Postgres {
            context: context.into(),
            detail: describe(&source),
            source: Box::new(source),
        }
    }

    /// Wrap the pool's error with what we were doing.
    pub fn pool(context: impl Into<String>, source: deadpool_postgres::PoolError) -> Self {
        let detail = match &source {
            deadpool_postgres::PoolError::Backend(e) => describe(e),
            other => other.to_string(),
        };
        Error::Pool {
            context: context.into(),
            detail,
        }
    }
}

/// The database's own words ("relation \"x\" does not exist"), which sit
/// below the driver's generic "db error", or the driver's with its cause.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => std::error::Error::source(e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}")),
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
