//! The `api` settings: who may use the JSON API, `/metrics` and the dashboard.
//!
//! | key | env | default |
//! |---|---|---|
//! | `api.tokens` | `PHONETREE_API_TOKENS` (comma-separated) | none (tokens can also be made with `phonetree token add`) |
//! | `api.auth` | `PHONETREE_API_AUTH` | `auto`: open only on a loopback listener while no token and no user exists; else a token or login is required. `required` / `off` force it |
//! | `api.metrics_auth` | `PHONETREE_API_METRICS_AUTH` | `false`: `/metrics` is open; `true` asks for a token like the API |
//! | `api.session_ttl` | `PHONETREE_API_SESSION_TTL` | `12h`: how long a dashboard login lasts |
//! | `api.secure_cookies` | `PHONETREE_API_SECURE_COOKIES` | `false`; session cookies are `Secure` anyway when the request came over HTTPS (`X-Forwarded-Proto: https`) |
//! | `api.admin_password` | `PHONETREE_ADMIN_PASSWORD` | none: the first admin's password is generated and printed once |
//!
//! Tokens are secrets: only their SHA-256 is kept once parsed, and no message echoes one.

use std::time::Duration;

use super::Builder;
use crate::sip::digest::Secret;

/// `(key, PHONETREE_ env suffix)` of every setting in this file.
pub const KEYS: &[(&str, &str)] = &[
    ("api.tokens", "API_TOKENS"),
    ("api.auth", "API_AUTH"),
    ("api.metrics_auth", "API_METRICS_AUTH"),
    ("api.session_ttl", "API_SESSION_TTL"),
    ("api.secure_cookies", "API_SECURE_COOKIES"),
    ("api.admin_password", "ADMIN_PASSWORD"),
];

/// Shortest token accepted in the configuration (a guessable token is worse than none).
pub const MIN_TOKEN_LEN: usize = 16;

/// When the API asks for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Open while the HTTP listener is on loopback and no token or user exists (the demo);
    /// required otherwise.
    Auto,
    Required,
    /// Never (trusted networks only; logged as a warning off loopback).
    Off,
}

/// The API settings.
#[derive(Clone, PartialEq)]
pub struct ApiConfig {
    /// SHA-256 (hex) of each configured token.
    pub token_hashes: Vec<String>,
    pub auth: AuthMode,
    pub metrics_auth: bool,
    pub session_ttl: Duration,
    pub secure_cookies: bool,
    pub admin_password: Option<Secret>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("tokens", &self.token_hashes.len())
            .field("auth", &self.auth)
            .field("metrics_auth", &self.metrics_auth)
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .field("admin_password", &self.admin_password.is_some())
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            token_hashes: Vec::new(),
            auth: AuthMode::Auto,
            metrics_auth: false,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            admin_password: None,
        }
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> ApiConfig {
    let d = ApiConfig::default();
    ApiConfig {
        token_hashes: b.parse("api.tokens", parse_tokens, Vec::new()),
        auth: b.parse("api.auth", parse_mode, d.auth),
        metrics_auth: b.parse("api.metrics_auth", parse_bool, d.metrics_auth),
        session_ttl: b.parse("api.session_ttl", parse_ttl, d.session_ttl),
        secure_cookies: b.parse("api.secure_cookies", parse_bool, d.secure_cookies),
        admin_password: b.parse_opt("api.admin_password", |s| {
            if s.chars().count() < 8 {
                Err("must be at least 8 characters".to_string())
            } else {
                Ok(Secret::new(s))
            }
        }),
    }
}

/// Keys holding secrets (never echoed).
pub fn is_secret(key: &str) -> bool {
    key == "api.tokens" || key == "api.admin_password"
}

fn parse_tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t.len() < MIN_TOKEN_LEN {
            // The message is replaced by "`api.tokens` is invalid" (a secret key), so say
            // nothing about the token here either way.
            return Err(String::new());
        }
        out.push(crate::db::sha256_hex(t.as_bytes()));
    }
    Ok(out)
}

fn parse_mode(s: &str) -> Result<AuthMode, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(AuthMode::Auto),
        "required" | "on" | "true" => Ok(AuthMode::Required),
        "off" | "none" | "false" => Ok(AuthMode::Off),
        _ => Err(format!("expected `auto`, `required` or `off`, got `{s}`")),
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got `{s}`")),
    }
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    match super::database::parse_retention(s)? {
        Some(d) => Ok(d),
        None => Err(format!("`{s}`: a session needs an end (e.g. 12h)")),
    }
}

/// Whether the layer holds a list for `key` (YAML sequences are joined with commas).
pub fn is_list(key: &str) -> bool {
    key == "api.tokens"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Sources};
    use std::path::PathBuf;

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_are_the_loopback_demo() {
        let c = load(&Sources::default()).unwrap().api;
        assert_eq!(c, ApiConfig::default());
        assert_eq!(c.auth, AuthMode::Auto);
        assert!(c.token_hashes.is_empty());
    }

    #[test]
    fn tokens_from_env_and_yaml_are_kept_only_as_hashes() {
        let c = load(&env(&[(
            "PHONETREE_API_TOKENS",
            "aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb",
        )]))
        .unwrap()
        .api;
        assert_eq!(c.token_hashes.len(), 2);
        assert_eq!(
            c.token_hashes[0],
            crate::db::sha256_hex(b"aaaaaaaaaaaaaaaaaaaa")
        );
        assert!(!format!("{c:?}").contains("aaaa"));
        let s = Sources {
            file: Some((
                "api:\n  tokens: [cccccccccccccccccccc]\n  auth: required\n  metrics_auth: true\n"
                    .into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&s).unwrap().api;
        assert_eq!(c.token_hashes.len(), 1);
        assert_eq!(c.auth, AuthMode::Required);
        assert!(c.metrics_auth);
    }

    #[test]
    fn a_short_token_is_refused_without_being_echoed() {
        let e = load(&env(&[("PHONETREE_API_TOKENS", "abc123")])).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("PHONETREE_API_TOKENS"), "{text}");
        assert!(!text.contains("abc123"), "{text}");
    }

    #[test]
    fn the_admin_password_comes_from_its_env_name() {
        let c = load(&env(&[("PHONETREE_ADMIN_PASSWORD", "correct horse")]))
            .unwrap()
            .api;
        assert!(c.admin_password.is_some());
        assert!(!format!("{c:?}").contains("horse"));
    }
}
