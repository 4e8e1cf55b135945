//! In-band DTMF detection on 8 kHz linear PCM (decoded G.711), for phones that send keys as
//! audio tones.
//!
//! Samples are cut into blocks of [`BLOCK`] = 105 (13.1 ms; the caller may push any frame size,
//! typically 160 samples per 20 ms packet). For each block a Goertzel filter measures the energy
//! at the eight DTMF frequencies. A block is a *hit* for a key when: the strongest row and column
//! tones are each above [`MIN_TONE_DBFS`]; the twist between them is within limits (the column
//! tone at most 8 dB weaker or 4 dB stronger than the row tone, ITU-T Q.24); each dominates the
//! other tones of its group by 6 dB; and together they hold most of the block's energy (speech
//! and music spread theirs). A key is reported once, after two consecutive hit blocks, and
//! re-arms only after two blocks without it (a pause of ~26-40 ms). Measured on clean tones:
//! every tone of 31 ms or more is caught whatever its alignment to the blocks (ITU-T Q.24 asks
//! for 40 ms), and nothing under 17 ms ever is (Q.24: reject under ~20 ms). Hand-written: it is ~100
//! lines and the available crates are not sans-IO or not tuned for telephony.

use crate::flow::digit::Digit;

/// Samples per analysis block at 8 kHz.
pub const BLOCK: usize = 105;
/// Sample rate the detector expects.
pub const SAMPLE_RATE: f32 = 8000.0;
/// Weakest tone (each of the pair) that is accepted, in dB relative to a full-scale sine.
pub const MIN_TONE_DBFS: f32 = -36.0;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Column tone may be this much weaker than the row tone (normal twist, 8 dB).
const NORMAL_TWIST: f32 = 6.31;
/// Column tone may be this much stronger than the row tone (reverse twist, 4 dB).
const REVERSE_TWIST: f32 = 2.51;
/// The strongest tone of a group must beat the others of the group by 6 dB.
const RELATIVE_PEAK: f32 = 3.98;
/// Share of the block's energy the two tones must hold.
const MIN_ENERGY_SHARE: f32 = 0.6;
/// Consecutive hit blocks needed to report a key.
const MIN_HIT_BLOCKS: u32 = 2;
/// Consecutive blocks without the key needed before it can be reported again.
const MIN_GAP_BLOCKS: u32 = 2;

/// The detector for one direction of one call.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    coeffs: [f32; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    count: usize,
    min_tone_energy: f32,
    /// The key currently held (already reported) and how many blocks it has been missing.
    held: Option<(Digit, u32)>,
    /// A key seen in the last blocks but not yet reported, with its hit count.
    candidate: Option<(Digit, u32)>,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    pub fn new() -> DtmfDetector {
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos();
        }
        // A sine of peak amplitude A has mean power A²/2; the block energy of one tone is that
        // times BLOCK (see `tone_energy`).
        let a_min = 32767.0 * 10f32.powf(MIN_TONE_DBFS / 20.0);
        DtmfDetector {
            coeffs,
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            count: 0,
            min_tone_energy: a_min * a_min / 2.0 * BLOCK as f32,
            held: None,
            candidate: None,
        }
    }

    /// Forgets everything (a fresh detector with the same tuning): for samples that do not
    /// follow the ones pushed before (a probe of one packet in several).
    pub fn reset(&mut self) {
        self.s1 = [0.0; 8];
        self.s2 = [0.0; 8];
        self.energy = 0.0;
        self.count = 0;
        self.held = None;
        self.candidate = None;
    }

    /// Whether the last whole block held a key's tone pair (one block is not yet a press: a
    /// press needs two in a row).
    pub fn tone_seen(&self) -> bool {
        self.candidate.is_some() || self.held.is_some()
    }

    /// Feeds samples (8 kHz, 16-bit linear); returns the keys whose press was recognised in them
    /// (usually none; no allocation then).
    pub fn push(&mut self, samples: &[i16]) -> Vec<Digit> {
        let mut found = Vec::new();
        for &s in samples {
            let x = f32::from(s);
            self.energy += x * x;
            for i in 0..8 {
                let s0 = x + self.coeffs[i] * self.s1[i] - self.s2[i];
                self.s2[i] = self.s1[i];
                self.s1[i] = s0;
            }
            self.count += 1;
            if self.count == BLOCK {
                let hit = self.classify_block();
                self.s1 = [0.0; 8];
                self.s2 = [0.0; 8];
                self.energy = 0.0;
                self.count = 0;
                found.extend(self.debounce(hit));
            }
        }
        found
    }

    /// Energy of each filter's tone, on the same scale as the block's Σx².
    fn tone_energy(&self, i: usize) -> f32 {
        let (s1, s2, c) = (self.s1[i], self.s2[i], self.coeffs[i]);
        let power = s1 * s1 + s2 * s2 - c * s1 * s2;
        2.0 * power.max(0.0) / BLOCK as f32
    }

    fn classify_block(&self) -> Option<Digit> {
        let e: [f32; 8] = std::array::from_fn(|i| self.tone_energy(i));
        let (row, col) = (&e[..4], &e[4..]);
        let r = strongest(row);
        let c = strongest(col);
        let (er, ec) = (row[r], col[c]);
        if er < self.min_tone_energy || ec < self.min_tone_energy {
            return None;
        }
        if ec * NORMAL_TWIST < er || er * REVERSE_TWIST < ec {
            return None;
        }
        let dominates = |group: &[f32], best: usize| {
            group
                .iter()
                .enumerate()
                .all(|(i, &v)| i == best || v * RELATIVE_PEAK <= group[best])
        };
        if !dominates(row, r) || !dominates(col, c) {
            return None;
        }
        if er + ec < MIN_ENERGY_SHARE * self.energy {
            return None;
        }
        Digit::from_char(KEYPAD[r][c])
    }

    fn debounce(&mut self, hit: Option<Digit>) -> Option<Digit> {
        // A held key survives until it has been missing for MIN_GAP_BLOCKS blocks.
        if let Some((held, missing)) = self.held {
            if hit == Some(held) {
                self.held = Some((held, 0));
                self.candidate = None;
                return None;
            }
            let missing = missing + 1;
            self.held = (missing < MIN_GAP_BLOCKS).then_some((held, missing));
        }
        let Some(d) = hit else {
            self.candidate = None;
            return None;
        };
        let hits = match self.candidate {
            Some((c, n)) if c == d => n + 1,
            _ => 1,
        };
        if hits >= MIN_HIT_BLOCKS {
            self.candidate = None;
            self.held = Some((d, 0));
            return Some(d);
        }
        self.candidate = Some((d, hits));
        None
    }
}

