//! Password hashing with argon2id (the `argon2` crate's defaults: m = 19 MiB, t = 2, p = 1,
//! the OWASP baseline), stored as PHC strings. Hashing and verifying take tens of
//! milliseconds of CPU, so the server runs them on the blocking pool.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// Shortest password accepted for a user.
pub const MIN_LEN: usize = 8;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    TooShort,
    Hash(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::TooShort => {
                write!(f, "the password must be at least {MIN_LEN} characters")
            }
            PasswordError::Hash(e) => write!(f, "cannot hash the password: {e}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string (a malformed hash never matches).
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// [`hash`] on the blocking pool.
pub async fn hash_blocking(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// [`verify`] on the blocking pool.
pub async fn verify_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A fixed valid hash to verify against when the user does not exist, so a login for an
/// unknown name costs the same time as one for a known name.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password, never matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse", &a));
        assert!(!verify("correct hors", &a));
        assert!(!verify("correct horse", "not a hash"));
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert!(!verify("x", decoy()));
    }
}
