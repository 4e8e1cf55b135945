//! The remote engines: OpenAI's `/audio/speech` and a generic TTS server, both over the
//! server's reqwest client (rustls), bounded in time (`tts.timeout`) and size
//! ([`MAX_AUDIO`]).

use std::time::Duration;

use serde_json::{json, Value};

use super::{wav, Audio, TtsError};
use crate::config::openai::OpenAiConfig;
use crate::config::tts::TtsConfig;
use crate::flow::program::TtsEngine;

/// Largest audio accepted for one sentence (about 10 minutes of 24 kHz PCM).
pub const MAX_AUDIO: usize = 32 << 20;

/// OpenAI text to speech: 24 kHz 16-bit PCM, wrapped in a WAV header here.
pub async fn openai(
    client: &reqwest::Client,
    openai: &OpenAiConfig,
    cfg: &TtsConfig,
    voice: &str,
    text: &str,
) -> Result<Audio, TtsError> {
    let engine = TtsEngine::OpenAi;
    let key = openai.api_key.as_ref().ok_or_else(|| {
        TtsError::NotConfigured(
            "the openai TTS engine needs openai.api_key (OPENAI_API_KEY)".into(),
        )
    })?;
    let body = json!({
        "model": cfg.openai_model,
        "voice": voice,
        "input": text,
        "response_format": "pcm",
    });
    let rb = client
        .post(openai.http_url("/audio/speech"))
        .header(reqwest::header::AUTHORIZATION, key.bearer())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    let (bytes, _) = send(rb, cfg.timeout, engine).await?;
    Ok(Audio {
        bytes: wav(&bytes, 24000),
        extension: "wav",
    })
}

/// A generic TTS server: JSON `{text, voice}` in, audio out.
pub async fn http(
    client: &reqwest::Client,
    cfg: &TtsConfig,
    voice: Option<&str>,
    text: &str,
) -> Result<Audio, TtsError> {
    let engine = TtsEngine::Http;
    let url = cfg
        .http_url
        .as_deref()
        .ok_or_else(|| TtsError::NotConfigured("the http TTS engine needs tts.http.url".into()))?;
    let mut body = json!({ "text": text });
    if let Some(v) = voice {
        body["voice"] = Value::String(v.to_owned());
    }
    let mut rb = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(k) = &cfg.http_api_key {
        rb = rb.header(reqwest::header::AUTHORIZATION, k.bearer());
    }
    let (bytes, content_type) = send(rb, cfg.timeout, engine).await?;
    // The bytes say what they are; the content type only when they do not (Piper's own
    // server sends its WAV as `text/html`).
    let extension = match (sniff(&bytes), content_type.as_deref().unwrap_or("")) {
        (Some(ext), _) => ext,
        (None, t) if t.contains("mpeg") || t.contains("mp3") => "mp3",
        (None, other) => {
            return Err(TtsError::Failed {
                engine,
                detail: format!("the server sent `{other}`, not audio"),
            })
        }
    };
    Ok(Audio { bytes, extension })
}

/// What the magic bytes say the audio is.
pub(super) fn sniff(b: &[u8]) -> Option<&'static str> {
    match b {
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some("wav"),
        [b'O', b'g', b'g', b'S', ..] => Some("ogg"),
        [b'f', b'L', b'a', b'C', ..] => Some("flac"),
        [b'I', b'D', b'3', ..] => Some("mp3"),
        [0xff, second, ..] if second & 0xe0 == 0xe0 => Some("mp3"),
        _ => None,
    }
}

/// Sends, checks the status, reads the body (bounded); the body and its content type.
async fn send(
    rb: reqwest::RequestBuilder,
    timeout: Duration,
    engine: TtsEngine,
) -> Result<(Vec<u8>, Option<String>), TtsError> {
    let failed = |e: reqwest::Error| TtsError::Failed {
        engine,
        detail: describe(e),
    };
    let mut resp = rb.timeout(timeout).send().await.map_err(failed)?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_AUDIO {
            return Err(TtsError::Failed {
                engine,
                detail: format!("more than {MAX_AUDIO} bytes of audio"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let detail = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                Some(
                    e.get("message")
                        .and_then(Value::as_str)
                        .or_else(|| e.as_str())?
                        .to_owned(),
                )
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        return Err(TtsError::Status {
            engine,
            status: status.as_u16(),
            detail,
        });
    }
    if body.is_empty() {
        return Err(TtsError::Failed {
            engine,
            detail: "empty audio".into(),
        });
    }
    Ok((body, content_type))
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}
