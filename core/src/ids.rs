//! Identifiers. Hall and kiosk ids are short slugs chosen by operators
//! (they appear in URLs and logs, never anything personal); records are
//! keyed by UUIDv7 made on the kiosk, so ids sort by creation time and two
//! kiosks never collide while offline.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const MAX_SLUG: usize = 40;

fn check_slug(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_SLUG {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_SLUG} characters, got {}", s.len()),
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::invalid(
            field,
            format!("{s:?} may use only a-z, 0-9 and '-'"),
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(Error::invalid(
            field,
            format!("{s:?} may not start or end with '-'"),
        ));
    }
    Ok(())
}

macro_rules! slug_id {
    ($name:ident, $field:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parse and validate.
            pub fn new(s: impl Into<String>) -> Result<Self> {
                let s = s.into();
                check_slug($field, &s)?;
                Ok(Self(s))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }
    };
}

slug_id!(HallId, "hall id", "A hall's id, e.g. `xianfeng`.");
slug_id!(KioskId, "kiosk id", "A kiosk's id, e.g. `xianfeng-k1`.");

/// A record's id: a UUIDv7 made where the record was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId(uuid::Uuid);

impl RecordId {
    /// A fresh id for a record made now.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// An id for a record made at `ms` (Unix milliseconds): what a kiosk
    /// that made it then would have given it (the demo's history).
    pub fn made_at(ms: i64) -> Self {
        let ms = u64::try_from(ms).unwrap_or(0);
        let ts =
            uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000);
        Self(uuid::Uuid::new_v7(ts))
    }

    /// Parse from the text form used as a document map key.
    pub fn parse(s: &str) -> Result<Self> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|e| Error::invalid("record id", format!("{s:?}: {e}")))
    }

    /// A short reference a resident can read out (last 6 hex digits, upper case).
    pub fn short_reference(&self) -> String {
        let s = self.0.simple().to_string();
        s[s.len() - 6..].to_uppercase()
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lowercase_ascii_only() {
        assert!(HallId::new("xianfeng").is_ok());
        assert!(KioskId::new("xianfeng-k1").is_ok());
        for bad in ["", "Xianfeng", "先锋", "a b", "-a", "a-", &"a".repeat(41)] {
            let err = HallId::new(bad).expect_err(bad).to_string();
            assert!(err.starts_with("invalid hall id"), "{err}");
        }
    }

    #[test]
    fn record_ids_round_trip_and_sort_by_time() {
        let a = RecordId::new();
        let b = RecordId::new();
        assert!(a < b);
        assert_eq!(RecordId::parse(&a.to_string()).expect("parse"), a);
        assert_eq!(a.short_reference().len(), 6);
        assert!(RecordId::parse("not-a-uuid").is_err());
    }
}
