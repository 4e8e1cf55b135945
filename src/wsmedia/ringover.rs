//! The Ringover streamer protocol, from the media server's side (what the `stream` node with
//! `protocol: ringover` speaks to a voice bot).
//!
//! Ringover publishes only the bot's replies (github.com/ringover/ringover-streamer): `play`,
//! `streamAudio`, `break`, `digits`, `transfer`. Their shape is FreeSWITCH mod_audio_stream's,
//! so the media server side is that module's too: one JSON **metadata text frame** at the start
//! ([`Metadata`]: call id, from, to, the flow's custom fields, the audio format), then the
//! caller's audio as **binary frames of 16-bit little-endian mono PCM**, 20 ms each, at 8 or
//! 16 kHz. docs/streams.md documents both directions.
//!
//! The reply decoder is tolerant: the discriminator may be `event` or `type`; `digits` and
//! `transfer` data may be numbers or strings; `play` takes `file`, `url` or `data.file`. A bot
//! may end the session with a result: an `end` (or `result`/`hangup`) event whose `data` is
//! saved by the flow.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{object, text_of, u64_of, WireError};
use crate::flow::digit::{parse_digits, Digit};

/// Longest digit string a `digits` reply may send at once.
pub const MAX_DIGITS: usize = 32;

/// The first (text) frame of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub call_id: String,
    pub from: String,
    pub to: String,
    /// `stream.custom` of the flow (rendered).
    pub custom: Map<String, Value>,
    /// 8000 or 16000.
    pub sample_rate: u32,
}

impl Metadata {
    pub fn encode(&self) -> String {
        json!({
            "event": "start",
            "callId": self.call_id,
            "from": self.from,
            "to": self.to,
            "custom": self.custom,
            "audio": {
                "encoding": "L16",
                "endianness": "little",
                "sampleRate": self.sample_rate,
                "channels": 1,
                "frameMs": 20,
            },
        })
        .to_string()
    }
}

/// The caller's audio as one binary frame (16-bit little-endian).
pub fn pcm_frame(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// 16-bit little-endian bytes as samples (an odd last byte is ignored).
pub fn pcm_samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// How a `streamAudio` reply's audio is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioKind {
    /// Headerless 16-bit little-endian mono PCM at the reply's `sampleRate`.
    Raw,
    Mp3,
    Wav,
    Ogg,
}

/// What a bot asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Fetch and play a URL.
    Play { url: String },
    /// Queue this audio.
    StreamAudio {
        kind: AudioKind,
        /// The reply's `sampleRate` (raw audio's rate; encoded files carry their own).
        rate: Option<u32>,
        data: Vec<u8>,
    },
    /// Stop what plays now and drop what is queued.
    Break,
    /// Send these keys to the caller's side.
    Digits(Vec<Digit>),
    /// Transfer the caller (a number or a URI, as the bot wrote it).
    Transfer(String),
    /// The session is over; `data` is its result.
    End(Value),
    /// Something this version does not know (logged and ignored).
    Other(String),
}

/// Reads one text frame a bot sent.
pub fn parse_reply(text: &str) -> Result<Reply, WireError> {
    let m = object(text)?;
    let ev = m
        .get("event")
        .or_else(|| m.get("type"))
        .and_then(text_of)
        .ok_or(WireError::NoEvent)?;
    let data = m.get("data");
    Ok(match ev.as_str() {
        "play" | "playAudio" => {
            let url = m
                .get("file")
                .or_else(|| m.get("url"))
                .or_else(|| data.and_then(|d| d.get("file").or_else(|| d.get("url"))))
                .or(data.filter(|d| d.is_string()))
                .and_then(text_of)
                .filter(|u| !u.trim().is_empty())
                .ok_or(WireError::Field {
                    event: "play",
                    field: "file",
                })?;
            Reply::Play {
                url: url.trim().to_string(),
            }
        }
        "streamAudio" => {
            let d = data.and_then(Value::as_object).ok_or(WireError::Field {
                event: "streamAudio",
                field: "data",
            })?;
            let kind = match d
                .get("audioDataType")
                .and_then(text_of)
                .unwrap_or_else(|| "raw".into())
                .to_ascii_lowercase()
                .as_str()
            {
                "raw" | "pcm" | "l16" => AudioKind::Raw,
                "mp3" | "mpeg" => AudioKind::Mp3,
                "wav" | "wave" => AudioKind::Wav,
                "ogg" | "vorbis" => AudioKind::Ogg,
                _ => {
                    return Err(WireError::Field {
                        event: "streamAudio",
                        field: "audioDataType",
                    })
                }
            };
            let rate = d
                .get("sampleRate")
                .and_then(u64_of)
                .map(|r| r.min(u32::MAX as u64) as u32);
            let audio = d
                .get("audioData")
                .and_then(Value::as_str)
                .ok_or(WireError::Field {
                    event: "streamAudio",
                    field: "audioData",
                })?;
            let data = B64
                .decode(audio.trim())
                .map_err(|_| WireError::Base64("audioData"))?;
            Reply::StreamAudio { kind, rate, data }
        }
        "break" | "stop" | "clear" => Reply::Break,
        "digits" | "dtmf" => {
            let text = data
                .and_then(|d| text_of(d).or_else(|| d.get("digits").and_then(text_of)))
                .or_else(|| m.get("digits").and_then(text_of))
                .unwrap_or_default();
            match parse_digits(text.trim()) {
                Some(d) if !d.is_empty() && d.len() <= MAX_DIGITS => Reply::Digits(d),
                _ => {
                    return Err(WireError::Field {
                        event: "digits",
                        field: "data",
                    })
                }
            }
        }
        "transfer" => {
            let target = data
                .and_then(|d| {
                    text_of(d).or_else(|| {
                        d.get("target")
                            .or_else(|| d.get("number"))
                            .and_then(text_of)
                    })
                })
                .or_else(|| m.get("target").and_then(text_of))
                .filter(|t| !t.trim().is_empty())
                .ok_or(WireError::Field {
                    event: "transfer",
                    field: "data",
                })?;
            Reply::Transfer(target.trim().to_string())
        }
        "end" | "result" | "hangup" => Reply::End(data.cloned().unwrap_or(Value::Null)),
        other => Reply::Other(other.chars().take(40).collect()),
    })
}

