//! The compiled form of an `agent` node: a voice agent (OpenAI Realtime) that talks with the
//! caller until it, the caller or a limit ends the conversation.
//!
//! What the node carries after compilation: defaults not yet applied (`model`, `voice` and
//! `instructions` fall back to the server's `openai.*` settings at run time, so a `None` here
//! means "the configured default"), templates precompiled, tool targets as checked
//! [`Target`]s, tool parameter schemas already checked to be valid JSON Schema. Owned here:
//! the data. Not owned: how a session runs (`machine::session` for the flow side,
//! `realtime` for the protocol, `engine::agent` for the I/O).

use std::time::Duration;

use crate::flow::program::{HttpMethod, Target, TemplateId};

/// Longest silence (nobody speaking, nothing playing) before the flow goes on, when the node does
/// not say.
pub const DEFAULT_SILENCE_TIMEOUT: Duration = Duration::from_secs(20);

/// Names of the built-in tools a flow can switch on.
pub const END_CALL: &str = "end_call";
pub const TRANSFER: &str = "transfer";

#[derive(Debug)]
pub struct Agent {
    pub provider: AgentProvider,
    /// `None` = `openai.model` (`OPENAI_MODEL`).
    pub model: Option<String>,
    /// `None` = `openai.voice` (`OPENAI_VOICE`), else the server's default.
    pub voice: Option<String>,
    /// `None` = `openai.instructions` (`SYSTEM_PROMPT`).
    pub instructions: Option<TemplateId>,
    /// What the agent says first (it speaks before the caller does).
    pub greeting: Option<TemplateId>,
    /// `None` = the server's default (server VAD).
    pub turn_detection: Option<TurnDetection>,
    pub dtmf: AgentDtmf,
    pub tools: Vec<AgentTool>,
    /// Ask the server for transcripts of what the caller says.
    pub transcribe: bool,
    pub silence_timeout: Duration,
    pub max_duration: Option<Duration>,
    pub save: Option<String>,
    pub next: Target,
    pub on_error: Option<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentProvider {
    OpenAi,
    /// The caller's own audio played back (an echo test line).
    Echo,
}

impl AgentProvider {
    /// As written in flows (`openai`).
    pub fn as_str(&self) -> &'static str {
        match self {
            AgentProvider::OpenAi => "openai",
            AgentProvider::Echo => "echo",
        }
    }
}

/// What a key pressed during the conversation does (global keys always keep working).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentDtmf {
    /// Nothing.
    #[default]
    Ignore,
    /// The key is told to the model as a user message.
    Send,
    /// The conversation ends (`ended_by: dtmf`) and the flow goes to `next`.
    End,
}

/// How the server decides that the caller finished speaking.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnDetection {
    /// Voice activity: silence of `silence_duration` ends a turn.
    ServerVad {
        /// 0.0–1.0 (server default 0.5).
        threshold: Option<f64>,
        prefix_padding: Option<Duration>,
        silence_duration: Option<Duration>,
        /// The model speaks again after this much silence from the caller.
        idle_timeout: Option<Duration>,
    },
    /// A turn-detection model decides; `eagerness` trades speed for patience.
    SemanticVad { eagerness: Option<Eagerness> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eagerness {
    Low,
    Medium,
    High,
    Auto,
}

impl Eagerness {
    pub fn as_str(self) -> &'static str {
        match self {
            Eagerness::Low => "low",
            Eagerness::Medium => "medium",
            Eagerness::High => "high",
            Eagerness::Auto => "auto",
        }
    }
}

/// One tool the model may call.
#[derive(Debug)]
pub struct AgentTool {
    /// Unique within the node (the compiler checks).
    pub name: String,
    pub description: String,
    /// A JSON Schema for the arguments (an object schema; checked by the compiler).
    pub parameters: serde_json::Value,
    pub action: ToolAction,
}

#[derive(Debug)]
pub enum ToolAction {
    /// The arguments are POSTed (or sent with `method`) as the JSON body; the response body goes
    /// back to the model.
    Webhook(Box<Webhook>),
    /// The conversation ends; the flow continues at the target with the arguments saved.
    Goto(Target),
    /// Built-in: the model hangs up (after its last words have played).
    EndCall,
    /// Built-in: the call is transferred to one of the listed targets (`name → URI template`);
    /// the model can only pick a name.
    Transfer(Vec<(String, TemplateId)>),
}

/// A tool's webhook, templated like the `http` node (url and header values).
#[derive(Debug)]
pub struct Webhook {
    pub method: HttpMethod,
    pub url: TemplateId,
    pub headers: Vec<(String, TemplateId)>,
    pub timeout: Duration,
    pub retries: u8,
}

impl Agent {
    /// The built-in transfer tool's targets, if the node has one.
    pub fn transfer_targets(&self) -> Option<&[(String, TemplateId)]> {
        self.tools.iter().find_map(|t| match &t.action {
            ToolAction::Transfer(targets) => Some(targets.as_slice()),
            _ => None,
        })
    }
}
