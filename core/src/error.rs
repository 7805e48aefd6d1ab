//! The one error type of linli-core. Messages are lowercase and say what
//! was being done, so a kiosk can show them to staff and a log can be read
//! without the code at hand.

use std::path::PathBuf;

/// Everything that can go wrong in linli-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value entered or received does not fit the model.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field was wrong.
        field: &'static str,
        /// Why, in words a person can act on.
        reason: String,
    },
    /// A document does not have the shape its schema requires.
    #[error("document {doc} does not fit its schema: {reason}")]
    Schema {
        /// The document (kind or id) being read.
        doc: String,
        /// What was wrong.
        reason: String,
    },
    /// The SQLite file exists but is not a usable database. It is left
    /// untouched so staff can copy it away for recovery.
    #[error(
        "the store at {path} is damaged ({reason}); it has not been changed: \
         copy it away for recovery and ask staff to re-pair this kiosk"
    )]
    CorruptStore {
        /// The file that failed to open.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// The SQLite file was written by a newer Linli; this build does not
    /// migrate backwards, and changes nothing.
    #[error(
        "the {component} schema of this store is at version {found}, newer than this Linli \
         knows ({known}); it was written by a newer Linli: run that version, or restore a \
         backup made before the upgrade (nothing was changed)"
    )]
    NewerSchema {
        /// Which part of the schema.
        component: String,
        /// The version the file is at.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The store is full (disk full or its size limit reached). Nothing
    /// stored before is lost.
    #[error("the store is full: {0}; free disk space, then try again (nothing stored was lost)")]
    StoreFull(String),
    /// Any other SQLite failure.
    #[error("store error while {context}: {source}")]
    Store {
        /// What we were doing.
        context: String,
        /// The SQLite error.
        #[source]
        source: Box<rusqlite::Error>,
    },
    /// This kiosk has not been paired with a server yet.
    #[error("this kiosk is not provisioned yet: pair it with a server address and token")]
    NotProvisioned,
    /// The server refused the kiosk's token.
    #[error("the server refused this kiosk's token (revoked or wrong): re-pair the kiosk")]
    Unauthorized,
    /// The server speaks a protocol version this kiosk does not.
    #[error("the server speaks protocol {server}, this kiosk speaks {ours}: update the kiosk")]
    ProtocolMismatch {
        /// The server's version.
        server: u32,
        /// Ours.
        ours: u32,
    },
    /// Talking to the server over HTTP failed.
    #[error("talking to the server at {url}: {reason}")]
    Http {
        /// Where.
        url: String,
        /// What happened.
        reason: String,
    },
    /// An Automerge operation failed.
    #[error("automerge: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    /// Writing a record into a document failed.
    #[error("writing a record: {0}")]
    Reconcile(Box<autosurgeon::ReconcileError>),
    /// The samod repo has stopped (the node is shutting down).
    #[error("the document repository has stopped")]
    Stopped,
    /// A store was used after its owner closed it (shutting down).
    #[error("the {0} has been closed: shutting down")]
    Closed(&'static str),
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with linli-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A validation error for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Wrap a SQLite error, telling disk-full apart from other failures.
    pub fn store(context: impl Into<String>, source: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(e, _) = &source
            && e.code == rusqlite::ErrorCode::DiskFull
        {
            return Error::StoreFull(format!("{}: {source}", context.into()));
        }
        Error::Store {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// True when retrying later (after space is freed) may succeed.
    pub fn is_store_full(&self) -> bool {
        matches!(self, Error::StoreFull(_))
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Automerge(Box::new(e))
    }
}

impl From<autosurgeon::ReconcileError> for Error {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        Error::Reconcile(Box::new(e))
    }
}

impl From<samod::Stopped> for Error {
    fn from(_: samod::Stopped) -> Self {
        Error::Stopped
    }
}
