//! The compiled form of one flow: what the call machine runs.
//!
//! A [`Program`] is produced only by the compiler (`flow::compile`) and only from a flow with zero
//! errors. Every reference inside it is an index ([`NodeId`], [`PromptId`], [`TemplateId`],
//! [`ExprId`], [`ThemeId`]) that the compiler has checked, so the machine never looks anything up
//! by name and a `Program` cannot hold a dangling reference. Durations are typed, templates are
//! precompiled, prompt files are already resolved per theme.
//!
//! This module owns the data only. It does no I/O and knows nothing about YAML, JSON schema or
//! diagnostics (that is `flow::source`, `flow::schema`, `flow::compile`), nor how a call runs
//! (that is `machine`).

use std::path::PathBuf;
use std::time::Duration;

pub use crate::flow::agent::{
    Agent, AgentDtmf, AgentProvider, AgentTool, Eagerness, ToolAction, TurnDetection, Webhook,
};
use crate::flow::digit::{Digit, DigitSet};
use crate::flow::template::Templates;

/// A compiled flow. Shared between calls behind an `Arc`; never mutated after compilation.
#[derive(Debug)]
pub struct Program {
    /// `name:` or the file stem.
    pub name: String,
    /// The file it was compiled from (for logs and `/api/flows`).
    pub source: PathBuf,
    /// Hex SHA-256 of the source text (the version shown by the registry).
    pub hash: String,
    /// Dialled user parts / numbers that reach this flow.
    pub routes: Vec<String>,
    /// Catch-all flow for unmatched calls.
    pub default: bool,
    /// Environment variables templates may read (`{{ env.NAME }}`), in declaration order.
    pub env: Vec<String>,
    /// Values used for allow-listed variables that are not set (`env: { NAME: default }`).
    pub env_defaults: Vec<(String, String)>,
    /// Initial call variables.
    pub vars: Vec<(String, serde_json::Value)>,
    /// Character themes. Always at least one entry (an unnamed theme "" when the flow has none).
    pub themes: Themes,
    /// Global DTMF bindings, active in every node; they interrupt playback.
    pub keys: Vec<KeyBinding>,
    /// The node a call starts in.
    pub start: NodeId,
    /// All nodes, indexed by [`NodeId`]. Nodes of inlined subflows are appended after the flow's own.
    pub nodes: Vec<Node>,
    /// All prompts, indexed by [`PromptId`].
    pub prompts: Vec<Prompt>,
    /// Precompiled templates and expressions, indexed by [`TemplateId`] / [`ExprId`].
    pub templates: Templates,
}

impl Program {
    /// The version shown in logs and `/api/*`: the first 12 hex digits of [`Program::hash`].
    pub fn short_hash(&self) -> &str {
        short_hash(&self.hash)
    }
}

/// The first 12 characters of a version hash (the whole text when shorter).
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Index of a node in [`Program::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// Index of a prompt in [`Program::prompts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptId(pub u32);

/// Index of a theme in [`Themes::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThemeId(pub u32);

/// Index of a text template in [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(pub u32);

/// Index of a boolean/value expression in [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExprId(pub u32);

/// Where control goes after a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// Return from the current subflow to the caller's `next`; at top level this ends the call.
    Return,
}

#[derive(Debug)]
pub struct Themes {
    pub names: Vec<String>,
    pub start: ThemeId,
}

/// A global key: `"#": { theme: next, goto: greet }`.
#[derive(Debug, Clone)]
pub struct KeyBinding {
    pub digit: Digit,
    pub theme: Option<ThemeStep>,
    pub goto: Option<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeStep {
    Next,
    Prev,
    To(ThemeId),
}

#[derive(Debug)]
pub struct Node {
    /// The node's name in its flow (`flow/node` for inlined subflow nodes).
    pub name: String,
    pub kind: NodeKind,
}

#[derive(Debug)]
pub enum NodeKind {
    Play(Play),
    Say(Say),
    Gather(Box<Gather>),
    Listen(Box<Listen>),
    Http(Box<Http>),
    Switch(Switch),
    Set(Set),
    Goto(Target),
    Subflow(Subflow),
    Pause(Pause),
    Record(Box<Record>),
    Agent(Box<Agent>),
    Stream(Box<Stream>),
    Transfer(Transfer),
    Hangup(Hangup),
    Ack(Ack),
}

/// A prompt: a sound file resolved per theme, or a remote stream.
#[derive(Debug)]
pub struct Prompt {
    /// As written in the flow (`greeting.wav`, `https://…/x.mp3`).
    pub name: String,
    pub source: PromptSource,
}

#[derive(Debug)]
pub enum PromptSource {
    /// One resolved path per theme, indexed by [`ThemeId`] (`<sound>/<theme>/<file>`, else `<sound>/<file>`).
    File(Vec<PathBuf>),
    /// A remote HTTP(S) stream, played as it arrives.
    Url(String),
    /// A remote stream whose URL is a template (rendered when it plays: a dialogue server's
    /// audio reply, `{{ vars.reply.audio }}`).
    UrlTemplate(TemplateId),
}

#[derive(Debug)]
pub struct Play {
    /// Played in order; a digit interrupts the whole sequence.
    pub prompts: Vec<PromptId>,
    pub next: Target,
}

#[derive(Debug)]
pub struct Say {
    pub text: TemplateId,
    pub voice: Option<String>,
    /// `None` = the configured default engine (`tts.engine`).
    pub engine: Option<TtsEngine>,
    pub next: Target,
}

/// A text-to-speech engine a `say` node can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TtsEngine {
    /// `espeak-ng`, local (the default).
    EspeakNg,
    /// Piper, local neural voices.
    Piper,
    /// OpenAI `/v1/audio/speech`.
    OpenAi,
    /// Any TTS server: POST text, get audio back.
    Http,
}

