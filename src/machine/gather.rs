//! DTMF collection for `gather` nodes.
//!
//! An attempt plays the prompt (a digit stops it and counts as the first digit), then waits
//! `timeout` for a first digit and `inter_digit_timeout` between digits. Entry is complete when
//! `max` digits are in, when `finish_on` is pressed with at least `min` digits, or when the
//! inter-digit timer fires with at least `min`. A complete entry is saved (`save` and
//! `{{ digits }}`) and routed by exact match; with no routes it goes to `next`.
//!
//! A failure is an entry no route takes (or `finish_on` / the inter-digit timeout with fewer
//! than `min` digits): play `invalid`; or no digit before `timeout`: play `no_input`. Each counts
//! a try. While tries remain, the feedback is followed by the prompt again (a digit during either
//! starts the next attempt). After `tries` failures the feedback plays to its end (digits other
//! than global keys are ignored) and the call goes to `on_fail` (default: return from a subflow,
//! or hang up with [`HangupReason::Failed`](crate::machine::io::HangupReason::Failed)).

use std::time::Instant;

use minijinja::Value;

use crate::flow::digit::Digit;
use crate::flow::program::{Gather, NodeId, NodeKind, Program};
use crate::machine::call::{Call, State, Step};
use crate::machine::io::{Action, RequestId};
use crate::machine::playlist::{List, Playlist};
use crate::machine::timers::Timer;

/// A gather in progress.
pub(crate) struct Gathering {
    pub(crate) node: NodeId,
    failures: u8,
    digits: String,
    phase: Phase,
}

enum Phase {
    /// Playing prompts; `exhausted` when this is the last failure's feedback before `on_fail`.
    Prompt {
        list: Playlist,
        id: RequestId,
        exhausted: bool,
    },
    /// Waiting for digits (the `NoInput` or `InterDigit` timer is armed).
    Waiting,
}

#[derive(Clone, Copy)]
enum Failure {
    Invalid,
    NoInput,
}

impl Gathering {
    /// The prompt being played, if any.
    pub(crate) fn playing(&self) -> Option<RequestId> {
        match self.phase {
            Phase::Prompt { id, .. } => Some(id),
            Phase::Waiting => None,
        }
    }
}

impl Call {
    pub(super) fn enter_gather(
        &mut self,
        program: &Program,
        node: NodeId,
        cfg: &Gather,
        now: Instant,
    ) -> Step {
        let g = Gathering {
            node,
            failures: 0,
            digits: String::with_capacity(cfg.max_digits as usize),
            phase: Phase::Waiting,
        };
        match self.typeahead.take() {
            Some(d) => self.gather_digit(program, g, d, now),
            None => self.gather_play(program, g, cfg, Playlist::of(List::Main), false, now),
        }
    }

    pub(super) fn gather_digit(
        &mut self,
        program: &Program,
        mut g: Gathering,
        d: Digit,
        now: Instant,
    ) -> Step {
        let cfg = gather_of(program, g.node);
        if let Phase::Prompt { id, exhausted, .. } = g.phase {
            if exhausted {
                self.state = State::Gathering(g);
                return Step::Wait;
            }
            self.push(Action::Stop { id });
            g.phase = Phase::Waiting;
        }
        self.timers.stop(Timer::NoInput);
        self.timers.stop(Timer::InterDigit);
        if cfg.finish_on == Some(d) {
            return if g.digits.len() >= cfg.min_digits as usize {
                self.gather_complete(program, g, cfg, now)
            } else {
                self.gather_fail(program, g, cfg, Failure::Invalid, now)
            };
        }
        g.digits.push(d.as_char());
        if g.digits.len() >= cfg.max_digits.max(1) as usize {
            return self.gather_complete(program, g, cfg, now);
        }
        self.timers
            .set(Timer::InterDigit, now + cfg.inter_digit_timeout);
        self.state = State::Gathering(g);
        Step::Wait
    }

    pub(super) fn gather_timer(
        &mut self,
        program: &Program,
        g: Gathering,
        timer: Timer,
        now: Instant,
    ) -> Step {
        let cfg = gather_of(program, g.node);
        match timer {
            Timer::InterDigit if g.digits.len() >= cfg.min_digits as usize => {
                self.gather_complete(program, g, cfg, now)
            }
            Timer::InterDigit => self.gather_fail(program, g, cfg, Failure::Invalid, now),
            _ if g.digits.is_empty() => self.gather_fail(program, g, cfg, Failure::NoInput, now),
            _ => self.gather_fail(program, g, cfg, Failure::Invalid, now),
        }
    }

