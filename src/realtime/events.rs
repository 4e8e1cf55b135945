//! The GA Realtime wire: server events parsed into [`ServerEvent`] (only the fields the
//! sessions use; everything else is ignored), client events built as JSON text.
//!
//! Field names follow the openai-python GA types (`types/realtime/*`). Parsing is lenient in
//! what it ignores (unknown events and fields, so a newer server does not break a call) and
//! strict in what it needs (an audio delta without `delta`, or with bad base64, is an error
//! the session reports). The retired beta names of the same events (`response.audio.delta`,
//! `response.audio_transcript.done`) are accepted on input; we never send beta shapes.

use base64::Engine as _;
use serde_json::{json, Value};

/// Largest base64 payload decoded from one event (a second of 24 kHz PCM is 64 KiB of base64).
pub const MAX_DELTA_BASE64: usize = 4 << 20;

/// A server event, reduced to what a session acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    SessionCreated,
    SessionUpdated,
    Error(ServerError),
    SpeechStarted {
        item_id: Option<String>,
        audio_start_ms: u64,
    },
    SpeechStopped {
        item_id: Option<String>,
    },
    /// The input buffer became a user item.
    Committed {
        item_id: String,
    },
    /// `conversation.item.added` / `.created`: an item entered the conversation.
    ItemAdded {
        item_id: String,
        role: Option<String>,
    },
    ResponseCreated {
        response_id: String,
    },
    /// `response.output_audio.delta`: agent audio in the session's output format.
    AudioDelta {
        response_id: String,
        item_id: String,
        audio: Vec<u8>,
    },
    /// `response.output_audio_transcript.delta`: words of the agent's item so far.
    AgentTranscriptDelta {
        item_id: String,
        delta: String,
    },
    /// `response.output_audio_transcript.done`.
    AgentTranscript {
        item_id: String,
        transcript: String,
    },
    /// `conversation.item.input_audio_transcription.delta`.
    CallerTranscriptDelta {
        item_id: String,
        delta: String,
    },
    /// `conversation.item.input_audio_transcription.completed`.
    CallerTranscript {
        item_id: String,
        transcript: String,
    },
    /// `conversation.item.input_audio_transcription.failed`.
    CallerTranscriptFailed {
        item_id: String,
        message: String,
    },
    /// `response.function_call_arguments.done`.
    FunctionCall {
        response_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    ResponseDone {
        response_id: String,
        status: String,
        /// `status_details.reason` (`turn_detected`, `client_cancelled`, ...).
        reason: Option<String>,
        usage: Option<Usage>,
    },
    Truncated {
        item_id: String,
        audio_end_ms: u64,
    },
    /// `input_audio_buffer.timeout_triggered` (server VAD `idle_timeout_ms`).
    IdleTimeout,
    /// Any other event (by type), or one we do not act on.
    Other(String),
}

