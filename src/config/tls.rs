//! SIP over TLS: the `sip.tls.*` settings (docs/config.md "SIP over TLS", docs/security.md
//! "Encryption").
//!
//! | key | environment | default |
//! |---|---|---|
//! | `sip.tls.enabled` | `PHONETREE_SIP_TLS_ENABLED` | on when any other `sip.tls.*` listener setting is set or an account uses TLS |
//! | `sip.tls.port` | `PHONETREE_SIP_TLS_PORT` | `5061` (same IP as `sip.listen`; `0`: any free port) |
//! | `sip.tls.cert` | `PHONETREE_SIP_TLS_CERT`, `PHONETREE_TLS_CERT` | none: a self-signed certificate made at start |
//! | `sip.tls.key` | `PHONETREE_SIP_TLS_KEY`, `PHONETREE_TLS_KEY` | none (required with `cert`) |
//! | `sip.tls.verify` | `PHONETREE_SIP_TLS_VERIFY`, `PHONETREE_TLS_VERIFY` | `true`: connections we open check the peer's certificate |
//! | `sip.tls.ca` | `PHONETREE_SIP_TLS_CA`, `PHONETREE_TLS_CA` | none: the platform's roots (as for `wss://`) |
//!
//! The files are read when `phonetree run` starts (`engine::sip_transport_tls`), not here.
//! Accounts: `transport: tls`, or a registrar written `sips:pbx.example.com` or
//! `pbx.example.com;transport=tls`, registers over TLS (port 5061 unless given).

use std::path::PathBuf;

use crate::sip::Transport;

use super::Builder;

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("sip.tls.enabled", "SIP_TLS_ENABLED"),
    ("sip.tls.port", "SIP_TLS_PORT"),
    ("sip.tls.cert", "SIP_TLS_CERT"),
    ("sip.tls.key", "SIP_TLS_KEY"),
    ("sip.tls.verify", "SIP_TLS_VERIFY"),
    ("sip.tls.ca", "SIP_TLS_CA"),
];

/// Shorter environment names: (variable, key). The `PHONETREE_SIP_TLS_*` names win.
pub const ALIASES: &[(&str, &str)] = &[
    ("PHONETREE_TLS_CERT", "sip.tls.cert"),
    ("PHONETREE_TLS_KEY", "sip.tls.key"),
    ("PHONETREE_TLS_VERIFY", "sip.tls.verify"),
    ("PHONETREE_TLS_CA", "sip.tls.ca"),
];

/// The port TLS listens on by default (RFC 3261 §26.2.2).
pub const DEFAULT_PORT: u16 = 5061;

/// Where the listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// PEM files: the chain (leaf first) and its private key.
    Files { cert: PathBuf, key: PathBuf },
    /// Made at start for the demo (logged as self-signed; peers must not verify it).
    SelfSigned,
}

/// The `sip.tls.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Listen for SIP over TLS (`sip.tls.enabled`).
    pub listen: bool,
    /// `sip.tls.port` (on the IP of `sip.listen`).
    pub port: u16,
    pub identity: Identity,
    /// Check the certificate of servers we connect to (`false`: any certificate, warned).
    pub verify: bool,
    /// Trust these roots (PEM) instead of the platform's.
    pub ca: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: false,
            port: DEFAULT_PORT,
            identity: Identity::SelfSigned,
            verify: true,
            ca: None,
        }
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .map_err(|_| format!("`{s}` is not a port number (0-65535)"))
}

fn path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(PathBuf::from(s))
    }
}

/// The settings; `accounts_use_tls`: whether an account registers over TLS (which turns the
/// listener on unless `sip.tls.enabled` says otherwise: the registrar sends calls to our
/// `;transport=tls` Contact).
pub(super) fn build(b: &mut Builder<'_>, accounts_use_tls: bool) -> TlsConfig {
    let d = TlsConfig::default();
    let port = b.parse_opt("sip.tls.port", parse_port);
    let cert = b.parse_opt("sip.tls.cert", path);
    let key = b.parse_opt("sip.tls.key", path);
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => Identity::Files { cert, key },
        (None, None) => Identity::SelfSigned,
        (cert, _) => {
            let (given, missing) = if cert.is_some() {
                ("sip.tls.cert", "sip.tls.key")
            } else {
                ("sip.tls.key", "sip.tls.cert")
            };
            if let Some(raw) = b.get(given) {
                b.problem(raw, given, &format!("`{given}` needs `{missing}` as well"));
            }
            Identity::SelfSigned
        }
    };
    let implied = port.is_some() || identity != Identity::SelfSigned || accounts_use_tls;
    let listen = b
        .parse_opt("sip.tls.enabled", super::api::parse_bool)
        .unwrap_or(implied);
    TlsConfig {
        listen,
        port: port.unwrap_or(d.port),
        identity,
        verify: b
            .parse_opt("sip.tls.verify", super::api::parse_bool)
            .unwrap_or(d.verify),
        ca: b.parse_opt("sip.tls.ca", path),
    }
}

