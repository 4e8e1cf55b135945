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
    let extension = match content_type.as_deref().unwrap_or("") {
        t if t.contains("mpeg") || t.contains("mp3") => "mp3",
        t if t.contains("ogg") || t.contains("opus") => "ogg",
        t if t.contains("flac") => "flac",
        t if t.contains("wav")
            || t.starts_with("audio/")
            || t.contains("octet-stream")
            || t.is_empty() =>
        {
            sniff(&bytes)
        }
        other => {
            return Err(TtsError::Failed {
                engine,
                detail: format!("the server sent `{other}`, not audio"),
            })
        }
    };
    Ok(Audio { bytes, extension })
}

/// By magic bytes, for servers that send a vague content type.
fn sniff(b: &[u8]) -> &'static str {
    match b {
        [b'O', b'g', b'g', b'S', ..] => "ogg",
        [b'f', b'L', b'a', b'C', ..] => "flac",
        [b'I', b'D', b'3', ..] | [0xff, 0xfb | 0xf3 | 0xf2, ..] => "mp3",
        _ => "wav",
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
