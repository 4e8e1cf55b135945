//! How long things play on virtual time: prompt files, remote streams and TTS.
//!
//! [`PromptLengths`] is the simulator's only window on audio files. [`FileLengths`] reads the real
//! length with `audio::duration_of` (symphonia) once per path and caches it; tests can supply a
//! table instead. Remote streams play [`REMOTE_PROMPT`] unless a mock (`play:`) says otherwise.
//!
//! TTS rule for `say`: [`TTS_PER_CHAR`] per character of the rendered text, at least
//! [`TTS_MIN`] — roughly a synthetic voice at 150 words per minute.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audio::{duration_of, AudioError};

/// Length assumed for a remote (URL) prompt.
pub const REMOTE_PROMPT: Duration = Duration::from_secs(10);
/// TTS time per character.
pub const TTS_PER_CHAR: Duration = Duration::from_millis(65);
/// Shortest TTS utterance.
pub const TTS_MIN: Duration = Duration::from_millis(600);

/// Tells the simulator how long a local prompt file plays.
pub trait PromptLengths {
    fn file_length(&mut self, path: &Path) -> Result<Duration, AudioError>;
}

impl<T: PromptLengths + ?Sized> PromptLengths for &mut T {
    fn file_length(&mut self, path: &Path) -> Result<Duration, AudioError> {
        (**self).file_length(path)
    }
}

/// Reads lengths from the files themselves, once per path.
#[derive(Debug, Default)]
pub struct FileLengths {
    cache: HashMap<PathBuf, Duration>,
}

impl PromptLengths for FileLengths {
    fn file_length(&mut self, path: &Path) -> Result<Duration, AudioError> {
        if let Some(d) = self.cache.get(path) {
            return Ok(*d);
        }
        let d = duration_of(path)?;
        self.cache.insert(path.to_owned(), d);
        Ok(d)
    }
}

/// A fixed table (for tests and benchmarks); unknown files play `default`.
#[derive(Debug, Clone, Default)]
pub struct FixedLengths {
    pub table: HashMap<PathBuf, Duration>,
    pub default: Duration,
}

impl PromptLengths for FixedLengths {
    fn file_length(&mut self, path: &Path) -> Result<Duration, AudioError> {
        Ok(self.table.get(path).copied().unwrap_or(self.default))
    }
}

/// How long TTS takes to say `text`.
pub fn tts_length(text: &str) -> Duration {
    (TTS_PER_CHAR * text.chars().count() as u32).max(TTS_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tts_rule() {
        assert_eq!(tts_length("hi"), TTS_MIN);
        assert_eq!(tts_length(&"x".repeat(20)), Duration::from_millis(1300));
    }

    #[test]
    fn file_lengths_read_real_files_and_report_missing_ones() {
        let mut l = FileLengths::default();
        let d = l
            .file_length(Path::new("sound/bunny/greeting.wav"))
            .unwrap();
        assert!(d > Duration::from_millis(100), "{d:?}");
        assert!(l.file_length(Path::new("sound/nope.wav")).is_err());
    }
}
