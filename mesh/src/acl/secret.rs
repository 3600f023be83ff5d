//! How a token's SecretID is kept: never as itself, only as a keyed hash.
//!
//! The key is random, made once per cluster (at ACL bootstrap) and kept in
//! the replicated state; every secret is stored as HMAC-SHA256 under it,
//! in hex. A Raft log entry, a snapshot or a backup then holds the key and
//! the hashes, from which no secret can be recovered (secrets are random
//! UUIDs, and a user-chosen one is still only ever seen hashed), while a
//! lookup by secret is one hash and one index read.

use ring::hmac;

/// A new hashing key: 32 random bytes, in hex.
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The stored form of `secret` under the cluster's `key` (hex, as
/// [`new_key`] makes it; any other text is used as bytes, so a hash is
/// always defined).
pub fn hash(key: &str, secret: &str) -> String {
    let key_bytes = unhex(key).unwrap_or_else(|| key.as_bytes().to_vec());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    hex(hmac::sign(&key, secret.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_and_secret_and_hide_the_secret() {
        let (a, b) = (new_key(), new_key());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let secret = "6a1253d2-1785-24fd-91c2-f8e78c745511";
        assert_eq!(hash(&a, secret), hash(&a, secret));
        assert_ne!(hash(&a, secret), hash(&b, secret));
        assert_ne!(hash(&a, secret), hash(&a, "other"));
        assert!(!hash(&a, secret).contains(secret));
    }

    #[test]
    fn matches_the_rfc_4231_vector() {
        // Test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = hex(b"Jefe");
        assert_eq!(
            hash(&key, "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
