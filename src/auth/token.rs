//! API tokens and generated passwords. A token is `pt_` and 64 hex digits (256 random bits);
//! only its SHA-256 is stored, in the database or (for `api.tokens`) in memory.

use crate::db::{random_bytes, sha256_hex};

/// A new token (shown once, to whoever asked for it).
pub fn generate() -> String {
    let b = random_bytes::<32>();
    let mut s = String::with_capacity(67);
    s.push_str("pt_");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// What is stored for a token.
pub fn hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A random password for the first admin: 24 characters from an unambiguous alphabet
/// (about 138 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<24>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Constant-time comparison of two hex digests (for configured tokens).
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let t = generate();
        assert_eq!(t.len(), 67);
        assert!(t.starts_with("pt_"));
        assert_ne!(t, generate());
        assert_eq!(hash(&t).len(), 64);
        assert!(same_digest(&hash(&t), &hash(&t)));
        assert!(!same_digest(&hash(&t), &hash("x")));
        let p = random_password();
        assert_eq!(p.chars().count(), 24);
        assert_ne!(p, random_password());
    }
}
