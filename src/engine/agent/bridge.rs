//! Between the call's audio (20 ms frames of 16-bit PCM at the port's rate: 8 kHz on G.711
//! calls, 16 kHz on Opus calls) and a Realtime session's format.
//!
//! G.711 calls speak `audio/pcmu` / `audio/pcma`: the leg decodes the caller's G.711 to PCM and
//! this encodes it back with the same law (a table lookup that gives the original bytes back),
//! and the agent's G.711 is decoded here and re-encoded by the leg the same way — no
//! resampling, no loss. Other calls go through `audio/pcm` at 24 kHz with the rubato resampler
//! (`crate::audio::Resampler`, 20 ms chunks). Agent audio that does not fill a last 20 ms frame
//! is held for the next delta (so consecutive deltas play without gaps) and padded only when
//! [`Bridge::flush`] is asked (the response ended).

use crate::audio::{ResampleError, Resampler};
use crate::media::g711::Law;
use crate::realtime::AudioFormat;

/// The session format for a call: its G.711 law at 8 kHz, else 24 kHz PCM.
pub fn format_for(law: Option<Law>, port_rate: u32) -> AudioFormat {
    match (law, port_rate) {
        (Some(Law::Mu), 8000) => AudioFormat::Pcmu,
        (Some(Law::A), 8000) => AudioFormat::Pcma,
        _ => AudioFormat::Pcm24k,
    }
}

pub struct Bridge {
    format: AudioFormat,
    port_rate: u32,
    up: Option<Resampler>,
    down: Option<Resampler>,
    /// Agent PCM at the port rate not yet a whole frame.
    partial: Vec<i16>,
    /// An odd byte of 16-bit PCM left by the last delta.
    odd: Option<u8>,
    scratch: Vec<f32>,
    resampled: Vec<f32>,
}

