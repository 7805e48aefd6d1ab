//! Admin sign-in for the console: sessions in a random cookie
//! (`HttpOnly; Secure; SameSite=Strict`), stored hashed by the engine
//! (`linli_sync_engine::accounts`), a CSRF token per session checked on
//! every form, and a limit on failed sign-ins per user name whose memory is
//! bounded ([`crate::limiters::LoginLimiter`]).

use axum::http::HeaderMap;
use linli_sync_engine::{
    Error, Result,
    accounts::{self, SESSION_MS},
    tables::ServerTables,
};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "linli_session";
/// A signed-in admin.
#[derive(Clone, Debug)]
pub struct Session {
    /// User name.
    pub user: String,
    /// central, hall_staff or viewer.
    pub role: String,
    /// The halls they may see.
    pub halls: Vec<String>,
    /// The token every form must carry.
    pub csrf: String,
    /// The language they read the console in (from its own cookie).
    pub lang: super::Lang,
}

impl Session {
    /// May this admin see `hall`?
    pub fn sees(&self, hall: &str) -> bool {
        self.halls.iter().any(|h| h == hall)
    }

    /// Refuse viewers.
    pub fn require_write(&self) -> Result<()> {
        if self.role == "viewer" {
            return Err(Error::Forbidden("viewers cannot change anything".into()));
        }
        Ok(())
    }

    /// Refuse anyone but a central admin: `what` is what they tried
    /// ("erasing a resident"), for the error.
    pub fn require_central(&self, what: &str) -> Result<()> {
        if self.role == "central" {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("{what} is for central admins")))
        }
    }

    /// Refuse a hall this admin may not see.
    pub fn require_hall(&self, hall: &str) -> Result<()> {
        if self.sees(hall) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("hall {hall} is not yours")))
        }
    }

    /// Record an action of this admin in the audit log.
    pub async fn audit(
        &self,
        state: &crate::state::AppState,
        action: &str,
        target: &str,
        before: Option<String>,
        after: Option<String>,
    ) -> Result<()> {
        state
            .core
            .tables
            .audit(
                &self.user,
                action,
                target,
                before.as_deref(),
                after.as_deref(),
                linli_sync_engine::clock::now_ms(),
            )
            .await
    }

    /// Check a form's CSRF token (constant time).
    pub fn check_csrf(&self, token: &str) -> Result<()> {
        if bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the form expired or came from elsewhere: reload the page and try again".into(),
            ))
        }
    }
}

/// The session behind a cookie value, if live, read in the console's
/// default language (the request's own cookie sets it after).
pub async fn lookup(tables: &dyn ServerTables, id: &str, now: i64) -> Result<Option<Session>> {
    Ok(accounts::session(tables, id, now).await?.map(|s| Session {
        user: s.user,
        role: s.role,
        halls: s.halls,
        csrf: s.csrf,
        lang: super::Lang::default(),
    }))
}

/// The session cookie's value in a request.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value for a new session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_MS / 1000
    )
}

/// The `Set-Cookie` value that clears the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}
