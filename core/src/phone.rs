//! Mainland mobile numbers. A number typed on the kiosk keypad is
//! validated here; what is kept of it (a slow pseudonym, a sealed contact)
//! is made by [`crate::resident`]. The masked form (138****5678) is shown
//! on screens from the number just typed or just opened, and never stored.
//! The raw number never reaches a document, a table or a log.

use std::fmt;

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
}
