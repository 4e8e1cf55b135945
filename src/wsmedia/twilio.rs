//! Twilio Media Streams (bidirectional `<Connect><Stream>`), both directions, as published at
//! twilio.com/docs/voice/media-streams/websocket-messages.
//!
//! Twilio → app ([`FromTwilio`]): `connected`, `start` (streamSid, callSid, accountSid,
//! customParameters, mediaFormat), `media` (base64 μ-law 8 kHz, usually 20 ms = 160 bytes),
//! `dtmf`, `mark` (the echo of the app's mark once the audio before it has played), `stop`.
//! App → Twilio ([`ToTwilio`]): `media`, `mark`, `clear`. Every app message carries the
//! `streamSid` (Twilio discards one without it).
//!
//! Twilio writes `sequenceNumber`, `chunk` and `timestamp` as JSON strings and the media format's
//! numbers as numbers; the parsers take either. Unknown events parse as
//! [`FromTwilio::Other`]/[`ToTwilio::Other`] so the caller can log and go on.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{object, text_of, u64_of, WireError};
use crate::flow::digit::Digit;

/// Bytes of μ-law in 20 ms at 8 kHz.
pub const FRAME_BYTES: usize = 160;

/// The media format Twilio announces in `start`.
pub const ENCODING: &str = "audio/x-mulaw";

/// A message from Twilio (or from phonetree playing Twilio's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromTwilio {
    Connected,
    Start(Start),
    Media(Media),
    Dtmf(Digit),
    /// The echo of a mark the app sent.
    Mark(String),
    Stop,
    /// An event this version does not know (logged and ignored).
    Other(String),
}

/// The `start` message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Start {
    pub stream_sid: String,
    pub call_sid: String,
    pub account_sid: String,
    /// The TwiML `<Parameter>`s.
    pub custom: BTreeMap<String, String>,
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u32,
}

/// A `media` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// μ-law bytes (no header).
    pub payload: Vec<u8>,
    /// `inbound` (the caller) or `outbound`.
    pub track: Option<String>,
    /// Milliseconds since the stream started.
    pub timestamp: Option<u64>,
}

/// A message from the app to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToTwilio {
    /// μ-law bytes to play.
    Media(Vec<u8>),
    Mark(String),
    Clear,
    Other(String),
}

fn event(m: &Map<String, Value>) -> Result<String, WireError> {
    m.get("event")
        .or_else(|| m.get("type"))
        .and_then(text_of)
        .ok_or(WireError::NoEvent)
}

fn sub<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

fn payload(v: Option<&Value>, field: &'static str) -> Result<Vec<u8>, WireError> {
    let text = v.and_then(Value::as_str).ok_or(WireError::Field {
        event: "media",
        field,
    })?;
    B64.decode(text.trim())
        .map_err(|_| WireError::Base64(field))
}

/// Reads a text frame Twilio sent.
pub fn parse_from_twilio(text: &str) -> Result<FromTwilio, WireError> {
    let m = object(text)?;
    let ev = event(&m)?;
    Ok(match ev.as_str() {
        "connected" => FromTwilio::Connected,
        "start" => {
            let s = sub(&m, "start").ok_or(WireError::Field {
                event: "start",
                field: "start",
            })?;
            let stream_sid = s
                .get("streamSid")
                .or_else(|| m.get("streamSid"))
                .and_then(text_of)
                .unwrap_or_default();
            let field = |k: &str| s.get(k).and_then(text_of).unwrap_or_default();
            let format = sub(s, "mediaFormat");
            let custom = sub(s, "customParameters")
                .map(|c| {
                    c.iter()
                        .filter_map(|(k, v)| text_of(v).map(|v| (k.clone(), v)))
                        .collect()
                })
                .unwrap_or_default();
            FromTwilio::Start(Start {
                stream_sid,
                call_sid: field("callSid"),
                account_sid: field("accountSid"),
                custom,
                encoding: format
                    .and_then(|f| f.get("encoding"))
                    .and_then(text_of)
                    .unwrap_or_else(|| ENCODING.into()),
                sample_rate: format
                    .and_then(|f| f.get("sampleRate"))
                    .and_then(u64_of)
                    .map_or(8000, |r| r.min(u32::MAX as u64) as u32),
                channels: format
                    .and_then(|f| f.get("channels"))
                    .and_then(u64_of)
                    .map_or(1, |r| r.min(u32::MAX as u64) as u32),
            })
        }
        "media" => {
            let md = sub(&m, "media").ok_or(WireError::Field {
                event: "media",
                field: "media",
            })?;
            FromTwilio::Media(Media {
                payload: payload(md.get("payload"), "payload")?,
                track: md.get("track").and_then(text_of),
                timestamp: md.get("timestamp").and_then(u64_of),
            })
        }
        "dtmf" => {
            let digit = sub(&m, "dtmf")
                .and_then(|d| d.get("digit"))
                .and_then(text_of)
                .and_then(|d| {
                    let mut chars = d.trim().chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Digit::from_char(c),
                        _ => None,
                    }
                })
                .ok_or(WireError::Field {
                    event: "dtmf",
                    field: "digit",
                })?;
            FromTwilio::Dtmf(digit)
        }
        "mark" => FromTwilio::Mark(mark_name(&m)?),
        "stop" | "closed" => FromTwilio::Stop,
        other => FromTwilio::Other(other.chars().take(40).collect()),
    })
}

