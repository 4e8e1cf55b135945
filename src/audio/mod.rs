//! Audio files as phonetree reads them: how long a prompt plays ([`duration_of`]), its samples
//! ([`decode_file`], [`decode_reader`] for streams: mono `f32` at the source rate) and rate
//! conversion ([`resample`], [`Resampler`]), with one typed [`AudioError`].
//!
//! It does not encode or packetise RTP: that is the media engine's job (`engine::media`). The
//! flow compiler and the call machine never call this (they do no I/O); the simulator, the
//! loader and the media engine do, at the edge.

mod decode;
mod probe;
mod resample;

use std::fmt;
use std::path::{Path, PathBuf};

pub use decode::{decode_file, decode_reader, Pcm};
pub use probe::duration_of;
pub use resample::{resample, ResampleError, Resampler};

/// Why the length of an audio file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum AudioError {
    /// No file at this path.
    NotFound { path: PathBuf },
    /// The file exists but could not be read (permissions, a directory, an I/O failure).
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a container or codec phonetree can read (WAV/PCM, MP3, Ogg Vorbis, FLAC).
    Unsupported { path: PathBuf, detail: String },
    /// A supported format whose data is malformed or truncated.
    Corrupt { path: PathBuf, detail: String },
    /// Longer than the caller allows (a prompt cache refuses hour-long files).
    TooLong {
        path: PathBuf,
        limit: std::time::Duration,
    },
}

impl AudioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            AudioError::NotFound { path }
            | AudioError::Io { path, .. }
            | AudioError::Unsupported { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::TooLong { path, .. } => path,
        }
    }
}

impl fmt::Display for AudioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioError::NotFound { path } => write!(f, "{}: no such audio file", path.display()),
            AudioError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            AudioError::Unsupported { path, detail } => {
                write!(f, "{}: unsupported audio: {detail}", path.display())
            }
            AudioError::Corrupt { path, detail } => {
                write!(f, "{}: corrupt audio: {detail}", path.display())
            }
            AudioError::TooLong { path, limit } => {
                write!(f, "{}: longer than {limit:?}", path.display())
            }
        }
    }
}

impl std::error::Error for AudioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AudioError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
