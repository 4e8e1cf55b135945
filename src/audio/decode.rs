//! Decodes audio (WAV/PCM, MP3, Ogg Vorbis, FLAC) with symphonia into mono `f32` samples at the
//! source's own rate, from a file or from any byte stream read in order (an HTTP body).
//!
//! Owns the symphonia plumbing for playback: probing, picking the audio track, decoding packet
//! by packet and downmixing every channel to one (the mean). It hands each decoded block to a
//! sink as it comes, so a remote stream can be played while it downloads and a file is never
//! held twice. Resampling is [`super::resample`]'s job, RTP framing the engine's.
//!
//! Like [`super::duration_of`], every symphonia call runs inside `catch_unwind`: symphonia 0.6
//! still panics on a few malformed headers, and nothing read from a file or the network may
//! take a call down. A damaged packet is skipped, as a player would.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::io::{MediaSource, ReadOnlySource};

use super::probe::{classify, open_track};
use super::AudioError;

/// Mono audio at its source rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub rate: u32,
    /// Samples in [-1, 1].
    pub samples: Vec<f32>,
}

impl Pcm {
    /// How long the samples play.
    pub fn duration(&self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate))
    }
}

/// Decodes a whole file to mono. Audio longer than `max` is an [`AudioError::TooLong`] (a
/// prompt cache must not be filled by one hour-long file by mistake).
pub fn decode_file(path: &Path, max: Duration) -> Result<Pcm, AudioError> {
    let file = open(path)?;
    let mut pcm = Pcm {
        rate: 0,
        samples: Vec::new(),
    };
    let mut too_long = false;
    decode_source(
        Box::new(file),
        path.extension().and_then(|e| e.to_str()),
        path,
        &mut |block, rate| {
            pcm.rate = rate;
            pcm.samples.extend_from_slice(block);
            if pcm.samples.len() as f64 > max.as_secs_f64() * f64::from(rate) {
                too_long = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    )?;
    if too_long {
        return Err(AudioError::TooLong {
            path: path.to_owned(),
            limit: max,
        });
    }
    if pcm.rate == 0 {
        return Err(AudioError::Corrupt {
            path: path.to_owned(),
            detail: "no decodable audio".into(),
        });
    }
    Ok(pcm)
}

/// Decodes a byte stream read front to back (not seekable), calling `sink(block, rate)` with
/// each decoded mono block. `ext` is a format hint (`mp3`, `wav`); `label` names the source in
/// errors (a URL for streams). The sink returns `Break` to stop early. A read error from
/// `reader` (other than end of data) is an [`AudioError::Io`].
pub fn decode_reader<R: Read + Send + Sync + 'static>(
    reader: R,
    ext: Option<&str>,
    label: &Path,
    sink: &mut dyn FnMut(&[f32], u32) -> ControlFlow<()>,
) -> Result<(), AudioError> {
    decode_source(Box::new(ReadOnlySource::new(reader)), ext, label, sink)
}

fn open(path: &Path) -> Result<File, AudioError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => AudioError::NotFound {
            path: path.to_owned(),
        },
        _ => AudioError::Io {
            path: path.to_owned(),
            source: e,
        },
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(AudioError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(ErrorKind::InvalidInput, "is a directory"),
        });
    }
    Ok(file)
}

fn decode_source(
    source: Box<dyn MediaSource>,
    ext: Option<&str>,
    label: &Path,
    sink: &mut dyn FnMut(&[f32], u32) -> ControlFlow<()>,
) -> Result<(), AudioError> {
    // The closure's state (the sink's buffers) is only appended to: after a panic the caller
    // gets an error and drops it, so nothing half-updated is ever read.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_inner(source, ext, label, sink)
    }))
    .unwrap_or_else(|_| {
        Err(AudioError::Corrupt {
            path: label.to_owned(),
            detail: "the decoder failed on malformed data".into(),
        })
    })
}

