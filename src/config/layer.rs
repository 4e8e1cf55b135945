//! The raw layers of the configuration: `phonetree.yaml`, environment variables (with the seed
//! projects' aliases) and command-line flags, each flattened to `key → text` with where the text
//! came from. Nothing is interpreted here; `config::build` turns the merged layer into typed
//! values (ripgrep's low-level/high-level split).
//!
//! Keys are dotted paths: `sip.listen`, `rtp.ports`, `accounts.0.password`. Lists (codecs,
//! themes) are kept as comma-separated text so that every layer has the same shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::flow::diag::{Diagnostic, Pos};
use crate::flow::source;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Yaml { path: PathBuf, pos: Pos },
    Env(String),
    Flag(&'static str),
}

/// One raw value. `Debug` does not show the text (it may be a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Raw {
    pub text: String,
    pub origin: Origin,
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raw")
            .field(
                "text",
                &format_args!("<{} chars>", self.text.chars().count()),
            )
            .field("origin", &self.origin)
            .finish()
    }
}

/// `key → value`, later layers overriding earlier ones.
pub type Layer = BTreeMap<String, Raw>;

/// Scalar settings: (YAML pointer segments joined by `.`, env suffix after `PHONETREE_`).
pub const SCALARS: &[(&str, &str)] = &[
    ("sip.listen", "SIP_LISTEN"),
    ("sip.advertise", "SIP_ADVERTISE"),
    ("sip.answer_delay", "SIP_ANSWER_DELAY"),
    ("http.listen", "HTTP_LISTEN"),
    ("flows", "FLOWS"),
    ("sound", "SOUND"),
    ("rtp.ports", "RTP_PORTS"),
    ("rtp.timeout", "RTP_TIMEOUT"),
    ("rtp.workers", "RTP_WORKERS"),
    ("rtp.priority", "RTP_PRIORITY"),
    ("codecs", "CODECS"),
    ("themes", "THEMES"),
    ("drain_timeout", "DRAIN_TIMEOUT"),
    ("registration.backoff_base", "REGISTRATION_BACKOFF_BASE"),
    ("registration.backoff_max", "REGISTRATION_BACKOFF_MAX"),
    // Hardening (config::security).
    ("sip.allow", "SIP_ALLOW"),
    ("sip.reject", "SIP_REJECT"),
    ("rtp.latching", "RTP_LATCHING"),
    ("transfer.allow", "TRANSFER_ALLOW"),
];

/// Per-account settings; `PHONETREE_ACCOUNT_<FIELD>` sets them on the first account.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "registrar",
    "username",
    "auth_username",
    "password",
    "outbound_proxy",
    "expires",
    "transport",
    "flow",
];

/// The key tables: [`SCALARS`] and each section file's `KEYS` (`config::log`,
/// `config::database`, `config::api`, `config::node`, `config::openai`, `config::tts`,
/// `config::limits`, `config::twilio`). A new section file adds its table here and nothing else:
/// the YAML sections, the `PHONETREE_*` names and the unknown-key hints are all derived from these
/// tables.
const KEY_TABLES: &[&[(&str, &str)]] = &[
    SCALARS,
    super::log::KEYS,
    super::database::KEYS,
    super::api::KEYS,
    super::node::KEYS,
    super::openai::KEYS,
    super::tts::KEYS,
    super::limits::KEYS,
    super::twilio::KEYS,
    super::outbound::KEYS,
    super::sms::KEYS,
    super::alerts::KEYS,
    super::asr::KEYS,
    super::record::KEYS,
    super::srtp::KEYS,
    super::nat::KEYS,
    super::tls::KEYS,
];

/// Every scalar setting, from every table in `KEY_TABLES`.
pub fn scalars() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    KEY_TABLES.iter().flat_map(|table| table.iter())
}