/// `sips:host`, `sip:host`, `host;transport=tls` → (`host`, the transport the text asks for).
/// The host part is then parsed by `config::parse_hostport`.
pub(super) fn registrar_uri(s: &str) -> (&str, Option<Transport>) {
    let s = s.trim();
    let asked = Transport::of_uri(s);
    let lower = s.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("sips:") {
        &s[5..]
    } else if lower.starts_with("sip:") {
        &s[4..]
    } else {
        s
    };
    (rest.split(';').next().unwrap_or(rest), asked)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{registrar_uri, Identity, TlsConfig};
    use crate::config::{load, Sources};
    use crate::sip::Transport;

    use crate::config::test_sources::{env, yaml};

    #[test]
    fn off_by_default_and_on_with_yaml_settings() {
        assert_eq!(load(&Sources::default()).unwrap().tls, TlsConfig::default());
        assert!(!TlsConfig::default().listen);
        let c = load(&yaml(
            "sip:\n  tls:\n    port: 5071\n    cert: /etc/pt/cert.pem\n    key: /etc/pt/key.pem\n    verify: false\n    ca: /etc/pt/ca.pem\n",
        ))
        .unwrap()
        .tls;
        assert!(c.listen);
        assert_eq!(c.port, 5071);
        assert_eq!(
            c.identity,
            Identity::Files {
                cert: "/etc/pt/cert.pem".into(),
                key: "/etc/pt/key.pem".into()
            }
        );
        assert!(!c.verify);
        assert_eq!(c.ca, Some(PathBuf::from("/etc/pt/ca.pem")));
        // Enabled alone: the default port and a self-signed certificate.
        let c = load(&yaml("sip:\n  tls:\n    enabled: true\n"))
            .unwrap()
            .tls;
        assert!(c.listen);
        assert_eq!((c.port, c.identity), (5061, Identity::SelfSigned));
        // Explicitly off wins over implied.
        let c = load(&yaml("sip:\n  tls:\n    enabled: false\n    port: 5071\n"))
            .unwrap()
            .tls;
        assert!(!c.listen);
    }

    #[test]
    fn env_names_and_aliases() {
        let c = load(&env(&[
            ("PHONETREE_TLS_CERT", "/a.pem"),
            ("PHONETREE_TLS_KEY", "/k.pem"),
            ("PHONETREE_SIP_TLS_KEY", "/k2.pem"),
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_TLS_VERIFY", "no"),
        ]))
        .unwrap()
        .tls;
        assert!(c.listen);
        assert_eq!(c.port, 0);
        assert!(!c.verify);
        // The long name wins over the alias.
        assert_eq!(
            c.identity,
            Identity::Files {
                cert: "/a.pem".into(),
                key: "/k2.pem".into()
            }
        );
    }

    #[test]
    fn bad_values_are_collected() {
        let e = load(&yaml(
            "sip:\n  tls:\n    port: 70000\n    cert: /a.pem\n    verify: perhaps\n",
        ))
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("not a port number"), "{text}");
        assert!(
            text.contains("`sip.tls.cert` needs `sip.tls.key`"),
            "{text}"
        );
        assert!(text.contains("expected true or false"), "{text}");
        let e = load(&yaml("sip:\n  tls:\n    colour: blue\n")).unwrap_err();
        assert!(e.to_string().contains("sip.tls.colour"), "{e}");
    }

    #[test]
    fn registrar_uris_pick_the_transport() {
        assert_eq!(
            registrar_uri("sips:pbx.example.com"),
            ("pbx.example.com", Some(Transport::Tls))
        );
        assert_eq!(
            registrar_uri("pbx.example.com:5071;transport=TLS"),
            ("pbx.example.com:5071", Some(Transport::Tls))
        );
        assert_eq!(registrar_uri("sip:10.0.0.1"), ("10.0.0.1", None));
        let c = load(&yaml(
            "accounts:\n  - registrar: sips:pbx.example.com\n    username: a\n    password: p\n",
        ))
        .unwrap();
        assert_eq!(c.accounts[0].transport, Transport::Tls);
        assert_eq!(c.accounts[0].registrar.host, "pbx.example.com");
        // An account over TLS turns the listener on (calls come to our TLS Contact).
        assert!(c.tls.listen);
        // An explicit transport wins over the URI.
        let c = load(&yaml(
            "accounts:\n  - registrar: sips:pbx.example.com\n    username: a\n    password: p\n    transport: tcp\n",
        ))
        .unwrap();
        assert_eq!(c.accounts[0].transport, Transport::Tcp);
        assert!(!c.tls.listen);
    }
}
