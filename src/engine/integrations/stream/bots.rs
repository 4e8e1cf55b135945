//! The two bot protocols of the `stream` node as sans-IO sessions: the caller's frames, keys and
//! the bot's messages in; messages for the bot and things for the caller ([`BotOut`]) out. No
//! socket, no clock (Twilio's media timestamps count the caller's frames), no task: the pump
//! ([`super`]) executes the outputs.
//!
//! - [`TwilioBot`]: phonetree plays Twilio's side of Media Streams (`connected`, `start`, then
//!   `media` every 20 ms, `dtmf`, the echo of each `mark`, `stop`); the bot's `media`,
//!   `mark` and `clear` come back.
//! - [`RingoverBot`]: phonetree plays the media server's side of the Ringover streamer
//!   (mod_audio_stream's shape: a JSON metadata text frame, then binary 16-bit LE PCM at 8 or
//!   16 kHz); the bot's `play`, `streamAudio`, `break`, `digits`, `transfer` (and `end`) come
//!   back.
//!
//! Audio towards the caller leaves here as 16-bit PCM at the port's rate (resampled), or as work
//! for the pump (a URL to fetch, an encoded file to decode off the async threads).

use std::collections::{BTreeMap, HashMap};

use crate::audio::{resample, Resampler};
use crate::flow::digit::Digit;
use crate::media::g711::Law;
use crate::wsmedia::ringover::{self, AudioKind, Metadata, Reply};
use crate::wsmedia::twilio::{parse_to_twilio, ToTwilio, TwilioSide, FRAME_BYTES};
use crate::wsmedia::WireError;

/// What a session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum BotOut {
    /// A text frame for the bot.
    Text(String),
    /// A binary frame for the bot.
    Binary(Vec<u8>),
    /// Audio for the caller, at the port's rate, queued after what is queued.
    Audio(Vec<i16>),
    /// Encoded audio to decode (off the async threads), then queue.
    Decode { kind: AudioKind, data: Vec<u8> },
    /// A URL to fetch and decode, then queue.
    Play(String),
    /// Tell the session [`TwilioBot::mark_reached`] with this id once the audio queued before
    /// it has played.
    Mark(u32),
    /// Stop what plays and drop what is queued.
    Clear,
    /// Keys to send to the caller's side.
    Dtmf(Vec<Digit>),
    /// Transfer the caller (a URI); the session is over.
    Transfer(String),
    /// The session is over with this result.
    End(serde_json::Value),
    /// A message that could not be read (logged, ignored).
    Bad(WireError),
}

/// A streaming converter from the port's rate to the bot's (20 ms frames in, whole frames out).
struct ToBot {
    resampler: Option<Resampler>,
    buf: Vec<f32>,
    out: Vec<i16>,
}

