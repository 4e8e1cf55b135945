//! What goes into and comes out of the call machine.
//!
//! Every integration is a pair: an [`Action`] with an id (`Http { id, .. }`) that the driver
//! executes, and an [`Input`] carrying the same id back (`HttpResponse { id, .. }`). Ids are
//! per-call counters, so a late answer to an abandoned request is recognised and ignored.
//! Time is never read here: the driver passes `now` to `handle` and asks `poll_timeout`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::flow::digit::Digit;
use crate::flow::program::{
    AgentDtmf, AgentProvider, AsrEngine, HttpMethod, ListenGrammar, NodeId, StreamProtocol,
    TtsEngine, TurnDetection,
};

/// What the machine emits, in the order it happened: the actions, and the nodes it entered
/// between them (pure routing nodes such as `switch`, `set`, `goto` included). A driver that
/// only executes actions uses [`crate::machine::Call::poll_action`], which skips the entries;
/// one that tells the story of the call ([`crate::trace::CallTrace`]) uses
/// [`crate::machine::Call::poll_emitted`].
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Entered(NodeId),
    Action(Action),
}

/// Identifies one request the machine made (playback, http, listen, agent, stream, record,
/// transfer). Unique within a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Facts about the call, fixed at its start.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub id: String,
    pub from: String,
    pub to: String,
    /// `inbound` or `outbound` (`call.direction` in templates).
    pub direction: Direction,
    /// Values of the flow's allow-listed environment variables (others are never passed in).
    pub env: BTreeMap<String, String>,
    /// The leg's custom parameters (`call.params`: Twilio's `<Parameter>`s; empty on SIP).
    pub params: BTreeMap<String, String>,
    /// Variables given with the call (an outbound job's `vars`), set over the flow's `vars:`.
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// Who placed the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// Someone called us (a flow picked by route).
    #[default]
    Inbound,
    /// We called out (an outbound job).
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// An event for the machine.
#[derive(Debug, Clone)]
pub enum Input {
    /// The call is up; the flow starts.
    Answered,
    /// A key from the caller (any transport; the engine de-duplicates).
    Dtmf(Digit),
    /// A `Play`/`Say` finished on its own (not stopped).
    PlaybackFinished(RequestId),
    /// Playback could not start or broke (missing remote stream, TTS failure): treated as finished.
    PlaybackFailed { id: RequestId, reason: String },
    /// `now` reached the deadline returned by `poll_timeout`.
    Timeout,
    HttpResponse {
        id: RequestId,
        result: Result<HttpReply, String>,
    },
    /// The caller started speaking during a `Listen` (stops its prompt: barge-in).
    SpeechStarted { id: RequestId },
    /// A speech recognition result for a `Listen`.
    Speech {
        id: RequestId,
        result: Result<String, String>,
    },
    /// A voice agent session ended: its result (saved under the node's `save`) and where the
    /// flow goes next; an error takes the node's `on_error`.
    AgentEnded {
        id: RequestId,
        result: Result<AgentOutcome, String>,
    },
    /// A bot websocket session ended.
    StreamEnded {
        id: RequestId,
        result: Result<serde_json::Value, String>,
    },
    /// A bot asked to transfer the caller (its session is over); the machine transfers as a
    /// `transfer` node would, with the target checked as a dynamic one.
    StreamTransfer { id: RequestId, target: String },
    /// A recording finished; `path` is where it was stored.
    RecordFinished {
        id: RequestId,
        result: Result<RecordingInfo, String>,
    },
    /// Outcome of a transfer (REFER accepted and NOTIFY 200, or a failure code).
    TransferResult {
        id: RequestId,
        result: Result<(), String>,
    },
    /// The far end hung up.
    Hangup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub status: u16,
    /// Parsed JSON body, or `Null` when the body was empty or not JSON.
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInfo {
    pub path: String,
    pub duration: Duration,
    /// Bytes written (the WAV file's size).
    pub size: u64,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play a prompt; report `PlaybackFinished(id)` when it ends.
    Play {
        id: RequestId,
        media: Media,
    },
    /// Speak text with TTS; report `PlaybackFinished(id)` when it ends.
    Say {
        id: RequestId,
        text: String,
        voice: Option<String>,
        /// `None` = the configured default engine.
        engine: Option<TtsEngine>,
    },
    /// Stop a playback (barge-in or leaving the node); no `PlaybackFinished` follows.
    Stop {
        id: RequestId,
    },
    /// The theme changed (for logs/dashboard; prompts already resolve to the new theme).
    Theme {
        name: String,
    },
    Http(HttpRequest),
    /// Start speech recognition on the caller's audio (the prompt may still be playing);
    /// report `SpeechStarted { id }` when the caller starts talking and `Speech { id, .. }` with
    /// the transcript. The machine times the listen itself (`timeout`, for information).
    Listen {
        id: RequestId,
        timeout: Duration,
        language: Option<String>,
        /// `None` = the server's default engine.
        engine: Option<AsrEngine>,
        /// End-of-speech silence; `None` = the server's default.
        silence: Option<Duration>,
        grammar: ListenGrammar,
    },
    /// Abandon a listen/agent/stream/record session.
    Cancel {
        id: RequestId,
    },
    /// Start a voice agent session; report `AgentEnded { id, .. }`.
    Agent {
        id: RequestId,
        agent: Box<AgentRequest>,
    },
    /// The flow is about to enter an agent node (it is the `next` of what plays now): open the
    /// connection and configure the session ahead, so the agent answers without a handshake's
    /// delay. Only a hint: the `Agent` action that follows carries the request to run.
    PrepareAgent {
        agent: Box<AgentRequest>,
    },
    /// A key pressed during an agent session whose `dtmf` is `send` or `end`.
    AgentDtmf {
        id: RequestId,
        digit: Digit,
    },
    /// Connect the caller to a bot; report `StreamEnded { id, .. }` (or `StreamTransfer`).
    Stream(StreamRequest),
    /// A key the caller pressed during a stream session, for the bot.
    StreamDtmf {
        id: RequestId,
        digit: Digit,
    },
    Record {
        id: RequestId,
        max: Duration,
        beep: bool,
        /// End after this much continuous silence.
        silence: Option<Duration>,
    },
    /// End a recording early (its `finish_on` key); `RecordFinished` follows as usual.
    FinishRecording {
        id: RequestId,
    },
    Transfer {
        id: RequestId,
        target: String,
    },
    /// An `ack` node: record the mark for the outbound call's job (nothing to report back).
    Mark {
        mark: crate::flow::program::Mark,
    },
    /// End the call. Always the last action.
    Hangup {
        reason: HangupReason,
    },
    /// A runtime problem the flow author should see (template error, bad webhook JSON...).
    Warn {
        node: String,
        message: String,
    },
}

/// A `stream` node's session, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRequest {
    pub id: RequestId,
    pub url: String,
    pub protocol: StreamProtocol,
    pub headers: Vec<(String, String)>,
    /// Sent to the bot at the start.
    pub custom: BTreeMap<String, String>,
    /// Sample rate of the caller's audio for a `ringover` bot.
    pub rate: u32,
    /// The call's facts, for the bot's start message.
    pub call_id: String,
    pub from: String,
    pub to: String,
}

