//! [`CallDriver`]: the sans-IO core of one call — the flow machine, its side requests in flight
//! and its timers — between a leg and the integrations.
//!
//! Inputs ([`DriverInput`]): what the leg reported ([`LegEvent`]), a finished side request
//! ([`Done`]), a timeout, the drain deadline. Outputs ([`DriverOutput`]): commands for the leg
//! ([`LegCmd`]), side requests to start or cancel, control signals, and the call's place in the
//! flow for `/api/calls`. The caller supplies `now`; the driver never reads a clock, spawns,
//! locks or awaits (STYLE §1), so every rule below is tested on virtual time
//! (`driver_tests.rs`).
//!
//! Rules it owns:
//! - the flow starts on [`LegEvent::Answered`]; nothing reaches the machine before that;
//! - every request the machine makes is tracked in `inflight` until its result comes or the
//!   machine abandons it (`Stop`/`Cancel`); a result for anything not in flight is dropped;
//! - `say` is two steps: the speech file ([`Done::Tts`]) becomes a `Play` on the leg — or one,
//!   when a remote engine streamed it into the call's audio ([`Done::Spoken`]);
//! - a voice agent the flow will reach soon is prepared ([`DriverOutput::Prepare`]) so its
//!   connection is up when its node starts; keys for it go as [`Control::Dtmf`];
//! - a transfer goes out only to a target `transfer.allow` accepts
//!   ([`crate::policy::transfer`]); a refused one fails at once (and is counted);
//! - a transfer that reports no outcome within [`TRANSFER_TIMEOUT`] fails
//!   ([`DriverTimer::TransferDeadline`]);
//! - the end of the leg, or the drain, ends the flow; a flow that ends hangs the leg up;
//! - a panic inside the machine (a bug: a broken invariant) hangs the call up with an error
//!   log instead of leaving it waiting forever or taking the call's task down;
//! - every input the machine gets, every node it enters and every action it emits is logged as
//!   the call's events ([`CallLog`]: one line each with the call id, a summary line when the
//!   driver is dropped), and handed on by [`CallDriver::poll_event`] (the call register's
//!   timeline: one story of the call).
//!
//! Not owned here: what a node does (the machine), how a leg plays or transfers (legs), how a
//! side request runs (integrations).

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::call_log::CallLog;
use crate::engine::integrations::{Ask, Control, Done, Request};
use crate::engine::leg::{LegCmd, LegEvent};
use crate::engine::pii::Pii;
use crate::flow::program::Program;
use crate::machine::io::{
    Action, AgentRequest, CallInfo, Emitted, HangupReason, Input, Media, RequestId,
};
use crate::machine::Call as Machine;
use crate::policy::counters::{self, Counters};
use crate::policy::transfer::{self, TransferPolicy};

/// How long a blind transfer may take to report its outcome (REFER answer and a final NOTIFY)
/// before the flow is told it failed.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the driver is fed.
#[derive(Debug)]
pub enum DriverInput {
    Leg(LegEvent),
    Done(Done),
    /// A running side request asks for something ([`Ask`]).
    Ask(RequestId, Ask),
    /// `now` reached [`CallDriver::poll_timeout`].
    Timeout,
    /// The server's drain deadline: hang up.
    Drain,
}

/// What the driver asks its pump to do.
#[derive(Debug)]
pub enum DriverOutput {
    Leg(LegCmd),
    /// Start a side request; its [`Done`] comes back as an input.
    Start(Request),
    /// Abandon a side request (abort it; its audio, if any, is detached).
    Cancel(RequestId),
    /// A signal for a running side request.
    Control(RequestId, Control),
    /// The flow will soon need this voice agent: connect it ahead (a hint; the `Agent` request
    /// that follows adopts the connection).
    Prepare(Box<AgentRequest>),
    /// An `ack` node marked the call (for its outbound job).
    Mark(crate::flow::program::Mark),
    /// The call moved (for `/api/calls`).
    View {
        node: String,
        theme: String,
    },
}

/// The driver's own timers (the machine keeps its own table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverTimer {
    /// A transfer that has not reported its outcome fails at this instant.
    TransferDeadline,
}

impl DriverTimer {
    const COUNT: usize = 1;

    fn index(self) -> usize {
        match self {
            DriverTimer::TransferDeadline => 0,
        }
    }
}

/// What a request in flight is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inflight {
    /// A prompt on the leg.
    Playback,
    /// A `say` waiting for its speech file.
    Speech,
    /// A side request (http, listen, agent, stream, record).
    Side,
    Transfer,
}