impl Bridge {
    pub fn new(format: AudioFormat, port_rate: u32) -> Result<Bridge, ResampleError> {
        let pcm = format == AudioFormat::Pcm24k;
        Ok(Bridge {
            format,
            port_rate,
            up: pcm
                .then(|| Resampler::with_chunk(port_rate, 24000, port_rate as usize / 50))
                .transpose()?,
            down: pcm
                .then(|| Resampler::with_chunk(24000, port_rate, 480))
                .transpose()?,
            partial: Vec::new(),
            odd: None,
            scratch: Vec::new(),
            resampled: Vec::new(),
        })
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    fn frame_len(&self) -> usize {
        self.port_rate as usize / 50
    }

    /// One caller frame → session audio appended to `out` (may be empty while the resampler
    /// fills).
    pub fn caller(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), ResampleError> {
        match self.format {
            AudioFormat::Pcmu => Law::Mu.encode(pcm, out),
            AudioFormat::Pcma => Law::A.encode(pcm, out),
            AudioFormat::Pcm24k => {
                self.scratch.clear();
                self.scratch
                    .extend(pcm.iter().map(|&s| f32::from(s) / 32768.0));
                self.resampled.clear();
                if let Some(r) = self.up.as_mut() {
                    r.push(&self.scratch, &mut self.resampled)?;
                }
                for &s in &self.resampled {
                    out.extend_from_slice(&to_i16(s).to_le_bytes());
                }
            }
        }
        Ok(())
    }

    /// Agent audio (session format) → whole frames at the port rate.
    pub fn agent(&mut self, bytes: &[u8], frames: &mut Vec<Vec<i16>>) -> Result<(), ResampleError> {
        match self.format {
            AudioFormat::Pcmu => Law::Mu.decode(bytes, &mut self.partial),
            AudioFormat::Pcma => Law::A.decode(bytes, &mut self.partial),
            AudioFormat::Pcm24k => {
                self.scratch.clear();
                let mut rest = bytes;
                if let (Some(lo), Some((&hi, tail))) = (self.odd.take(), bytes.split_first()) {
                    self.scratch
                        .push(f32::from(i16::from_le_bytes([lo, hi])) / 32768.0);
                    rest = tail;
                }
                let mut pairs = rest.chunks_exact(2);
                for p in &mut pairs {
                    self.scratch
                        .push(f32::from(i16::from_le_bytes([p[0], p[1]])) / 32768.0);
                }
                if let [b] = pairs.remainder() {
                    self.odd = Some(*b);
                }
                self.resampled.clear();
                if let Some(r) = self.down.as_mut() {
                    r.push(&self.scratch, &mut self.resampled)?;
                }
                self.partial
                    .extend(self.resampled.iter().map(|&s| to_i16(s)));
            }
        }
        let n = self.frame_len();
        let whole = self.partial.len() / n * n;
        frames.extend(self.partial[..whole].chunks(n).map(<[i16]>::to_vec));
        self.partial.drain(..whole);
        Ok(())
    }

    /// The held remainder as a last frame padded with silence (the response ended).
    pub fn flush(&mut self) -> Option<Vec<i16>> {
        if self.partial.is_empty() {
            return None;
        }
        let mut f = std::mem::take(&mut self.partial);
        f.resize(self.frame_len(), 0);
        Some(f)
    }

    /// Whether agent audio short of a whole frame is held for the next delta.
    pub fn holds_partial(&self) -> bool {
        !self.partial.is_empty() || self.odd.is_some()
    }

    /// Barge-in: what is held is dropped with the rest.
    pub fn clear(&mut self) {
        self.partial.clear();
        self.odd = None;
    }
}

fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_goes_through_untouched() {
        let mut b = Bridge::new(AudioFormat::Pcmu, 8000).unwrap();
        // Caller: the leg decoded these μ-law bytes; we get the same bytes back.
        let original: Vec<u8> = (0..160).map(|i| (i * 37 % 256) as u8).collect();
        let mut pcm = Vec::new();
        Law::Mu.decode(&original, &mut pcm);
        let mut out = Vec::new();
        b.caller(&pcm, &mut out).unwrap();
        assert_eq!(out, original);
        // Agent: 250 bytes = one frame + 90 samples held.
        let mut frames = Vec::new();
        b.agent(&original[..250.min(original.len())], &mut frames)
            .unwrap();
        b.agent(&original[..100], &mut frames).unwrap();
        assert_eq!(frames.len(), 1);
        let mut again = Vec::new();
        Law::Mu.encode(&frames[0], &mut again);
        assert_eq!(again, original[..160]);
        let last = b.flush().unwrap();
        assert_eq!(last.len(), 160);
        assert!(b.flush().is_none());
        assert_eq!(format_for(Some(Law::A), 8000), AudioFormat::Pcma);
        assert_eq!(format_for(None, 16000), AudioFormat::Pcm24k);
    }

    #[test]
    fn wideband_is_resampled_to_24k_and_back_in_whole_frames() {
        let mut b = Bridge::new(AudioFormat::Pcm24k, 16000).unwrap();
        let tone: Vec<i16> = (0..16000)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16000.0).sin() * 8000.0) as i16)
            .collect();
        let mut out = Vec::new();
        for f in tone.chunks(320) {
            b.caller(f, &mut out).unwrap();
        }
        // One second at 16 kHz is about one second at 24 kHz (less the resampler's latency).
        let samples = out.len() / 2;
        assert!((23000..=24000).contains(&samples), "{samples}");
        // 24 kHz PCM back, split at an odd byte.
        let mut frames = Vec::new();
        b.agent(&out[..1001], &mut frames).unwrap();
        b.agent(&out[1001..], &mut frames).unwrap();
        assert!(frames.iter().all(|f| f.len() == 320));
        assert!(frames.len() >= 45, "{}", frames.len());
        let energy: f64 = frames[20]
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / 320.0;
        assert!(
            energy.sqrt() > 3000.0,
            "the tone survives: rms {}",
            energy.sqrt()
        );
    }
}