/// A voice agent session, rendered: templates are text, targets are left to the machine (tools
/// that leave the conversation are reported back by index). `None` fields take the engine's
/// configured defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRequest {
    pub provider: AgentProvider,
    pub model: Option<String>,
    pub voice: Option<String>,
    pub instructions: Option<String>,
    pub greeting: Option<String>,
    pub turn_detection: Option<TurnDetection>,
    pub dtmf: AgentDtmf,
    pub tools: Vec<ToolRequest>,
    pub transcribe: bool,
    pub silence_timeout: Duration,
    pub max_duration: Option<Duration>,
}

/// One tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRequest {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
    pub kind: ToolKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolKind {
    /// Call the webhook with the arguments as the JSON body; its body answers the model.
    Webhook(WebhookRequest),
    /// Leave the conversation for a flow node (reported as [`AgentThen::Goto`]).
    Goto,
    /// Hang up once the agent's last words have played.
    EndCall,
    /// Transfer to one of these names (reported as [`AgentThen::Transfer`] with its index).
    Transfer { targets: Vec<String> },
}

/// A webhook tool, with its url and headers rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u8,
}

/// How an agent session ended, as the engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOutcome {
    /// Saved under the node's `save`: `{transcript, intent, result, usage, ended_by}`.
    pub result: serde_json::Value,
    pub then: AgentThen,
}

/// Where the flow goes after an agent session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentThen {
    /// The node's `next` (caller silence, `dtmf: end`, `max_duration`, the caller's wish).
    Next,
    /// The `goto` tool at this index of the request's `tools`.
    Goto { tool: usize },
    /// The built-in `end_call`: hang up.
    EndCall,
    /// The built-in `transfer`, to the target at this index of its `targets`.
    Transfer { target: usize },
}

/// What a `Play` plays.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// A local file, already resolved for the current theme.
    File(PathBuf),
    /// A remote stream.
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub id: RequestId,
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub timeout: Duration,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupReason {
    /// A `hangup` node (with its optional reason).
    Flow(Option<String>),
    /// The caller hung up. The machine still emits `Hangup { reason: Remote }` (after stopping or
    /// cancelling what was in flight), so a driver always sees exactly one end of the call.
    Remote,
    /// The call was transferred away.
    Transferred,
    /// A `gather`/`listen` ran out of tries with no `on_fail`.
    Failed,
    /// `return` at top level.
    Returned,
    /// Too many nodes without waiting (guard against loops the compiler could not rule out).
    Loop,
    /// An error the flow has no branch for.
    Error(String),
}

impl HangupReason {
    /// Short machine-readable name (`simulate` prints it).
    pub fn as_str(&self) -> &str {
        match self {
            HangupReason::Flow(Some(r)) => r,
            HangupReason::Flow(None) => "flow",
            HangupReason::Remote => "remote",
            HangupReason::Transferred => "transferred",
            HangupReason::Failed => "failed",
            HangupReason::Returned => "returned",
            HangupReason::Loop => "loop",
            HangupReason::Error(_) => "error",
        }
    }
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}