/// A bot's transfer target as a URI the transfer policy can check: URIs as they are, a bare
/// number as `tel:`.
pub fn transfer_uri(target: &str) -> String {
    let t = target.trim();
    let lower = t.get(..5).unwrap_or(t).to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("tel:") {
        t.to_string()
    } else {
        format!("tel:{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_replies_ringover_documents() {
        assert_eq!(
            parse_reply(r#"{"event":"play","file":"https://x/y.mp3"}"#),
            Ok(Reply::Play {
                url: "https://x/y.mp3".into()
            })
        );
        let audio = r#"{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":16000,
            "audioData":"AQACAA=="}}"#;
        assert_eq!(
            parse_reply(audio),
            Ok(Reply::StreamAudio {
                kind: AudioKind::Raw,
                rate: Some(16000),
                data: vec![1, 0, 2, 0]
            })
        );
        assert_eq!(parse_reply(r#"{"event":"break"}"#), Ok(Reply::Break));
        assert_eq!(
            parse_reply(r#"{"event":"digits","data":123}"#),
            Ok(Reply::Digits(parse_digits("123").unwrap()))
        );
        assert_eq!(
            parse_reply(r#"{"type":"digits","data":"1#"}"#),
            Ok(Reply::Digits(parse_digits("1#").unwrap()))
        );
        assert_eq!(
            parse_reply(r#"{"event":"transfer","data":33123456789}"#),
            Ok(Reply::Transfer("33123456789".into()))
        );
        assert_eq!(
            parse_reply(r#"{"event":"end","data":{"intent":"sales"}}"#),
            Ok(Reply::End(json!({"intent": "sales"})))
        );
    }

    #[test]
    fn tolerant_but_typed_on_bad_input() {
        assert!(parse_reply(r#"{"event":"digits","data":"12x"}"#).is_err());
        assert!(parse_reply(r#"{"event":"digits","data":""}"#).is_err());
        let long = format!(r#"{{"event":"digits","data":"{}"}}"#, "1".repeat(40));
        assert!(parse_reply(&long).is_err(), "bounded");
        assert!(parse_reply(r#"{"event":"play"}"#).is_err());
        assert!(parse_reply(
            r#"{"type":"streamAudio","data":{"audioDataType":"flac","audioData":""}}"#
        )
        .is_err());
        assert_eq!(
            parse_reply(r#"{"type":"streamAudio","data":{"audioData":"%%"}}"#),
            Err(WireError::Base64("audioData"))
        );
        assert_eq!(parse_reply(r#"{"foo":1}"#), Err(WireError::NoEvent));
        assert_eq!(
            parse_reply(r#"{"event":"wink"}"#),
            Ok(Reply::Other("wink".into()))
        );
    }

    #[test]
    fn metadata_and_pcm_frames() {
        let m = Metadata {
            call_id: "c1".into(),
            from: "+1555".into(),
            to: "100".into(),
            custom: serde_json::from_str(r#"{"lang":"is"}"#).unwrap(),
            sample_rate: 16000,
        };
        let v: Value = serde_json::from_str(&m.encode()).unwrap();
        assert_eq!(v["audio"]["sampleRate"], 16000);
        assert_eq!(v["custom"]["lang"], "is");
        assert_eq!(v["callId"], "c1");
        let frame = pcm_frame(&[1, -2, 300]);
        assert_eq!(frame, vec![1, 0, 0xfe, 0xff, 0x2c, 0x01]);
        assert_eq!(pcm_samples(&frame), vec![1, -2, 300]);
        assert_eq!(transfer_uri("1234"), "tel:1234");
        assert_eq!(transfer_uri("sip:1@pbx"), "sip:1@pbx");
    }
}
