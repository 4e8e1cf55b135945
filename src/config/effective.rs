//! The effective configuration as the dashboard's settings page shows it: every known setting,
//! its value (secrets masked) and where the value came from (a line of `phonetree.yaml`, an
//! environment variable, a flag, or the built-in default).
//!
//! Built once at load from the merged [`Layer`] (which keeps each value's origin) and the typed
//! [`Config`] (which holds the defaults of what no layer set). A secret's value never enters a
//! [`Setting`]: a set secret shows as `••••••••` (a PostgreSQL URL as its redacted form, password
//! masked). A key is secret when `layer::is_secret` says so or its name says so (`password`,
//! `token`, `secret`, `key`), so a section added later is masked without being listed here.

use serde::Serialize;

use super::layer::{self, Layer, Origin};
use super::Config;

/// What a set secret shows as.
pub const MASK: &str = "••••••••";

/// One setting as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The dotted key (`sip.listen`, `accounts.0.password`).
    pub key: String,
    /// The value (masked for a secret); `None`: not set and no default.
    pub value: Option<String>,
    /// `phonetree.yaml:12:3`, `env PHONETREE_SIP_LISTEN`, `flag --sip`, or `default`.
    pub origin: String,
    /// The `PHONETREE_*` variable that sets it (if it has one).
    pub env: Option<String>,
    pub secret: bool,
}

/// Whether a key's value is a secret.
pub fn is_secret(key: &str) -> bool {
    if layer::is_secret(key) {
        return true;
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    ["password", "token", "secret", "key"]
        .iter()
        .any(|w| last.contains(w))
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Yaml { path, pos } => format!("{}:{}:{}", path.display(), pos.line, pos.col),
        Origin::Env(name) => format!("env {name}"),
        Origin::Flag(flag) => format!("flag {flag}"),
    }
}

/// Every setting: those of the key tables (set or default), then the accounts' and the
/// seed aliases' special keys that were set.
pub fn settings(l: &Layer, cfg: &Config) -> Vec<Setting> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (key, suffix) in layer::scalars() {
        seen.insert(key.to_string());
        let env = Some(format!("PHONETREE_{suffix}"));
        out.push(one(l, cfg, key, env));
    }
    for key in l.keys() {
        if seen.insert(key.clone()) {
            let env = key
                .strip_prefix("accounts.0.")
                .map(|f| format!("PHONETREE_ACCOUNT_{}", f.to_ascii_uppercase()));
            out.push(one(l, cfg, key, env));
        }
    }
    out
}

fn one(l: &Layer, cfg: &Config, key: &str, env: Option<String>) -> Setting {
    let secret = is_secret(key);
    match l.get(key) {
        Some(raw) => {
            let value = if key == "database.url" {
                cfg.database.describe()
            } else if secret {
                MASK.to_string()
            } else {
                raw.text.clone()
            };
            Setting {
                key: key.to_string(),
                value: Some(value),
                origin: origin_text(&raw.origin),
                env,
                secret,
            }
        }
        None => Setting {
            key: key.to_string(),
            value: if secret { None } else { default_of(key, cfg) },
            origin: "default".into(),
            env,
            secret,
        },
    }
}

