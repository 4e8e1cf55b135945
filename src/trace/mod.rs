//! [`CallTrace`]: what happened on one call, as the simulator's [`EventKind`]s, worked out from
//! the call machine's inputs and actions. One engine for "what happened on a call": the live
//! call task feeds it and logs each event (`engine::call_log`), and the call register or a
//! dashboard can read the same events and [`Summary`]. The simulator can be tapped with one
//! ([`crate::sim::Sim::with_trace`]); a test checks both tell the same story.
//!
//! Sans-IO: the driver passes the time since answer and feeds what the machine emitted, in
//! order ([`CallTrace::emitted`]: the nodes it entered — pure routing nodes included — and its
//! actions, each action belonging to the node entered last); nothing here reads a clock or
//! logs. Bounded: events are handed out with [`CallTrace::poll_event`] (a driver that never
//! polls keeps at most [`MAX_QUEUED`]), in-flight requests are a small table, and the keys kept
//! for the summary are capped.
//!
//! [`for_the_record`] is the rule for keeping an event outside the process (the call
//! register): no webhook body, no URL query (either may carry API keys).
//!
//! Differences from the simulator, by nature: a live call does not know a prompt's length when
//! it starts (`duration_ms` is 0), a failed playback is reported when it fails (the simulator
//! knows up front), and failures the simulator has no mock for (an agent, a recording or a
//! transfer that failed) are reported as `warn` events with their reason. The trace also emits
//! `node` events (a node was entered), which `simulate` does not print.

use std::collections::VecDeque;
use std::time::Duration;

use crate::flow::program::Program;
use crate::machine::io::{Action, CallInfo, Emitted, Input, Media, RequestId};
use crate::sim::driver::display_path;
use crate::sim::event::{Event, EventKind, MediaRef};

/// Events kept for a driver that does not poll them (the oldest are dropped).
pub const MAX_QUEUED: usize = 256;
/// Keys kept for the summary (the first ones).
pub const MAX_KEYS: usize = 64;

/// One call's story so far.
#[derive(Debug)]
pub struct CallTrace {
    flow: String,
    version: String,
    from: String,
    to: String,
    now: Duration,
    queue: VecDeque<Event>,
    inflight: Vec<(RequestId, Pending)>,
    node: String,
    keys: String,
    end: Option<String>,
}

/// The end of a call in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub flow: String,
    pub version: String,
    pub from: String,
    pub to: String,
    /// From answer to the last event.
    pub duration: Duration,
    /// The hangup reason (`flow`, `remote`, `transferred`, `error`, ...); `none` if the call
    /// never reached its end (it was never answered).
    pub end: String,
    /// Every key the caller pressed, in order (at most [`MAX_KEYS`]).
    pub keys: String,
    /// The node the call was in last.
    pub last_node: String,
}

#[derive(Debug)]
enum Pending {
    Playback { node: String, media: MediaRef },
    Http { sent: Duration, timeout: Duration },
    Other { node: String, what: &'static str },
}

impl CallTrace {
    pub fn new(program: &Program, info: &CallInfo) -> CallTrace {
        CallTrace {
            flow: program.name.clone(),
            version: program.hash.get(..12).unwrap_or(&program.hash).to_owned(),
            from: info.from.clone(),
            to: info.to.clone(),
            now: Duration::ZERO,
            queue: VecDeque::new(),
            inflight: Vec::new(),
            node: String::new(),
            keys: String::new(),
            end: None,
        }
    }

