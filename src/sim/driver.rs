//! [`Sim`]: one call on virtual time. It owns a [`Call`], a clock (one `Instant` captured by the
//! caller plus an offset), a queue of things due later (playback ends, mocked replies, scripted
//! caller input), and the [`Event`] log.
//!
//! Each [`Sim::step`] jumps to the earliest due moment and does one thing there: fire the
//! machine's timer (timers go first on a tie), or deliver one queued input; then it executes the
//! machine's actions, which log events and queue their completions. Nothing sleeps.
//!
//! Defaults where no mock is given: `http` fails at once with `"no mock"` (the node's `on_error`
//! after its retries); `listen` hears nothing (it times out) unless the caller speaks; `agent` and
//! `stream` fail with `"no mock"` (a mocked agent is `sim::agent`); `transfer` succeeds after
//! [`TRANSFER_DELAY`]; `record` lasts its `max` unless its key ends it (a `record` mock fails it
//! or shortens it). Speech said while no `listen` runs is held for the next one.
//! Past `max` (default 10 minutes) the call is hung up with reason `max_duration`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flow::program::{AgentDtmf, Program};
use crate::machine::io::{
    Action, AgentRequest, CallInfo, Emitted, HttpReply, Input, Media, RecordingInfo, RequestId,
};
use crate::machine::Call;
use crate::sim::event::{Event, EventKind, MediaRef};
use crate::sim::lengths::{tts_length, PromptLengths, REMOTE_PROMPT};
use crate::sim::mocks::Mocks;
use crate::sim::script::{CallerInput, Scheduled};
use crate::trace::CallTrace;

/// Default longest call.
pub const DEFAULT_MAX: Duration = Duration::from_secs(600);
/// Delay of a mocked http reply without `delay:`.
pub const HTTP_DELAY: Duration = Duration::from_millis(100);
/// When a mocked transcript arrives after a `listen` starts.
pub const SPEECH_DELAY: Duration = Duration::from_secs(1);
/// Length of a mocked agent/stream session without `duration:`.
pub const SESSION_LENGTH: Duration = Duration::from_secs(10);
/// Time a transfer takes to succeed or fail without `delay:`.
pub const TRANSFER_DELAY: Duration = Duration::from_secs(1);

/// One simulated call.
pub struct Sim<L> {
    call: Call,
    start: Instant,
    now: Duration,
    max: Duration,
    lengths: L,
    mocks: Mocks,
    queue: BinaryHeap<Reverse<Due>>,
    seq: u64,
    inflight: Vec<(RequestId, Inflight)>,
    listen: Option<RequestId>,
    /// A listen whose prompt still plays: its mocked answer waits for the end of the prompt
    /// (caller speech reaches it at once: barge-in).
    prompt_listen: Option<RequestId>,
    held_speech: VecDeque<String>,
    listen_attempts: Vec<(String, usize)>,
    events: Vec<Event>,
    max_reached: bool,
    ended: bool,
    /// A live-call trace fed the same inputs and actions (see [`Sim::with_trace`]).
    trace: Option<CallTrace>,
}

struct Due {
    at: Duration,
    seq: u64,
    what: Pending,
}

enum Pending {
    /// A completion for the machine, with the event to log when it is delivered.
    Machine {
        input: Input,
        event: Option<Box<EventKind>>,
    },
    Caller(CallerInput),
}

enum Inflight {
    Playback { node: String, media: MediaRef },
    Http { sent: Duration, timeout: Duration },
    Record { started: Duration },
    Agent(Box<AgentRequest>),
    Other,
}

impl<L: PromptLengths> Sim<L> {
    /// A call of `program`, not answered yet; `start` is the virtual time of answer.
    pub fn new(
        program: Arc<Program>,
        info: CallInfo,
        lengths: L,
        mocks: Mocks,
        start: Instant,
    ) -> Sim<L> {
        Sim {
            call: Call::new(program, info),
            start,
            now: Duration::ZERO,
            max: DEFAULT_MAX,
            lengths,
            mocks,
            queue: BinaryHeap::with_capacity(8),
            seq: 0,
            inflight: Vec::with_capacity(4),
            listen: None,
            prompt_listen: None,
            held_speech: VecDeque::new(),
            listen_attempts: Vec::new(),
            events: Vec::with_capacity(32),
            max_reached: false,
            ended: false,
            trace: None,
        }
    }

