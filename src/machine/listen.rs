//! Speech input for `listen` nodes.
//!
//! An attempt starts the recognizer ([`Action::Listen`]) and plays the prompt at the same time,
//! so a caller can answer over it:
//! - `SpeechStarted` (the engine heard the caller start talking) stops the prompt (barge-in);
//! - when the prompt has finished, `ListenDeadline` waits `timeout` for speech; once the caller
//!   speaks it becomes a backstop ([`SPEECH_BACKSTOP`]) in case the recognizer never answers;
//! - a transcript is saved to `save` (as a string) and matched against the routes'
//!   case-insensitive patterns in order; one no route takes goes to `next` when there is one;
//! - keys: when the node has key routes (`"1": billing`), a key ends listening (the recognizer
//!   is cancelled, the prompt stopped) and is routed like in a gather: keys collect until they
//!   equal a key route, while they are the start of one (`timeout` between keys); the keys are
//!   saved to `save`. Without key routes a key only skips the prompt.
//!
//! No speech (an error, an empty transcript, the deadline, which cancels the recognizer), an
//! unmatched transcript without `next`, or keys no key route takes count a try; while tries
//! remain the attempt starts again (recognizer and prompt), then the call goes to `on_fail`
//! (default: return from a subflow, or hang up with
//! [`HangupReason::Failed`](crate::machine::io::HangupReason::Failed)).

use std::time::{Duration, Instant};

use minijinja::Value;

use crate::flow::digit::Digit;
use crate::flow::program::{Listen, NodeId, NodeKind, Program};
use crate::machine::call::{Call, State, Step};
use crate::machine::io::{Action, RequestId};
use crate::machine::playlist::{List, Playlist};
use crate::machine::timers::Timer;

/// How long a caller who started speaking may take before the attempt is abandoned (the
/// engine ends an utterance at `asr.max_speech` and answers; this only guards against an
/// engine that never does).
pub const SPEECH_BACKSTOP: Duration = Duration::from_secs(30);

/// A listen in progress.
pub(crate) struct Listening {
    node: NodeId,
    failures: u8,
    phase: Phase,
}

enum Phase {
    /// The prompt plays; the recognizer already listens.
    Prompt {
        list: Playlist,
        play: RequestId,
        listen: RequestId,
    },
    /// Only the recognizer (the prompt finished, was skipped, or the caller talked over it).
    Active { listen: RequestId },
    /// Keys typed so far toward a key route (listening has ended).
    Keys { digits: String },
}

impl Listening {
    /// `(playback to stop, recognizer to cancel)`.
    pub(crate) fn in_flight(&self) -> (Option<RequestId>, Option<RequestId>) {
        match self.phase {
            Phase::Prompt { play, listen, .. } => (Some(play), Some(listen)),
            Phase::Active { listen, .. } => (None, Some(listen)),
            Phase::Keys { .. } => (None, None),
        }
    }