/// An `error` event's `error` object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerError {
    pub kind: Option<String>,
    pub code: Option<String>,
    pub message: String,
    /// The client event that caused it, when the server knows.
    pub event_id: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Token counts of a response (`response.done.response.usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
    }

    pub fn to_json(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        })
    }
}

/// Why a server event could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// Not a JSON object with a string `type`.
    NotAnEvent,
    /// A known event without a field we need.
    Missing {
        event: &'static str,
        field: &'static str,
    },
    /// Audio that is not base64, or too large.
    BadAudio(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotAnEvent => f.write_str("not a Realtime event (no `type`)"),
            ParseError::Missing { event, field } => write!(f, "`{event}` without `{field}`"),
            ParseError::BadAudio(why) => write!(f, "bad audio delta: {why}"),
        }
    }
}

/// An audio delta's fields, borrowed from the text (unescaped copies only when the server
/// escaped something in them).
#[derive(serde::Deserialize)]
struct DeltaFields<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    response_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    item_id: Option<std::borrow::Cow<'a, str>>,
}

/// `Some` when `text` is an audio delta (the same result the general path gives); `None`
/// sends anything else, or anything that does not fit these fields, the general way.
fn audio_delta(text: &str) -> Option<Result<ServerEvent, ParseError>> {
    let f: DeltaFields = serde_json::from_str(text).ok()?;
    if !matches!(
        &*f.kind,
        "response.output_audio.delta" | "response.audio.delta"
    ) {
        return None;
    }
    Some(delta_event(
        f.delta.as_deref(),
        f.response_id.as_deref(),
        f.item_id.as_deref(),
    ))
}

fn delta_event(
    delta: Option<&str>,
    response_id: Option<&str>,
    item_id: Option<&str>,
) -> Result<ServerEvent, ParseError> {
    const EVENT: &str = "response.output_audio.delta";
    let delta = delta.ok_or(ParseError::Missing {
        event: EVENT,
        field: "delta",
    })?;
    if delta.len() > MAX_DELTA_BASE64 {
        return Err(ParseError::BadAudio("larger than 4 MiB"));
    }
    let audio = base64::engine::general_purpose::STANDARD
        .decode(delta)
        .map_err(|_| ParseError::BadAudio("not base64"))?;
    let field = |v: Option<&str>, field: &'static str| {
        v.map(str::to_owned).ok_or(ParseError::Missing {
            event: EVENT,
            field,
        })
    };
    Ok(ServerEvent::AudioDelta {
        response_id: field(response_id, "response_id")?,
        item_id: field(item_id, "item_id")?,
        audio,
    })
}

/// Parses one text frame from the server.
pub fn parse(text: &str) -> Result<ServerEvent, ParseError> {
    // Audio deltas are nearly every event of a call (one per 20-100 ms of the agent's voice):
    // read their three fields borrowed, skipping the rest, instead of building a whole tree.
    audio_delta(text).unwrap_or_else(|| parse_tree(text))
}

/// Parses any event through a JSON tree.
fn parse_tree(text: &str) -> Result<ServerEvent, ParseError> {
    let v: Value = serde_json::from_str(text).map_err(|_| ParseError::NotAnEvent)?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or(ParseError::NotAnEvent)?;
    let s = |field: &'static str, event: &'static str| -> Result<String, ParseError> {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(ParseError::Missing { event, field })
    };
    let opt = |field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
    let ms = |field: &str| v.get(field).and_then(Value::as_u64).unwrap_or(0);
    Ok(match kind {
        "session.created" => ServerEvent::SessionCreated,
        "session.updated" => ServerEvent::SessionUpdated,
        "error" => {
            let e = v.get("error").cloned().unwrap_or(Value::Null);
            let f = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            ServerEvent::Error(ServerError {
                kind: f("type"),
                code: f("code"),
                message: f("message").unwrap_or_else(|| "unknown error".into()),
                event_id: f("event_id"),
            })
        }
        "input_audio_buffer.speech_started" => ServerEvent::SpeechStarted {
            item_id: opt("item_id"),
            audio_start_ms: ms("audio_start_ms"),
        },
        "input_audio_buffer.speech_stopped" => ServerEvent::SpeechStopped {
            item_id: opt("item_id"),
        },
        "input_audio_buffer.committed" => ServerEvent::Committed {
            item_id: s("item_id", "input_audio_buffer.committed")?,
        },
        "input_audio_buffer.timeout_triggered" => ServerEvent::IdleTimeout,
        "conversation.item.added" | "conversation.item.created" => {
            let item = v.get("item").ok_or(ParseError::Missing {
                event: "conversation.item.added",
                field: "item",
            })?;
            ServerEvent::ItemAdded {
                item_id: item
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or(ParseError::Missing {
                        event: "conversation.item.added",
                        field: "item.id",
                    })?
                    .to_owned(),
                role: item.get("role").and_then(Value::as_str).map(str::to_owned),
            }
        }
        "response.created" => ServerEvent::ResponseCreated {
            response_id: v
                .pointer("/response/id")
                .and_then(Value::as_str)
                .ok_or(ParseError::Missing {
                    event: "response.created",
                    field: "response.id",
                })?
                .to_owned(),
        },
        "response.output_audio.delta" | "response.audio.delta" => delta_event(
            v.get("delta").and_then(Value::as_str),
            v.get("response_id").and_then(Value::as_str),
            v.get("item_id").and_then(Value::as_str),
        )?,
        "response.output_audio_transcript.delta" | "response.audio_transcript.delta" => {
            ServerEvent::AgentTranscriptDelta {
                item_id: s("item_id", "response.output_audio_transcript.delta")?,
                delta: opt("delta").unwrap_or_default(),
            }
        }
        "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
            ServerEvent::AgentTranscript {
                item_id: s("item_id", "response.output_audio_transcript.done")?,
                transcript: opt("transcript").unwrap_or_default(),
            }
        }
        "conversation.item.input_audio_transcription.delta" => ServerEvent::CallerTranscriptDelta {
            item_id: s(
                "item_id",
                "conversation.item.input_audio_transcription.delta",
            )?,
            delta: opt("delta").unwrap_or_default(),
        },
        "conversation.item.input_audio_transcription.completed" => ServerEvent::CallerTranscript {
            item_id: s(
                "item_id",
                "conversation.item.input_audio_transcription.completed",
            )?,
            transcript: opt("transcript").unwrap_or_default(),
        },
        "conversation.item.input_audio_transcription.failed" => {
            ServerEvent::CallerTranscriptFailed {
                item_id: s(
                    "item_id",
                    "conversation.item.input_audio_transcription.failed",
                )?,
                message: v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("transcription failed")
                    .to_owned(),
            }
        }
        "response.function_call_arguments.done" => ServerEvent::FunctionCall {
            response_id: s("response_id", "response.function_call_arguments.done")?,
            call_id: s("call_id", "response.function_call_arguments.done")?,
            name: s("name", "response.function_call_arguments.done")?,
            arguments: opt("arguments").unwrap_or_default(),
        },
        "response.done" => {
            let r = v.get("response").ok_or(ParseError::Missing {
                event: "response.done",
                field: "response",
            })?;
            let g = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_owned);
            let usage = r.get("usage").filter(|u| u.is_object()).map(|u| {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                Usage {
                    input_tokens: n("input_tokens"),
                    output_tokens: n("output_tokens"),
                    total_tokens: n("total_tokens"),
                }
            });
            ServerEvent::ResponseDone {
                response_id: g("/id").ok_or(ParseError::Missing {
                    event: "response.done",
                    field: "response.id",
                })?,
                status: g("/status").unwrap_or_else(|| "completed".into()),
                reason: g("/status_details/reason"),
                usage,
            }
        }
        "conversation.item.truncated" => ServerEvent::Truncated {
            item_id: s("item_id", "conversation.item.truncated")?,
            audio_end_ms: ms("audio_end_ms"),
        },
        other => ServerEvent::Other(other.to_owned()),
    })
}

/// Client events. Each takes an `event_id` so a server `error` can be traced to its cause.
pub mod client {
    use super::*;

    pub fn session_update(event_id: &str, session: Value) -> String {
        json!({"type": "session.update", "event_id": event_id, "session": session}).to_string()
    }

    /// `input_audio_buffer.append` with the audio base64-encoded.
    pub fn append(audio: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
        // Built by hand: this is the hot path (50 events a second per call).
        let mut s = String::with_capacity(b64.len() + 48);
        s.push_str(r#"{"type":"input_audio_buffer.append","audio":""#);
        s.push_str(&b64);
        s.push_str("\"}");
        s
    }

    pub fn response_create(event_id: &str, instructions: Option<&str>) -> String {
        match instructions {
            Some(i) => json!({"type": "response.create", "event_id": event_id,
                              "response": {"instructions": i}}),
            None => json!({"type": "response.create", "event_id": event_id}),
        }
        .to_string()
    }

    pub fn response_cancel(event_id: &str) -> String {
        json!({"type": "response.cancel", "event_id": event_id}).to_string()
    }

    pub fn truncate(event_id: &str, item_id: &str, audio_end_ms: u64) -> String {
        json!({"type": "conversation.item.truncate", "event_id": event_id,
               "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms})
        .to_string()
    }

    pub fn function_output(event_id: &str, call_id: &str, output: &str) -> String {
        json!({"type": "conversation.item.create", "event_id": event_id,
               "item": {"type": "function_call_output", "call_id": call_id, "output": output}})
        .to_string()
    }

    /// A user text message (a key the caller pressed).
    pub fn user_text(event_id: &str, text: &str) -> String {
        json!({"type": "conversation.item.create", "event_id": event_id,
               "item": {"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": text}]}})
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_deltas_decode_and_beta_names_are_accepted() {
        let ev = parse(r#"{"type":"response.output_audio.delta","event_id":"e1","response_id":"r1","item_id":"i1","output_index":0,"content_index":0,"delta":"AAEC"}"#).unwrap();
        assert_eq!(
            ev,
            ServerEvent::AudioDelta {
                response_id: "r1".into(),
                item_id: "i1".into(),
                audio: vec![0, 1, 2]
            }
        );
        let beta = parse(
            r#"{"type":"response.audio.delta","response_id":"r1","item_id":"i1","delta":"AAEC"}"#,
        )
        .unwrap();
        assert_eq!(beta, ev);
        assert_eq!(
            parse(
                r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","delta":"!!"}"#
            ),
            Err(ParseError::BadAudio("not base64"))
        );
        assert_eq!(
            parse(r#"{"type":"response.output_audio.delta","response_id":"r1"}"#),
            Err(ParseError::Missing {
                event: "response.output_audio.delta",
                field: "delta"
            })
        );
    }

    #[test]
    fn the_audio_delta_shortcut_reads_what_the_tree_reads() {
        for text in [
            r#"{"type":"response.output_audio.delta","event_id":"e1","response_id":"r1","item_id":"i1","output_index":0,"content_index":0,"delta":"AAEC"}"#,
            r#"{"type":"response.audio.delta","response_id":"r1","item_id":"i1","delta":"AAEC"}"#,
            // Escapes in any field, '/' escaped in the base64.
            r#"{"type":"response.output_audio.delta","response_id":"r\u0031","item_id":"i\"1","delta":"AA\/C"}"#,
            r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","delta":"!!"}"#,
            r#"{"type":"response.output_audio.delta","response_id":"r1","delta":"AAEC"}"#,
            r#"{"type":"response.output_audio.delta","item_id":"i1","delta":"AAEC"}"#,
            r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1"}"#,
            // Not a string, duplicated, nested: the tree decides.
            r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","delta":7}"#,
            r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","delta":"AAEC","delta":"AQ=="}"#,
            r#"{"type":"response.output_audio.delta","response_id":{"x":1},"item_id":"i1","delta":"AAEC"}"#,
            r#"{"type":"response.output_audio_transcript.delta","item_id":"i1","delta":"hello"}"#,
            r#"{"type":7,"delta":"AAEC"}"#,
            r#"{"delta":"AAEC"}"#,
            "not json",
        ] {
            assert_eq!(parse(text), parse_tree(text), "{text}");
        }
        assert!(audio_delta(
            r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AA\/C"}"#
        )
        .is_some_and(|e| e
            == Ok(ServerEvent::AudioDelta {
                response_id: "r".into(),
                item_id: "i".into(),
                audio: vec![0, 15, 194],
            })));
    }

    #[test]
    fn response_done_usage_and_status() {
        let ev = parse(r#"{"type":"response.done","response":{"id":"r9","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"usage":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"input_token_details":{"audio_tokens":15}}}}"#).unwrap();
        assert_eq!(
            ev,
            ServerEvent::ResponseDone {
                response_id: "r9".into(),
                status: "cancelled".into(),
                reason: Some("turn_detected".into()),
                usage: Some(Usage {
                    input_tokens: 20,
                    output_tokens: 10,
                    total_tokens: 30
                })
            }
        );
    }

    #[test]
    fn errors_unknown_events_and_garbage() {
        let ev = parse(r#"{"type":"error","event_id":"x","error":{"type":"invalid_request_error","code":"beta_api_shape_disabled","message":"no","event_id":"c7"}}"#).unwrap();
        let ServerEvent::Error(e) = ev else {
            panic!("error")
        };
        assert_eq!(e.code.as_deref(), Some("beta_api_shape_disabled"));
        assert_eq!(e.event_id.as_deref(), Some("c7"));
        assert_eq!(e.to_string(), "beta_api_shape_disabled: no");
        assert_eq!(
            parse(r#"{"type":"rate_limits.updated","rate_limits":[]}"#).unwrap(),
            ServerEvent::Other("rate_limits.updated".into())
        );
        assert_eq!(parse("[1,2]"), Err(ParseError::NotAnEvent));
        assert_eq!(parse("{\"type\": 5}"), Err(ParseError::NotAnEvent));
        assert_eq!(parse("\u{0}"), Err(ParseError::NotAnEvent));
    }

    #[test]
    fn client_events_are_ga_shaped() {
        let v: Value = serde_json::from_str(&client::append(&[0xff, 0x7f])).unwrap();
        assert_eq!(
            v,
            json!({"type": "input_audio_buffer.append", "audio": "/38="})
        );
        let v: Value = serde_json::from_str(&client::truncate("t1", "item_9", 1234)).unwrap();
        assert_eq!(
            v,
            json!({"type": "conversation.item.truncate", "event_id": "t1", "item_id": "item_9",
                   "content_index": 0, "audio_end_ms": 1234})
        );
        let v: Value =
            serde_json::from_str(&client::function_output("f1", "call_1", "{\"ok\":true}"))
                .unwrap();
        assert_eq!(v["item"]["type"], "function_call_output");
        assert_eq!(v["item"]["output"], "{\"ok\":true}");
    }
}
