//! The call's register record ([`crate::register::CallRecorder`]), fed by the pump. Plain data:
//! no I/O but the recorder's non-blocking `send`.
//!
//! What happened in the flow is not worked out here: it is the call's
//! [`crate::trace::CallTrace`] (the driver's call log), whose events the pump hands over after
//! every input ([`RegisterHook::traced`]) — the same events the log writes, so the log, the
//! register's timeline and its keys/nodes/themes tell one story (nodes entered include pure
//! routing nodes). This hook only adds what the trace cannot know, from the leg and the pump:
//! the SIP milestones (ringing, the answer's time and codec) and the end reason, the first
//! cause seen — the caller hanging up, the flow hanging up (or transferring the call), the
//! drain, or the leg failing.

use std::time::Instant;

use super::driver::{DriverInput, DriverOutput};
use crate::engine::leg::{Leg, LegCmd, LegEnd, LegEvent};
use crate::register::CallRecorder;
use crate::sim::event::EventKind;

/// One call's recorder and what the pump has learnt about the end.
pub struct RegisterHook {
    rec: CallRecorder,
    /// The flow's starting theme, listed in the record once the call is answered.
    start_theme: String,
    reason: Option<&'static str>,
}

impl RegisterHook {
    pub fn new(rec: CallRecorder, start_theme: &str) -> RegisterHook {
        RegisterHook {
            rec,
            start_theme: start_theme.to_string(),
            reason: None,
        }
    }

    fn because(&mut self, reason: &'static str) {
        self.reason.get_or_insert(reason);
    }

    /// An input about to be handed to the driver: the leg's milestones and end.
    pub fn input(&mut self, input: &DriverInput, leg: &Leg, now: Instant) {
        match input {
            DriverInput::Leg(LegEvent::Answered) => {
                let facts = leg.facts();
                if let Some(at) = facts.ringing_at {
                    self.rec.ringing(at);
                }
                self.rec.answered(now, facts.codec.as_deref().unwrap_or(""));
                self.rec.start_theme(&self.start_theme);
            }
            DriverInput::Leg(LegEvent::Ended(how)) => self.because(match how {
                LegEnd::Remote => "caller_hangup",
                LegEnd::Local => "flow_hangup",
                LegEnd::NoMedia => "rtp_timeout",
                LegEnd::MediaLost => "media_failed",
                LegEnd::Failed(_) => "failed",
            }),
            DriverInput::Drain => self.because("shutdown"),
            DriverInput::Leg(_)
            | DriverInput::Done(_)
            | DriverInput::Ask(..)
            | DriverInput::Timeout => {}
        }
    }

    /// One event of the call's trace ([`super::driver::CallDriver::poll_event`]), at `now`.
    pub fn traced(&mut self, kind: &EventKind, now: Instant) {
        if let EventKind::Hangup { reason } = kind {
            match reason.as_str() {
                "remote" => {}
                "transferred" => self.because("transferred"),
                _ => self.because("flow_hangup"),
            }
        }
        self.rec.traced(now, kind);
    }

    /// A batch of outputs about to be executed: a hangup the trace did not tell (the machine
    /// failing) still ends the call as the flow's.
    pub fn outputs(&mut self, outs: &[DriverOutput]) {
        if outs
            .iter()
            .any(|o| matches!(o, DriverOutput::Leg(LegCmd::Hangup)))
        {
            self.because("flow_hangup");
        }
    }

    /// The call is over: the variables, the reason, the last row.
    pub fn finish<'a, V: serde::Serialize + 'a>(
        mut self,
        vars: impl IntoIterator<Item = (&'a String, &'a V)>,
        now: Instant,
    ) {
        self.rec.set_vars(vars);
        let reason = self.reason.unwrap_or("ended");
        self.rec.end(now, reason, None);
    }
}