impl ToBot {
    fn new(port_rate: u32, bot_rate: u32) -> ToBot {
        let resampler = (port_rate != bot_rate)
            .then(|| Resampler::with_chunk(port_rate, bot_rate, (port_rate / 50) as usize).ok())
            .flatten();
        ToBot {
            resampler,
            buf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Pushes one frame; the samples ready at the bot's rate are appended to `self.out`.
    fn push(&mut self, samples: &[i16]) {
        match &mut self.resampler {
            None => self.out.extend_from_slice(samples),
            Some(r) => {
                let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                self.buf.clear();
                if r.push(&input, &mut self.buf).is_ok() {
                    self.out.extend(self.buf.iter().map(|&x| to_i16(x)));
                }
            }
        }
    }

    /// Takes whole frames of `n` samples.
    fn take_frame(&mut self, n: usize) -> Option<Vec<i16>> {
        (self.out.len() >= n).then(|| self.out.drain(..n).collect())
    }
}

fn to_i16(x: f32) -> i16 {
    (x * 32767.0).clamp(-32768.0, 32767.0) as i16
}

/// Mono samples at `from` Hz as `to` Hz.
fn convert(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || from == 0 {
        return samples.to_vec();
    }
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    match resample(&input, from, to) {
        Ok(out) => out.into_iter().map(to_i16).collect(),
        Err(_) => Vec::new(),
    }
}

/// Phonetree as Twilio, towards a bot written for Twilio Media Streams.
pub struct TwilioBot {
    side: TwilioSide,
    port_rate: u32,
    to_bot: ToBot,
    /// Milliseconds of caller audio sent (the `media` timestamps).
    sent_ms: u64,
    marks: HashMap<u32, String>,
    next_mark: u32,
}

impl TwilioBot {
    pub fn new(stream_sid: &str, call_sid: &str, account_sid: &str, port_rate: u32) -> TwilioBot {
        TwilioBot {
            side: TwilioSide::new(stream_sid, call_sid, account_sid),
            port_rate,
            to_bot: ToBot::new(port_rate, 8000),
            sent_ms: 0,
            marks: HashMap::new(),
            next_mark: 0,
        }
    }

    /// `connected` and `start`.
    pub fn start(&mut self, custom: &BTreeMap<String, String>) -> Vec<BotOut> {
        vec![
            BotOut::Text(self.side.connected()),
            BotOut::Text(self.side.start(custom)),
        ]
    }

    /// One caller frame at the port's rate: `media` messages (20 ms each).
    pub fn caller(&mut self, samples: &[i16]) -> Vec<BotOut> {
        self.to_bot.push(samples);
        let mut out = Vec::new();
        while let Some(frame) = self.to_bot.take_frame(FRAME_BYTES) {
            let mut mulaw = Vec::with_capacity(FRAME_BYTES);
            Law::Mu.encode(&frame, &mut mulaw);
            out.push(BotOut::Text(self.side.media(&mulaw, self.sent_ms)));
            self.sent_ms += 20;
        }
        out
    }

    pub fn dtmf(&mut self, digit: Digit) -> BotOut {
        BotOut::Text(self.side.dtmf(digit))
    }

    /// A text frame from the bot.
    pub fn bot_message(&mut self, text: &str) -> Vec<BotOut> {
        match parse_to_twilio(text) {
            Ok(ToTwilio::Media(mulaw)) => {
                let mut pcm = Vec::with_capacity(mulaw.len());
                Law::Mu.decode(&mulaw, &mut pcm);
                vec![BotOut::Audio(convert(&pcm, 8000, self.port_rate))]
            }
            Ok(ToTwilio::Mark(name)) => {
                if self.marks.len() >= 1024 {
                    return vec![BotOut::Bad(WireError::Field {
                        event: "mark",
                        field: "name (too many pending marks)",
                    })];
                }
                self.next_mark = self.next_mark.wrapping_add(1);
                self.marks.insert(self.next_mark, name);
                vec![BotOut::Mark(self.next_mark)]
            }
            Ok(ToTwilio::Clear) => vec![BotOut::Clear],
            Ok(ToTwilio::Other(ev)) => {
                tracing::debug!(event = %ev, "stream: unknown event from the bot ignored");
                Vec::new()
            }
            Err(e) => vec![BotOut::Bad(e)],
        }
    }

    /// The bot's mark `id` has played (or was cleared): its echo.
    pub fn mark_reached(&mut self, id: u32) -> Option<BotOut> {
        let name = self.marks.remove(&id)?;
        Some(BotOut::Text(self.side.mark(&name)))
    }

    /// The call is over.
    pub fn stop(&mut self) -> BotOut {
        BotOut::Text(self.side.stop())
    }
}

/// Phonetree as the Ringover streamer's media server.
pub struct RingoverBot {
    meta: Metadata,
    port_rate: u32,
    to_bot: ToBot,
}

impl RingoverBot {
    /// `rate` is what the bot gets (8000 or 16000).
    pub fn new(meta: Metadata, port_rate: u32) -> RingoverBot {
        let rate = meta.sample_rate;
        RingoverBot {
            meta,
            port_rate,
            to_bot: ToBot::new(port_rate, rate),
        }
    }

    /// The metadata frame.
    pub fn start(&mut self) -> Vec<BotOut> {
        vec![BotOut::Text(self.meta.encode())]
    }

    /// One caller frame at the port's rate: binary PCM frames of 20 ms at the bot's rate.
    pub fn caller(&mut self, samples: &[i16]) -> Vec<BotOut> {
        self.to_bot.push(samples);
        let n = (self.meta.sample_rate / 50) as usize;
        let mut out = Vec::new();
        while let Some(frame) = self.to_bot.take_frame(n) {
            out.push(BotOut::Binary(ringover::pcm_frame(&frame)));
        }
        out
    }

    /// A text frame from the bot.
    pub fn bot_message(&mut self, text: &str) -> Vec<BotOut> {
        match ringover::parse_reply(text) {
            Ok(Reply::Play { url }) => vec![BotOut::Play(url)],
            Ok(Reply::StreamAudio { kind, rate, data }) => match kind {
                AudioKind::Raw => {
                    let rate = rate.unwrap_or(self.meta.sample_rate);
                    if !(8000..=48000).contains(&rate) {
                        return vec![BotOut::Bad(WireError::Field {
                            event: "streamAudio",
                            field: "sampleRate",
                        })];
                    }
                    let pcm = ringover::pcm_samples(&data);
                    vec![BotOut::Audio(convert(&pcm, rate, self.port_rate))]
                }
                kind => vec![BotOut::Decode { kind, data }],
            },
            Ok(Reply::Break) => vec![BotOut::Clear],
            Ok(Reply::Digits(d)) => vec![BotOut::Dtmf(d)],
            Ok(Reply::Transfer(t)) => vec![BotOut::Transfer(ringover::transfer_uri(&t))],
            Ok(Reply::End(v)) => vec![BotOut::End(v)],
            Ok(Reply::Other(ev)) => {
                tracing::debug!(event = %ev, "stream: unknown event from the bot ignored");
                Vec::new()
            }
            Err(e) => vec![BotOut::Bad(e)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsmedia::twilio::{parse_from_twilio, FromTwilio};

    fn texts(outs: &[BotOut]) -> Vec<String> {
        outs.iter()
            .filter_map(|o| match o {
                BotOut::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn twilio_side_starts_streams_caller_audio_and_echoes_marks() {
        let mut bot = TwilioBot::new("MZ1", "CA1", "AC1", 8000);
        let custom = BTreeMap::from([("lang".to_string(), "is".to_string())]);
        let start = texts(&bot.start(&custom));
        assert_eq!(parse_from_twilio(&start[0]), Ok(FromTwilio::Connected));
        let FromTwilio::Start(s) = parse_from_twilio(&start[1]).unwrap() else {
            panic!()
        };
        assert_eq!(s.custom["lang"], "is");
        let media = texts(&bot.caller(&[1000; 160]));
        assert_eq!(media.len(), 1);
        let FromTwilio::Media(m) = parse_from_twilio(&media[0]).unwrap() else {
            panic!()
        };
        assert_eq!((m.payload.len(), m.timestamp), (160, Some(0)));
        let outs = bot.bot_message(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"end"}}"#);
        let [BotOut::Mark(id)] = outs[..] else {
            panic!("{outs:?}")
        };
        let echo = bot.mark_reached(id).unwrap();
        assert_eq!(
            parse_from_twilio(&texts(&[echo])[0]),
            Ok(FromTwilio::Mark("end".into()))
        );
        assert!(bot.mark_reached(id).is_none(), "once");
        assert_eq!(
            bot.bot_message(r#"{"event":"clear","streamSid":"MZ1"}"#),
            vec![BotOut::Clear]
        );
        assert!(matches!(bot.bot_message("nope")[..], [BotOut::Bad(_)]));
    }

    #[test]
    fn twilio_side_resamples_a_wideband_port_and_decodes_the_bots_audio() {
        let mut bot = TwilioBot::new("MZ1", "CA1", "AC1", 16000);
        let mut media = Vec::new();
        for _ in 0..10 {
            media.extend(texts(&bot.caller(&[0; 320])));
        }
        assert!(media.len() >= 8, "{} frames", media.len());
        let payload = crate::wsmedia::twilio::encode_to_twilio(
            &ToTwilio::Media(vec![Law::Mu.encode_sample(2000); 160]),
            "MZ1",
        );
        let outs = bot.bot_message(&payload);
        let [BotOut::Audio(pcm)] = &outs[..] else {
            panic!("{outs:?}")
        };
        assert!((300..=340).contains(&pcm.len()), "{}", pcm.len());
    }

    #[test]
    fn ringover_side_sends_metadata_then_binary_pcm_and_reads_every_reply() {
        let meta = Metadata {
            call_id: "c1".into(),
            from: "+1".into(),
            to: "2".into(),
            custom: Default::default(),
            sample_rate: 8000,
        };
        let mut bot = RingoverBot::new(meta, 8000);
        assert!(texts(&bot.start())[0].contains("\"sampleRate\":8000"));
        let outs = bot.caller(&[7; 160]);
        assert_eq!(outs, vec![BotOut::Binary(ringover::pcm_frame(&[7; 160]))]);
        assert_eq!(
            bot.bot_message(r#"{"event":"play","file":"http://x/a.mp3"}"#),
            vec![BotOut::Play("http://x/a.mp3".into())]
        );
        let raw = r#"{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":8000,"audioData":"AQACAA=="}}"#;
        assert_eq!(bot.bot_message(raw), vec![BotOut::Audio(vec![1, 2])]);
        let mp3 = r#"{"type":"streamAudio","data":{"audioDataType":"mp3","audioData":"AAAA"}}"#;
        assert!(matches!(
            bot.bot_message(mp3)[..],
            [BotOut::Decode {
                kind: AudioKind::Mp3,
                ..
            }]
        ));
        assert_eq!(bot.bot_message(r#"{"event":"break"}"#), vec![BotOut::Clear]);
        assert_eq!(
            bot.bot_message(r#"{"event":"transfer","data":1234}"#),
            vec![BotOut::Transfer("tel:1234".into())]
        );
        let bad_rate = r#"{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":4,"audioData":""}}"#;
        assert!(matches!(bot.bot_message(bad_rate)[..], [BotOut::Bad(_)]));
    }

    #[test]
    fn ringover_at_16k_gets_wideband_frames_from_a_narrowband_port() {
        let meta = Metadata {
            call_id: "c1".into(),
            from: String::new(),
            to: String::new(),
            custom: Default::default(),
            sample_rate: 16000,
        };
        let mut bot = RingoverBot::new(meta, 8000);
        let mut frames = Vec::new();
        for _ in 0..10 {
            frames.extend(bot.caller(&[0; 160]));
        }
        assert!(frames.len() >= 8);
        for f in frames {
            let BotOut::Binary(b) = f else { panic!() };
            assert_eq!(b.len(), 640, "20 ms at 16 kHz");
        }
    }
}