    /// Feeds a [`CallTrace`] every input and action of this call, as the live call task does,
    /// so the two can be compared ([`Sim::trace`]).
    pub fn with_trace(mut self) -> Self {
        self.trace = Some(CallTrace::new(self.call.program(), self.call.info()));
        self
    }

    pub fn trace(&mut self) -> Option<&mut CallTrace> {
        self.trace.as_mut()
    }

    /// Sets the longest call (hung up with `max_duration` after it).
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Runs a whole scripted call: queues `script`, answers, runs to the end; returns the events.
    pub fn run_script(mut self, script: impl IntoIterator<Item = Scheduled>) -> Vec<Event> {
        for s in script {
            self.schedule(s.at, s.input);
        }
        self.answer();
        self.run_to_end();
        self.events
    }

    /// Answers the call at time zero and runs the flow up to its first wait.
    pub fn answer(&mut self) {
        let program = Arc::clone(self.call.program());
        let version = program.short_hash().to_owned();
        self.log(EventKind::Answer {
            flow: program.name.clone(),
            version,
        });
        self.handle(Input::Answered);
    }

    /// Queues a caller input at `at` after answer.
    pub fn schedule(&mut self, at: Duration, input: CallerInput) {
        self.push(at, Pending::Caller(input));
    }

    /// The earliest moment something will happen; `None` when the call is over.
    pub fn next_due(&self) -> Option<Duration> {
        if self.ended {
            return None;
        }
        let timer = self.timer_due();
        let queued = self.queue.peek().map(|Reverse(d)| d.at);
        Some(match (timer, queued) {
            (Some(t), Some(q)) => t.min(q),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => self.max,
        })
    }

