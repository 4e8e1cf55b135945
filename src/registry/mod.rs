//! The flows registry: which compiled [`Program`] answers a dialled number right now.
//!
//! Owns the table of loaded flows (one [`FlowEntry`] per flow file, with its version hash, load
//! time and last diagnostics) and the route index built from it. Readers take a cheap
//! [`Snapshot`] (`ArcSwap`, no lock on the call path); a call keeps the `Arc<Program>` it started
//! with, so a reload never changes a running call.
//!
//! Reload rule: every flow file is recompiled on a change (compiling is ~µs-ms per file, and a
//! subflow or prompt change can change any flow). A file whose new compile has errors keeps its
//! old version and only its diagnostics change; a file that compiles cleanly replaces the old
//! version when its content hash changed or when the change touched a file other than the flow
//! itself (a subflow or a prompt); a removed file drops its routes.
//!
//! The decision is the pure function [`plan_reload`]; [`Registry`] applies it, and
//! `watch` (the only part that touches the file system's events) calls it.

pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::flow::diag::{Diagnostic, Severity};
use crate::flow::load::{load_paths, FlowSet, LoadOptions};
use crate::flow::program::Program;

/// One flow file as the registry holds it.
#[derive(Debug, Clone)]
pub struct FlowEntry {
    pub path: PathBuf,
    /// The version in effect; `None` if the file never compiled cleanly.
    pub program: Option<Arc<Program>>,
    /// When `program` was loaded.
    pub loaded_at: Option<SystemTime>,
    /// Diagnostics of the latest compile (errors here mean the file on disk is not in effect).
    pub diagnostics: Vec<Diagnostic>,
}

/// An immutable view of all flows and their routes.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub flows: Vec<FlowEntry>,
    by_route: HashMap<String, usize>,
    default: Option<usize>,
}

/// What a reload did, for logs and the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryEvent {
    Loaded {
        path: PathBuf,
        name: String,
        hash: String,
    },
    /// The file has errors; the previous version (if any) stays in effect.
    Rejected {
        path: PathBuf,
        errors: usize,
        kept_previous: bool,
    },
    Removed {
        path: PathBuf,
    },
}

/// The live registry over one flows directory.
pub struct Registry {
    dir: PathBuf,
    opts: LoadOptions,
    current: ArcSwap<Snapshot>,
    /// Serialises reloads (the watcher and an explicit reload may race).
    reload_lock: Mutex<()>,
}

