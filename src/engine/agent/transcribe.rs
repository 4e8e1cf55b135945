//! The `openai` speech recognizer: a Realtime transcription session
//! ([`crate::realtime::TranscribeSession`]) over the agent's websocket code, behind the one
//! listen interface ([`crate::asr::Recognizer`]); the server plugs it in with
//! [`crate::asr::engines::Engines::with_openai`] ([`engine`]).
//!
//! The caller's audio comes in as 16 kHz PCM ([`crate::asr::RATE`]), goes out as 24 kHz PCM
//! (the [`Bridge`]); the session's partial and final transcripts come back as
//! [`AsrEvent`]s. The server's VAD ends a turn after the request's silence (the node's
//! `listen.silence`, as `turn_detection.silence_duration_ms`); [`Feed::Finish`] (the listen core
//! decided the utterance is over) commits the audio and waits briefly for its transcript. Dropping the recognizer abandons the recognition.

use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::bridge::Bridge;
use super::pump::Endpoint;
use super::ws;
use crate::asr::engines::OpenAiRecognizer;
use crate::asr::{AsrError, AsrEvent, ChannelSink, Feed, Recognizer, Request};
use crate::config::openai::OpenAiConfig;
use crate::realtime::transcribe::{TranscribeConfig, TranscribeOutput, TranscribeSession};
use crate::realtime::AudioFormat;

/// Events a recognition may queue for the listen side (partials are dropped when it is full).
const EVENT_QUEUE: usize = 64;

/// The `openai` engine for [`crate::asr::engines::Engines::with_openai`]: `None` without an
/// API key (the engine then reports "needs openai.api_key").
pub fn engine(openai: Arc<OpenAiConfig>, http: reqwest::Client) -> Option<OpenAiRecognizer> {
    let key = openai.api_key.clone()?;
    Some(Arc::new(move |req: &Request| {
        let endpoint = Endpoint {
            url: openai.transcription_url(),
            key: key.clone(),
            connect_timeout: openai.connect_timeout,
            http: http.clone(),
            label: req.call.as_str().into(),
        };
        let cfg = TranscribeConfig {
            model: openai.transcription_model.clone(),
            language: Some(req.language.clone()),
            prompt: req
                .grammar
                .as_ref()
                .filter(|g| !g.is_digits())
                .map(|g| g.phrases().join(", ")),
            format: AudioFormat::Pcm24k,
            // The server's VAD ends the turn after the same silence as the listen core.
            silence: Some(req.silence),
            connect_timeout: openai.connect_timeout,
        };
        recognizer(endpoint, cfg)
    }))
}

/// Starts one recognition on the current runtime.
pub fn recognizer(endpoint: Endpoint, cfg: TranscribeConfig) -> Recognizer {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return Recognizer::failed(AsrError::Connect("no runtime".into()));
    };
    let (sink, feed) = ChannelSink::pair();
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    rt.spawn(run(endpoint, cfg, crate::asr::RATE, feed, tx));
    Recognizer::new(Box::new(sink), rx)
}

/// Runs one recognition. `endpoint.url` is the transcription URL
/// (`OpenAiConfig::transcription_url`).
pub async fn run(
    endpoint: Endpoint,
    mut cfg: TranscribeConfig,
    rate: u32,
    mut feed: mpsc::Receiver<Feed>,
    out: mpsc::Sender<AsrEvent>,
) {
    cfg.format = AudioFormat::Pcm24k;
    let mut session = TranscribeSession::new(cfg, Instant::now());
    let mut bridge = match Bridge::new(AudioFormat::Pcm24k, rate) {
        Ok(b) => b,
        Err(e) => {
            let _ = out
                .send(AsrEvent::Error(AsrError::Decoder(format!("audio: {e}"))))
                .await;
            return;
        }
    };
    let mut bytes = Vec::new();
    let connect = ws::connect(&endpoint.url, &endpoint.key, endpoint.connect_timeout);
    tokio::pin!(connect);
    // Audio that comes while the socket opens goes to the session, which keeps it.
    let mut ws = loop {
        tokio::select! {
            r = &mut connect => match r {
                Ok(ws) => break ws,
                Err(e) => {
                    tracing::warn!(call = %endpoint.label, error = %e, "listen (openai): cannot connect");
                    let _ = out.send(AsrEvent::Error(AsrError::Connect(e.to_string()))).await;
                    return;
                }
            },
            f = feed.recv() => match f {
                Some(Feed::Audio(pcm)) => {
                    bytes.clear();
                    if bridge.caller(&pcm, &mut bytes).is_ok() && !bytes.is_empty() {
                        session.audio(&bytes, Instant::now());
                    }
                }
                Some(Feed::Finish) => session.finish(Instant::now()),
                None => return,
            },
        }
    };
    session.connected(Instant::now());
    loop {
        while let Some(o) = session.poll_output() {
            let heard = match o {
                TranscribeOutput::Send(t) => {
                    let _ = ws.send(Message::Text(t.into())).await;
                    continue;
                }
                // The listen core detects speech (barge-in) itself.
                TranscribeOutput::SpeechStarted => continue,
                TranscribeOutput::Partial(p) => {
                    // Partials are informative: never wait for room for one.
                    let _ = out.try_send(AsrEvent::Partial(p));
                    continue;
                }
                TranscribeOutput::Final(f) => AsrEvent::Final(f),
                TranscribeOutput::Failed(e) => {
                    tracing::warn!(call = %endpoint.label, error = %e, "listen (openai) failed");
                    AsrEvent::Error(AsrError::Remote(e.to_string()))
                }
            };
            let _ = out.send(heard).await;
            let _ = ws.close(None).await;
            return;
        }
        let deadline = session.poll_timeout();
        tokio::select! {
            msg = ws.next() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => session.server_text(t.as_str(), now),
                    Some(Ok(Message::Close(_))) | None => session.closed("closed by the server", now),
                    Some(Err(e)) => session.closed(&e.to_string(), now),
                    Some(Ok(_)) => {}
                }
            }
            f = feed.recv() => match f {
                Some(Feed::Audio(pcm)) => {
                    bytes.clear();
                    if bridge.caller(&pcm, &mut bytes).is_ok() && !bytes.is_empty() {
                        session.audio(&bytes, Instant::now());
                    }
                }
                Some(Feed::Finish) => session.finish(Instant::now()),
                None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
            () = sleep_opt(deadline) => session.handle_timeout(Instant::now()),
        }
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}
