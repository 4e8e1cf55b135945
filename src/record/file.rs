//! The recording's file: 16-bit mono PCM WAV at the call's rate, under `record.dir`.
//!
//! Named `<call id>-<node>.wav` (characters other than letters, digits, `.`, `_` and `-`
//! become `_`); if that exists, `-2`, `-3`... are tried: a file is created only if it does not
//! exist (`create_new`), so nothing is ever overwritten, even by two calls racing. The WAV header
//! is rewritten with the current length every [`SYNC_EVERY`] of audio (hound's `flush`), so a
//! recording cut short by a hang-up or a crash is still a playable file.
//!
//! Blocking I/O: callers run these on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::machine::io::RecordingInfo;

/// How often the header is brought up to date.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Names tried before giving up (`x.wav`, `x-2.wav`, ... `x-1000.wav`).
const MAX_TRIES: u32 = 1000;

/// A recording being written.
pub struct RecordingFile {
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    rate: u32,
    samples: u64,
    since_sync: u64,
}

impl RecordingFile {
    /// Creates `dir` if needed and a new file in it for this call and node.
    pub fn create(dir: &Path, call: &str, node: &str, rate: u32) -> io::Result<RecordingFile> {
        std::fs::create_dir_all(dir)?;
        let base = format!("{}-{}", safe(call), safe(node));
        for n in 1..=MAX_TRIES {
            let name = if n == 1 {
                format!("{base}.wav")
            } else {
                format!("{base}-{n}.wav")
            };
            let path = dir.join(name);
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let writer = hound::WavWriter::new(BufWriter::new(file), spec).map_err(to_io)?;
            return Ok(RecordingFile {
                writer,
                path,
                rate,
                samples: 0,
                since_sync: 0,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{MAX_TRIES} recordings named {base} already exist"),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends samples; keeps the header current every [`SYNC_EVERY`].
    pub fn write(&mut self, pcm: &[i16]) -> io::Result<()> {
        let mut w = self.writer.get_i16_writer(pcm.len() as u32);
        for &s in pcm {
            w.write_sample(s);
        }
        w.flush().map_err(to_io)?;
        self.samples += pcm.len() as u64;
        self.since_sync += pcm.len() as u64;
        if self.since_sync >= u64::from(self.rate) * SYNC_EVERY.as_secs() {
            self.since_sync = 0;
            self.writer.flush().map_err(to_io)?;
        }
        Ok(())
    }

    /// Completes the header and closes the file.
    pub fn finish(self) -> io::Result<RecordingInfo> {
        let path = self.path.clone();
        let duration = Duration::from_secs_f64(self.samples as f64 / f64::from(self.rate.max(1)));
        self.writer.finalize().map_err(to_io)?;
        let size = std::fs::metadata(&path)?.len();
        Ok(RecordingInfo {
            path: path.to_string_lossy().into_owned(),
            duration,
            size,
        })
    }
}

fn safe(s: &str) -> String {
    let out: String = s
        .chars()
        .take(96)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Never a hidden file or a path step.
    out.trim_start_matches('.').to_owned()
}

fn to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_call_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = RecordingFile::create(dir.path(), "abc@10.0.0.1", "voicemail", 8000).unwrap();
        let b = RecordingFile::create(dir.path(), "abc@10.0.0.1", "voicemail", 8000).unwrap();
        assert_eq!(a.path().file_name().unwrap(), "abc_10.0.0.1-voicemail.wav");
        assert_eq!(
            b.path().file_name().unwrap(),
            "abc_10.0.0.1-voicemail-2.wav"
        );
        let c = RecordingFile::create(dir.path(), "../../etc/passwd", "x", 8000).unwrap();
        assert_eq!(c.path().parent().unwrap(), dir.path());
    }

    #[test]
    fn the_file_is_valid_wav_with_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RecordingFile::create(&dir.path().join("sub"), "c1", "msg", 8000).unwrap();
        let tone: Vec<i16> = (0..12_000)
            .map(|i| ((i % 40) * 500 - 10_000) as i16)
            .collect();
        for chunk in tone.chunks(160) {
            f.write(chunk).unwrap();
        }
        // Before finishing, the header already describes the first second (a crash keeps it).
        let partial = hound::WavReader::open(f.path()).unwrap();
        assert!(partial.len() >= 8000, "{}", partial.len());
        let info = f.finish().unwrap();
        assert_eq!(info.duration, Duration::from_millis(1500));
        assert_eq!(info.size, 44 + 24_000);
        let r = hound::WavReader::open(&info.path).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        let back: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(back, tone);
    }

    #[test]
    fn an_unwritable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(RecordingFile::create(&file.join("sub"), "c", "n", 8000).is_err());
    }
}
