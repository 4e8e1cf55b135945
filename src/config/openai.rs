//! The `openai:` section: how `agent` nodes, the `openai` speech recognizer and the `openai`
//! TTS engine reach OpenAI (or any server speaking its API: one `base_url` points everything
//! at a self-hosted or test server).
//!
//! Keys (YAML `openai.*`, env `PHONETREE_OPENAI_*`, and the seed's names):
//! `api_key` (`OPENAI_API_KEY`), `base_url` (`OPENAI_BASE_URL`, default
//! `https://api.openai.com/v1`), `model` (`OPENAI_MODEL`, default `gpt-realtime`), `voice`
//! (`OPENAI_VOICE`), `temperature` (`OPENAI_TEMPERATURE`), `instructions` (`SYSTEM_PROMPT`),
//! `transcription_model` (default `gpt-4o-transcribe`), `preconnect` (default true),
//! `connect_timeout` (default 5s).
//!
//! The key is an [`ApiKey`] from parsing on (like `sip::digest::Secret`: redacted `Debug`, no
//! `Display`); only [`ApiKey::bearer`] reveals it, to build the `Authorization` header. No
//! message, `Debug` output or API response shows it. The GA Realtime API has no `temperature` (the beta had one): the value is accepted so
//! the seed's `.env` files keep working, checked, and not sent (`engine::agent` logs that once).

use std::time::Duration;

use std::fmt;

use super::{dur, nonempty, Builder};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-realtime";
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "gpt-4o-transcribe";

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("openai.api_key", "OPENAI_API_KEY"),
    ("openai.base_url", "OPENAI_BASE_URL"),
    ("openai.model", "OPENAI_MODEL"),
    ("openai.voice", "OPENAI_VOICE"),
    ("openai.temperature", "OPENAI_TEMPERATURE"),
    ("openai.instructions", "OPENAI_INSTRUCTIONS"),
    ("openai.transcription_model", "OPENAI_TRANSCRIPTION_MODEL"),
    ("openai.preconnect", "OPENAI_PRECONNECT"),
    ("openai.connect_timeout", "OPENAI_CONNECT_TIMEOUT"),
];

/// The seed's variable names: (alias, key).
pub const ALIASES: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "openai.api_key"),
    ("OPENAI_BASE_URL", "openai.base_url"),
    ("OPENAI_MODEL", "openai.model"),
    ("OPENAI_VOICE", "openai.voice"),
    ("OPENAI_TEMPERATURE", "openai.temperature"),
    ("SYSTEM_PROMPT", "openai.instructions"),
];

/// How to reach OpenAI's API.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// `None`: agent nodes and the `openai` engines take their error branch ("no API key").
    pub api_key: Option<ApiKey>,
    /// `https://api.openai.com/v1` or a compatible server; no trailing `/`.
    pub base_url: String,
    /// Model of agent nodes that do not name one.
    pub model: String,
    /// Voice of agent nodes that do not name one (`None`: the server's default).
    pub voice: Option<String>,
    /// Accepted for the seed's configuration; the GA Realtime API has no temperature.
    pub temperature: Option<f64>,
    /// Instructions of agent nodes that have none.
    pub instructions: Option<String>,
    /// Model of `listen` nodes on the `openai` engine and of agents' caller transcripts.
    pub transcription_model: String,
    /// Open the agent's websocket while the call is set up (during the prompt before it).
    pub preconnect: bool,
    /// TCP + TLS + websocket handshake, and the session's first answer.
    pub connect_timeout: Duration,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            voice: None,
            temperature: None,
            instructions: None,
            transcription_model: DEFAULT_TRANSCRIPTION_MODEL.to_owned(),
            preconnect: true,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl OpenAiConfig {
    /// The Realtime websocket URL for `model`: `base_url` with `http(s)` turned into `ws(s)`,
    /// plus `/realtime?model=<model>`.
    pub fn realtime_url(&self, model: &str) -> String {
        format!(
            "{}/realtime?model={}",
            ws_base(&self.base_url),
            query_escape(model)
        )
    }

    /// The Realtime websocket URL of a transcription session.
    pub fn transcription_url(&self) -> String {
        format!("{}/realtime?intent=transcription", ws_base(&self.base_url))
    }

    /// `base_url` + `path` (`/audio/speech`).
    pub fn http_url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// An API key. `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// `Bearer <key>`, the `Authorization` header's value. Never log it.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

fn ws_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

/// Model names are plain tokens; escape anything else rather than trust it in a URL.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the section from the merged layer (problems are collected by `b`).
pub(super) fn build(b: &mut Builder<'_>) -> OpenAiConfig {
    let d = OpenAiConfig::default();
    let api_key = b
        .get("openai.api_key")
        .map(|r| r.text.trim())
        .filter(|t| !t.is_empty())
        .map(|t| ApiKey(t.to_owned()));
    OpenAiConfig {
        api_key,
        base_url: b.parse("openai.base_url", parse_base_url, d.base_url),
        model: b.parse("openai.model", nonempty, d.model),
        voice: b.parse_opt("openai.voice", nonempty),
        temperature: b.parse_opt("openai.temperature", parse_temperature),
        instructions: b.parse_opt("openai.instructions", nonempty),
        transcription_model: b.parse(
            "openai.transcription_model",
            nonempty,
            d.transcription_model,
        ),
        preconnect: b.parse("openai.preconnect", parse_bool, d.preconnect),
        connect_timeout: b.parse("openai.connect_timeout", positive_dur, d.connect_timeout),
    }
}

fn parse_base_url(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("`{s}` must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "`{s}` is not a base URL (write e.g. https://api.openai.com/v1)"
        ));
    }
    Ok(s.to_owned())
}

