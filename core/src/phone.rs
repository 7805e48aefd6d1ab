//! Mainland mobile numbers. A number typed on the kiosk keypad is
//! validated, then kept only as a keyed hash (so a resident is recognised
//! across kiosks and halls) and a masked form (138****5678) that is safe to
//! show. The raw number never reaches a document or a log.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// An 11-digit mainland mobile number, validated. Its `Debug` is masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Validate digits typed by a resident (spaces and dashes are ignored).
    pub fn parse(input: &str) -> Result<Self> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "phone number",
                "a mainland mobile number has 11 digits",
            ));
        }
        let bytes = digits.as_bytes();
        if bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
            return Err(Error::invalid(
                "phone number",
                "a mainland mobile number starts with 13 to 19",
            ));
        }
        Ok(Self(digits))
    }

    /// The masked form shown on screens: `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The raw digits, for sealing to the server only. Never log this.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// The key for residents' phone hashes, provisioned by the server to every
/// kiosk so the same number hashes the same everywhere.
#[derive(Clone)]
pub struct PhoneKey(Vec<u8>);

impl PhoneKey {
    /// A key from its bytes (at least 16).
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 16 {
            return Err(Error::invalid("phone key", "must be at least 16 bytes"));
        }
        Ok(Self(bytes))
    }

    /// A key from its hex form as sent in the kiosk configuration.
    pub fn from_hex(s: &str) -> Result<Self> {
        let bytes = hex::decode(s).map_err(|e| Error::invalid("phone key", e.to_string()))?;
        Self::new(bytes)
    }

    /// The hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The keyed hash of a number, hex-encoded.
    pub fn hash(&self, phone: &PhoneNumber) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(phone.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneKey(..)")
    }
}

/// True when `s` looks like a masked number (`138****5678`).
pub fn is_masked(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[..3].iter().all(u8::is_ascii_digit)
        && &b[3..7] == b"****"
        && b[7..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_are_masked_everywhere_they_show() {
        let p = PhoneNumber::parse("138 1234 5678").expect("valid");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "PhoneNumber(138****5678)");
        assert!(is_masked(&p.masked()));
    }

    #[test]
    fn invalid_numbers_get_clear_errors() {
        for (input, want) in [
            ("1381234567", "11 digits"),
            ("138123456789", "11 digits"),
            ("1381234567a", "11 digits"),
            ("12812345678", "13 to 19"),
            ("23812345678", "13 to 19"),
        ] {
            let err = PhoneNumber::parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let p = PhoneNumber::parse("13812345678").expect("valid");
        let k1 = PhoneKey::new(vec![1; 32]).expect("key");
        let k2 = PhoneKey::new(vec![2; 32]).expect("key");
        assert_eq!(k1.hash(&p), k1.hash(&p));
        assert_ne!(k1.hash(&p), k2.hash(&p));
        assert!(!k1.hash(&p).contains("13812345678"));
        assert!(PhoneKey::new(vec![0; 8]).is_err());
    }
}
