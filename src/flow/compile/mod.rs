//! The sans-IO flow compiler: source text in, [`Compiled`] (a [`Program`] and every diagnostic) out.
//!
//! Pipeline per file: `source` (YAML → JSON value + span map) → `schema` (violations) →
//! `ast` (schema types, one node at a time so a broken node hides nothing else) → lowering
//! (`nodes`, `prompts`, `templates`, `keys`) → whole-program checks (`checks`). Every problem
//! is collected with a stable code, a position and a hint; there is no early return after the
//! YAML is readable. Subflow files are compiled into the same program (their nodes appended and
//! named `flow/node`), so a [`Program`] is self-contained.
//!
//! The caller supplies everything that would need I/O: the set of sound files ([`SoundIndex`])
//! and the text of subflow files ([`SubflowResolver`]). `flow::load` is that caller for files on
//! disk.

mod agent;
mod checks;
mod keys;
mod nodes;
mod prompts;
mod salvage;
mod templates;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::flow::ast::{FlowDoc, KindDoc, Links, NodeDoc};
use crate::flow::diag::{self, did_you_mean, Diagnostic, Pos};
use crate::flow::program::{NodeId, NodeKind, Program, Prompt, PromptId, Target, ThemeId, Themes};
use crate::flow::schema;
use crate::flow::source::{self, SpanMap};
use crate::flow::template::Templates;

/// The sound files that exist, as paths relative to the sound folder (`bunny/greeting.wav`,
/// `bye.wav`, always with `/`).
#[derive(Debug, Clone, Default)]
pub struct SoundIndex {
    root: PathBuf,
    files: HashSet<String>,
}

impl SoundIndex {
    pub fn new(root: impl Into<PathBuf>, files: impl IntoIterator<Item = String>) -> Self {
        SoundIndex {
            root: root.into(),
            files: files.into_iter().collect(),
        }
    }

    /// The sound folder prompts resolve under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn contains(&self, relative: &str) -> bool {
        self.files.contains(relative)
    }
}

/// Supplies the text of subflow files.
pub trait SubflowResolver {
    /// Reads `file` as written in the flow at `from`; returns its path (used for diagnostics and
    /// to recognise the same file twice) and its text.
    fn read(&self, from: &Path, file: &str) -> std::io::Result<(PathBuf, String)>;
}

/// A resolver for flows that must not use subflows (every `subflow` reports the file missing).
pub struct NoSubflows;

impl SubflowResolver for NoSubflows {
    fn read(&self, _from: &Path, file: &str) -> std::io::Result<(PathBuf, String)> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{file}: subflows are not available here"),
        ))
    }
}

/// The result of compiling one flow file.
#[derive(Debug, Default)]
pub struct Compiled {
    /// `Some` iff there are no errors.
    pub program: Option<Program>,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// What the flow claims in the route table, with positions, even when it has errors
    /// (for cross-file checks).
    pub claims: Claims,
}

/// What a flow claims from, and needs of, the world outside its file, with positions: its
/// routes and `default: true` (cross-file checks), its name, the environment variables and the
/// node kinds it relies on, the subflow files it inlines (`site` checks against the server).
/// Filled even when the flow has errors.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub routes: Vec<(String, Pos)>,
    pub default: Option<Pos>,
    /// `name:` or the file stem.
    pub name: String,
    /// Where `name:` is written (the start of the file without one).
    pub name_pos: Pos,
    /// Each `env:` entry: name, position, whether it has a default.
    pub env: Vec<(String, Pos, bool)>,
    /// Nodes that need something of the server (speech, agents, streams, recording, TTS).
    pub needs: Vec<NodeNeed>,
    /// Subflow files inlined into this flow (normalized paths).
    pub subflows: Vec<PathBuf>,
}

/// A node that only runs where the server can do its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNeed {
    /// The file the node is written in (a subflow's node is in the subflow's file).
    pub path: PathBuf,
    pub pos: Pos,
    pub node: String,
    /// The node kind (`say`, `listen`, `agent`, `stream`, `record`).
    pub kind: &'static str,
    /// The provider it names (`agent.provider`, `say.engine`), if any.
    pub provider: Option<String>,
}

