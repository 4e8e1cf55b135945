//! SDES (RFC 4568): the `a=crypto` lines of an audio stream, the `srtp` policy, and which
//! stream shape each policy accepts.
//!
//! `a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<len>] [<session params>]`.
//! We take the first line (in the offerer's order) with a suite we have (`AES_CM_128_HMAC_SHA1_80`,
//! `AES_CM_128_HMAC_SHA1_32`), one key of exactly 30 bytes, no MKI and no session parameter
//! (`UNENCRYPTED_SRTP`, `KDR=`... would change the transform); every other line is skipped, never
//! an error. Our answer repeats the tag and suite with our own key.
//!
//! | policy     | `RTP/AVP` offer            | `RTP/AVP` + `a=crypto` | `RTP/SAVP` + `a=crypto` |
//! |------------|----------------------------|------------------------|-------------------------|
//! | `off`      | plain RTP                  | plain RTP (no crypto)  | declined                |
//! | `optional` | plain RTP                  | SRTP                   | SRTP                    |
//! | `required` | declined → 488             | SRTP                   | SRTP                    |
//!
//! (`RTP/AVP` with `a=crypto` is the "best effort" SRTP that baresip's `mediaenc=srtp` and many
//! PBXes send.) Our offers: `required` → `RTP/SAVP` with both suites, `optional` → `RTP/AVP` with
//! both suites (a peer without SRTP ignores them and answers plain), `off` → plain.
//!
//! Secrets: keys are [`MasterKey`]s (hidden from `Debug`), no error quotes a crypto line, and
//! [`redact_line`] is what logs and traces use for SDP text.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;

use super::MediaDescription;
use crate::media::srtp::{MasterKey, Suite, MASTER_LEN};

/// `srtp: off | optional | required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// Plain RTP only (`RTP/SAVP` streams are declined).
    #[default]
    Off,
    /// SRTP when the peer offers or accepts it, else plain RTP.
    Optional,
    /// SRTP only: a plain RTP offer or answer is refused (488).
    Required,
}

impl SrtpPolicy {
    pub fn parse(s: &str) -> Option<SrtpPolicy> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "off" | "no" | "false" | "disabled" => SrtpPolicy::Off,
            "optional" | "best_effort" | "best-effort" => SrtpPolicy::Optional,
            "required" | "mandatory" | "on" | "yes" | "true" => SrtpPolicy::Required,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Required => "required",
        }
    }
}

impl fmt::Display for SrtpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Our side of SDES: the policy and the master key we send with (one per call, from the CSPRNG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdes {
    pub policy: SrtpPolicy,
    pub key: MasterKey,
}

impl Default for Sdes {
    /// `off` (the key is never used).
    fn default() -> Self {
        Sdes {
            policy: SrtpPolicy::Off,
            key: MasterKey::new([0; MASTER_LEN]),
        }
    }
}

impl Sdes {
    /// `policy` with a fresh random key (`off` needs none and never fails).
    pub fn new(policy: SrtpPolicy) -> Result<Sdes, getrandom::Error> {
        if policy == SrtpPolicy::Off {
            return Ok(Sdes::default());
        }
        Ok(Sdes {
            policy,
            key: MasterKey::random()?,
        })
    }

    /// The `a=crypto` value (without `a=`) for `tag` and `suite` with our key.
    pub(super) fn attribute(&self, tag: u32, suite: Suite) -> String {
        let inline = base64::engine::general_purpose::STANDARD.encode(self.key.as_bytes());
        format!("crypto:{tag} {suite} inline:{inline}")
    }

    /// The lines of our offer: tag 1 = 80-bit tag suite, tag 2 = 32-bit.
    pub(super) fn offer_attributes(&self) -> Vec<(char, String)> {
        Suite::ALL
            .iter()
            .zip(1..)
            .map(|(&s, tag)| ('a', self.attribute(tag, s)))
            .collect()
    }
}

/// The SRTP of a negotiated stream: the suite, our key (what we send with) and the peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: Suite,
    pub local: MasterKey,
    pub remote: MasterKey,
}

/// One usable `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: Suite,
    pub key: MasterKey,
}

