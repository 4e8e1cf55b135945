//! [`AgentSession`]: one conversation with an OpenAI Realtime model, as a sans-IO machine.
//!
//! Inputs (each with `now`): the socket opened ([`AgentSession::connected`]), the flow entered
//! the node ([`AgentSession::start`]), a server text frame, a 20 ms frame of caller audio in the
//! session's format, a key, a playout mark reported played, a webhook's answer, the socket
//! closed, the timer. Outputs ([`Output`]): client events to send, agent audio and marks for
//! the playout, `Clear` (barge-in), webhooks to call, log lines, and once the [`Output::End`].
//! The pump (`engine::agent`) owns the socket, the call's audio and HTTP; this owns every
//! decision, so a whole conversation is tested without a network.
//!
//! Rules (GA protocol, WebSocket transport):
//! - On connect: `session.update` (type `realtime`, model, instructions, voice, input/output
//!   format, turn detection with `create_response` and `interrupt_response`, tools,
//!   transcription when asked). Caller audio is forwarded only after `start` (a prepared
//!   session waits, configured, during the prompt before the node); a greeting is a
//!   `response.create` at start.
//! - Barge-in: on `input_audio_buffer.speech_started` the playout is cleared at once, the
//!   current agent item is truncated at the milliseconds the caller heard
//!   ([`super::playback`]), and late deltas of the interrupted response are dropped (the server
//!   cancels it itself: `interrupt_response`).
//! - Tools: calls are collected per response and run only when it is `completed` (the
//!   arguments event also comes for cancelled responses). A webhook's arguments are checked
//!   against the tool's schema first; answers go back as `function_call_output` items, then one
//!   `response.create`. `goto`, `end_call` and `transfer` end the session once the agent's last
//!   words have played (or after the expected playout time plus [`DRAIN_SLACK`]).
//! - Ends: a leaving tool, `dtmf: end`, `max_duration` (`Next`), silence longer than
//!   `silence_timeout` (`Next` when waiting for the caller; an error when waiting for the agent),
//!   a server `error` (except the benign races named in [`is_benign`]), the socket closing, or
//!   no connection within `connect_timeout`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::events::{self, client, ServerEvent, Usage};
use super::playback::Playback;
pub use super::session_config::{turn_detection_json, SessionConfig};
pub use super::session_output::{AgentError, Log, Output};
use super::transcript::{Role, Transcript};
use crate::flow::agent::AgentDtmf;
use crate::flow::digit::Digit;
use crate::machine::io::{AgentOutcome, AgentThen, ToolKind};

/// Extra wait for the playout to report the end of the agent's last words.
pub const DRAIN_SLACK: Duration = Duration::from_secs(2);
/// Caller audio kept while the socket is still opening after start (1 s).
const MAX_EARLY_FRAMES: usize = 50;
/// Responses whose late deltas are dropped, remembered at most.
const MAX_CANCELLED: usize = 16;
/// Tool calls collected in one response at most.
const MAX_CALLS: usize = 16;

/// Everything a session needs, defaults applied.
/// The session's timers (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Connect,
    MaxDuration,
    Silence,
    Drain,
}

/// A session on its way out, waiting for the agent's last words to play.
#[derive(Debug)]
struct Leaving {
    then: AgentThen,
    ended_by: &'static str,
    extra: Map<String, Value>,
}

