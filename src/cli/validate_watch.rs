//! `phonetree validate --watch`: the author's view of live reload. Prints the full report once,
//! then again after every (debounced) save under the watched paths or their sound folders, each
//! time headed by what changed and, per flow, what the running server would do with it: load the
//! new version, or keep the previous one because the new one has errors.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

use super::validate::{render_json, render_text, Format};
use crate::flow::load::{self, FlowSet, LoadOptions};
use crate::registry::watch::{ChangeWatcher, DEBOUNCE};

/// Runs until interrupted (or until the watcher fails).
pub fn run(paths: &[PathBuf], opts: &LoadOptions, format: Format) -> anyhow::Result<ExitCode> {
    let (tx, rx) = mpsc::channel::<Vec<PathBuf>>();
    let dirs = watched(paths, opts);
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let _watcher = ChangeWatcher::start(&dir_refs, DEBOUNCE, move |batch| tx.send(batch).is_ok())?;
    let mut versions = HashMap::new();
    let set = load::load_paths(paths, opts);
    report(&set, &[], &mut versions, format)?;
    for batch in rx {
        let changed: Vec<PathBuf> = batch.into_iter().filter(|p| relevant(p)).collect();
        if changed.is_empty() {
            continue;
        }
        let set = load::load_paths(paths, opts);
        report(&set, &changed, &mut versions, format)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The folders to watch: each path (or a file's folder) and the sound folders its flows use.
fn watched(paths: &[PathBuf], opts: &LoadOptions) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut add = |d: PathBuf| {
        if d.is_dir() && !dirs.iter().any(|x| d.starts_with(x)) {
            dirs.retain(|x| !x.starts_with(&d));
            dirs.push(d);
        }
    };
    for p in paths {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        add(load::sound_dir_for(&dir.join("x.yaml"), opts));
        add(dir);
    }
    dirs
}

/// Flow files and sound files; editors' swap and backup files are noise.
fn relevant(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
        return false;
    }
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "wav" | "mp3" | "ogg" | "flac")
    )
}

/// Prints one report. `versions` remembers the last good hash per flow, to say what a running
/// server would do with this save.
fn report(
    set: &FlowSet,
    changed: &[PathBuf],
    versions: &mut HashMap<PathBuf, String>,
    format: Format,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        writeln!(out, "{}", render_json(set))?;
        out.flush()?;
        return Ok(());
    }
    if !changed.is_empty() {
        let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        writeln!(out, "── changed: {}", names.join(", "))?;
    }
    write!(out, "{}", render_text(set))?;
    for (path, program) in &set.flows {
        let line = match (program, versions.get(path)) {
            (Some(p), Some(old)) if *old == p.hash => continue,
            (Some(p), _) => {
                versions.insert(path.clone(), p.hash.clone());
                format!("live: {} version {} loaded", p.name, p.short_hash())
            }
            (None, Some(old)) => format!(
                "live: {} has errors; a running server keeps version {}",
                path.display(),
                crate::flow::program::short_hash(old)
            ),
            (None, None) => format!("live: {} has errors; not loaded", path.display()),
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_noise_is_not_relevant() {
        assert!(relevant(Path::new("flows/a.yaml")));
        assert!(relevant(Path::new("sound/bunny/x.wav")));
        assert!(!relevant(Path::new("flows/.a.yaml.swp")));
        assert!(!relevant(Path::new("flows/a.yaml~")));
        assert!(!relevant(Path::new("flows/4913")));
    }

    #[test]
    fn watches_flow_dir_and_its_sound_dir_once() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        let sound = dir.path().join("sound");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::create_dir_all(&sound).unwrap();
        let w = watched(
            &[flows.clone(), flows.join("a.yaml")],
            &LoadOptions::default(),
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.contains(&flows) && w.contains(&sound));
    }
}
