//! Admin sign-in for the console: argon2 password hashes, sessions in a
//! random cookie (stored hashed; `HttpOnly; Secure; SameSite=Strict`),
//! a CSRF token per session checked on every form, and a limit on failed
//! sign-ins per user name.
//!
//! - Hashing and verifying run on the blocking pool, and a name without a
//!   password is verified against a dummy hash, so a sign-in's time does
//!   not tell who has an account ([`Passwords`]).
//! - Changing a password ends the admin's other sessions
//!   ([`change_password`]).
//! - The failure limit's memory is bounded ([`LoginLimiter`],
//!   [`MAX_TRACKED_NAMES`] names).

use std::{
    collections::HashMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use axum::http::HeaderMap;
use rand::RngCore;
use rusqlite::{OptionalExtension, params};
use subtle::ConstantTimeEq;

use crate::{Error, Result, auth, db::Db};

/// The session cookie's name.
pub const COOKIE: &str = "linli_session";
/// How long a session lasts, ms (8 hours: a working day).
pub const SESSION_MS: i64 = 8 * 3600 * 1000;
/// Failed sign-ins allowed per user name per window.
pub const MAX_FAILURES: u32 = 5;
/// The window, ms.
pub const FAILURE_WINDOW_MS: i64 = 5 * 60 * 1000;
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

/// User names [`LoginLimiter`] remembers at most.
pub const MAX_TRACKED_NAMES: usize = 10_000;

/// Failed sign-ins per user name, in bounded memory.
///
/// Names are kept as keyed 64-bit hashes (a name may be any string a
/// stranger types; its length costs nothing here, and no name is held).
/// Entries whose window has passed are dropped: every window, and whenever
/// the map is full. It never holds more than [`MAX_TRACKED_NAMES`]: when a
/// new name finds it full, it first drops what has expired, then every
/// name that is not blocked (their partial counts start again; refilling
/// the map to wipe them takes 10,000 failed sign-ins, an argon2
/// verification each). Blocked names are never dropped before their
/// window ends. Should the map still be full — 10,000 names blocked at
/// once — a new name is not counted until room frees up; the known ones
/// stay blocked.
#[derive(Default)]
pub struct LoginLimiter {
    keys: std::hash::RandomState,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    /// Name hash → (failures, when the window began, ms).
    by_name: HashMap<u64, (u32, i64)>,
    /// When expired entries were last dropped, ms.
    swept_ms: i64,
}

impl LoginLimiter {
    fn key(&self, user: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.keys, user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds until `user` may try again, if blocked now.
    pub fn blocked(&self, user: &str, now: i64) -> Option<i64> {
        let key = self.key(user);
        self.lock()
            .by_name
            .get(&key)
            .filter(|(n, since)| *n >= MAX_FAILURES && now - since < FAILURE_WINDOW_MS)
            .map(|(_, since)| FAILURE_WINDOW_MS - (now - since))
    }

    /// Count a failure.
    pub fn fail(&self, user: &str, now: i64) {
        let key = self.key(user);
        let mut f = self.lock();
        let live = |since: i64| now - since < FAILURE_WINDOW_MS;
        if now - f.swept_ms >= FAILURE_WINDOW_MS {
            f.by_name.retain(|_, (_, since)| live(*since));
            f.swept_ms = now;
        }
        if !f.by_name.contains_key(&key) && f.by_name.len() >= MAX_TRACKED_NAMES {
            f.by_name
                .retain(|_, (n, since)| live(*since) && *n >= MAX_FAILURES);
            if f.by_name.len() >= MAX_TRACKED_NAMES {
                return;
            }
        }
        let e = f.by_name.entry(key).or_insert((0, now));
        if !live(e.1) {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forget failures after a success.
    pub fn succeed(&self, user: &str) {
        let key = self.key(user);
        self.lock().by_name.remove(&key);
    }

    /// How many user names are remembered now.
    pub fn tracked(&self) -> usize {
        self.lock().by_name.len()
    }
}

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
        state: &crate::api::AppState,
        action: &str,
        target: &str,
        before: Option<String>,
        after: Option<String>,
    ) -> Result<()> {
        state
            .core
            .db
            .audit_async(&self.user, action, target, before, after)
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

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Start a session; returns the cookie value.
pub fn create(db: &Db, user: &str, now: i64) -> Result<String> {
    let id = random_token();
    let (h, csrf) = (auth::hash_token(&id), random_token());
    db.with(|c| {
        c.execute("DELETE FROM sessions WHERE expires_ms < ?1", [now])
            .map_err(|e| Error::db("expiring sessions", e))?;
        c.execute(
            "INSERT INTO sessions (id_hash, user, csrf, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![h, user, csrf, now, now + SESSION_MS],
        )
        .map(|_| ())
        .map_err(|e| Error::db("starting a session", e))
    })?;
    Ok(id)
}

/// End a session.
pub fn destroy(db: &Db, id: &str) -> Result<()> {
    let h = auth::hash_token(id);
    db.with(|c| {
        c.execute("DELETE FROM sessions WHERE id_hash = ?1", [h])
            .map(|_| ())
            .map_err(|e| Error::db("ending a session", e))
    })
}

/// Set `user`'s password (an argon2 hash from [`hash_password`]) and end
/// their sessions: every one, or every one but the session whose cookie
/// value is `keep` (the one that made the change). One transaction, so no
/// other session outlives the old password. Returns how many ended.
pub fn change_password(
    db: &Db,
    user: &str,
    password_hash: &str,
    keep: Option<&str>,
) -> Result<usize> {
    let keep = keep.map(auth::hash_token);
    db.with(|c| {
        let err = |e| Error::db("changing a password", e);
        let tx = c.transaction().map_err(err)?;
        let n = tx
            .execute(
                "UPDATE admins SET password_hash = ?2 WHERE user = ?1",
                params![user, password_hash],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(Error::NotFound(format!("admin {user}")));
        }
        let ended = tx
            .execute(
                "DELETE FROM sessions WHERE user = ?1 AND id_hash IS NOT ?2",
                params![user, keep],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(ended)
    })
}

/// The session behind a cookie value, if live.
pub fn lookup(db: &Db, id: &str, now: i64) -> Result<Option<Session>> {
    let h = auth::hash_token(id);
    let row: Option<(String, String, String)> = db.with(|c| {
        c.query_row(
            "SELECT s.user, a.role, s.csrf FROM sessions s JOIN admins a ON a.user = s.user
             WHERE s.id_hash = ?1 AND s.expires_ms > ?2",
            params![h, now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| Error::db("reading a session", e))
    })?;
    let Some((user, role, csrf)) = row else {
        return Ok(None);
    };
    let halls = db.admin_halls(&user, &role)?;
    Ok(Some(Session {
        lang: super::Lang::default(),
        user,
        role,
        halls,
        csrf,
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

    #[test]
    fn five_failures_block_for_five_minutes() {
        let l = LoginLimiter::default();
        for _ in 0..4 {
            l.fail("wang", 0);
        }
        assert_eq!(l.blocked("wang", 0), None);
        l.fail("wang", 0);
        assert!(l.blocked("wang", 1000).is_some());
        assert_eq!(l.blocked("li", 1000), None);
        assert_eq!(l.blocked("wang", FAILURE_WINDOW_MS), None);
    }

    #[test]
    fn failures_are_forgotten_once_their_window_has_passed() {
        let l = LoginLimiter::default();
        for i in 0..1000 {
            l.fail(&format!("guess-{i}"), 0);
        }
        assert_eq!(l.tracked(), 1000);
        l.fail("wang", FAILURE_WINDOW_MS);
        assert_eq!(l.tracked(), 1, "only the fresh failure is left");
    }

    #[test]
    fn many_distinct_names_never_grow_the_map_nor_free_a_blocked_name() {
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            l.fail("wang", 0);
        }
        l.fail("li", 0);
        for i in 0..3 * MAX_TRACKED_NAMES {
            l.fail(&format!("{i}-{}", "x".repeat(i % 100)), 1);
            assert!(l.tracked() <= MAX_TRACKED_NAMES);
        }
        assert!(l.blocked("wang", 2).is_some(), "still blocked");
        // A name that is not blocked may have been dropped to make room:
        // it is counted from zero again, and blocked after five more.
        for _ in 0..MAX_FAILURES {
            l.fail("li", 2);
        }
        assert!(l.blocked("li", 3).is_some());
    }

    #[test]
    fn a_map_full_of_blocked_names_refuses_new_ones_and_keeps_blocking() {
        let l = LoginLimiter::default();
        for i in 0..MAX_TRACKED_NAMES {
            for _ in 0..MAX_FAILURES {
                l.fail(&format!("guess-{i}"), 0);
            }
        }
        assert_eq!(l.tracked(), MAX_TRACKED_NAMES);
        for _ in 0..MAX_FAILURES {
            l.fail("newcomer", 1);
        }
        assert_eq!(l.tracked(), MAX_TRACKED_NAMES, "no growth");
        assert_eq!(l.blocked("newcomer", 1), None, "not counted");
        assert!(l.blocked("guess-0", 1).is_some() && l.blocked("guess-9999", 1).is_some());
        // Once the window has passed there is room again.
        l.fail("newcomer", FAILURE_WINDOW_MS);
        assert_eq!(l.tracked(), 1);
    }
}
