//! `record` nodes: the caller's audio to a WAV file.
//!
//! - [`RecordCore`] (sans-IO) decides when a recording ends: `max` reached, `record.silence` of
//!   continuous silence (the VAD of [`crate::asr::vad`]; no speech at all counts too), the
//!   caller's `finish_on` key (the machine sends `FinishRecording`), or the call ending. Its clock
//!   is the audio itself.
//! - [`file`] writes 16-bit PCM WAV at the call's rate under `record.dir`, named after the call
//!   id and node, never over an existing file; the header is kept valid as it goes, so a call
//!   that hangs up (or a process that dies) leaves what was recorded.
//! - [`beep`] is the tone played before recording.

pub mod file;
pub mod session;

use std::time::Duration;

use crate::asr::endpoint::Endpointer;
use crate::asr::pcm::To16k;
use crate::asr::vad::Vad;

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// `max` reached.
    Max,
    /// `record.silence` of silence.
    Silence,
    /// The `finish_on` key (or the flow left the node).
    Finished,
    /// The caller hung up.
    Hangup,
}

/// How one recording is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordParams {
    /// Caller audio sample rate (what the file is written at).
    pub rate: u32,
    pub max: Duration,
    /// End after this much continuous silence.
    pub silence: Option<Duration>,
}

/// The VAD that watches for `record.silence`.
struct SilenceWatch {
    to16k: To16k,
    vad: Vad,
    endpointer: Endpointer,
    buf: Vec<i16>,
    decisions: Vec<bool>,
}

/// The sans-IO recorder: audio in, how much of it to keep and whether it is over.
pub struct RecordCore {
    params: RecordParams,
    max_samples: u64,
    samples: u64,
    silence: Option<SilenceWatch>,
    ended: Option<RecordEnd>,
}

impl RecordCore {
    pub fn new(params: RecordParams) -> RecordCore {
        let max_samples = (params.max.as_secs_f64() * f64::from(params.rate)).round() as u64;
        let silence = params.silence.map(|_| SilenceWatch {
            to16k: To16k::new(params.rate),
            vad: Vad::new(),
            // Only its silence counter is used; speech never "ends" a recording.
            endpointer: Endpointer::new(Duration::from_secs(3600), Duration::from_secs(3600 * 24)),
            buf: Vec::new(),
            decisions: Vec::new(),
        });
        RecordCore {
            params,
            max_samples,
            samples: 0,
            silence,
            ended: None,
        }
    }

    /// Caller audio: returns the part to write (all of it, or up to `max`) and ends the
    /// recording when a limit is reached.
    pub fn audio<'a>(&mut self, pcm: &'a [i16]) -> &'a [i16] {
        if self.ended.is_some() {
            return &[];
        }
        let room = self.max_samples.saturating_sub(self.samples);
        let keep = &pcm[..pcm.len().min(room as usize)];
        self.samples += keep.len() as u64;
        if self.samples >= self.max_samples {
            self.ended = Some(RecordEnd::Max);
        }
        if let (Some(limit), Some(w)) = (self.params.silence, self.silence.as_mut()) {
            w.buf.clear();
            w.to16k.push(keep, &mut w.buf);
            w.decisions.clear();
            w.vad.push(&w.buf, &mut w.decisions);
            for &d in &w.decisions {
                w.endpointer.push(d);
            }
            if self.ended.is_none() && w.endpointer.silence_since_start() >= limit {
                self.ended = Some(RecordEnd::Silence);
            }
        }
        keep
    }

    /// The caller's `finish_on` key, the flow leaving, or the caller hanging up.
    pub fn stop(&mut self, why: RecordEnd) {
        self.ended.get_or_insert(why);
    }

    pub fn ended(&self) -> Option<RecordEnd> {
        self.ended
    }

    /// Audio kept so far.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples as f64 / f64::from(self.params.rate.max(1)))
    }
}

/// The beep before a recording: 1 kHz for 250 ms at -12 dBFS with 10 ms fades, at `rate`.
pub fn beep(rate: u32) -> Vec<i16> {
    let n = (rate as usize) / 4;
    let fade = (rate as usize) / 100;
    let amp = 32767.0 * 10f64.powf(-12.0 / 20.0);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let env = (i.min(n - 1 - i) as f64 / fade as f64).min(1.0);
            (amp * env * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()).round() as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_ms: u64, silence_ms: Option<u64>) -> RecordParams {
        RecordParams {
            rate: 8000,
            max: Duration::from_millis(max_ms),
            silence: silence_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn max_cuts_the_audio_at_the_limit() {
        let mut r = RecordCore::new(params(50, None));
        assert_eq!(r.audio(&[1; 160]).len(), 160);
        assert_eq!(r.audio(&[1; 160]).len(), 160);
        assert_eq!(r.ended(), None);
        assert_eq!(r.audio(&[1; 160]).len(), 80, "50 ms = 400 samples");
        assert_eq!(r.ended(), Some(RecordEnd::Max));
        assert!(r.audio(&[1; 160]).is_empty());
        assert_eq!(r.duration(), Duration::from_millis(50));
    }

    #[test]
    fn silence_ends_it_and_speech_keeps_it_going() {
        let mut r = RecordCore::new(params(60_000, Some(1000)));
        for _ in 0..45 {
            r.audio(&[0; 160]);
        }
        assert_eq!(r.ended(), None, "900 ms of silence");
        for _ in 0..10 {
            r.audio(&[0; 160]);
        }
        assert_eq!(r.ended(), Some(RecordEnd::Silence));
    }

    #[test]
    fn recorded_speech_is_not_silence() {
        let mut r = RecordCore::new(params(60_000, Some(500)));
        let speech = crate::asr::testkit::speech("piper_technical_support");
        for frame in speech.chunks(160) {
            r.audio(frame);
        }
        assert_eq!(r.ended(), None, "a 1.3 s phrase has no 500 ms pause");
        for _ in 0..30 {
            r.audio(&[0; 160]);
        }
        assert_eq!(r.ended(), Some(RecordEnd::Silence));
    }

    #[test]
    fn stop_keeps_the_first_reason() {
        let mut r = RecordCore::new(params(1000, None));
        r.stop(RecordEnd::Finished);
        r.stop(RecordEnd::Hangup);
        assert_eq!(r.ended(), Some(RecordEnd::Finished));
    }

    #[test]
    fn beep_is_a_quarter_second_tone() {
        let b = beep(8000);
        assert_eq!(b.len(), 2000);
        assert_eq!(b[0], 0);
        let peak = b.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((8000..8300).contains(&peak), "{peak}");
    }
}
