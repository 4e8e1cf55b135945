//! Integrations' audio on an RTP session: the media-worker half of an
//! [`AudioTap`](crate::engine::audio_port::AudioTap).
//!
//! - [`TapsIn`]: the caller's audio, taken after the reorder buffer, decoded at the port's
//!   rate and cut into 20 ms frames for every attached port (one decoder however many ports;
//!   offers never wait, see [`CallerSink::offer`]).
//! - [`LiveOut`]: an integration's audio towards the caller, pulled by the playout one slot at
//!   a time from the [`LiveSource`] (prebuffer, underrun, clear, marks) and encoded in the
//!   call's codec. Prompts queued on the session play first; live audio fills the slots when
//!   no prompt is queued (a recognizer's prompt is never held behind its own silent port).
//!
//! The port's rate is 8 kHz on G.711 calls and 16 kHz on Opus calls (libopus encodes and
//! decodes at that rate directly: no resampler on a media thread). A re-INVITE to a codec that
//! cannot run at an attached port's rate (Opus → G.711 with a 16 kHz port) detaches it: the
//! integration sees its port close.

use std::time::Instant;

use bytes::Bytes;

use super::codec::{law, CodecError, Frame, RxDecoder};
use crate::engine::audio_port::{AudioFormat, AudioFrame, CallerSink, LiveNext, LiveSource};
use crate::machine::io::RequestId;
use crate::media::g711::Law;
use crate::sdp::Codec;

/// The port format a session offers for `codec`.
pub fn format_for(codec: Codec) -> AudioFormat {
    match codec {
        Codec::Pcmu | Codec::Pcma => AudioFormat {
            g711: law(codec),
            ..AudioFormat::NARROWBAND
        },
        Codec::Opus => AudioFormat::WIDEBAND,
    }
}

/// Whether `codec` can carry audio at `format` without resampling.
pub fn fits(codec: Codec, format: AudioFormat) -> bool {
    match codec {
        Codec::Pcmu | Codec::Pcma => format.rate == 8000,
        Codec::Opus => matches!(format.rate, 8000 | 12000 | 16000 | 24000 | 48000),
    }
}

/// The caller's audio for the attached ports.
#[derive(Default)]
pub(super) struct TapsIn {
    sinks: Vec<(RequestId, CallerSink, AudioFormat)>,
    decoder: Option<(RxDecoder, Codec, u32)>,
    pcm: Vec<i16>,
    /// Samples waiting to fill a frame.
    partial: Vec<i16>,
}

impl TapsIn {
    pub fn attach(&mut self, id: RequestId, sink: CallerSink, format: AudioFormat) {
        self.sinks.push((id, sink, format));
    }