impl TtsEngine {
    pub const ALL: [TtsEngine; 4] = [
        TtsEngine::EspeakNg,
        TtsEngine::Piper,
        TtsEngine::OpenAi,
        TtsEngine::Http,
    ];

    /// The name used in flows and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            TtsEngine::EspeakNg => "espeak-ng",
            TtsEngine::Piper => "piper",
            TtsEngine::OpenAi => "openai",
            TtsEngine::Http => "http",
        }
    }

    pub fn from_name(s: &str) -> Option<TtsEngine> {
        TtsEngine::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug)]
pub struct Gather {
    pub prompt: Vec<PromptId>,
    pub min_digits: u8,
    pub max_digits: u8,
    /// Key that ends entry early (not part of the digits).
    pub finish_on: Option<Digit>,
    /// From the end of the prompt to the first digit.
    pub timeout: Duration,
    /// Between digits.
    pub inter_digit_timeout: Duration,
    /// Attempts before `on_fail`.
    pub tries: u8,
    pub invalid: Vec<PromptId>,
    pub no_input: Vec<PromptId>,
    /// Exact digit strings to targets.
    pub routes: Vec<(String, Target)>,
    /// Variable the collected digits are saved to.
    pub save: Option<String>,
    /// Taken for any complete entry when no route matches and `routes` is empty (number entry).
    pub next: Option<Target>,
    pub on_fail: Option<Target>,
}

#[derive(Debug)]
pub struct Listen {
    pub prompt: Vec<PromptId>,
    pub timeout: Duration,
    pub tries: u8,
    pub language: Option<String>,
    pub save: Option<String>,
    /// Case-insensitive patterns (regex alternatives) matched against the transcript.
    pub routes: Vec<(regex::Regex, Target)>,
    /// Routes whose key is DTMF keys (`"1"`, `"*"`): a key ends listening and is routed here.
    pub keys: Vec<(String, Target)>,
    pub next: Option<Target>,
    pub on_fail: Option<Target>,
    /// Recognizer for this node; `None` = the server's `asr.engine`.
    pub engine: Option<AsrEngine>,
    /// Silence that ends the caller's utterance; `None` = the server's `asr.silence`.
    pub silence: Option<Duration>,
    /// What the recognizer chooses among.
    pub grammar: ListenGrammar,
}

/// Speech recognition engines (`asr.engine`, `listen.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsrEngine {
    /// PocketSphinx 5, offline (the default).
    PocketSphinx,
    /// A streaming recognizer speaking the Vosk websocket protocol.
    Websocket,
    /// The SDiFI speech server's gRPC `StreamingRecognize`.
    Axy,
    /// An OpenAI Realtime transcription session.
    OpenAi,
}

impl AsrEngine {
    pub const NAMES: [&'static str; 4] = ["pocketsphinx", "websocket", "axy", "openai"];

    pub fn from_name(s: &str) -> Option<AsrEngine> {
        match s {
            "pocketsphinx" => Some(AsrEngine::PocketSphinx),
            "websocket" | "vosk" => Some(AsrEngine::Websocket),
            "axy" => Some(AsrEngine::Axy),
            "openai" => Some(AsrEngine::OpenAi),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AsrEngine::PocketSphinx => "pocketsphinx",
            AsrEngine::Websocket => "websocket",
            AsrEngine::Axy => "axy",
            AsrEngine::OpenAi => "openai",
        }
    }
}

/// What a `listen` node's recognizer chooses among.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenGrammar {
    /// Free speech (the engine's full language model).
    Free,
    /// These phrases (from plain-word routes, or `listen.grammar: [..]`).
    Phrases(Vec<String>),
    /// A spoken digit string, turned into digits (`listen.grammar: digits`).
    Digits,
}

