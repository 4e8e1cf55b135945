//! Test helpers: caller-speech fixtures (`tests/fixtures/speech`) and the PocketSphinx model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::pocketsphinx::Model;

/// A fixture as 8 kHz 16-bit PCM (the fixtures are 8 kHz mu-law WAVs).
pub fn speech(name: &str) -> Vec<i16> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/speech/{name}.wav"));
    let pcm = crate::audio::decode_file(&path, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    assert_eq!(pcm.rate, 8000, "{name}");
    pcm.samples
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// `silence_ms` of silence, the phrase, then `after_ms` of silence, at 8 kHz.
pub fn padded(name: &str, silence_ms: usize, after_ms: usize) -> Vec<i16> {
    let mut v = vec![0i16; silence_ms * 8];
    v.extend(speech(name));
    v.extend(std::iter::repeat_n(0i16, after_ms * 8));
    v
}

/// The PocketSphinx model where `.ci/install-deps.sh` puts it. Without it the caller's test is
/// skipped, except under `PHONETREE_INTEROP=1` (CI), where a missing model is a failure.
pub fn model() -> Option<Model> {
    match super::pocketsphinx::model::discover() {
        Some(dir) => Some(Model::open(&dir).expect("the discovered model opens")),
        None if std::env::var_os("PHONETREE_INTEROP").is_some() => {
            panic!("no PocketSphinx model: run .ci/install-deps.sh")
        }
        None => {
            eprintln!("skipped: no PocketSphinx model (pip install pocketsphinx==5.1.1)");
            None
        }
    }
}

#[allow(dead_code)]
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech")
}