fn decode_inner(
    source: Box<dyn MediaSource>,
    ext: Option<&str>,
    label: &Path,
    sink: &mut dyn FnMut(&[f32], u32) -> ControlFlow<()>,
) -> Result<(), AudioError> {
    let (mut format, track) = open_track(source, ext, label)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| AudioError::Unsupported {
            path: label.to_owned(),
            detail: "no audio codec parameters".into(),
        })?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| classify(label, e, "opening the decoder"))?;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(SymError::ResetRequired) => return Ok(()),
            Err(e) => return Err(classify(label, e, "reading packets")),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(classify(label, e, "decoding")),
        };
        let rate = buf.spec().rate();
        let channels = buf.spec().channels().count().max(1);
        if rate == 0 {
            return Err(AudioError::Corrupt {
                path: label.to_owned(),
                detail: "sample rate is 0".into(),
            });
        }
        interleaved.clear();
        buf.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        if channels == 1 {
            mono.extend_from_slice(&interleaved);
        } else {
            let scale = 1.0 / channels as f32;
            mono.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|f| f.iter().sum::<f32>() * scale),
            );
        }
        if sink(&mono, rate).is_break() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit PCM WAV of `channels` interleaved channels.
    pub(crate) fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        b.extend_from_slice(&(2 * channels).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    #[test]
    fn stereo_wav_is_downmixed_to_the_mean() {
        let dir = tempfile::tempdir().unwrap();
        let frames: Vec<i16> = (0..800).flat_map(|i| [i as i16 * 10, 1000]).collect();
        let path = dir.path().join("st.wav");
        std::fs::write(&path, wav_bytes(16000, 2, &frames)).unwrap();
        let pcm = decode_file(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(pcm.rate, 16000);
        assert_eq!(pcm.samples.len(), 800);
        for (i, s) in pcm.samples.iter().enumerate() {
            let expected = (i as f32 * 10.0 + 1000.0) / 2.0 / 32768.0;
            assert!((s - expected).abs() < 1e-4, "{i}: {s} vs {expected}");
        }
        assert_eq!(pcm.duration(), Duration::from_millis(50));
    }

    #[test]
    fn long_files_are_refused_and_bad_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        std::fs::write(&path, wav_bytes(8000, 1, &vec![0; 16000])).unwrap();
        let err = decode_file(&path, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, AudioError::TooLong { .. }), "{err}");
        let junk = dir.path().join("junk.mp3");
        std::fs::write(
            &junk,
            (0..3000u32)
                .map(|i| (i * 31 % 251) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(decode_file(&junk, Duration::from_secs(5)).is_err());
        let missing = decode_file(&dir.path().join("no.wav"), Duration::from_secs(5));
        assert!(matches!(missing, Err(AudioError::NotFound { .. })));
    }

    #[test]
    fn a_reader_is_decoded_block_by_block_and_can_stop_early() {
        let samples: Vec<i16> = (0..8000).map(|i| (i % 100) as i16).collect();
        let bytes = wav_bytes(8000, 1, &samples);
        let mut total = 0;
        let mut blocks = 0;
        decode_reader(
            std::io::Cursor::new(bytes.clone()),
            Some("wav"),
            Path::new("mem"),
            &mut |b, rate| {
                assert_eq!(rate, 8000);
                total += b.len();
                blocks += 1;
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(total, 8000);
        assert!(blocks > 1, "decoded in blocks");
        let mut seen = 0;
        decode_reader(
            std::io::Cursor::new(bytes),
            None,
            Path::new("mem"),
            &mut |b, _| {
                seen += b.len();
                ControlFlow::Break(())
            },
        )
        .unwrap();
        assert!(seen < 8000);
    }

    #[test]
    fn truncated_compressed_prompts_never_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
        for name in ["beep.mp3", "beep.ogg", "beep.flac"] {
            let full = std::fs::read(dir.join(name)).unwrap();
            let ext = name.rsplit('.').next();
            let whole = decode_file(&dir.join(name), Duration::from_secs(5)).unwrap();
            assert!(whole.duration() > Duration::from_millis(400), "{name}");
            for cut in (0..full.len()).step_by(53) {
                let mut n = 0;
                let r = decode_reader(
                    std::io::Cursor::new(full[..cut].to_vec()),
                    ext,
                    Path::new(name),
                    &mut |b, _| {
                        n += b.len();
                        ControlFlow::Continue(())
                    },
                );
                if r.is_ok() {
                    assert!(n <= whole.samples.len() + 2048, "{name} cut {cut}");
                }
            }
        }
    }

    #[test]
    fn truncated_and_flipped_wavs_never_panic() {
        let samples: Vec<i16> = (0..2000).map(|i| (i * 37 % 2000) as i16).collect();
        let full = wav_bytes(8000, 1, &samples);
        for cut in 0..60 {
            let _ = decode_reader(
                std::io::Cursor::new(full[..cut].to_vec()),
                Some("wav"),
                Path::new("cut"),
                &mut |_, _| ControlFlow::Continue(()),
            );
        }
        for i in 0..44 {
            for v in [0x00, 0xff, 0x80] {
                let mut b = full.clone();
                b[i] = v;
                let _ = decode_reader(
                    std::io::Cursor::new(b),
                    Some("wav"),
                    Path::new("flip"),
                    &mut |_, _| ControlFlow::Continue(()),
                );
            }
        }
    }
}
