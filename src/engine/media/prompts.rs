//! The prompt cache: each prompt file is decoded, resampled and encoded once per codec, and every
//! call playing it shares the same frames (`Arc<[Frame]>`).
//!
//! Keyed by path, modification time, size and codec, so an edited prompt is re-read on its next
//! play (the stale entry is dropped). [`PromptCache::get_recent`] serves a prompt whose file was
//! found unchanged less than [`RECHECK`] ago without looking at the file again: the media
//! workers use it to start a response prompt in the same pass as the barge-in, with no trip
//! through tokio's file-system pool. Bounded by bytes of encoded audio, least recently used out
//! first; a prompt larger than the whole budget is served but not kept. Concurrent first plays
//! of one prompt wait for a single decode (an in-flight cell per key). Decoding runs on tokio's
//! blocking pool. Errors are typed ([`PromptError`]) and shared with every waiter.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::OnceCell;

use super::codec::{CodecError, Frame, FrameEncoder};
use crate::audio::{self, AudioError, ResampleError};
use crate::sdp::Codec;

/// How long a prompt's file counts as unchanged after `get` looked at it.
pub const RECHECK: Duration = Duration::from_secs(2);

/// A prompt ready to send: its 20 ms frames for one codec.
pub type Prompt = Arc<[Frame]>;

/// Why a prompt cannot be played.
#[derive(Debug)]
#[non_exhaustive]
pub enum PromptError {
    Audio(AudioError),
    Resample(ResampleError),
    Codec(CodecError),
    /// The decoding task died (panicked or was cancelled at shutdown).
    Aborted,
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::Audio(e) => e.fmt(f),
            PromptError::Resample(e) => e.fmt(f),
            PromptError::Codec(e) => e.fmt(f),
            PromptError::Aborted => f.write_str("prompt decoding was aborted"),
        }
    }
}

impl std::error::Error for PromptError {}

/// Cache limits.
#[derive(Debug, Clone, Copy)]
pub struct PromptCacheConfig {
    /// Encoded bytes kept (default 64 MiB: ~70 minutes of G.711).
    pub max_bytes: usize,
    /// Longest prompt accepted (default 10 minutes).
    pub max_duration: Duration,
}

impl Default for PromptCacheConfig {
    fn default() -> Self {
        PromptCacheConfig {
            max_bytes: 64 << 20,
            max_duration: Duration::from_secs(600),
        }
    }
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    /// Decodes started (a miss shared by concurrent callers counts once).
    pub decodes: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    codec: Codec,
}

type Shared = Result<Prompt, Arc<PromptError>>;

struct Entry {
    prompt: Prompt,
    bytes: usize,
    last_used: u64,
    /// When `get` last found the file unchanged.
    checked: Instant,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// The newest version of each (file, codec) in `entries`.
    current: HashMap<(PathBuf, Codec), Key>,
    loading: HashMap<Key, Arc<OnceCell<Shared>>>,
    clock: u64,
    stats: CacheStats,
}

/// See the module docs. Share it between calls in an `Arc`.
pub struct PromptCache {
    cfg: PromptCacheConfig,
    state: Mutex<State>,
}

impl fmt::Debug for PromptCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptCache")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

