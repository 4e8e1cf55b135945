//! The `tts:` section: which engine `say` uses by default, each engine's settings, and the
//! synthesized-audio cache.
//!
//! Keys (YAML `tts.*`, env `PHONETREE_TTS_*`): `engine` (`espeak-ng` | `piper` | `openai` |
//! `http`, default `espeak-ng`), `espeak.voice`, `piper.command` (default `piper`),
//! `piper.voice` (a `.onnx` model path, or a model name looked up in `piper.voices`),
//! `piper.voices` (a folder of models), `openai.model` (default `gpt-4o-mini-tts`),
//! `openai.voice` (default `alloy`), `http.url`, `http.voice`, `http.api_key` (sent as
//! `Authorization: Bearer`), `cache` (folder, default `<temp>/phonetree-tts`), `cache_max`
//! (default `512MB`), `timeout` (remote engines, default 15s). The OpenAI engine reaches
//! `openai.base_url` with `openai.api_key` (the `openai:` section).

use std::path::PathBuf;
use std::time::Duration;

use super::openai::{positive_dur, ApiKey};
use super::{nonempty, Builder};
use crate::flow::program::TtsEngine;

pub const DEFAULT_OPENAI_TTS_MODEL: &str = "gpt-4o-mini-tts";
pub const DEFAULT_OPENAI_TTS_VOICE: &str = "alloy";

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("tts.engine", "TTS_ENGINE"),
    ("tts.espeak.voice", "TTS_ESPEAK_VOICE"),
    ("tts.piper.command", "TTS_PIPER_COMMAND"),
    ("tts.piper.voice", "TTS_PIPER_VOICE"),
    ("tts.piper.voices", "TTS_PIPER_VOICES"),
    ("tts.openai.model", "TTS_OPENAI_MODEL"),
    ("tts.openai.voice", "TTS_OPENAI_VOICE"),
    ("tts.http.url", "TTS_HTTP_URL"),
    ("tts.http.voice", "TTS_HTTP_VOICE"),
    ("tts.http.api_key", "TTS_HTTP_API_KEY"),
    ("tts.cache", "TTS_CACHE"),
    ("tts.cache_max", "TTS_CACHE_MAX"),
    ("tts.timeout", "TTS_TIMEOUT"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct TtsConfig {
    /// The engine of `say` nodes that do not name one.
    pub engine: TtsEngine,
    pub espeak_voice: Option<String>,
    pub piper_command: PathBuf,
    pub piper_voice: Option<String>,
    pub piper_voices: Option<PathBuf>,
    pub openai_model: String,
    pub openai_voice: String,
    pub http_url: Option<String>,
    pub http_voice: Option<String>,
    pub http_api_key: Option<ApiKey>,
    /// Where synthesized audio is kept, by (engine, voice, text).
    pub cache: PathBuf,
    /// Bytes the cache may hold before the oldest files go.
    pub cache_max: u64,
    /// Longest wait for a remote engine (connect to last byte).
    pub timeout: Duration,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            engine: TtsEngine::EspeakNg,
            espeak_voice: None,
            piper_command: PathBuf::from("piper"),
            piper_voice: None,
            piper_voices: None,
            openai_model: DEFAULT_OPENAI_TTS_MODEL.to_owned(),
            openai_voice: DEFAULT_OPENAI_TTS_VOICE.to_owned(),
            http_url: None,
            http_voice: None,
            http_api_key: None,
            cache: std::env::temp_dir().join("phonetree-tts"),
            cache_max: 512 << 20,
            timeout: Duration::from_secs(15),
        }
    }
}

impl TtsConfig {
    /// The voice `engine` uses when the node names none.
    pub fn default_voice(&self, engine: TtsEngine) -> Option<&str> {
        match engine {
            TtsEngine::EspeakNg => self.espeak_voice.as_deref(),
            TtsEngine::Piper => self.piper_voice.as_deref(),
            TtsEngine::OpenAi => Some(&self.openai_voice),
            TtsEngine::Http => self.http_voice.as_deref(),
        }
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> TtsConfig {
    let d = TtsConfig::default();
    let http_api_key = b
        .get("tts.http.api_key")
        .map(|r| r.text.trim())
        .filter(|t| !t.is_empty())
        .map(ApiKey::new);
    TtsConfig {
        engine: b.parse("tts.engine", parse_engine, d.engine),
        espeak_voice: b.parse_opt("tts.espeak.voice", nonempty),
        piper_command: b.parse("tts.piper.command", path, d.piper_command),
        piper_voice: b.parse_opt("tts.piper.voice", nonempty),
        piper_voices: b.parse_opt("tts.piper.voices", path),
        openai_model: b.parse("tts.openai.model", nonempty, d.openai_model),
        openai_voice: b.parse("tts.openai.voice", nonempty, d.openai_voice),
        http_url: b.parse_opt("tts.http.url", parse_url),
        http_voice: b.parse_opt("tts.http.voice", nonempty),
        http_api_key,
        cache: b.parse("tts.cache", path, d.cache),
        cache_max: b.parse("tts.cache_max", parse_size, d.cache_max),
        timeout: b.parse("tts.timeout", positive_dur, d.timeout),
    }
}

fn parse_engine(s: &str) -> Result<TtsEngine, String> {
    TtsEngine::from_name(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("`{s}`: expected one of espeak-ng, piper, openai, http"))
}

fn path(s: &str) -> Result<PathBuf, String> {
    nonempty(s).map(PathBuf::from)
}

fn parse_url(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` must be an http:// or https:// URL"))
    }
}

/// `512MB`, `2GB`, `100kB` or a number of bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: write a size such as 512MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit (use kB, MB or GB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::config::{load, Sources};

    #[test]
    fn defaults_and_yaml() {
        let c = load(&Sources::default()).unwrap().tts;
        assert_eq!(c.engine, TtsEngine::EspeakNg);
        assert_eq!(c.default_voice(TtsEngine::OpenAi), Some("alloy"));
        let src = Sources {
            file: Some((
                "tts:\n  engine: piper\n  piper: { voice: /v/joe.onnx, command: /venv/bin/piper }\n  http: { url: \"http://127.0.0.1:5000/synthesize\", api_key: tok-123 }\n  cache_max: 64MB\n".into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&src).unwrap().tts;
        assert_eq!(c.engine, TtsEngine::Piper);
        assert_eq!(c.default_voice(TtsEngine::Piper), Some("/v/joe.onnx"));
        assert_eq!(c.piper_command, PathBuf::from("/venv/bin/piper"));
        assert_eq!(c.cache_max, 64 << 20);
        assert!(!format!("{c:?}").contains("tok-123"));
    }

    #[test]
    fn env_and_bad_values() {
        let env: BTreeMap<String, String> = [
            ("PHONETREE_TTS_ENGINE", "festival"),
            ("PHONETREE_TTS_HTTP_URL", "ftp://x"),
            ("PHONETREE_TTS_CACHE_MAX", "lots"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let e = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["tts.engine", "tts.http.url", "tts.cache_max"]);
    }
}