/// A tool call collected from a response.
#[derive(Debug)]
struct Call {
    response_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

pub struct AgentSession {
    cfg: SessionConfig,
    validators: Vec<Option<jsonschema::Validator>>,
    out: VecDeque<Output>,
    connected: bool,
    started: bool,
    ended: bool,
    /// A failure while preparing (reported at start).
    failed: Option<AgentError>,
    leaving: Option<Leaving>,
    timers: [Option<Instant>; 4],
    seq: u64,
    early: VecDeque<Vec<u8>>,
    playback: Playback,
    transcript: Transcript,
    usage: Usage,
    active_response: Option<String>,
    cancelled: VecDeque<String>,
    calls: Vec<Call>,
    /// Webhook answers outstanding.
    tools_pending: usize,
    /// Create a response as soon as none is active.
    want_response: bool,
    caller_speaking: bool,
    /// The caller finished a turn (or a tool answered) and no agent audio came yet.
    awaiting_answer: bool,
    last_activity: Instant,
}

impl AgentSession {
    /// A session about to connect (the pump opens the socket now).
    pub fn new(cfg: SessionConfig, now: Instant) -> AgentSession {
        let validators = cfg
            .tools
            .iter()
            .map(|t| match t.kind {
                ToolKind::Webhook(_) => jsonschema::validator_for(&t.parameters).ok(),
                _ => None,
            })
            .collect();
        let mut s = AgentSession {
            playback: Playback::new(cfg.format),
            validators,
            out: VecDeque::new(),
            connected: false,
            started: false,
            ended: false,
            failed: None,
            leaving: None,
            timers: [None; 4],
            seq: 0,
            early: VecDeque::new(),
            transcript: Transcript::default(),
            usage: Usage::default(),
            active_response: None,
            cancelled: VecDeque::new(),
            calls: Vec::new(),
            tools_pending: 0,
            want_response: false,
            caller_speaking: false,
            awaiting_answer: false,
            last_activity: now,
            cfg,
        };
        s.set(Timer::Connect, now + s.cfg.connect_timeout);
        s
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// A prepared session is adopted for the node with its final configuration: a changed
    /// configuration is sent again. The model cannot change (it is in the URL).
    pub fn reconfigure(&mut self, cfg: SessionConfig) {
        let changed = cfg.session_json() != self.cfg.session_json();
        self.validators = cfg
            .tools
            .iter()
            .map(|t| match t.kind {
                ToolKind::Webhook(_) => jsonschema::validator_for(&t.parameters).ok(),
                _ => None,
            })
            .collect();
        if cfg.format != self.cfg.format {
            // Prepared before the call's codec was known: no audio has been played yet.
            self.playback = Playback::new(cfg.format);
        }
        self.cfg = cfg;
        if changed && self.connected {
            self.send_session_update();
        }
    }

    /// The websocket is open.
    pub fn connected(&mut self, now: Instant) {
        if self.ended || self.connected {
            return;
        }
        self.connected = true;
        self.stop(Timer::Connect);
        self.send_session_update();
        if self.started {
            self.begin(now);
        }
    }

    /// The flow entered the node: the conversation begins (now, or once connected).
    pub fn start(&mut self, now: Instant) {
        if self.ended || self.started {
            return;
        }
        self.started = true;
        if let Some(e) = self.failed.take() {
            return self.end(Err(e));
        }
        if let Some(max) = self.cfg.max_duration {
            self.set(Timer::MaxDuration, now + max);
        }
        if self.connected {
            self.begin(now);
        }
    }

    /// A prepared session that failed (or timed out) before its node started is not adopted.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some() || self.ended
    }

    fn begin(&mut self, now: Instant) {
        self.last_activity = now;
        if let Some(g) = self.cfg.greeting.clone() {
            let text = match &self.cfg.instructions {
                Some(i) => {
                    format!("{i}\n\nStart the conversation now: greet the caller by saying: {g}")
                }
                None => format!("Start the conversation now: greet the caller by saying: {g}"),
            };
            self.awaiting_answer = true;
            self.request_response(Some(&text));
        }
        while let Some(frame) = self.early.pop_front() {
            self.out.push_back(Output::Send(client::append(&frame)));
        }
        self.arm_silence(now);
    }

    /// One frame of caller audio in the session's format.
    pub fn caller_audio(&mut self, audio: &[u8], _now: Instant) {
        if self.ended || !self.started {
            return;
        }
        if !self.connected {
            if self.early.len() == MAX_EARLY_FRAMES {
                self.early.pop_front();
            }
            self.early.push_back(audio.to_vec());
            return;
        }
        self.out.push_back(Output::Send(client::append(audio)));
    }

