//! The codecs on the wire: 20 ms [`Frame`]s out (G.711 from `media::g711`, Opus through libopus)
//! and received payloads back to 8 kHz linear PCM for the in-band DTMF detector.
//!
//! Opus is libopus through the `opus2` crate, linked dynamically against the system library
//! (Debian `libopus-dev`; `.ci/install-deps.sh` installs it): `audiopus`, the crate the product
//! card names, has had no release since 2021 and its main user moved to `opus2`, which is
//! maintained and exposes the same libopus API. We encode mono 48 kHz (RFC 7587 lets a mono
//! sender use `opus/48000/2`) and decode received Opus straight at 8 kHz: libopus decodes at any
//! of its rates, which is the downsampling step the detector needs, with no resampler per call.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::media::g711::Law;
use crate::sdp::Codec;

/// Packet time of everything phonetree sends.
pub const PTIME_MS: u32 = 20;

/// Samples per 20 ms frame at the codec's rate (160 for G.711, 960 for Opus).
pub fn samples_per_frame(codec: Codec) -> usize {
    (codec.clock_rate() * PTIME_MS / 1000) as usize
}

/// The G.711 law of a codec, if it is G.711.
pub fn law(codec: Codec) -> Option<Law> {
    match codec {
        Codec::Pcmu => Some(Law::Mu),
        Codec::Pcma => Some(Law::A),
        Codec::Opus => None,
    }
}

/// One encoded 20 ms RTP payload. Cloning is a reference count, never a copy: a cached prompt's
/// frames are slices of one shared buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// A frame over already encoded bytes.
    pub fn from_bytes(bytes: Bytes) -> Frame {
        Frame(bytes)
    }

    pub fn payload(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({} bytes)", self.0.len())
    }
}

/// Why a codec failed.
#[derive(Debug)]
pub enum CodecError {
    Opus(opus2::Error),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Opus(e) => write!(f, "opus: {e}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl From<opus2::Error> for CodecError {
    fn from(e: opus2::Error) -> Self {
        CodecError::Opus(e)
    }
}

/// Largest Opus packet (RFC 6716 §3.4).
const OPUS_MAX_PACKET: usize = 1275;

enum Encoder {
    G711(Law),
    Opus(Box<opus2::Encoder>),
}

/// Cuts audio at the codec's rate into 20 ms frames and encodes them. Frames of one encoder
/// share one buffer (see [`FrameEncoder::finish`]).
pub struct FrameEncoder {
    codec: Codec,
    enc: Encoder,
    pending: Vec<i16>,
    /// Encoded bytes and frame ends, frozen into frames by `take_frames`.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    scratch: Vec<u8>,
}

impl fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("codec", &self.codec)
            .finish()
    }
}

impl FrameEncoder {
    pub fn new(codec: Codec) -> Result<FrameEncoder, CodecError> {
        let enc = match law(codec) {
            Some(l) => Encoder::G711(l),
            None => {
                let mut e =
                    opus2::Encoder::new(48000, opus2::Channels::Mono, opus2::Application::Voip)?;
                e.set_bitrate(opus2::Bitrate::Bits(32000))?;
                Encoder::Opus(Box::new(e))
            }
        };
        Ok(FrameEncoder {
            codec,
            enc,
            pending: Vec::with_capacity(samples_per_frame(codec)),
            bytes: Vec::new(),
            ends: Vec::new(),
            scratch: vec![0; OPUS_MAX_PACKET],
        })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Adds samples (at the codec's clock rate, in [-1, 1]); every complete 20 ms frame is
    /// encoded.
    pub fn push(&mut self, pcm: &[f32]) -> Result<(), CodecError> {
        let n = samples_per_frame(self.codec);
        for &x in pcm {
            self.pending.push(to_i16(x));
            if self.pending.len() == n {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    /// Encodes what is left, padded with silence to a whole frame.
    pub fn flush(&mut self) -> Result<(), CodecError> {
        if !self.pending.is_empty() {
            self.pending.resize(samples_per_frame(self.codec), 0);
            self.encode_pending()?;
        }
        Ok(())
    }

    /// The frames encoded since the last call, sharing one buffer.
    pub fn take_frames(&mut self) -> Vec<Frame> {
        let all = Bytes::from(std::mem::take(&mut self.bytes));
        let mut start = 0;
        let frames = self
            .ends
            .drain(..)
            .map(|end| {
                let f = Frame(all.slice(start..end));
                start = end;
                f
            })
            .collect();
        frames
    }

    /// Encodes a whole clip (flushing the tail).
    pub fn encode_all(codec: Codec, pcm: &[f32]) -> Result<Vec<Frame>, CodecError> {
        let mut e = FrameEncoder::new(codec)?;
        e.push(pcm)?;
        e.flush()?;
        Ok(e.take_frames())
    }

    fn encode_pending(&mut self) -> Result<(), CodecError> {
        match &mut self.enc {
            Encoder::G711(l) => l.encode(&self.pending, &mut self.bytes),
            Encoder::Opus(e) => {
                let len = e.encode(&self.pending, &mut self.scratch)?;
                self.bytes.extend_from_slice(&self.scratch[..len]);
            }
        }
        self.ends.push(self.bytes.len());
        self.pending.clear();
        Ok(())
    }
}

fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// A 20 ms frame of silence in `codec` (encoded once per process).
pub fn silence_frame(codec: Codec) -> Frame {
    silence_frames()[codec_index(codec)].clone()
}

/// The bytes of [`silence_frame`], without taking a reference on them.
pub fn silence_payload(codec: Codec) -> &'static [u8] {
    silence_frames()[codec_index(codec)].payload()
}

fn codec_index(codec: Codec) -> usize {
    Codec::ALL.iter().position(|&c| c == codec).unwrap_or(0)
}

fn silence_frames() -> &'static [Frame; 3] {
    static CACHE: OnceLock<[Frame; 3]> = OnceLock::new();
    CACHE.get_or_init(|| {
        Codec::ALL.map(|c| {
            let zeros = vec![0.0; samples_per_frame(c)];
            FrameEncoder::encode_all(c, &zeros)
                .ok()
                .and_then(|mut f| f.pop())
                // libopus cannot fail on a valid 20 ms mono frame; if it ever did, a zero-length
                // payload is still a valid "no audio" Opus frame to send.
                .unwrap_or(Frame(Bytes::new()))
        })
    })
}

/// Decodes received payloads to 8 kHz 16-bit PCM (for DTMF detection).
pub struct RxDecoder {
    dec: RxKind,
    /// Most samples one packet decodes to (120 ms at the output rate).
    max: usize,
}

enum RxKind {
    G711(Law),
    Opus(Box<opus2::Decoder>),
}

impl fmt::Debug for RxDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RxDecoder")
    }
}

/// Most samples one received packet can decode to at 8 kHz (120 ms, Opus's longest packet).
pub const RX_MAX_SAMPLES: usize = 960;

impl RxDecoder {
    pub fn new(codec: Codec) -> Result<RxDecoder, CodecError> {
        Self::at_rate(codec, 8000)
    }

