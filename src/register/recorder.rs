//! [`CallRecorder`]: one call's register record, filled in by the call's pump as things happen
//! and streamed to the [`Register`] (the row at each milestone, each timeline entry as it
//! occurs).
//!
//! Plain data and no I/O: the caller passes `now` (an `Instant`); wall-clock times are the
//! start's Unix milliseconds plus the monotonic offset, so a record's times never go backwards.
//! `at_ms` counts from the INVITE. Everything an outsider can grow is bounded (timeline
//! entries, keys, nodes, variable sizes).
//!
//! Two sources, one timeline: the SIP milestones (`invite`, `ringing`, the answer's time and
//! codec, `end`), told by the call's pump, and what happened in the flow, which is the call's
//! [`crate::trace::CallTrace`] — the same events the call log writes and `phonetree simulate`
//! prints (`answer`, `node`, `play`, `dtmf`, `http`, `warn`, `hangup`…), handed over with
//! [`CallRecorder::traced`] and kept as [`crate::trace::for_the_record`] says (no webhook body,
//! no URL query). The record's keys, nodes and themes are read from those events, so they
//! agree with the timeline and the log.
//!
//! The recorder also feeds the call metrics (setup time, duration, DTMF → response latency, calls
//! by flow/direction/outcome), since it sees every milestone exactly once.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{Item, Register};
use crate::db::calls::{CallRecord, Direction, TimelineEvent};
use crate::sim::event::EventKind;

/// Timeline entries kept per call; later ones are counted in the `end` entry.
pub const MAX_EVENTS: u32 = 2000;
/// Keys kept per call.
pub const MAX_DTMF: usize = 256;
/// Node entries kept per call.
pub const MAX_NODES: usize = 500;
/// Longest JSON text of one saved variable; longer values are replaced by a note.
pub const MAX_VAR_JSON: usize = 16 * 1024;
/// Variables kept per call.
pub const MAX_VARS: usize = 200;

/// One call's record in the making. Dropping it without [`CallRecorder::end`] ends it as
/// `aborted`.
pub struct CallRecorder {
    register: Register,
    rec: CallRecord,
    started: Instant,
    seq: u32,
    skipped: u32,
    answered_at: Option<Instant>,
    /// A key press waiting for the prompt that answers it (DTMF → response latency).
    dtmf_at: Option<Instant>,
    ended: bool,
}

impl CallRecorder {
    /// Starts a record (stamped with the register's node id) and writes its first row.
    pub fn start(
        register: &Register,
        direction: Direction,
        from: &str,
        to: &str,
        now: Instant,
    ) -> CallRecorder {
        let rec = CallRecord::new(
            crate::db::new_id(),
            register.node_id(),
            direction,
            from,
            to,
            crate::db::now_ms(),
        );
        let mut t = CallRecorder {
            register: register.clone(),
            rec,
            started: now,
            seq: 0,
            skipped: 0,
            answered_at: None,
            dtmf_at: None,
            ended: false,
        };
        t.event(now, json!({"event": "invite", "from": from, "to": to}));
        t.save();
        t
    }

    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// The record as it stands.
    pub fn record(&self) -> &CallRecord {
        &self.rec
    }

    /// The flow chosen for the call (written with the next milestone).
    pub fn set_flow(&mut self, name: &str, version: &str) {
        self.rec.flow = Some(name.to_string());
        self.rec.flow_version = Some(version.to_string());
    }

    /// The account the call came in on or goes out through.
    pub fn set_account(&mut self, account: &str) {
        self.rec.account = Some(account.to_string());
    }

    /// For outbound calls: the job and attempt this call is.
    pub fn set_job(&mut self, job_id: &str, attempt: u32) {
        self.rec.job_id = Some(job_id.to_string());
        self.rec.attempt = Some(attempt);
    }

    /// 180 Ringing went out at `now`.
    pub fn ringing(&mut self, now: Instant) {
        self.rec.ringing_ms = Some(self.wall(now));
        self.event(now, json!({"event": "ringing"}));
        self.save();
    }

    /// The call is up: setup time observed, the call counts as active. No timeline entry: the
    /// trace's `answer` event follows (and gets the codec).
    pub fn answered(&mut self, now: Instant, codec: &str) {
        if self.answered_at.is_some() {
            return;
        }
        self.answered_at = Some(now);
        self.rec.answered_ms = Some(self.wall(now));
        self.rec.sip_status = Some(200);
        self.rec.codec = Some(codec.to_string());
        let flow = self.rec.flow.clone().unwrap_or_default();
        self.save();
        let setup = now.saturating_duration_since(self.started).as_secs_f64();
        metrics::histogram!("phonetree_call_setup_seconds", "direction" => self.rec.direction.as_str())
            .record(setup);
        metrics::gauge!("phonetree_calls_active", "flow" => flow, "direction" => self.rec.direction.as_str())
            .increment(1.0);
    }

    /// The theme the call starts in: listed in the record; only changes are timeline entries.
    pub fn start_theme(&mut self, theme: &str) {
        self.add_theme(theme);
    }

