//! Playing a remote engine's speech while it is still arriving, straight into the call's
//! [`AudioPort`], and keeping it in the cache for the next time.
//!
//! Streamable: OpenAI's `response_format: "pcm"` (24 kHz 16-bit, no header) and a TTS server's
//! 16-bit PCM WAV (the header is read as it arrives; Piper's server sends one). Anything else
//! (MP3, OGG, FLAC, other WAV encodings) is read whole and played from the cache file, as before.
//! The audio is resampled to the port's rate in 20 ms chunks and queued with
//! [`AudioPort::send`], which waits while ten seconds are queued: the download runs ahead of the
//! caller by at most that much. The end is known when a mark after the last frame comes back.
//!
//! A sentence already cached is not fetched: [`Spoken::Cached`] says which file to play.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{meter, remote, wav, Tts, TtsError};
use crate::audio::Resampler;
use crate::engine::audio_port::{AudioFrame, AudioPort};
use crate::flow::program::TtsEngine;

/// How a streamed `say` ended.
#[derive(Debug)]
pub enum Spoken {
    /// Played through the port (and now cached).
    Played,
    /// In the cache already, or not streamable: play this file.
    Cached(PathBuf),
}

/// Whether `engine` can stream.
pub fn streams(engine: TtsEngine) -> bool {
    matches!(engine, TtsEngine::OpenAi | TtsEngine::Http)
}

/// What the body is, once its first bytes are known.
enum Body {
    /// 16-bit little-endian PCM at this rate with this many channels.
    Pcm { rate: u32, channels: u16 },
    /// Not streamable: read it whole.
    Whole,
}

impl Tts {
    /// Speaks `text` into `port` as it arrives (see the module docs).
    pub async fn speak_streaming(
        &self,
        engine: Option<TtsEngine>,
        voice: Option<&str>,
        text: &str,
        port: AudioPort,
    ) -> Result<Spoken, TtsError> {
        let i = &self.inner;
        let engine = engine.unwrap_or(i.cfg.engine);
        if !streams(engine) {
            return self
                .synthesize(Some(engine), voice, text)
                .await
                .map(Spoken::Cached);
        }
        let (voice, text, key) = self.request(engine, voice, text);
        if let Some(path) = i.cache.lookup(&key).await {
            return Ok(Spoken::Cached(path));
        }
        let t0 = Instant::now();
        let r = self
            .fetch_and_play(engine, voice.as_deref(), &text, &key, port, t0)
            .await;
        if let Err(e) = &r {
            meter::failed(engine, e);
        }
        r
    }

