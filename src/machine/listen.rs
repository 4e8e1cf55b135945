//! Speech input for `listen` nodes.
//!
//! An attempt plays the prompt (a digit skips it), then emits [`Action::Listen`] and arms
//! `ListenDeadline` at the node's `timeout`. A transcript is saved to `save` (as a string) and
//! matched against the routes' case-insensitive patterns in order; a transcript no route takes
//! goes to `next` when there is one. No speech (an error, an empty transcript, or the deadline,
//! which cancels the recognizer) or an unmatched transcript without `next` counts a try; while
//! tries remain the prompt plays again, then the call goes to `on_fail` (default: return from a
//! subflow, or hang up with [`HangupReason::Failed`](crate::machine::io::HangupReason::Failed)).

use std::time::Instant;

use minijinja::Value;

use crate::flow::program::{Listen, NodeId, NodeKind, Program};
use crate::machine::call::{Call, State, Step};
use crate::machine::io::{Action, RequestId};
use crate::machine::playlist::{List, Playlist};
use crate::machine::timers::Timer;

/// A listen in progress.
pub(crate) struct Listening {
    node: NodeId,
    failures: u8,
    phase: Phase,
}

enum Phase {
    Prompt { list: Playlist, id: RequestId },
    Active { id: RequestId },
}

impl Listening {
    /// `(playback to stop, recognizer to cancel)`.
    pub(crate) fn in_flight(&self) -> (Option<RequestId>, Option<RequestId>) {
        match self.phase {
            Phase::Prompt { id, .. } => (Some(id), None),
            Phase::Active { id } => (None, Some(id)),
        }
    }
}

impl Call {
    pub(super) fn enter_listen(
        &mut self,
        program: &Program,
        node: NodeId,
        cfg: &Listen,
        now: Instant,
    ) -> Step {
        let l = Listening {
            node,
            failures: 0,
            phase: Phase::Active { id: RequestId(0) },
        };
        self.listen_prompt(program, l, cfg, Playlist::of(List::Main), now)
    }

    pub(super) fn listen_playback_done(
        &mut self,
        program: &Program,
        l: Listening,
        done: RequestId,
        now: Instant,
    ) -> Step {
        let cfg = listen_of(program, l.node);
        match l.phase {
            Phase::Prompt { list, id } if id == done => {
                self.listen_prompt(program, l, cfg, list, now)
            }
            _ => {
                self.state = State::Listening(l);
                Step::Wait
            }
        }
    }

    /// A digit during the prompt skips it; during recognition digits are ignored.
    pub(super) fn listen_digit(&mut self, program: &Program, l: Listening, now: Instant) -> Step {
        let cfg = listen_of(program, l.node);
        match l.phase {
            Phase::Prompt { id, .. } => {
                self.push(Action::Stop { id });
                self.listen_start(l, cfg, now)
            }
            Phase::Active { .. } => {
                self.state = State::Listening(l);
                Step::Wait
            }
        }
    }

    pub(super) fn on_speech(
        &mut self,
        id: RequestId,
        result: Result<String, String>,
        now: Instant,
    ) -> Step {
        let program = std::sync::Arc::clone(&self.program);
        let l = match std::mem::replace(&mut self.state, State::Idle) {
            State::Listening(l) if matches!(l.phase, Phase::Active { id: a } if a == id) => l,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        let cfg = listen_of(&program, l.node);
        self.timers.stop(Timer::ListenDeadline);
        let text = match result {
            Ok(text) if !text.trim().is_empty() => text,
            _ => return self.listen_fail(&program, l, cfg, now),
        };
        if let Some(name) = &cfg.save {
            self.vars.insert(name.clone(), Value::from(text.as_str()));
        }
        if let Some((_, target)) = cfg.routes.iter().find(|(re, _)| re.is_match(&text)) {
            return Step::Goto(*target);
        }
        match cfg.next {
            Some(next) => Step::Goto(next),
            None => self.listen_fail(&program, l, cfg, now),
        }
    }

    pub(super) fn listen_deadline(
        &mut self,
        program: &Program,
        l: Listening,
        now: Instant,
    ) -> Step {
        let cfg = listen_of(program, l.node);
        if let Phase::Active { id } = l.phase {
            self.push(Action::Cancel { id });
        }
        self.listen_fail(program, l, cfg, now)
    }

    fn listen_prompt(
        &mut self,
        program: &Program,
        mut l: Listening,
        cfg: &Listen,
        mut list: Playlist,
        now: Instant,
    ) -> Step {
        match self.play_next(program, &program.node(l.node).kind, &mut list) {
            Some(id) => {
                l.phase = Phase::Prompt { list, id };
                self.state = State::Listening(l);
                Step::Wait
            }
            None => self.listen_start(l, cfg, now),
        }
    }

    fn listen_start(&mut self, mut l: Listening, cfg: &Listen, now: Instant) -> Step {
        let id = self.request_id();
        self.push(Action::Listen {
            id,
            timeout: cfg.timeout,
            language: cfg.language.clone(),
        });
        self.timers.set(Timer::ListenDeadline, now + cfg.timeout);
        l.phase = Phase::Active { id };
        self.state = State::Listening(l);
        Step::Wait
    }

    fn listen_fail(
        &mut self,
        program: &Program,
        mut l: Listening,
        cfg: &Listen,
        now: Instant,
    ) -> Step {
        l.failures = l.failures.saturating_add(1);
        if l.failures >= cfg.tries.max(1) {
            return self.exhausted(cfg.on_fail);
        }
        self.listen_prompt(program, l, cfg, Playlist::of(List::Main), now)
    }
}

/// The config of the node a `Listening` state belongs to.
fn listen_of(program: &Program, node: NodeId) -> &Listen {
    match &program.node(node).kind {
        NodeKind::Listen(c) => c,
        // Not `Step::Wait`: a call left in `Idle` with no timer would wait forever, silently.
        _ => panic!(
            "invariant: a Listening state names a listen node (only enter_listen builds one)"
        ),
    }
}
