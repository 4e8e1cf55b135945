//! The log of a live call: a [`CallTrace`] fed the machine's inputs, node entries and actions by
//! the call driver (`engine::call::driver`, with the driver's `now`: no clock is read here),
//! each of its events written as one log line with the call id (info; warn for failures:
//! a webhook answering 4xx/5xx or failing, a playback that failed, a flow warning), and one
//! summary line when the call ends (flow and version, from and to, duration, end reason, keys,
//! last node). The same events `phonetree simulate` prints, so a live call can be read like a
//! simulated one.
//!
//! A caller cannot flood the log: each call may write [`LINE_BURST`] lines back to back, then
//! [`LINES_PER_SECOND`]; lines over that budget are counted (the events still reach the call
//! register), and the next line that gets through (and the summary) says how many were left
//! out (issue 10 saw 23k lines in 10 s from one call sending SIP INFO).
//!
//! What a line never contains: webhook bodies, headers and query strings (they may carry API
//! keys), and, with `log.redact_numbers`, the caller's number, the keys pressed and what the
//! caller said (only their length). Dialled numbers and transfer targets (the operator's own)
//! are always in clear.
//!
//! The events logged are then handed on, in order ([`CallLog::poll_event`]): the call register
//! keeps them as the call's timeline, so the log and the register tell one story. A consumer
//! that never polls costs at most [`crate::trace::MAX_QUEUED`] events.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::Level;

use super::pii::caller;
use crate::flow::program::Program;
use crate::machine::io::{CallInfo, Emitted, Input};
use crate::policy::rate::{Rate, RateTable, Verdict};
use crate::sim::event::{Event, EventKind, MediaRef};
use crate::trace::{url_text, CallTrace, MAX_QUEUED};

/// Longest text (say, speech, warnings) written into one line.
const MAX_TEXT: usize = 120;
/// Lines one call may log back to back...
pub const LINE_BURST: f64 = 100.0;
/// ...and then per second.
pub const LINES_PER_SECOND: f64 = 10.0;

/// One live call's log.
pub struct CallLog {
    call: String,
    trace: CallTrace,
    redact: bool,
    answered: Option<Instant>,
    done: bool,
    /// Events logged and not yet polled (oldest dropped past [`MAX_QUEUED`]).
    events: VecDeque<Event>,
    /// The call's line budget (one key).
    budget: RateTable<()>,
    /// The driver's latest `now`.
    now: Option<Instant>,
    /// Lines left out in all.
    suppressed: u64,
}

impl CallLog {
    pub fn new(call: &str, program: &Program, info: &CallInfo, redact: bool) -> CallLog {
        CallLog {
            call: call.to_owned(),
            trace: CallTrace::new(program, info),
            redact,
            answered: None,
            done: false,
            events: VecDeque::new(),
            budget: RateTable::new(
                Rate {
                    per_second: LINES_PER_SECOND,
                    burst: LINE_BURST,
                },
                1,
            ),
            now: None,
            suppressed: 0,
        }
    }

    /// Masks (or not) callers' numbers, keys and speech from now on.
    pub fn set_redact(&mut self, on: bool) {
        self.redact = on;
    }

    /// An input about to be handed to the machine at `now`.
    pub fn input(&mut self, input: &Input, now: Instant) {
        if matches!(input, Input::Answered) && self.answered.is_none() {
            self.answered = Some(now);
        }
        let at = self.since_answer(now);
        self.now = Some(now);
        self.trace.input(input, at);
        self.flush();
    }

    /// What the machine of `program` emitted at `now` (a node entered, or an action).
    pub fn emitted(&mut self, e: &Emitted, program: &Program, now: Instant) {
        let at = self.since_answer(now);
        self.now = Some(now);
        self.trace.emitted(e, program, at);
        self.flush();
    }

    /// The next event logged, oldest first (for the call register).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Logs the summary line (once).
    pub fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.flush();
        let s = self.trace.summary();
        let keys = if self.redact {
            "•".repeat(s.keys.chars().count())
        } else {
            s.keys
        };
        tracing::info!(
            call = %self.call,
            flow = %s.flow,
            version = %s.version,
            from = %caller(&s.from, self.redact),
            to = %s.to,
            duration_ms = s.duration.as_millis() as u64,
            end = %s.end,
            keys = %keys,
            last_node = %s.last_node,
            suppressed_lines = self.suppressed,
            "call summary"
        );
    }

    fn since_answer(&self, now: Instant) -> Duration {
        self.answered
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    fn flush(&mut self) {
        while let Some(e) = self.trace.poll_event() {
            if self.within_budget() {
                let (level, text) = line(&e.kind, self.redact);
                let name = e.kind.name();
                match level {
                    Level::WARN => tracing::warn!(call = %self.call, event = name, "{text}"),
                    _ => tracing::info!(call = %self.call, event = name, "{text}"),
                }
            }
            if self.events.len() >= MAX_QUEUED {
                self.events.pop_front();
            }
            self.events.push_back(e);
        }
    }
}