    pub fn detach(&mut self, id: RequestId) {
        self.sinks.retain(|(i, ..)| *i != id);
        if self.sinks.is_empty() {
            self.partial.clear();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// The codec changed: ports it cannot carry are detached (returned).
    pub fn renegotiated(&mut self, codec: Codec) -> Vec<RequestId> {
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sinks)
            .into_iter()
            .partition(|(_, _, f)| fits(codec, *f));
        self.sinks = keep;
        self.decoder = None;
        self.partial.clear();
        gone.into_iter().map(|(id, ..)| id).collect()
    }

    /// One received audio payload (in sequence order) of `codec`.
    pub fn payload(&mut self, codec: Codec, payload: &[u8]) -> Result<(), CodecError> {
        let Some(&(_, _, format)) = self.sinks.first() else {
            return Ok(());
        };
        self.sinks.retain(|(_, s, _)| !s.is_closed());
        let rate = format.rate;
        if !matches!(&self.decoder, Some((_, c, r)) if *c == codec && *r == rate) {
            self.decoder = Some((RxDecoder::at_rate(codec, rate)?, codec, rate));
        }
        let Some((dec, ..)) = self.decoder.as_mut() else {
            return Ok(());
        };
        dec.decode(payload, &mut self.pcm)?;
        let n = format.samples_per_frame();
        for chunk in self.pcm.chunks(n) {
            self.partial.extend_from_slice(chunk);
            if self.partial.len() >= n {
                let samples: Vec<i16> = self.partial.drain(..n).collect();
                for (_, sink, _) in &self.sinks {
                    sink.offer(AudioFrame {
                        samples: samples.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// An integration's audio towards the caller.
pub(super) struct LiveOut {
    pub id: RequestId,
    source: LiveSource,
    format: AudioFormat,
    enc: Option<(PcmEncoder, Codec)>,
}

impl LiveOut {
    pub fn new(id: RequestId, source: LiveSource, format: AudioFormat) -> LiveOut {
        LiveOut {
            id,
            source,
            format,
            enc: None,
        }
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    pub fn source(&self) -> &LiveSource {
        &self.source
    }

    /// Whether it has a frame (or a mid-talkspurt silence) for the next slot.
    pub fn ready(&self) -> bool {
        self.source.ready()
    }

    /// Mid-talkspurt and the next frame has not arrived (arms the source's waker).
    pub fn starved(&mut self, now: Instant) -> bool {
        self.source.starved(now)
    }

    /// The next slot's frame in `codec`: `Some(None)` is silence, `None` is nothing.
    pub fn next(&mut self, codec: Codec, now: Instant) -> Option<Option<Frame>> {
        match self.source.next_slot(now) {
            LiveNext::Frame(f) => Some(self.encode(codec, &f.samples)),
            LiveNext::Silence => Some(None),
            LiveNext::Idle => None,
        }
    }

    fn encode(&mut self, codec: Codec, samples: &[i16]) -> Option<Frame> {
        if !matches!(&self.enc, Some((_, c)) if *c == codec) {
            match PcmEncoder::new(codec, self.format.rate) {
                Ok(e) => self.enc = Some((e, codec)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot encode live audio");
                    return None;
                }
            }
        }
        let (enc, _) = self.enc.as_mut()?;
        enc.encode(samples, self.format.samples_per_frame())
            .map_err(|e| tracing::debug!(error = %e, "live frame not encoded"))
            .ok()
    }
}

/// Encodes 20 ms of PCM at the port's rate into one RTP payload.
enum PcmEncoder {
    G711(Law),
    Opus(Box<opus2::Encoder>, Vec<u8>),
}

impl PcmEncoder {
    fn new(codec: Codec, rate: u32) -> Result<PcmEncoder, CodecError> {
        Ok(match law(codec) {
            Some(l) => PcmEncoder::G711(l),
            None => {
                let mut e =
                    opus2::Encoder::new(rate, opus2::Channels::Mono, opus2::Application::Voip)?;
                e.set_bitrate(opus2::Bitrate::Bits(32000))?;
                PcmEncoder::Opus(Box::new(e), vec![0; 1275])
            }
        })
    }

    /// Encodes one frame, padding a short one with silence.
    fn encode(&mut self, samples: &[i16], frame_len: usize) -> Result<Frame, CodecError> {
        let padded;
        let pcm = if samples.len() == frame_len {
            samples
        } else {
            let mut p = samples[..samples.len().min(frame_len)].to_vec();
            p.resize(frame_len, 0);
            padded = p;
            &padded
        };
        let bytes = match self {
            PcmEncoder::G711(l) => {
                let mut out = Vec::with_capacity(pcm.len());
                l.encode(pcm, &mut out);
                out
            }
            PcmEncoder::Opus(e, scratch) => {
                let n = e.encode(pcm, scratch)?;
                scratch[..n].to_vec()
            }
        };
        Ok(Frame::from_bytes(Bytes::from(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::audio_port::{pair, PortConfig};

    #[test]
    fn g711_caller_audio_reaches_every_port_in_20ms_frames() {
        let (mut a, tap_a) = pair(AudioFormat::NARROWBAND, PortConfig::default());
        let (mut b, tap_b) = pair(AudioFormat::NARROWBAND, PortConfig::default());
        let mut taps = TapsIn::default();
        taps.attach(RequestId(1), tap_a.sink, AudioFormat::NARROWBAND);
        taps.attach(RequestId(2), tap_b.sink, AudioFormat::NARROWBAND);
        let payload = vec![Law::Mu.encode_sample(1000); 240]; // 30 ms
        taps.payload(Codec::Pcmu, &payload).unwrap();
        taps.payload(Codec::Pcmu, &payload).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for port in [&mut a, &mut b] {
            for _ in 0..3 {
                let f = rt.block_on(port.recv()).unwrap();
                assert_eq!(f.samples.len(), 160);
                assert!((f.samples[0] - 1000).abs() < 40, "{}", f.samples[0]);
            }
        }
        taps.detach(RequestId(1));
        drop(b);
        taps.payload(Codec::Pcmu, &payload).unwrap();
        assert!(taps.is_empty(), "a closed port is forgotten");
    }

    #[test]
    fn live_frames_are_encoded_in_the_calls_codec_and_silence_is_signalled() {
        let cfg = PortConfig {
            hangover: 1,
            ..PortConfig::default()
        };
        let (port, tap) = pair(AudioFormat::NARROWBAND, cfg);
        let mut out = LiveOut::new(RequestId(3), tap.live, AudioFormat::NARROWBAND);
        assert!(!out.ready());
        port.try_send(AudioFrame {
            samples: vec![2000; 160],
        })
        .unwrap();
        assert!(out.ready());
        let frame = out.next(Codec::Pcma, Instant::now()).unwrap().unwrap();
        assert_eq!(frame.payload(), &[Law::A.encode_sample(2000); 160][..]);
        assert_eq!(
            out.next(Codec::Pcma, Instant::now()),
            Some(None),
            "underrun: silence"
        );
        assert_eq!(out.next(Codec::Pcma, Instant::now()), None, "then nothing");
    }

    #[test]
    fn opus_runs_at_the_wideband_rate_and_g711_does_not() {
        assert_eq!(format_for(Codec::Opus).rate, 16000);
        assert!(fits(Codec::Opus, AudioFormat::NARROWBAND));
        assert!(!fits(Codec::Pcmu, AudioFormat::WIDEBAND));
        let (_a, tap) = pair(AudioFormat::WIDEBAND, PortConfig::default());
        let mut taps = TapsIn::default();
        taps.attach(RequestId(1), tap.sink, AudioFormat::WIDEBAND);
        assert_eq!(taps.renegotiated(Codec::Pcmu), vec![RequestId(1)]);
        assert!(taps.is_empty());
    }
}