fn parse_temperature(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=2.0).contains(&t) => Ok(t),
        _ => Err(format!("`{s}`: expected a number from 0 to 2")),
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("`{s}`: expected true or false")),
    }
}

pub(super) fn positive_dur(s: &str) -> Result<Duration, String> {
    let d = dur(s).map_err(|b| b.message)?;
    if d.is_zero() {
        return Err(format!("`{s}` must be longer than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use crate::config::{load, Sources};

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_need_no_key() {
        let c = load(&Sources::default()).unwrap().openai;
        assert_eq!(c.api_key, None);
        assert_eq!(c.base_url, "https://api.openai.com/v1");
        assert_eq!(
            c.realtime_url(&c.model),
            "wss://api.openai.com/v1/realtime?model=gpt-realtime"
        );
        assert!(c.preconnect);
    }

    #[test]
    fn seed_names_and_phonetree_names() {
        let c = load(&env(&[
            ("OPENAI_API_KEY", "sk-test-123"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1/"),
            ("OPENAI_MODEL", "gpt-realtime-mini"),
            ("OPENAI_VOICE", "cedar"),
            ("OPENAI_TEMPERATURE", "0.8"),
            ("SYSTEM_PROMPT", "Be brief."),
            ("PHONETREE_OPENAI_PRECONNECT", "false"),
        ]))
        .unwrap()
        .openai;
        assert_eq!(
            c.api_key.as_ref().map(|k| k.bearer()).as_deref(),
            Some("Bearer sk-test-123")
        );
        assert_eq!(
            c.realtime_url(&c.model),
            "ws://127.0.0.1:9000/v1/realtime?model=gpt-realtime-mini"
        );
        assert_eq!(
            c.http_url("/audio/speech"),
            "http://127.0.0.1:9000/v1/audio/speech"
        );
        assert_eq!(c.voice.as_deref(), Some("cedar"));
        assert_eq!(c.temperature, Some(0.8));
        assert_eq!(c.instructions.as_deref(), Some("Be brief."));
        assert!(!c.preconnect);
    }

    #[test]
    fn yaml_section_and_bad_values_without_echoing_the_key() {
        let src = Sources {
            file: Some((
                "openai:\n  api_key: sk-secret-999\n  base_url: ftp://x\n  temperature: 7\n  model: \"a b\"\n".into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let e = load(&src).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("openai.base_url"), "{text}");
        assert!(text.contains("openai.temperature"), "{text}");
        assert!(!text.contains("sk-secret-999"), "{text}");
        let ok = Sources {
            file: Some((
                "openai: { api_key: sk-secret-999, model: \"gpt realtime\" }\n".into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&ok).unwrap().openai;
        assert!(!format!("{c:?}").contains("sk-secret-999"));
        assert_eq!(
            c.realtime_url(&c.model),
            "wss://api.openai.com/v1/realtime?model=gpt%20realtime"
        );
    }
}
