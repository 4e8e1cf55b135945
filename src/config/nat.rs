//! NAT settings (docs/config.md "NAT", docs/nat.md): learning our public address from the
//! registrar's `received`/`rport`, keep-alives, an optional STUN server.
//!
//! | key                        | environment                                               | default |
//! |----------------------------|-----------------------------------------------------------|---------|
//! | `sip.learn_public_address` | `PHONETREE_SIP_LEARN_PUBLIC_ADDRESS`                      | `true`  |
//! | `sip.keepalive_interval`   | `PHONETREE_SIP_KEEPALIVE_INTERVAL`                        | `25s`   |
//! | `sip.stun_server`          | `PHONETREE_SIP_STUN_SERVER`, alias `SIP_STUN_SERVER`      | none    |
//!
//! `sip.keepalive_interval: 0` turns keep-alives off. `sip.stun_server` is `host[:port]`
//! (port 3478 when left out).

use std::time::Duration;

use super::Builder;

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("sip.learn_public_address", "SIP_LEARN_PUBLIC_ADDRESS"),
    ("sip.keepalive_interval", "SIP_KEEPALIVE_INTERVAL"),
    ("sip.stun_server", "SIP_STUN_SERVER"),
];

/// The default STUN port (RFC 5389 §9).
pub const STUN_PORT: u16 = 3478;

/// What the NAT settings say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatConfig {
    /// Follow the `received`/`rport` of the registrar's answers (Contact, Via).
    pub learn_public_address: bool,
    /// Keep-alive interval towards each registrar while registered; zero = off.
    pub keepalive_interval: Duration,
    /// `(host, port)` of a STUN server asked for our public address at start.
    pub stun_server: Option<(String, u16)>,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            learn_public_address: true,
            keepalive_interval: Duration::from_secs(25),
            stun_server: None,
        }
    }
}

/// `host`, `host:port`, `[v6]:port`, `v6` → (host without brackets, port).
fn parse_server(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let bad = || format!("expected `host` or `host:port`, got `{s}`");
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains('/') {
        return Err(bad());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if tail.is_empty() => STUN_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    if s.matches(':').count() > 1 {
        return Ok((s.to_string(), STUN_PORT)); // a bare IPv6 address
    }
    match s.split_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port: u16 = port.parse().map_err(|_| bad())?;
            if port == 0 {
                return Err(bad());
            }
            Ok((host.to_string(), port))
        }
        Some(_) => Err(bad()),
        None => Ok((s.to_string(), STUN_PORT)),
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> NatConfig {
    let d = NatConfig::default();
    NatConfig {
        learn_public_address: b.parse(
            "sip.learn_public_address",
            super::api::parse_bool,
            d.learn_public_address,
        ),
        keepalive_interval: b.parse(
            "sip.keepalive_interval",
            super::outbound::secs_or_dur,
            d.keepalive_interval,
        ),
        stun_server: b.parse_opt("sip.stun_server", parse_server),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::{load, Sources};

    use crate::config::test_sources::env;

    #[test]
    fn defaults_yaml_env_and_the_seed_alias() {
        assert_eq!(load(&Sources::default()).unwrap().nat, NatConfig::default());
        let yaml = Sources {
            file: Some((
                "sip:\n  keepalive_interval: 0\n  learn_public_address: false\n  stun_server: stun.example.org\n"
                    .into(),
                PathBuf::from("p.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&yaml).unwrap().nat;
        assert_eq!(c.keepalive_interval, Duration::ZERO);
        assert!(!c.learn_public_address);
        assert_eq!(c.stun_server, Some(("stun.example.org".into(), 3478)));
        let c = load(&env(&[("SIP_STUN_SERVER", "192.0.2.1:19302")]))
            .unwrap()
            .nat;
        assert_eq!(c.stun_server, Some(("192.0.2.1".into(), 19302)));
        let c = load(&env(&[
            ("SIP_STUN_SERVER", "192.0.2.1:19302"),
            ("PHONETREE_SIP_STUN_SERVER", "[2001:db8::1]:3479"),
            ("PHONETREE_SIP_KEEPALIVE_INTERVAL", "90s"),
        ]))
        .unwrap()
        .nat;
        assert_eq!(c.stun_server, Some(("2001:db8::1".into(), 3479)));
        assert_eq!(c.keepalive_interval, Duration::from_secs(90));
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        for (k, v) in [
            ("PHONETREE_SIP_STUN_SERVER", "stun.example.org:notaport"),
            ("PHONETREE_SIP_STUN_SERVER", ":3478"),
            ("PHONETREE_SIP_KEEPALIVE_INTERVAL", "often"),
            ("PHONETREE_SIP_LEARN_PUBLIC_ADDRESS", "maybe"),
        ] {
            let err = load(&env(&[(k, v)])).unwrap_err();
            assert!(
                err.problems.iter().any(|p| p.key.starts_with("sip.")),
                "{k}={v}: {err:?}"
            );
        }
    }
}