/// Compiles one flow. `path` is used for diagnostics, the default name and relative subflows.
pub fn compile(
    text: &str,
    path: &Path,
    sounds: &SoundIndex,
    resolver: &dyn SubflowResolver,
) -> Compiled {
    let mut b = Builder::new(sounds, resolver);
    let front = front(text, path);
    b.diags.extend(front.diags);
    let Some(doc) = front.doc else {
        return b.finish_without_program(Claims::default());
    };
    let mut claims = claims_of(&doc, &front.spans);
    let name = doc.name.clone().unwrap_or_else(|| file_stem(path));
    claims.name = name.clone();

    for (name, default) in doc.env.entries() {
        if let Some(d) = default {
            b.env_defaults.push((name.clone(), d));
        }
        b.env.push(name);
    }
    b.vars = doc.vars.0.clone();
    b.defined.extend(doc.vars.iter().map(|(k, _)| k.to_owned()));
    let themes = b.themes(&doc, path, &front.spans);
    let key_digits = b.key_digits(&doc, path, &front.spans);
    b.global_keys = key_digits;

    let unit = b.add_unit(
        path.to_path_buf(),
        front.spans,
        String::new(),
        &front.nodes,
        &front.broken,
        &front.raw_links,
    );
    b.stack.push(normalize_path(path));
    b.lower_unit(unit, front.nodes);
    b.stack.pop();
    let start = b.start_of(unit, doc.start.as_deref());
    let keys = b.keys(&doc, unit);

    b.check_variables();
    b.check_graph(start, &keys);
    claims.needs = b.needs();
    claims.subflows = b.subflows.keys().cloned().collect();
    claims.subflows.sort();

    if diag::has_errors(&b.diags) {
        return b.finish_without_program(claims);
    }
    let (Some(start), Some(nodes)) = (start, b.take_nodes()) else {
        return b.finish_without_program(claims);
    };
    let hash = hex_sha256(text);
    let program = Program {
        name,
        source: path.to_path_buf(),
        hash,
        routes: doc.routes,
        default: doc.default,
        env: std::mem::take(&mut b.env),
        env_defaults: std::mem::take(&mut b.env_defaults),
        vars: std::mem::take(&mut b.vars),
        themes,
        keys,
        start,
        nodes,
        prompts: std::mem::take(&mut b.prompts),
        templates: std::mem::take(&mut b.templates),
    };
    let mut diagnostics = std::mem::take(&mut b.diags);
    diag::sort_and_dedup(&mut diagnostics);
    Compiled {
        program: Some(program),
        diagnostics,
        claims,
    }
}

/// Removes `.` and resolvable `..` components, lexically (no file system access), so one file
/// reached by two spellings is recognised.
pub fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Hex SHA-256 of a text.
pub fn hex_sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flow".to_owned())
}

fn claims_of(doc: &FlowDoc, spans: &SpanMap) -> Claims {
    let env = doc
        .env
        .entries()
        .into_iter()
        .enumerate()
        .map(|(i, (name, default))| {
            let ptr = if doc.env.is_mapping() {
                source::pointer(["env", name.as_str()])
            } else {
                format!("/env/{i}")
            };
            let pos = spans.key_or_value(&ptr);
            (name, pos, default.is_some())
        })
        .collect();
    Claims {
        routes: doc
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), spans.value(&format!("/routes/{i}"))))
            .collect(),
        default: doc.default.then(|| spans.value("/default")),
        name: String::new(),
        name_pos: if doc.name.is_some() {
            spans.value("/name")
        } else {
            Pos::START
        },
        env,
        needs: Vec::new(),
        subflows: Vec::new(),
    }
}

/// One file read as far as the schema types: the document (with broken parts left out), its
/// nodes (`None` when a node broke the schema) and positions.
struct Front {
    doc: Option<FlowDoc>,
    /// Top-level keys the schema rejected (left out of `doc`; checks that depend on them stay quiet).
    broken: HashSet<String>,
    nodes: Vec<(String, Option<(KindDoc, Links)>)>,
    /// For nodes that could not be read even in part: the node names their links mention.
    raw_links: HashMap<String, Vec<String>>,
    spans: SpanMap,
    diags: Vec<Diagnostic>,
}

