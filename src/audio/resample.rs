//! Sample-rate conversion of mono `f32` audio, in one go or as a stream.
//!
//! Uses rubato's synchronous FFT resampler (`rubato::Fft`): the ratio between a prompt's rate
//! and the codec's (44.1 kHz → 8 kHz, 16 kHz → 48 kHz...) is fixed, and for a fixed ratio the FFT
//! resampler is both the fastest and the best-filtered rubato offers (its anti-aliasing filter
//! matters most when going down to 8 kHz for G.711). rubato is maintained, allocation-free per
//! chunk and pure Rust. This module hides its chunked API: [`Resampler::push`] takes any number
//! of samples, [`Resampler::finish`] flushes, and the resampler's delay is trimmed so output
//! sample `n` lines up with input time `n / rate_out`.

use std::fmt;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

/// Input frames per resampler call.
const CHUNK: usize = 1024;

/// Why a resampler could not be built or run.
#[derive(Debug)]
pub enum ResampleError {
    /// A rate of 0, or a ratio rubato does not accept.
    Construction(rubato::ResamplerConstructionError),
    Process(rubato::ResampleError),
}

impl fmt::Display for ResampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResampleError::Construction(e) => write!(f, "cannot build resampler: {e}"),
            ResampleError::Process(e) => write!(f, "resampling failed: {e}"),
        }
    }
}

impl std::error::Error for ResampleError {}

/// A streaming mono resampler from `from` Hz to `to` Hz (a pass-through when they are equal).
pub struct Resampler {
    inner: Option<Box<Fft<f32>>>,
    ratio: f64,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output samples still to drop (the filter delay).
    to_trim: usize,
    consumed: u64,
    produced: u64,
}