fn mark_name(m: &Map<String, Value>) -> Result<String, WireError> {
    sub(m, "mark")
        .and_then(|k| k.get("name"))
        .and_then(text_of)
        .ok_or(WireError::Field {
            event: "mark",
            field: "name",
        })
}

/// Reads a text frame an app (a bot) sent to Twilio.
pub fn parse_to_twilio(text: &str) -> Result<ToTwilio, WireError> {
    let m = object(text)?;
    let ev = event(&m)?;
    Ok(match ev.as_str() {
        "media" => {
            let md = sub(&m, "media").ok_or(WireError::Field {
                event: "media",
                field: "media",
            })?;
            ToTwilio::Media(payload(md.get("payload"), "payload")?)
        }
        "mark" => ToTwilio::Mark(mark_name(&m)?),
        "clear" => ToTwilio::Clear,
        other => ToTwilio::Other(other.chars().take(40).collect()),
    })
}

/// Writes an app message for Twilio.
pub fn encode_to_twilio(msg: &ToTwilio, stream_sid: &str) -> String {
    match msg {
        ToTwilio::Media(bytes) => json!({
            "event": "media",
            "streamSid": stream_sid,
            "media": { "payload": B64.encode(bytes) },
        }),
        ToTwilio::Mark(name) => json!({
            "event": "mark",
            "streamSid": stream_sid,
            "mark": { "name": name },
        }),
        ToTwilio::Clear => json!({ "event": "clear", "streamSid": stream_sid }),
        ToTwilio::Other(ev) => json!({ "event": ev, "streamSid": stream_sid }),
    }
    .to_string()
}

/// Writes Twilio's side of a stream: numbers every message, counts media chunks, stamps them
/// with the milliseconds since the start (given by the caller: no clock here).
#[derive(Debug, Clone)]
pub struct TwilioSide {
    pub stream_sid: String,
    pub call_sid: String,
    pub account_sid: String,
    seq: u64,
    chunk: u64,
}

impl TwilioSide {
    pub fn new(stream_sid: &str, call_sid: &str, account_sid: &str) -> TwilioSide {
        TwilioSide {
            stream_sid: stream_sid.into(),
            call_sid: call_sid.into(),
            account_sid: account_sid.into(),
            seq: 0,
            chunk: 0,
        }
    }

    fn next_seq(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }

    /// The first message (no streamSid, no sequence number).
    pub fn connected(&self) -> String {
        json!({ "event": "connected", "protocol": "Call", "version": "1.0.0" }).to_string()
    }

