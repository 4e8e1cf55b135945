//! Toll fraud through the API: which targets outbound calls may dial (`outbound.allow`).
//!
//! A leaked API token must not be able to call premium or international numbers, so nothing is
//! dialled unless a pattern allows it: glob patterns (`*` any run of characters, `?` one
//! character, ASCII case-insensitive, the same matcher as `transfer.allow`) over the number or
//! SIP URI **as given** in the request (`+49*`, `1???`, `sip:*@pbx.example.com`). The default
//! is an empty list, which refuses every target with an error that names the setting.
//! Pure; the patterns are compiled once when the configuration is built.

use std::fmt;

use regex::Regex;

use super::transfer::{glob, PatternError};

/// The compiled `outbound.allow` list.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allow: Vec<(String, Regex)>,
}

impl PartialEq for OutboundPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.patterns() == other.patterns()
    }
}

/// Why a target may not be dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `outbound.allow` is empty: outbound calls are off.
    NoAllowList,
    /// No pattern matches.
    NotAllowed,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NoAllowList => f.write_str(
                "outbound calls are disabled: set outbound.allow (PHONETREE_OUTBOUND_ALLOW) to the \
                 numbers or URIs that may be dialled, e.g. \"+4930*\"",
            ),
            Refused::NotAllowed => f.write_str("the target matches no outbound.allow pattern"),
        }
    }
}

impl std::error::Error for Refused {}

impl OutboundPolicy {
    /// Compiles the patterns (an empty list refuses everything).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<OutboundPolicy, PatternError> {
        let mut allow = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            allow.push((p.to_string(), glob(p)?));
        }
        Ok(OutboundPolicy { allow })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> Vec<&str> {
        self.allow.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// Whether `target` (as given in the request) may be dialled.
    pub fn check(&self, target: &str) -> Result<(), Refused> {
        if self.allow.is_empty() {
            return Err(Refused::NoAllowList);
        }
        if self.allow.iter().any(|(_, re)| re.is_match(target)) {
            Ok(())
        } else {
            Err(Refused::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples() {
        let p = OutboundPolicy::new(&["+49*", "1???", "sip:*@pbx.example.com"]).expect("ok");
        for ok in [
            "+4930123456",
            "1001",
            "sip:oncall@pbx.example.com",
            "SIP:A@PBX.EXAMPLE.COM",
        ] {
            assert_eq!(p.check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "+1900555",
            "10011",
            "100",
            "sip:a@evil.example.com",
            "sip:a@pbx.example.com.evil",
        ] {
            assert_eq!(p.check(bad), Err(Refused::NotAllowed), "{bad}");
        }
    }

    #[test]
    fn empty_refuses_with_a_message_naming_the_setting() {
        let p = OutboundPolicy::default();
        let e = p.check("+4930123").expect_err("refused");
        assert_eq!(e, Refused::NoAllowList);
        assert!(e.to_string().contains("outbound.allow"));
        assert!(e.to_string().contains("PHONETREE_OUTBOUND_ALLOW"));
    }

    #[test]
    fn a_bad_pattern_is_an_error() {
        assert!(OutboundPolicy::new(&[""]).is_err());
    }
}
