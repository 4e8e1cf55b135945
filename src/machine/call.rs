//! [`Call`]: one call's run through a [`Program`] — the state enum, input dispatch, entering
//! nodes, global keys and the instant-step loop.
//!
//! Each handler takes the current [`State`] out, decides, and returns a [`Step`]: keep waiting,
//! go to a target, or end the call. `Call::run` follows `Goto`s through instant nodes (set,
//! goto, switch, subflow entry, return) until a node waits for something, and ends the call with
//! [`HangupReason::Loop`] after [`MAX_INSTANT_STEPS`] steps without waiting.
//!
//! Digits: a global key (`program.keys`) works in every node and interrupts whatever plays; only
//! the gather's own `finish_on` key beats it. A digit that interrupts a `play` or `say` node is
//! carried to the next node: a gather takes it as its first digit (skipping its prompt), any
//! other waiting node drops it. A digit skips the prompt of a listen or record; otherwise digits
//! mean nothing while an http request, a pause, a recognizer or a session runs (a record's
//! `finish_on` aside), and during a transfer even global keys are ignored.
//!
//! Template errors at run time never end a call: `say` skips the text and goes on, `set`
//! leaves the variable unchanged, a switch arm counts as false; each emits [`Action::Warn`].

use std::collections::{BTreeMap, VecDeque};
use std::mem;
use std::sync::Arc;
use std::time::Instant;

use minijinja::value::Serde;
use minijinja::Value;

use crate::flow::digit::Digit;
use crate::flow::program::{
    KeyBinding, NodeId, NodeKind, Program, PromptSource, Set, SetValue, Switch, Target, TemplateId,
    ThemeId,
};
use crate::flow::template::Context;
use crate::machine::gather::Gathering;
use crate::machine::http::HttpWait;
use crate::machine::io::{Action, CallInfo, Emitted, HangupReason, Input, Media, RequestId};
use crate::machine::listen::Listening;
use crate::machine::playlist::{List, Playlist};
use crate::machine::session::{Recording, Session};
use crate::machine::timers::{Timer, TimerTable};

/// Nodes a call may pass through without waiting for anything before it is ended as a loop.
pub const MAX_INSTANT_STEPS: u32 = 1000;

/// Subflows a call may be inside at once.
const MAX_SUBFLOW_DEPTH: usize = 64;

/// One call running one program.
pub struct Call {
    pub(super) program: Arc<Program>,
    pub(super) info: CallInfo,
    pub(super) state: State,
    pub(super) timers: TimerTable,
    pub(super) theme: ThemeId,
    pub(super) vars: BTreeMap<String, Value>,
    /// The last collected digits (`{{ digits }}`).
    pub(super) digits: String,
    /// Return targets of the subflows the call is in.
    stack: Vec<Target>,
    /// A digit that interrupted a play/say node, for the next gather.
    pub(super) typeahead: Option<Digit>,
    current: Option<NodeId>,
    /// Actions and node entries, in order (see [`Emitted`]).
    actions: VecDeque<Emitted>,
    next_id: u64,
}

/// What the call is waiting for.
pub(super) enum State {
    /// Not answered yet (or between nodes).
    Idle,
    /// A `play` node.
    Playing {
        node: NodeId,
        list: Playlist,
        id: RequestId,
        next: Target,
    },
    /// A `say` node.
    Saying {
        id: RequestId,
        next: Target,
    },
    Gathering(Gathering),
    Listening(Listening),
    AwaitingHttp(HttpWait),
    Pausing {
        next: Target,
    },
    Recording(Recording),
    /// An `agent` or `stream` session.
    InSession(Session),
    Transferring {
        node: NodeId,
        id: RequestId,
    },
    Ended,
}

/// What a handler decided.
pub(super) enum Step {
    Wait,
    Goto(Target),
    End(HangupReason),
}