impl PromptCache {
    pub fn new(cfg: PromptCacheConfig) -> PromptCache {
        PromptCache {
            cfg,
            state: Mutex::new(State::default()),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// The frames of `path` in `codec`, decoding them on first use.
    pub async fn get(&self, path: &Path, codec: Codec) -> Result<Prompt, Arc<PromptError>> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| Arc::new(PromptError::Audio(io_error(path, e))))?;
        let key = Key {
            path: path.to_owned(),
            modified: meta.modified().ok(),
            len: meta.len(),
            codec,
        };
        let cell = {
            let mut st = self.lock();
            st.clock += 1;
            let now = st.clock;
            if let Some(e) = st.entries.get_mut(&key) {
                e.last_used = now;
                e.checked = Instant::now();
                let p = e.prompt.clone();
                st.stats.hits += 1;
                return Ok(p);
            }
            st.loading.entry(key.clone()).or_default().clone()
        };
        let max = self.cfg.max_duration;
        let result = cell
            .get_or_init(|| async {
                self.lock().stats.decodes += 1;
                let path = key.path.clone();
                tokio::task::spawn_blocking(move || load(&path, codec, max))
                    .await
                    .unwrap_or(Err(PromptError::Aborted))
                    .map(Prompt::from)
                    .map_err(Arc::new)
            })
            .await
            .clone();
        let mut st = self.lock();
        if st.loading.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            st.loading.remove(&key);
            if let Ok(prompt) = &result {
                self.insert(&mut st, key, prompt.clone());
            }
        }
        result
    }

    /// The prompt if `get` found its file unchanged less than [`RECHECK`] before `now`;
    /// `None` means: ask [`PromptCache::get`].
    pub fn get_recent(&self, path: &Path, codec: Codec, now: Instant) -> Option<Prompt> {
        let mut st = self.lock();
        let key = st.current.get(&(path.to_path_buf(), codec))?.clone();
        st.clock += 1;
        let clock = st.clock;
        let e = st.entries.get_mut(&key)?;
        if now.saturating_duration_since(e.checked) > RECHECK {
            return None;
        }
        e.last_used = clock;
        let p = e.prompt.clone();
        st.stats.hits += 1;
        Some(p)
    }

    fn insert(&self, st: &mut State, key: Key, prompt: Prompt) {
        let bytes = prompt_bytes(&prompt);
        // An edited file: its older versions will never be asked for again.
        let stale: Vec<Key> = st
            .entries
            .keys()
            .filter(|k| k.path == key.path && k.codec == key.codec && **k != key)
            .cloned()
            .collect();
        for k in stale {
            if let Some(e) = st.entries.remove(&k) {
                st.stats.bytes -= e.bytes;
            }
            st.forget(&k);
        }
        if bytes > self.cfg.max_bytes {
            return;
        }
        while st.stats.bytes + bytes > self.cfg.max_bytes {
            let Some(oldest) = st
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = st.entries.remove(&oldest) {
                st.stats.bytes -= e.bytes;
                st.stats.evictions += 1;
            }
            st.forget(&oldest);
        }
        st.clock += 1;
        let last_used = st.clock;
        st.current
            .insert((key.path.clone(), key.codec), key.clone());
        st.entries.insert(
            key,
            Entry {
                prompt,
                bytes,
                last_used,
                checked: Instant::now(),
            },
        );
        st.stats.bytes += bytes;
        st.stats.entries = st.entries.len();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent after every statement that mutates it: a panic elsewhere
        // while the lock was held leaves nothing half-done, so a poisoned lock is still usable.
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.stats.entries = g.entries.len();
        g
    }
}

impl State {
    /// `key` left the cache: it is no longer any file's current version.
    fn forget(&mut self, key: &Key) {
        let slot = (key.path.clone(), key.codec);
        if self.current.get(&slot) == Some(key) {
            self.current.remove(&slot);
        }
    }
}

/// Decodes, resamples and encodes one file (blocking). Public for tools and benchmarks.
pub fn load(path: &Path, codec: Codec, max: Duration) -> Result<Vec<Frame>, PromptError> {
    let pcm = audio::decode_file(path, max).map_err(PromptError::Audio)?;
    let samples = audio::resample(&pcm.samples, pcm.rate, codec.clock_rate())
        .map_err(PromptError::Resample)?;
    FrameEncoder::encode_all(codec, &samples).map_err(PromptError::Codec)
}

fn prompt_bytes(p: &Prompt) -> usize {
    p.iter().map(Frame::len).sum::<usize>() + p.len() * std::mem::size_of::<Frame>()
}

