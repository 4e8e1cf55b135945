//! Test support for the machine: build a [`Program`] by hand and drive a [`Call`] on virtual
//! time, recording its actions as short readable lines (`play bunny/menu.wav`, `stop`,
//! `hangup failed`). Only compiled for tests; the real `Program`s come from `flow::load`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flow::digit::Digit;
use crate::flow::program::{
    Agent, AgentDtmf, AgentProvider, ExprId, KeyBinding, Node, NodeId, NodeKind, Program, Prompt,
    PromptId, PromptSource, Target, TemplateId, ThemeId, ThemeStep, Themes,
};
use crate::flow::template::Templates;
use crate::machine::io::{Action, CallInfo, Input, Media, RequestId};
use crate::machine::Call;

/// Builds a program node by node; names are resolved to ids on first use.
pub(crate) struct Builder {
    p: Program,
}

impl Builder {
    pub(crate) fn new(themes: &[&str]) -> Builder {
        let names = if themes.is_empty() {
            vec![String::new()]
        } else {
            themes.iter().map(|s| s.to_string()).collect()
        };
        Builder {
            p: Program {
                name: "test".into(),
                source: PathBuf::from("test.yaml"),
                hash: "0123456789abcdef".into(),
                routes: vec![],
                default: false,
                env: vec![],
                env_defaults: vec![],
                vars: vec![],
                themes: Themes {
                    names,
                    start: ThemeId(0),
                },
                keys: vec![],
                start: NodeId(0),
                nodes: vec![],
                prompts: vec![],
                templates: Templates::new(),
            },
        }
    }

    /// The id of node `name` (a placeholder hangup until [`Builder::def`] defines it).
    pub(crate) fn id(&mut self, name: &str) -> NodeId {
        if let Some(id) = self.p.node_by_name(name) {
            return id;
        }
        self.p.nodes.push(Node {
            name: name.into(),
            kind: NodeKind::Hangup(crate::flow::program::Hangup { reason: None }),
        });
        NodeId(self.p.nodes.len() as u32 - 1)
    }

    pub(crate) fn t(&mut self, name: &str) -> Target {
        Target::Node(self.id(name))
    }

    pub(crate) fn def(&mut self, name: &str, kind: NodeKind) -> &mut Self {
        let id = self.id(name);
        self.p.nodes[id.0 as usize].kind = kind;
        self
    }

    pub(crate) fn prompt(&mut self, file: &str) -> PromptId {
        if let Some(i) = self.p.prompts.iter().position(|p| p.name == file) {
            return PromptId(i as u32);
        }
        let source = if file.starts_with("https://") {
            PromptSource::Url(file.into())
        } else {
            PromptSource::File(
                self.p
                    .themes
                    .names
                    .iter()
                    .map(|t| PathBuf::from(t).join(file))
                    .collect(),
            )
        };
        self.p.prompts.push(Prompt {
            name: file.into(),
            source,
        });
        PromptId(self.p.prompts.len() as u32 - 1)
    }

    /// A prompt whose URL is the template `t` (written as `name`).
    pub(crate) fn template_prompt(&mut self, name: &str, t: TemplateId) -> PromptId {
        self.p.prompts.push(Prompt {
            name: name.into(),
            source: PromptSource::UrlTemplate(t),
        });
        PromptId(self.p.prompts.len() as u32 - 1)
    }

    pub(crate) fn prompts(&mut self, files: &[&str]) -> Vec<PromptId> {
        files.iter().map(|f| self.prompt(f)).collect()
    }

    pub(crate) fn text(&mut self, source: &str) -> TemplateId {
        self.p.templates.add_text(source).expect("test template")
    }

    pub(crate) fn expr(&mut self, source: &str) -> ExprId {
        self.p.templates.add_expr(source).expect("test expression")
    }

    pub(crate) fn key(&mut self, digit: char, theme: Option<ThemeStep>, goto: Option<&str>) {
        let goto = goto.map(|g| self.t(g));
        self.p.keys.push(KeyBinding {
            digit: Digit::from_char(digit).expect("test digit"),
            theme,
            goto,
        });
    }

    pub(crate) fn var(&mut self, name: &str, value: serde_json::Value) {
        self.p.vars.push((name.into(), value));
    }

    pub(crate) fn build(mut self, start: &str) -> Arc<Program> {
        self.p.start = self.id(start);
        Arc::new(self.p)
    }
}

/// A call on a virtual clock with a log of its actions.
pub(crate) struct Harness {
    pub(crate) call: Call,
    t0: Instant,
    pub(crate) now: Duration,
    /// Every action so far, formatted.
    pub(crate) log: Vec<String>,
    /// Ids of playbacks started and not yet finished or stopped, oldest first.
    pub(crate) playing: Vec<RequestId>,
    /// The raw actions, for tests that need ids.
    pub(crate) actions: Vec<Action>,
}