/// One call's flow and requests (see the module docs).
pub struct CallDriver {
    /// The leg's id, for logs.
    id: String,
    machine: Machine,
    inflight: HashMap<RequestId, Inflight>,
    timers: [Option<Instant>; DriverTimer::COUNT],
    out: VecDeque<DriverOutput>,
    started: bool,
    leg_ended: bool,
    /// The machine panicked: the call is over.
    broken: bool,
    /// What the machine emitted for the last input (reused buffer).
    actions: Vec<Emitted>,
    /// Inputs decided while executing actions (a refused transfer), fed next.
    pending: VecDeque<Input>,
    transfer_policy: Arc<TransferPolicy>,
    /// The last place reported by `View`.
    view: (String, String),
    /// What the flow does, as log lines (`engine::call_log`).
    log: CallLog,
}

impl CallDriver {
    /// A driver for one call of `program`; transfers are checked against `transfer_policy`.
    pub fn new(
        program: Arc<Program>,
        info: CallInfo,
        transfer_policy: Arc<TransferPolicy>,
    ) -> CallDriver {
        let log = CallLog::new(&info.id, &program, &info, false);
        CallDriver {
            id: info.id.clone(),
            log,
            machine: Machine::new(program, info),
            inflight: HashMap::new(),
            timers: [None; DriverTimer::COUNT],
            out: VecDeque::new(),
            started: false,
            leg_ended: false,
            broken: false,
            actions: Vec::new(),
            pending: VecDeque::new(),
            transfer_policy,
            view: (String::new(), String::new()),
        }
    }

    /// Masks callers' numbers in the call log (`log.redact_numbers`).
    pub fn redact_numbers(mut self, on: bool) -> Self {
        self.log.set_redact(on);
        self
    }

