//! Reads an audio file's playing time with symphonia.
//!
//! Uses the container's frame count and sample rate when it states them (WAV, FLAC, Ogg) and, for
//! uncompressed PCM, the file is long enough to hold them; else the
//! track duration in timebase units, else walks the packets (MP3 without a Xing header), and only
//! as a last resort decodes them to count frames. Any error from symphonia becomes an
//! [`AudioError`]; nothing here panics on a malformed file.
//!
//! symphonia is meant not to panic, but 0.6.1 still does on some headers (an arithmetic overflow
//! in the WAV `fmt ` chunk parser, found by `flipped_bytes_never_panic`), so the probe runs inside
//! `catch_unwind` and such a file is reported as corrupt.

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use symphonia::core::codecs::audio::{well_known, AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use super::AudioError;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How long the audio in `path` plays.
pub fn duration_of(path: &Path) -> Result<Duration, AudioError> {
    // The closure owns nothing shared: a panic cannot leave state behind half-updated.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe_file(path))).unwrap_or_else(
        |_| {
            Err(AudioError::Corrupt {
                path: path.to_owned(),
                detail: "the decoder failed on malformed data".into(),
            })
        },
    )
}

fn probe_file(path: &Path) -> Result<Duration, AudioError> {
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
    let file_len = file.metadata().map(|m| m.len()).ok();
    let ext = path.extension().and_then(|e| e.to_str());
    let (mut format, track) = open_track(Box::new(file), ext, path)?;
    let track_id = track.id;
    let time_base = track.time_base;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).cloned();
    let sample_rate = params.as_ref().and_then(|p| p.sample_rate);

    // A PCM header that promises more data than the file holds: count the packets that are there.
    let truncated = match (&params, track.num_frames) {
        (Some(p), Some(frames)) => pcm_data_exceeds_file(p, frames, file_len),
        _ => false,
    };
    if truncated {
        if let (Some(p), Some(rate)) = (&params, sample_rate) {
            let bytes = count_packet_bytes(path, format.as_mut(), track_id)?;
            let frames = pcm_frame_bytes(p).map_or(0, |per_frame| bytes / per_frame);
            return frames_to_duration(path, frames, rate);
        }
    } else {
        if let (Some(frames), Some(rate)) = (track.num_frames, sample_rate) {
            return frames_to_duration(path, frames, rate);
        }
        if let (Some(dur), Some(tb)) = (track.duration, time_base) {
            return Ok(ticks_to_duration(dur.get(), tb));
        }
    }
    if let Some(tb) = time_base {
        let ticks = sum_packet_durations(path, format.as_mut(), track_id)?;
        if ticks > 0 {
            return Ok(ticks_to_duration(ticks, tb));
        }
        return Ok(Duration::ZERO);
    }
    let params = params.ok_or_else(|| AudioError::Unsupported {
        path: path.to_owned(),
        detail: "no audio codec parameters".into(),
    })?;
    decode_and_count(path, format.as_mut(), track_id, &params)
}

/// Probes `source` (the file extension, if known, as a hint) and returns its reader and default
/// audio track. `label` names the source in errors.
pub(super) fn open_track(
    source: Box<dyn MediaSource>,
    ext: Option<&str>,
    label: &Path,
) -> Result<(Box<dyn FormatReader>, Track), AudioError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| classify(label, e, "probing"))?;
    let track = format
        .default_track(TrackType::Audio)
        .cloned()
        .ok_or_else(|| AudioError::Unsupported {
            path: label.to_owned(),
            detail: "no audio track".into(),
        })?;
    Ok((format, track))
}

/// Whether uncompressed PCM of `frames` frames needs more bytes than the whole file has (a WAV
/// cut short: its header still states the original length).
fn pcm_data_exceeds_file(p: &AudioCodecParameters, frames: u64, file_len: Option<u64>) -> bool {
    match (pcm_frame_bytes(p), file_len) {
        (Some(per_frame), Some(len)) => {
            u128::from(frames) * u128::from(per_frame) > u128::from(len)
        }
        _ => false,
    }
}

/// Bytes per frame of uncompressed PCM; `None` for compressed codecs or unknown layouts.
fn pcm_frame_bytes(p: &AudioCodecParameters) -> Option<u64> {
    let pcm = (well_known::CODEC_ID_PCM_S32LE..=well_known::CODEC_ID_PCM_MULAW).contains(&p.codec);
    let bits = u64::from(p.bits_per_coded_sample.or(p.bits_per_sample)?);
    let channels = p.channels.as_ref()?.count() as u64;
    let per_frame = channels * bits.div_ceil(8);
    (pcm && per_frame > 0).then_some(per_frame)
}

