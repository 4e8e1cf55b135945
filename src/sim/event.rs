//! The simulator's output: one [`Event`] per thing that happens on the call, in time order.
//!
//! Serialized as one JSON object per line, `at_ms` (milliseconds since answer) and `event`
//! first, then the event's fields:
//! `{"at_ms":0,"event":"play","node":"greet","file":"sound/bunny/greeting.wav","duration_ms":2310}`.
//! This is the contract `phonetree simulate` prints and `phonetree test` matches against.

use serde::Serialize;
use serde_json::Value;

/// One thing that happened, at a time after answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What a `play`/`stop` is about: a local file (path as shown), a remote stream, or (for a
/// stopped `say`) the text being spoken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MediaRef {
    #[serde(rename = "file")]
    File(String),
    #[serde(rename = "url")]
    Url(String),
    #[serde(rename = "text")]
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Answer {
        flow: String,
        version: String,
    },
    Play {
        node: String,
        #[serde(flatten)]
        media: MediaRef,
        duration_ms: u64,
    },
    /// A playback stopped before its end (barge-in or leaving the node).
    Stop {
        node: String,
        #[serde(flatten)]
        media: MediaRef,
    },
    Dtmf {
        digit: String,
    },
    Say {
        node: String,
        text: String,
        duration_ms: u64,
    },
    Theme {
        theme: String,
    },
    Http {
        node: String,
        method: String,
        url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
    },
    HttpResponse {
        status: u16,
    },
    HttpError {
        error: String,
    },
    Listen {
        node: String,
    },
    Speech {
        text: String,
    },
    Agent {
        node: String,
        model: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        instructions: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        greeting: Option<String>,
    },
    Stream {
        node: String,
        url: String,
        protocol: String,
    },
    Record {
        node: String,
    },
    Transfer {
        node: String,
        target: String,
    },
    Warn {
        node: String,
        message: String,
    },
    /// An `ack` node marked the call (`acknowledged` or `heard`).
    Mark {
        node: String,
        mark: String,
    },
    Hangup {
        reason: String,
    },
    /// The call entered a node. Emitted by [`crate::trace::CallTrace`] (live call logs);
    /// `simulate` does not print it (every simulated event already names its node).
    Node {
        node: String,
    },
}

impl Event {
    /// The event as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    }
}

impl EventKind {
    /// The `event` name (`play`, `http_response`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Answer { .. } => "answer",
            EventKind::Play { .. } => "play",
            EventKind::Stop { .. } => "stop",
            EventKind::Dtmf { .. } => "dtmf",
            EventKind::Say { .. } => "say",
            EventKind::Theme { .. } => "theme",
            EventKind::Http { .. } => "http",
            EventKind::HttpResponse { .. } => "http_response",
            EventKind::HttpError { .. } => "http_error",
            EventKind::Listen { .. } => "listen",
            EventKind::Speech { .. } => "speech",
            EventKind::Agent { .. } => "agent",
            EventKind::Stream { .. } => "stream",
            EventKind::Record { .. } => "record",
            EventKind::Transfer { .. } => "transfer",
            EventKind::Warn { .. } => "warn",
            EventKind::Mark { .. } => "mark",
            EventKind::Hangup { .. } => "hangup",
            EventKind::Node { .. } => "node",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_the_contract_shape() {
        let e = Event {
            at_ms: 0,
            kind: EventKind::Play {
                node: "greet".into(),
                media: MediaRef::File("sound/bunny/greeting.wav".into()),
                duration_ms: 2310,
            },
        };
        assert_eq!(
            e.to_json_line(),
            r#"{"at_ms":0,"event":"play","node":"greet","file":"sound/bunny/greeting.wav","duration_ms":2310}"#
        );
        let e = Event {
            at_ms: 5,
            kind: EventKind::Stop {
                node: "song".into(),
                media: MediaRef::Url("https://x/y.mp3".into()),
            },
        };
        assert_eq!(
            e.to_json_line(),
            r#"{"at_ms":5,"event":"stop","node":"song","url":"https://x/y.mp3"}"#
        );
        assert_eq!(e.kind.name(), "stop");
    }
}
