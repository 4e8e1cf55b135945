//! The synthesized-audio cache on disk: one file per (engine, model, voice, text), bounded in
//! bytes.
//!
//! Lookups are a `stat`. Stores write `<key>.<pid>.tmp` and rename it into place, so a reader
//! never sees half a file and two calls racing on one sentence both end with a whole file.
//! The size is counted once (a scan of the folder on the first store) and kept up to date; when
//! a store pushes it past the bound, the oldest files (by modification time) are removed until
//! it is under 90 % of it. A file removed while a call plays it is still played (the prompt
//! cache holds the decoded frames, and an open file outlives its name).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// The cache key: hex SHA-256 of the parts, separated so that no two keys collide.
pub fn key(engine: &str, model: &str, voice: &str, text: &str) -> String {
    let mut h = Sha256::new();
    for part in [engine, model, voice, text] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Cache {
    dir: PathBuf,
    max: u64,
    /// Bytes in the folder, once counted.
    size: Mutex<Option<u64>>,
}

const EXTENSIONS: [&str; 4] = ["wav", "mp3", "ogg", "flac"];

impl Cache {
    pub fn new(dir: PathBuf, max: u64) -> Cache {
        Cache {
            dir,
            max,
            size: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached file for `key`, if there is one.
    pub async fn lookup(&self, key: &str) -> Option<PathBuf> {
        for ext in EXTENSIONS {
            let p = self.dir.join(format!("{key}.{ext}"));
            if tokio::fs::metadata(&p).await.is_ok_and(|m| m.len() > 0) {
                return Some(p);
            }
        }
        None
    }

    /// Writes `bytes` for `key`; returns the file's path.
    pub async fn store(
        &self,
        key: &str,
        extension: &str,
        bytes: &[u8],
    ) -> std::io::Result<PathBuf> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.dir.join(format!("{key}.{extension}"));
        let tmp = self
            .dir
            .join(format!("{key}.{}.{extension}.tmp", std::process::id()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        let mut size = self.size.lock().await;
        let total = match *size {
            Some(s) => s + bytes.len() as u64,
            None => scan(&self.dir).await.iter().map(|f| f.1).sum(),
        };
        *size = Some(if total > self.max {
            self.evict(total, &path).await
        } else {
            total
        });
        Ok(path)
    }

    /// Removes the oldest files (never `keep`) until under 90 % of the bound; the new total.
    async fn evict(&self, mut total: u64, keep: &Path) -> u64 {
        let mut files = scan(&self.dir).await;
        files.sort_by_key(|f| f.2);
        let target = self.max / 10 * 9;
        for (path, len, _) in files {
            if total <= target {
                break;
            }
            if path == keep {
                continue;
            }
            if tokio::fs::remove_file(&path).await.is_ok() {
                total = total.saturating_sub(len);
            }
        }
        total
    }
}

/// The cache's audio files: (path, length, modified).
async fn scan(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let Ok(mut rd) = tokio::fs::read_dir(dir).await else {
        return out;
    };
    while let Ok(Some(e)) = rd.next_entry().await {
        let path = e.path();
        let audio = path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| EXTENSIONS.contains(&x));
        if !audio {
            continue;
        }
        if let Ok(m) = e.metadata().await {
            let modified = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            out.push((path, m.len(), modified));
        }
    }
    out
}
