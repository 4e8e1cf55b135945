//! ITU-T G.711 μ-law (PCMU) and A-law (PCMA): 16-bit linear PCM to 8-bit codes and back.
//!
//! Hand-written (it is a few lines of arithmetic): encoding follows the reference algorithm of
//! G.711 / G.191 (segment search on the biased magnitude), decoding is a 256-entry table built at
//! compile time from the same formulas. Owns only the sample mapping; framing (160 samples per
//! 20 ms at 8 kHz) and resampling belong to the caller.

/// One of the two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law, RTP payload type 0 (PCMU).
    Mu,
    /// A-law, RTP payload type 8 (PCMA).
    A,
}

impl Law {
    /// Encodes one sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Law::Mu => ulaw_encode(sample),
            Law::A => alaw_encode(sample),
        }
    }

    /// Decodes one code.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Law::Mu => ulaw_decode(code),
            Law::A => alaw_decode(code),
        }
    }

    /// Encodes `pcm`, appending one byte per sample to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len());
        out.extend(pcm.iter().map(|&s| self.encode_sample(s)));
    }

    /// Decodes `codes`, appending one sample per byte to `out`.
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Law::Mu => &ULAW_TABLE,
            Law::A => &ALAW_TABLE,
        };
        out.reserve(codes.len());
        out.extend(codes.iter().map(|&c| table[c as usize]));
    }

    /// The code for digital silence (linear 0).
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Linear PCM to μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // `s` is in 0x84..=0x7FFF, so `s >> 7` is in 1..=255 and its log2 is the segment (0..=7).
    let exponent = (s >> 7).ilog2() as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// μ-law to linear PCM (table lookup).
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[code as usize]
}

/// Linear PCM to A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3; // 13-bit magnitude domain
    let mask: i32 = if s >= 0 {
        0xD5
    } else {
        s = -s - 1;
        0x55
    };
    // Segment ends in the 13-bit domain (G.711 Table 1).
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let seg = SEG_END.iter().position(|&end| s <= end).unwrap_or(8) as i32;
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if seg < 2 {
        (s >> 1) & 0x0F
    } else {
        (s >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) ^ mask) as u8
}

/// A-law to linear PCM (table lookup).
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[code as usize]
}

const fn ulaw_decode_formula(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_formula(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(mu: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if mu {
            ulaw_decode_formula(i as u8)
        } else {
            alaw_decode_formula(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(true);
static ALAW_TABLE: [i16; 256] = build_table(false);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ulaw_known_values_from_g711() {
        // Decoder output values (G.711 Table 2a, expressed in 16-bit linear).
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0); // "negative zero"
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_decode(0xEF), 132); // first value of segment 1
        assert_eq!(ulaw_decode(0x8F), 16764); // first value of segment 7
                                              // Encoder decision values.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(8), 0xFE);
        assert_eq!(ulaw_encode(-8), 0x7E);
    }

    #[test]
    fn alaw_known_values_from_g711() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_decode(0xD4), 24);
        assert_eq!(alaw_decode(0xC5), 264); // first value of segment 1
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_encode(24), 0xD4);
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            // 0x7F (negative zero) decodes to 0, which encodes as positive zero 0xFF.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, expected, "μ-law code {code:#04x}");
            assert_eq!(
                alaw_encode(alaw_decode(code)),
                code,
                "A-law code {code:#04x}"
            );
        }
    }

    #[test]
    fn decode_tables_are_monotonic_in_magnitude() {
        // Within each sign half, decreasing μ-law code (after inversion) means rising magnitude.
        let pos: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_decode).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
        let mut a: Vec<i16> = (0..=255u8).map(alaw_decode).collect();
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), 256, "A-law has no duplicate levels");
    }

    #[test]
    fn slice_helpers_match_per_sample_functions() {
        let pcm: Vec<i16> = (-40..40).map(|i| i * 811).collect();
        for law in [Law::Mu, Law::A] {
            let mut codes = Vec::new();
            law.encode(&pcm, &mut codes);
            assert_eq!(codes.len(), pcm.len());
            let mut back = Vec::new();
            law.decode(&codes, &mut back);
            for ((&s, &c), &b) in pcm.iter().zip(&codes).zip(&back) {
                assert_eq!(c, law.encode_sample(s));
                assert_eq!(b, law.decode_sample(c));
            }
            assert_eq!(
                law.decode_sample(law.silence()).abs(),
                if law == Law::Mu { 0 } else { 8 }
            );
        }
    }

    proptest! {
        #[test]
        fn quantisation_error_is_bounded(s in any::<i16>()) {
            // G.711 keeps about 4 significant bits: error ≤ half a step of the top segment.
            for law in [Law::Mu, Law::A] {
                let back = i32::from(law.decode_sample(law.encode_sample(s)));
                let err = (back - i32::from(s)).abs();
                let bound = (i32::from(s).abs() / 16).max(16) + 8;
                let clipped = i32::from(s).abs() > 32124;
                prop_assert!(clipped || err <= bound, "{law:?} {s} -> {back}");
            }
        }
    }
}
