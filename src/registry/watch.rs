//! Watches the flows directory and reloads the [`Registry`] on every debounced batch of changes.
//!
//! Owns the notify watcher and its thread; nothing else in phonetree touches file-system events.
//! Each batch becomes one `Registry::reload(changed)`; its events are logged and, if asked,
//! forwarded on a channel (used by `validate --watch` and the tests).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::{Registry, RegistryEvent};

/// Default quiet time before a batch of saves is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Errors starting a watcher.
#[derive(Debug)]
pub struct WatchError(pub notify::Error);

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot watch the flows directory: {}", self.0)
    }
}

impl std::error::Error for WatchError {}

/// Watches folders (recursively) and calls `on_batch` with the paths changed in each burst of
/// changes, once the folders have been quiet for `debounce`. Only real changes count: notify
/// also reports opens and reads, and the reload itself reads every flow, so counting those would
/// make every reload trigger the next one. Dropping it stops watching and ends its thread.
pub struct ChangeWatcher {
    _watcher: RecommendedWatcher,
    _thread: Option<JoinHandle<()>>,
}

impl ChangeWatcher {
    pub fn start(
        dirs: &[&Path],
        debounce: Duration,
        mut on_batch: impl FnMut(Vec<PathBuf>) -> bool + Send + 'static,
    ) -> Result<ChangeWatcher, WatchError> {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<Event>| match res {
                Ok(ev) if is_change(&ev.kind) => {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("file watcher error: {e}"),
            })
            .map_err(WatchError)?;
        for dir in dirs {
            if dir.is_dir() {
                watcher
                    .watch(dir, RecursiveMode::Recursive)
                    .map_err(WatchError)?;
            }
        }
        let thread = std::thread::Builder::new()
            .name("flows-watch".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut changed = vec![first];
                    while let Ok(p) = rx.recv_timeout(debounce) {
                        if !changed.contains(&p) {
                            changed.push(p);
                        }
                    }
                    if !on_batch(changed) {
                        return;
                    }
                }
            })
            .ok();
        Ok(ChangeWatcher {
            _watcher: watcher,
            _thread: thread,
        })
    }
}

/// Reloads a [`Registry`] on every batch of changes under its folder (and `extra` folders such
/// as the sound folder). Dropping it stops watching.
pub struct Watcher {
    _inner: ChangeWatcher,
}

impl Watcher {
    /// Every reload's events are logged and sent to `notify` if given.
    pub fn start(
        registry: Arc<Registry>,
        extra: &[PathBuf],
        debounce: Duration,
        notify: Option<Sender<Vec<RegistryEvent>>>,
    ) -> Result<Watcher, WatchError> {
        let dir = registry.dir().to_path_buf();
        let mut dirs: Vec<&Path> = vec![&dir];
        dirs.extend(extra.iter().map(PathBuf::as_path));
        let inner = ChangeWatcher::start(&dirs, debounce, move |changed| {
            let events = registry.reload(&changed);
            log_events(&registry, &events);
            match &notify {
                Some(n) => n.send(events).is_ok(),
                None => true,
            }
        })?;
        Ok(Watcher { _inner: inner })
    }
}

/// Writes, creations, removals and renames; not opens, reads or closes after reading.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Logs reload events: loads at info (with their warnings), rejections with every diagnostic at
/// warn; each diagnostic as `validate` prints it, with its code.
pub fn log_events(registry: &Registry, events: &[RegistryEvent]) {
    let snap = registry.snapshot();
    for e in events {
        match e {
            RegistryEvent::Loaded { path, name, hash } => {
                metrics::counter!("phonetree_flow_reloads_total", "result" => "ok").increment(1);
                tracing::info!(flow = %name, version = %&hash[..hash.len().min(12)], path = %path.display(), "flow loaded");
                // Its warnings, as `phonetree validate` prints them (same codes).
                if let Some(entry) = snap.entry(path) {
                    for d in &entry.diagnostics {
                        tracing::warn!("{d}");
                    }
                }
            }
            RegistryEvent::Rejected {
                path,
                errors,
                kept_previous,
            } => {
                metrics::counter!("phonetree_flow_reloads_total", "result" => "failed")
                    .increment(1);
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