    pub(super) fn gather_playback_done(
        &mut self,
        program: &Program,
        g: Gathering,
        done: RequestId,
        now: Instant,
    ) -> Step {
        let cfg = gather_of(program, g.node);
        match g.phase {
            Phase::Prompt {
                list,
                id,
                exhausted,
            } if id == done => self.gather_play(program, g, cfg, list, exhausted, now),
            _ => {
                self.state = State::Gathering(g);
                Step::Wait
            }
        }
    }

    /// Plays the rest of `list`, then waits for digits (or fails over when `exhausted`).
    fn gather_play(
        &mut self,
        program: &Program,
        mut g: Gathering,
        cfg: &Gather,
        mut list: Playlist,
        exhausted: bool,
        now: Instant,
    ) -> Step {
        if let Some(id) = self.play_next(program, &program.node(g.node).kind, &mut list) {
            g.phase = Phase::Prompt {
                list,
                id,
                exhausted,
            };
            self.state = State::Gathering(g);
            return Step::Wait;
        }
        if exhausted {
            return self.exhausted(cfg.on_fail);
        }
        g.phase = Phase::Waiting;
        self.timers.set(Timer::NoInput, now + cfg.timeout);
        self.state = State::Gathering(g);
        Step::Wait
    }

    fn gather_complete(
        &mut self,
        program: &Program,
        mut g: Gathering,
        cfg: &Gather,
        now: Instant,
    ) -> Step {
        self.digits.clear();
        self.digits.push_str(&g.digits);
        if let Some(name) = &cfg.save {
            self.vars
                .insert(name.clone(), Value::from(g.digits.as_str()));
        }
        if let Some((_, target)) = cfg.routes.iter().find(|(k, _)| *k == g.digits) {
            return Step::Goto(*target);
        }
        if cfg.routes.is_empty() {
            if let Some(next) = cfg.next {
                return Step::Goto(next);
            }
        }
        g.digits.clear();
        self.gather_fail(program, g, cfg, Failure::Invalid, now)
    }

    fn gather_fail(
        &mut self,
        program: &Program,
        mut g: Gathering,
        cfg: &Gather,
        failure: Failure,
        now: Instant,
    ) -> Step {
        g.failures = g.failures.saturating_add(1);
        g.digits.clear();
        let feedback = match failure {
            Failure::Invalid => List::Invalid,
            Failure::NoInput => List::NoInput,
        };
        let exhausted = g.failures >= cfg.tries.max(1);
        let list = if exhausted {
            Playlist::of(feedback)
        } else {
            Playlist::then(feedback, List::Main)
        };
        self.gather_play(program, g, cfg, list, exhausted, now)
    }
}

/// The config of the node a `Gathering` state belongs to.
fn gather_of(program: &Program, node: NodeId) -> &Gather {
    match &program.node(node).kind {
        NodeKind::Gather(c) => c,
        // Not `Step::Wait`: a call left in `Idle` with no timer would wait forever, silently.
        _ => panic!(
            "invariant: a Gathering state names a gather node (only enter_gather builds one)"
        ),
    }
}

#[cfg(test)]
impl Call {
    /// Puts the call in a `Gathering` state for `node`, whatever kind of node it is: for tests
    /// of what a broken invariant does to a call.
    pub(crate) fn force_gathering(&mut self, node: NodeId) {
        self.state = State::Gathering(Gathering {
            node,
            failures: 0,
            digits: String::new(),
            phase: Phase::Waiting,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::flow::program::{Hangup, NodeKind};
    use crate::machine::testkit::{Builder, Harness};

    /// Regression: a broken invariant used to leave the call in `Idle` with no timer, waiting
    /// forever without a word; now it panics naming the invariant (and the call driver hangs
    /// the call up).
    #[test]
    #[should_panic(expected = "invariant: a Gathering state names a gather node")]
    fn a_gather_state_on_another_kind_of_node_panics_naming_the_invariant() {
        let mut b = Builder::new(&[]);
        b.def("end", NodeKind::Hangup(Hangup { reason: None }));
        let end = b.id("end");
        let mut h = Harness::new(b.build("end"));
        h.call.force_gathering(end);
        h.dtmf("1");
    }
}