fn io_error(path: &Path, e: std::io::Error) -> AudioError {
    if e.kind() == std::io::ErrorKind::NotFound {
        AudioError::NotFound {
            path: path.to_owned(),
        }
    } else {
        AudioError::Io {
            path: path.to_owned(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2).to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    fn tone(ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| (8000.0 * (i as f32 * 0.3).sin()) as i16)
            .collect()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn concurrent_plays_share_one_decode_and_the_same_frames() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        std::fs::write(&p, wav(8000, &tone(1000))).unwrap();
        let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
        let got: Vec<Prompt> = rt().block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let c = cache.clone();
                    let p = p.clone();
                    tokio::spawn(async move { c.get(&p, Codec::Pcmu).await.unwrap() })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out.push(cache.get(&p, Codec::Pcmu).await.unwrap());
            out
        });
        assert_eq!(got[0].len(), 50);
        assert!(got.iter().all(|g| Arc::ptr_eq(g, &got[0])));
        let st = cache.stats();
        assert_eq!(st.decodes, 1, "{st:?}");
        assert_eq!(st.entries, 1);
        // The last, sequential get is a hit; a spawned task that only starts after the decode
        // finished is one too (scheduling decides how many), the others join the decode.
        assert!((1..=9).contains(&st.hits), "{st:?}");
    }

    #[test]
    fn the_cache_is_bounded_lru_and_per_codec() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4)
            .map(|i| {
                let p = dir.path().join(format!("{i}.wav"));
                std::fs::write(&p, wav(8000, &tone(500))).unwrap();
                p
            })
            .collect();
        // Each prompt: 25 frames × (160 + 32) bytes = 4800 bytes; room for two.
        let cache = PromptCache::new(PromptCacheConfig {
            max_bytes: 10_000,
            ..Default::default()
        });
        rt().block_on(async {
            cache.get(&paths[0], Codec::Pcma).await.unwrap();
            cache.get(&paths[1], Codec::Pcma).await.unwrap();
            cache.get(&paths[0], Codec::Pcma).await.unwrap(); // 0 is now the most recent
            cache.get(&paths[2], Codec::Pcma).await.unwrap(); // evicts 1
            let st = cache.stats();
            assert_eq!((st.entries, st.evictions, st.hits), (2, 1, 1), "{st:?}");
            assert!(st.bytes <= 10_000);
            cache.get(&paths[0], Codec::Pcma).await.unwrap();
            assert_eq!(cache.stats().hits, 2, "0 survived");
            cache.get(&paths[1], Codec::Pcma).await.unwrap();
            assert_eq!(cache.stats().decodes, 4, "1 was evicted and decoded again");
            let opus = cache.get(&paths[3], Codec::Opus).await.unwrap();
            assert_eq!(opus.len(), 25);
        });
    }

    #[test]
    fn recently_checked_prompts_are_served_without_a_file_check() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| {
                let p = dir.path().join(format!("{i}.wav"));
                std::fs::write(&p, wav(8000, &tone(500))).unwrap();
                p
            })
            .collect();
        let cache = PromptCache::new(PromptCacheConfig {
            max_bytes: 10_000, // room for two
            ..Default::default()
        });
        assert!(cache
            .get_recent(&paths[0], Codec::Pcmu, Instant::now())
            .is_none());
        rt().block_on(async {
            let got = cache.get(&paths[0], Codec::Pcmu).await.unwrap();
            let now = Instant::now();
            let recent = cache.get_recent(&paths[0], Codec::Pcmu, now).unwrap();
            assert!(Arc::ptr_eq(&got, &recent), "the same shared frames");
            assert!(cache.get_recent(&paths[0], Codec::Pcma, now).is_none());
            let later = now + RECHECK + Duration::from_millis(1);
            assert!(
                cache.get_recent(&paths[0], Codec::Pcmu, later).is_none(),
                "check again"
            );
            cache.get(&paths[1], Codec::Pcmu).await.unwrap();
            cache.get(&paths[2], Codec::Pcmu).await.unwrap(); // evicts 0 (least recently used)
            let now = Instant::now();
            assert!(
                cache.get_recent(&paths[0], Codec::Pcmu, now).is_none(),
                "evicted"
            );
            assert!(cache.get_recent(&paths[2], Codec::Pcmu, now).is_some());
        });
    }

    #[test]
    fn an_edited_prompt_is_read_again_and_errors_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        std::fs::write(&p, wav(8000, &tone(200))).unwrap();
        let cache = PromptCache::new(PromptCacheConfig::default());
        rt().block_on(async {
            assert_eq!(cache.get(&p, Codec::Pcmu).await.unwrap().len(), 10);
            std::fs::write(&p, wav(8000, &tone(400))).unwrap();
            assert_eq!(cache.get(&p, Codec::Pcmu).await.unwrap().len(), 20);
            assert_eq!(cache.stats().entries, 1, "the stale version was dropped");
            let missing = cache
                .get(&dir.path().join("nope.wav"), Codec::Pcmu)
                .await
                .unwrap_err();
            assert!(matches!(
                &*missing,
                PromptError::Audio(AudioError::NotFound { .. })
            ));
            let bad = dir.path().join("bad.wav");
            std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
            let err = cache.get(&bad, Codec::Pcmu).await.unwrap_err();
            assert!(matches!(*err, PromptError::Audio(_)), "{err}");
            assert!(err.to_string().contains("bad.wav"));
        });
    }
}
