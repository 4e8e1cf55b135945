//! HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): parsing a
//! `WWW-Authenticate`/`Proxy-Authenticate` challenge and computing the `Authorization`.
//!
//! Owns MD5 and SHA-256 (and their `-sess` forms), `qop=auth` with a properly counted 8-hex-digit
//! `nc` per nonce, the caller-supplied cnonce, echoing `opaque`, reading `stale`. Owns
//! [`Secret`], the redacting wrapper for passwords: it has no `Display`, its `Debug` prints
//! `<redacted>`, and no error here ever contains it. Does not own when to authenticate
//! (see `register`).

use std::fmt;

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A password. `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for hashing or checking a password only (never for logs).
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The secret itself, for hashing only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Digest hash algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                use sha2::Digest as _;
                hex(&Sha256::digest(data.as_bytes()))
            }
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a challenge cannot be answered. Never contains credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    NotDigest,
    MissingParam(&'static str),
    UnsupportedAlgorithm(String),
    /// Only `auth-int` (or another qop we do not do) was offered.
    UnsupportedQop(String),
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::NotDigest => f.write_str("challenge is not Digest"),
            DigestError::MissingParam(p) => write!(f, "challenge lacks {p}"),
            DigestError::UnsupportedAlgorithm(a) => write!(f, "unsupported digest algorithm {a}"),
            DigestError::UnsupportedQop(q) => write!(f, "unsupported qop {q}"),
        }
    }
}

impl std::error::Error for DigestError {}

/// A parsed Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// Whether `qop=auth` is offered (used when offered; otherwise RFC 2069 compatibility).
    pub qop_auth: bool,
    pub stale: bool,
}

impl Challenge {
    /// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let params = auth_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
        };
        let qop_auth = match get("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return Err(DigestError::UnsupportedQop(q));
                }
            }
        };
        Ok(Challenge {
            realm: get("realm").ok_or(DigestError::MissingParam("realm"))?,
            nonce: get("nonce").ok_or(DigestError::MissingParam("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// Splits `k=v, k="v, with comma"` into pairs (quotes removed, `\"` unescaped).
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.trim().is_empty() && chars.peek().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                val.push(n);
                            }
                        }
                        '"' => break,
                        _ => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        if !key.trim().is_empty() {
            out.push((key.trim().to_string(), val.trim().to_string()));
        }
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// Username and password for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// Answers one challenge, counting `nc` per nonce.
#[derive(Debug, Clone)]
pub struct DigestSession {
    pub challenge: Challenge,
    nc: u32,
}

impl DigestSession {
    pub fn new(challenge: Challenge) -> DigestSession {
        DigestSession { challenge, nc: 0 }
    }

    /// The nonce count the next `authorize` will use.
    pub fn next_nc(&self) -> u32 {
        self.nc + 1
    }

    /// The `Authorization`/`Proxy-Authorization` value for `method uri`, with a fresh nc.
    pub fn authorize(
        &mut self,
        creds: &Credentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        self.nc = self.nc.wrapping_add(1);
        let c = &self.challenge;
        let nc = format!("{:08x}", self.nc);
        let qop = c.qop_auth.then_some("auth");
        let response = compute_response(
            c.algorithm,
            &creds.username,
            &c.realm,
            &creds.password,
            method,
            uri,
            &c.nonce,
            &nc,
            cnonce,
            qop,
        );
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            quote(&creds.username),
            quote(&c.realm),
            quote(&c.nonce),
            c.algorithm.as_str()
        );
        if qop.is_some() {
            v.push_str(&format!(
                ", cnonce=\"{}\", qop=auth, nc={nc}",
                quote(cnonce)
            ));
        }
        if let Some(o) = &c.opaque {
            v.push_str(&format!(", opaque=\"{}\"", quote(o)));
        }
        v
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The digest `response` value (RFC 7616 §3.4.1; RFC 2069 form when `qop` is `None`).
#[allow(clippy::too_many_arguments)]
pub fn compute_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &Secret,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: Option<&str>,
) -> String {
    let mut ha1 = alg.hash(&format!("{username}:{realm}:{}", password.expose()));
    if alg.is_sess() {
        ha1 = alg.hash(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    match qop {
        Some(q) => alg.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{q}:{ha2}")),
        None => alg.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mufasa(pw: &str) -> Credentials {
        Credentials {
            username: "Mufasa".into(),
            password: Secret::new(pw),
        }
    }

    #[test]
    fn rfc7616_3_9_1_md5_and_sha256_vectors() {
        let challenge = |alg: &str| {
            format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            )
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let mut md5 = DigestSession::new(Challenge::parse(&challenge("MD5")).expect("parses"));
        let h = md5.authorize(&mufasa("Circle of Life"), "GET", "/dir/index.html", cnonce);
        assert!(
            h.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""),
            "{h}"
        );
        assert!(h.contains("nc=00000001") && h.contains("qop=auth"));
        assert!(h.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        let mut sha = DigestSession::new(Challenge::parse(&challenge("SHA-256")).expect("parses"));
        let h = sha.authorize(&mufasa("Circle of Life"), "GET", "/dir/index.html", cnonce);
        assert!(
            h.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{h}"
        );
        assert!(h.contains("algorithm=SHA-256"));
    }

    #[test]
    fn rfc2617_3_5_vector() {
        let r = compute_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            &Secret::new("Circle Of Life"),
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "00000001",
            "0a4f113b",
            Some("auth"),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn nc_counts_as_eight_hex_digits_per_nonce() {
        let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"").expect("parses");
        let mut s = DigestSession::new(c);
        let creds = mufasa("pw");
        for _ in 0..9 {
            s.authorize(&creds, "REGISTER", "sip:r", "c");
        }
        let tenth = s.authorize(&creds, "REGISTER", "sip:r", "c");
        assert!(tenth.contains("nc=0000000a"), "{tenth}");
        assert_eq!(s.next_nc(), 11);
    }

    #[test]
    fn asterisk_and_kamailio_challenges_parse() {
        let a = Challenge::parse("Digest realm=\"asterisk\",nonce=\"1732150000/8d1f\",opaque=\"5b8f\",algorithm=MD5,qop=\"auth\"").expect("asterisk");
        assert_eq!(
            (a.realm.as_str(), a.nonce.as_str(), a.opaque.as_deref()),
            ("asterisk", "1732150000/8d1f", Some("5b8f"))
        );
        assert!(a.qop_auth && !a.stale);
        let k = Challenge::parse(
            "Digest realm=\"127.0.0.1\", nonce=\"Z0+abc\", qop=\"auth\", stale=true",
        )
        .expect("kamailio");
        assert!(k.stale);
        assert_eq!(k.algorithm, Algorithm::Md5);
        let no_qop = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").expect("2069");
        assert!(!no_qop.qop_auth);
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(DigestError::UnsupportedQop(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\""),
            Err(DigestError::MissingParam("nonce"))
        ));
        // Garbage never panics.
        for s in [
            "Digest",
            "Digest ,,,",
            "Digest a=\"",
            "Digest =",
            "Digest a=\"\\",
        ] {
            let _ = Challenge::parse(s);
        }
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let creds = mufasa("hunter2-very-secret");
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }
}