impl Call {
    pub fn new(program: Arc<Program>, info: CallInfo) -> Call {
        let vars = program
            .vars
            .iter()
            .map(|(k, v)| (k, v))
            .chain(&info.vars)
            .map(|(k, v)| (k.clone(), Value::from(Serde(v))))
            .collect();
        Call {
            theme: program.themes.start,
            program,
            info,
            state: State::Idle,
            timers: TimerTable::default(),
            vars,
            digits: String::new(),
            stack: Vec::new(),
            typeahead: None,
            current: None,
            actions: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, input: Input, now: Instant) {
        if self.is_ended() {
            return;
        }
        let step = match input {
            Input::Answered if self.current.is_none() && matches!(self.state, State::Idle) => {
                Step::Goto(Target::Node(self.program.start))
            }
            Input::Answered => Step::Wait,
            Input::Dtmf(d) => self.on_digit(d, now),
            Input::PlaybackFinished(id) | Input::PlaybackFailed { id, .. } => {
                self.on_playback_done(id, now)
            }
            Input::Timeout => self.on_timeout(now),
            Input::HttpResponse { id, result } => self.on_http(id, result, now),
            Input::SpeechStarted { id } => self.on_speech_started(id, now),
            Input::Speech { id, result } => self.on_speech(id, result, now),
            Input::AgentEnded { id, result } => self.on_agent_end(id, result),
            Input::StreamEnded { id, result } => self.on_session_end(id, result),
            Input::StreamTransfer { id, target } => self.on_stream_transfer(id, target),
            Input::RecordFinished { id, result } => self.on_record_finished(id, result),
            Input::TransferResult { id, result } => self.on_transfer_result(id, result),
            Input::Hangup => {
                self.leave_state();
                Step::End(HangupReason::Remote)
            }
        };
        self.apply(step, now);
    }

    /// The next action for the driver (node entries before it are skipped).
    pub fn poll_action(&mut self) -> Option<Action> {
        while let Some(e) = self.actions.pop_front() {
            if let Emitted::Action(a) = e {
                return Some(a);
            }
        }
        None
    }

    /// The next action or node entry, in the order they happened.
    pub fn poll_emitted(&mut self) -> Option<Emitted> {
        self.actions.pop_front()
    }

    /// When the driver must call `handle(Input::Timeout, ..)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The node the call is in (the last one entered).
    pub fn current_node(&self) -> Option<NodeId> {
        self.current
    }

    /// Facts about the call given at its start.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// The current theme's name.
    pub fn theme(&self) -> &str {
        self.program
            .themes
            .names
            .get(self.theme.0 as usize)
            .map_or("", String::as_str)
    }

    /// The call's variables.
    pub fn vars(&self) -> &BTreeMap<String, Value> {
        &self.vars
    }

    /// The last collected digits.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    fn apply(&mut self, step: Step, now: Instant) {
        match step {
            Step::Wait => {}
            Step::Goto(target) => self.run(target, now),
            Step::End(reason) => self.end(reason),
        }
    }

    /// Follows targets until a node waits or the call ends.
    fn run(&mut self, mut target: Target, now: Instant) {
        let program = Arc::clone(&self.program);
        for _ in 0..MAX_INSTANT_STEPS {
            let node = match target {
                Target::Node(n) => n,
                Target::Return => match self.stack.pop() {
                    Some(t) => {
                        target = t;
                        continue;
                    }
                    None => return self.end(HangupReason::Returned),
                },
            };
            self.current = Some(node);
            self.actions.push_back(Emitted::Entered(node));
            match self.enter(&program, node, now) {
                Step::Wait => {
                    self.typeahead = None;
                    return;
                }
                Step::Goto(t) => target = t,
                Step::End(reason) => return self.end(reason),
            }
        }
        self.end(HangupReason::Loop)
    }

    fn enter(&mut self, program: &Program, node: NodeId, now: Instant) -> Step {
        let kind = &program.node(node).kind;
        match kind {
            NodeKind::Play(p) => {
                let mut list = Playlist::of(List::Main);
                match self.play_next(program, kind, &mut list) {
                    Some(id) => {
                        self.state = State::Playing {
                            node,
                            list,
                            id,
                            next: p.next,
                        };
                        self.prepare_next_agent(program, p.next);
                        Step::Wait
                    }
                    None => Step::Goto(p.next),
                }
            }
            NodeKind::Say(s) => match self.render(s.text) {
                Ok(text) => {
                    let id = self.request_id();
                    self.push(Action::Say {
                        id,
                        text,
                        voice: s.voice.clone(),
                        engine: s.engine,
                    });
                    self.state = State::Saying { id, next: s.next };
                    self.prepare_next_agent(program, s.next);
                    Step::Wait
                }
                Err(e) => {
                    self.warn(node, format!("say: {}", describe(&e)));
                    Step::Goto(s.next)
                }
            },
            NodeKind::Gather(g) => self.enter_gather(program, node, g, now),
            NodeKind::Listen(l) => self.enter_listen(program, node, l, now),
            NodeKind::Http(h) => self.send_http(node, h, 0, now),
            NodeKind::Switch(s) => self.choose(program, node, s),
            NodeKind::Set(s) => {
                self.assign(program, node, s);
                Step::Goto(s.next)
            }
            NodeKind::Goto(t) => Step::Goto(*t),
            NodeKind::Subflow(sf) => {
                if self.stack.len() >= MAX_SUBFLOW_DEPTH {
                    return Step::End(HangupReason::Error("subflows nested too deep".into()));
                }
                self.stack.push(sf.next);
                Step::Goto(Target::Node(sf.entry))
            }
            NodeKind::Pause(p) => {
                self.timers.set(Timer::Pause, now + p.duration);
                self.state = State::Pausing { next: p.next };
                Step::Wait
            }
            NodeKind::Record(r) => self.enter_record(program, node, r),
            NodeKind::Agent(a) => self.enter_agent(node, a, now),
            NodeKind::Stream(s) => self.enter_stream(node, s, now),
            NodeKind::Transfer(t) => self.enter_transfer(node, t),
            NodeKind::Hangup(h) => Step::End(HangupReason::Flow(h.reason.clone())),
            NodeKind::Ack(a) => {
                self.push(Action::Mark { mark: a.mark });
                Step::Goto(a.next)
            }
        }
    }