    pub fn start(&mut self, custom: &BTreeMap<String, String>) -> String {
        let seq = self.next_seq();
        json!({
            "event": "start",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": custom,
                "mediaFormat": { "encoding": ENCODING, "sampleRate": 8000, "channels": 1 },
            },
        })
        .to_string()
    }

    /// The caller's audio, `timestamp_ms` after the start.
    pub fn media(&mut self, mulaw: &[u8], timestamp_ms: u64) -> String {
        let seq = self.next_seq();
        self.chunk += 1;
        json!({
            "event": "media",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": timestamp_ms.to_string(),
                "payload": B64.encode(mulaw),
            },
        })
        .to_string()
    }

    pub fn dtmf(&mut self, digit: Digit) -> String {
        let seq = self.next_seq();
        json!({
            "event": "dtmf",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "dtmf": { "track": "inbound_track", "digit": digit.to_string() },
        })
        .to_string()
    }

    /// The echo of an app's mark.
    pub fn mark(&mut self, name: &str) -> String {
        let seq = self.next_seq();
        json!({
            "event": "mark",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "mark": { "name": name },
        })
        .to_string()
    }

    pub fn stop(&mut self) -> String {
        let seq = self.next_seq();
        json!({
            "event": "stop",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "stop": { "accountSid": self.account_sid, "callSid": self.call_sid },
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages as Twilio's documentation shows them (strings for numbers).
    #[test]
    fn reads_twilios_documented_messages() {
        assert_eq!(
            parse_from_twilio(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
            Ok(FromTwilio::Connected)
        );
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1",
            "streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],
            "customParameters":{"to":"+15550001","n":5},
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},
            "streamSid":"MZ1"}"#;
        let FromTwilio::Start(s) = parse_from_twilio(start).unwrap() else {
            panic!("not a start")
        };
        assert_eq!((s.stream_sid.as_str(), s.call_sid.as_str()), ("MZ1", "CA1"));
        assert_eq!(s.custom["to"], "+15550001");
        assert_eq!(s.custom["n"], "5", "numbers read as text");
        assert_eq!((s.sample_rate, s.channels), (8000, 1));
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound",
            "chunk":"1","timestamp":"5","payload":"/w=="},"streamSid":"MZ1"}"#;
        assert_eq!(
            parse_from_twilio(media),
            Ok(FromTwilio::Media(Media {
                payload: vec![0xff],
                track: Some("inbound".into()),
                timestamp: Some(5)
            }))
        );
        let dtmf = r##"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5",
            "dtmf":{"track":"inbound_track","digit":"#"}}"##;
        assert_eq!(
            parse_from_twilio(dtmf),
            Ok(FromTwilio::Dtmf(Digit::from_char('#').unwrap()))
        );
        let mark =
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"p1"}}"#;
        assert_eq!(parse_from_twilio(mark), Ok(FromTwilio::Mark("p1".into())));
        let stop = r#"{"event":"stop","sequenceNumber":"6","streamSid":"MZ1",
            "stop":{"accountSid":"AC1","callSid":"CA1"}}"#;
        assert_eq!(parse_from_twilio(stop), Ok(FromTwilio::Stop));
    }

    #[test]
    fn bad_messages_are_typed_errors_not_panics() {
        assert!(matches!(
            parse_from_twilio("nope"),
            Err(WireError::NotJson(_))
        ));
        assert_eq!(parse_from_twilio("{}"), Err(WireError::NoEvent));
        assert_eq!(
            parse_from_twilio(r#"{"event":"media","media":{"payload":"***"}}"#),
            Err(WireError::Base64("payload"))
        );
        assert!(parse_from_twilio(r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#).is_err());
        assert!(parse_from_twilio(r#"{"event":"start"}"#).is_err());
        assert_eq!(
            parse_from_twilio(r#"{"event":"hello"}"#),
            Ok(FromTwilio::Other("hello".into()))
        );
    }

    #[test]
    fn what_we_send_reads_back() {
        for msg in [
            ToTwilio::Media(vec![1, 2, 3]),
            ToTwilio::Mark("m".into()),
            ToTwilio::Clear,
        ] {
            let text = encode_to_twilio(&msg, "MZ9");
            assert!(text.contains("\"streamSid\":\"MZ9\""), "{text}");
            assert_eq!(parse_to_twilio(&text), Ok(msg));
        }
        let mut side = TwilioSide::new("MZ2", "CA2", "AC2");
        let custom = BTreeMap::from([("flow".to_string(), "menu".to_string())]);
        let FromTwilio::Start(s) = parse_from_twilio(&side.start(&custom)).unwrap() else {
            panic!("start")
        };
        assert_eq!(s.custom, custom);
        assert_eq!(s.call_sid, "CA2");
        let FromTwilio::Media(m) = parse_from_twilio(&side.media(&[7; 160], 20)).unwrap() else {
            panic!("media")
        };
        assert_eq!((m.payload.len(), m.timestamp), (160, Some(20)));
        assert_eq!(
            parse_from_twilio(&side.dtmf(Digit::from_char('5').unwrap())),
            Ok(FromTwilio::Dtmf(Digit::from_char('5').unwrap()))
        );
        assert_eq!(parse_from_twilio(&side.stop()), Ok(FromTwilio::Stop));
        assert_eq!(
            parse_from_twilio(&side.connected()),
            Ok(FromTwilio::Connected)
        );
    }
}