/// Sums the payload bytes of every packet of the track (what a truncated PCM file really holds).
fn count_packet_bytes(
    path: &Path,
    format: &mut dyn FormatReader,
    track_id: u32,
) -> Result<u64, AudioError> {
    let mut bytes: u64 = 0;
    while let Some(packet) = next_packet(path, format)? {
        if packet.track_id == track_id {
            bytes = bytes.saturating_add(packet.data.len() as u64);
        }
    }
    Ok(bytes)
}

/// Sums the stated duration of every packet of the track, in timebase ticks.
fn sum_packet_durations(
    path: &Path,
    format: &mut dyn FormatReader,
    track_id: u32,
) -> Result<u64, AudioError> {
    let mut ticks: u64 = 0;
    while let Some(packet) = next_packet(path, format)? {
        if packet.track_id == track_id {
            let playable = packet
                .dur
                .get()
                .saturating_sub(packet.trim_start.get())
                .saturating_sub(packet.trim_end.get());
            ticks = ticks.saturating_add(playable);
        }
    }
    Ok(ticks)
}

/// Decodes every packet and counts the frames at the decoder's output rate.
fn decode_and_count(
    path: &Path,
    format: &mut dyn FormatReader,
    track_id: u32,
    params: &AudioCodecParameters,
) -> Result<Duration, AudioError> {
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| classify(path, e, "opening the decoder"))?;
    let mut frames: u64 = 0;
    let mut rate: Option<u32> = None;
    while let Some(packet) = next_packet(path, format)? {
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                frames = frames.saturating_add(buf.frames() as u64);
                rate = Some(buf.spec().rate());
            }
            // A damaged packet is skipped, as a player would.
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => continue,
            Err(e) => return Err(classify(path, e, "decoding")),
        }
    }
    match rate {
        Some(rate) => frames_to_duration(path, frames, rate),
        None => Err(AudioError::Corrupt {
            path: path.to_owned(),
            detail: "no decodable audio".into(),
        }),
    }
}

/// The next packet; `None` at the end of the stream (or at a truncation, which ends it too).
fn next_packet(
    path: &Path,
    format: &mut dyn FormatReader,
) -> Result<Option<symphonia::core::packet::Packet>, AudioError> {
    match format.next_packet() {
        Ok(p) => Ok(p),
        // A stream cut short ends where the data ends.
        Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
        // Chained Ogg streams: the length of the first one is what plays before a reset.
        Err(SymError::ResetRequired) => Ok(None),
        Err(e) => Err(classify(path, e, "reading packets")),
    }
}

fn frames_to_duration(path: &Path, frames: u64, rate: u32) -> Result<Duration, AudioError> {
    if rate == 0 {
        return Err(AudioError::Corrupt {
            path: path.to_owned(),
            detail: "sample rate is 0".into(),
        });
    }
    let nanos = u128::from(frames) * NANOS_PER_SEC / u128::from(rate);
    Ok(nanos_to_duration(nanos))
}

fn ticks_to_duration(ticks: u64, tb: TimeBase) -> Duration {
    let nanos =
        u128::from(ticks) * u128::from(tb.numer.get()) * NANOS_PER_SEC / u128::from(tb.denom.get());
    nanos_to_duration(nanos)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder of a division by 10^9 always fits in u32.
    let sub = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, sub)
}