    fn on_digit(&mut self, d: Digit, now: Instant) -> Step {
        let program = Arc::clone(&self.program);
        let finishes_gather = matches!(&self.state, State::Gathering(g)
            if matches!(&program.node(g.node).kind, NodeKind::Gather(cfg) if cfg.finish_on == Some(d)));
        if matches!(
            self.state,
            State::Transferring { .. } | State::Ended | State::Idle
        ) {
            return Step::Wait;
        }
        if !finishes_gather {
            if let Some(key) = program.keys.iter().find(|k| k.digit == d) {
                return self.global_key(&program, key);
            }
        }
        match mem::replace(&mut self.state, State::Idle) {
            State::Playing { id, next, .. } | State::Saying { id, next } => {
                self.push(Action::Stop { id });
                self.typeahead = Some(d);
                Step::Goto(next)
            }
            State::Gathering(g) => self.gather_digit(&program, g, d, now),
            State::Listening(l) => self.listen_digit(&program, l, d, now),
            State::Recording(r) => self.record_digit(&program, r, d),
            State::InSession(s) => self.session_digit(s, d),
            other => {
                self.state = other;
                Step::Wait
            }
        }
    }

    fn global_key(&mut self, program: &Program, key: &KeyBinding) -> Step {
        self.leave_state();
        if let Some(step) = key.theme {
            self.theme = step.apply(self.theme, program.themes.names.len());
            let name = self.theme().to_owned();
            self.push(Action::Theme { name });
        }
        match key.goto.or(self.current.map(Target::Node)) {
            Some(target) => Step::Goto(target),
            None => Step::Wait,
        }
    }