/// Whether `name` is a section of dotted settings (`sip`, `log`, `database`, …).
fn is_section(name: &str) -> bool {
    scalars().any(|(k, _)| {
        k.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Keys whose YAML value may be a list of names (kept as comma-separated text).
fn is_list(key: &str) -> bool {
    key == "codecs"
        || key == "themes"
        || super::security::is_list(key)
        || super::api::is_list(key)
        || super::twilio::is_list(key)
        || super::outbound::is_list(key)
}

/// Keys whose values are secrets: never echoed in any message.
pub fn is_secret(key: &str) -> bool {
    key.ends_with(".password")
        || key.ends_with(".auth_token")
        || key.ends_with("api_key")
        || key == "database.url"
        || super::api::is_secret(key)
        || super::sms::is_secret(key)
}

/// The seed projects' variable names: (alias, key). Applied before the `PHONETREE_*` names, so
/// those win when both are set. `SIP_TRANSPORT_PORT` and `CODEC` are special (see [`env_layer`]).
const ALIASES: &[(&str, &str)] = &[
    ("SIP_DOMAIN", "accounts.0.registrar"),
    ("SIP_USER", "accounts.0.username"),
    ("SIP_USERNAME", "accounts.0.username"),
    ("SIP_PASS", "accounts.0.password"),
    ("SIP_PASSWORD", "accounts.0.password"),
    ("SIP_OUTBOUND", "accounts.0.outbound_proxy"),
    ("SIP_PREFERRED_CODECS", "codecs"),
    ("THEMES", "themes"),
    ("SIP_STUN_SERVER", "sip.stun_server"),
];

/// Sections whose keys may nest more than one level (`tts.piper.voice`,
/// `asr.pocketsphinx.model`).
const NESTED_SECTIONS: &[&str] = &["openai", "tts", "asr", "record", "sip"];

/// Reads `phonetree.yaml`: the layer plus every problem found (unknown keys, wrong shapes).
pub fn yaml_layer(text: &str, path: &Path) -> (Layer, Vec<Diagnostic>) {
    let parsed = source::parse(text, path);
    let mut diags = parsed.diagnostics;
    let mut layer = Layer::new();
    let Some(value) = parsed.value else {
        return (layer, diags);
    };
    let at = |pointer: &str| parsed.spans.value(pointer);
    let key_at = |pointer: &str| parsed.spans.key_or_value(pointer);
    let Value::Object(top) = value else {
        if !value.is_null() {
            diags.push(Diagnostic::error(
                path,
                at(""),
                "config.not_a_mapping",
                "phonetree.yaml must be a mapping of settings",
            ));
        }
        return (layer, diags);
    };
    for (k, v) in &top {
        let ptr = format!("/{k}");
        match k.as_str() {
            _ if NESTED_SECTIONS.contains(&k.as_str()) => {
                let Value::Object(_) = v else {
                    diags.push(shape(path, at(&ptr), k, "a mapping"));
                    continue;
                };
                let mut stack = vec![(k.clone(), ptr.clone(), v)];
                while let Some((dotted, vptr, value)) = stack.pop() {
                    match value {
                        Value::Object(inner) => {
                            for (ik, iv) in inner.iter().rev() {
                                stack.push((format!("{dotted}.{ik}"), format!("{vptr}/{ik}"), iv));
                            }
                        }
                        _ if scalars().any(|(s, _)| *s == dotted) => {
                            put(&mut layer, &mut diags, path, &dotted, value, at(&vptr));
                        }
                        _ => diags.push(unknown(path, key_at(&vptr), &dotted, known_under(k))),
                    }
                }
            }
            _ if is_section(k) => {
                let Value::Object(inner) = v else {
                    diags.push(shape(path, at(&ptr), k, "a mapping"));
                    continue;
                };
                for (ik, iv) in inner {
                    let dotted = format!("{k}.{ik}");
                    let iptr = format!("{ptr}/{ik}");
                    if !scalars().any(|(s, _)| *s == dotted) {
                        diags.push(unknown(path, key_at(&iptr), &dotted, known_under(k)));
                        continue;
                    }
                    put(&mut layer, &mut diags, path, &dotted, iv, at(&iptr));
                }
            }
            "accounts" => {
                let Value::Array(items) = v else {
                    diags.push(shape(path, at(&ptr), k, "a list of accounts"));
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let aptr = format!("{ptr}/{i}");
                    let Value::Object(fields) = item else {
                        diags.push(shape(path, at(&aptr), "account", "a mapping"));
                        continue;
                    };
                    for (fk, fv) in fields {
                        let fptr = format!("{aptr}/{fk}");
                        if !ACCOUNT_FIELDS.contains(&fk.as_str()) {
                            let known = ACCOUNT_FIELDS.join(", ");
                            diags.push(unknown(path, key_at(&fptr), fk, known));
                            continue;
                        }
                        let dotted = format!("accounts.{i}.{fk}");
                        put(&mut layer, &mut diags, path, &dotted, fv, at(&fptr));
                    }
                }
            }
            _ if scalars().any(|(s, _)| s == k) => {
                put(&mut layer, &mut diags, path, k, v, at(&ptr));
            }
            _ => {
                diags.push(unknown(path, key_at(&ptr), k, known_top()));
            }
        }
    }
    (layer, diags)
}

/// The environment layer: aliases first, then `PHONETREE_*`.
pub fn env_layer(env: &BTreeMap<String, String>) -> Layer {
    let mut layer = Layer::new();
    let mut set = |key: &str, name: &str, text: &str| {
        layer.insert(
            key.to_string(),
            Raw {
                text: text.trim().to_string(),
                origin: Origin::Env(name.to_string()),
            },
        );
    };
    let section_aliases = super::outbound::ALIASES
        .iter()
        .chain(super::sms::ALIASES)
        .chain(super::twilio::ALIASES)
        .chain(super::openai::ALIASES)
        .chain(super::tls::ALIASES);
    for (alias, key) in ALIASES.iter().chain(section_aliases) {
        if let Some(v) = env.get(*alias).filter(|v| !v.trim().is_empty()) {
            set(key, alias, v);
        }
    }
    if let Some(port) = env
        .get("SIP_TRANSPORT_PORT")
        .filter(|v| !v.trim().is_empty())
    {
        // Only the port: keep the default (or configured) listen address.
        set("sip.listen_port", "SIP_TRANSPORT_PORT", port);
    }
    if let Some((name, text)) = super::srtp::env_alias(env) {
        set("srtp", name, &text);
    }
    if let Some(codec) = env.get("CODEC").filter(|v| !v.trim().is_empty()) {
        set("codecs.first", "CODEC", codec);
    }
    for (key, suffix) in scalars() {
        let name = format!("PHONETREE_{suffix}");
        if let Some(v) = env.get(&name) {
            set(key, &name, v);
        }
    }
    for field in ACCOUNT_FIELDS {
        let name = format!("PHONETREE_ACCOUNT_{}", field.to_ascii_uppercase());
        if let Some(v) = env.get(&name) {
            set(&format!("accounts.0.{field}"), &name, v);
        }
    }
    layer
}

/// The environment to read: the process's, plus `.env` (process variables win, as with dotenvy).
pub fn process_env(dotenv: Option<&Path>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = dotenv {
        if let Ok(iter) = dotenvy::from_path_iter(path) {
            for (k, v) in iter.flatten() {
                env.insert(k, v);
            }
        }
    }
    env.extend(std::env::vars());
    env
}

fn put(
    layer: &mut Layer,
    diags: &mut Vec<Diagnostic>,
    path: &Path,
    key: &str,
    v: &Value,
    pos: Pos,
) {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) if super::alerts::is_json(key) => v.to_string(),
        Value::Array(items) if is_list(key) => {
            let mut parts = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    _ => {
                        diags.push(shape(path, pos, key, "a list of names"));
                        return;
                    }
                }
            }
            parts.join(",")
        }
        Value::Null => return,
        _ => {
            diags.push(shape(path, pos, key, "a single value"));
            return;
        }
    };
    layer.insert(
        key.to_string(),
        Raw {
            text,
            origin: Origin::Yaml {
                path: path.to_path_buf(),
                pos,
            },
        },
    );
}

fn shape(path: &Path, pos: Pos, key: &str, want: &str) -> Diagnostic {
    Diagnostic::error(
        path,
        pos,
        "config.bad_shape",
        format!("`{key}` must be {want}"),
    )
}

fn unknown(path: &Path, pos: Pos, key: &str, known: String) -> Diagnostic {
    Diagnostic::error(
        path,
        pos,
        "config.unknown_key",
        format!("unknown setting `{key}`"),
    )
    .with_hint(format!("known settings here: {known}"))
}

/// The top-level names, in first-seen order (for the unknown-key hint).
fn known_top() -> String {
    let mut names: Vec<&str> = Vec::new();
    for (k, _) in scalars() {
        let top = k.split('.').next().unwrap_or(k);
        if !names.contains(&top) {
            names.push(top);
        }
    }
    names.push("accounts");
    names.join(", ")
}

fn known_under(section: &str) -> String {
    scalars()
        .filter_map(|(k, _)| k.strip_prefix(section)?.strip_prefix('.'))
        .collect::<Vec<_>>()
        .join(", ")
}