impl Registry {
    /// Loads every flow under `dir` once.
    pub fn open(dir: &Path, opts: LoadOptions) -> (Registry, Vec<RegistryEvent>) {
        // Absolute, so the watcher's paths and the loader's paths compare equal.
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let reg = Registry {
            dir,
            opts,
            current: ArcSwap::from_pointee(Snapshot::default()),
            reload_lock: Mutex::new(()),
        };
        let events = reg.reload(&[]);
        (reg, events)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path` relative to the flows folder (for the API: no absolute paths of the server's
    /// disk); a path outside it is shown by its file name only.
    pub fn relative(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.dir) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => path.file_name().map(PathBuf::from).unwrap_or_default(),
        }
    }

    /// The flows in effect now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The program a call to `user` should run: an exact route, else the default flow.
    pub fn route(&self, user: &str) -> Option<Arc<Program>> {
        self.current.load().route(user)
    }

    /// Recompiles every flow; `changed` are the paths the file watcher reported (may be empty).
    pub fn reload(&self, changed: &[PathBuf]) -> Vec<RegistryEvent> {
        let _guard = self
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = load_paths(std::slice::from_ref(&self.dir), &self.opts);
        let old = self.current.load_full();
        let (next, events) = plan_reload(&old, set, changed, SystemTime::now());
        self.current.store(Arc::new(next));
        events
    }
}

impl Snapshot {
    pub fn route(&self, user: &str) -> Option<Arc<Program>> {
        let idx = self.by_route.get(user).copied().or(self.default)?;
        self.flows[idx].program.clone()
    }

    pub fn entry(&self, path: &Path) -> Option<&FlowEntry> {
        self.flows.iter().find(|e| e.path == path)
    }

    fn index(flows: Vec<FlowEntry>) -> Snapshot {
        let mut by_route = HashMap::new();
        let mut default = None;
        for (i, e) in flows.iter().enumerate() {
            let Some(p) = &e.program else { continue };
            for r in &p.routes {
                by_route.entry(r.clone()).or_insert(i);
            }
            if p.default && default.is_none() {
                default = Some(i);
            }
        }
        Snapshot {
            flows,
            by_route,
            default,
        }
    }
}

/// Decides the next snapshot from the old one and a fresh compile of every flow.
pub fn plan_reload(
    old: &Snapshot,
    set: FlowSet,
    changed: &[PathBuf],
    now: SystemTime,
) -> (Snapshot, Vec<RegistryEvent>) {
    let mut events = Vec::new();
    let mut flows = Vec::with_capacity(set.flows.len());
    let touched_other = changed
        .iter()
        .any(|c| !set.flows.iter().any(|(p, _)| same_file(p, c)));
    for (path, program) in set.flows {
        let diagnostics: Vec<Diagnostic> = set
            .diagnostics
            .iter()
            .filter(|d| same_file(&d.path, &path))
            .cloned()
            .collect();
        let errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let previous = old.entry(&path);
        let entry = match program {
            Some(program) if errors == 0 => {
                let unchanged = previous
                    .and_then(|e| e.program.as_ref())
                    .is_some_and(|p| p.hash == program.hash)
                    && !touched_other;
                if unchanged {
                    FlowEntry {
                        diagnostics,
                        ..previous
                            .expect("unchanged implies a previous entry")
                            .clone()
                    }
                } else {
                    events.push(RegistryEvent::Loaded {
                        path: path.clone(),
                        name: program.name.clone(),
                        hash: program.hash.clone(),
                    });
                    FlowEntry {
                        path,
                        program: Some(Arc::new(program)),
                        loaded_at: Some(now),
                        diagnostics,
                    }
                }
            }
            _ => {
                let kept = previous.and_then(|e| e.program.clone());
                events.push(RegistryEvent::Rejected {
                    path: path.clone(),
                    errors: errors.max(1),
                    kept_previous: kept.is_some(),
                });
                FlowEntry {
                    path,
                    loaded_at: previous.and_then(|e| e.loaded_at),
                    program: kept,
                    diagnostics,
                }
            }
        };
        flows.push(entry);
    }
    for e in &old.flows {
        if !flows.iter().any(|f| f.path == e.path) {
            events.push(RegistryEvent::Removed {
                path: e.path.clone(),
            });
        }
    }
    (Snapshot::index(flows), events)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::load::compile_text;

    fn flow(route: &str, text: &str) -> String {
        format!(
            "routes: [\"{route}\"]\nstart: hi\nnodes:\n  hi: {{ say: \"{text}\", next: bye }}\n  bye: {{ hangup: {{}} }}\n"
        )
    }

    fn set_of(files: &[(&str, String)]) -> FlowSet {
        let opts = LoadOptions::default();
        let mut set = FlowSet::default();
        for (path, text) in files {
            let c = compile_text(text, Path::new(path), &opts);
            set.diagnostics.extend(c.diagnostics);
            set.flows.push((PathBuf::from(path), c.program));
        }
        set
    }

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s)
    }

    #[test]
    fn first_load_indexes_routes() {
        let (snap, events) = plan_reload(
            &Snapshot::default(),
            set_of(&[("/f/a.yaml", flow("5000", "a"))]),
            &[],
            t(1),
        );
        assert!(matches!(&events[..], [RegistryEvent::Loaded { name, .. }] if name == "a"));
        assert_eq!(snap.route("5000").unwrap().name, "a");
        assert!(snap.route("5001").is_none(), "no default flow");
    }

    #[test]
    fn unchanged_file_keeps_the_same_arc_and_time() {
        let files = [("/f/a.yaml", flow("5000", "a"))];
        let (s1, _) = plan_reload(&Snapshot::default(), set_of(&files), &[], t(1));
        let (s2, events) = plan_reload(&s1, set_of(&files), &[], t(2));
        assert!(events.is_empty());
        assert!(Arc::ptr_eq(
            &s1.route("5000").unwrap(),
            &s2.route("5000").unwrap()
        ));
        assert_eq!(s2.flows[0].loaded_at, Some(t(1)));
    }

    #[test]
    fn edited_file_replaces_version_but_old_arc_lives_on() {
        let (s1, _) = plan_reload(
            &Snapshot::default(),
            set_of(&[("/f/a.yaml", flow("5000", "one"))]),
            &[],
            t(1),
        );
        let running_call = s1.route("5000").unwrap();
        let (s2, events) = plan_reload(
            &s1,
            set_of(&[("/f/a.yaml", flow("5000", "two"))]),
            &[PathBuf::from("/f/a.yaml")],
            t(2),
        );
        assert_eq!(events.len(), 1);
        let new = s2.route("5000").unwrap();
        assert_ne!(new.hash, running_call.hash);
        // The running call's program is untouched.
        assert_eq!(
            running_call.hash,
            s1.flows[0].program.as_ref().unwrap().hash
        );
    }

    #[test]
    fn broken_save_keeps_previous_version() {
        let (s1, _) = plan_reload(
            &Snapshot::default(),
            set_of(&[("/f/a.yaml", flow("5000", "one"))]),
            &[],
            t(1),
        );
        let broken = "routes: [\"5000\"]\nstart: nowhere\nnodes:\n  hi: { say: x, next: bye }\n";
        let (s2, events) = plan_reload(
            &s1,
            set_of(&[("/f/a.yaml", broken.to_string())]),
            &[PathBuf::from("/f/a.yaml")],
            t(2),
        );
        assert!(matches!(
            &events[..],
            [RegistryEvent::Rejected {
                kept_previous: true,
                ..
            }]
        ));
        assert_eq!(
            s2.route("5000").unwrap().hash,
            s1.route("5000").unwrap().hash
        );
        assert!(!s2.flows[0].diagnostics.is_empty());
    }

    #[test]
    fn removed_file_drops_its_routes() {
        let (s1, _) = plan_reload(
            &Snapshot::default(),
            set_of(&[
                ("/f/a.yaml", flow("5000", "a")),
                ("/f/b.yaml", flow("6000", "b")),
            ]),
            &[],
            t(1),
        );
        let (s2, events) = plan_reload(
            &s1,
            set_of(&[("/f/a.yaml", flow("5000", "a"))]),
            &[PathBuf::from("/f/b.yaml")],
            t(2),
        );
        assert!(events.contains(&RegistryEvent::Removed {
            path: PathBuf::from("/f/b.yaml")
        }));
        assert!(s2.route("6000").is_none());
        assert!(s2.route("5000").is_some());
    }

    #[test]
    fn default_flow_catches_unmatched_numbers() {
        let mut text = flow("5000", "a");
        text.insert_str(0, "default: true\n");
        let (snap, _) = plan_reload(
            &Snapshot::default(),
            set_of(&[("/f/a.yaml", text), ("/f/b.yaml", flow("6000", "b"))]),
            &[],
            t(1),
        );
        assert_eq!(snap.route("12345").unwrap().name, "a");
        assert_eq!(snap.route("6000").unwrap().name, "b");
    }
}