/// A duration as a setting is written: `500ms`, `30s`, `2m`, `12h`, `90d`.
fn secs(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else if s != 0 && s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The value a key has when nothing set it (read from the typed configuration, so it is the
/// value in force). `None` for keys this table does not know (a newer section).
fn default_of(key: &str, c: &Config) -> Option<String> {
    let s = match key {
        "sip.listen" => c.sip_listen.to_string(),
        "sip.advertise" => "worked out at start".into(),
        "sip.answer_delay" => secs(c.answer_delay),
        "http.listen" => c.http_listen.to_string(),
        "flows" => c.flows.display().to_string(),
        "sound" => "sound/ beside the flows folder".into(),
        "rtp.ports" => format!("{}-{}", c.rtp_ports.start(), c.rtp_ports.end()),
        "rtp.timeout" => secs(c.rtp_timeout),
        "rtp.workers" => "auto (one per core)".into(),
        "rtp.priority" => format!("{:?}", c.rtp_priority).to_ascii_lowercase(),
        "codecs" => c
            .codecs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        "themes" => "(the flow's order)".into(),
        "drain_timeout" => secs(c.drain_timeout),
        "registration.backoff_base" => secs(c.backoff_base),
        "registration.backoff_max" => secs(c.backoff_max),
        "sip.allow" => "the mode's default (docs/security.md)".into(),
        "sip.reject" | "rtp.latching" | "transfer.allow" => "built-in default".into(),
        "srtp" | "rtp.srtp" => c.srtp.to_string(),
        "log.level" => c.log.level.clone(),
        "log.format" => format!("{:?}", c.log.format).to_ascii_lowercase(),
        "log.redact_numbers" => c.log.redact_numbers.to_string(),
        "log.sip_trace" => c.log.sip_trace.to_string(),
        "data_dir" => c.database.data_dir.display().to_string(),
        "database.url" => c.database.describe(),
        "database.pool_size" => c.database.pool_size.to_string(),
        "database.retention" | "register.retention" => match c.database.retention {
            Some(d) => secs(d),
            None => "forever".into(),
        },
        "register.spill" => c.database.spill.to_string(),
        "register.enabled" => c.database.register_enabled.to_string(),
        "api.auth" => format!("{:?}", c.api.auth).to_ascii_lowercase(),
        "api.metrics_auth" => c.api.metrics_auth.to_string(),
        "api.session_ttl" => secs(c.api.session_ttl),
        "api.secure_cookies" => c.api.secure_cookies.to_string(),
        "node.id" => c.node_id.clone(),
        "sip.learn_public_address" => c.nat.learn_public_address.to_string(),
        "sip.keepalive_interval" => secs(c.nat.keepalive_interval),
        "sip.stun_server" => "none".into(),
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use crate::config::{load, Flags, Sources};

    use super::*;

    fn find<'a>(s: &'a [Setting], key: &str) -> &'a Setting {
        s.iter().find(|x| x.key == key).unwrap()
    }

    #[test]
    fn origins_are_the_file_line_the_variable_the_flag_or_the_default() {
        let yaml = "sip:\n  listen: 0.0.0.0:5070\naccounts:\n  - registrar: pbx.example.com\n    \
                    username: \"100\"\n    password: hunter2hunter2\n";
        let env: BTreeMap<String, String> = [
            ("PHONETREE_LOG_LEVEL", "debug"),
            ("PHONETREE_API_TOKENS", "a-configured-token-0123"),
            (
                "PHONETREE_DATABASE_URL",
                "postgres://pt:s3cret@127.0.0.1:5432/pt",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let src = Sources {
            file: Some((yaml.into(), PathBuf::from("phonetree.yaml"))),
            env,
            flags: Flags {
                http: Some("127.0.0.1:9999".into()),
                ..Flags::default()
            },
        };
        let cfg = load(&src).unwrap();
        let s = &cfg.settings;
        let listen = find(s, "sip.listen");
        assert_eq!(listen.value.as_deref(), Some("0.0.0.0:5070"));
        assert_eq!(listen.origin, "phonetree.yaml:2:11");
        assert_eq!(find(s, "log.level").origin, "env PHONETREE_LOG_LEVEL");
        assert_eq!(find(s, "http.listen").origin, "flag --http");
        let drain = find(s, "drain_timeout");
        assert_eq!(
            (drain.value.as_deref(), drain.origin.as_str()),
            (Some("30s"), "default")
        );
        let pw = find(s, "accounts.0.password");
        assert!(pw.secret);
        assert_eq!(pw.value.as_deref(), Some(MASK));
        assert_eq!(pw.env.as_deref(), Some("PHONETREE_ACCOUNT_PASSWORD"));
        assert_eq!(find(s, "api.tokens").value.as_deref(), Some(MASK));
        let url = find(s, "database.url").value.clone().unwrap();
        assert!(
            !url.contains("s3cret") && url.contains("127.0.0.1"),
            "{url}"
        );
        let all = format!("{s:?}");
        for secret in ["hunter2hunter2", "a-configured-token-0123", "s3cret"] {
            assert!(!all.contains(secret), "{secret} leaked");
        }
        assert_eq!(find(s, "api.admin_password").value, None);
    }

    #[test]
    fn names_that_sound_secret_are_masked() {
        for k in [
            "sms.auth_token",
            "openai.api_key",
            "x.client_secret",
            "accounts.1.password",
        ] {
            assert!(is_secret(k), "{k}");
        }
        assert!(!is_secret("sip.listen"));
    }
}
