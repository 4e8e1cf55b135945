//! Nodes that hand the call to something else for a while: `record`, `agent`, `stream`,
//! `transfer`.
//!
//! - record: plays its prompt (a digit skips it), emits [`Action::Record`]; its `finish_on` key
//!   emits [`Action::FinishRecording`]. `RecordFinished` saves `{path, duration_ms,
//!   size}` under `save`
//!   and goes to `next`; a failed recording warns and goes to `on_error` (default `next`), with
//!   nothing saved.
//! - stream: emits the session action; when it ends its result is saved under `save` and the
//!   call goes to `next`; an error (or a template that cannot be rendered) goes to `on_error`,
//!   which defaults to `next`. (The agent node is `machine::agent`; its backstop deadline is
//!   handled here as it is the same state.) A session deadline (`max_duration`) cancels it and
//!   goes to `next`. A stream's bot hears the caller's keys ([`Action::StreamDtmf`], sent by
//!   `machine::agent`'s `session_digit`); a bot that asks for a transfer ends its session and the
//!   call is transferred like a `transfer` node's (success ends the call, failure takes
//!   `on_error`).
//! - transfer: emits [`Action::Transfer`]; success ends the call ([`HangupReason::Transferred`]),
//!   failure goes to `on_fail` (or hangs up with [`HangupReason::Error`]); an agent's transfer
//!   tool that fails goes to the agent's `on_error`, else `next`.

use std::sync::Arc;
use std::time::Instant;

use minijinja::value::Serde;
use minijinja::Value;

use crate::flow::digit::Digit;
use crate::flow::program::{
    NodeId, NodeKind, Program, Record, Stream, Target, TemplateId, Transfer,
};
use crate::machine::call::{describe, Call, State, Step};
use crate::machine::io::{Action, HangupReason, RecordingInfo, RequestId, StreamRequest};
use crate::machine::playlist::{List, Playlist};
use crate::machine::timers::Timer;

/// A record node in progress.
pub(crate) struct Recording {
    node: NodeId,
    phase: RecordPhase,
}

enum RecordPhase {
    Prompt { list: Playlist, id: RequestId },
    Active { id: RequestId },
}

/// An agent or stream session in progress.
pub(crate) struct Session {
    pub(crate) node: NodeId,
    pub(crate) id: RequestId,
}

impl Recording {
    /// `(playback to stop, recording to cancel)`.
    pub(crate) fn in_flight(&self) -> (Option<RequestId>, Option<RequestId>) {
        match self.phase {
            RecordPhase::Prompt { id, .. } => (Some(id), None),
            RecordPhase::Active { id } => (None, Some(id)),
        }
    }
}

impl Call {
    pub(super) fn enter_record(&mut self, program: &Program, node: NodeId, cfg: &Record) -> Step {
        let r = Recording {
            node,
            phase: RecordPhase::Active { id: RequestId(0) },
        };
        self.record_prompt(program, r, cfg, Playlist::of(List::Main))
    }

    pub(super) fn record_playback_done(
        &mut self,
        program: &Program,
        r: Recording,
        done: RequestId,
    ) -> Step {
        let cfg = record_of(program, r.node);
        match r.phase {
            RecordPhase::Prompt { list, id } if id == done => {
                self.record_prompt(program, r, cfg, list)
            }
            _ => {
                self.state = State::Recording(r);
                Step::Wait
            }
        }
    }

    pub(super) fn record_digit(&mut self, program: &Program, r: Recording, d: Digit) -> Step {
        let cfg = record_of(program, r.node);
        match r.phase {
            RecordPhase::Prompt { id, .. } => {
                self.push(Action::Stop { id });
                self.record_start(r, cfg)
            }
            RecordPhase::Active { id } => {
                if cfg.finish_on == Some(d) {
                    self.push(Action::FinishRecording { id });
                }
                self.state = State::Recording(r);
                Step::Wait
            }
        }
    }

