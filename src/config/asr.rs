//! The `asr:` section: speech recognition for `listen` nodes.
//!
//! Keys (YAML `asr.*`, env `PHONETREE_ASR_*`): `engine` (`pocketsphinx` | `websocket` | `axy` |
//! `openai`, default `pocketsphinx`), `language` (default `en-US`), `silence` (end of speech,
//! default 700ms), `max_speech` (longest utterance, default 15s), `connect_timeout` (remote
//! engines, default 5s), `result_timeout` (from the end of speech to the transcript, default
//! 10s), `pocketsphinx.model` (model directory; default: found where `pip install
//! pocketsphinx` put it), `pocketsphinx.threads` (`auto` = one per core),
//! `pocketsphinx.decoders` (per thread, default 4), `websocket.url` (`ws://` or `wss://`),
//! `axy.url` (`http(s)://` or `grpc(s)://`).

use std::path::PathBuf;
use std::time::Duration;

use super::{dur, nonempty, Bad, Builder};
use crate::flow::program::AsrEngine;

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[
    ("asr.engine", "ASR_ENGINE"),
    ("asr.language", "ASR_LANGUAGE"),
    ("asr.silence", "ASR_SILENCE"),
    ("asr.max_speech", "ASR_MAX_SPEECH"),
    ("asr.connect_timeout", "ASR_CONNECT_TIMEOUT"),
    ("asr.result_timeout", "ASR_RESULT_TIMEOUT"),
    ("asr.pocketsphinx.model", "ASR_POCKETSPHINX_MODEL"),
    ("asr.pocketsphinx.threads", "ASR_POCKETSPHINX_THREADS"),
    ("asr.pocketsphinx.decoders", "ASR_POCKETSPHINX_DECODERS"),
    ("asr.websocket.url", "ASR_WEBSOCKET_URL"),
    ("asr.axy.url", "ASR_AXY_URL"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct AsrConfig {
    /// The engine of `listen` nodes that do not name one.
    pub engine: AsrEngine,
    pub language: String,
    pub silence: Duration,
    pub max_speech: Duration,
    pub connect_timeout: Duration,
    pub result_timeout: Duration,
    /// `None` = discovered (see `asr::pocketsphinx::model::discover`).
    pub pocketsphinx_model: Option<PathBuf>,
    /// `None` = one per core.
    pub pocketsphinx_threads: Option<usize>,
    pub pocketsphinx_decoders: usize,
    pub websocket_url: Option<String>,
    pub axy_url: Option<String>,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            engine: AsrEngine::PocketSphinx,
            language: "en-US".to_owned(),
            silence: Duration::from_millis(700),
            max_speech: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            result_timeout: Duration::from_secs(10),
            pocketsphinx_model: None,
            pocketsphinx_threads: None,
            pocketsphinx_decoders: 4,
            websocket_url: None,
            axy_url: None,
        }
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> AsrConfig {
    let d = AsrConfig::default();
    AsrConfig {
        engine: b.parse("asr.engine", parse_engine, d.engine),
        language: b.parse("asr.language", nonempty, d.language),
        silence: b.duration("asr.silence", positive, d.silence),
        max_speech: b.duration("asr.max_speech", positive, d.max_speech),
        connect_timeout: b.duration("asr.connect_timeout", positive, d.connect_timeout),
        result_timeout: b.duration("asr.result_timeout", positive, d.result_timeout),
        pocketsphinx_model: b
            .parse_opt("asr.pocketsphinx.model", |s| nonempty(s).map(PathBuf::from)),
        pocketsphinx_threads: b
            .parse_opt("asr.pocketsphinx.threads", super::parse_workers)
            .flatten(),
        pocketsphinx_decoders: b.parse(
            "asr.pocketsphinx.decoders",
            decoders,
            d.pocketsphinx_decoders,
        ),
        websocket_url: b.parse_opt("asr.websocket.url", |s| url(s, &["ws://", "wss://"])),
        axy_url: b.parse_opt("asr.axy.url", |s| {
            url(s, &["http://", "https://", "grpc://", "grpcs://"])
        }),
    }
}

fn parse_engine(s: &str) -> Result<AsrEngine, String> {
    AsrEngine::from_name(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("`{s}`: expected one of {}", AsrEngine::NAMES.join(", ")))
}

fn positive(s: &str) -> Result<Duration, Bad> {
    let d = dur(s)?;
    if d.is_zero() {
        return Err(Bad::from(format!("`{s}` must be more than zero")));
    }
    Ok(d)
}

fn decoders(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{s}`: expected a number of decoders from 1 to 64")),
    }
}

fn url(s: &str, schemes: &[&str]) -> Result<String, String> {
    if schemes.iter().any(|p| s.starts_with(p)) && s.len() > 8 {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` must be a {} URL", schemes.join(" or ")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::config::{load, Sources};

    #[test]
    fn defaults_and_nested_yaml() {
        let c = load(&Sources::default()).unwrap().asr;
        assert_eq!(c, AsrConfig::default());
        let yaml = "asr:\n  engine: websocket\n  silence: 500ms\n  pocketsphinx:\n    model: /m/en-us\n    threads: 2\n  websocket: { url: \"ws://127.0.0.1:2700\" }\n  axy: { url: \"grpc://127.0.0.1:50051\" }\n";
        let src = Sources {
            file: Some((yaml.into(), PathBuf::from("phonetree.yaml"))),
            ..Sources::default()
        };
        let c = load(&src).unwrap().asr;
        assert_eq!(c.engine, AsrEngine::Websocket);
        assert_eq!(c.silence, Duration::from_millis(500));
        assert_eq!(c.pocketsphinx_model, Some(PathBuf::from("/m/en-us")));
        assert_eq!(c.pocketsphinx_threads, Some(2));
        assert_eq!(c.websocket_url.as_deref(), Some("ws://127.0.0.1:2700"));
        assert_eq!(c.axy_url.as_deref(), Some("grpc://127.0.0.1:50051"));
    }

    #[test]
    fn env_and_bad_values_are_reported_by_key() {
        let env: BTreeMap<String, String> = [
            ("PHONETREE_ASR_ENGINE", "whisper"),
            ("PHONETREE_ASR_SILENCE", "0s"),
            ("PHONETREE_ASR_WEBSOCKET_URL", "http://x:1"),
            ("PHONETREE_ASR_POCKETSPHINX_DECODERS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let e = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap_err();
        let mut keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "asr.engine",
                "asr.pocketsphinx.decoders",
                "asr.silence",
                "asr.websocket.url"
            ]
        );
    }

    #[test]
    fn unknown_keys_under_asr_are_diagnosed() {
        let src = Sources {
            file: Some((
                "asr:\n  pocketsphinx:\n    modle: x\n".into(),
                PathBuf::from("p.yaml"),
            )),
            ..Sources::default()
        };
        let e = load(&src).unwrap_err();
        assert!(e.to_string().contains("modle"), "{e}");
    }
}
