//! The `openai` speech recognizer's task: a Realtime transcription session
//! ([`crate::realtime::TranscribeSession`]) over the agent's websocket code.
//!
//! The caller's audio comes in as 20 ms PCM frames at any rate (the listen side's), goes out as
//! 24 kHz PCM (the [`Bridge`]); the session's partial and final transcripts come back on a
//! channel. [`Feed::Finish`] (the listen side decided the utterance is over) commits the audio
//! and waits briefly for its transcript. Dropping the feed sender abandons the recognition.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::bridge::Bridge;
use super::pump::Endpoint;
use super::ws;
use crate::realtime::transcribe::{TranscribeConfig, TranscribeOutput, TranscribeSession};
use crate::realtime::AudioFormat;

/// What the listen side sends.
#[derive(Debug)]
pub enum Feed {
    /// 20 ms of the caller at the rate given to [`run`].
    Audio(Vec<i16>),
    /// The utterance is over.
    Finish,
}

/// What the recognizer reports. `Final` and `Failed` are the last.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    SpeechStarted,
    Partial(String),
    Final(String),
    Failed(String),
}

/// Runs one recognition. `endpoint.url` is the transcription URL
/// (`OpenAiConfig::transcription_url`).
pub async fn run(
    endpoint: Endpoint,
    mut cfg: TranscribeConfig,
    rate: u32,
    mut feed: mpsc::Receiver<Feed>,
    out: mpsc::Sender<Heard>,
) {
    cfg.format = AudioFormat::Pcm24k;
    let mut session = TranscribeSession::new(cfg, Instant::now());
    let mut bridge = match Bridge::new(AudioFormat::Pcm24k, rate) {
        Ok(b) => b,
        Err(e) => {
            let _ = out.send(Heard::Failed(format!("audio: {e}"))).await;
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
                    let _ = out.send(Heard::Failed(e.to_string())).await;
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
                TranscribeOutput::SpeechStarted => Heard::SpeechStarted,
                TranscribeOutput::Partial(p) => {
                    tracing::debug!(call = %endpoint.label, "listen (openai): partial: {p}");
                    Heard::Partial(p)
                }
                TranscribeOutput::Final(f) => Heard::Final(f),
                TranscribeOutput::Failed(e) => {
                    tracing::warn!(call = %endpoint.label, error = %e, "listen (openai) failed");
                    Heard::Failed(e.to_string())
                }
            };
            let last = matches!(heard, Heard::Final(_) | Heard::Failed(_));
            if out.send(heard).await.is_err() || last {
                let _ = ws.close(None).await;
                return;
            }
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
