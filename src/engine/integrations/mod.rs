//! The side requests a call makes besides playing audio — text to speech, webhooks, speech
//! recognition, voice agents, bot streams, recordings — as data ([`Request`] out of the call
//! driver, [`Done`] back into it) and the tokio runner that executes them ([`tasks::Tasks`]).
//!
//! Every request is a pair with one [`RequestId`] (STYLE §1): the driver emits a `Request`,
//! the runner starts a task, the task sends one `Done` with the same id. A request that needs
//! the caller's audio (listen, agent, stream, record) is handed an
//! [`AudioPort`](crate::engine::audio_port::AudioPort) attached to the call's leg; no
//! integration knows which kind of leg (SIP, Twilio...) it talks to.
//!
//! Adding an integration: a module here with `async fn run(req, ctx) -> Done` and one match
//! arm in [`tasks::Tasks::start`] (see ARCHITECTURE.md, "Adding an integration"). Not owned here:
//! what a result means to the flow (the machine), when a request is abandoned (the driver).

pub mod agent;
pub mod echo;
pub mod listen;
pub mod record;
pub mod stream;
pub mod tasks;

use std::path::PathBuf;
use std::time::Duration;

use crate::flow::digit::Digit;
use crate::flow::program::{AsrEngine, ListenGrammar, TtsEngine};
use crate::machine::io::{
    AgentOutcome, AgentRequest, HttpReply, HttpRequest, RecordingInfo, RequestId, StreamRequest,
};

/// The failure given to requests this server has no provider for.
pub use crate::engine::services::NOT_CONFIGURED;

/// A side request of the call driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Speak `text`; the result is an audio file the leg then plays.
    Say {
        id: RequestId,
        text: String,
        voice: Option<String>,
        /// `None`: the configured engine.
        engine: Option<TtsEngine>,
    },
    Http(HttpRequest),
    /// Recognise the caller's speech (needs audio). Reports [`Done::SpeechStarted`] when the
    /// caller starts talking, then [`Done::Speech`].
    Listen {
        id: RequestId,
        timeout: Duration,
        language: Option<String>,
        /// `None` = `asr.engine`.
        engine: Option<AsrEngine>,
        /// End-of-speech silence; `None` = `asr.silence`.
        silence: Option<Duration>,
        grammar: ListenGrammar,
    },
    /// Hand the caller to a voice agent (needs audio both ways).
    Agent {
        id: RequestId,
        agent: Box<AgentRequest>,
    },
    /// Connect the caller to a bot over a websocket (needs audio both ways).
    Stream(StreamRequest),
    /// Record the caller (needs audio).
    Record {
        id: RequestId,
        max: Duration,
        beep: bool,
        silence: Option<Duration>,
        /// The node's name (part of the file name).
        node: String,
    },
}

impl Request {
    pub fn id(&self) -> RequestId {
        match self {
            Request::Http(r) => r.id,
            Request::Stream(r) => r.id,
            Request::Say { id, .. }
            | Request::Listen { id, .. }
            | Request::Agent { id, .. }
            | Request::Record { id, .. } => *id,
        }
    }

    /// Whether the request is attached to the caller's audio.
    pub fn needs_audio(&self) -> bool {
        matches!(
            self,
            Request::Listen { .. }
                | Request::Agent { .. }
                | Request::Stream(_)
                | Request::Record { .. }
        )
    }

    /// Short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Say { .. } => "say",
            Request::Http(_) => "http",
            Request::Listen { .. } => "listen",
            Request::Agent { .. } => "agent",
            Request::Stream(_) => "stream",
            Request::Record { .. } => "record",
        }
    }
}

/// A finished side request, with its id.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// The speech file for a `Say`.
    Tts {
        id: RequestId,
        result: Result<PathBuf, String>,
    },
    /// A `Say` already played through the call's audio (a remote engine, streamed).
    Spoken {
        id: RequestId,
        result: Result<(), String>,
    },
    Http {
        id: RequestId,
        result: Result<HttpReply, String>,
    },
    /// A listen heard the caller start talking (not final: the `Speech` follows).
    SpeechStarted { id: RequestId },
    Speech {
        id: RequestId,
        result: Result<String, String>,
    },
    Agent {
        id: RequestId,
        result: Result<AgentOutcome, String>,
    },
    Stream {
        id: RequestId,
        result: Result<serde_json::Value, String>,
    },
    /// The bot asked to transfer the caller; its session is over.
    StreamTransfer { id: RequestId, target: String },
    Record {
        id: RequestId,
        result: Result<RecordingInfo, String>,
    },
}

impl Done {
    pub fn id(&self) -> RequestId {
        match self {
            Done::Tts { id, .. }
            | Done::Spoken { id, .. }
            | Done::Http { id, .. }
            | Done::SpeechStarted { id }
            | Done::Speech { id, .. }
            | Done::Agent { id, .. }
            | Done::Stream { id, .. }
            | Done::StreamTransfer { id, .. }
            | Done::Record { id, .. } => *id,
        }
    }

    /// Whether this ends its request (everything but [`Done::SpeechStarted`]).
    pub fn is_final(&self) -> bool {
        !matches!(self, Done::SpeechStarted { .. })
    }

    /// The failure a request gets at once when nothing can run it.
    pub fn failed(req: &Request, reason: String) -> Done {
        let id = req.id();
        match req {
            Request::Say { .. } => Done::Tts {
                id,
                result: Err(reason),
            },
            Request::Http(_) => Done::Http {
                id,
                result: Err(reason),
            },
            Request::Listen { .. } => Done::Speech {
                id,
                result: Err(reason),
            },
            Request::Agent { .. } => Done::Agent {
                id,
                result: Err(reason),
            },
            Request::Stream(_) => Done::Stream {
                id,
                result: Err(reason),
            },
            Request::Record { .. } => Done::Record {
                id,
                result: Err(reason),
            },
        }
    }
}

/// A signal for a running request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// End a recording now (its `finish_on` key); its `Done` follows as usual.
    Finish,
    /// A key the caller pressed: for a bot stream, or a voice agent whose `dtmf` is `send` or
    /// `end`.
    Dtmf(Digit),
}

/// What a running integration asks of the call while it runs (answered by nothing: the leg
/// does it, or the driver drops it when the request is no longer in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Send a key to the caller's side (RFC 4733 on SIP).
    SendDtmf(Digit),
}