impl Harness {
    pub(crate) fn new(program: Arc<Program>) -> Harness {
        let info = CallInfo {
            id: "call-1".into(),
            from: "+15550001".into(),
            to: "5000".into(),
            ..CallInfo::default()
        };
        Harness {
            call: Call::new(program, info),
            t0: Instant::now(),
            now: Duration::ZERO,
            log: vec![],
            playing: vec![],
            actions: vec![],
        }
    }

    pub(crate) fn input(&mut self, input: Input) {
        self.call.handle(input, self.t0 + self.now);
        while let Some(a) = self.call.poll_action() {
            match &a {
                Action::Play { id, .. } | Action::Say { id, .. } => self.playing.push(*id),
                Action::Stop { id } => self.playing.retain(|p| p != id),
                _ => {}
            }
            self.log.push(format_action(&a));
            self.actions.push(a);
        }
    }

    pub(crate) fn answer(&mut self) {
        self.input(Input::Answered);
    }

    pub(crate) fn dtmf(&mut self, keys: &str) {
        for c in keys.chars() {
            self.input(Input::Dtmf(Digit::from_char(c).expect("test digit")));
        }
    }

    /// Finishes the playback in progress (the oldest one).
    pub(crate) fn finish(&mut self) {
        if !self.playing.is_empty() {
            let id = self.playing.remove(0);
            self.input(Input::PlaybackFinished(id));
        }
    }

    /// Advances virtual time by `ms`, firing timers on the way.
    pub(crate) fn wait(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(at) = self.call.poll_timeout() {
            let at = at - self.t0;
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.input(Input::Timeout);
        }
        self.now = end;
    }

    /// The id of the last action of this kind (`"http"`, `"listen"`, ...).
    pub(crate) fn last_id(&self, kind: &str) -> RequestId {
        self.actions
            .iter()
            .rev()
            .find_map(|a| match (kind, a) {
                ("http", Action::Http(r)) => Some(r.id),
                ("listen", Action::Listen { id, .. })
                | ("agent", Action::Agent { id, .. })
                | ("record", Action::Record { id, .. })
                | ("transfer", Action::Transfer { id, .. }) => Some(*id),
                ("stream", Action::Stream(r)) => Some(r.id),
                _ => None,
            })
            .expect("no such action")
    }

    /// Takes the log so far.
    pub(crate) fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }
}

/// An agent node with the defaults a flow gets when it writes only `instructions`.
pub(crate) fn agent_node(instructions: Option<TemplateId>, next: Target) -> Agent {
    Agent {
        provider: AgentProvider::OpenAi,
        model: Some("gpt-realtime".into()),
        voice: Some("marin".into()),
        instructions,
        greeting: None,
        turn_detection: None,
        dtmf: AgentDtmf::Ignore,
        tools: Vec::new(),
        transcribe: false,
        silence_timeout: crate::flow::agent::DEFAULT_SILENCE_TIMEOUT,
        max_duration: None,
        save: None,
        next,
        on_error: None,
    }
}

/// One action as a short line.
pub(crate) fn format_action(a: &Action) -> String {
    match a {
        Action::Play { media, .. } => match media {
            Media::File(p) => format!("play {}", p.display()),
            Media::Url(u) => format!("play {u}"),
        },
        Action::Say { text, .. } => format!("say {text}"),
        Action::Stop { .. } => "stop".into(),
        Action::Theme { name } => format!("theme {name}"),
        Action::Http(r) => format!(
            "http {} {}{}",
            r.method.as_str(),
            r.url,
            r.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default()
        ),
        Action::Listen { .. } => "listen".into(),
        Action::Cancel { .. } => "cancel".into(),
        Action::Agent { agent, .. } => {
            format!(
                "agent {}",
                agent.instructions.as_deref().unwrap_or_default()
            )
        }
        Action::PrepareAgent { agent } => {
            format!(
                "prepare agent {}",
                agent.instructions.as_deref().unwrap_or_default()
            )
        }
        Action::AgentDtmf { digit, .. } => format!("agent dtmf {digit}"),
        Action::Stream(r) => format!("stream {} {}", r.protocol.as_str(), r.url),
        Action::StreamDtmf { digit, .. } => format!("stream dtmf {digit}"),
        Action::Record { .. } => "record".into(),
        Action::FinishRecording { .. } => "finish recording".into(),
        Action::Transfer { target, .. } => format!("transfer {target}"),
        Action::Hangup { reason } => format!("hangup {}", reason.as_str()),
        Action::Warn { node, message } => format!("warn {node}: {message}"),
        Action::Mark { mark } => format!("mark {}", mark.as_str()),
    }
}