    pub(super) fn on_record_finished(
        &mut self,
        id: RequestId,
        result: Result<RecordingInfo, String>,
    ) -> Step {
        let r = match std::mem::replace(&mut self.state, State::Idle) {
            State::Recording(r) if matches!(r.phase, RecordPhase::Active { id: a } if a == id) => r,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        let program = Arc::clone(&self.program);
        let cfg = record_of(&program, r.node);
        match result {
            Ok(info) => {
                if let Some(name) = &cfg.save {
                    let value = serde_json::json!({
                        "path": info.path,
                        "duration_ms": info.duration.as_millis() as u64,
                        "size": info.size,
                    });
                    self.vars.insert(name.clone(), Value::from(Serde(&value)));
                }
            }
            Err(e) => {
                // Never as if a message had been saved: the flow's error branch, when it has one.
                self.warn(r.node, format!("record: {e}"));
                return Step::Goto(cfg.on_error.unwrap_or(cfg.next));
            }
        }
        Step::Goto(cfg.next)
    }

    pub(super) fn enter_stream(&mut self, node: NodeId, cfg: &Stream, now: Instant) -> Step {
        let pairs = |list: &[(String, TemplateId)]| {
            list.iter()
                .map(|(k, t)| self.render(*t).map(|v| (k.clone(), v)))
                .collect::<Result<Vec<_>, _>>()
        };
        let rendered = [
            (
                "url",
                self.render(cfg.url).map(|u| vec![(String::new(), u)]),
            ),
            ("headers", pairs(&cfg.headers)),
            ("custom", pairs(&cfg.custom)),
        ];
        let mut parts = Vec::new();
        for (what, r) in rendered {
            match r {
                Ok(v) => parts.push(v),
                Err(e) => {
                    self.warn(node, format!("stream {what}: {}", describe(&e)));
                    return Step::Goto(cfg.on_error.unwrap_or(cfg.next));
                }
            }
        }
        let (custom, headers) = (
            parts.pop().unwrap_or_default(),
            parts.pop().unwrap_or_default(),
        );
        let url = parts
            .pop()
            .and_then(|mut u| u.pop())
            .map(|(_, u)| u)
            .unwrap_or_default();
        let id = self.request_id();
        self.push(Action::Stream(StreamRequest {
            id,
            url,
            protocol: cfg.protocol,
            headers,
            custom: custom.into_iter().collect(),
            rate: cfg.rate,
            call_id: self.info.id.clone(),
            from: self.info.from.clone(),
            to: self.info.to.clone(),
        }));
        if let Some(max) = cfg.max_duration {
            self.timers.set(Timer::SessionDeadline, now + max);
        }
        self.state = State::InSession(Session { node, id });
        Step::Wait
    }

    /// The bot handed the caller on: transfer as a `transfer` node would.
    pub(super) fn on_stream_transfer(&mut self, id: RequestId, target: String) -> Step {
        let s = match std::mem::replace(&mut self.state, State::Idle) {
            State::InSession(s) if s.id == id => s,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        self.timers.stop(Timer::SessionDeadline);
        let tid = self.request_id();
        self.push(Action::Transfer { id: tid, target });
        self.state = State::Transferring {
            node: s.node,
            id: tid,
        };
        Step::Wait
    }

    pub(super) fn on_session_end(
        &mut self,
        id: RequestId,
        result: Result<serde_json::Value, String>,
    ) -> Step {
        let s = match std::mem::replace(&mut self.state, State::Idle) {
            State::InSession(s) if s.id == id => s,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        self.timers.stop(Timer::SessionDeadline);
        let program = Arc::clone(&self.program);
        let (save, next, on_error) = match &program.node(s.node).kind {
            NodeKind::Agent(a) => (&a.save, a.next, a.on_error),
            NodeKind::Stream(st) => (&st.save, st.next, st.on_error),
            _ => return Step::Wait,
        };
        match result {
            Ok(value) => {
                if let Some(name) = save {
                    self.vars.insert(name.clone(), Value::from(Serde(&value)));
                }
                Step::Goto(next)
            }
            Err(e) => {
                self.warn(s.node, format!("session ended with an error: {e}"));
                Step::Goto(on_error.unwrap_or(next))
            }
        }
    }

    pub(super) fn session_deadline(&mut self, s: Session) -> Step {
        self.push(Action::Cancel { id: s.id });
        match &self.program.node(s.node).kind {
            NodeKind::Agent(a) => Step::Goto(a.next),
            NodeKind::Stream(st) => Step::Goto(st.next),
            _ => Step::Wait,
        }
    }

    pub(super) fn enter_transfer(&mut self, node: NodeId, cfg: &Transfer) -> Step {
        let target = match self.render(cfg.target) {
            Ok(t) => t,
            Err(e) => {
                self.warn(node, format!("transfer target: {}", describe(&e)));
                return fail_to(cfg.on_fail, "transfer target could not be rendered");
            }
        };
        let id = self.request_id();
        self.push(Action::Transfer { id, target });
        self.state = State::Transferring { node, id };
        Step::Wait
    }

    pub(super) fn on_transfer_result(&mut self, id: RequestId, result: Result<(), String>) -> Step {
        let node = match std::mem::replace(&mut self.state, State::Idle) {
            State::Transferring { node, id: t } if t == id => node,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        let program = Arc::clone(&self.program);
        match (result, &program.node(node).kind) {
            (Ok(()), _) => Step::End(HangupReason::Transferred),
            (Err(e), NodeKind::Transfer(t)) => fail_to(t.on_fail, &format!("transfer failed: {e}")),
            (Err(e), NodeKind::Stream(st)) => {
                self.warn(node, format!("the bot's transfer failed: {e}"));
                Step::Goto(st.on_error.unwrap_or(st.next))
            }
            (Err(e), NodeKind::Agent(a)) => {
                let next = a.on_error.unwrap_or(a.next);
                self.warn(node, format!("agent transfer failed: {e}"));
                Step::Goto(next)
            }
            (Err(e), _) => Step::End(HangupReason::Error(e)),
        }
    }

    fn record_prompt(
        &mut self,
        program: &Program,
        mut r: Recording,
        cfg: &Record,
        mut list: Playlist,
    ) -> Step {
        match self.play_next(program, &program.node(r.node).kind, &mut list) {
            Some(id) => {
                r.phase = RecordPhase::Prompt { list, id };
                self.state = State::Recording(r);
                Step::Wait
            }
            None => self.record_start(r, cfg),
        }
    }

    fn record_start(&mut self, mut r: Recording, cfg: &Record) -> Step {
        let id = self.request_id();
        self.push(Action::Record {
            id,
            max: cfg.max,
            beep: cfg.beep,
            silence: cfg.silence,
        });
        r.phase = RecordPhase::Active { id };
        self.state = State::Recording(r);
        Step::Wait
    }
}

/// Go to `target`, or end the call with an error when the flow has no branch for it.
fn fail_to(target: Option<Target>, why: &str) -> Step {
    match target {
        Some(t) => Step::Goto(t),
        None => Step::End(HangupReason::Error(why.to_owned())),
    }
}

/// The config of the node a `Recording` state belongs to.
fn record_of(program: &Program, node: NodeId) -> &Record {
    match &program.node(node).kind {
        NodeKind::Record(c) => c,
        // Not `Step::Wait`: a call left in `Idle` with no timer would wait forever, silently.
        _ => panic!(
            "invariant: a Recording state names a record node (only enter_record builds one)"
        ),
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod stream_tests;
