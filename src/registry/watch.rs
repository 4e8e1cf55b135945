//! Watches the flows directory and reloads the [`Registry`] on every debounced batch of changes.
//!
//! Owns the notify watcher and its thread; nothing else in phonetree touches file-system events.
//! Each batch becomes one `Registry::reload(changed)`; its events are logged and, if asked,
//! forwarded on a channel (used by `validate --watch` and the tests).

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};

use super::{Registry, RegistryEvent};

/// Default quiet time before a batch of saves is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A running watcher; dropping it stops watching (the debouncer closes the channel, which ends
/// the reload thread).
pub struct Watcher {
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
    _thread: Option<JoinHandle<()>>,
}

/// Errors starting the watcher.
#[derive(Debug)]
pub struct WatchError(pub notify_debouncer_mini::notify::Error);

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot watch the flows directory: {}", self.0)
    }
}

impl std::error::Error for WatchError {}

impl Watcher {
    /// Starts watching `registry.dir()` (and `extra` folders such as the sound folder).
    /// Every reload's events go to `notify` if given.
    pub fn start(
        registry: Arc<Registry>,
        extra: &[PathBuf],
        debounce: Duration,
        notify: Option<Sender<Vec<RegistryEvent>>>,
    ) -> Result<Watcher, WatchError> {
        let (tx, rx) = mpsc::channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(debounce, tx).map_err(WatchError)?;
        debouncer
            .watcher()
            .watch(registry.dir(), RecursiveMode::Recursive)
            .map_err(WatchError)?;
        for dir in extra {
            if dir.is_dir() {
                debouncer
                    .watcher()
                    .watch(dir, RecursiveMode::Recursive)
                    .map_err(WatchError)?;
            }
        }
        let thread = std::thread::Builder::new()
            .name("flows-watch".into())
            .spawn(move || {
                for batch in rx {
                    let changed: Vec<PathBuf> = match batch {
                        Ok(events) => events.into_iter().map(|e| e.path).collect(),
                        Err(e) => {
                            tracing::warn!("flow watcher error: {e}");
                            continue;
                        }
                    };
                    let events = registry.reload(&changed);
                    log_events(&registry, &events);
                    if let Some(n) = &notify {
                        if n.send(events).is_err() {
                            return;
                        }
                    }
                }
            })
            .ok();
        Ok(Watcher {
            _debouncer: debouncer,
            _thread: thread,
        })
    }
}

/// Logs reload events: loads at info, rejections with every diagnostic at warn.
pub fn log_events(registry: &Registry, events: &[RegistryEvent]) {
    let snap = registry.snapshot();
    for e in events {
        match e {
            RegistryEvent::Loaded { path, name, hash } => {
                tracing::info!(flow = %name, version = %&hash[..hash.len().min(12)], path = %path.display(), "flow loaded");
            }
            RegistryEvent::Rejected {
                path,
                errors,
                kept_previous,
            } => {
                tracing::warn!(path = %path.display(), errors, kept_previous, "flow has errors; not loaded");
                if let Some(entry) = snap.entry(path) {
                    for d in &entry.diagnostics {
                        tracing::warn!("{d}");
                    }
                }
            }
            RegistryEvent::Removed { path } => {
                tracing::info!(path = %path.display(), "flow removed");
            }
        }
    }
}