impl fmt::Debug for Resampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resampler")
            .field("ratio", &self.ratio)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Result<Resampler, ResampleError> {
        Resampler::with_chunk(from, to, CHUNK)
    }

    /// A resampler that works on `chunk` input samples at a time: smaller chunks mean less
    /// latency (a live stream resamples 20 ms frames), larger ones less overhead.
    pub fn with_chunk(from: u32, to: u32, chunk: usize) -> Result<Resampler, ResampleError> {
        let chunk = chunk.max(1);
        if from == 0 || to == 0 {
            return Err(ResampleError::Construction(
                rubato::ResamplerConstructionError::InvalidSampleRate {
                    input: from as usize,
                    output: to as usize,
                },
            ));
        }
        let ratio = f64::from(to) / f64::from(from);
        if from == to {
            return Ok(Resampler {
                inner: None,
                ratio,
                pending: Vec::new(),
                out: Vec::new(),
                to_trim: 0,
                consumed: 0,
                produced: 0,
            });
        }
        let fft = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(ResampleError::Construction)?;
        let to_trim = fft.output_delay();
        let out = vec![0.0; fft.output_frames_max()];
        Ok(Resampler {
            inner: Some(Box::new(fft)),
            ratio,
            pending: Vec::with_capacity(chunk * 2),
            out,
            to_trim,
            consumed: 0,
            produced: 0,
        })
    }

    /// Resamples `input`, appending what is ready to `output`.
    pub fn push(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.consumed += input.len() as u64;
        let Some(fft) = self.inner.as_mut() else {
            output.extend_from_slice(input);
            self.produced += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= fft.input_frames_next() {
            let n = fft.input_frames_next();
            let (used, made) = run(fft, &self.pending[start..start + n], &mut self.out, None)?;
            start += used;
            emit(
                &self.out[..made],
                &mut self.to_trim,
                &mut self.produced,
                output,
            );
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Flushes the tail: after this, `output` holds `round(input_len × ratio)` samples in all.
    pub fn finish(&mut self, output: &mut Vec<f32>) -> Result<(), ResampleError> {
        let expected = (self.consumed as f64 * self.ratio).round() as u64;
        let Some(fft) = self.inner.as_mut() else {
            return Ok(());
        };
        let mut rest = std::mem::take(&mut self.pending);
        // Each call eats at most one chunk; the delay is flushed by chunks of silence.
        let mut guard = 0;
        while self.produced < expected && guard < 64 {
            guard += 1;
            let n = fft.input_frames_next();
            let take = rest.len().min(n);
            let mut chunk = rest[..take].to_vec();
            chunk.resize(n, 0.0);
            let indexing = Indexing::new().partial_len(take);
            let (_, made) = run(fft, &chunk, &mut self.out, Some(&indexing))?;
            rest.drain(..take);
            let want = usize::try_from(expected - self.produced).unwrap_or(usize::MAX);
            let made = made.min(want + self.to_trim);
            emit(
                &self.out[..made],
                &mut self.to_trim,
                &mut self.produced,
                output,
            );
        }
        Ok(())
    }
}

fn run(
    fft: &mut Fft<f32>,
    input: &[f32],
    out: &mut [f32],
    indexing: Option<&Indexing>,
) -> Result<(usize, usize), ResampleError> {
    let frames_in = input.len();
    let frames_out = out.len();
    // Both adapters wrap slices of exactly the stated length: their constructors cannot fail.
    let inp = InterleavedSlice::new(input, 1, frames_in)
        .expect("input slice length equals frames × 1 channel");
    let mut outp = InterleavedSlice::new_mut(out, 1, frames_out)
        .expect("output slice length equals frames × 1 channel");
    fft.process_into_buffer(&inp, &mut outp, indexing)
        .map_err(ResampleError::Process)
}

fn emit(made: &[f32], to_trim: &mut usize, produced: &mut u64, output: &mut Vec<f32>) {
    let skip = (*to_trim).min(made.len());
    *to_trim -= skip;
    output.extend_from_slice(&made[skip..]);
    *produced += (made.len() - skip) as u64;
}

/// Resamples a whole clip.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let mut r = Resampler::new(from, to)?;
    let mut out = Vec::with_capacity((input.len() as f64 * r.ratio) as usize + 16);
    r.push(input, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(freq: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (2.0 * PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Max deviation from the ideal sine, ignoring the edges.
    fn error_vs_sine(got: &[f32], freq: f32, rate: u32) -> f32 {
        let ideal = sine(freq, rate, got.len());
        let edge = got.len() / 10;
        got[edge..got.len() - edge]
            .iter()
            .zip(&ideal[edge..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn down_and_up_keep_length_and_phase() {
        for (from, to) in [(44100, 8000), (16000, 8000), (8000, 48000), (22050, 48000)] {
            let input = sine(440.0, from, from as usize); // one second
            let out = resample(&input, from, to).unwrap();
            assert_eq!(out.len(), to as usize, "{from}->{to}");
            let err = error_vs_sine(&out, 440.0, to);
            assert!(err < 0.02, "{from}->{to}: error {err}");
        }
    }

    #[test]
    fn tones_above_the_new_nyquist_are_filtered_out() {
        let input = sine(6000.0, 48000, 48000);
        let out = resample(&input, 48000, 8000).unwrap();
        let rms = (out.iter().map(|x| x * x).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
    }

    #[test]
    fn streaming_in_odd_pieces_equals_one_go() {
        let input = sine(300.0, 44100, 30000);
        let whole = resample(&input, 44100, 8000).unwrap();
        let mut r = Resampler::new(44100, 8000).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(777) {
            r.push(piece, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out.len(), whole.len());
        let diff = out
            .iter()
            .zip(&whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "{diff}");
    }

    #[test]
    fn same_rate_is_a_copy_and_zero_rate_an_error() {
        let input = sine(100.0, 8000, 500);
        assert_eq!(resample(&input, 8000, 8000).unwrap(), input);
        assert!(Resampler::new(0, 8000).is_err());
    }
}