    /// Does the next thing due (hanging up at `max` if that comes first). `false` when ended.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_due() else {
            return false;
        };
        if next >= self.max && !(next == self.max && self.has_work_at(next)) {
            self.now = self.max;
            self.max_reached = true;
            self.handle(Input::Hangup);
            return true;
        }
        self.now = self.now.max(next);
        let queued = self.queue.peek().map(|Reverse(d)| d.at);
        if self.timer_due() == Some(next) && queued.is_none_or(|q| q >= next) {
            self.handle(Input::Timeout);
        } else if let Some(Reverse(due)) = self.queue.pop() {
            self.deliver(due.what);
        }
        true
    }

    /// Runs everything due up to and including `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Duration) {
        while self.next_due().is_some_and(|n| n <= t) {
            self.step();
        }
        if !self.ended {
            self.now = self.now.max(t.min(self.max));
        }
    }

    /// Runs until the call ends.
    pub fn run_to_end(&mut self) {
        while self.step() {}
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events logged so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn call(&self) -> &Call {
        &self.call
    }

    fn timer_due(&self) -> Option<Duration> {
        self.call
            .poll_timeout()
            .map(|t| t.saturating_duration_since(self.start))
    }

    fn has_work_at(&self, t: Duration) -> bool {
        self.timer_due() == Some(t) || self.queue.peek().is_some_and(|Reverse(d)| d.at == t)
    }

    fn push(&mut self, at: Duration, what: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Due {
            at,
            seq: self.seq,
            what,
        }));
    }

    fn log(&mut self, kind: EventKind) {
        self.events.push(Event {
            at_ms: self.now.as_millis() as u64,
            kind,
        });
    }

    fn handle(&mut self, input: Input) {
        if let Some(t) = &mut self.trace {
            t.input(&input, self.now);
        }
        self.call.handle(input, self.start + self.now);
        while let Some(e) = self.call.poll_emitted() {
            if let Some(t) = &mut self.trace {
                t.emitted(&e, self.call.program(), self.now);
            }
            if let Emitted::Action(action) = e {
                self.execute(action);
            }
        }
        // A listen's prompt is over: the caller answers now.
        if let Some(id) = self.prompt_listen {
            let playing = self
                .inflight
                .iter()
                .any(|(_, f)| matches!(f, Inflight::Playback { .. }));
            if !playing {
                self.prompt_listen = None;
                if self.listen == Some(id) {
                    self.listen(id);
                }
            }
        }
    }

    fn deliver(&mut self, what: Pending) {
        match what {
            Pending::Machine { input, event } => {
                if let Some(id) = request_of(&input) {
                    if self.take_inflight(id).is_none() {
                        return;
                    }
                    if self.listen == Some(id) {
                        self.listen = None;
                    }
                }
                if let Some(event) = event {
                    self.log(*event);
                }
                self.handle(input);
            }
            Pending::Caller(CallerInput::Dtmf(d)) => {
                self.log(EventKind::Dtmf {
                    digit: d.to_string(),
                });
                self.handle(Input::Dtmf(d));
            }
            Pending::Caller(CallerInput::Speech(text)) => {
                self.log(EventKind::Speech { text: text.clone() });
                match self.listen.take() {
                    Some(id) => {
                        if self.prompt_listen == Some(id) {
                            self.prompt_listen = None;
                        }
                        self.take_inflight(id);
                        self.handle(Input::Speech {
                            id,
                            result: Ok(text),
                        });
                    }
                    None => self.held_speech.push_back(text),
                }
            }
            Pending::Caller(CallerInput::Hangup) => self.handle(Input::Hangup),
        }
    }

    fn execute(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Play { id, media } => self.play(id, media),
            Action::Say { id, text, .. } => {
                let length = tts_length(&text);
                let node = self.node_name();
                self.log(EventKind::Say {
                    node: node.clone(),
                    text: text.clone(),
                    duration_ms: length.as_millis() as u64,
                });
                let media = MediaRef::Text(text);
                self.start_playback(id, node, media, length);
            }
            Action::Stop { id } => {
                if let Some(Inflight::Playback { node, media }) = self.take_inflight(id) {
                    self.log(EventKind::Stop { node, media });
                }
            }
            Action::Theme { name } => self.log(EventKind::Theme { theme: name }),
            Action::Http(req) => {
                let node = self.node_name();
                self.log(EventKind::Http {
                    node: node.clone(),
                    method: req.method.as_str().to_owned(),
                    url: req.url,
                    body: req.body,
                });
                self.inflight.push((
                    req.id,
                    Inflight::Http {
                        sent: now,
                        timeout: req.timeout,
                    },
                ));
                let (at, result) = match self.mocks.http.get(&node) {
                    None => (now, Err("no mock".to_owned())),
                    Some(m) => {
                        let at = now + m.delay.map_or(HTTP_DELAY, |d| d.0);
                        match &m.error {
                            Some(e) => (at, Err(e.clone())),
                            None => (
                                at,
                                Ok(HttpReply {
                                    status: m.status.unwrap_or(200),
                                    body: m.json.clone().unwrap_or_default(),
                                }),
                            ),
                        }
                    }
                };
                let event = match &result {
                    Ok(r) => EventKind::HttpResponse { status: r.status },
                    Err(e) => EventKind::HttpError { error: e.clone() },
                };
                let input = Input::HttpResponse { id: req.id, result };
                self.push(
                    at,
                    Pending::Machine {
                        input,
                        event: Some(Box::new(event)),
                    },
                );
            }
            Action::Listen { id, .. } => {
                // The recognizer hears the caller from now on (speech barges in); a mocked
                // answer comes after the prompt (see `handle`).
                let node = self.node_name();
                self.log(EventKind::Listen { node });
                self.listen = Some(id);
                self.inflight.push((id, Inflight::Other));
                self.prompt_listen = Some(id);
            }
            Action::Cancel { id } => {
                if self.listen == Some(id) {
                    self.listen = None;
                }
                if let Some(Inflight::Http { sent, timeout }) = self.take_inflight(id) {
                    let error = if now >= sent + timeout {
                        "timeout"
                    } else {
                        "cancelled"
                    };
                    self.log(EventKind::HttpError {
                        error: error.into(),
                    });
                }
            }
            Action::Agent { id, agent } => {
                let node = self.node_name();
                self.log(EventKind::Agent {
                    node: node.clone(),
                    model: agent.model.clone().unwrap_or_default(),
                    voice: agent.voice.clone(),
                    instructions: agent.instructions.clone().unwrap_or_default(),
                    greeting: agent.greeting.clone(),
                });
                let (after, result) =
                    super::agent::mocked_end(self.mocks.agent.get(&node), &agent, SESSION_LENGTH);
                self.inflight.push((id, Inflight::Agent(agent)));
                let input = Input::AgentEnded { id, result };
                self.push(now + after, Pending::Machine { input, event: None });
            }
            // A hint for the engine's connection; nothing to simulate.
            Action::PrepareAgent { .. } => {}
            Action::AgentDtmf { id, digit } => {
                let ends = self.inflight.iter().any(|(i, f)| {
                    *i == id && matches!(f, Inflight::Agent(a) if a.dtmf == AgentDtmf::End)
                });
                if ends {
                    let result = Ok(super::agent::ended_by_key(digit));
                    let input = Input::AgentEnded { id, result };
                    self.push(now, Pending::Machine { input, event: None });
                }
            }
            Action::Stream(req) => {
                let node = self.node_name();
                self.log(EventKind::Stream {
                    node: node.clone(),
                    url: req.url,
                    protocol: req.protocol.as_str().into(),
                });
                let mock = self.mocks.stream.get(&node).cloned();
                let id = req.id;
                match mock {
                    Some(m) if m.transfer.is_some() => {
                        self.inflight.push((id, Inflight::Other));
                        let at = self.now + m.duration.map_or(SESSION_LENGTH, |d| d.0);
                        let target = m.transfer.unwrap_or_default();
                        self.push(
                            at,
                            Pending::Machine {
                                input: Input::StreamTransfer { id, target },
                                event: None,
                            },
                        );
                    }
                    m => {
                        let m = m.map(|m| crate::sim::mocks::SessionMock {
                            result: m.result,
                            error: m.error,
                            duration: m.duration,
                            ..Default::default()
                        });
                        self.session(id, m, |id, result| Input::StreamEnded { id, result });
                    }
                }
            }
            // The bot's keys are the caller's keys, already in the story.
            Action::StreamDtmf { .. } => {}
            Action::Record { id, max, .. } => {
                let node = self.node_name();
                let mock = self.mocks.record.get(&node).cloned().unwrap_or_default();
                self.log(EventKind::Record { node });
                self.inflight.push((id, Inflight::Record { started: now }));
                match mock.error {
                    Some(error) => {
                        let input = Input::RecordFinished {
                            id,
                            result: Err(error),
                        };
                        self.push(now, Pending::Machine { input, event: None });
                    }
                    None => {
                        let length = mock.duration.map_or(max, |d| d.0.min(max));
                        self.record_done(id, length, now + length);
                    }
                }
            }
            Action::FinishRecording { id } => {
                if let Some((_, Inflight::Record { started })) =
                    self.inflight.iter().find(|(i, _)| *i == id)
                {
                    let length = now - *started;
                    self.record_done(id, length, now);
                }
            }
            Action::Transfer { id, target } => {
                let node = self.node_name();
                self.log(EventKind::Transfer {
                    node: node.clone(),
                    target,
                });
                self.inflight.push((id, Inflight::Other));
                let mock = self.mocks.transfer.get(&node);
                let delay = mock.and_then(|m| m.delay).map_or(TRANSFER_DELAY, |d| d.0);
                let result = match mock {
                    Some(m) if !m.ok => Err(m.reason.clone().unwrap_or_else(|| "failed".into())),
                    _ => Ok(()),
                };
                let input = Input::TransferResult { id, result };
                self.push(now + delay, Pending::Machine { input, event: None });
            }
            Action::Hangup { reason } => {
                let reason = if self.max_reached {
                    "max_duration".to_owned()
                } else {
                    reason.as_str().to_owned()
                };
                self.log(EventKind::Hangup { reason });
                self.ended = true;
                self.queue.clear();
                self.inflight.clear();
            }
            Action::Warn { node, message } => self.log(EventKind::Warn { node, message }),
            Action::Mark { mark } => {
                let node = self.node_name();
                self.log(EventKind::Mark {
                    node,
                    mark: mark.as_str().to_owned(),
                })
            }
        }
    }

    fn play(&mut self, id: RequestId, media: Media) {
        let node = self.node_name();
        let (shown, length) = match media {
            Media::File(path) => {
                let shown = display_path(&path);
                let mocked = self.mocks.play.get(&shown).map(|d| d.0);
                let length = match mocked {
                    Some(d) => Ok(d),
                    None => self.lengths.file_length(&path).map_err(|e| e.to_string()),
                };
                (MediaRef::File(shown), length)
            }
            Media::Url(url) => {
                let length = self.mocks.play.get(&url).map_or(REMOTE_PROMPT, |d| d.0);
                (MediaRef::Url(url), Ok(length))
            }
        };
        match length {
            Ok(length) => {
                // Whole milliseconds, so that printed starts and lengths add up.
                let length = Duration::from_millis(length.as_millis() as u64);
                self.log(EventKind::Play {
                    node: node.clone(),
                    media: shown.clone(),
                    duration_ms: length.as_millis() as u64,
                });
                self.start_playback(id, node, shown, length);
            }
            Err(reason) => {
                self.log(EventKind::Warn {
                    node,
                    message: reason.clone(),
                });
                self.inflight.push((id, Inflight::Other));
                let input = Input::PlaybackFailed { id, reason };
                self.push(self.now, Pending::Machine { input, event: None });
            }
        }
    }

    fn start_playback(&mut self, id: RequestId, node: String, media: MediaRef, length: Duration) {
        self.inflight.push((id, Inflight::Playback { node, media }));
        let input = Input::PlaybackFinished(id);
        self.push(self.now + length, Pending::Machine { input, event: None });
    }

    /// The listen's prompt is over: held speech, or the node's mocked answer 1 s later.
    fn listen(&mut self, id: RequestId) {
        let node = self.node_name();
        if let Some(text) = self.held_speech.pop_front() {
            let input = Input::Speech {
                id,
                result: Ok(text),
            };
            self.push(self.now, Pending::Machine { input, event: None });
            return;
        }
        let attempt = match self.listen_attempts.iter_mut().find(|(n, _)| *n == node) {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                self.listen_attempts.push((node.clone(), 1));
                0
            }
        };
        let text = self
            .mocks
            .listen
            .get(&node)
            .and_then(|m| m.0.get(attempt))
            .cloned();
        if let Some(text) = text {
            let event = EventKind::Speech { text: text.clone() };
            let input = Input::Speech {
                id,
                result: Ok(text),
            };
            self.push(
                self.now + SPEECH_DELAY,
                Pending::Machine {
                    input,
                    event: Some(Box::new(event)),
                },
            );
        }
    }

    fn session(
        &mut self,
        id: RequestId,
        mock: Option<crate::sim::mocks::SessionMock>,
        ended: fn(RequestId, Result<serde_json::Value, String>) -> Input,
    ) {
        // Only the stream node uses this (the agent has `sim::agent`).
        self.inflight.push((id, Inflight::Other));
        let (at, result) = match mock {
            None => (self.now, Err("no mock".to_owned())),
            Some(m) => {
                let at = self.now + m.duration.map_or(SESSION_LENGTH, |d| d.0);
                match m.error {
                    Some(e) => (
                        self.now + m.duration.map_or(Duration::ZERO, |d| d.0),
                        Err(e),
                    ),
                    None => (at, Ok(m.result.unwrap_or_default())),
                }
            }
        };
        self.push(
            at,
            Pending::Machine {
                input: ended(id, result),
                event: None,
            },
        );
    }

    fn record_done(&mut self, id: RequestId, length: Duration, at: Duration) {
        let info = RecordingInfo {
            path: format!("recordings/{}-{}.wav", self.call_id(), id.0),
            duration: length,
            // What the engine writes: a 44-byte WAV header and 8 kHz 16-bit samples.
            size: 44 + length.as_millis() as u64 * 16,
        };
        let input = Input::RecordFinished {
            id,
            result: Ok(info),
        };
        self.push(at, Pending::Machine { input, event: None });
    }

    fn call_id(&self) -> String {
        self.call.info().id.clone()
    }

    fn take_inflight(&mut self, id: RequestId) -> Option<Inflight> {
        let i = self.inflight.iter().position(|(r, _)| *r == id)?;
        Some(self.inflight.swap_remove(i).1)
    }

    fn node_name(&self) -> String {
        node_of(&self.call)
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The name of the node `call` is in ("" before it starts).
fn node_of(call: &Call) -> String {
    call.current_node()
        .map(|n| call.program().node(n).name.clone())
        .unwrap_or_default()
}

/// The request an input answers, if any.
fn request_of(input: &Input) -> Option<RequestId> {
    match input {
        Input::PlaybackFinished(id)
        | Input::PlaybackFailed { id, .. }
        | Input::HttpResponse { id, .. }
        | Input::Speech { id, .. }
        | Input::AgentEnded { id, .. }
        | Input::StreamEnded { id, .. }
        | Input::StreamTransfer { id, .. }
        | Input::RecordFinished { id, .. }
        | Input::TransferResult { id, .. } => Some(*id),
        // Not a completion: the listen goes on.
        Input::SpeechStarted { .. }
        | Input::Answered
        | Input::Dtmf(_)
        | Input::Timeout
        | Input::Hangup => None,
    }
}

/// A path as events show it: `flows/../sound/x.wav` becomes `sound/x.wav`.
pub fn display_path(path: &Path) -> String {
    let plain = path
        .components()
        .all(|c| !matches!(c, Component::CurDir | Component::ParentDir));
    if plain {
        return path.to_string_lossy().replace('\\', "/");
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) || !out.pop()
                {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
