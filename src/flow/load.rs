//! The I/O edge of the flow compiler: reads flow files, lists the sound folder, reads subflow
//! files, then calls the sans-IO [`compile`](crate::flow::compile::compile).
//!
//! Also owns the checks that span several flows: two flows claiming the same route, or more than
//! one `default: true`. `*.test.yaml` files are never flows.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::flow::compile::{compile, SoundIndex, SubflowResolver};
pub use crate::flow::compile::{Claims, Compiled, NodeNeed};
use crate::flow::diag::{self, Diagnostic, Pos};
use crate::flow::program::Program;

/// Where to find things a flow refers to, and what to check the flows against.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `None` → the `sound/` folder beside the folder holding the flow file.
    pub sound_dir: Option<PathBuf>,
    /// The server the flows will run on (`run`, `validate`): its checks (unset `env:` names,
    /// nodes it cannot run, flows no number reaches) are added by [`load_paths`]. `None` (tests,
    /// tools on one file): the flows are checked on their own.
    pub site: Option<std::sync::Arc<crate::site::Site>>,
}

/// Every flow found under some paths, with all their diagnostics (cross-file ones included).
#[derive(Debug, Default)]
pub struct FlowSet {
    /// Each flow file and its program (`None` when it has errors).
    pub flows: Vec<(PathBuf, Option<Program>)>,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl FlowSet {
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.diagnostics)
    }
}

/// Why paths could not be loaded at all (as opposed to flows having problems).
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for LoadError {}

/// Reads and compiles one flow file. A file that cannot be read is one diagnostic
/// (`io.read`); `program` is `Some` iff there are no errors.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Compiled {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Compiled {
                program: None,
                diagnostics: vec![Diagnostic::error(
                    path,
                    Pos::START,
                    "io.read",
                    format!("cannot read the file: {e}"),
                )],
                claims: Claims::default(),
            }
        }
    };
    compile_text(&text, path, opts)
}

/// Compiles flow text as if it were the file at `path` (sound folder and subflows resolve from
/// there).
pub fn compile_text(text: &str, path: &Path, opts: &LoadOptions) -> Compiled {
    let sounds = sound_index(&sound_dir_for(path, opts));
    compile(text, path, &sounds, &FsResolver)
}

/// The sound folder for a flow file.
pub fn sound_dir_for(flow: &Path, opts: &LoadOptions) -> PathBuf {
    if let Some(dir) = &opts.sound_dir {
        return dir.clone();
    }
    let folder = flow.parent().unwrap_or(Path::new(""));
    let parent = folder.parent().unwrap_or(Path::new(""));
    if folder.as_os_str().is_empty() {
        // A bare `x.yaml` lives in `.`; its sound folder is `../sound`.
        PathBuf::from("..").join("sound")
    } else {
        parent.join("sound")
    }
}

/// Lists every file under `root` as relative paths with `/` (empty if it does not exist).
pub fn sound_index(root: &Path) -> SoundIndex {
    let mut files = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match entry.file_type() {
                Ok(t) if t.is_dir() && depth < 8 => dirs.push((entry.path(), rel, depth + 1)),
                Ok(t) if t.is_file() || t.is_symlink() => files.push(rel),
                _ => {}
            }
        }
    }
    SoundIndex::new(root, files)
}

/// Reads subflow files relative to the including flow's folder.
struct FsResolver;

impl SubflowResolver for FsResolver {
    fn read(&self, from: &Path, file: &str) -> std::io::Result<(PathBuf, String)> {
        let path = from.parent().unwrap_or(Path::new("")).join(file);
        let text = std::fs::read_to_string(&path)?;
        Ok((path, text))
    }
}

/// Whether a path names a flow file (`*.yaml`/`*.yml`, not `*.test.yaml`).
pub fn is_flow_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_test_file(path)
}

/// Whether a path names a test file (`*.test.yaml`): never a flow, even when named explicitly.
pub fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Expands paths (files as given, except `*.test.yaml`; folders to their flow files, sorted)
/// without compiling.
pub fn flow_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if is_test_file(p) {
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|error| LoadError {
            path: p.clone(),
            error,
        })?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|error| LoadError {
                path: p.clone(),
                error,
            })?;
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.is_file() && is_flow_file(f))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    let mut seen = HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// Loads every flow under `paths` (files, and folders' `*.yaml` except `*.test.yaml`) and runs
/// the cross-file checks. A path that does not exist is an `io.read` diagnostic.
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> FlowSet {
    let mut set = FlowSet::default();
    let mut files = Vec::new();
    for p in paths {
        match flow_files(std::slice::from_ref(p)) {
            Ok(f) if f.is_empty() && p.is_dir() => {
                set.diagnostics.push(crate::site::empty_folder(p));
            }
            Ok(f) => files.extend(f),
            Err(e) => set.diagnostics.push(Diagnostic::error(
                &e.path,
                Pos::START,
                "io.read",
                format!("cannot read: {}", e.error),
            )),
        }
    }
    let mut claims = Vec::new();
    for file in files {
        let c = load_file(&file, opts);
        set.diagnostics.extend(c.diagnostics);
        claims.push((file.clone(), c.claims));
        set.flows.push((file, c.program));
    }
    set.diagnostics.extend(cross_file(&claims));
    if let Some(site) = &opts.site {
        for (file, c) in &claims {
            set.diagnostics
                .extend(crate::site::check_flow(file, c, site));
        }
        // Whether a flow is reached is a question about a whole folder of flows (another file
        // may use it as a subflow): not asked of files named one by one.
        if paths.iter().any(|p| p.is_dir()) {
            set.diagnostics
                .extend(crate::site::check_routing(&claims, site));
        }
    }
    diag::sort_and_dedup(&mut set.diagnostics);
    set
}

