//! Voice agents on live calls: the I/O around [`crate::realtime::AgentSession`].
//!
//! - [`ws`]: opening the Realtime websocket (Bearer key, rustls, timeouts, typed refusals).
//! - [`pump`]: the task serving one session (socket, call audio, webhooks, timer).
//! - [`runtime`]: the agents' own runtime, which batches the wake-ups of many calls.
//! - [`bridge`]: the call's PCM frames ⇄ the session's `audio/pcmu`, `audio/pcma` or 24 kHz PCM.
//! - [`tools`]: a webhook tool's HTTP call.
//! - [`meter`]: connect and first-audio latency and session errors for `/metrics`.
//! - [`transcribe`]: the `openai` speech recognizer (a Realtime transcription session).
//! - [`session_config`]: an `agent` node's request + the `openai:` settings → a session.
//!
//! Not owned here: the protocol decisions (`realtime`), the flow side (`machine::agent`), the
//! call's audio (the leg's audio port).

pub mod bridge;
pub mod meter;
pub mod pump;
pub mod runtime;
pub mod tools;
pub mod transcribe;
pub mod ws;

use crate::config::openai::OpenAiConfig;
use crate::machine::io::AgentRequest;
use crate::realtime::{AudioFormat, SessionConfig};

/// The session an agent node asks for, with the configured defaults filled in.
pub fn session_config(
    req: &AgentRequest,
    openai: &OpenAiConfig,
    format: AudioFormat,
) -> SessionConfig {
    SessionConfig {
        model: req.model.clone().unwrap_or_else(|| openai.model.clone()),
        voice: req.voice.clone().or_else(|| openai.voice.clone()),
        instructions: req
            .instructions
            .clone()
            .or_else(|| openai.instructions.clone()),
        greeting: req.greeting.clone(),
        format,
        turn_detection: req.turn_detection.clone(),
        dtmf: req.dtmf,
        tools: req.tools.clone(),
        transcription_model: req.transcribe.then(|| openai.transcription_model.clone()),
        silence_timeout: req.silence_timeout,
        max_duration: req.max_duration,
        connect_timeout: openai.connect_timeout,
    }
}