    /// [`Tts::speak_streaming`] once the cache missed; reports the first audio to [`meter`].
    async fn fetch_and_play(
        &self,
        engine: TtsEngine,
        voice: Option<&str>,
        text: &str,
        key: &str,
        mut port: AudioPort,
        t0: Instant,
    ) -> Result<Spoken, TtsError> {
        let i = &self.inner;
        let rb = match engine {
            TtsEngine::OpenAi => {
                let k = i.openai.api_key.as_ref().ok_or_else(|| {
                    TtsError::NotConfigured(
                        "the openai TTS engine needs openai.api_key (OPENAI_API_KEY)".into(),
                    )
                })?;
                let voice = voice.unwrap_or(&i.cfg.openai_voice);
                let body = json!({"model": i.cfg.openai_model, "voice": voice, "input": text,
                                  "response_format": "pcm"});
                i.http
                    .post(i.openai.http_url("/audio/speech"))
                    .header(reqwest::header::AUTHORIZATION, k.bearer())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
            }
            _ => {
                let url = i.cfg.http_url.as_deref().ok_or_else(|| {
                    TtsError::NotConfigured("the http TTS engine needs tts.http.url".into())
                })?;
                let mut body = json!({ "text": text });
                if let Some(v) = voice {
                    body["voice"] = json!(v);
                }
                let mut rb = i
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
                if let Some(k) = &i.cfg.http_api_key {
                    rb = rb.header(reqwest::header::AUTHORIZATION, k.bearer());
                }
                rb
            }
        };
        let failed = |e: reqwest::Error| TtsError::Failed {
            engine,
            detail: e.without_url().to_string(),
        };
        let mut resp = rb.timeout(i.cfg.timeout).send().await.map_err(failed)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(TtsError::Status {
                engine,
                status,
                detail,
            });
        }
        // Everything received, for the cache (bounded like a whole download).
        let mut all: Vec<u8> = Vec::new();
        let mut body = if engine == TtsEngine::OpenAi {
            Some(Body::Pcm {
                rate: 24000,
                channels: 1,
            })
        } else {
            None
        };
        let mut player: Option<Player> = None;
        let mut consumed = 0usize; // bytes of `all` given to the player
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if all.len() + chunk.len() > remote::MAX_AUDIO {
                return Err(TtsError::Failed {
                    engine,
                    detail: format!("more than {} bytes of audio", remote::MAX_AUDIO),
                });
            }
            all.extend_from_slice(&chunk);
            if body.is_none() {
                body = wav_header(&all).map(|(b, data)| {
                    consumed = data;
                    b
                });
                if body.is_none() && all.len() > 64 << 10 {
                    body = Some(Body::Whole); // no data chunk in the first 64 KiB
                }
            }
            if let Some(Body::Pcm { rate, channels }) = body {
                let p = match player.as_mut() {
                    Some(p) => p,
                    None => {
                        meter::ready(engine, t0);
                        player.insert(Player::new(engine, rate, channels, &port)?)
                    }
                };
                let usable = consumed + (all.len() - consumed) / p.frame_bytes * p.frame_bytes;
                p.play(&all[consumed..usable], &port).await?;
                consumed = usable;
            }
        }
        let file = match (&body, engine) {
            (Some(Body::Pcm { .. }), TtsEngine::OpenAi) => wav(&all, 24000),
            _ => std::mem::take(&mut all),
        };
        if file.is_empty() {
            return Err(TtsError::Failed {
                engine,
                detail: "empty audio".into(),
            });
        }
        let extension = match body {
            Some(Body::Pcm { .. }) => "wav",
            _ => remote::sniff(&file).unwrap_or("wav"),
        };
        let path = i
            .cache
            .store(key, extension, &file)
            .await
            .map_err(TtsError::Io)?;
        let Some(mut p) = player else {
            meter::ready(engine, t0);
            return Ok(Spoken::Cached(path));
        };
        p.finish(&port).await?;
        // Wait for the last frame to be played (bounded by what was queued).
        if port.mark(1).await.is_ok() {
            let most = p.queued + Duration::from_secs(2);
            let _ = tokio::time::timeout(most, async {
                while let Some(m) = port.next_mark().await {
                    if m == 1 {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(Spoken::Played)
    }
}

/// The PCM format and where its data starts, once a WAV header is complete; `Whole` for a WAV
/// that is not 16-bit PCM and for anything that is not a WAV.
fn wav_header(b: &[u8]) -> Option<(Body, usize)> {
    if b.len() < 12 {
        return None;
    }
    if &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Some((Body::Whole, 0));
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        if id == b"data" {
            return Some(match fmt {
                Some((1, channels, rate, 16)) if channels > 0 && rate > 0 => {
                    (Body::Pcm { rate, channels }, at + 8)
                }
                _ => (Body::Whole, 0),
            });
        }
        let end = at + 8 + len + (len & 1);
        if id == b"fmt " {
            if b.len() < at + 24 {
                return None;
            }
            let f = &b[at + 8..];
            fmt = Some((
                u16::from_le_bytes([f[0], f[1]]),
                u16::from_le_bytes([f[2], f[3]]),
                u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
                u16::from_le_bytes([f[14], f[15]]),
            ));
        }
        if end > (1 << 20) {
            return Some((Body::Whole, 0));
        }
        at = end;
    }
    None
}

/// PCM bytes → 20 ms frames at the port's rate, queued on the port.
struct Player {
    engine: TtsEngine,
    frame_bytes: usize,
    resampler: Resampler,
    frame: usize,
    pending: Vec<i16>,
    scratch: Vec<f32>,
    out: Vec<f32>,
    /// Audio queued so far.
    queued: Duration,
}

impl Player {
    fn new(
        engine: TtsEngine,
        rate: u32,
        channels: u16,
        port: &AudioPort,
    ) -> Result<Player, TtsError> {
        let to = port.format().rate;
        let resampler = Resampler::with_chunk(rate, to, (rate / 50) as usize).map_err(|e| {
            TtsError::Failed {
                engine,
                detail: e.to_string(),
            }
        })?;
        Ok(Player {
            engine,
            frame_bytes: 2 * usize::from(channels),
            resampler,
            frame: port.format().samples_per_frame(),
            pending: Vec::new(),
            scratch: Vec::new(),
            out: Vec::new(),
            queued: Duration::ZERO,
        })
    }

    async fn play(&mut self, pcm: &[u8], port: &AudioPort) -> Result<(), TtsError> {
        self.scratch.clear();
        for s in pcm.chunks_exact(self.frame_bytes) {
            // The first channel of each sample frame.
            self.scratch
                .push(f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0);
        }
        self.out.clear();
        self.resampler
            .push(&self.scratch, &mut self.out)
            .map_err(|e| TtsError::Failed {
                engine: self.engine,
                detail: e.to_string(),
            })?;
        self.pending.extend(
            self.out
                .iter()
                .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
        );
        self.send_whole(port).await
    }

    async fn send_whole(&mut self, port: &AudioPort) -> Result<(), TtsError> {
        while self.pending.len() >= self.frame {
            let samples: Vec<i16> = self.pending.drain(..self.frame).collect();
            port.send(AudioFrame { samples })
                .await
                .map_err(|_| TtsError::Failed {
                    engine: self.engine,
                    detail: "the call's audio went away".into(),
                })?;
            self.queued += Duration::from_millis(20);
        }
        Ok(())
    }

    /// Flushes the resampler and pads the last frame.
    async fn finish(&mut self, port: &AudioPort) -> Result<(), TtsError> {
        self.out.clear();
        let _ = self.resampler.finish(&mut self.out);
        self.pending.extend(
            self.out
                .iter()
                .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
        );
        if !self.pending.is_empty() {
            let pad = self.frame - self.pending.len() % self.frame;
            if pad < self.frame {
                self.pending.extend(std::iter::repeat_n(0, pad));
            }
        }
        self.send_whole(port).await
    }
}