/// Two flows claiming one route, and more than one `default: true`.
pub fn cross_file(claims: &[(PathBuf, Claims)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut by_route: HashMap<&str, Vec<(&Path, Pos)>> = HashMap::new();
    for (path, c) in claims {
        for (route, pos) in &c.routes {
            by_route
                .entry(route.as_str())
                .or_default()
                .push((path, *pos));
        }
    }
    let mut routes: Vec<_> = by_route.into_iter().filter(|(_, v)| v.len() > 1).collect();
    routes.sort_by_key(|(r, _)| *r);
    for (route, claimants) in routes {
        for (i, (path, pos)) in claimants.iter().enumerate() {
            let others: Vec<String> = claimants
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (p, q))| format!("{}:{}:{}", p.display(), q.line, q.col))
                .collect();
            out.push(
                Diagnostic::error(
                    *path,
                    *pos,
                    "flow.duplicate_route",
                    format!("route `{route}` is also claimed by {}", others.join(", ")),
                )
                .with_hint("a dialled number reaches one flow; remove it from all but one"),
            );
        }
    }
    let defaults: Vec<(&Path, Pos)> = claims
        .iter()
        .filter_map(|(p, c)| c.default.map(|d| (p.as_path(), d)))
        .collect();
    if defaults.len() > 1 {
        for (i, (path, pos)) in defaults.iter().enumerate() {
            let others: Vec<String> = defaults
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (p, q))| format!("{}:{}:{}", p.display(), q.line, q.col))
                .collect();
            out.push(
                Diagnostic::error(
                    *path,
                    *pos,
                    "flow.duplicate_default",
                    format!("`default: true` is also set by {}", others.join(", ")),
                )
                .with_hint("only one flow may catch unmatched calls"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sound_dir_sits_beside_the_flow_folder() {
        let o = LoadOptions::default();
        assert_eq!(
            sound_dir_for(Path::new("flows/a.yaml"), &o),
            PathBuf::from("sound")
        );
        assert_eq!(
            sound_dir_for(Path::new("/x/flows/a.yaml"), &o),
            PathBuf::from("/x/sound")
        );
        let o = LoadOptions {
            sound_dir: Some("s".into()),
            ..LoadOptions::default()
        };
        assert_eq!(
            sound_dir_for(Path::new("flows/a.yaml"), &o),
            PathBuf::from("s")
        );
    }

    #[test]
    fn test_files_are_not_flows() {
        assert!(is_flow_file(Path::new("flows/a.yaml")));
        assert!(!is_flow_file(Path::new("flows/a.test.yaml")));
        assert!(!is_flow_file(Path::new("flows/readme.md")));
        assert!(is_test_file(Path::new("a.test.yaml")));
        let files = flow_files(&[
            PathBuf::from("tests/fixtures/valid/characters.yaml"),
            PathBuf::from("x.test.yaml"),
        ]);
        assert_eq!(
            files.unwrap(),
            [PathBuf::from("tests/fixtures/valid/characters.yaml")]
        );
    }

    #[test]
    fn duplicate_routes_point_at_both() {
        let a = Claims {
            routes: vec![("5000".into(), Pos { line: 2, col: 10 })],
            default: Some(Pos { line: 3, col: 10 }),
            ..Claims::default()
        };
        let b = Claims {
            routes: vec![("5000".into(), Pos { line: 4, col: 3 })],
            default: Some(Pos { line: 1, col: 10 }),
            ..Claims::default()
        };
        let d = cross_file(&[("a.yaml".into(), a), ("b.yaml".into(), b)]);
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.path.display().to_string(), d.code, d.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.yaml".into(), "flow.duplicate_route", 2),
                ("b.yaml".into(), "flow.duplicate_route", 4),
                ("a.yaml".into(), "flow.duplicate_default", 3),
                ("b.yaml".into(), "flow.duplicate_default", 1),
            ]
        );
    }
}
