//! Tokens: made from 32 random bytes, shown once, stored only as their
//! SHA-256. A presented token is hashed and looked up by hash, so the
//! stored secret never meets the presented one in a comparison that could
//! leak timing. Tokens are never logged (the request log omits queries).

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of kiosk tokens.
pub const KIOSK_TOKEN_PREFIX: &str = "lk_";
/// Prefix of admin API tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "la_";

/// A new random token with `prefix`.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The bearer token in `Authorization`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashes_hide_them() {
        let a = new_token(KIOSK_TOKEN_PREFIX);
        let b = new_token(KIOSK_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("lk_") && a.len() == 67);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(!hash_token(&a).contains(&a[3..]));
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer abc".parse().expect("header"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }
}
