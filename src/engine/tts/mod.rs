//! Text to speech for `say`: four engines behind one [`Tts::synthesize`], and a disk cache so
//! a sentence said before costs nothing.
//!
//! Engines (`tts.engine`, or per node `say.engine`):
//! - `espeak-ng` ([`local::espeak`]): the local default, `espeak-ng --stdout`.
//! - `piper` ([`local::piper`]): Piper's CLI (PyPI `piper-tts`) with a `.onnx` voice model,
//!   text on stdin, WAV out.
//! - `openai` ([`remote::openai`]): `POST <openai.base_url>/audio/speech` with `model`, `voice`,
//!   `input` and `response_format: "pcm"` (24 kHz 16-bit; we write the WAV header, so no
//!   streaming-WAV size quirks can break decoding).
//! - `http` ([`remote::http`]): any TTS server: `POST tts.http.url` with
//!   `{"text": .., "voice": ..}`, audio (WAV, MP3, OGG, FLAC) back — the shape of Piper's own
//!   HTTP server (`python -m piper.http_server`, route `/synthesize`).
//!
//! The remote engines play while they download when the call's audio is at hand ([`stream`]:
//! OpenAI's PCM, a server's 16-bit WAV), and keep the audio in the cache.
//!
//! The cache ([`cache::Cache`]) keys files by SHA-256 of (engine, voice as resolved — the
//! model too for `openai` —, text), writes through a temporary file and a rename (a concurrent
//! call never reads half a file), and is bounded by `tts.cache_max`: the least recently
//! written files go first. The call then plays the file through the prompt cache, which
//! decodes and encodes it once per codec.
//!
//! Every synthesis that is not a cache hit is measured for `/metrics` ([`meter`]).
//!
//! Not owned here: playing the audio (the media session), which text to say (the machine).
//! Secrets: the API keys are only put in `Authorization` headers; errors never contain them
//! nor the URL's query.

pub mod cache;
pub mod local;
pub mod meter;
pub mod remote;
pub mod stream;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::openai::OpenAiConfig;
use crate::config::tts::TtsConfig;
use crate::flow::program::TtsEngine;

/// Longest text spoken.
pub const MAX_TTS_CHARS: usize = 4000;

/// Why `say` could not produce audio.
#[derive(Debug)]
#[non_exhaustive]
pub enum TtsError {
    /// The engine's program is not installed (or not where configured).
    NotInstalled {
        engine: TtsEngine,
        hint: String,
    },
    /// The engine needs a setting that is missing (`tts.piper.voice`, `openai.api_key`, ...).
    NotConfigured(String),
    /// It ran and failed.
    Failed {
        engine: TtsEngine,
        detail: String,
    },
    /// A remote engine answered with an error status.
    Status {
        engine: TtsEngine,
        status: u16,
        detail: String,
    },
    Io(std::io::Error),
}

impl fmt::Display for TtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TtsError::NotInstalled { engine, hint } => {
                write!(f, "{} is not installed ({hint})", engine.as_str())
            }
            TtsError::NotConfigured(what) => write!(f, "not configured: {what}"),
            TtsError::Failed { engine, detail } => {
                write!(f, "{} failed: {detail}", engine.as_str())
            }
            TtsError::Status {
                engine,
                status,
                detail,
            } => write!(f, "{} answered HTTP {status}: {detail}", engine.as_str()),
            TtsError::Io(e) => write!(f, "cannot write the speech file: {e}"),
        }
    }
}

impl std::error::Error for TtsError {}

/// The TTS service of a running server (cheap to clone).
#[derive(Clone)]
pub struct Tts {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: TtsConfig,
    openai: OpenAiConfig,
    http: reqwest::Client,
    cache: cache::Cache,
}

impl Tts {
    pub fn new(cfg: TtsConfig, openai: OpenAiConfig, http: reqwest::Client) -> Tts {
        let cache = cache::Cache::new(cfg.cache.clone(), cfg.cache_max);
        Tts {
            inner: Arc::new(Inner {
                cfg,
                openai,
                http,
                cache,
            }),
        }
    }

    pub fn config(&self) -> &TtsConfig {
        &self.inner.cfg
    }

    /// What one request speaks, with which voice (the engine's configured one by default), and
    /// its cache key: shared by [`Tts::synthesize`] and [`Tts::speak_streaming`].
    fn request(
        &self,
        engine: TtsEngine,
        voice: Option<&str>,
        text: &str,
    ) -> (Option<String>, String, String) {
        let cfg = &self.inner.cfg;
        let voice = voice
            .map(str::to_owned)
            .or_else(|| cfg.default_voice(engine).map(str::to_owned));
        let text: String = text.chars().take(MAX_TTS_CHARS).collect();
        let model = match engine {
            TtsEngine::OpenAi => cfg.openai_model.as_str(),
            _ => "",
        };
        let key = cache::key(
            engine.as_str(),
            model,
            voice.as_deref().unwrap_or(""),
            &text,
        );
        (voice, text, key)
    }

    /// Speaks `text` with `engine` (default: the configured one) and `voice` (default: the
    /// engine's configured voice) into a cached audio file, and returns its path.
    pub async fn synthesize(
        &self,
        engine: Option<TtsEngine>,
        voice: Option<&str>,
        text: &str,
    ) -> Result<PathBuf, TtsError> {
        let i = &self.inner;
        let engine = engine.unwrap_or(i.cfg.engine);
        let (voice, text, key) = self.request(engine, voice, text);
        if let Some(path) = i.cache.lookup(&key).await {
            return Ok(path);
        }
        let t0 = std::time::Instant::now();
        let made = match engine {
            TtsEngine::EspeakNg => local::espeak(&text, voice.as_deref()).await,
            TtsEngine::Piper => local::piper(&i.cfg, &text, voice.as_deref()).await,
            TtsEngine::OpenAi => {
                let voice = voice.as_deref().unwrap_or(&i.cfg.openai_voice);
                remote::openai(&i.http, &i.openai, &i.cfg, voice, &text).await
            }
            TtsEngine::Http => remote::http(&i.http, &i.cfg, voice.as_deref(), &text).await,
        };
        let stored = match made {
            Ok(audio) => i
                .cache
                .store(&key, audio.extension, &audio.bytes)
                .await
                .map_err(TtsError::Io),
            Err(e) => Err(e),
        };
        match &stored {
            Ok(_) => meter::ready(engine, t0),
            Err(e) => meter::failed(engine, e),
        }
        stored
    }
}

/// Synthesized audio, before it is cached.
pub struct Audio {
    pub bytes: Vec<u8>,
    /// `wav`, `mp3`, `ogg` or `flac`: what the bytes are (the decoder probes them anyway).
    pub extension: &'static str,
}

/// A WAV header + 16-bit mono PCM.
pub fn wav(pcm_le: &[u8], rate: u32) -> Vec<u8> {
    let data = (pcm_le.len() & !1) as u32;
    let mut w = Vec::with_capacity(44 + data as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    w.extend_from_slice(&pcm_le[..data as usize]);
    w
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