#[derive(Debug)]
pub struct Http {
    pub method: HttpMethod,
    pub url: TemplateId,
    pub headers: Vec<(String, TemplateId)>,
    pub body: Option<BodyTemplate>,
    pub timeout: Duration,
    pub retries: u8,
    pub save: Option<String>,
    pub on_success: Target,
    pub on_error: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// A JSON body whose string leaves are templates.
#[derive(Debug)]
pub enum BodyTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(TemplateId),
    Array(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
}

#[derive(Debug)]
pub struct Switch {
    /// Tried in order; the first arm whose condition holds (or that has none) is taken.
    pub arms: Vec<(Option<ExprId>, Target)>,
}

#[derive(Debug)]
pub struct Set {
    pub assign: Vec<(String, SetValue)>,
    pub next: Target,
}

#[derive(Debug)]
pub enum SetValue {
    /// A literal from the YAML.
    Literal(serde_json::Value),
    /// A string that is exactly `{{ expr }}`: evaluated, keeping the value's type.
    Expr(ExprId),
    /// Any other string with template syntax: rendered to a string.
    Text(TemplateId),
}

#[derive(Debug)]
pub struct Subflow {
    /// First node of the inlined flow.
    pub entry: NodeId,
    /// Where a `return` inside it (or reaching its end) continues.
    pub next: Target,
}

#[derive(Debug)]
pub struct Pause {
    pub duration: Duration,
    pub next: Target,
}

#[derive(Debug)]
pub struct Record {
    pub prompt: Vec<PromptId>,
    pub max: Duration,
    pub finish_on: Option<Digit>,
    pub beep: bool,
    /// Continuous silence that ends the recording.
    pub silence: Option<Duration>,
    pub save: Option<String>,
    pub next: Target,
    /// Taken when the recording fails (default: `next`).
    pub on_error: Option<Target>,
}

#[derive(Debug)]
pub struct Stream {
    pub url: TemplateId,
    pub protocol: StreamProtocol,
    /// Websocket request headers (values are templates).
    pub headers: Vec<(String, TemplateId)>,
    /// Fields sent to the bot at the start (values are templates).
    pub custom: Vec<(String, TemplateId)>,
    pub max_duration: Option<Duration>,
    /// Sample rate of the caller's audio for a `ringover` bot (8000 or 16000).
    pub rate: u32,
    pub save: Option<String>,
    pub next: Target,
    pub on_error: Option<Target>,
}

/// Which side of which websocket protocol a `stream` node plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamProtocol {
    /// Twilio's side of Media Streams (JSON, base64 μ-law 8 kHz).
    Twilio,
    /// The media server's side of the Ringover streamer (mod_audio_stream: binary PCM).
    Ringover,
}

impl StreamProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamProtocol::Twilio => "twilio",
            StreamProtocol::Ringover => "ringover",
        }
    }
}

#[derive(Debug)]
pub struct Transfer {
    pub target: TemplateId,
    pub on_fail: Option<Target>,
}

#[derive(Debug)]
pub struct Hangup {
    pub reason: Option<String>,
}

/// Marks the call (an outbound job's acknowledgement or "heard"), then continues.
#[derive(Debug)]
pub struct Ack {
    pub mark: Mark,
    pub next: Target,
}

/// What an `ack` node records for an outbound call's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// The callee confirmed (pressed the key): the job is done when `until: acknowledged`.
    Acknowledged,
    /// The message played to its end: the job is done when `until: heard`.
    Heard,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Acknowledged => "acknowledged",
            Mark::Heard => "heard",
        }
    }
}

impl Program {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    pub fn prompt(&self, id: PromptId) -> &Prompt {
        &self.prompts[id.0 as usize]
    }

    pub fn theme_name(&self, id: ThemeId) -> &str {
        &self.themes.names[id.0 as usize]
    }

    /// The values of the allow-listed environment variables: `lookup(name)` (the process
    /// environment plus `.env` on a live call), else the flow's default; a variable with
    /// neither is left out (a template reading it fails and says so).
    pub fn env_values<'a>(
        &self,
        lookup: impl Fn(&str) -> Option<&'a str>,
    ) -> std::collections::BTreeMap<String, String> {
        self.env
            .iter()
            .filter_map(|name| {
                let value = lookup(name).map(str::to_owned).or_else(|| {
                    self.env_defaults
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                })?;
                Some((name.clone(), value))
            })
            .collect()
    }

    /// Looks a node up by name: for tools (graph, tests), never for the call machine.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u32))
    }
}

impl ThemeStep {
    /// Applies the step to `current`, wrapping around the theme list.
    pub fn apply(self, current: ThemeId, count: usize) -> ThemeId {
        let n = count.max(1) as u32;
        match self {
            ThemeStep::Next => ThemeId((current.0 + 1) % n),
            ThemeStep::Prev => ThemeId((current.0 + n - 1) % n),
            ThemeStep::To(t) => t,
        }
    }
}

impl DigitSet {
    /// The set of digits bound by global keys (for shadowing checks).
    pub fn of_keys(keys: &[KeyBinding]) -> DigitSet {
        keys.iter().map(|k| k.digit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_step_wraps_both_ways() {
        assert_eq!(ThemeStep::Next.apply(ThemeId(2), 3), ThemeId(0));
        assert_eq!(ThemeStep::Prev.apply(ThemeId(0), 3), ThemeId(2));
        assert_eq!(ThemeStep::To(ThemeId(1)).apply(ThemeId(0), 3), ThemeId(1));
        assert_eq!(ThemeStep::Next.apply(ThemeId(0), 1), ThemeId(0));
    }
}
