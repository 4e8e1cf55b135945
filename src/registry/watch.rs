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

use notify_debouncer_mini::notify::event::{AccessKind, AccessMode};
use notify_debouncer_mini::notify::{Event, EventKind, RecursiveMode, Watcher as _};

use super::{Registry, RegistryEvent};

/// Default quiet time before a batch of saves is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A running watcher; dropping it stops watching (the notify watcher closes the channel, which
/// ends the reload thread).
pub struct Watcher {
    _watcher: notify_debouncer_mini::notify::RecommendedWatcher,
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
    ///
    /// Only changes count: notify 8 also reports opens and reads (inotify `IN_OPEN`,
    /// `IN_CLOSE_NOWRITE`), and the reload itself reads every flow and prompt, so counting
    /// those would reload forever. Debouncing is done here: a batch is reloaded once no change
    /// arrived for `debounce`.
    pub fn start(
        registry: Arc<Registry>,
        extra: &[PathBuf],
        debounce: Duration,
        notify: Option<Sender<Vec<RegistryEvent>>>,
    ) -> Result<Watcher, WatchError> {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let mut watcher = notify_debouncer_mini::notify::recommended_watcher(
            move |res: notify_debouncer_mini::notify::Result<Event>| match res {
                Ok(ev) if is_change(&ev.kind) => {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("flow watcher error: {e}"),
            },
        )
        .map_err(WatchError)?;
        watcher
            .watch(registry.dir(), RecursiveMode::Recursive)
            .map_err(WatchError)?;
        for dir in extra {
            if dir.is_dir() {
                watcher
                    .watch(dir, RecursiveMode::Recursive)
                    .map_err(WatchError)?;
            }
        }
        let thread = std::thread::Builder::new()
            .name("flows-watch".into())
            .spawn(move || {
                // Ends when the watcher (and so the sender) is dropped.
                while let Ok(first) = rx.recv() {
                    let mut changed = vec![first];
                    while let Ok(p) = rx.recv_timeout(debounce) {
                        if !changed.contains(&p) {
                            changed.push(p);
                        }
                    }
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
            _watcher: watcher,
            _thread: thread,
        })
    }
}

/// Creations, writes, renames, removals and metadata changes; not opens, reads or closes
/// after reading.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
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