fn front(text: &str, path: &Path) -> Front {
    let parsed = source::parse(text, path);
    let mut diags = parsed.diagnostics;
    let spans = parsed.spans;
    let Some(mut value) = parsed.value else {
        return Front {
            doc: None,
            broken: HashSet::new(),
            nodes: Vec::new(),
            raw_links: HashMap::new(),
            spans,
            diags,
        };
    };
    let violations = schema::validate(&value, &spans, path);
    let mut broken_top: HashSet<String> = HashSet::new();
    let mut broken_nodes: HashSet<String> = HashSet::new();
    let pointers: Vec<String> = violations.iter().map(|v| v.pointer.clone()).collect();
    for v in violations {
        let segs = schema::segments(&v.pointer);
        match segs.as_slice() {
            [] => {}
            [n, node, ..] if n == "nodes" => {
                broken_nodes.insert(node.clone());
            }
            [top, ..] => {
                broken_top.insert(top.clone());
            }
        }
        diags.push(v.diagnostic);
    }
    let Some(obj) = value.as_object_mut() else {
        return Front {
            doc: None,
            broken: HashSet::new(),
            nodes: Vec::new(),
            raw_links: HashMap::new(),
            spans,
            diags,
        };
    };
    for k in &broken_top {
        obj.remove(k);
    }
    let doc: FlowDoc = match serde_json::from_value(value) {
        Ok(d) => d,
        Err(e) => {
            diags.push(Diagnostic::error(
                path,
                Pos::START,
                "schema.invalid",
                format!("the flow could not be read: {e}"),
            ));
            return Front {
                doc: None,
                broken: HashSet::new(),
                nodes: Vec::new(),
                raw_links: HashMap::new(),
                spans,
                diags,
            };
        }
    };
    let mut nodes = Vec::with_capacity(doc.nodes.0.len());
    let mut raw_links = HashMap::new();
    for (name, raw) in &doc.nodes.0 {
        let parts = if broken_nodes.contains(name) {
            // Keep what passed the schema, so its references, templates and prompts are
            // checked in this same run (see `salvage`).
            let parts = salvage::salvage(raw, &salvage::pointers_in_node(&pointers, name));
            if parts.is_none() {
                raw_links.insert(name.clone(), salvage::raw_links(raw));
            }
            parts
        } else {
            match NodeDoc::deserialize(raw).map(NodeDoc::into_parts) {
                Ok(Some(p)) => Some(p),
                Ok(None) | Err(_) => {
                    let ptr = source::pointer(["nodes", name.as_str()]);
                    diags.push(Diagnostic::error(
                        path,
                        spans.key_or_value(&ptr),
                        "schema.invalid",
                        format!("node `{name}` could not be read"),
                    ));
                    None
                }
            }
        };
        nodes.push((name.clone(), parts));
    }
    Front {
        doc: Some(doc),
        broken: broken_top,
        nodes,
        raw_links,
        spans,
        diags,
    }
}

/// One compiled file: the top flow or an inlined subflow.
struct Unit {
    path: PathBuf,
    spans: SpanMap,
    /// Node names as written in this file.
    names: HashMap<String, NodeId>,
    order: Vec<String>,
    /// Where a `return` inside this unit goes: the `next` of every subflow node calling it.
    callers_next: Vec<(usize, Target)>,
    /// The schema rejected `nodes` as a whole.
    nodes_broken: bool,
}

/// A node being compiled.
struct Slot {
    name: String,
    unit: usize,
    /// Position of the node's key.
    pos: Pos,
    kind: Option<NodeKind>,
    /// A node that could not be read: the node names its links mention (for reachability).
    raw_links: Vec<String>,
}

/// A variable read by a template, checked once every file is lowered.
struct VarUse {
    unit: usize,
    pointer: String,
    path: String,
}

