//! The `twilio:` section: calls arriving as Twilio Media Streams (docs/twilio.md).
//!
//! | key                 | environment (alias)                                  | default |
//! |---------------------|------------------------------------------------------|---------|
//! | `twilio.public_host`| `PHONETREE_TWILIO_PUBLIC_HOST`                       | the request's `Host` |
//! | `twilio.account_sid`| `PHONETREE_TWILIO_ACCOUNT_SID` (`TWILIO_ACCOUNT_SID`) | the stream's `accountSid` |
//! | `twilio.auth_token` | `PHONETREE_TWILIO_AUTH_TOKEN` (`TWILIO_AUTH_TOKEN`)   | none: no signature check, no REST |
//! | `twilio.api_base`   | `PHONETREE_TWILIO_API_BASE`                          | `https://api.twilio.com` |
//! | `twilio.allow`      | `PHONETREE_TWILIO_ALLOW`                             | loopback only (without a token) |
//! | `twilio.max_calls`  | `PHONETREE_TWILIO_MAX_CALLS`                         | 1000 |
//!
//! With an auth token, the webhook and the websocket upgrade must carry a valid
//! `X-Twilio-Signature`, and `transfer`/`hangup` use Twilio's REST API. Without one, only
//! loopback and the `twilio.allow` networks may connect (a reverse proxy on the same host, a
//! test). The token is an [`AuthToken`] from parsing on: redacted `Debug`, no `Display`.

use std::fmt;

use ipnet::IpNet;

use super::{nonempty, Builder};

pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("twilio.public_host", "TWILIO_PUBLIC_HOST"),
    ("twilio.account_sid", "TWILIO_ACCOUNT_SID"),
    ("twilio.auth_token", "TWILIO_AUTH_TOKEN"),
    ("twilio.api_base", "TWILIO_API_BASE"),
    ("twilio.allow", "TWILIO_ALLOW"),
    ("twilio.max_calls", "TWILIO_MAX_CALLS"),
];

/// The seed's variable names: (alias, key).
pub const ALIASES: &[(&str, &str)] = &[
    ("TWILIO_ACCOUNT_SID", "twilio.account_sid"),
    ("TWILIO_AUTH_TOKEN", "twilio.auth_token"),
];

/// Keys whose YAML value may be a list.
pub(super) fn is_list(key: &str) -> bool {
    key == "twilio.allow"
}

/// The `twilio:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioConfig {
    /// `host[:port]` Twilio reaches us at (TwiML stream URL, signature checks).
    pub public_host: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<AuthToken>,
    /// Twilio's REST API root, no trailing `/` (a stand-in's in tests).
    pub api_base: String,
    /// Who may connect without a signature (beside loopback) when there is no token.
    pub allow: Vec<IpNet>,
    /// Twilio calls at once; more get 503.
    pub max_calls: usize,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            public_host: None,
            account_sid: None,
            auth_token: None,
            api_base: DEFAULT_API_BASE.into(),
            allow: Vec::new(),
            max_calls: 1000,
        }
    }
}

/// Twilio's auth token. `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(token: impl Into<String>) -> AuthToken {
        AuthToken(token.into())
    }

    /// The key of `X-Twilio-Signature`'s HMAC and the password of REST calls. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// Reads the section (problems are collected by `b`).
pub(super) fn build(b: &mut Builder<'_>) -> TwilioConfig {
    let d = TwilioConfig::default();
    TwilioConfig {
        public_host: b.parse_opt("twilio.public_host", parse_host),
        account_sid: b.parse_opt("twilio.account_sid", nonempty),
        auth_token: b.parse_opt("twilio.auth_token", |s| nonempty(s).map(AuthToken::new)),
        api_base: b.parse("twilio.api_base", parse_base, d.api_base),
        allow: b.parse("twilio.allow", parse_allow, d.allow),
        max_calls: b.parse(
            "twilio.max_calls",
            |s| match s.parse::<usize>() {
                Ok(n) if n > 0 && n <= 100_000 => Ok(n),
                _ => Err(format!("expected a number from 1 to 100000, got `{s}`")),
            },
            d.max_calls,
        ),
    }
}

/// `ivr.example.com` or `ivr.example.com:8443` (a scheme or path is refused).
fn parse_host(s: &str) -> Result<String, String> {
    let host = s.trim().trim_end_matches('/');
    if host.is_empty() || host.contains("://") || host.contains(['/', ' ', '?', '#', '@']) {
        return Err(format!(
            "`{s}` is not a host name (write it without a scheme or path: ivr.example.com)"
        ));
    }
    Ok(host.to_string())
}

fn parse_base(s: &str) -> Result<String, String> {
    let base = s.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!("`{s}` is not an http(s) URL"));
    }
    Ok(base.to_string())
}

fn parse_allow(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| {
                    x.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .map(IpNet::from)
                })
                .map_err(|_| format!("`{x}` is not an IP or a CIDR block (10.0.0.0/8)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{load, Sources};
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn yaml(text: &str) -> Sources {
        Sources {
            file: Some((text.to_string(), PathBuf::from("phonetree.yaml"))),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_check_nothing_and_allow_loopback_only() {
        let c = load(&Sources::default()).unwrap().twilio;
        assert_eq!(c, TwilioConfig::default());
        assert_eq!(c.api_base, "https://api.twilio.com");
    }

    #[test]
    fn yaml_and_env_with_the_seed_names_set_the_same_values() {
        let c = load(&yaml(
            "twilio:\n  public_host: ivr.example.com\n  account_sid: AC1\n  auth_token: tok\n  \
             api_base: http://127.0.0.1:9/\n  allow: [10.0.0.0/8, 192.0.2.7]\n  max_calls: 50\n",
        ))
        .unwrap()
        .twilio;
        assert_eq!(c.public_host.as_deref(), Some("ivr.example.com"));
        assert_eq!(c.account_sid.as_deref(), Some("AC1"));
        assert_eq!(c.auth_token, Some(AuthToken::new("tok")));
        assert_eq!(c.api_base, "http://127.0.0.1:9");
        assert_eq!(c.allow.len(), 2);
        assert_eq!(c.max_calls, 50);
        let env: BTreeMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("PHONETREE_TWILIO_PUBLIC_HOST", "ivr.example.com"),
            ("PHONETREE_TWILIO_API_BASE", "http://127.0.0.1:9/"),
            ("PHONETREE_TWILIO_ALLOW", "10.0.0.0/8, 192.0.2.7"),
            ("PHONETREE_TWILIO_MAX_CALLS", "50"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let from_env = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap()
        .twilio;
        assert_eq!(from_env, c);
    }

    #[test]
    fn bad_values_are_reported_and_the_token_never_shown() {
        let err = load(&yaml(
            "twilio: { public_host: 'https://x/y', allow: [nope], max_calls: 0, api_base: ftp://x }\n",
        ))
        .unwrap_err();
        let text = err.to_string();
        for key in ["public_host", "allow", "max_calls", "api_base"] {
            assert!(text.contains(key), "{key}: {text}");
        }
        let c = load(&yaml("twilio: { auth_token: sekrit }\n")).unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
