//! Random names and secrets the server makes for itself (its peer id, an
//! instance's id, the secret instances share), in one place below every
//! module that needs one: `rand`'s thread generator (seeded by the
//! operating system), as hex.

use rand::RngCore;

/// `n` random bytes, as 2·`n` hex digits.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