fn strongest(group: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in group.iter().enumerate() {
        if v > group[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::Law;
    use std::f32::consts::PI;

    /// Deterministic noise in [-1, 1] (xorshift32).
    struct Noise(u32);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    fn amp(dbfs: f32) -> f32 {
        32767.0 * 10f32.powf(dbfs / 20.0)
    }

    fn freqs(key: char) -> (f32, f32) {
        for (r, row) in KEYPAD.iter().enumerate() {
            if let Some(c) = row.iter().position(|&k| k == key) {
                return (ROWS[r], COLS[c]);
            }
        }
        unreachable!("test key {key}")
    }

    /// `ms` of `key` with each tone at `dbfs`, plus white noise at `noise_dbfs`.
    fn tone(key: char, ms: usize, dbfs: f32, noise_dbfs: Option<f32>, seed: u32) -> Vec<i16> {
        let (f1, f2) = freqs(key);
        let mut noise = Noise(seed.max(1));
        (0..ms * 8)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                let mut x =
                    amp(dbfs) * ((2.0 * PI * f1 * t).sin() + (2.0 * PI * f2 * t + 0.7).sin());
                if let Some(nd) = noise_dbfs {
                    x += amp(nd) * noise.next();
                }
                x.clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// Tones this short are never reported (Q.24 asks to reject what is under ~20 ms).
    const BLIP_MS: usize = 16;

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    /// Feeds in 20 ms frames like the RTP path does.
    fn detect(samples: &[i16]) -> String {
        let mut det = DtmfDetector::new();
        samples
            .chunks(160)
            .flat_map(|f| det.push(f))
            .map(|d| d.as_char())
            .collect()
    }

    #[test]
    fn every_key_is_detected_once() {
        for key in Digit::ALL {
            let mut s = silence(30);
            s.extend(tone(key, 100, -10.0, None, 1));
            s.extend(silence(60));
            assert_eq!(detect(&s), key.to_string(), "key {key}");
        }
    }

    #[test]
    fn every_key_is_detected_at_minus_20_dbfs_with_noise() {
        for (i, key) in Digit::ALL.into_iter().enumerate() {
            let mut s = silence(20);
            // Each tone at -23 dBFS (the pair at -20 dBFS); noise peaks at -35 dBFS (~12 dB SNR).
            s.extend(tone(key, 80, -23.0, Some(-35.0), i as u32 + 7));
            let mut noise = Noise(99);
            s.extend((0..400).map(|_| (amp(-35.0) * noise.next()) as i16));
            assert_eq!(detect(&s), key.to_string(), "key {key}");
        }
    }

    #[test]
    fn tones_survive_g711_encoding() {
        for law in [Law::Mu, Law::A] {
            for key in Digit::ALL {
                let mut pcm = tone(key, 60, -20.0, Some(-50.0), 3);
                pcm.extend(silence(40));
                let mut coded = Vec::new();
                law.encode(&pcm, &mut coded);
                let mut back = Vec::new();
                law.decode(&coded, &mut back);
                assert_eq!(detect(&back), key.to_string(), "{law:?} key {key}");
            }
        }
    }

    #[test]
    fn a_40ms_tone_is_caught_at_any_alignment_and_a_short_blip_never() {
        for key in ['5', '1', 'D'] {
            for offset in (0..BLOCK).step_by(3) {
                let mut s = vec![0i16; offset];
                s.extend(tone(key, 40, -10.0, None, 1));
                s.extend(silence(50));
                assert_eq!(detect(&s), key.to_string(), "offset {offset}");
                let mut s = vec![0i16; offset];
                s.extend(tone(key, BLIP_MS, -3.0, None, 1));
                s.extend(silence(50));
                assert_eq!(detect(&s), "", "offset {offset}");
            }
        }
    }

    #[test]
    fn a_held_key_is_one_press_and_a_gap_rearms() {
        let mut s = tone('8', 1500, -12.0, None, 1);
        assert_eq!(detect(&s), "8");
        s.extend(silence(50));
        s.extend(tone('8', 80, -12.0, None, 1));
        s.extend(silence(50));
        s.extend(tone('9', 80, -12.0, None, 1));
        assert_eq!(detect(&s), "889");
    }

    #[test]
    fn a_key_change_without_a_gap_is_a_new_press() {
        let mut s = tone('1', 80, -12.0, None, 1);
        s.extend(tone('2', 80, -12.0, None, 1));
        assert_eq!(detect(&s), "12");
    }

    #[test]
    fn too_quiet_tones_are_ignored() {
        let s = tone('3', 200, -45.0, None, 1);
        assert_eq!(detect(&s), "");
    }

    #[test]
    fn excessive_twist_is_rejected() {
        let (f1, f2) = freqs('6');
        let s: Vec<i16> = (0..1600)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                // Column tone 14 dB below the row tone.
                (amp(-10.0) * (2.0 * PI * f1 * t).sin() + amp(-24.0) * (2.0 * PI * f2 * t).sin())
                    as i16
            })
            .collect();
        assert_eq!(detect(&s), "");
    }

    #[test]
    fn silence_noise_and_single_tones_give_no_digits() {
        assert_eq!(detect(&silence(1000)), "");
        let mut noise = Noise(5);
        let white: Vec<i16> = (0..16000)
            .map(|_| (amp(-10.0) * noise.next()) as i16)
            .collect();
        assert_eq!(detect(&white), "");
        for f in ROWS
            .iter()
            .chain(COLS.iter())
            .chain([1000.0, 440.0, 2600.0].iter())
        {
            let s: Vec<i16> = (0..8000)
                .map(|n| (amp(-6.0) * (2.0 * PI * f * n as f32 / SAMPLE_RATE).sin()) as i16)
                .collect();
            assert_eq!(detect(&s), "", "single tone {f} Hz");
        }
        // Two tones of the same group are not a key.
        let s: Vec<i16> = (0..8000)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                (amp(-10.0) * ((2.0 * PI * 697.0 * t).sin() + (2.0 * PI * 852.0 * t).sin())) as i16
            })
            .collect();
        assert_eq!(detect(&s), "");
    }

    #[test]
    fn speech_like_signals_give_no_digits() {
        // Voiced "speech": a gliding pitch (90-260 Hz) with 30 harmonics shaped by moving
        // formants, syllable-rate amplitude modulation, plus breath noise; 10 seconds.
        let mut noise = Noise(11);
        let mut phase = 0.0f32;
        let s: Vec<i16> = (0..80_000)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                let f0 = 175.0 + 85.0 * (2.0 * PI * 0.7 * t).sin() * (2.0 * PI * 0.13 * t).cos();
                phase += 2.0 * PI * f0 / SAMPLE_RATE;
                let f1 = 500.0 + 300.0 * (2.0 * PI * 1.9 * t).sin();
                let f2 = 1500.0 + 600.0 * (2.0 * PI * 1.3 * t).cos();
                let mut x = 0.0;
                for h in 1..=30 {
                    let fh = f0 * h as f32;
                    let g = (-((fh - f1) / 150.0).powi(2)).exp()
                        + 0.6 * (-((fh - f2) / 200.0).powi(2)).exp()
                        + 0.05;
                    x += g * (phase * h as f32).sin();
                }
                let envelope = 0.5 + 0.5 * (2.0 * PI * 4.0 * t).sin();
                (amp(-12.0) * envelope * x * 0.5 + amp(-40.0) * noise.next()) as i16
            })
            .collect();
        assert_eq!(detect(&s), "");
    }

    #[test]
    fn odd_frame_sizes_are_fine() {
        let mut s = tone('#', 100, -10.0, None, 1);
        s.extend(silence(60));
        let mut det = DtmfDetector::new();
        let got: Vec<Digit> = s.chunks(37).flat_map(|f| det.push(f)).collect();
        assert_eq!(got, vec![Digit::from_char('#').unwrap()]);
    }
}