    /// An input about to be handed to the machine at `now` (time since answer).
    pub fn input(&mut self, input: &Input, now: Duration) {
        self.now = self.now.max(now);
        let node = self.node.clone();
        let node = node.as_str();
        match input {
            Input::Answered => {
                let (flow, version) = (self.flow.clone(), self.version.clone());
                self.push(EventKind::Answer { flow, version });
            }
            Input::Dtmf(d) => {
                if self.keys.len() < MAX_KEYS {
                    self.keys.push(d.as_char());
                }
                self.push(EventKind::Dtmf {
                    digit: d.to_string(),
                });
            }
            Input::PlaybackFinished(id) => {
                self.take(*id);
            }
            Input::PlaybackFailed { id, reason } => {
                let node = match self.take(*id) {
                    Some(Pending::Playback { node, .. }) => node,
                    _ => node.to_owned(),
                };
                self.push(EventKind::Warn {
                    node,
                    message: format!("playback failed: {reason}"),
                });
            }
            Input::HttpResponse { id, result } => {
                if self.take(*id).is_none() {
                    return;
                }
                self.push(match result {
                    Ok(r) => EventKind::HttpResponse { status: r.status },
                    Err(e) => EventKind::HttpError { error: e.clone() },
                });
            }
            Input::Speech { id, result } => {
                self.take(*id);
                match result {
                    Ok(text) => self.push(EventKind::Speech { text: text.clone() }),
                    Err(e) => self.push(EventKind::Warn {
                        node: node.to_owned(),
                        message: format!("listen: {e}"),
                    }),
                }
            }
            Input::AgentEnded { id, result } if result.is_err() => {
                self.failed(*id, node, result.as_ref().err());
            }
            Input::StreamEnded { id, result } if result.is_err() => {
                self.failed(*id, node, result.as_ref().err());
            }
            Input::RecordFinished { id, result } if result.is_err() => {
                self.failed(*id, node, result.as_ref().err());
            }
            Input::TransferResult { id, result } if result.is_err() => {
                self.failed(*id, node, result.as_ref().err());
            }
            Input::AgentEnded { id, .. }
            | Input::StreamEnded { id, .. }
            | Input::StreamTransfer { id, .. }
            | Input::RecordFinished { id, .. }
            | Input::TransferResult { id, .. } => {
                self.take(*id);
            }
            // Barge-in: the prompt's `stop` action tells it.
            Input::SpeechStarted { .. } | Input::Timeout | Input::Hangup => {}
        }
    }

    /// What the machine emitted at `now` (a node entered, or an action), in the machine's order.
    pub fn emitted(&mut self, e: &Emitted, program: &Program, now: Duration) {
        match e {
            Emitted::Entered(n) => {
                let name = program
                    .nodes
                    .get(n.0 as usize)
                    .map_or("", |n| n.name.as_str());
                self.enter(name, now);
            }
            Emitted::Action(a) => self.action(a, now),
        }
    }

    /// The machine entered `node` at `now` (every entry is an event, a re-entry too).
    pub fn enter(&mut self, node: &str, now: Duration) {
        self.now = self.now.max(now);
        node.clone_into(&mut self.node);
        self.push(EventKind::Node {
            node: node.to_owned(),
        });
    }

    /// An action the machine emitted at `now`, in the node entered last.
    pub fn action(&mut self, action: &Action, now: Duration) {
        self.now = self.now.max(now);
        let node = self.node.clone();
        match action {
            Action::Play { id, media } => {
                let media = match media {
                    Media::File(p) => MediaRef::File(display_path(p)),
                    Media::Url(u) => MediaRef::Url(u.clone()),
                };
                self.push(EventKind::Play {
                    node: node.clone(),
                    media: media.clone(),
                    duration_ms: 0,
                });
                self.track(*id, Pending::Playback { node, media });
            }
            Action::Say { id, text, .. } => {
                self.push(EventKind::Say {
                    node: node.clone(),
                    text: text.clone(),
                    duration_ms: 0,
                });
                let media = MediaRef::Text(text.clone());
                self.track(*id, Pending::Playback { node, media });
            }
            Action::Stop { id } => {
                if let Some(Pending::Playback { node, media }) = self.take(*id) {
                    self.push(EventKind::Stop { node, media });
                }
            }
            Action::Theme { name } => self.push(EventKind::Theme {
                theme: name.clone(),
            }),
            Action::Http(req) => {
                self.push(EventKind::Http {
                    node,
                    method: req.method.as_str().to_owned(),
                    url: req.url.clone(),
                    body: req.body.clone(),
                });
                let (sent, timeout) = (self.now, req.timeout);
                self.track(req.id, Pending::Http { sent, timeout });
            }
            Action::Listen { id, .. } => {
                self.push(EventKind::Listen { node: node.clone() });
                self.track(
                    *id,
                    Pending::Other {
                        node,
                        what: "listen",
                    },
                );
            }
            Action::Agent { id, agent } => {
                self.push(EventKind::Agent {
                    node: node.clone(),
                    model: agent.model.clone().unwrap_or_default(),
                    voice: agent.voice.clone(),
                    instructions: agent.instructions.clone().unwrap_or_default(),
                    greeting: agent.greeting.clone(),
                });
                self.track(
                    *id,
                    Pending::Other {
                        node,
                        what: "agent",
                    },
                );
            }
            Action::Stream(req) => {
                self.push(EventKind::Stream {
                    node: node.clone(),
                    url: req.url.clone(),
                    protocol: req.protocol.as_str().into(),
                });
                self.track(
                    req.id,
                    Pending::Other {
                        node,
                        what: "stream",
                    },
                );
            }
            Action::Record { id, .. } => {
                self.push(EventKind::Record { node: node.clone() });
                self.track(
                    *id,
                    Pending::Other {
                        node,
                        what: "record",
                    },
                );
            }
            Action::Transfer { id, target } => {
                self.push(EventKind::Transfer {
                    node: node.clone(),
                    target: target.clone(),
                });
                self.track(
                    *id,
                    Pending::Other {
                        node,
                        what: "transfer",
                    },
                );
            }
            Action::Cancel { id } => {
                if let Some(Pending::Http { sent, timeout }) = self.take(*id) {
                    let error = if self.now >= sent + timeout {
                        "timeout"
                    } else {
                        "cancelled"
                    };
                    self.push(EventKind::HttpError {
                        error: error.into(),
                    });
                }
            }
            Action::FinishRecording { .. } => {}
            // A connection hint and keys forwarded to an agent or a bot: no event (as in
            // `simulate`).
            Action::PrepareAgent { .. } | Action::AgentDtmf { .. } | Action::StreamDtmf { .. } => {}
            Action::Warn { node, message } => self.push(EventKind::Warn {
                node: node.clone(),
                message: message.clone(),
            }),
            Action::Mark { mark } => self.push(EventKind::Mark {
                node,
                mark: mark.as_str().to_owned(),
            }),
            Action::Hangup { reason } => {
                let reason = reason.as_str().to_owned();
                self.end = Some(reason.clone());
                self.inflight.clear();
                self.push(EventKind::Hangup { reason });
            }
        }
    }

