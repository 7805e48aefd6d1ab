//! Admins' passwords and console sessions as the server stores them:
//! argon2 password hashes, and sessions kept by the hash of their random
//! cookie value, each with its CSRF token. The console's HTTP side (the
//! cookie, the sign-in limit, roles) is in the web crate.
//!
//! - Hashing and verifying run on the blocking pool, and a name without a
//!   password is verified against a dummy hash, so a sign-in's time does
//!   not tell who has an account ([`Passwords`]).
//! - Changing a password ends the admin's other sessions
//!   ([`change_password`]).

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use rand::RngCore;

use crate::{Error, Result, auth, tables::ServerTables};

/// How long a session lasts, ms (8 hours: a working day).
pub const SESSION_MS: i64 = 8 * 3600 * 1000;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Hash a password for storage.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::BadRequest(format!(
            "a password needs at least {MIN_PASSWORD} characters"
        )));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::BadRequest(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::BadRequest(format!("hashing the password: {e}")))
}

/// True when `password` matches the stored hash. Blocks for an argon2
/// verification: on an async path use [`Passwords::verify`].
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn blocking_failed(what: &str, e: tokio::task::JoinError) -> Error {
    Error::Io {
        context: what.into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// [`hash_password`] on the blocking pool, off the async workers.
pub async fn hash_password_async(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| blocking_failed("hashing a password", e))?
}

/// The hash a sign-in is checked against when the name has no password
/// (no such admin, or none set): made once, with the same parameters as
/// every stored hash, so it costs the same verification.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&random_token()).expect("a random 64-character password always hashes")
    })
}

/// The console's password checks. Each is one argon2 verification on the
/// blocking pool (tens of milliseconds of CPU that must not stall the
/// async workers serving kiosks), and a name without a password is
/// verified against [`dummy_hash`], so how long a sign-in takes does not
/// tell who has an account.
#[derive(Default)]
pub struct Passwords {
    verifications: std::sync::Arc<AtomicU64>,
}

impl Passwords {
    /// Whether `password` matches `stored`; with no stored hash, a
    /// verification against [`dummy_hash`] that always says no.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool> {
        let verifications = self.verifications.clone();
        tokio::task::spawn_blocking(move || {
            let hash = match &stored {
                Some(h) => h.as_str(),
                None => dummy_hash(),
            };
            let matched = verify_password(hash, &password);
            verifications.fetch_add(1, Ordering::Relaxed);
            matched && stored.is_some()
        })
        .await
        .map_err(|e| blocking_failed("checking a password", e))
    }

    /// Argon2 verifications done so far (each sign-in attempt that was not
    /// refused by the limit does exactly one).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

/// 32 random bytes in hex: a session's cookie value or CSRF token.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Start a session for `user`; returns the cookie value (only its hash
/// is stored).
pub async fn create_session(tables: &dyn ServerTables, user: &str, now: i64) -> Result<String> {
    let id = random_token();
    tables
        .insert_session(
            &auth::hash_token(&id),
            user,
            &random_token(),
            now,
            now + SESSION_MS,
        )
        .await?;
    Ok(id)
}

/// End the session with this cookie value.
pub async fn end_session(tables: &dyn ServerTables, id: &str) -> Result<()> {
    tables.delete_session(&auth::hash_token(id)).await
}

/// Set `user`'s password (an argon2 hash from [`hash_password`]) and end
/// their sessions: every one, or every one but the session whose cookie
/// value is `keep` (the one that made the change). One transaction, so no
/// other session outlives the old password. Returns how many ended.
pub async fn change_password(
    tables: &dyn ServerTables,
    user: &str,
    password_hash: &str,
    keep: Option<&str>,
) -> Result<usize> {
    let keep = keep.map(auth::hash_token);
    tables
        .change_password(user, password_hash, keep.as_deref())
        .await
}

/// A live session as stored: whose it is and its CSRF token.
#[derive(Clone, Debug)]
pub struct StoredSession {
    /// User name.
    pub user: String,
    /// central, hall_staff or viewer.
    pub role: String,
    /// The halls they may see.
    pub halls: Vec<String>,
    /// The token every form must carry.
    pub csrf: String,
}

/// The session behind a cookie value, if live.
pub async fn session(
    tables: &dyn ServerTables,
    id: &str,
    now: i64,
) -> Result<Option<StoredSession>> {
    let Some(row) = tables.session(&auth::hash_token(id), now).await? else {
        return Ok(None);
    };
    let halls = tables.admin_halls(&row.user, &row.role).await?;
    Ok(Some(StoredSession {
        user: row.user,
        role: row.role,
        halls,
        csrf: row.csrf,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("garbage", "x"));
        assert!(hash_password("short").is_err());
    }

    #[tokio::test]
    async fn a_name_without_a_password_costs_a_verification_and_never_matches() {
        let p = Passwords::default();
        let h = hash_password_async("correct horse".into())
            .await
            .expect("hash");
        assert!(
            p.verify(Some(h.clone()), "correct horse".into())
                .await
                .expect("verify")
        );
        assert!(
            !p.verify(Some(h), "wrong horse".into())
                .await
                .expect("verify")
        );
        assert!(
            !p.verify(None, "correct horse".into())
                .await
                .expect("verify")
        );
        assert_eq!(p.verifications(), 3);
        assert!(dummy_hash().starts_with("$argon2"));
        assert!(std::ptr::eq(dummy_hash(), dummy_hash()), "made once");
    }
}