    /// A key (the machine forwards keys only when `dtmf` is `send` or `end`).
    pub fn dtmf(&mut self, digit: Digit, now: Instant) {
        if self.ended || !self.started {
            return;
        }
        match self.cfg.dtmf {
            AgentDtmf::Ignore => {}
            AgentDtmf::End => {
                self.out.push_back(Output::Clear);
                self.playback.clear(now);
                let mut extra = Map::new();
                extra.insert("digit".into(), Value::String(digit.to_string()));
                self.finish(AgentThen::Next, "dtmf", extra, now);
            }
            AgentDtmf::Send => {
                if self.interrupt(now).is_some() {
                    // No server VAD cancels it for us this time.
                    let id = self.event_id("cancel");
                    self.out
                        .push_back(Output::Send(client::response_cancel(&id)));
                }
                let id = self.event_id("dtmf");
                let text = format!("(The caller pressed the key {digit} on the phone keypad.)");
                self.out
                    .push_back(Output::Send(client::user_text(&id, &text)));
                self.awaiting_answer = true;
                self.request_response(None);
                self.last_activity = now;
                self.arm_silence(now);
            }
        }
    }

    /// Whether the session waits for the playout to drain (a leaving tool): its marks must
    /// be reported as they are reached. Otherwise they may be reported late, with the
    /// instant each was reached ([`AgentSession::played`]), before the next other input.
    pub fn awaits_playout(&self) -> bool {
        self.leaving.is_some()
    }

    /// The playout played everything queued before `mark` (at `now`: the instant it was
    /// reached, which may be earlier than inputs already handled).
    pub fn played(&mut self, mark: u64, now: Instant) {
        if self.ended {
            return;
        }
        self.playback.played(mark, now);
        if self.leaving.is_some() && self.playback.is_idle() {
            return self.leave();
        }
        self.last_activity = now;
        self.arm_silence(now);
    }

    /// A webhook answered (`Err` is reported to the model as the tool's output too).
    pub fn tool_result(&mut self, call_id: &str, output: Result<String, String>, now: Instant) {
        if self.ended || self.tools_pending == 0 {
            return;
        }
        self.tools_pending -= 1;
        let text = match output {
            Ok(body) => body,
            Err(e) => json!({"error": e}).to_string(),
        };
        let id = self.event_id("tool");
        self.out
            .push_back(Output::Send(client::function_output(&id, call_id, &text)));
        if self.tools_pending == 0 {
            self.awaiting_answer = true;
            self.request_response(None);
        }
        self.last_activity = now;
        self.arm_silence(now);
    }

    /// The socket closed or failed.
    pub fn closed(&mut self, why: &str, _now: Instant) {
        if self.ended {
            return;
        }
        let e = AgentError::Closed(why.to_owned());
        if self.started {
            self.end(Err(e));
        } else {
            self.failed.get_or_insert(e);
            self.connected = false;
        }
    }

