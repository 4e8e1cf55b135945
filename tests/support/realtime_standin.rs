//! A stand-in for the OpenAI Realtime API (GA protocol, WebSocket transport), for tests.
//!
//! Written from the published protocol — the GA event and field names of the openai-python
//! types (`types/realtime/*`) and the API guide — not from phonetree's client code, and it
//! shares none of it (its own JSON handling, base64 and G.711). What it does, as the service
//! does:
//!
//! - The upgrade: only `Authorization: Bearer <key>`; a wrong or missing key gets HTTP 401 with
//!   the API's JSON error (`invalid_api_key`); the retired beta header `OpenAI-Beta:
//!   realtime=v1` gets HTTP 400 `beta_api_shape_disabled`.
//! - `session.created` first; `session.update` is checked (`session.type` must be `realtime`, or
//!   `transcription` on a `?intent=transcription` connection, with a transcription model;
//!   formats must be GA formats, beta-only fields are refused, the voice cannot change once
//!   audio went out) and answered with `session.updated`.
//! - `input_audio_buffer.append` in the session's input format feeds an energy VAD that
//!   counts time in audio milliseconds: `speech_started` / `speech_stopped` / `committed` /
//!   `conversation.item.added`. With `create_response` a turn's end starts a response; with
//!   `interrupt_response` speech during a response cancels it (`response.done` `cancelled`,
//!   `turn_detected`).
//! - Responses send `response.output_audio.delta`s of a scripted answer encoded in the output
//!   format, faster than real time (`speed`), with transcripts and `response.done` usage; or a
//!   scripted function call (`response.function_call_arguments.done`).
//! - `conversation.item.truncate` is checked (an assistant item, `audio_end_ms` within what was
//!   sent) and recorded; `function_call_output` items are recorded; a second `response.create`
//!   while one is active is refused (`conversation_already_has_active_response`).
//!
//! Everything it saw is in [`Seen`] for the test to assert on. It runs on its own thread and
//! runtime, bound to 127.0.0.1:0, and stops when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

#[path = "realtime_standin_conversation.rs"]
mod conversation;
#[path = "realtime_standin_respond.rs"]
mod respond;
#[path = "realtime_standin_wire.rs"]
mod wire;

use conversation::Conversation;
use respond::{Plan, Responder};
#[allow(unused_imports)] // each test binary uses some
pub use wire::{alaw, alaw_decode, b64_decode, b64_encode, ulaw, ulaw_decode};
use wire::{usage, Fmt};

/// One agent answer: 8 kHz 16-bit mono PCM and what it says.
#[derive(Debug, Clone)]
pub struct Answer {
    pub pcm8k: Vec<i16>,
    pub transcript: String,
    /// A function call made in the same response, after the audio.
    pub then_call: Option<(String, Value)>,
}

/// What the stand-in does in a conversation.
#[derive(Debug, Clone)]
pub struct Script {
    pub api_key: String,
    /// Played, in order, for each response that is not a tool call: the greeting (a
    /// `response.create` at start), then each later response.
    pub answers: Vec<Answer>,
    /// At the end of the caller's first turn, the model calls this tool instead of answering.
    pub tool_call: Option<(String, Value)>,
    /// Times real time the answers are sent at.
    pub speed: f64,
    /// Audio per delta.
    pub delta_ms: u64,
    /// RMS (of 16-bit samples) above which a 20 ms window is speech.
    pub vad_threshold: f64,
    /// Speech windows in a row that start a turn.
    pub vad_start_windows: u32,
    /// Silence that ends a turn unless the session says otherwise.
    pub silence_ms: u64,
    /// Send an `error` event (server_error) this long after the session starts.
    pub error_after: Option<Duration>,
    /// Transcription sessions (`?intent=transcription`): the transcript of each caller turn.
    pub transcripts: Vec<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            api_key: "sk-test".into(),
            answers: Vec::new(),
            tool_call: None,
            speed: 4.0,
            delta_ms: 100,
            vad_threshold: 800.0,
            vad_start_windows: 3,
            silence_ms: 500,
            error_after: None,
            transcripts: Vec::new(),
        }
    }
}

