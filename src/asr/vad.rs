//! Voice activity detection: is the caller speaking in this 16 ms of audio?
//!
//! Uses the `earshot` crate (pure Rust, MIT/Apache-2.0, maintained): a small neural detector
//! over 256-sample (16 ms) frames of 16 kHz audio, ~8 KiB of state per stream and far below 1 %
//! of a core per call. Chosen over an energy threshold because caller audio has line noise,
//! breathing and comfort noise whose energy overlaps quiet speech, and over the WebRTC GMM VAD
//! that comes with the vendored PocketSphinx because it is pure Rust and keeps `record` and
//! barge-in independent of the C build.
//! A frame quieter than [`FLOOR_DBFS`] is silence whatever the network says (digital silence
//! and comfort noise on a quiet line).
//!
//! Callers feed 16 kHz PCM ([`crate::asr::pcm::To16k`]) in any slice sizes; a decision comes
//! out per complete 16 ms frame.

use earshot::Detector;

/// Samples per decision (16 ms at 16 kHz).
pub const FRAME: usize = 256;
/// Milliseconds per decision.
pub const FRAME_MS: u64 = 16;
/// Frames below this RMS level are silence.
pub const FLOOR_DBFS: f32 = -50.0;
/// Default detector score above which a frame is speech.
pub const THRESHOLD: f32 = 0.5;

/// A voice activity detector for one audio stream.
pub struct Vad {
    detector: Box<Detector>,
    pending: Vec<i16>,
    threshold: f32,
    floor: f32,
}

impl Vad {
    pub fn new() -> Vad {
        Vad::with_threshold(THRESHOLD)
    }

    /// `threshold` in 0..1: higher means fewer false starts and more missed quiet speech.
    pub fn with_threshold(threshold: f32) -> Vad {
        let floor_rms = 32768.0 * 10f32.powf(FLOOR_DBFS / 20.0);
        Vad {
            detector: Detector::default_boxed(),
            pending: Vec::with_capacity(FRAME),
            threshold,
            floor: floor_rms * floor_rms,
        }
    }

    /// Feeds 16 kHz PCM; appends one decision (`true` = speech) per completed frame.
    pub fn push(&mut self, pcm: &[i16], out: &mut Vec<bool>) {
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (FRAME - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == FRAME {
                out.push(self.decide());
                self.pending.clear();
            }
        }
    }

    fn decide(&mut self) -> bool {
        let energy: f32 = self
            .pending
            .iter()
            .map(|&s| {
                let s = f32::from(s);
                s * s
            })
            .sum::<f32>()
            / FRAME as f32;
        // The detector sees every frame (it keeps context), quiet or not.
        let score = self.detector.predict_i16(&self.pending);
        energy >= self.floor && score >= self.threshold
    }
}

impl Default for Vad {
    fn default() -> Self {
        Vad::new()
    }
}