    /// The next event to report, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// The call so far (or at its end) in one line.
    pub fn summary(&self) -> Summary {
        Summary {
            flow: self.flow.clone(),
            version: self.version.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            duration: self.now,
            end: self.end.clone().unwrap_or_else(|| "none".into()),
            keys: self.keys.clone(),
            last_node: self.node.clone(),
        }
    }

    /// Whether the machine has ended the call.
    pub fn is_ended(&self) -> bool {
        self.end.is_some()
    }

    fn failed(&mut self, id: RequestId, node: &str, error: Option<&String>) {
        let (node, what) = match self.take(id) {
            Some(Pending::Other { node, what }) => (node, what),
            _ => (node.to_owned(), "request"),
        };
        let message = format!("{what} failed: {}", error.map_or("", String::as_str));
        self.push(EventKind::Warn { node, message });
    }

    fn push(&mut self, kind: EventKind) {
        if self.queue.len() >= MAX_QUEUED {
            self.queue.pop_front();
        }
        self.queue.push_back(Event {
            at_ms: self.now.as_millis() as u64,
            kind,
        });
    }

    fn track(&mut self, id: RequestId, p: Pending) {
        // A machine has a handful of requests in flight; a runaway table means ids leak.
        if self.inflight.len() >= MAX_QUEUED {
            self.inflight.remove(0);
        }
        self.inflight.push((id, p));
    }

    fn take(&mut self, id: RequestId) -> Option<Pending> {
        let i = self.inflight.iter().position(|(r, _)| *r == id)?;
        Some(self.inflight.swap_remove(i).1)
    }
}

/// `kind` as it may be kept outside the process (the call register): the webhook body dropped
/// and URLs without their query (they may carry API keys); everything else as is.
pub fn for_the_record(kind: &EventKind) -> EventKind {
    let mut k = kind.clone();
    match &mut k {
        EventKind::Http { url, body, .. } => {
            *url = url_text(url);
            *body = None;
        }
        EventKind::Stream { url, .. }
        | EventKind::Play {
            media: MediaRef::Url(url),
            ..
        }
        | EventKind::Stop {
            media: MediaRef::Url(url),
            ..
        } => *url = url_text(url),
        _ => {}
    }
    k
}

/// A URL without its query and fragment (they may carry keys): `https://h/p?key=x` →
/// `https://h/p?…`.
pub fn url_text(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(i) => format!("{}?…", &url[..i]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