    /// A text frame from the server.
    pub fn server_text(&mut self, text: &str, now: Instant) {
        if self.ended {
            return;
        }
        match events::parse(text) {
            Ok(ev) => self.on_event(ev, now),
            Err(e) => {
                // One unreadable event is not worth a call; say so and go on.
                self.warn(format!("unreadable server event: {e}"));
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Timer> = [
            Timer::Connect,
            Timer::MaxDuration,
            Timer::Silence,
            Timer::Drain,
        ]
        .into_iter()
        .filter(|t| self.timers[*t as usize].is_some_and(|at| at <= now))
        .collect();
        for t in due {
            if self.ended {
                return;
            }
            self.stop(t);
            match t {
                Timer::Connect => {
                    let e = AgentError::ConnectTimeout(self.cfg.connect_timeout);
                    if self.started {
                        self.end(Err(e));
                    } else {
                        self.failed.get_or_insert(e);
                    }
                }
                Timer::MaxDuration => {
                    self.out.push_back(Output::Clear);
                    self.playback.clear(now);
                    self.finish(AgentThen::Next, "max_duration", Map::new(), now);
                }
                Timer::Silence => {
                    if self.awaiting_answer {
                        self.end(Err(AgentError::NoAnswer(self.cfg.silence_timeout)));
                    } else {
                        // The deadline already counts from the expected end of the playout.
                        self.playback.clear(now);
                        self.finish(AgentThen::Next, "silence", Map::new(), now);
                    }
                }
                Timer::Drain => self.leave(),
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        self.timers.iter().flatten().min().copied()
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Token usage so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn on_event(&mut self, ev: ServerEvent, now: Instant) {
        match ev {
            ServerEvent::SessionCreated | ServerEvent::SessionUpdated | ServerEvent::Other(_) => {}
            ServerEvent::Error(e) => {
                if is_benign(&e) {
                    self.warn(format!("server: {e}"));
                } else if self.started {
                    self.end(Err(AgentError::Server(e)));
                } else {
                    self.failed.get_or_insert(AgentError::Server(e));
                }
            }
            ServerEvent::SpeechStarted { .. } => {
                self.caller_speaking = true;
                self.awaiting_answer = false;
                // The server cancels the response itself (`interrupt_response`).
                self.interrupt(now);
                self.stop(Timer::Silence);
            }
            ServerEvent::SpeechStopped { .. } => {
                self.caller_speaking = false;
                self.awaiting_answer = true;
                self.last_activity = now;
                self.arm_silence(now);
            }
            ServerEvent::Committed { item_id } => self.transcript.place(&item_id, Role::Caller),
            ServerEvent::ItemAdded { item_id, role } => match role.as_deref() {
                Some("user") => self.transcript.place(&item_id, Role::Caller),
                Some("assistant") => self.transcript.place(&item_id, Role::Agent),
                _ => {}
            },
            ServerEvent::ResponseCreated { response_id } => {
                self.active_response = Some(response_id);
            }
            ServerEvent::AudioDelta {
                response_id,
                item_id,
                audio,
            } => self.on_audio(&response_id, &item_id, audio, now),
            ServerEvent::AgentTranscript {
                item_id,
                transcript,
            } => {
                self.transcript.text(&item_id, Role::Agent, &transcript);
                self.log(Log::Transcript {
                    role: Role::Agent,
                    text: transcript,
                });
            }
            ServerEvent::CallerTranscript {
                item_id,
                transcript,
            } => {
                self.transcript.text(&item_id, Role::Caller, &transcript);
                self.log(Log::Transcript {
                    role: Role::Caller,
                    text: transcript,
                });
            }
            ServerEvent::CallerTranscriptDelta { .. } => {}
            ServerEvent::AgentTranscriptDelta { item_id, delta } => {
                self.transcript.append(&item_id, Role::Agent, &delta);
            }
            ServerEvent::CallerTranscriptFailed { message, .. } => {
                self.warn(format!("caller transcription failed: {message}"));
            }
            ServerEvent::FunctionCall {
                response_id,
                call_id,
                name,
                arguments,
            } => {
                if !self.is_cancelled(&response_id) && self.calls.len() < MAX_CALLS {
                    self.calls.push(Call {
                        response_id,
                        call_id,
                        name,
                        arguments,
                    });
                }
            }
            ServerEvent::ResponseDone {
                response_id,
                status,
                usage,
                ..
            } => self.on_response_done(&response_id, &status, usage, now),
            ServerEvent::Truncated { .. } | ServerEvent::IdleTimeout => {}
        }
    }

    fn on_audio(&mut self, response_id: &str, item_id: &str, audio: Vec<u8>, now: Instant) {
        if self.is_cancelled(response_id) || audio.is_empty() {
            return;
        }
        self.awaiting_answer = false;
        self.transcript.place(item_id, Role::Agent);
        let chunk = self.playback.push(item_id, audio.len(), now);
        if let Some(m) = chunk.start {
            self.out.push_back(Output::Mark(m));
        }
        self.out.push_back(Output::Audio(audio));
        self.out.push_back(Output::Mark(chunk.end));
        self.arm_silence(now);
    }

    fn on_response_done(
        &mut self,
        response_id: &str,
        status: &str,
        usage: Option<Usage>,
        now: Instant,
    ) {
        if let Some(u) = usage {
            self.usage.add(u);
            self.log(Log::Usage(u));
        }
        if self.active_response.as_deref() == Some(response_id) {
            self.active_response = None;
        }
        let calls: Vec<Call> = {
            let (mine, rest) = std::mem::take(&mut self.calls)
                .into_iter()
                .partition(|c| c.response_id == response_id);
            self.calls = rest;
            mine
        };
        if status == "completed" {
            self.run_calls(calls, now);
        }
        if self.want_response && self.active_response.is_none() && self.leaving.is_none() {
            self.want_response = false;
            self.send_response_create(None);
        }
        self.arm_silence(now);
    }

    fn run_calls(&mut self, calls: Vec<Call>, now: Instant) {
        // A call that leaves the conversation wins over webhooks in the same response.
        let leaving = calls.iter().find_map(|c| {
            let i = self.cfg.tools.iter().position(|t| t.name == c.name)?;
            (!matches!(self.cfg.tools[i].kind, ToolKind::Webhook(_))).then_some((i, c))
        });
        if let Some((i, c)) = leaving {
            let args = serde_json::from_str::<Value>(&c.arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            let name = c.name.clone();
            let call_id = c.call_id.clone();
            match self.cfg.tools[i].kind.clone() {
                ToolKind::Goto => {
                    let mut extra = Map::new();
                    extra.insert("intent".into(), Value::String(name));
                    extra.insert("result".into(), args);
                    self.finish(AgentThen::Goto { tool: i }, "tool", extra, now);
                }
                ToolKind::EndCall => self.finish(AgentThen::EndCall, "end_call", Map::new(), now),
                ToolKind::Transfer { targets } => {
                    let want = args.get("target").and_then(Value::as_str).unwrap_or("");
                    match targets.iter().position(|t| t == want) {
                        Some(target) => {
                            let mut extra = Map::new();
                            extra.insert("transfer".into(), Value::String(want.to_owned()));
                            self.finish(AgentThen::Transfer { target }, "transfer", extra, now);
                        }
                        None => {
                            let msg = format!(
                                "unknown target `{want}`; choose one of: {}",
                                targets.join(", ")
                            );
                            self.answer_now(&call_id, &msg);
                        }
                    }
                }
                ToolKind::Webhook(_) => {}
            }
            return;
        }
        for c in calls {
            let Some(i) = self.cfg.tools.iter().position(|t| t.name == c.name) else {
                self.answer_now(&c.call_id, &format!("there is no tool named `{}`", c.name));
                continue;
            };
            let args = match serde_json::from_str::<Value>(&c.arguments) {
                Ok(v) => v,
                Err(e) => {
                    self.answer_now(&c.call_id, &format!("the arguments are not JSON: {e}"));
                    continue;
                }
            };
            let invalid = match self.validators.get(i) {
                Some(Some(v)) => v
                    .iter_errors(&args)
                    .next()
                    .map(|e| format!("invalid arguments: {e} (at {})", e.instance_path())),
                _ => None,
            };
            if let Some(msg) = invalid {
                self.answer_now(&c.call_id, &msg);
                continue;
            }
            self.tools_pending += 1;
            self.out.push_back(Output::CallTool {
                call_id: c.call_id,
                tool: i,
                arguments: args,
            });
        }
        self.last_activity = now;
    }

    /// Answers a tool call ourselves (an error the model should hear) and asks for a response.
    fn answer_now(&mut self, call_id: &str, error: &str) {
        let id = self.event_id("tool");
        let text = json!({ "error": error }).to_string();
        self.out
            .push_back(Output::Send(client::function_output(&id, call_id, &text)));
        if self.tools_pending == 0 {
            self.awaiting_answer = true;
            self.request_response(None);
        }
    }

    /// Barge-in (or a key): stop the agent's audio and cut its memory at what was heard.
    /// Returns the response that was speaking, if one was (the server still has it active
    /// until its `response.done`).
    fn interrupt(&mut self, now: Instant) -> Option<String> {
        let speaking = self
            .active_response
            .clone()
            .filter(|r| !self.is_cancelled(r));
        if self.playback.is_idle() && speaking.is_none() {
            return None;
        }
        self.out.push_back(Output::Clear);
        if let Some((item, heard_ms)) = self.playback.unheard(now) {
            let item = item.to_owned();
            let id = self.event_id("trunc");
            self.out
                .push_back(Output::Send(client::truncate(&id, &item, heard_ms)));
            self.transcript.interrupted(&item);
            self.log(Log::BargeIn {
                item_id: item,
                heard_ms,
            });
        }
        self.playback.clear(now);
        if let Some(r) = &speaking {
            // Drop what still comes of it.
            if self.cancelled.len() == MAX_CANCELLED {
                self.cancelled.pop_front();
            }
            self.cancelled.push_back(r.clone());
        }
        speaking
    }

    fn is_cancelled(&self, response_id: &str) -> bool {
        self.cancelled.iter().any(|r| r == response_id)
    }

    fn request_response(&mut self, instructions: Option<&str>) {
        if self.active_response.is_some() || self.leaving.is_some() {
            self.want_response = true;
            return;
        }
        self.send_response_create(instructions);
    }

    fn send_response_create(&mut self, instructions: Option<&str>) {
        let id = self.event_id("resp");
        self.out
            .push_back(Output::Send(client::response_create(&id, instructions)));
    }

    fn send_session_update(&mut self) {
        let id = self.event_id("session");
        let session = self.cfg.session_json();
        self.out
            .push_back(Output::Send(client::session_update(&id, session)));
    }

    /// Ends once the agent's words have played (at once if nothing is queued).
    fn finish(
        &mut self,
        then: AgentThen,
        ended_by: &'static str,
        extra: Map<String, Value>,
        now: Instant,
    ) {
        if self.ended || self.leaving.is_some() {
            return;
        }
        self.stop(Timer::Silence);
        self.stop(Timer::MaxDuration);
        self.leaving = Some(Leaving {
            then,
            ended_by,
            extra,
        });
        if self.playback.is_idle() {
            self.leave();
        } else {
            let at = self.playback.drained_at(now) + DRAIN_SLACK;
            self.set(Timer::Drain, at);
        }
    }

    fn leave(&mut self) {
        let Some(l) = self.leaving.take() else { return };
        let mut result = Map::new();
        result.insert("transcript".into(), self.transcript.to_json());
        result.extend(l.extra);
        result.insert("usage".into(), self.usage.to_json());
        result.insert("ended_by".into(), Value::String(l.ended_by.to_owned()));
        self.end(Ok(AgentOutcome {
            result: Value::Object(result),
            then: l.then,
        }));
    }

    fn end(&mut self, result: Result<AgentOutcome, AgentError>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.timers = [None; 4];
        self.out.push_back(Output::End(result));
    }

    fn arm_silence(&mut self, now: Instant) {
        if !self.started || self.caller_speaking || self.tools_pending > 0 || self.leaving.is_some()
        {
            self.stop(Timer::Silence);
            return;
        }
        let from = self.playback.drained_at(now).max(self.last_activity);
        self.set(Timer::Silence, from + self.cfg.silence_timeout);
    }

    fn set(&mut self, t: Timer, at: Instant) {
        self.timers[t as usize] = Some(at);
    }

    fn stop(&mut self, t: Timer) {
        self.timers[t as usize] = None;
    }

    fn event_id(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{what}_{}", self.seq)
    }

    fn warn(&mut self, message: String) {
        self.log(Log::Warning(message));
    }

    fn log(&mut self, l: Log) {
        self.out.push_back(Output::Log(l));
    }
}

/// Errors that come from races inherent to the protocol, not from a broken session: a
/// `response.create` while the server already started one (server VAD), a cancel or truncate
/// that crossed the response's end. Our events carry `event_id`s (`resp_N`, `trunc_N`, ...)
/// that the server echoes.
pub fn is_benign(e: &events::ServerError) -> bool {
    let code = e.code.as_deref().unwrap_or("");
    if matches!(
        code,
        "conversation_already_has_active_response" | "response_cancel_not_active"
    ) {
        return true;
    }
    let from = e.event_id.as_deref().unwrap_or("");
    from.starts_with("trunc_") || from.starts_with("resp_") || from.starts_with("cancel_")
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
