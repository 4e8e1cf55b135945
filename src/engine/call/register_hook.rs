//! The call's register record ([`crate::register::CallRecorder`]), fed by the pump from what
//! passes between the driver, the leg and the integrations: inputs before the driver sees them
//! (keys, results, the leg's end), outputs before they are executed (prompts, speech, webhooks,
//! transfers, hangups, the node and theme the call is in). Plain data: no I/O but the
//! recorder's non-blocking `send`.
//!
//! Timeline entries carry the names `phonetree simulate` uses (`play`, `say`, `dtmf`, `http`,
//! `http_response`, `speech`, `listen`, `agent`, `stream`, `record`, `transfer`, `hangup`),
//! plus `node` and `theme`. The end reason is the first cause seen: the flow hanging up, the
//! caller hanging up, the drain, or the leg failing.

use std::time::Instant;

use serde_json::json;

use super::driver::{DriverInput, DriverOutput};
use crate::engine::integrations::{Done, Request};
use crate::engine::leg::{Leg, LegCmd, LegEnd, LegEvent};
use crate::machine::io::Media;
use crate::register::CallRecorder;

/// One call's recorder and what the pump has learnt about the end.
pub struct RegisterHook {
    rec: CallRecorder,
    node: String,
    reason: Option<&'static str>,
}

impl RegisterHook {
    pub fn new(rec: CallRecorder) -> RegisterHook {
        RegisterHook {
            rec,
            node: String::new(),
            reason: None,
        }
    }

    fn because(&mut self, reason: &'static str) {
        self.reason.get_or_insert(reason);
    }

    /// An input about to be handed to the driver.
    pub fn input(&mut self, input: &DriverInput, leg: &Leg, now: Instant) {
        let rec = &mut self.rec;
        match input {
            DriverInput::Leg(LegEvent::Answered) => {
                let facts = leg.facts();
                if let Some(at) = facts.ringing_at {
                    rec.ringing(at);
                }
                rec.answered(now, facts.codec.as_deref().unwrap_or(""));
            }
            DriverInput::Leg(LegEvent::Dtmf { digit, .. }) => rec.dtmf(now, *digit),
            DriverInput::Leg(LegEvent::PlaybackFailed { reason, .. }) => {
                rec.event(now, json!({"event": "playback_failed", "reason": reason}));
            }
            DriverInput::Leg(LegEvent::TransferResult { result, .. }) => rec.event(
                now,
                json!({"event": "transfer_result", "ok": result.is_ok(),
                       "error": result.as_ref().err()}),
            ),
            DriverInput::Leg(LegEvent::Ended(how)) => self.because(match how {
                LegEnd::Remote => "caller_hangup",
                LegEnd::Local => "flow_hangup",
                LegEnd::NoMedia => "rtp_timeout",
                LegEnd::MediaLost => "media_failed",
                LegEnd::Failed(_) => "failed",
            }),
            DriverInput::Leg(LegEvent::PlaybackFinished(_)) | DriverInput::Timeout => {}
            DriverInput::Done(done) => done_event(rec, done, now),
            DriverInput::Drain => self.because("shutdown"),
        }
    }

    /// A batch of outputs about to be executed (the place the call moved to comes first, so
    /// each entry names the node it belongs to).
    pub fn outputs(&mut self, outs: &[DriverOutput], now: Instant) {
        if let Some((node, theme)) = outs.iter().rev().find_map(|o| match o {
            DriverOutput::View { node, theme } => Some((node, theme)),
            _ => None,
        }) {
            let shown = (!node.is_empty()).then_some(node.as_str());
            self.rec.observe(now, shown, theme);
            node.clone_into(&mut self.node);
        }
        for o in outs {
            self.output(o, now);
        }
    }

    fn output(&mut self, out: &DriverOutput, now: Instant) {
        let node = self.node.clone();
        let ev = match out {
            DriverOutput::Leg(LegCmd::Play { media, .. }) => {
                self.rec.responded(now);
                match media {
                    Media::File(p) => {
                        json!({"event": "play", "node": node, "file": p.display().to_string()})
                    }
                    Media::Url(u) => json!({"event": "play", "node": node, "url": u}),
                }
            }
            DriverOutput::Leg(LegCmd::Stop { .. }) => json!({"event": "stop", "node": node}),
            DriverOutput::Leg(LegCmd::Transfer { target, .. }) => {
                json!({"event": "transfer", "node": node, "target": target})
            }
            DriverOutput::Leg(LegCmd::SendDtmf(d)) => {
                json!({"event": "send_dtmf", "node": node, "digit": d.to_string()})
            }
            DriverOutput::Leg(LegCmd::Hangup) => {
                self.because("flow_hangup");
                json!({"event": "hangup", "node": node})
            }
            DriverOutput::Start(req) => match req {
                Request::Say { text, .. } => {
                    self.rec.responded(now);
                    json!({"event": "say", "node": node, "text": text})
                }
                Request::Http(r) => {
                    json!({"event": "http", "node": node, "method": r.method.as_str(), "url": r.url})
                }
                Request::Listen { .. } => json!({"event": "listen", "node": node}),
                Request::Agent { model, .. } => {
                    json!({"event": "agent", "node": node, "model": model})
                }
                Request::Stream { url, .. } => json!({"event": "stream", "node": node, "url": url}),
                Request::Record { .. } => json!({"event": "record", "node": node}),
            },
            DriverOutput::Leg(LegCmd::AttachAudio { .. } | LegCmd::DetachAudio { .. })
            | DriverOutput::Cancel(_)
            | DriverOutput::Control(..)
            | DriverOutput::View { .. } => return,
        };
        self.rec.event(now, ev);
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

fn done_event(rec: &mut CallRecorder, done: &Done, now: Instant) {
    let ev = match done {
        Done::Http { result: Ok(r), .. } => json!({"event": "http_response", "status": r.status}),
        Done::Http { result: Err(e), .. } => json!({"event": "http_error", "error": e}),
        Done::Speech {
            result: Ok(text), ..
        } => json!({"event": "speech", "text": text}),
        Done::Speech { result: Err(e), .. } => json!({"event": "listen_error", "error": e}),
        Done::Tts { result: Err(e), .. } => json!({"event": "say_error", "error": e}),
        Done::Agent { result, .. } => {
            json!({"event": "agent_ended", "error": result.as_ref().err()})
        }
        Done::Stream { result, .. } => {
            json!({"event": "stream_ended", "error": result.as_ref().err()})
        }
        Done::Record { result, .. } => {
            json!({"event": "record_ended", "error": result.as_ref().err()})
        }
        Done::Tts { result: Ok(_), .. } => return,
    };
    rec.event(now, ev);
}
