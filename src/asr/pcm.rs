//! Caller audio to what recognizers and the VAD want: 16 kHz 16-bit mono PCM.
//!
//! Calls deliver 8 kHz (G.711) or 48 kHz (Opus) frames; the PocketSphinx model, the VAD and
//! most servers want 16 kHz. 8 → 16 kHz (the common case) is a plain linear interpolation,
//! 20 ms in, 20 ms out, no chunking delay (rubato's FFT resampler, [`crate::audio::Resampler`],
//! works in 1,024-sample chunks). Linear on purpose: measured on this project's G.711 speech set
//! (BENCHMARKS.md), PocketSphinx's wideband model recognises *better* from it than from a sharp
//! 64-tap low-pass interpolation (espeak-ng menu words 15/23 against 3/23, Piper digit strings
//! 16/18 against 7/18): the mirrored energy above 4 kHz looks to the model like the high band it
//! was trained with, an empty high band does not. Other rates go through rubato.

use crate::audio::Resampler;

/// Converts a stream of mono PCM at `rate` to 16 kHz.
pub struct To16k {
    kind: Kind,
}

enum Kind {
    Same,
    Double(Upsample2x),
    Other(Box<Resampler>, Vec<f32>),
}

impl To16k {
    /// `rate` is the caller audio's rate (8,000, 16,000, 48,000...).
    pub fn new(rate: u32) -> To16k {
        let kind = match rate {
            16_000 => Kind::Same,
            8_000 => Kind::Double(Upsample2x::new()),
            r => match Resampler::new(r, 16_000) {
                Ok(rs) => Kind::Other(Box::new(rs), Vec::new()),
                // A rate rubato refuses (0): treated as 16 kHz rather than failing a call.
                Err(_) => Kind::Same,
            },
        };
        To16k { kind }
    }

    /// Appends the 16 kHz version of `input` to `out`.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        match &mut self.kind {
            Kind::Same => out.extend_from_slice(input),
            Kind::Double(u) => u.push(input, out),
            Kind::Other(rs, buf) => {
                let f: Vec<f32> = input.iter().map(|&s| f32::from(s) / 32768.0).collect();
                buf.clear();
                if rs.push(&f, buf).is_ok() {
                    out.extend(
                        buf.iter()
                            .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
                    );
                }
            }
        }
    }
}

/// Streaming 2× linear interpolation: each input sample, then the mid-point to the next one
/// (so the output lags the input by one sample).
#[derive(Debug, Default)]
pub struct Upsample2x {
    last: Option<i16>,
}

impl Upsample2x {
    pub fn new() -> Upsample2x {
        Upsample2x::default()
    }

    /// Appends `2 * input.len()` samples.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() * 2);
        for &s in input {
            let prev = self.last.unwrap_or(s);
            out.push(prev);
            out.push(((i32::from(prev) + i32::from(s)) / 2) as i16);
            self.last = Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: f32, freq: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin() * 10_000.0) as i16
            })
            .collect()
    }

    #[test]
    fn doubling_keeps_a_tone_and_its_length() {
        let input = tone(8000.0, 440.0, 1600);
        let mut up = Upsample2x::new();
        let mut out = Vec::new();
        for chunk in input.chunks(160) {
            up.push(chunk, &mut out);
        }
        assert_eq!(out.len(), 3200);
        // One input sample late, the output is the same tone at 16 kHz.
        let want = tone(16000.0, 440.0, 3200);
        let delay = 2;
        let err: f64 = (200..3000)
            .map(|i| (f64::from(out[i + delay]) - f64::from(want[i])).abs())
            .sum::<f64>()
            / 2800.0;
        assert!(err < 150.0, "mean error {err}");
    }

    #[test]
    fn sixteen_khz_passes_through_and_48k_is_resampled() {
        let mut same = To16k::new(16_000);
        let mut out = Vec::new();
        same.push(&[1, 2, 3], &mut out);
        assert_eq!(out, [1, 2, 3]);
        let mut down = To16k::new(48_000);
        let mut out = Vec::new();
        for chunk in tone(48000.0, 300.0, 48_000).chunks(960) {
            down.push(chunk, &mut out);
        }
        // rubato holds back up to one chunk; roughly a third of the samples come out.
        assert!(out.len() > 14_000 && out.len() <= 16_000, "{}", out.len());
    }
}
