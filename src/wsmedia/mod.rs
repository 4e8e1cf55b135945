//! Media over websockets, sans-IO: the wire formats of the two bot protocols phonetree speaks,
//! on either side.
//!
//! - [`twilio`]: Twilio Media Streams (JSON text frames, base64 μ-law). The Twilio leg
//!   ([`crate::engine::leg::twilio`]) reads what Twilio sends and answers as an app; the `stream`
//!   node with `protocol: twilio` ([`crate::engine::integrations::stream`]) plays Twilio's side
//!   towards a bot written for Twilio.
//! - [`ringover`]: the Ringover streamer / FreeSWITCH mod_audio_stream shape (a JSON metadata text
//!   frame, then binary 16-bit little-endian PCM; replies `play`, `streamAudio`, `break`,
//!   `digits`, `transfer`), spoken by the `stream` node with `protocol: ringover`.
//!
//! Only parsing and building messages lives here: no sockets, no clocks. Every parser is
//! tolerant in what it reads (numbers or strings, `event` or `type`) and returns a typed error
//! for what it cannot read; nothing here panics on input.

pub mod ringover;
pub mod twilio;

use std::fmt;

/// Why a websocket message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not JSON, or not a JSON object.
    NotJson(String),
    /// A message without an `event` (or `type`).
    NoEvent,
    /// A known event missing a field it needs, or with a value of the wrong kind.
    Field {
        event: &'static str,
        field: &'static str,
    },
    /// A `payload`/`audioData` that is not base64.
    Base64(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NotJson(e) => write!(f, "not a JSON object: {e}"),
            WireError::NoEvent => f.write_str("no `event` in the message"),
            WireError::Field { event, field } => {
                write!(f, "`{event}` message: missing or bad `{field}`")
            }
            WireError::Base64(field) => write!(f, "`{field}` is not base64"),
        }
    }
}

impl std::error::Error for WireError {}

/// A JSON value read as text: strings as they are, numbers and booleans written out.
pub(crate) fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON value read as an unsigned number: a number or a string holding one.
pub(crate) fn u64_of(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a text frame as a JSON object.
pub(crate) fn object(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, WireError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(WireError::NotJson("not an object".into())),
        Err(e) => Err(WireError::NotJson(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_strings_read_alike() {
        assert_eq!(u64_of(&json!("12")), Some(12));
        assert_eq!(u64_of(&json!(12)), Some(12));
        assert_eq!(u64_of(&json!(12.0)), Some(12));
        assert_eq!(u64_of(&json!(-1)), None);
        assert_eq!(u64_of(&json!("x")), None);
        assert_eq!(text_of(&json!(123)), Some("123".into()));
        assert_eq!(text_of(&json!(null)), None);
        assert!(object("[1]").is_err());
        assert!(object("{").is_err());
    }
}