    fn listen_id(&self) -> Option<RequestId> {
        match self.phase {
            Phase::Prompt { listen, .. } | Phase::Active { listen, .. } => Some(listen),
            Phase::Keys { .. } => None,
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
            phase: Phase::Keys {
                digits: String::new(),
            },
        };
        // A key pressed during the play before this node is its first key, if it routes keys.
        if let Some(d) = self.typeahead.take().filter(|_| !cfg.keys.is_empty()) {
            return self.listen_key(program, l, cfg, d, now);
        }
        self.listen_attempt(program, l, cfg, now)
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
            Phase::Prompt {
                mut list,
                play,
                listen,
            } if play == done => {
                match self.play_next(program, &program.node(l.node).kind, &mut list) {
                    Some(play) => self.wait(Listening {
                        phase: Phase::Prompt { list, play, listen },
                        ..l
                    }),
                    None => {
                        self.timers.set(Timer::ListenDeadline, now + cfg.timeout);
                        self.wait(Listening {
                            phase: Phase::Active { listen },
                            ..l
                        })
                    }
                }
            }
            _ => self.wait(l),
        }
    }

    /// With key routes a key ends listening and is routed; otherwise it only skips the prompt.
    pub(super) fn listen_digit(
        &mut self,
        program: &Program,
        l: Listening,
        d: Digit,
        now: Instant,
    ) -> Step {
        let cfg = listen_of(program, l.node);
        if !cfg.keys.is_empty() {
            return self.listen_key(program, l, cfg, d, now);
        }
        match l.phase {
            Phase::Prompt { play, listen, .. } => {
                self.push(Action::Stop { id: play });
                self.timers.set(Timer::ListenDeadline, now + cfg.timeout);
                self.wait(Listening {
                    phase: Phase::Active { listen },
                    ..l
                })
            }
            _ => self.wait(l),
        }
    }

    /// The caller started talking: the prompt stops, the no-speech deadline becomes a backstop.
    pub(super) fn on_speech_started(&mut self, id: RequestId, now: Instant) -> Step {
        let l = match std::mem::replace(&mut self.state, State::Idle) {
            State::Listening(l) if l.listen_id() == Some(id) => l,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        if let Phase::Prompt { play, .. } = l.phase {
            self.push(Action::Stop { id: play });
        }
        self.timers
            .set(Timer::ListenDeadline, now + SPEECH_BACKSTOP);
        self.wait(Listening {
            phase: Phase::Active { listen: id },
            ..l
        })
    }

    pub(super) fn on_speech(
        &mut self,
        id: RequestId,
        result: Result<String, String>,
        now: Instant,
    ) -> Step {
        let program = std::sync::Arc::clone(&self.program);
        let l = match std::mem::replace(&mut self.state, State::Idle) {
            State::Listening(l) if l.listen_id() == Some(id) => l,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        let cfg = listen_of(&program, l.node);
        self.timers.stop(Timer::ListenDeadline);
        if let Phase::Prompt { play, .. } = l.phase {
            self.push(Action::Stop { id: play });
        }
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
        let (stop, cancel) = l.in_flight();
        if let Some(id) = stop {
            self.push(Action::Stop { id });
        }
        if let Some(id) = cancel {
            self.push(Action::Cancel { id });
        }
        self.listen_fail(program, l, cfg, now)
    }

    /// Starts an attempt: the recognizer, then the prompt over it.
    fn listen_attempt(
        &mut self,
        program: &Program,
        l: Listening,
        cfg: &Listen,
        now: Instant,
    ) -> Step {
        let listen = self.request_id();
        self.push(Action::Listen {
            id: listen,
            timeout: cfg.timeout,
            language: cfg.language.clone(),
            engine: cfg.engine,
            silence: cfg.silence,
            grammar: cfg.grammar.clone(),
        });
        let mut list = Playlist::of(List::Main);
        match self.play_next(program, &program.node(l.node).kind, &mut list) {
            Some(play) => self.wait(Listening {
                phase: Phase::Prompt { list, play, listen },
                ..l
            }),
            None => {
                self.timers.set(Timer::ListenDeadline, now + cfg.timeout);
                self.wait(Listening {
                    phase: Phase::Active { listen },
                    ..l
                })
            }
        }
    }

    fn listen_key(
        &mut self,
        program: &Program,
        l: Listening,
        cfg: &Listen,
        d: Digit,
        now: Instant,
    ) -> Step {
        let (stop, cancel) = l.in_flight();
        if let Some(id) = stop {
            self.push(Action::Stop { id });
        }
        if let Some(id) = cancel {
            self.push(Action::Cancel { id });
        }
        let mut digits = match &l.phase {
            Phase::Keys { digits } => digits.clone(),
            _ => String::new(),
        };
        digits.push(d.as_char());
        self.timers.stop(Timer::ListenDeadline);
        if let Some((_, target)) = cfg.keys.iter().find(|(k, _)| *k == digits) {
            if let Some(name) = &cfg.save {
                self.vars.insert(name.clone(), Value::from(digits.as_str()));
            }
            return Step::Goto(*target);
        }
        if cfg.keys.iter().any(|(k, _)| k.starts_with(&digits)) {
            self.timers.set(Timer::ListenDeadline, now + cfg.timeout);
            return self.wait(Listening {
                phase: Phase::Keys { digits },
                ..l
            });
        }
        self.listen_fail(program, l, cfg, now)
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
        self.listen_attempt(program, l, cfg, now)
    }

    fn wait(&mut self, l: Listening) -> Step {
        self.state = State::Listening(l);
        Step::Wait
    }
}

fn listen_of(program: &Program, node: NodeId) -> &Listen {
    match &program.node(node).kind {
        NodeKind::Listen(c) => c,
        // Not `Step::Wait`: a call left in `Idle` with no timer would wait forever, silently.
        _ => panic!(
            "invariant: a Listening state names a listen node (only enter_listen builds one)"
        ),
    }
}

#[cfg(test)]
#[path = "listen_tests.rs"]
mod tests;