    /// A decoder to `rate` (Opus decodes at 8, 12, 16, 24 or 48 kHz; G.711 is always 8 kHz).
    pub fn at_rate(codec: Codec, rate: u32) -> Result<RxDecoder, CodecError> {
        let dec = match law(codec) {
            Some(l) => RxKind::G711(l),
            None => RxKind::Opus(Box::new(opus2::Decoder::new(rate, opus2::Channels::Mono)?)),
        };
        let max = (rate as usize * 120 / 1000).max(RX_MAX_SAMPLES);
        Ok(RxDecoder { dec, max })
    }

    /// Decodes `payload` into `out` (cleared first). `out` keeps its capacity, so a reused
    /// buffer makes this allocation-free.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        out.clear();
        match &mut self.dec {
            RxKind::G711(l) => l.decode(payload, out),
            RxKind::Opus(d) => {
                out.resize(self.max, 0);
                match d.decode(payload, out, false) {
                    Ok(n) => out.truncate(n),
                    Err(e) => {
                        out.clear();
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_frames_are_160_bytes_and_the_tail_is_padded() {
        let pcm = vec![0.25f32; 400];
        let frames = FrameEncoder::encode_all(Codec::Pcmu, &pcm).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() == 160));
        let tail = frames[2].payload();
        assert_eq!(tail[79], Law::Mu.encode_sample(to_i16(0.25)));
        assert_eq!(tail[80], Law::Mu.silence());
    }

    #[test]
    fn opus_frames_decode_back_to_20ms() {
        let pcm: Vec<f32> = (0..4800)
            .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48000.0).sin())
            .collect();
        let frames = FrameEncoder::encode_all(Codec::Opus, &pcm).unwrap();
        assert_eq!(frames.len(), 5);
        assert!(frames.iter().all(|f| !f.is_empty() && f.len() < 400));
        let mut dec = RxDecoder::new(Codec::Opus).unwrap();
        let mut out = Vec::new();
        for f in &frames {
            dec.decode(f.payload(), &mut out).unwrap();
            assert_eq!(out.len(), 160, "20 ms at 8 kHz");
        }
        // Garbage is an error or at most one packet's worth of audio, never a panic.
        for junk in [&[0xff, 0xff, 0xff][..], &[], &[0x0b; 2000][..]] {
            match dec.decode(junk, &mut out) {
                Ok(()) => assert!(out.len() <= RX_MAX_SAMPLES),
                Err(_) => assert!(out.is_empty()),
            }
        }
    }

    #[test]
    fn silence_frames_exist_for_every_codec() {
        assert_eq!(silence_frame(Codec::Pcma).payload(), &[0xD5; 160][..]);
        assert_eq!(silence_frame(Codec::Pcmu).payload(), &[0xFF; 160][..]);
        assert!(!silence_frame(Codec::Opus).is_empty());
    }

    #[test]
    fn frames_of_one_encoder_share_a_buffer() {
        let frames = FrameEncoder::encode_all(Codec::Pcma, &[0.1; 480]).unwrap();
        let base = frames[0].payload().as_ptr();
        // SAFETY-free check: the second frame starts right after the first in memory.
        assert_eq!(frames[1].payload().as_ptr(), base.wrapping_add(160));
    }
}
