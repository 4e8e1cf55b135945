//! The OpenAI Realtime API (GA protocol) as sans-IO machines: no sockets, no clock, no tokio.
//!
//! - [`session`]: [`AgentSession`], one speech-to-speech conversation (`agent` nodes);
//!   [`session_config`] its configuration, [`session_output`] what it asks its pump to do.
//! - [`transcribe`]: [`TranscribeSession`], a transcription session (`listen` on the `openai`
//!   engine): audio in, the caller's words out, the server's VAD deciding the end of speech.
//! - [`events`]: the wire: server events parsed, client events built.
//! - [`format`]: `audio/pcmu`, `audio/pcma`, `audio/pcm` at 24 kHz.
//! - `playback`: what the caller has heard of the agent (marks → `audio_end_ms`).
//! - `transcript`: both sides' words in conversation order, bounded.
//!
//! Not owned here: the websocket, TLS and the API key (`engine::agent`), the call's audio and
//! its codecs (the leg), what a tool's webhook does (`engine::agent::tools`). Only the GA
//! shape is spoken; the beta (`OpenAI-Beta: realtime=v1`) was switched off on 2026-05-12.

pub mod events;
pub mod format;
mod playback;
pub mod session;
pub mod session_config;
pub mod session_output;
pub mod transcribe;
mod transcript;

pub use format::AudioFormat;
pub use session::AgentSession;
pub use session_config::{turn_detection_json, SessionConfig};
pub use session_output::{AgentError, Log, Output};
pub use transcribe::TranscribeSession;
pub use transcript::Role;