/// Everything the stand-in saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Upgrades refused: (status, code).
    pub refused: Vec<(u16, String)>,
    /// Connections accepted: the request path with its query.
    pub connections: Vec<String>,
    /// `session.update` payloads (the `session` object).
    pub session_updates: Vec<Value>,
    /// Errors the stand-in sent: (code, message).
    pub errors_sent: Vec<(String, String)>,
    /// Milliseconds of caller audio appended.
    pub appended_ms: u64,
    /// The first bytes of caller audio appended (as sent, in the input format; at most 1 MiB).
    pub appended: Vec<u8>,
    /// Caller turns (audio ms): (start, end).
    pub turns: Vec<(u64, Option<u64>)>,
    /// Truncations: (item id, audio_end_ms, ms of that item sent).
    pub truncations: Vec<(String, u64, u64)>,
    /// `function_call_output`s: (call id, output).
    pub tool_outputs: Vec<(String, String)>,
    /// Tool calls made: (call id, name, arguments).
    pub tool_calls: Vec<(String, String, String)>,
    /// Responses: (id, final status).
    pub responses: Vec<(String, String)>,
    /// User text messages (`conversation.item.create` with `input_text`).
    pub user_texts: Vec<String>,
    /// Client event types in order.
    pub client_events: Vec<String>,
}

pub struct Standin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Standin {
    pub fn start(script: Script) -> Standin {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let seen2 = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(l.local_addr().expect("addr")).expect("addr");
                let script = Arc::new(script);
                tokio::select! {
                    _ = stop_rx => {}
                    () = async {
                        loop {
                            let Ok((s, _)) = l.accept().await else { continue };
                            let (script, seen) = (script.clone(), seen2.clone());
                            tokio::spawn(async move { connection(s, script, seen).await });
                        }
                    } => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("stand-in started");
        Standin {
            addr,
            seen,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/v1`, the `openai.base_url` pointing at it.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn record(seen: &Arc<Mutex<Seen>>, f: impl FnOnce(&mut Seen)) {
    f(&mut seen.lock().unwrap());
}

async fn connection(s: tokio::net::TcpStream, script: Arc<Script>, seen: Arc<Mutex<Seen>>) {
    let key = script.api_key.clone();
    let seen_hs = seen.clone();
    // The signature is tungstenite's `Callback`.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let h = req.headers();
        let refuse = |status: StatusCode, code: &str, message: &str| {
            record(&seen_hs, |s| s.refused.push((status.as_u16(), code.into())));
            let body = json!({"error": {"type": "invalid_request_error", "code": code,
                                        "message": message, "param": null}})
            .to_string();
            let mut r = ErrorResponse::new(Some(body));
            *r.status_mut() = status;
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        };
        if h.get("openai-beta").is_some() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Please use the GA API.",
            ));
        }
        let auth = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bearer {key}") {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "Incorrect API key provided.",
            ));
        }
        let path = req.uri().to_string();
        record(&seen_hs, |s| s.connections.push(path));
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
        return;
    };
    let intent_transcription = seen
        .lock()
        .unwrap()
        .connections
        .last()
        .is_some_and(|p| p.contains("intent=transcription"));
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            if sink
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut c = Conversation::new(script.clone(), seen.clone(), tx.clone());
    c.transcription = intent_transcription;
    let (eid, sid) = (c.id("event"), c.id("sess"));
    c.send(json!({"type": "session.created", "event_id": eid,
        "session": {"type": "realtime", "object": "realtime.session", "id": sid,
                    "model": "gpt-realtime", "output_modalities": ["audio"],
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                        "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                            "prefix_padding_ms": 300, "silence_duration_ms": 200,
                                            "create_response": true, "interrupt_response": true}},
                              "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}}}}));
    if let Some(after) = script.error_after {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(json!({"type": "error", "event_id": "evt_err",
                "error": {"type": "server_error", "code": "server_error",
                          "message": "The server had an error while processing your request."}}));
        });
    }
    while let Some(msg) = stream.next().await {
        let Ok(Message::Text(t)) = msg else {
            if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                break;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            c.error("invalid_json", "The event is not valid JSON.", None);
            continue;
        };
        c.client_event(v).await;
    }
    c.cancel_active("client_gone");
    drop(c);
    drop(tx);
    let _ = writer.await;
}