    /// One event of the call's trace: a timeline entry (kept as
    /// [`crate::trace::for_the_record`] says; `answer` gets the codec), and the record's keys,
    /// nodes (every node entered, routing nodes too) and themes.
    pub fn traced(&mut self, now: Instant, kind: &EventKind) {
        let kind = crate::trace::for_the_record(kind);
        match &kind {
            EventKind::Node { node } if self.rec.nodes.len() < MAX_NODES => {
                self.rec.nodes.push(node.clone());
            }
            EventKind::Theme { theme } => self.add_theme(theme),
            EventKind::Dtmf { digit } => {
                if self.rec.dtmf.len() < MAX_DTMF {
                    self.rec.dtmf.push_str(digit);
                }
                self.dtmf_at = Some(now);
            }
            EventKind::Play { .. } | EventKind::Say { .. } => self.responded(now),
            _ => {}
        }
        let mut data = serde_json::to_value(&kind).unwrap_or(Value::Null);
        if let (EventKind::Answer { .. }, Some(codec)) = (&kind, &self.rec.codec) {
            data["codec"] = json!(codec);
        }
        self.event(now, data);
    }

    fn add_theme(&mut self, theme: &str) {
        if !theme.is_empty() && !self.rec.themes.iter().any(|t| t == theme) {
            self.rec.themes.push(theme.to_string());
        }
    }

    /// The call's variables (those saved by listen/agent/record/http among them), as JSON.
    pub fn set_vars<'a, V: serde::Serialize + 'a>(
        &mut self,
        vars: impl IntoIterator<Item = (&'a String, &'a V)>,
    ) {
        let mut out = Map::new();
        for (k, v) in vars.into_iter().take(MAX_VARS) {
            let v = serde_json::to_value(v).unwrap_or(Value::Null);
            let len = serde_json::to_string(&v).map_or(0, |s| s.len());
            let v = if len > MAX_VAR_JSON {
                Value::String(format!("<{len} bytes, not kept>"))
            } else {
                v
            };
            out.insert(k.clone(), v);
        }
        self.rec.vars = out;
    }

    /// Adds one timeline entry (`data` has its `event` name).
    pub fn event(&mut self, now: Instant, data: Value) {
        self.push(now, data, false);
    }

    fn push(&mut self, now: Instant, data: Value, always: bool) {
        if self.seq >= MAX_EVENTS && !always {
            self.skipped += 1;
            return;
        }
        let kind = data
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("event")
            .to_string();
        let at_ms = now.saturating_duration_since(self.started).as_millis() as i64;
        let event = TimelineEvent {
            seq: self.seq,
            at_ms,
            kind,
            data,
        };
        self.seq += 1;
        self.register.send(Item::Event {
            call_id: self.rec.id.clone(),
            event,
        });
    }

    /// Ends the record: times, reason, final status; metrics observed; last row written.
    /// `outcome` is the metrics label (`answered`, `rejected`, `cancelled`, `failed`).
    pub fn end(mut self, now: Instant, reason: &str, sip_status: Option<u16>) {
        self.finish(now, reason, sip_status);
    }

    fn finish(&mut self, now: Instant, reason: &str, sip_status: Option<u16>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.rec.ended_ms = Some(self.wall(now));
        self.rec.end_reason = Some(reason.to_string());
        if self.rec.sip_status.is_none() {
            self.rec.sip_status = sip_status;
        }
        let answered = self.answered_at;
        self.rec.duration_ms =
            answered.map(|a| now.saturating_duration_since(a).as_millis() as i64);
        let mut end = json!({"event": "end", "reason": reason});
        if self.skipped > 0 {
            end["events_not_kept"] = json!(self.skipped);
        }
        // The end entry is always kept, even past the bound.
        self.push(now, end, true);
        self.save();
        let flow = self.rec.flow.clone().unwrap_or_default();
        let direction = self.rec.direction.as_str();
        let outcome = outcome(answered.is_some(), reason);
        metrics::counter!("phonetree_calls_total", "flow" => flow.clone(),
            "direction" => direction, "outcome" => outcome)
        .increment(1);
        if let Some(a) = answered {
            metrics::histogram!("phonetree_call_duration_seconds", "flow" => flow.clone(),
                "direction" => direction)
            .record(now.saturating_duration_since(a).as_secs_f64());
            metrics::gauge!("phonetree_calls_active", "flow" => flow, "direction" => direction)
                .decrement(1.0);
        }
    }

    /// Something answered the caller (a prompt or speech started): a key press waiting for a
    /// response is timed (`phonetree_dtmf_response_seconds`).
    fn responded(&mut self, now: Instant) {
        if let Some(at) = self.dtmf_at.take() {
            metrics::histogram!("phonetree_dtmf_response_seconds")
                .record(now.saturating_duration_since(at).as_secs_f64());
        }
    }

    fn wall(&self, now: Instant) -> i64 {
        self.rec.created_ms + now.saturating_duration_since(self.started).as_millis() as i64
    }

    fn save(&self) {
        self.register.send(Item::Call(Box::new(self.rec.clone())));
    }
}

/// The `outcome` label of `phonetree_calls_total`.
fn outcome(answered: bool, reason: &str) -> &'static str {
    match (answered, reason) {
        (true, _) => "answered",
        (false, "cancelled") => "cancelled",
        (false, r) if r.starts_with("rejected") => "rejected",
        _ => "failed",
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        if !self.ended {
            self.finish(Instant::now(), "aborted", None);
        }
    }
}

#[cfg(test)]
mod tests;