/// Maps a symphonia error met at `stage` to our error (shared with `decode`).
pub(super) fn classify(path: &Path, e: SymError, stage: &str) -> AudioError {
    let path = path.to_owned();
    match e {
        SymError::Unsupported(what) => AudioError::Unsupported {
            path,
            detail: format!("{what} ({stage})"),
        },
        SymError::IoError(io) if io.kind() != ErrorKind::UnexpectedEof => {
            AudioError::Io { path, source: io }
        }
        other => AudioError::Corrupt {
            path,
            detail: format!("{other} ({stage})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A PCM WAV file: `rate` Hz, mono, 16-bit, `frames` samples of a ramp.
    fn wav_bytes(rate: u32, frames: u32) -> Vec<u8> {
        let data_len = frames * 2;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // PCM
        b.extend_from_slice(&1u16.to_le_bytes()); // mono
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2).to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames {
            b.extend_from_slice(&((i % 200) as i16 * 100).to_le_bytes());
        }
        b
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        let mut f = File::create(&path).expect("temp file");
        f.write_all(bytes).expect("write temp file");
        path
    }

    #[test]
    fn wav_length_comes_from_frames_and_rate() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.wav", &wav_bytes(8000, 12_000));
        assert_eq!(duration_of(&p).unwrap(), Duration::from_millis(1500));
        let p = write(&dir, "b.wav", &wav_bytes(16000, 4000));
        assert_eq!(duration_of(&p).unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = duration_of(&dir.path().join("nope.wav")).unwrap_err();
        assert!(matches!(err, AudioError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.wav"));
    }

    #[test]
    fn a_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = duration_of(dir.path()).unwrap_err();
        assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
    }

    #[test]
    fn garbage_is_unsupported_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        for name in ["junk.wav", "junk.mp3", "junk.ogg", "junk.flac", "junk.bin"] {
            let p = write(&dir, name, &junk);
            assert!(duration_of(&p).is_err(), "{name} should not have a length");
        }
        let p = write(&dir, "empty.wav", b"");
        let err = duration_of(&p).unwrap_err();
        assert!(
            matches!(
                err,
                AudioError::Unsupported { .. } | AudioError::Corrupt { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_wav_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let full = wav_bytes(8000, 8000);
        // Every cut inside the header, and a few inside the data.
        for cut in (0..48).chain([100, 1000, 9000]) {
            let p = write(&dir, "cut.wav", &full[..cut]);
            match duration_of(&p) {
                Ok(d) => assert!(d <= Duration::from_secs(1), "cut {cut}: {d:?}"),
                Err(e) => assert!(!matches!(e, AudioError::NotFound { .. }), "cut {cut}"),
            }
        }
    }

    #[test]
    fn truncated_wav_plays_only_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let full = wav_bytes(8000, 8000);
        // 44-byte header + 4000 samples of 2 bytes: half of the second the header promises.
        let p = write(&dir, "half.wav", &full[..44 + 8000]);
        assert_eq!(duration_of(&p).unwrap(), Duration::from_millis(500));
        // A half sample at the end does not count.
        let p = write(&dir, "odd.wav", &full[..44 + 1001]);
        assert_eq!(duration_of(&p).unwrap(), Duration::from_micros(62_500));
        let p = write(&dir, "none.wav", &full[..44]);
        assert_eq!(duration_of(&p).unwrap(), Duration::ZERO);
    }

    #[test]
    fn corrupt_header_fields_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = wav_bytes(8000, 800);
        b[24..28].copy_from_slice(&0u32.to_le_bytes()); // sample rate 0
        let p = write(&dir, "zero_rate.wav", &b);
        assert!(duration_of(&p).is_err());
        let mut b = wav_bytes(8000, 800);
        b[20..22].copy_from_slice(&0x7777u16.to_le_bytes()); // unknown format tag
        let p = write(&dir, "odd_codec.wav", &b);
        assert!(duration_of(&p).is_err());
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let full = wav_bytes(8000, 2000);
        for i in 0..44 {
            for v in [0x00, 0xff, 0x80] {
                let mut b = full.clone();
                b[i] = v;
                let p = write(&dir, "flip.wav", &b);
                if let Ok(d) = duration_of(&p) {
                    assert!(d < Duration::from_secs(24 * 3600), "byte {i}: {d:?}");
                }
            }
        }
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/audio")
            .join(name)
    }

    /// Half a second of 440 Hz made by `sox -n -r 8000 -c 1 beep.EXT synth 0.5 sine 440`.
    #[test]
    fn compressed_formats_have_their_length() {
        for name in ["beep.mp3", "beep.ogg", "beep.flac"] {
            let d = duration_of(&fixture(name)).unwrap();
            let ms = d.as_millis();
            // MP3 frames are 576 samples at 8 kHz (72 ms), so the encoder pads up to a frame.
            assert!((450..=650).contains(&ms), "{name}: {ms} ms");
        }
    }

    #[test]
    fn truncated_compressed_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["beep.mp3", "beep.ogg", "beep.flac"] {
            let full = std::fs::read(fixture(name)).unwrap();
            for cut in (0..full.len()).step_by(37) {
                let p = write(&dir, name, &full[..cut]);
                if let Ok(d) = duration_of(&p) {
                    assert!(d <= Duration::from_secs(1), "{name} cut at {cut}: {d:?}");
                }
            }
        }
    }

    #[test]
    fn every_committed_prompt_is_a_readable_8khz_wav() {
        let sound = Path::new(env!("CARGO_MANIFEST_DIR")).join("sound");
        let mut seen = 0;
        let mut stack = vec![sound];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "wav") {
                    let d = duration_of(&path).unwrap();
                    assert!(d > Duration::from_millis(500), "{}: {d:?}", path.display());
                    let header = std::fs::read(&path).unwrap();
                    let rate = u32::from_le_bytes([header[24], header[25], header[26], header[27]]);
                    assert_eq!(rate, 8000, "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen >= 20, "only {seen} prompts under sound/");
    }
}