    /// Feeds one input at `now`, then runs the machine until it waits.
    pub fn handle(&mut self, input: DriverInput, now: Instant) {
        match input {
            DriverInput::Leg(ev) => self.on_leg(ev, now),
            DriverInput::Done(done) => self.on_done(done, now),
            DriverInput::Ask(id, ask) => self.on_ask(id, ask),
            DriverInput::Timeout => self.on_timeout(now),
            DriverInput::Drain => {
                tracing::info!(call = %self.id, "drain timeout: hanging up");
                self.out.push_back(DriverOutput::Leg(LegCmd::Hangup));
                self.feed(Input::Hangup, now);
            }
        }
        self.update_view();
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<DriverOutput> {
        self.out.pop_front()
    }

    /// When [`DriverInput::Timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.broken {
            return None;
        }
        let machine = if self.started && !self.machine.is_ended() {
            self.machine.poll_timeout()
        } else {
            None
        };
        self.timers.iter().flatten().copied().chain(machine).min()
    }

    /// Whether the call is over (the flow ended, or the leg ended before the flow started).
    pub fn is_ended(&self) -> bool {
        self.broken || self.machine.is_ended() || (self.leg_ended && !self.started)
    }

    /// Before the call is answered: asks to prepare the agent the flow needs first, if any
    /// (its start node is an agent, or a play/say leading to one).
    pub fn prepare_at_start(&mut self) {
        if let Some(agent) = self.machine.agent_at_start() {
            self.out.push_back(DriverOutput::Prepare(Box::new(agent)));
        }
    }

    /// The call's variables (the call register keeps them at the end).
    pub fn vars(&self) -> &std::collections::BTreeMap<String, minijinja::Value> {
        self.machine.vars()
    }

    /// The next event of the call's story (what the call log logged), oldest first: the call
    /// register's timeline. Events not polled are bounded ([`crate::trace::MAX_QUEUED`]).
    pub fn poll_event(&mut self) -> Option<crate::sim::event::Event> {
        self.log.poll_event()
    }

    /// Requests in flight (for tests and logs).
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    fn on_leg(&mut self, ev: LegEvent, now: Instant) {
        match ev {
            LegEvent::Answered => {
                if !self.started {
                    self.started = true;
                    self.feed(Input::Answered, now);
                }
            }
            LegEvent::Dtmf { digit, method } => {
                // At info the call log has the key, and the leg the methods used.
                tracing::debug!(call = %self.id, digit = %digit, method = ?method, "dtmf");
                self.feed(Input::Dtmf(digit), now);
            }
            LegEvent::PlaybackFinished(id) => {
                if self.take(id, Inflight::Playback) {
                    self.feed(Input::PlaybackFinished(id), now);
                }
            }
            LegEvent::PlaybackFailed { id, reason } => {
                if self.take(id, Inflight::Playback) {
                    self.feed(Input::PlaybackFailed { id, reason }, now);
                }
            }
            LegEvent::TransferResult { id, result } => {
                if self.take(id, Inflight::Transfer) {
                    self.timers[DriverTimer::TransferDeadline.index()] = None;
                    self.feed(Input::TransferResult { id, result }, now);
                }
            }
            LegEvent::Ended(how) => {
                tracing::info!(call = %self.id, reason = %how, "leg ended");
                self.leg_ended = true;
                self.feed(Input::Hangup, now);
            }
        }
    }

    fn on_done(&mut self, done: Done, now: Instant) {
        let id = done.id();
        match done {
            Done::Tts { result, .. } => {
                if !self.take(id, Inflight::Speech) {
                    return;
                }
                match result {
                    Ok(path) => self.play(id, Media::File(path)),
                    Err(reason) => {
                        tracing::error!(call = %self.id, error = %reason, "say failed");
                        self.feed(Input::PlaybackFailed { id, reason }, now);
                    }
                }
            }
            Done::Spoken { result, .. } => {
                if !self.take(id, Inflight::Speech) {
                    return;
                }
                match result {
                    Ok(()) => self.feed(Input::PlaybackFinished(id), now),
                    Err(reason) => {
                        tracing::error!(call = %self.id, error = %reason, "say failed");
                        self.feed(Input::PlaybackFailed { id, reason }, now);
                    }
                }
            }
            Done::Http { result, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::HttpResponse { id, result }, now);
                }
            }
            Done::SpeechStarted { .. } => {
                // Not final: the listen stays in flight.
                if self.inflight.get(&id) == Some(&Inflight::Side) {
                    self.feed(Input::SpeechStarted { id }, now);
                }
            }
            Done::Speech { result, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::Speech { id, result }, now);
                }
            }
            Done::Agent { result, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::AgentEnded { id, result }, now);
                }
            }
            Done::Stream { result, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::StreamEnded { id, result }, now);
                }
            }
            Done::StreamTransfer { target, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::StreamTransfer { id, target }, now);
                }
            }
            Done::Record { result, .. } => {
                if self.take(id, Inflight::Side) {
                    self.feed(Input::RecordFinished { id, result }, now);
                }
            }
        }
    }

    /// A side request still in flight may ask the leg for things; a late ask is dropped.
    fn on_ask(&mut self, id: RequestId, ask: Ask) {
        if self.inflight.get(&id) != Some(&Inflight::Side) || self.leg_ended {
            return;
        }
        match ask {
            Ask::SendDtmf(d) => {
                tracing::info!(call = %self.id, digit = %d, "sending a key for the bot");
                self.out.push_back(DriverOutput::Leg(LegCmd::SendDtmf(d)));
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let slot = DriverTimer::TransferDeadline.index();
        if self.timers[slot].is_some_and(|t| t <= now) {
            self.timers[slot] = None;
            let transfer = self
                .inflight
                .iter()
                .find(|(_, k)| **k == Inflight::Transfer)
                .map(|(id, _)| *id);
            if let Some(id) = transfer {
                self.inflight.remove(&id);
                tracing::warn!(call = %self.id, "transfer: no outcome in time");
                let result = Err(format!("no outcome within {}s", TRANSFER_TIMEOUT.as_secs()));
                self.feed(Input::TransferResult { id, result }, now);
            }
        }
        if self.started && self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.feed(Input::Timeout, now);
        }
    }

    /// Removes `id` if it is in flight as `kind`; `false` for a late or unknown result.
    fn take(&mut self, id: RequestId, kind: Inflight) -> bool {
        if self.inflight.get(&id) == Some(&kind) {
            self.inflight.remove(&id);
            true
        } else {
            false
        }
    }

    /// Feeds the machine (once the flow has started) and executes what it asks.
    fn feed(&mut self, input: Input, now: Instant) {
        self.pending.push_back(input);
        while let Some(input) = self.pending.pop_front() {
            if !self.started || self.machine.is_ended() || self.broken {
                self.pending.clear();
                return;
            }
            self.log.input(&input, now);
            let (machine, actions) = (&mut self.machine, &mut self.actions);
            let ran = catch_unwind(AssertUnwindSafe(|| {
                machine.handle(input, now);
                actions.extend(std::iter::from_fn(|| machine.poll_emitted()));
            }));
            if ran.is_err() {
                self.actions.clear();
                self.pending.clear();
                return self.broke();
            }
            let mut actions = std::mem::take(&mut self.actions);
            for e in actions.drain(..) {
                self.log.emitted(&e, self.machine.program(), now);
                if let Emitted::Action(a) = e {
                    self.execute(a, now);
                }
            }
            self.actions = actions;
        }
    }

    /// The machine panicked: nothing it holds can be trusted, so the call ends here.
    fn broke(&mut self) {
        tracing::error!(call = %self.id, "the flow machine failed (bug): hanging up");
        self.broken = true;
        self.timers = [None; DriverTimer::COUNT];
        for (id, kind) in self.inflight.drain() {
            if matches!(kind, Inflight::Speech | Inflight::Side) {
                self.out.push_back(DriverOutput::Cancel(id));
            }
        }
        if !self.leg_ended {
            self.out.push_back(DriverOutput::Leg(LegCmd::Hangup));
        }
    }

    fn play(&mut self, id: RequestId, media: Media) {
        self.inflight.insert(id, Inflight::Playback);
        self.out
            .push_back(DriverOutput::Leg(LegCmd::Play { id, media }));
    }

    fn start(&mut self, req: Request, kind: Inflight) {
        self.inflight.insert(req.id(), kind);
        self.out.push_back(DriverOutput::Start(req));
    }

    fn execute(&mut self, action: Action, now: Instant) {
        let call = &self.id;
        match action {
            Action::Play { id, media } => self.play(id, media),
            Action::Say {
                id,
                text,
                voice,
                engine,
            } => self.start(
                Request::Say {
                    id,
                    text,
                    voice,
                    engine,
                },
                Inflight::Speech,
            ),
            Action::Stop { id } | Action::Cancel { id } => match self.inflight.remove(&id) {
                Some(Inflight::Playback) => {
                    self.out.push_back(DriverOutput::Leg(LegCmd::Stop { id }))
                }
                Some(Inflight::Speech | Inflight::Side) => {
                    self.out.push_back(DriverOutput::Cancel(id))
                }
                Some(Inflight::Transfer) | None => {}
            },
            // Logged by the call log.
            Action::Theme { .. } => {}
            Action::Http(req) => self.start(Request::Http(req), Inflight::Side),
            Action::Listen {
                id,
                timeout,
                language,
                engine,
                silence,
                grammar,
            } => self.start(
                Request::Listen {
                    id,
                    timeout,
                    language,
                    engine,
                    silence,
                    grammar,
                },
                Inflight::Side,
            ),
            Action::Agent { id, agent } => self.start(Request::Agent { id, agent }, Inflight::Side),
            Action::PrepareAgent { agent } => self.out.push_back(DriverOutput::Prepare(agent)),
            Action::Stream(req) => self.start(Request::Stream(req), Inflight::Side),
            Action::AgentDtmf { id, digit } | Action::StreamDtmf { id, digit } => {
                if self.inflight.get(&id) == Some(&Inflight::Side) {
                    self.out
                        .push_back(DriverOutput::Control(id, Control::Dtmf(digit)));
                }
            }
            Action::Record {
                id,
                max,
                beep,
                silence,
            } => {
                let node = self.node_name().to_owned();
                let req = Request::Record {
                    id,
                    max,
                    beep,
                    silence,
                    node,
                };
                self.start(req, Inflight::Side)
            }
            Action::FinishRecording { id } => {
                if self.inflight.get(&id) == Some(&Inflight::Side) {
                    self.out
                        .push_back(DriverOutput::Control(id, Control::Finish));
                }
            }
            Action::Transfer { id, target } => {
                let origin =
                    transfer::origin_of(self.machine.program(), self.machine.current_node());
                if let Err(why) = self.transfer_policy.check(&target, origin) {
                    tracing::warn!(%call, target = %Pii(&target), reason = %why, "transfer refused");
                    Counters::bump(&counters::global().transfer_refused);
                    let result = Err(why.to_string());
                    self.pending.push_back(Input::TransferResult { id, result });
                    return;
                }
                self.inflight.insert(id, Inflight::Transfer);
                self.timers[DriverTimer::TransferDeadline.index()] = Some(now + TRANSFER_TIMEOUT);
                self.out
                    .push_back(DriverOutput::Leg(LegCmd::Transfer { id, target }));
            }
            Action::Hangup { reason } => {
                for (id, kind) in self.inflight.drain() {
                    if matches!(kind, Inflight::Speech | Inflight::Side) {
                        self.out.push_back(DriverOutput::Cancel(id));
                    }
                }
                self.timers = [None; DriverTimer::COUNT];
                if reason != HangupReason::Remote && !self.leg_ended {
                    self.out.push_back(DriverOutput::Leg(LegCmd::Hangup));
                }
            }
            // Logged by the call log (with the node).
            Action::Warn { .. } => {}
            Action::Mark { mark } => {
                tracing::info!(%call, mark = mark.as_str(), "the flow marked the call");
                self.out.push_back(DriverOutput::Mark(mark));
            }
        }
    }

    /// The name of the node the call is in (`""` before the first).
    fn node_name(&self) -> &str {
        self.machine
            .current_node()
            .and_then(|n| self.machine.program().nodes.get(n.0 as usize))
            .map_or("", |n| n.name.as_str())
    }

    /// Emits `View` when the node or theme changed.
    fn update_view(&mut self) {
        let changed = self.view.0 != self.node_name() || self.view.1 != self.machine.theme();
        if changed {
            self.view = (
                self.node_name().to_string(),
                self.machine.theme().to_string(),
            );
            self.out.push_back(DriverOutput::View {
                node: self.view.0.clone(),
                theme: self.view.1.clone(),
            });
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