    fn on_playback_done(&mut self, done: RequestId, now: Instant) -> Step {
        let program = Arc::clone(&self.program);
        match mem::replace(&mut self.state, State::Idle) {
            State::Playing {
                node,
                mut list,
                id,
                next,
            } if id == done => {
                match self.play_next(&program, &program.node(node).kind, &mut list) {
                    Some(id) => {
                        self.state = State::Playing {
                            node,
                            list,
                            id,
                            next,
                        };
                        Step::Wait
                    }
                    None => Step::Goto(next),
                }
            }
            State::Saying { id, next } if id == done => Step::Goto(next),
            State::Gathering(g) => self.gather_playback_done(&program, g, done, now),
            State::Listening(l) => self.listen_playback_done(&program, l, done, now),
            State::Recording(r) => self.record_playback_done(&program, r, done),
            other => {
                self.state = other;
                Step::Wait
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Step {
        while let Some(timer) = self.timers.pop_expired(now) {
            let program = Arc::clone(&self.program);
            let step = match (timer, mem::replace(&mut self.state, State::Idle)) {
                (Timer::NoInput | Timer::InterDigit, State::Gathering(g)) => {
                    self.gather_timer(&program, g, timer, now)
                }
                (Timer::Pause, State::Pausing { next }) => Step::Goto(next),
                (Timer::HttpDeadline, State::AwaitingHttp(h)) => self.http_deadline(h, now),
                (Timer::ListenDeadline, State::Listening(l)) => {
                    self.listen_deadline(&program, l, now)
                }
                (Timer::SessionDeadline, State::InSession(s)) => self.session_deadline(s),
                (_, other) => {
                    self.state = other;
                    Step::Wait
                }
            };
            if !matches!(step, Step::Wait) {
                return step;
            }
        }
        Step::Wait
    }

    /// Stops or cancels whatever the current state has in flight and disarms all timers.
    fn leave_state(&mut self) {
        self.timers.clear();
        let (stop, cancel) = match mem::replace(&mut self.state, State::Idle) {
            State::Playing { id, .. } | State::Saying { id, .. } => (Some(id), None),
            State::Gathering(g) => (g.playing(), None),
            State::Listening(l) => l.in_flight(),
            State::AwaitingHttp(h) => (None, Some(h.id)),
            State::Recording(r) => r.in_flight(),
            State::InSession(s) => (None, Some(s.id)),
            State::Transferring { .. } | State::Pausing { .. } | State::Idle => (None, None),
            State::Ended => {
                self.state = State::Ended;
                (None, None)
            }
        };
        if let Some(id) = stop {
            self.push(Action::Stop { id });
        }
        if let Some(id) = cancel {
            self.push(Action::Cancel { id });
        }
    }

    /// Where a gather or listen goes when its tries are exhausted: `on_fail`; without one, back
    /// to the calling flow from inside a subflow (the schema's default `return`), or at top level
    /// the call ends with [`HangupReason::Failed`].
    pub(super) fn exhausted(&self, on_fail: Option<Target>) -> Step {
        match on_fail {
            Some(target) => Step::Goto(target),
            None if !self.stack.is_empty() => Step::Goto(Target::Return),
            None => Step::End(HangupReason::Failed),
        }
    }

    fn end(&mut self, reason: HangupReason) {
        self.timers.clear();
        self.stack.clear();
        self.state = State::Ended;
        self.push(Action::Hangup { reason });
    }

    fn choose(&mut self, program: &Program, node: NodeId, switch: &Switch) -> Step {
        let mut ctx = None;
        for (cond, target) in &switch.arms {
            let Some(expr) = cond else {
                return Step::Goto(*target);
            };
            let ctx = ctx.get_or_insert_with(|| self.context());
            match program.templates.test(*expr, ctx) {
                Ok(true) => return Step::Goto(*target),
                Ok(false) => {}
                Err(e) => self.warn(node, format!("switch condition: {}", describe(&e))),
            }
        }
        Step::End(HangupReason::Error(format!(
            "no switch arm matched in `{}`",
            program.node(node).name
        )))
    }

    fn assign(&mut self, program: &Program, node: NodeId, set: &Set) {
        for (name, value) in &set.assign {
            let value = match value {
                SetValue::Literal(json) => Ok(Value::from(Serde(json))),
                SetValue::Expr(e) => program.templates.eval(*e, &self.context()),
                SetValue::Text(t) => self.render(*t).map(Value::from),
            };
            match value {
                Ok(v) => {
                    self.vars.insert(name.clone(), v);
                }
                Err(e) => self.warn(node, format!("set {name}: {}", describe(&e))),
            }
        }
    }

    /// Emits `Play` for the next prompt of `list` that has media for the current theme.
    pub(super) fn play_next(
        &mut self,
        program: &Program,
        kind: &NodeKind,
        list: &mut Playlist,
    ) -> Option<RequestId> {
        while let Some(p) = list.advance(kind) {
            let media = match &program.prompt(p).source {
                PromptSource::File(paths) => {
                    match paths.get(self.theme.0 as usize).or(paths.first()) {
                        Some(path) => Media::File(path.clone()),
                        None => continue,
                    }
                }
                PromptSource::Url(url) => Media::Url(url.clone()),
                PromptSource::UrlTemplate(t) => {
                    let url = self.render(*t).map_err(|e| describe(&e)).and_then(|u| {
                        let u = u.trim().to_owned();
                        if u.starts_with("https://") || u.starts_with("http://") {
                            Ok(u)
                        } else {
                            Err(format!("`{u}` is not an http(s) URL"))
                        }
                    });
                    match url {
                        Ok(url) => Media::Url(url),
                        Err(why) => {
                            if let Some(node) = self.current {
                                self.warn(node, format!("prompt url: {why}"));
                            }
                            continue;
                        }
                    }
                }
            };
            let id = self.request_id();
            self.push(Action::Play { id, media });
            return Some(id);
        }
        None
    }

    /// The template context; built only when a template is rendered.
    pub(super) fn context(&self) -> Value {
        Context {
            call_id: &self.info.id,
            from: &self.info.from,
            to: &self.info.to,
            direction: self.info.direction.as_str(),
            theme: self.theme(),
            digits: &self.digits,
            vars: Some(&self.vars),
            env: Some(&self.info.env),
            params: Some(&self.info.params),
        }
        .to_value()
    }

    pub(super) fn render(&self, id: TemplateId) -> Result<String, minijinja::Error> {
        let templates = &self.program.templates;
        match templates.as_literal(id) {
            Some(text) => Ok(text.to_owned()),
            None => templates.render(id, &self.context()),
        }
    }

    pub(super) fn request_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    pub(super) fn push(&mut self, action: Action) {
        self.actions.push_back(Emitted::Action(action));
    }

    pub(super) fn warn(&mut self, node: NodeId, message: String) {
        let node = self.program.node(node).name.clone();
        self.push(Action::Warn { node, message });
    }
}

/// A template error as a flow author reads it.
pub(super) fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