/// Program-wide compile state.
struct Builder<'a> {
    sounds: &'a SoundIndex,
    resolver: &'a dyn SubflowResolver,
    units: Vec<Unit>,
    slots: Vec<Slot>,
    prompts: Vec<Prompt>,
    prompt_ids: HashMap<String, PromptId>,
    /// Per prompt name: the themes it is missing in (empty: found everywhere).
    prompt_missing: HashMap<String, Vec<String>>,
    templates: Templates,
    /// Scans template sources for syntax errors and variables.
    scan_env: minijinja::Environment<'static>,
    uses: Vec<VarUse>,
    defined: HashSet<String>,
    env: Vec<String>,
    env_defaults: Vec<(String, String)>,
    vars: Vec<(String, Value)>,
    theme_names: Vec<String>,
    global_keys: crate::flow::digit::DigitSet,
    /// Subflow files already inlined: path → (unit, entry).
    subflows: HashMap<PathBuf, (usize, Option<NodeId>)>,
    /// Files being compiled, outermost first (for subflow cycles).
    stack: Vec<PathBuf>,
    /// The slot being lowered.
    current: usize,
    /// Top-level keys the schema rejected in any file (see [`Front::broken`]).
    lenient: HashSet<String>,
    /// Subflow nodes whose file could not be inlined (their entry is a placeholder).
    dangling: HashSet<usize>,
    diags: Vec<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn new(sounds: &'a SoundIndex, resolver: &'a dyn SubflowResolver) -> Self {
        Builder {
            sounds,
            resolver,
            units: Vec::new(),
            slots: Vec::new(),
            prompts: Vec::new(),
            prompt_ids: HashMap::new(),
            prompt_missing: HashMap::new(),
            templates: Templates::new(),
            scan_env: templates::scan_env(),
            uses: Vec::new(),
            defined: HashSet::new(),
            env: Vec::new(),
            env_defaults: Vec::new(),
            vars: Vec::new(),
            theme_names: Vec::new(),
            global_keys: Default::default(),
            subflows: HashMap::new(),
            stack: Vec::new(),
            current: 0,
            lenient: HashSet::new(),
            dangling: HashSet::new(),
            diags: Vec::new(),
        }
    }

    fn finish_without_program(mut self, claims: Claims) -> Compiled {
        diag::sort_and_dedup(&mut self.diags);
        Compiled {
            program: None,
            diagnostics: self.diags,
            claims,
        }
    }

    /// The nodes whose kind needs something of the server (see [`NodeNeed`]).
    fn needs(&self) -> Vec<NodeNeed> {
        self.slots
            .iter()
            .filter_map(|s| {
                let (kind, provider) = match s.kind.as_ref()? {
                    NodeKind::Say(s) => ("say", s.engine.map(|e| e.as_str().to_owned())),
                    NodeKind::Listen(_) => ("listen", None),
                    NodeKind::Agent(a) => ("agent", Some(a.provider.as_str().to_owned())),
                    NodeKind::Stream(_) => ("stream", None),
                    NodeKind::Record(_) => ("record", None),
                    _ => return None,
                };
                Some(NodeNeed {
                    path: self.units[s.unit].path.clone(),
                    pos: s.pos,
                    node: s.name.clone(),
                    kind,
                    provider,
                })
            })
            .collect()
    }

    fn take_nodes(&mut self) -> Option<Vec<crate::flow::program::Node>> {
        std::mem::take(&mut self.slots)
            .into_iter()
            .map(|s| {
                s.kind
                    .map(|kind| crate::flow::program::Node { name: s.name, kind })
            })
            .collect()
    }

    /// Registers a file's nodes (so forward references resolve) and returns its unit index.
    fn add_unit(
        &mut self,
        path: PathBuf,
        spans: SpanMap,
        prefix: String,
        nodes: &[(String, Option<(KindDoc, Links)>)],
        broken: &HashSet<String>,
        raw_links: &HashMap<String, Vec<String>>,
    ) -> usize {
        let unit = self.units.len();
        self.lenient.extend(broken.iter().cloned());
        let mut names = HashMap::with_capacity(nodes.len());
        let mut order = Vec::with_capacity(nodes.len());
        for (name, _) in nodes {
            let id = NodeId(self.slots.len() as u32);
            let pos = spans.key_or_value(&source::pointer(["nodes", name.as_str()]));
            self.slots.push(Slot {
                name: format!("{prefix}{name}"),
                unit,
                pos,
                kind: None,
                raw_links: raw_links.get(name).cloned().unwrap_or_default(),
            });
            names.insert(name.clone(), id);
            order.push(name.clone());
        }
        self.units.push(Unit {
            path,
            spans,
            names,
            order,
            callers_next: Vec::new(),
            nodes_broken: broken.contains("nodes"),
        });
        unit
    }

    fn lower_unit(&mut self, unit: usize, nodes: Vec<(String, Option<(KindDoc, Links)>)>) {
        for (name, parts) in nodes {
            let Some((kind, links)) = parts else { continue };
            let Some(&id) = self.units[unit].names.get(&name) else {
                continue;
            };
            self.current = id.0 as usize;
            let kind = self.lower_node(unit, &name, kind, links);
            self.slots[id.0 as usize].kind = Some(kind);
        }
    }

    fn path(&self, unit: usize) -> PathBuf {
        self.units[unit].path.clone()
    }

    fn value_pos(&self, unit: usize, pointer: &str) -> Pos {
        self.units[unit].spans.value(pointer)
    }

    fn key_pos(&self, unit: usize, pointer: &str) -> Pos {
        self.units[unit].spans.key_or_value(pointer)
    }

    fn error(
        &mut self,
        unit: usize,
        pos: Pos,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) {
        let d = Diagnostic::error(self.path(unit), pos, code, message).with_hint_opt(hint);
        self.diags.push(d);
    }

    fn warning(
        &mut self,
        unit: usize,
        pos: Pos,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) {
        let d = Diagnostic::warning(self.path(unit), pos, code, message).with_hint_opt(hint);
        self.diags.push(d);
    }

    /// Resolves a target written at `pointer` (`return` or a node of `unit`).
    fn target(&mut self, unit: usize, name: &str, pointer: &str) -> Target {
        if name == "return" {
            return Target::Return;
        }
        if let Some(id) = self.units[unit].names.get(name) {
            return Target::Node(*id);
        }
        let hint = did_you_mean(name, self.units[unit].order.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some("name a node of this flow, or `return`".to_owned()));
        let pos = self.value_pos(unit, pointer);
        self.error(
            unit,
            pos,
            "flow.unknown_node",
            format!("no node named `{name}`"),
            hint,
        );
        Target::Return
    }

    fn opt_target(&mut self, unit: usize, name: Option<&str>, pointer: &str) -> Option<Target> {
        name.map(|n| self.target(unit, n, pointer))
    }

    /// The `start` node of a unit; reports a missing or unknown one.
    fn start_of(&mut self, unit: usize, start: Option<&str>) -> Option<NodeId> {
        // A missing `start` is reported by the schema, and so are unreadable `nodes`.
        let start = start?;
        if self.units[unit].nodes_broken {
            return None;
        }
        if let Some(id) = self.units[unit].names.get(start) {
            return Some(*id);
        }
        let hint = did_you_mean(start, self.units[unit].order.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("nodes: {}", self.units[unit].order.join(", ")));
        let pos = self.value_pos(unit, "/start");
        self.error(
            unit,
            pos,
            "flow.unknown_start",
            format!("`start` names `{start}`, which is not a node"),
            Some(hint),
        );
        None
    }

    fn themes(&mut self, doc: &FlowDoc, path: &Path, spans: &SpanMap) -> Themes {
        let Some(t) = &doc.themes else {
            self.theme_names = vec![String::new()];
            return Themes {
                names: self.theme_names.clone(),
                start: ThemeId(0),
            };
        };
        self.theme_names = t.list.clone();
        let mut start = ThemeId(0);
        if let Some(s) = &t.start {
            match t.list.iter().position(|n| n == s) {
                Some(i) => start = ThemeId(i as u32),
                None => {
                    let hint = did_you_mean(s, t.list.iter().map(String::as_str))
                        .map(|x| format!("did you mean `{x}`?"))
                        .unwrap_or_else(|| format!("themes: {}", t.list.join(", ")));
                    self.diags.push(
                        Diagnostic::error(
                            path,
                            spans.value("/themes/start"),
                            "flow.unknown_theme",
                            format!("`themes.start` names `{s}`, which is not in `themes.list`"),
                        )
                        .with_hint(hint),
                    );
                }
            }
        }
        Themes {
            names: self.theme_names.clone(),
            start,
        }
    }
}

#[cfg(test)]
mod tests;
