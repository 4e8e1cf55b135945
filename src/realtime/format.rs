//! The audio formats a Realtime session speaks (`audio.input.format` / `audio.output.format`)
//! and the arithmetic on them: G.711 μ-law and A-law at 8 kHz (one byte a sample, so an RTP
//! G.711 call needs no transcoding) and 16-bit little-endian PCM at 24 kHz (the only PCM rate
//! the API accepts; Opus calls and other codecs are resampled to it by the engine).

use std::time::Duration;

use serde_json::{json, Value};

/// One of the three formats of the GA API (`realtime_audio_formats_param.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// `{"type": "audio/pcmu"}`: G.711 μ-law, 8 kHz.
    Pcmu,
    /// `{"type": "audio/pcma"}`: G.711 A-law, 8 kHz.
    Pcma,
    /// `{"type": "audio/pcm", "rate": 24000}`: s16le mono, 24 kHz.
    Pcm24k,
}

impl AudioFormat {
    /// The JSON the session configuration carries.
    pub fn to_json(self) -> Value {
        match self {
            AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
            AudioFormat::Pcma => json!({"type": "audio/pcma"}),
            AudioFormat::Pcm24k => json!({"type": "audio/pcm", "rate": 24000}),
        }
    }

    /// Bytes of audio per millisecond.
    pub fn bytes_per_ms(self) -> usize {
        match self {
            AudioFormat::Pcmu | AudioFormat::Pcma => 8,
            AudioFormat::Pcm24k => 48,
        }
    }

    /// Bytes in one 20 ms frame.
    pub fn frame_bytes(self) -> usize {
        self.bytes_per_ms() * 20
    }

    /// Milliseconds of audio in `bytes` (rounded down).
    pub fn ms_of(self, bytes: usize) -> u64 {
        (bytes / self.bytes_per_ms()) as u64
    }

    pub fn duration_of(self, bytes: usize) -> Duration {
        Duration::from_micros((bytes as u64 * 1000) / self.bytes_per_ms() as u64)
    }

    /// Sample rate in Hz.
    pub fn rate(self) -> u32 {
        match self {
            AudioFormat::Pcmu | AudioFormat::Pcma => 8000,
            AudioFormat::Pcm24k => 24000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AudioFormat::Pcmu => "audio/pcmu",
            AudioFormat::Pcma => "audio/pcma",
            AudioFormat::Pcm24k => "audio/pcm 24kHz",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_wire_shapes() {
        assert_eq!(AudioFormat::Pcmu.frame_bytes(), 160);
        assert_eq!(AudioFormat::Pcm24k.frame_bytes(), 960);
        assert_eq!(AudioFormat::Pcma.ms_of(800), 100);
        assert_eq!(AudioFormat::Pcm24k.ms_of(4800), 100);
        assert_eq!(
            AudioFormat::Pcm24k.duration_of(480),
            Duration::from_millis(10)
        );
        assert_eq!(AudioFormat::Pcma.to_json(), json!({"type": "audio/pcma"}));
        assert_eq!(
            AudioFormat::Pcm24k.to_json(),
            json!({"type": "audio/pcm", "rate": 24000})
        );
    }
}