/// How the policy takes an audio stream's transport: `None` = declined, `Some(None)` = plain
/// RTP, `Some(Some(c))` = SRTP with the peer's line `c` (the table in the module docs).
pub(super) fn accept(m: &MediaDescription, policy: SrtpPolicy) -> Option<Option<Crypto>> {
    let savp = is_savp(m);
    if !savp && !m.is_plain_rtp() {
        return None;
    }
    match policy {
        SrtpPolicy::Off => (!savp).then_some(None),
        SrtpPolicy::Optional => match first_usable(m) {
            Some(c) => Some(Some(c)),
            None => (!savp).then_some(None),
        },
        SrtpPolicy::Required => first_usable(m).map(Some),
    }
}

/// `RTP/SAVP` or `RTP/SAVPF` (SDES; not the DTLS `UDP/TLS/RTP/SAVP` of WebRTC).
pub fn is_savp(m: &MediaDescription) -> bool {
    m.proto.eq_ignore_ascii_case("RTP/SAVP") || m.proto.eq_ignore_ascii_case("RTP/SAVPF")
}

/// The first usable `a=crypto` line of `m`, if any (see the module docs).
pub fn first_usable(m: &MediaDescription) -> Option<Crypto> {
    crypto_values(m).find_map(parse_crypto)
}

/// The `a=crypto` line of `m` (an answer to our offer) with a tag and suite we offered.
pub(super) fn answer_for(m: &MediaDescription) -> Option<Crypto> {
    crypto_values(m)
        .filter_map(parse_crypto)
        .find(|c| offered_suite(c.tag) == Some(c.suite))
}

/// The suite our offer gave `tag` (see [`Sdes::offer_attributes`]).
fn offered_suite(tag: u32) -> Option<Suite> {
    Suite::ALL
        .get(usize::try_from(tag).ok()?.checked_sub(1)?)
        .copied()
}

/// Whether `m` has any `a=crypto` line (usable or not).
pub fn has_crypto(m: &MediaDescription) -> bool {
    crypto_values(m).next().is_some()
}

fn crypto_values(m: &MediaDescription) -> impl Iterator<Item = &str> {
    m.extra
        .iter()
        .filter(|(t, _)| *t == 'a')
        .filter_map(|(_, v)| strip_prefix_ci(v, "crypto:"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `<tag> <suite> inline:<key>[|lifetime]` → a [`Crypto`], or `None` for anything we do not do.
fn parse_crypto(value: &str) -> Option<Crypto> {
    let mut parts = value.split_ascii_whitespace();
    let tag: u32 = parts.next()?.parse().ok()?;
    if tag > 999_999_999 {
        return None;
    }
    let suite = Suite::from_name(parts.next()?)?;
    let key_params = parts.next()?;
    if parts.next().is_some() {
        // A session parameter (UNENCRYPTED_SRTP, KDR=, FEC_ORDER...): not what we implement.
        return None;
    }
    // Several keys (`;`) mean MKIs: not supported.
    if key_params.contains(';') {
        return None;
    }
    let inline = strip_prefix_ci(key_params, "inline:")?;
    let mut fields = inline.split('|');
    let key = fields.next()?;
    for f in fields {
        // A lifetime (`2^31` or a number) is fine; an MKI (`1:4`) is not.
        if f.contains(':') {
            return None;
        }
    }
    if key.len() > 64 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(key))
        .ok()?;
    let bytes: [u8; MASTER_LEN] = bytes.try_into().ok()?;
    Some(Crypto {
        tag,
        suite,
        key: MasterKey::new(bytes),
    })
}

/// An SDP line with any `a=crypto` key replaced by `***` (for logs and traces).
pub fn redact_line(line: &str) -> Cow<'_, str> {
    let Some(value) = strip_prefix_ci(line, "a=crypto:") else {
        return Cow::Borrowed(line);
    };
    let mut parts = value.split_ascii_whitespace();
    let tag = parts.next().unwrap_or("");
    let suite = parts.next().unwrap_or("");
    Cow::Owned(format!("a=crypto:{tag} {suite} inline:***"))
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