impl CallLog {
    /// Whether the next line fits the call's budget (saying first how many did not, when
    /// some were left out).
    fn within_budget(&mut self) -> bool {
        let Some(now) = self.now else { return true };
        match self.budget.check(&(), now) {
            Verdict::Allowed { suppressed: 0 } => true,
            Verdict::Allowed { suppressed } => {
                tracing::warn!(
                    call = %self.call,
                    suppressed,
                    "this call logged too fast: {suppressed} lines left out"
                );
                true
            }
            Verdict::Limited | Verdict::TableFull => {
                self.suppressed += 1;
                false
            }
        }
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One event as a log line: its level and its text (the event name is a field of its own).
pub fn line(kind: &EventKind, redact: bool) -> (Level, String) {
    let info = |s: String| (Level::INFO, s);
    let said = |text: &str| {
        if redact {
            format!("({} characters)", text.chars().count())
        } else {
            format!("\"{}\"", clip(text))
        }
    };
    match kind {
        EventKind::Answer { flow, version } => {
            info(format!("answer flow={flow} version={version}"))
        }
        EventKind::Node { node } => info(format!("node {node}")),
        EventKind::Play { node, media, .. } => {
            info(format!("play {} (node {node})", media_text(media)))
        }
        EventKind::Stop { node, media } => {
            info(format!("stop {} (node {node})", media_text(media)))
        }
        EventKind::Dtmf { digit } => info(format!("dtmf {}", if redact { "•" } else { digit })),
        EventKind::Say { node, text, .. } => info(format!("say {} (node {node})", said(text))),
        EventKind::Theme { theme } => info(format!("theme {theme}")),
        EventKind::Http {
            node, method, url, ..
        } => info(format!("http {method} {} (node {node})", url_text(url))),
        EventKind::HttpResponse { status } if (200..300).contains(status) => {
            info(format!("http_response {status}"))
        }
        EventKind::HttpResponse { status } => (
            Level::WARN,
            format!(
                "http_response {status}: the webhook did not answer 2xx, the node takes `on_error`"
            ),
        ),
        EventKind::HttpError { error } => (Level::WARN, format!("http_error {}", clip(error))),
        EventKind::Listen { node } => info(format!("listen (node {node})")),
        EventKind::Speech { text } => info(format!("speech {}", said(text))),
        EventKind::Agent {
            node, model, voice, ..
        } => info(format!(
            "agent model={model} voice={} (node {node})",
            voice.as_deref().unwrap_or("-")
        )),
        EventKind::Stream {
            node,
            url,
            protocol,
        } => info(format!(
            "stream {} ({protocol}, node {node})",
            url_text(url)
        )),
        EventKind::Record { node } => info(format!("record (node {node})")),
        EventKind::Transfer { node, target } => info(format!("transfer {target} (node {node})")),
        EventKind::Warn { node, message } => {
            (Level::WARN, format!("warn {} (node {node})", clip(message)))
        }
        EventKind::Mark { node, mark } => info(format!("mark {mark} (node {node})")),
        EventKind::Hangup { reason } => info(format!("hangup reason={reason}")),
    }
}

fn media_text(m: &MediaRef) -> String {
    match m {
        MediaRef::File(f) => f.clone(),
        MediaRef::Url(u) => url_text(u),
        MediaRef::Text(t) => format!("say \"{}\"", clip(t)),
    }
}

fn clip(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() <= MAX_TEXT {
        s
    } else {
        let cut: String = s.chars().take(MAX_TEXT).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_answering_501_is_a_warning_line() {
        let (level, text) = line(&EventKind::HttpResponse { status: 501 }, false);
        assert_eq!(level, Level::WARN);
        assert!(text.starts_with("http_response 501"), "{text}");
        assert_eq!(
            line(&EventKind::HttpResponse { status: 204 }, false).0,
            Level::INFO
        );
    }

    #[test]
    fn urls_lose_their_query_and_warnings_name_their_node() {
        let (_, text) = line(
            &EventKind::Http {
                node: "lookup".into(),
                method: "GET".into(),
                url: "https://crm.example.com/find?key=SECRET".into(),
                body: Some(serde_json::json!({"caller": "+15550001"})),
            },
            false,
        );
        assert_eq!(
            text,
            "http GET https://crm.example.com/find?… (node lookup)"
        );
        let (level, text) = line(
            &EventKind::Warn {
                node: "greet".into(),
                message: "say: undefined value: `vars.account.nme` is undefined".into(),
            },
            false,
        );
        assert_eq!(level, Level::WARN);
        assert!(
            text.contains("`vars.account.nme`") && text.ends_with("(node greet)"),
            "{text}"
        );
    }

    #[test]
    fn redaction_hides_what_the_caller_typed_and_said_but_not_the_route() {
        assert_eq!(
            line(&EventKind::Dtmf { digit: "7".into() }, true).1,
            "dtmf •"
        );
        assert_eq!(
            line(&EventKind::Dtmf { digit: "7".into() }, false).1,
            "dtmf 7"
        );
        let said = EventKind::Speech {
            text: "my card is 4111".into(),
        };
        assert_eq!(line(&said, true).1, "speech (15 characters)");
        let t = EventKind::Transfer {
            node: "op".into(),
            target: "sip:+15550100@pbx".into(),
        };
        assert!(line(&t, true).1.contains("sip:+15550100@pbx"));
    }
}
