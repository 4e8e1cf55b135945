//! What an [`super::AgentSession`] asks its pump to do ([`Output`]), the log lines it produces
//! ([`Log`]) and why a session fails ([`AgentError`]).

use std::time::Duration;

use serde_json::Value;

use super::events::{self, Usage};
use super::transcript::Role;
use crate::machine::io::AgentOutcome;

/// Something the pump must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A client event (JSON text frame).
    Send(String),
    /// Agent audio (session format) to queue for the caller.
    Audio(Vec<u8>),
    /// A mark to queue after what is queued; report [`AgentSession::played`] when it plays.
    Mark(u64),
    /// Drop the agent audio queued for the caller, now.
    Clear,
    /// Run the webhook of `tools[tool]` with these arguments; answer with
    /// [`AgentSession::tool_result`].
    CallTool {
        call_id: String,
        tool: usize,
        arguments: Value,
    },
    Log(Log),
    /// The session is over; the pump closes the socket.
    End(Result<AgentOutcome, AgentError>),
}

/// A line for the call's log. Transcripts are the caller's words: the pump logs them at
/// debug level only.
#[derive(Debug, Clone, PartialEq)]
pub enum Log {
    Transcript { role: Role, text: String },
    Warning(String),
    BargeIn { item_id: String, heard_ms: u64 },
    Usage(Usage),
}

/// Why a session failed (the flow takes `on_error`).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentError {
    /// No connection (or no open socket) within the connect timeout.
    ConnectTimeout(Duration),
    /// The server sent an `error` event.
    Server(events::ServerError),
    /// The socket closed (or failed) before the session ended.
    Closed(String),
    /// The agent did not answer within the silence timeout.
    NoAnswer(Duration),
    /// A server event we could not read.
    Protocol(String),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::ConnectTimeout(d) => {
                write!(f, "no Realtime session within {}s", d.as_secs_f32())
            }
            AgentError::Server(e) => write!(f, "server error: {e}"),
            AgentError::Closed(why) => write!(f, "connection closed: {why}"),
            AgentError::NoAnswer(d) => {
                write!(f, "the agent did not answer within {}s", d.as_secs_f32())
            }
            AgentError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}
