//! The server's error type and how errors reach HTTP clients: the client
//! is told what it can do, the log gets the detail.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Everything that can go wrong in linli-sync-server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From linli-core (validation, store, documents).
    #[error(transparent)]
    Core(Box<linli_core::Error>),
    /// A SQLite failure in the server's own tables.
    #[error("database error while {context}: {source}")]
    Db {
        /// What we were doing.
        context: String,
        /// The SQLite error.
        #[source]
        source: Box<rusqlite::Error>,
    },
    /// A failure of a store other than the SQLite file (PostgreSQL): what
    /// we were doing and what the database said.
    #[error("database error while {context}: {detail}")]
    Store {
        /// What we were doing.
        context: String,
        /// What the database said.
        detail: String,
    },
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Something already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// Missing or wrong credentials.
    #[error("missing or invalid token")]
    Unauthorized,
    /// Credentials fine, but not for this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The client's input is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The client speaks another protocol version.
    #[error(
        "protocol version {0} is not supported by this server (it speaks {1}): update the kiosk"
    )]
    Protocol(String, u32),
    /// Filesystem trouble.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The client asked for more than its share.
    #[error("too many {0}; try again later")]
    TooMany(String),
    /// The repository stopped.
    #[error("the document repository has stopped")]
    Stopped,
    /// A hall cannot be served just now (its holder is moving to another
    /// instance, or did not confirm a write); the client tries again.
    #[error("{0}; try again in a few seconds")]
    Unavailable(String),
    /// The server's files or settings do not fit together; the message
    /// says what to do.
    #[error("{0}")]
    Config(String),
}

/// Result with the server's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap a SQLite error with context.
    pub fn db(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Db {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

impl From<linli_core::Error> for Error {
    fn from(e: linli_core::Error) -> Self {
        Error::Core(Box::new(e))
    }
}

impl From<samod::Stopped> for Error {
    fn from(_: samod::Stopped) -> Self {
        Error::Stopped
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Error::Core(e) if matches!(**e, linli_core::Error::Invalid { .. }) => {
                (StatusCode::BAD_REQUEST, self.to_string())
            }
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()),
            Error::Conflict(_) => (StatusCode::CONFLICT, self.to_string()),
            Error::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or invalid token: send 'Authorization: Bearer <token>'".to_string(),
            ),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, self.to_string()),
            Error::Protocol(..) => (StatusCode::UPGRADE_REQUIRED, self.to_string()),
            Error::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, self.to_string()),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            _ => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete this request; it has been logged, try again later"
                        .to_string(),
                )
            }
        };
        let mut resp = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if matches!(self, Error::Protocol(..)) {
            resp.headers_mut().insert(
                linli_core::protocol::PROTOCOL_HEADER,
                axum::http::HeaderValue::from(linli_core::protocol::PROTOCOL_VERSION),
            );
        }
        resp
    }
}
