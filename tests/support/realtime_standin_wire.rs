//! The stand-in's wire helpers: the GA audio formats, usage objects, base64 and G.711 —
//! written here so the stand-in shares no code with phonetree.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

/// Formats of the GA API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fmt {
    Pcm24,
    Pcmu,
    Pcma,
}

impl Fmt {
    pub fn parse(v: &Value) -> Option<Fmt> {
        match v.get("type")?.as_str()? {
            "audio/pcm" => match v.get("rate").and_then(Value::as_u64) {
                None | Some(24000) => Some(Fmt::Pcm24),
                _ => None,
            },
            "audio/pcmu" => Some(Fmt::Pcmu),
            "audio/pcma" => Some(Fmt::Pcma),
            _ => None,
        }
    }

    pub fn bytes_per_ms(self) -> usize {
        match self {
            Fmt::Pcm24 => 48,
            _ => 8,
        }
    }

    /// 8 kHz PCM → bytes in this format.
    pub fn encode8k(self, pcm: &[i16]) -> Vec<u8> {
        match self {
            Fmt::Pcmu => pcm.iter().map(|&s| ulaw(s)).collect(),
            Fmt::Pcma => pcm.iter().map(|&s| alaw(s)).collect(),
            Fmt::Pcm24 => {
                // 3× up by linear interpolation (test audio; quality is not the point).
                let mut out = Vec::with_capacity(pcm.len() * 6);
                for (i, &s) in pcm.iter().enumerate() {
                    let next = *pcm.get(i + 1).unwrap_or(&s);
                    for k in 0..3 {
                        let v = (f64::from(s) * f64::from(3 - k) + f64::from(next) * f64::from(k))
                            / 3.0;
                        out.extend_from_slice(&(v as i16).to_le_bytes());
                    }
                }
                out
            }
        }
    }

    /// Bytes in this format → PCM (any rate; for the VAD's energy only).
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            Fmt::Pcmu => bytes.iter().map(|&b| ulaw_decode(b)).collect(),
            Fmt::Pcma => bytes.iter().map(|&b| alaw_decode(b)).collect(),
            Fmt::Pcm24 => bytes
                .chunks_exact(2)
                .map(|p| i16::from_le_bytes([p[0], p[1]]))
                .collect(),
        }
    }
}

pub fn usage(input: u64, output: u64) -> Value {
    json!({"total_tokens": input + output, "input_tokens": input, "output_tokens": output,
           "input_token_details": {"text_tokens": 20, "audio_tokens": input - 20.min(input), "cached_tokens": 0},
           "output_token_details": {"text_tokens": output / 4, "audio_tokens": output - output / 4}})
}

pub fn rand_suffix() -> u32 {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// --- base64 and G.711, written here so the stand-in shares no code with phonetree ---

pub const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for q in s.chunks(4) {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// ITU-T G.711 μ-law.
pub fn ulaw(s: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut x = i32::from(s);
    let sign = if x < 0 { 0x80 } else { 0 };
    if x < 0 {
        x = -x;
    }
    x = (x + BIAS).min(32635 + BIAS);
    let exp = (31 - (x as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mant = (x >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) as u8 | mant as u8)
}

pub fn ulaw_decode(b: u8) -> i16 {
    let b = !b;
    let exp = i32::from((b >> 4) & 7);
    let mant = i32::from(b & 0x0f);
    let x = (((mant << 3) + 0x84) << exp) - 0x84;
    (if b & 0x80 != 0 { -x } else { x }) as i16
}

/// ITU-T G.711 A-law.
pub fn alaw(s: i16) -> u8 {
    let mut x = i32::from(s) >> 3;
    let sign = if x >= 0 { 0x80 } else { 0 };
    if x < 0 {
        x = -x - 1;
    }
    let x = x.min(0x0fff);
    let exp = if x < 32 {
        0
    } else {
        (31 - (x as u32).leading_zeros() as i32 - 4).clamp(1, 7)
    };
    let mant = if exp == 0 { x >> 1 } else { (x >> exp) & 0x0f };
    ((sign | (exp << 4) | mant) as u8) ^ 0x55
}

pub fn alaw_decode(b: u8) -> i16 {
    let b = b ^ 0x55;
    let exp = i32::from((b >> 4) & 7);
    let mant = i32::from(b & 0x0f);
    let x = if exp == 0 {
        (mant << 4) + 8
    } else {
        ((mant << 4) + 0x108) << (exp - 1)
    };
    (if b & 0x80 != 0 { x } else { -x }) as i16
}
